"""Searchers that drive a trained supernet or many trained children.

* :class:`NSGA2Search`: GreedyNAS's evolutionary search over a trained single-path supernet under a FLOPs or
  parameter constraint (pymoo's NSGA-II, ``pip install 'lightning-nas[nsga2]'``).
* :class:`HierarchicalEvolution` (EcoNAS Algorithm 1) and :class:`RegularizedEvolution` (AmoebaNet): every child is
  trained by a Lightning Trainer under a :class:`ReducedSetting`, through any ``concurrent.futures.Executor``
  (:func:`open_executor` builds the in-process, process-pool and Dask ones by name). Both are policies on one
  engine (:mod:`~lightning_nas.search.evolution_engine`) with a JSON state store
  (:mod:`~lightning_nas.search.evolution_state`).
* :func:`train_model_zoo` and :func:`random_architectures`: EcoNAS's model zoo, to judge a reduced setting's rank
  consistency.
"""

from lightning_nas.search.bn_recalibration import preserved_batch_norm, recalibrate_batch_norm
from lightning_nas.search.children import (
    ChildJob,
    ChildResult,
    build_child_datamodule,
    child_checkpoint_path,
    train_child,
)
from lightning_nas.search.evolution import HierarchicalEvolution, RegularizedEvolution, child_seed
from lightning_nas.search.evolution_engine import EvolutionEngine
from lightning_nas.search.evolution_state import EvolutionJob, StateStore
from lightning_nas.search.executors import ExecutorKind, InProcessExecutor, open_executor
from lightning_nas.search.genotypes import mutate, random_genotype
from lightning_nas.search.model_zoo import random_architectures, train_model_zoo
from lightning_nas.search.nsga2 import NSGA2Search, load_module, load_result, save_result, supernet_accuracy
from lightning_nas.search.reduced import ReducedSetting

__all__ = [
    "ChildJob",
    "ChildResult",
    "EvolutionEngine",
    "EvolutionJob",
    "ExecutorKind",
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
    "open_executor",
    "preserved_batch_norm",
    "random_architectures",
    "random_genotype",
    "recalibrate_batch_norm",
    "save_result",
    "StateStore",
    "supernet_accuracy",
    "train_child",
    "train_model_zoo",
]
