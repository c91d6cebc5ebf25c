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
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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

PathLike = str | os.PathLike

MOBILENET_STAGES: tuple[int, ...] = (4, 4, 4, 4, 4, 1)
"""Searchable layers per stage of the MobileNet chain space (21 layers; GreedyNAS / ProxylessNAS layout)."""

_INSTALL_HINT = "pip install 'lightning-nas[plots]'"
_PARAMETER_FREE = {"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "id"}


# ------------------------------------------------------------------------------------------------- helpers
def _figure(width: float, height: float) -> Figure:
    """A new pyplot-free figure (``Agg`` renders it on save)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"lightning_nas.plots needs matplotlib: {_INSTALL_HINT}") from err
    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, path: PathLike | None, dpi: int) -> Figure:
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=dpi, format=target.suffix[1:].lower() or "png")
    return fig


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _finite_1d(call: str, name: str, values: Any, *, allow_empty: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{call}`: `{name}` must be a sequence of numbers. Got {values!r} instead.") from None
    if arr.ndim != 1 or (arr.size == 0 and not allow_empty) or not np.isfinite(arr).all():
        raise ValueError(
            f"`{call}`: `{name}` must be a non-empty 1-D sequence of finite numbers. "
            f"Got an array of shape {arr.shape}{' with non-finite values' if arr.ndim == 1 and arr.size else ''}."
        )
    return arr


def _integer_ticks(ax: Axes, values: np.ndarray) -> None:
    """Whole-number ticks on the x axis when every x value is a whole number (epochs, cycles)."""
    if values.size and np.all(values == np.round(values)):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _title(fig: Figure, title: str | None) -> None:
    if title:
        fig.suptitle(title)


# ------------------------------------------------------------------------------------- architecture weights
class ArchWeights(NamedTuple):
    """The architecture weights of one cell type as an edges x operations table."""

    weights: np.ndarray
    """``(E, O)`` float64 weights; ``NaN`` where the operation is not a candidate of the edge (P-DARTS subsets)."""
    ops: tuple[str, ...]
    """The ``O`` operation names of the columns."""
    edges: tuple[str, ...]
    """The ``E`` edge names of the rows, ``"node<-input"``."""


def _edge_labels(supernet: Any, num_edges: int) -> tuple[str, ...]:
    from lightning_nas.spaces import DARTS_EDGES, NB201_EDGES, DARTSSupernet, NASBench201Supernet

    if isinstance(supernet, DARTSSupernet) and num_edges == len(DARTS_EDGES):
        return tuple(f"{node}<-{source}" for node, source in DARTS_EDGES)
    if isinstance(supernet, NASBench201Supernet) and num_edges == len(NB201_EDGES):
        return tuple(f"{node}<-{source}" for node, source in NB201_EDGES)
    return tuple(f"edge {e}" for e in range(num_edges))


def _op_order(supernet: Any, names: Sequence[Sequence[str]]) -> tuple[str, ...]:
    from lightning_nas.spaces import DARTS_OPS, NB201_OPS

    seen: list[str] = []
    for ops in names:
        seen.extend(op for op in ops if op not in seen)
    for reference in (DARTS_OPS, NB201_OPS):
        if all(op in reference for op in seen):
            return tuple(op for op in reference if op in seen)
    return tuple(seen)


def arch_weights(model: Any) -> dict[str, ArchWeights]:
    """The current architecture weights of a one-shot module or supernet, one table per cell type.

    Reads the supernet's ``cell_types`` (``("normal", "reduce")`` for the DARTS space, ``("cell",)`` for
    NAS-Bench-201), ``op_weights(cell)`` (``softmax(alpha)`` per edge, times PC-DARTS's normalized edge weights
    ``beta`` when the supernet has them: the weights the genotype is derived from) and ``edge_ops(cell)``.

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
        columns = _op_order(supernet, names)
        matrix = np.full((len(names), len(columns)), np.nan)
        for e, ops in enumerate(names):
            for o, op in enumerate(ops):
                matrix[e, columns.index(op)] = values[e, o]
        tables[str(cell)] = ArchWeights(matrix, columns, _edge_labels(supernet, len(names)))
    return tables


