"""Architecture weights of a supernet, as tables and as heatmaps with the derived genotype framed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lightning_nas.plots.common import PathLike, _colormap, _edges_of, _figure, _finish, _space_order, _title
from lightning_nas.spaces import GenotypeEdge

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ArchWeights", "arch_weights", "plot_arch_weights"]


class ArchWeights(NamedTuple):
    """The architecture weights of one cell type as an edges x operations table."""

    weights: np.ndarray
    """``(E, O)`` float64 weights; ``NaN`` where the operation is not a candidate of the edge (P-DARTS subsets)."""
    ops: tuple[str, ...]
    """The ``O`` operation names of the columns."""
    edges: tuple[str, ...]
    """The ``E`` edge names of the rows, ``"node<-input"``."""


def _edge_key(edge: GenotypeEdge) -> str:
    """The row label of a genotype edge in an architecture-weight table: ``"node<-input"``, else its label."""
    return f"{edge.target}<-{edge.source}" if edge.source is not None and edge.target is not None else edge.label


def _edge_labels(supernet: Any, cell: str, num_edges: int) -> tuple[str, ...]:
    """The supernet's ``edge_labels(cell)``, else the labels of its genotype's edges in ``cell``, else ``edge e``."""
    labels = getattr(supernet, "edge_labels", None)
    if callable(labels):
        names = tuple(str(label) for label in labels(cell))
        if len(names) == num_edges:
            return names
    genotype_fn = getattr(supernet, "genotype", None)
    try:
        genotype = genotype_fn() if callable(genotype_fn) else None
    except (ValueError, RuntimeError, NotImplementedError):  # e.g. a diverged search
        genotype = None
    edges = [edge for edge in (_edges_of(genotype) or ()) if edge.cell == cell]
    if len(edges) == num_edges:
        return tuple(_edge_key(edge) for edge in edges)
    return tuple(f"edge {e}" for e in range(num_edges))


def _op_order(names: Sequence[Sequence[str]]) -> tuple[str, ...]:
    seen: list[str] = []
    for ops in names:
        seen.extend(op for op in ops if op not in seen)
    return _space_order(seen, None, full=False)


def arch_weights(model: Any) -> dict[str, ArchWeights]:
    """The current architecture weights of a one-shot module or supernet, one table per cell type.

    Reads the supernet's ``cell_types`` (``("normal", "reduce")`` for the DARTS space, ``("cell",)`` for
    NAS-Bench-201 and by default), ``op_weights(cell)`` (``softmax(alpha)`` per edge, times PC-DARTS's normalized
    edge weights ``beta`` when the supernet has them: the weights the genotype is derived from) and
    ``edge_ops(cell)``. The rows are named by the supernet's ``edge_labels(cell)`` when it has them, else by the
    edges of its genotype when they match one to one (:meth:`~lightning_nas.spaces.Genotype.edges`), else
    ``edge 0``, ``edge 1``, ...; the columns follow the order of the space's ``ops``.

    Args:
        model: a module with a ``supernet`` attribute (the DARTS family) or the supernet itself.

    Returns:
        ``{cell_type: ArchWeights}``.

    Raises:
        TypeError: if the supernet has no ``op_weights``/``edge_ops`` methods.

    Example:
        >>> from lightning_nas.spaces import NASBench201Supernet
        >>> table = arch_weights(NASBench201Supernet(C=4, N=1))["cell"]
        >>> table.weights.shape, table.ops[:2], table.edges[:2]
        ((6, 5), ('none', 'skip_connect'), ('1<-0', '2<-0'))
    """
    import torch

    supernet = getattr(model, "supernet", model)
    op_weights, edge_ops = getattr(supernet, "op_weights", None), getattr(supernet, "edge_ops", None)
    if not callable(op_weights) or not callable(edge_ops):
        raise TypeError(
            f"`arch_weights`: {type(model).__name__} has no supernet with `op_weights(cell)` and `edge_ops(cell)` "
            "(the DARTS-family supernets of `lightning_nas.spaces` have them)."
        )
    tables = {}
    for cell in tuple(getattr(supernet, "cell_types", ("cell",))):
        with torch.no_grad():
            values = op_weights(cell).detach().double().cpu().numpy()
        names = edge_ops(cell)
        columns = _op_order(names)
        matrix = np.full((len(names), len(columns)), np.nan)
        for e, ops in enumerate(names):
            for o, op in enumerate(ops):
                matrix[e, columns.index(op)] = values[e, o]
        tables[str(cell)] = ArchWeights(matrix, columns, _edge_labels(supernet, str(cell), len(names)))
    return tables


def _selected(genotype: Any, cell: str, table: ArchWeights) -> list[tuple[int, int]]:
    """``(edge row, op column)`` of the genotype's choices in a table (empty when the genotype does not fit)."""
    edges = [edge for edge in (_edges_of(genotype) or ()) if edge.cell == cell]
    rows = {label: e for e, label in enumerate(table.edges)}
    return [
        (rows[_edge_key(edge)], table.ops.index(edge.op))
        for edge in edges
        if _edge_key(edge) in rows and edge.op in table.ops
    ]


