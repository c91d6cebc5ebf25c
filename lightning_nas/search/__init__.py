"""Searchers that drive a trained supernet or many trained children.

* :class:`NSGA2Search`: GreedyNAS's evolutionary search over a trained single-path supernet under a FLOPs or
  parameter constraint (pymoo's NSGA-II, ``pip install 'lightning-nas[nsga2]'``).
* :class:`HierarchicalEvolution` (EcoNAS Algorithm 1) and :class:`RegularizedEvolution` (AmoebaNet): every child is
  trained by a Lightning Trainer under a :class:`ReducedSetting`, through any ``concurrent.futures.Executor``.
"""

from lightning_nas.search.bn_recalibration import preserved_batch_norm, recalibrate_batch_norm
from lightning_nas.search.children import (
    ChildJob,
    ChildResult,
    build_child_datamodule,
    child_checkpoint_path,
    train_child,
)
from lightning_nas.search.evolution import HierarchicalEvolution, InProcessExecutor, RegularizedEvolution, child_seed
from lightning_nas.search.genotypes import mutate, random_genotype
from lightning_nas.search.nsga2 import NSGA2Search, load_module, load_result, save_result, supernet_accuracy
from lightning_nas.search.reduced import ReducedSetting

__all__ = [
    "ChildJob",
    "ChildResult",
    "HierarchicalEvolution",
    "InProcessExecutor",
    "NSGA2Search",
    "ReducedSetting",
    "RegularizedEvolution",
    "build_child_datamodule",
    "child_checkpoint_path",
    "child_seed",
    "load_module",
    "load_result",
    "mutate",
    "preserved_batch_norm",
    "random_genotype",
    "recalibrate_batch_norm",
    "save_result",
    "supernet_accuracy",
    "train_child",
]