def _selected(genotype: Any, cell: str, table: ArchWeights) -> list[tuple[int, int]]:
    """``(edge row, op column)`` of the genotype's choices in a table (empty when the genotype does not fit)."""
    from lightning_nas.spaces import DARTS_EDGES, DARTSGenotype, NASBench201Genotype

    chosen: list[tuple[int, str]] = []
    if isinstance(genotype, NASBench201Genotype) and len(table.edges) == len(genotype.ops):
        chosen = list(enumerate(genotype.ops))
    elif isinstance(genotype, DARTSGenotype) and cell in ("normal", "reduce") and len(table.edges) == len(DARTS_EDGES):
        for k, (op, source) in enumerate(genotype.cell(cell)):
            chosen.append((DARTS_EDGES.index((k // 2 + 2, source)), op))
    return [(e, table.ops.index(op)) for e, op in chosen if op in table.ops]


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
        genotype: the derived genotype to frame (NAS-Bench-201 or DARTS space); ``None`` frames nothing, unless a
            model with ``genotype()`` is passed.
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


# --------------------------------------------------------------------------------------------- cell diagrams
def _node(ax: Axes, xy: tuple[float, float], label: str, color: str) -> None:
    ax.text(
        *xy,
        label,
        ha="center",
        va="center",
        fontsize=9,
        zorder=3,
        bbox={"boxstyle": "round,pad=0.35", "facecolor": color, "edgecolor": "0.3"},
    )


def _edge(
    ax: Axes,
    source: tuple[float, float],
    target: tuple[float, float],
    label: str | None,
    rad: float,
    *,
    dashed: bool = False,
    color: str = "0.25",
) -> None:
    ax.annotate(
        "",
        xy=target,
        xytext=source,
        zorder=1,
        arrowprops={
            "arrowstyle": "-|>",
            "connectionstyle": f"arc3,rad={rad}",
            "shrinkA": 14,
            "shrinkB": 14,
            "color": color,
            "linestyle": "--" if dashed else "-",
            "linewidth": 1.0,
        },
    )
    if label is not None:
        # the midpoint of matplotlib's arc3 Bezier curve: the chord's midpoint moved by rad/2 x (dy, -dx)
        (x1, y1), (x2, y2) = source, target
        x, y = (x1 + x2) / 2 + rad * (y2 - y1) / 2, (y1 + y2) / 2 - rad * (x2 - x1) / 2
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=7,
            zorder=2,
            color=color,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )


def _draw_darts_cell(ax: Axes, pairs: Sequence[tuple[str, int]], concat: Sequence[int], name: str) -> None:
    steps = len(pairs) // 2
    pos: dict[int, tuple[float, float]] = {0: (0.0, 1.6), 1: (0.0, -1.6)}
    for i in range(steps):
        pos[i + 2] = (3.2 * (i + 1), 1.1 if i % 2 == 0 else -1.1)
    out = (3.2 * (steps + 1), 0.0)
    _node(ax, pos[0], "$c_{k-2}$", "#cfe8cf")
    _node(ax, pos[1], "$c_{k-1}$", "#cfe8cf")
    for i in range(steps):
        _node(ax, pos[i + 2], str(i), "#dbe6f7")
    _node(ax, out, "$c_{k}$", "#f7e3c4")
    for k, (op, source) in enumerate(pairs):
        target = k // 2 + 2
        rad = 0.18 if k % 2 == 0 else -0.18
        dashed = op in _PARAMETER_FREE
        _edge(ax, pos[source], pos[target], op, rad, dashed=dashed, color="0.45" if dashed else "0.15")
    for node in concat:
        _edge(ax, pos[node], out, None, 0.0, color="0.7")
    ax.set_title(name)
    ax.set_xlim(-1.0, out[0] + 1.0)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_nb201_cell(ax: Axes, ops: Sequence[str]) -> None:
    from lightning_nas.spaces import NB201_EDGES

    pos = {node: (3.0 * node, 0.0) for node in range(4)}
    for node in range(4):
        _node(
            ax,
            pos[node],
            "input" if node == 0 else ("output" if node == 3 else str(node)),
            "#cfe8cf" if node == 0 else ("#f7e3c4" if node == 3 else "#dbe6f7"),
        )
    rads = {1: 0.0, 2: -0.35, 3: 0.3}
    for (node, source), op in zip(NB201_EDGES, ops):
        rad = rads[node - source]
        dashed = op in _PARAMETER_FREE
        _edge(ax, pos[source], pos[node], op, rad, dashed=dashed, color="0.55" if op == "none" else "0.15")
    ax.set_xlim(-1.2, 10.2)
    ax.set_ylim(-2.4, 2.4)
    ax.set_aspect("equal")
    ax.axis("off")


def _as_genotype(call: str, genotype: Any) -> Any:
    if not isinstance(genotype, str):
        return genotype
    from lightning_nas.spaces import DARTSGenotype, NASBench201Genotype

    for cls in (NASBench201Genotype, DARTSGenotype):
        try:
            return cls.from_string(genotype)
        except ValueError:
            continue
    tokens = genotype.split("-")
    if len(tokens) > 1 and all(tokens):
        return tokens  # a MobileNet path's string: its choices joined by "-"
    raise ValueError(
        f"`{call}`: `genotype` must be a genotype or the string of a NAS-Bench-201, DARTS or MobileNet genotype. "
        f"Got {genotype!r} instead."
    )


def _choices(genotype: Any) -> list[str] | None:
    choices = getattr(genotype, "choices", None)
    if choices is None and isinstance(genotype, Sequence) and not isinstance(genotype, str):
        choices = genotype
    if choices is None or not all(isinstance(c, str) for c in choices):
        return None
    return list(choices)


def plot_cell(
    genotype: Any,
    *,
    cell: str | None = None,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """The derived architecture as a diagram: nodes as boxes, edges labelled with their operations.

    * DARTS space (:class:`~lightning_nas.spaces.DARTSGenotype`): the normal and the reduction cell side by side
      (or the one ``cell`` names), inputs ``c_{k-2}``, ``c_{k-1}``, intermediate nodes 0-3 and the output
      ``c_{k}`` (their concatenation), as DARTS draws them;
    * NAS-Bench-201 (:class:`~lightning_nas.spaces.NASBench201Genotype`): the 4-node cell with all 6 edges
      (``none`` edges light and dashed);
    * MobileNet chain space (an object with a ``choices`` tuple, or a sequence of choice names): the layers
      stage by stage (:func:`plot_mobilenet_path`).

    Parameter-free operations (pooling, skip, ``none``) are drawn dashed. Drawn with matplotlib only.

    Args:
        genotype: the genotype or its canonical string.
        cell: ``"normal"`` or ``"reduce"`` to draw one DARTS cell; ``None`` draws both (ignored for one-cell
            spaces).
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; every operation name of the genotype is one of the Axes' texts.

    Raises:
        ValueError: for a string of no known space, or a bad ``cell``.
        TypeError: for an object that is no genotype of these spaces.

    Example:
        >>> fig = plot_cell("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
        >>> {t.get_text() for t in fig.axes[0].texts} >= {"nor_conv_3x3", "none", "avg_pool_3x3"}
        True
    """
    from lightning_nas.spaces import DARTSGenotype, NASBench201Genotype

    genotype = _as_genotype("plot_cell", genotype)
    if isinstance(genotype, DARTSGenotype):
        if cell not in (None, "normal", "reduce"):
            raise ValueError(f"`plot_cell(cell={cell!r})`: `cell` must be 'normal', 'reduce' or None. Got {cell!r}.")
        cells = [cell] if cell is not None else ["normal", "reduce"]
        fig = _figure(10.0, 3.3 * len(cells))
        axes = fig.subplots(len(cells), 1, squeeze=False)[:, 0]
        for ax, name in zip(axes, cells):
            _draw_darts_cell(ax, genotype.cell(name), genotype.concat(name), f"{name} cell")
    elif isinstance(genotype, NASBench201Genotype):
        fig = _figure(7.0, 3.2)
        _draw_nb201_cell(fig.add_subplot(), genotype.ops)
    else:
        choices = _choices(genotype)
        if choices is None:
            raise TypeError(
                f"`plot_cell`: `genotype` must be a NAS-Bench-201 or DARTS genotype, a MobileNet path or a sequence "
                f"of choice names. Got {type(genotype).__name__} instead."
            )
        return plot_mobilenet_path(choices, title=title, path=path, dpi=dpi)
    _title(fig, title)
    return _finish(fig, path, dpi)


def plot_mobilenet_path(
    path_or_choices: Any,
    *,
    stages: Sequence[int] = MOBILENET_STAGES,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """A MobileNet chain-space path, one row of blocks per stage, each labelled with its choice.

    Choice names follow the space's scheme: ``k{kernel}e{expansion}`` (``"k5e3"``), with ``"_se"`` for
    squeeze-and-excitation and ``"id"`` for a skipped layer (drawn dashed and grey). The colour encodes the kernel
    size, the box width the expansion ratio.

    Args:
        path_or_choices: a path with a ``choices`` tuple (``MobileNetPath``) or the choice names, one per layer.
        stages: searchable layers per stage; must sum to the number of choices (21 with the default
            ``(4, 4, 4, 4, 4, 1)``).
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Raises:
        ValueError: if ``stages`` does not add up to the number of choices, or a choice is not a non-empty string.

    Example:
        >>> fig = plot_mobilenet_path(["k3e6"] * 20 + ["id"])
        >>> sum(t.get_text() == "k3e6" for t in fig.axes[0].texts)
        20
    """
    from matplotlib.patches import FancyBboxPatch

    choices = _choices(path_or_choices)
    if choices is None or not choices or not all(choices):
        raise ValueError(
            f"`plot_mobilenet_path`: expected a path with `choices` or a sequence of non-empty choice names. "
            f"Got {path_or_choices!r} instead."
        )
    stages = [int(s) for s in stages]
    if any(s < 1 for s in stages) or sum(stages) != len(choices):
        raise ValueError(
            f"`plot_mobilenet_path(stages={list(stages)})`: `stages` must be positive layer counts adding up to the "
            f"{len(choices)} choices. Got a sum of {sum(stages)} instead."
        )
    colors = {"3": "#9ecae1", "5": "#fdae6b", "7": "#a1d99b"}
    fig = _figure(1.5 * max(stages) + 1.6, 0.62 * len(stages) + 0.8)
    ax = fig.add_subplot()
    layer = 0
    for row, count in enumerate(stages):
        y = -row
        ax.text(-0.9, y, f"stage {row + 1}", ha="right", va="center", fontsize=8, color="0.3")
        for col in range(count):
            choice = choices[layer]
            skip = choice == "id"
            kernel = choice[1] if choice.startswith("k") and len(choice) > 1 else ""
            expansion = choice.split("e", 1)[1][:1] if "e" in choice and not skip else ""
            width = 0.7 + (0.15 if expansion == "6" else 0.0)
            ax.add_patch(
                FancyBboxPatch(
                    (1.5 * col - width / 2, y - 0.28),
                    width,
                    0.56,
                    boxstyle="round,pad=0.04",
                    facecolor="white" if skip else colors.get(kernel, "#dddddd"),
                    edgecolor="0.5" if skip else "0.2",
                    linestyle="--" if skip else "-",
                )
            )
            ax.text(1.5 * col, y, choice, ha="center", va="center", fontsize=8, color="0.45" if skip else "black")
            if col:
                ax.annotate(
                    "",
                    xy=(1.5 * col - width / 2 - 0.05, y),
                    xytext=(1.5 * (col - 1) + 0.45, y),
                    arrowprops={"arrowstyle": "-|>", "color": "0.4", "shrinkA": 0, "shrinkB": 0},
                )
            layer += 1
    ax.set_xlim(-2.2, 1.5 * max(stages))
    ax.set_ylim(-len(stages) + 0.4, 0.6)
    ax.axis("off")
    _title(fig, title or f"MobileNet path ({len(choices)} layers)")
    return _finish(fig, path, dpi)


def _history_rows(genotype: Any) -> tuple[str, list[str], list[str], list[str]]:
    """(panel group, row labels, values, annotations) of one genotype for :func:`plot_genotype_history`."""
    from lightning_nas.spaces import NB201_EDGES, DARTSGenotype, NASBench201Genotype

    if isinstance(genotype, NASBench201Genotype):
        return "cell", [f"{n}<-{s}" for n, s in NB201_EDGES], list(genotype.ops), [""] * len(genotype.ops)
    if isinstance(genotype, DARTSGenotype):
        labels, values, notes = [], [], []
        for cell in ("normal", "reduce"):
            for k, (op, source) in enumerate(genotype.cell(cell)):
                labels.append(f"{cell[0]}: node {k // 2} #{k % 2 + 1}")
                values.append(op)
                notes.append(str(source))
        return "darts", labels, values, notes
    choices = _choices(genotype)
    if choices is None:
        raise TypeError(f"`plot_genotype_history`: unsupported genotype {genotype!r}.")
    return "path", [f"layer {i}" for i in range(len(choices))], choices, [""] * len(choices)


def plot_genotype_history(
    history: Sequence[Any],
    *,
    epochs: Sequence[int] | None = None,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """The genotype of every epoch as a grid: rows = edges (layers), columns = epochs, colour = operation.

    For the DARTS space the rows are the 8 kept edges of the normal and then the reduction cell (``n: node i #1``
    and ``#2``, the two inputs of intermediate node ``i``), each square annotated with the edge's input node when the
    history is at most 40 epochs long. A collapse shows as a band turning to ``skip_connect``.

    Args:
        history: genotypes (or strings) of one space, in epoch order (``genotype.json``'s ``"history"``).
        epochs: the epoch of each entry; ``None`` numbers them 0, 1, ...
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; ``fig.axes[0].images[0].get_array()`` holds the operation index of every (row, epoch), the
        legend names the operations.

    Raises:
        ValueError: if ``history`` is empty, mixes spaces, or ``epochs`` has another length.

    Example:
        >>> fig = plot_genotype_history(["|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        ...                              "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
        >>> fig.axes[0].images[0].get_array().shape
        (6, 2)
    """
    from matplotlib.patches import Patch

    if isinstance(history, str) or not history:
        raise ValueError("`plot_genotype_history`: `history` must be a non-empty sequence of genotypes.")
    parsed = [_history_rows(_as_genotype("plot_genotype_history", g)) for g in history]
    kinds = {(kind, len(labels)) for kind, labels, _, _ in parsed}
    if len(kinds) != 1:
        raise ValueError(f"`plot_genotype_history`: all genotypes must belong to one space. Got {sorted(kinds)}.")
    columns = list(range(len(history))) if epochs is None else [int(e) for e in epochs]
    if len(columns) != len(history):
        raise ValueError(
            f"`plot_genotype_history`: `epochs` must give one epoch per genotype ({len(history)}). "
            f"Got {len(columns)} instead."
        )
    labels = parsed[0][1]
    ops: list[str] = []
    for _, _, values, _ in parsed:
        ops.extend(op for op in values if op not in ops)
    from lightning_nas.spaces import DARTS_OPS, NB201_OPS

    for reference in (NB201_OPS, DARTS_OPS):
        if all(op in reference for op in ops):
            ops = list(reference)  # every op of the space: the same colour for an op in every plot
            break
    grid = np.array([[ops.index(op) for op in values] for _, _, values, _ in parsed], dtype=np.int64).T
    cmap = _colormap("tab10" if len(ops) <= 10 else "tab20").resampled(max(len(ops), 1))
    fig = _figure(min(16.0, 3.2 + 0.22 * len(columns)), 1.2 + 0.28 * len(labels))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(ops) - 0.5, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    step = max(1, len(columns) // 20)
    ax.set_xticks(range(0, len(columns), step), [str(c) for c in columns[::step]], fontsize=7)
    ax.set_xlabel("epoch")
    if len(columns) <= 40:
        for c, (_, _, _, notes) in enumerate(parsed):
            for r, note in enumerate(notes):
                if note:
                    ax.text(c, r, note, ha="center", va="center", fontsize=6, color="white")
    ax.legend(
        handles=[Patch(color=cmap(i), label=op) for i, op in enumerate(ops)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
    )
    _title(fig, title or "genotype per epoch")
    return _finish(fig, path, dpi)


# ------------------------------------------------------------------------------------------------ data
def plot_remaining_samples(
    remaining: Mapping[str, Sequence[float]],
    *,
    epochs: Sequence[float] | None = None,
    class_counts: Mapping[str, Mapping[Any, Sequence[float]]] | None = None,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Remaining samples per split over the epochs (BDP's Fig. 3b), and per class of each split.

    Args:
        remaining: ``{split: counts}``, e.g. ``{"train": [...], "val": [...]}``, one count per epoch.
        epochs: the x values; ``None`` numbers the epochs 0, 1, ...
        class_counts: ``{split: {class: counts}}``; one more panel per split, one line per class.
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; panel 0 has one line per split (in ``remaining``'s order), the next panels one per class.

    Raises:
        ValueError: if a series is empty, not finite, or its length differs from ``epochs``.

    Example:
        >>> fig = plot_remaining_samples({"train": [100, 90, 81], "val": [100, 80, 64]})
        >>> [line.get_ydata().tolist() for line in fig.axes[0].lines][1]
        [100.0, 80.0, 64.0]

    References:
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Fig. 3b.
    """
    call = "plot_remaining_samples"
    if not remaining:
        raise ValueError(f"`{call}`: `remaining` must hold at least one split. Got an empty mapping.")
    series = {split: _finite_1d(call, f"remaining[{split!r}]", values) for split, values in remaining.items()}
    length = len(next(iter(series.values())))
    x = np.arange(length, dtype=np.float64) if epochs is None else _finite_1d(call, "epochs", epochs)
    classes = {
        split: {c: _finite_1d(call, f"class_counts[{split!r}][{c!r}]", v) for c, v in per_class.items()}
        for split, per_class in (class_counts or {}).items()
    }
    for name, values in [*series.items(), *((f"{s}/{c}", v) for s, pc in classes.items() for c, v in pc.items())]:
        if len(values) != len(x):
            raise ValueError(
                f"`{call}`: every series needs one value per epoch ({len(x)}); {name!r} has {len(values)}."
            )
    fig = _figure(4.5 * (1 + len(classes)), 3.4)
    axes = fig.subplots(1, 1 + len(classes), squeeze=False)[0]
    names = {"train": "weight split (train)", "val": "architecture split (val)"}
    for split, values in series.items():
        axes[0].plot(x, values, marker="o", markersize=3, label=names.get(split, split))
    axes[0].set_title("remaining samples")
    for ax, (split, per_class) in zip(axes[1:], classes.items()):
        for c, values in per_class.items():
            ax.plot(x, values, linewidth=1.0, label=str(c))
        ax.set_title(f"{names.get(split, split)} per class")
        if len(per_class) <= 12:
            ax.legend(fontsize=6, ncols=2)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylabel("samples")
        ax.grid(alpha=0.3)
        _integer_ticks(ax, x)
    axes[0].legend(fontsize=8)
    _title(fig, title)
    return _finish(fig, path, dpi)


def plot_entropy_histogram(
    entropies: Any,
    selected: Any | Mapping[str, Any],
    *,
    bin_width: float = 0.5,
    pool_label: str = "full pool",
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Histogram of ``log10`` entropies of the full pool with the selection's histogram on top (proxy data, Fig. 2).

    Both histograms use the pool's bins (:func:`~lightning_nas.selection.entropy_histogram`), so a bar of the
    selection counts the selected examples of the pool bar beneath it. Several selections (``{name: ids}``) give one
    panel each, as the paper's Fig. 2 compares random, top-k, bottom-k, k-center and the proposed selection.

    Args:
        entropies: ``(N,)`` non-negative entropies of the full pool (:func:`~lightning_nas.selection.entropy`).
        selected: pool indices of the selection, or ``{name: indices}`` for several.
        bin_width: bin width in ``log10`` space (see :data:`~lightning_nas.selection.DEFAULT_BIN_WIDTHS`).
        pool_label: legend label of the pool histogram.
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; in each panel ``ax.containers[0]`` holds the pool's bars and ``ax.containers[1]`` the
        selection's.

    Raises:
        ValueError: bad entropies or bin width (as :func:`~lightning_nas.selection.entropy_histogram`), or indices
            outside the pool or repeated.

    Example:
        >>> h = np.geomspace(1e-6, 1.0, 50)
        >>> fig = plot_entropy_histogram(h, np.arange(0, 50, 5), bin_width=1.0)
        >>> [int(b.get_height()) for b in fig.axes[0].containers[1]]
        [2, 2, 1, 2, 2, 1, 0]

    References:
        Na et al., "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021, Fig. 2 and Fig. 4.
    """
    from lightning_nas.selection import entropy_histogram
    from lightning_nas.selection._arrays import check_index_array

    hist = entropy_histogram(entropies, bin_width)
    selections = dict(selected) if isinstance(selected, Mapping) else {"selection": selected}
    if not selections:
        raise ValueError("`plot_entropy_histogram`: `selected` must hold at least one selection.")
    n = len(hist.bins)
    counts = {
        name: np.bincount(
            hist.bins[check_index_array(ids, f"selected[{name!r}]", "plot_entropy_histogram", n, unique=True)],
            minlength=len(hist.counts),
        )
        for name, ids in selections.items()
    }
    cols = min(3, len(counts))
    rows = math.ceil(len(counts) / cols)
    fig = _figure(4.2 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    left = hist.edges[:-1]
    for ax, (name, sel) in zip(axes, counts.items()):
        ax.bar(left, hist.counts, width=bin_width, align="edge", color="#6baed6", alpha=0.7, label=pool_label)
        ax.bar(left, sel, width=bin_width, align="edge", color="#e6550d", alpha=0.8, label=f"{name} ({int(sel.sum())})")
        ax.set_xlabel("entropy (log10)")
        ax.set_ylabel("examples")
        ax.set_title(name)
        ax.legend(fontsize=7)
    for ax in axes[len(counts) :]:
        ax.axis("off")
    _title(fig, title)
    return _finish(fig, path, dpi)


# ----------------------------------------------------------------------------------- candidates and search
def plot_candidate_pool(
    pool: Sequence[Any],
    *,
    bins: int = 20,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """The loss distribution of a candidate pool (GreedyNAS): a histogram and the losses by rank.

    Args:
        pool: ``(loss, path)`` pairs, best (lowest loss) first as GreedyNAS keeps them, or plain losses.
        bins: bins of the histogram.
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; ``fig.axes[0].containers[0]`` holds the histogram's bars, ``fig.axes[1].lines[0]`` the
        sorted losses.

    Raises:
        ValueError: if the pool is empty or a loss is not finite.

    Example:
        >>> fig = plot_candidate_pool([(0.9, "a"), (1.2, "b"), (2.0, "c")], bins=4)
        >>> sum(int(b.get_height()) for b in fig.axes[0].containers[0])
        3
    """
    if isinstance(pool, str) or not isinstance(pool, Sequence):
        raise ValueError(f"`plot_candidate_pool`: `pool` must be a sequence of (loss, path) pairs. Got {pool!r}.")
    losses = [entry[0] if isinstance(entry, (tuple, list)) else entry for entry in pool]
    values = _finite_1d("plot_candidate_pool", "pool losses", losses)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"`plot_candidate_pool(bins={bins!r})`: `bins` must be a positive int. Got {bins!r}.")
    fig = _figure(8.0, 3.2)
    ax_hist, ax_rank = fig.subplots(1, 2)
    ax_hist.hist(values, bins=bins, color="#6baed6", edgecolor="white")
    ax_hist.set_xlabel("loss")
    ax_hist.set_ylabel("paths")
    ax_hist.set_title(f"candidate pool ({len(values)} paths)")
    ax_rank.plot(np.arange(1, len(values) + 1), np.sort(values), marker=".", markersize=3)
    ax_rank.set_xlabel("rank")
    ax_rank.set_ylabel("loss")
    ax_rank.set_title("losses by rank")
    ax_rank.grid(alpha=0.3)
    _title(fig, title)
    return _finish(fig, path, dpi)


def plot_evolution(
    history: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Evolution progress: every individual's accuracy at its creation cycle and the best accuracy so far.

    Args:
        history: one record per individual with ``"cycle"`` (its creation cycle) and ``"accuracy"``; an optional
            ``"stage"`` (hierarchical evolution's stages) colours the points per stage.
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; ``fig.axes[0].collections`` holds the points (one collection per stage), ``fig.axes[0].lines[0]``
        the best accuracy of the individuals created up to each cycle.

    Raises:
        ValueError: if the history is empty or a record lacks ``"cycle"``/``"accuracy"``.

    Example:
        >>> fig = plot_evolution([{"id": 0, "cycle": 0, "accuracy": 0.5}, {"id": 1, "cycle": 1, "accuracy": 0.4},
        ...                       {"id": 2, "cycle": 2, "accuracy": 0.7}])
        >>> fig.axes[0].lines[0].get_ydata().tolist()
        [0.5, 0.5, 0.7]
    """
    call = "plot_evolution"
    if isinstance(history, (str, Mapping)) or not history:
        raise ValueError(f"`{call}`: `history` must be a non-empty sequence of records.")
    for i, record in enumerate(history):
        if not isinstance(record, Mapping) or "cycle" not in record or "accuracy" not in record:
            raise ValueError(
                f"`{call}`: record {i} must be a mapping with 'cycle' and 'accuracy'. Got {record!r} instead."
            )
    cycles = _finite_1d(call, "cycles", [r["cycle"] for r in history])
    accuracy = _finite_1d(call, "accuracies", [r["accuracy"] for r in history])
    stages = [r.get("stage") for r in history]
    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    order = sorted(set(cycles.tolist()))
    best = np.maximum.accumulate([accuracy[cycles == c].max() for c in order])
    ax.plot(order, best, drawstyle="steps-post", color="crimson", label="best so far")
    groups = sorted({s for s in stages if s is not None}, key=str)
    if groups:
        for stage in groups:
            mask = np.array([s == stage for s in stages])
            ax.scatter(cycles[mask], accuracy[mask], s=12, alpha=0.7, label=f"stage {stage}")
    else:
        ax.scatter(cycles, accuracy, s=12, alpha=0.6, color="#3182bd", label="individual")
    ax.set_xlabel("cycle")
    ax.set_ylabel("accuracy")
    _integer_ticks(ax, cycles)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _title(fig, title or f"evolution ({len(history)} individuals)")
    return _finish(fig, path, dpi)


def pareto_front(flops: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """Indices of the non-dominated points (fewer FLOPs and higher accuracy are better), by increasing FLOPs.

    A point is dominated when another has no more FLOPs and no lower accuracy, and is strictly better in one of
    the two; of identical points the first is kept.

    Example:
        >>> pareto_front([1, 2, 3, 2], [0.5, 0.7, 0.6, 0.4]).tolist()
        [0, 1]
    """
    f = _finite_1d("pareto_front", "flops", flops)
    a = _finite_1d("pareto_front", "accuracy", accuracy)
    if len(f) != len(a):
        raise ValueError(f"`pareto_front`: `flops` and `accuracy` must have the same length. Got {len(f)}, {len(a)}.")
    order = np.lexsort((np.arange(len(f)), -a, f))  # by FLOPs, then the highest accuracy, then the first
    keep, best = [], -np.inf
    for i in order:
        if a[i] > best:
            keep.append(int(i))
            best = a[i]
    return np.asarray(keep, dtype=np.int64)


def plot_pareto_front(
    records: Sequence[Mapping[str, Any]],
    pareto: Sequence[Any] | None = None,
    *,
    max_flops: float | None = None,
    flops_unit: float = 1e6,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Accuracy against FLOPs of every evaluated path, with the Pareto front (NSGA-II).

    Args:
        records: one mapping per evaluated path with ``"flops"`` (multiply-accumulates) and ``"accuracy"``.
        pareto: the Pareto subset, as records or as indices into ``records``; ``None`` computes the front of
            ``records`` (:func:`pareto_front`).
        max_flops: draws the FLOPs constraint as a vertical line.
        flops_unit: divides the FLOPs on the axis (``1e6``: MFLOPs).
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; ``fig.axes[0].collections[0]`` holds all points, ``collections[1]`` the front, and
        ``fig.axes[0].lines[0]`` the front as a step line.

    Raises:
        ValueError: if a record lacks ``"flops"``/``"accuracy"``, or an index is out of range.

    Example:
        >>> recs = [{"flops": 1e6, "accuracy": 0.5}, {"flops": 2e6, "accuracy": 0.7}, {"flops": 3e6, "accuracy": 0.6}]
        >>> fig = plot_pareto_front(recs)
        >>> fig.axes[0].collections[1].get_offsets().tolist()
        [[1.0, 0.5], [2.0, 0.7]]
    """
    call = "plot_pareto_front"

    def values(items: Sequence[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
        for i, r in enumerate(items):
            if not isinstance(r, Mapping) or "flops" not in r or "accuracy" not in r:
                raise ValueError(f"`{call}`: {name} {i} must be a mapping with 'flops' and 'accuracy'. Got {r!r}.")
        return (
            _finite_1d(call, f"{name} flops", [r["flops"] for r in items], allow_empty=True),
            _finite_1d(call, f"{name} accuracies", [r["accuracy"] for r in items], allow_empty=True),
        )

    if isinstance(records, (str, Mapping)) or not records:
        raise ValueError(f"`{call}`: `records` must be a non-empty sequence of records.")
    if isinstance(flops_unit, bool) or not isinstance(flops_unit, (int, float)) or not flops_unit > 0:
        raise ValueError(f"`{call}(flops_unit={flops_unit!r})`: `flops_unit` must be positive. Got {flops_unit!r}.")
    flops, accuracy = values(records, "record")
    if pareto is None:
        front = pareto_front(flops, accuracy)
        pf, pa = flops[front], accuracy[front]
    elif all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pareto):
        front = np.asarray(pareto, dtype=np.int64)
        if front.size and (front.min() < 0 or front.max() >= len(records)):
            raise ValueError(f"`{call}`: `pareto` indices must be in [0, {len(records)}). Got {front.tolist()}.")
        pf, pa = flops[front], accuracy[front]
    else:
        pf, pa = values(list(pareto), "pareto record")
    order = np.argsort(pf, kind="stable")
    pf, pa = pf[order] / flops_unit, pa[order]
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    ax.scatter(flops / flops_unit, accuracy, s=10, color="0.6", alpha=0.6, label=f"evaluated ({len(records)})")
    ax.scatter(pf, pa, s=22, color="crimson", zorder=3, label=f"Pareto front ({len(pf)})")
    ax.plot(pf, pa, drawstyle="steps-post", color="crimson", linewidth=1.0)
    if max_flops is not None:
        ax.axvline(max_flops / flops_unit, color="0.3", linestyle="--", linewidth=1.0, label="FLOPs limit")
    unit = {1e6: "MFLOPs", 1e9: "GFLOPs", 1.0: "FLOPs"}.get(float(flops_unit), f"FLOPs / {flops_unit:g}")
    ax.set_xlabel(f"{unit} (multiply-accumulates)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _title(fig, title or "NSGA-II: accuracy vs FLOPs")
    return _finish(fig, path, dpi)


def plot_curves(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    *,
    xlabel: str = "epoch",
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Line plots of metric series, one panel per group: losses, accuracies, eigenvalues, counts.

    Args:
        panels: ``{panel title: {line label: (x values, y values)}}``; empty panels are skipped.
        xlabel: label of every x axis.
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure, one axes per non-empty panel, one line per series in order.

    Raises:
        ValueError: if no panel has a series, or a series' x and y lengths differ.

    Example:
        >>> fig = plot_curves({"loss": {"train": ([0, 1], [2.3, 1.9]), "val": ([0, 1], [2.4, 2.0])}})
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['train', 'val']
    """
    call = "plot_curves"
    filled = {name: series for name, series in panels.items() if series}
    if not filled:
        raise ValueError(f"`{call}`: `panels` must hold at least one series. Got {dict(panels)!r}.")
    checked: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name, series in filled.items():
        checked[name] = {}
        for label, (xs, ys) in series.items():
            x = _finite_1d(call, f"{name}/{label} x", xs)
            y = _finite_1d(call, f"{name}/{label} y", ys)
            if len(x) != len(y):
                raise ValueError(f"`{call}`: {name}/{label} has {len(x)} x and {len(y)} y values; they must match.")
            checked[name][label] = (x, y)
    cols = min(3, len(checked))
    rows = math.ceil(len(checked) / cols)
    fig = _figure(4.3 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (name, series) in zip(axes, checked.items()):
        for label, (x, y) in series.items():
            ax.plot(x, y, marker="o" if len(x) <= 30 else None, markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        _integer_ticks(ax, np.concatenate([x for x, _ in series.values()]))
        ax.legend(fontsize=7)
    for ax in axes[len(checked) :]:
        ax.axis("off")
    _title(fig, title)
    return _finish(fig, path, dpi)