def plot_arch_weights(
    weights: Mapping[str, ArchWeights] | Any,
    *,
    genotype: Any = None,
    annotate: bool = True,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Heatmap of the architecture weights: rows = edges, columns = operations, one panel per cell type.

    The values are the weights the genotype is derived from (:func:`arch_weights`); cells of operations that
    are not candidates of an edge stay blank. The colour scale spans each panel's range, so that the near-uniform
    weights of an early search still show their order. With ``genotype`` (taken from ``model.genotype()`` when a
    model is passed) the derived architecture's choice on each kept edge is framed, as in BDP's Fig. 4.

    Args:
        weights: ``{cell_type: ArchWeights}`` (from :func:`arch_weights`), or a module / supernet to read them from.
        genotype: the derived genotype to frame (its edges whose ``"node<-input"`` or label names a row); ``None``
            frames nothing, unless a model with ``genotype()`` is passed.
        annotate: write every weight into its square (2 decimals).
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; ``fig.axes[i].images[0].get_array()`` is panel ``i``'s ``(edges, ops)`` matrix (masked where
        blank).

    Raises:
        ValueError: if a table is not 2-D or its labels do not match its shape.

    Example:
        >>> from lightning_nas.spaces import NASBench201Supernet
        >>> fig = plot_arch_weights(NASBench201Supernet(C=4, N=1))
        >>> fig.axes[0].images[0].get_array().shape
        (6, 5)

    References:
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Fig. 4.
    """
    if not isinstance(weights, Mapping):
        model = weights
        weights = arch_weights(model)
        if genotype is None and callable(getattr(model, "genotype", None)):
            genotype = model.genotype()
    if not weights:
        raise ValueError("`plot_arch_weights`: `weights` must hold at least one cell type. Got an empty mapping.")
    for cell, table in weights.items():
        matrix = np.asarray(table.weights, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape != (len(table.edges), len(table.ops)):
            raise ValueError(
                f"`plot_arch_weights`: the {cell!r} table must be an (edges, ops) matrix with one label per row and "
                f"column. Got shape {matrix.shape}, {len(table.edges)} edge and {len(table.ops)} op labels."
            )
    from matplotlib.patches import Rectangle

    panels = list(weights.items())
    height = max(2.5, 0.32 * max(len(t.edges) for _, t in panels) + 1.6)
    fig = _figure(max(4.0, sum(0.55 * len(t.ops) + 1.4 for _, t in panels)), height)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    cmap = _colormap("Blues")
    for ax, (cell, table) in zip(axes, panels):
        matrix = np.ma.masked_invalid(np.asarray(table.weights, dtype=np.float64))
        vmin, vmax = (float(matrix.min()), float(matrix.max())) if matrix.count() else (0.0, 1.0)
        vmax = vmax if vmax > vmin else vmin + 1e-12
        ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(table.ops)), table.ops, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(table.edges)), table.edges, fontsize=8)
        ax.set_xlabel("operation")
        ax.set_ylabel("edge")
        ax.set_title(str(cell))
        if annotate:
            for (e, o), value in np.ndenumerate(matrix.filled(np.nan)):
                if not math.isnan(value):
                    color = "white" if value > vmin + 0.6 * (vmax - vmin) else "black"
                    ax.text(o, e, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
        if genotype is not None:
            for e, o in _selected(genotype, str(cell), table):
                ax.add_patch(Rectangle((o - 0.5, e - 0.5), 1, 1, fill=False, edgecolor="crimson", linewidth=1.8))
    _title(fig, title)
    return _finish(fig, path, dpi)
