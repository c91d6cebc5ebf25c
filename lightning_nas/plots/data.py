"""Plots of data selection: remaining samples over the epochs and entropy histograms of proxy data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_nas.plots.common import PathLike, _figure, _finish, _finite_1d, _integer_ticks, _title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_entropy_histogram", "plot_remaining_samples"]


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
