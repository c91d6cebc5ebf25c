"""Uniform random selection (the papers' baseline) and per-class budgets for class-balanced selections."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lightning_nas.selection._arrays import SeedLike, check_int, describe, to_numpy

__all__ = ["per_class_budgets", "random_selection"]


def per_class_budgets(labels: Any, fraction: float | None = None, count: int | None = None) -> dict[int, int]:
    """Number of examples to select from every class: a share of each class, or the same count for each.

    Args:
        labels: ``(N,)`` non-negative integer class labels.
        fraction: share of every class in ``(0, 1]``; a class of ``n`` examples gets ``round(fraction * n)``
            (half up), at least 1.
        count: examples per class, ``>= 1``, at most the smallest class. Give exactly one of the two.

    Returns:
        ``{class: budget}`` for every class present, in ascending class order.

    Raises:
        ValueError: if not exactly one of ``fraction`` / ``count`` is given, ``fraction`` is outside
            ``(0, 1]``, ``count`` is larger than a class ("budget larger than a class"), or ``labels`` is not
            a non-empty 1-D array of non-negative integers.

    Example:
        >>> per_class_budgets([0, 0, 0, 0, 1, 1, 2], fraction=0.25)
        {0: 1, 1: 1, 2: 1}
        >>> per_class_budgets([0, 0, 0, 0, 1, 1, 2] * 10, fraction=0.1)
        {0: 4, 1: 2, 2: 1}
        >>> per_class_budgets([0, 0, 1, 1, 1], count=2)
        {0: 2, 1: 2}

    References:
        Shim, Kong & Kang, ICML 2021 workshop, Algorithm 1: the selection ratio ``r`` applies per class
        (``k_c = round(r |X^c|)``, at least 1; spec 4.2 and ambiguity 17).
    """
    if (fraction is None) == (count is None):
        raise ValueError(
            f"`per_class_budgets(fraction={fraction!r}, count={count!r})`: give exactly one of `fraction` and `count`."
        )
    classes, sizes = np.unique(_labels("per_class_budgets", labels), return_counts=True)
    if fraction is not None:
        ok = isinstance(fraction, int | float | np.floating | np.integer) and not isinstance(fraction, bool)
        if not ok or not 0 < fraction <= 1:
            raise ValueError(
                f"`per_class_budgets(fraction={fraction!r})`: `fraction` must be in (0, 1]. Got {fraction!r} instead."
            )
        budgets = [max(1, math.floor(fraction * n + 0.5)) for n in sizes.tolist()]
    else:
        count = check_int(count, "count", f"per_class_budgets(count={count!r})", 1)
        if count > sizes.min():
            small = int(classes[np.argmin(sizes)])
            raise ValueError(
                f"`per_class_budgets(count={count})`: budget larger than a class: class {small} has only "
                f"{int(sizes.min())} examples. Got {count} instead."
            )
        budgets = [count] * len(classes)
    return dict(zip(classes.tolist(), budgets))


def random_selection(
    n: int,
    size: int | Mapping[int, int],
    *,
    seed: SeedLike = None,
    labels: Any = None,
) -> np.ndarray:
    """Uniform random selection without replacement; class-stratified when ``labels`` is given.

    Args:
        n: pool size (ids ``0..n-1``).
        size: total number of ids, in ``[0, n]``; or, with ``labels``, a ``{class: count}`` mapping (e.g. from
            :func:`per_class_budgets`) giving the exact count of every listed class.
        seed: seed (or generator) for ``np.random.default_rng``.
        labels: optional ``(n,)`` class labels. With an int ``size``, each class gets its proportional share
            of ``size`` (largest remainders, ties to the smaller class label), so the total is exactly
            ``size`` and the class proportions are kept; the ids within a class are uniform.

    Returns:
        ``(size,)`` sorted int64 ids.

    Raises:
        ValueError: if ``size`` is out of range, ``labels`` has another length than ``n``, or a per-class count
            is larger than its class.

    Example:
        >>> random_selection(10, 3, seed=0).tolist() == random_selection(10, 3, seed=0).tolist()
        True
        >>> ids = random_selection(6, 3, seed=0, labels=[0, 0, 0, 0, 1, 1])
        >>> np.bincount(np.array([0, 0, 0, 0, 1, 1])[ids]).tolist()
        [2, 1]

    References:
        The random baselines of Shim, Kong & Kang (ICML 2021 workshop, Table 2) and Na et al. (IJCAI 2021,
        Sec. 3: "samples examples uniformly").
    """
    n = check_int(n, "n", f"random_selection(n={n!r})", 0)
    rng = np.random.default_rng(seed)
    if labels is None:
        if isinstance(size, Mapping):
            raise ValueError("`random_selection(size={...})`: a per-class `size` needs `labels`. Got labels=None.")
        size = check_int(size, "size", f"random_selection(size={size!r})", 0, n)
        return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
    y = _labels("random_selection", labels, allow_empty=True)
    if len(y) != n:
        raise ValueError(f"`random_selection(n={n})`: `labels` must have length n = {n}. Got length {len(y)} instead.")
    classes, sizes = np.unique(y, return_counts=True)
    if isinstance(size, Mapping):
        counts = _per_class_counts(size, dict(zip(classes.tolist(), sizes.tolist())))
    else:
        size = check_int(size, "size", f"random_selection(size={size!r})", 0, n)
        counts = dict(zip(classes.tolist(), _apportion(size, sizes).tolist()))
    order = np.argsort(y, kind="stable")  # ids grouped by class, ascending within a class
    starts = np.concatenate([[0], np.cumsum(sizes)])
    chosen = []
    for c, (a, b) in zip(classes.tolist(), zip(starts[:-1], starts[1:])):
        k = counts.get(c, 0)
        if k:
            chosen.append(rng.choice(order[a:b], size=k, replace=False))
    return np.sort(np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)).astype(np.int64)


def _apportion(total: int, sizes: np.ndarray) -> np.ndarray:
    """Largest-remainder (Hamilton) split of ``total`` proportional to ``sizes``, exact in integers."""
    n = int(sizes.sum())
    if n == 0:
        return np.zeros_like(sizes)
    quotas = total * sizes
    base = quotas // n
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(sizes)), -(quotas % n)))  # largest remainder first, then smaller label
    base[order[:rest]] += 1
    return base


def _per_class_counts(size: Mapping[int, int], class_sizes: dict[int, int]) -> dict[int, int]:
    counts = {}
    for c, k in size.items():
        c_int = check_int(c, "size", f"random_selection(size={{{c!r}: ...}})", 0)
        if c_int not in class_sizes:
            raise ValueError(
                f"`random_selection(size={{{c!r}: {k!r}}})`: class {c!r} has no examples in `labels`. "
                f"Got classes {sorted(class_sizes)} in `labels` instead."
            )
        k = check_int(k, "size", f"random_selection(size={{{c!r}: {k!r}}})", 0)
        if k > class_sizes[c_int]:
            raise ValueError(
                f"`random_selection(size={{{c!r}: {k}}})`: budget larger than a class: class {c!r} has only "
                f"{class_sizes[c_int]} examples. Got {k} instead."
            )
        counts[c_int] = k
    return counts


def _labels(call: str, labels: Any, allow_empty: bool = False) -> np.ndarray:
    y = to_numpy(labels)
    if y.size == 0 and allow_empty:
        return y.reshape(0).astype(np.int64)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(
            f"`{call}`: `labels` must be a non-empty 1-D array of non-negative integers. Got {describe(y)} instead."
        )
    return y.astype(np.int64, copy=False)
