"""Lightning callbacks: genotype export, benchmark look-ups, (later) data pruning and stopping rules."""

from lightning_nas.callbacks.benchmark_accuracy import BenchmarkAccuracy
from lightning_nas.callbacks.genotype_export import GenotypeExport

__all__ = ["BenchmarkAccuracy", "GenotypeExport"]
