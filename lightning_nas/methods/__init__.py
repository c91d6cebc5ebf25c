"""Search methods: LightningModules that search an architecture (DARTS family) or train one."""

from lightning_nas.methods.architecture_training import ArchitectureTraining, cutout
from lightning_nas.methods.base import SearchModule
from lightning_nas.methods.beta_darts import BetaDARTS, beta_decay_loss
from lightning_nas.methods.candidate_pool import CandidatePool
from lightning_nas.methods.darts import DARTS
from lightning_nas.methods.divergence import DivergenceError, DivergenceGuard, predictions
from lightning_nas.methods.hypergradient import sgd_virtual_step, unrolled_arch_gradient
from lightning_nas.methods.path_evaluation import PathScores, evaluate_paths
from lightning_nas.methods.pcdarts import PCDARTS
from lightning_nas.methods.pdarts import PDARTS, keep_strongest_ops
from lightning_nas.methods.single_path import SPOS, GreedyNAS, class_balanced_subset, surrogate_rank_consistency

__all__ = [
    "DARTS",
    "PCDARTS",
    "PDARTS",
    "SPOS",
    "CandidatePool",
    "DivergenceError",
    "DivergenceGuard",
    "GreedyNAS",
    "PathScores",
    "SearchModule",
    "class_balanced_subset",
    "surrogate_rank_consistency",
    "ArchitectureTraining",
    "BetaDARTS",
    "beta_decay_loss",
    "cutout",
    "evaluate_paths",
    "keep_strongest_ops",
    "predictions",
    "sgd_virtual_step",
    "unrolled_arch_gradient",
]
