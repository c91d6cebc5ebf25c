"""Ground-truth look-ups (NAS-Bench-201 table) and rank-consistency tools.

A leaf of the library: it imports nothing above the search spaces. ``random_architectures`` and ``train_model_zoo``
moved to :mod:`lightning_nas.search`; their old names here still work and warn.
"""

from typing import Any

from lightning_nas.benchmarks.model_zoo import moved_to_search, table_accuracies
from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table
from lightning_nas.benchmarks.rank_consistency import rank_consistency, tolerant_ranks

__all__ = [
    "NASBench201Dataset",
    "NASBench201Table",
    "rank_consistency",
    "table_accuracies",
    "tolerant_ranks",
]


def __getattr__(name: str) -> Any:
    return moved_to_search(__name__, name)
