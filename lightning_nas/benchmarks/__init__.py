"""Ground-truth look-ups for benchmark search spaces (NAS-Bench-201 table)."""

from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table

__all__ = ["NASBench201Dataset", "NASBench201Table"]
