"""Ground-truth look-ups (NAS-Bench-201 table) and rank-consistency tools."""

from lightning_nas.benchmarks.model_zoo import random_architectures, table_accuracies, train_model_zoo
from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table
from lightning_nas.benchmarks.rank_consistency import rank_consistency, tolerant_ranks

__all__ = [
    "NASBench201Dataset",
    "NASBench201Table",
    "random_architectures",
    "rank_consistency",
    "table_accuracies",
    "tolerant_ranks",
    "train_model_zoo",
]
