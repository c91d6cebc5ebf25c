"""Plots of a search: architecture weights, derived cells, data pruning, proxy data, candidate pools, evolution.

Every function takes plain data (arrays, lists, dicts, genotypes), draws one :class:`matplotlib.figure.Figure` and
returns it; with ``path`` it also writes the figure to that file (PNG unless the suffix names another format that
matplotlib knows; parent folders are created). Figures are built without ``pyplot``: no global figure registry, no
GUI backend, nothing to close; PNGs are rendered by matplotlib's ``Agg`` canvas, so plotting works headless and in
worker processes. The plotted values stay on the figure for inspection (``fig.axes[i].images``, ``.lines``,
``.containers``, ``.texts``).

matplotlib is an optional dependency: ``pip install 'lightning-nas[plots]'``.

=================================  ========================================================================
:func:`plot_arch_weights`          architecture weights per edge and operation, one heatmap per cell type,
                                   the derived genotype's choices framed (BDP's Fig. 4)
:func:`plot_cell`                  the derived cell as a diagram: DARTS normal/reduce cells, the
                                   NAS-Bench-201 cell, a MobileNet path (:func:`plot_mobilenet_path`)
:func:`plot_genotype_history`      the genotype of every epoch, one colour per operation
:func:`plot_remaining_samples`     remaining samples per split and per class over the epochs (BDP's Fig. 3b)
:func:`plot_entropy_histogram`     log-entropy histogram of selections against the full pool (proxy data, Fig. 2)
:func:`plot_candidate_pool`        the loss distribution of a candidate pool (GreedyNAS)
:func:`plot_evolution`             accuracy of every individual per cycle, with the best so far (EcoNAS)
:func:`plot_pareto_front`          accuracy against FLOPs with the Pareto front (NSGA-II)
:func:`plot_curves`                metric curves, e.g. losses or the Hessian's dominant eigenvalue (BDP's Fig. 3c)
=================================  ========================================================================

Submodules: ``common`` (figure helpers, what a space says about drawing its genotypes), ``weights``
(architecture weights), ``cells`` (cell and path diagrams), ``history`` (genotype history), ``data`` (data
selection), ``search`` (candidate pools, evolution, Pareto fronts, curves). Import from this package: it re-exports
every name the single ``plots`` module had.
"""

from lightning_nas.plots.cells import plot_cell, plot_mobilenet_path
from lightning_nas.plots.common import MOBILENET_STAGES
from lightning_nas.plots.common import PathLike as PathLike
from lightning_nas.plots.common import _as_genotype as _as_genotype
from lightning_nas.plots.data import plot_entropy_histogram, plot_remaining_samples
from lightning_nas.plots.history import plot_genotype_history
from lightning_nas.plots.search import pareto_front, plot_candidate_pool, plot_curves, plot_evolution, plot_pareto_front
from lightning_nas.plots.weights import ArchWeights, arch_weights, plot_arch_weights

__all__ = [
    "MOBILENET_STAGES",
    "ArchWeights",
    "arch_weights",
    "pareto_front",
    "plot_arch_weights",
    "plot_candidate_pool",
    "plot_cell",
    "plot_curves",
    "plot_entropy_histogram",
    "plot_evolution",
    "plot_genotype_history",
    "plot_mobilenet_path",
    "plot_pareto_front",
    "plot_remaining_samples",
]
