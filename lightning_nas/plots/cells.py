"""Derived cells as diagrams: DARTS normal/reduce cells, NAS-Bench-201 and other DAG cells, MobileNet paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lightning_nas.plots.common import (
    _MOBILENET,
    MOBILENET_STAGES,
    PathLike,
    _as_genotype,
    _cells,
    _choices,
    _edges_of,
    _figure,
    _finish,
    _parameter_free,
    _space_class,
    _title,
)
from lightning_nas.spaces import Genotype, GenotypeEdge

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_cell", "plot_mobilenet_path"]


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


def _draw_darts_cell(
    ax: Axes, edges: Sequence[GenotypeEdge], concat: Sequence[int], name: str, dashed_ops: frozenset[str]
) -> None:
    """A cell with inputs ``c_{k-2}``, ``c_{k-1}`` (the nodes below the first target) and a concatenated output."""
    targets = sorted({int(edge.target) for edge in edges if edge.target is not None})
    first = targets[0] if targets else 2
    inputs = list(range(first))
    pos: dict[int, tuple[float, float]] = {}
    for i in inputs:
        pos[i] = (0.0, 1.6 if i % 2 == 0 else -1.6) if len(inputs) <= 2 else (0.0, 1.6 - 3.2 * i / (len(inputs) - 1))
    for i, node in enumerate(targets):
        pos[node] = (3.2 * (i + 1), 1.1 if i % 2 == 0 else -1.1)
    out = (3.2 * (len(targets) + 1), 0.0)
    for i in inputs:
        _node(ax, pos[i], f"$c_{{k-{len(inputs) - i}}}$", "#cfe8cf")
    for i, node in enumerate(targets):
        _node(ax, pos[node], str(i), "#dbe6f7")
    _node(ax, out, "$c_{k}$", "#f7e3c4")
    for k, edge in enumerate(edges):
        if edge.source not in pos or edge.target not in pos:
            continue
        rad = 0.18 if k % 2 == 0 else -0.18
        dashed = edge.op in dashed_ops
        _edge(ax, pos[edge.source], pos[edge.target], edge.op, rad, dashed=dashed, color="0.45" if dashed else "0.15")
    for node in concat:
        if node in pos:
            _edge(ax, pos[node], out, None, 0.0, color="0.7")
    ax.set_title(name)
    ax.set_xlim(-1.0, out[0] + 1.0)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_dag_cell(ax: Axes, edges: Sequence[GenotypeEdge], dashed_ops: frozenset[str]) -> None:
    """A cell whose first node is its input and last node its output (NAS-Bench-201), nodes on a line."""
    nodes = sorted({int(n) for edge in edges for n in (edge.source, edge.target) if n is not None})
    pos = {node: (3.0 * i, 0.0) for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        _node(
            ax,
            pos[node],
            "input" if i == 0 else ("output" if last else str(node)),
            "#cfe8cf" if i == 0 else ("#f7e3c4" if last else "#dbe6f7"),
        )
    for edge in edges:
        if edge.source is None or edge.target is None:
            continue
        span = nodes.index(edge.target) - nodes.index(edge.source)
        rad = 0.0 if span == 1 else (-0.35 if span % 2 == 0 else 0.3)
        dashed = edge.op in dashed_ops
        _edge(ax, pos[edge.source], pos[edge.target], edge.op, rad, dashed=dashed, color="0.55" if dashed else "0.15")
    ax.set_xlim(-1.2, 3.0 * max(len(nodes) - 1, 0) + 1.2)
    ax.set_ylim(-2.4, 2.4)
    ax.set_aspect("equal")
    ax.axis("off")


def plot_cell(
    genotype: Any,
    *,
    cell: str | None = None,
    title: str | None = None,
    path: PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """The derived architecture as a diagram: nodes as boxes, edges labelled with their operations.

    Drawn from the genotype's edges (:meth:`~lightning_nas.spaces.Genotype.edges`), so every registered space has
    a diagram:

    * cells with a concatenated output (:meth:`~lightning_nas.spaces.Genotype.cell_outputs`; the DARTS space): the
      cells one under the other (or the one ``cell`` names), inputs ``c_{k-2}``, ``c_{k-1}``, intermediate nodes
      0-3 and the output ``c_{k}`` (their concatenation), as DARTS draws them;
    * other cells (NAS-Bench-201): the nodes on a line from the input to the output, with every edge;
    * chains (layers without nodes: the MobileNet space, an object with a ``choices`` tuple, or a sequence of
      choice names): the layers stage by stage (the space's ``stages``; :func:`plot_mobilenet_path`).

    The parameter-free operations of the space (``SearchSpace.parameter_free_ops``) are drawn dashed. Drawn with
    matplotlib only.

    Args:
        genotype: the genotype or its canonical string.
        cell: the cell to draw (``"normal"`` or ``"reduce"`` in the DARTS space); ``None`` draws all (ignored for
            one-cell spaces).
        title: the figure's title.
        path: file to write (PNG).
        dpi: resolution of the file.

    Returns:
        The figure; every operation name of the genotype is one of the Axes' texts.

    Raises:
        ValueError: for a string of no registered space, or a bad ``cell``.
        TypeError: for an object that is no genotype.

    Example:
        >>> fig = plot_cell("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
        >>> {t.get_text() for t in fig.axes[0].texts} >= {"nor_conv_3x3", "none", "avg_pool_3x3"}
        True
    """
    genotype = _as_genotype("plot_cell", genotype)
    edges = _edges_of(genotype)
    if edges is None:
        raise TypeError(
            f"`plot_cell`: `genotype` must be a genotype (with `edges()`), a path with `choices` or a sequence "
            f"of choice names. Got {type(genotype).__name__} instead."
        )
    space = _space_class(genotype)
    if all(edge.source is None or edge.target is None for edge in edges):
        choices = [edge.op for edge in edges]
        facts = space or _MOBILENET  # plain choice names: the MobileNet layout, as documented
        stages = facts.stages if facts.stages and sum(facts.stages) == len(choices) else (len(choices),)
        skip = frozenset({facts.skip_op} if facts.skip_op else ())
        name = "MobileNet path" if facts is _MOBILENET else f"{facts.name} path"
        return _plot_chain(choices, stages, skip, title or f"{name} ({len(choices)} layers)", path, dpi)
    cells = _cells(edges)
    if len(cells) > 1 and cell is not None and cell not in cells:
        allowed = ", ".join(repr(c) for c in cells)
        raise ValueError(f"`plot_cell(cell={cell!r})`: `cell` must be {allowed} or None. Got {cell!r}.")
    drawn = [cell] if len(cells) > 1 and cell is not None else cells
    dashed = _parameter_free(genotype)
    outputs = {name: genotype.cell_outputs(name) if isinstance(genotype, Genotype) else None for name in drawn}
    concatenated = any(value is not None for value in outputs.values())
    fig = _figure(10.0, 3.3 * len(drawn)) if concatenated else _figure(7.0, 3.2 * len(drawn))
    axes = fig.subplots(len(drawn), 1, squeeze=False)[:, 0]
    for ax, name in zip(axes, drawn):
        cell_edges = [edge for edge in edges if edge.cell == name]
        concat = outputs[name]
        if concat is not None:
            _draw_darts_cell(ax, cell_edges, concat, f"{name} cell", dashed)
        else:
            _draw_dag_cell(ax, cell_edges, dashed)
            if len(drawn) > 1:
                ax.set_title(f"{name} cell")
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
    skip = frozenset({_MOBILENET.skip_op} if _MOBILENET.skip_op else ())
    return _plot_chain(choices, stages, skip, title or f"MobileNet path ({len(choices)} layers)", path, dpi)


def _plot_chain(
    choices: Sequence[str], stages: Sequence[int], skip_ops: frozenset[str], title: str, path: PathLike | None, dpi: int
) -> Figure:
    """One row of blocks per stage, each labelled with its choice; ``skip_ops`` dashed and grey."""
    from matplotlib.patches import FancyBboxPatch

    colors = {"3": "#9ecae1", "5": "#fdae6b", "7": "#a1d99b"}
    fig = _figure(1.5 * max(stages) + 1.6, 0.62 * len(stages) + 0.8)
    ax = fig.add_subplot()
    layer = 0
    for row, count in enumerate(stages):
        y = -row
        ax.text(-0.9, y, f"stage {row + 1}", ha="right", va="center", fontsize=8, color="0.3")
        for col in range(count):
            choice = choices[layer]
            skip = choice in skip_ops
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
    _title(fig, title)
    return _finish(fig, path, dpi)
