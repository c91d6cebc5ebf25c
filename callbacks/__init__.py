"""Lightning callbacks: genotype export, benchmark look-ups, BDP data pruning, search-cost accounting."""

from lightning_nas.callbacks.benchmark_accuracy import BenchmarkAccuracy
from lightning_nas.callbacks.genotype_export import GenotypeExport
from lightning_nas.callbacks.search_cost import SearchCost
from lightning_nas.callbacks.voe_pruning import BDP_PRESETS, VoEPruning

__all__ = ["BDP_PRESETS", "BenchmarkAccuracy", "GenotypeExport", "SearchCost", "VoEPruning"]
