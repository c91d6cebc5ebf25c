"""Lightning callbacks: genotype export, look-ups, BDP pruning, search cost, pool stopping, monitors and plots."""

from lightning_nas.callbacks.benchmark_accuracy import BenchmarkAccuracy
from lightning_nas.callbacks.candidate_pool_stopping import CandidatePoolStopping
from lightning_nas.callbacks.collapse_monitor import CollapseMonitor
from lightning_nas.callbacks.genotype_export import GenotypeExport
from lightning_nas.callbacks.hessian_monitor import HessianMonitor
from lightning_nas.callbacks.search_cost import SearchCost
from lightning_nas.callbacks.search_plots import SearchPlots
from lightning_nas.callbacks.voe_pruning import BDP_PRESETS, VoEPruning

__all__ = [
    "BDP_PRESETS",
    "BenchmarkAccuracy",
    "CandidatePoolStopping",
    "CollapseMonitor",
    "GenotypeExport",
    "HessianMonitor",
    "SearchCost",
    "SearchPlots",
    "VoEPruning",
]
