"""Plots of search progress: candidate pools, evolution runs, Pareto fronts and metric curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_nas.plots.common import PathLike, _figure, _finish, _finite_1d, _integer_ticks, _title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["pareto_front", "plot_candidate_pool", "plot_curves", "plot_evolution", "plot_pareto_front"]


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
