"""The genotype of every epoch of a search, one row per edge or layer and one colour per operation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_nas.plots.common import (
    PathLike,
    _as_genotype,
    _cells,
    _colormap,
    _edges_of,
    _figure,
    _finish,
    _space_class,
    _space_order,
    _title,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_genotype_history"]


def _history_rows(genotype: Any) -> tuple[tuple[str, ...], list[str], list[str], list[str]]:
    """(cells, row labels, values, annotations) of one genotype for :func:`plot_genotype_history`.

    Rows are the genotype's edges (``"n: node 0 #1"`` with the cell's initial when it has several cells); a square
    names the edge's input node when the space searches inputs (``Genotype.searched_inputs``).
    """
    edges = _edges_of(genotype)
    if edges is None:
        raise TypeError(f"`plot_genotype_history`: unsupported genotype {genotype!r}.")
    cells = tuple(_cells(edges))
    several = len(cells) > 1
    labels = [f"{edge.cell[0]}: {edge.label}" if several else edge.label for edge in edges]
    noted = bool(getattr(genotype, "searched_inputs", False))
    notes = [str(edge.source) if noted and edge.source is not None else "" for edge in edges]
    return cells, labels, [edge.op for edge in edges], notes


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
    seen: list[str] = []
    for _, _, values, _ in parsed:
        seen.extend(op for op in values if op not in seen)
    first = _as_genotype("plot_genotype_history", history[0])
    # every op of the space: the same colour for an op in every plot
    ops = list(_space_order(seen, _space_class(first), full=True))
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
