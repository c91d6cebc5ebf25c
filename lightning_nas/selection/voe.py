"""Variance of Error (VoE) and the automatic class-balance constraint of Bi-level Data Pruning (BDP).

Pure numpy functions: :func:`voe` scores samples by the variance of their per-epoch prediction errors,
:func:`class_balance_degree` and :func:`class_limits` set the per-class pruning caps, and :func:`select_prune` walks the
candidates in criterion order under those caps. :class:`~lightning_nas.callbacks.VoEPruning` gathers the errors during
a search and applies these functions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["class_balance_degree", "class_limits", "select_prune", "voe"]


def voe(errors_window: ArrayLike, min_records: int = 2) -> np.ndarray:
    """Variance of Error: the population variance (``ddof=0``) of each sample's errors over the window.

    ``VoE(x) = (1/T) * sum_k (e_k - ē)^2`` with ``ē`` the mean of the ``T`` errors of the window. Missing records
    (``nan``) are left out (``nanvar`` over the records a sample has). A sample with fewer than ``min_records`` records
    gets a neutral score, the median VoE of the samples that have enough, so it is neither preferred nor protected by
    the pruning. If no sample has enough records there is no VoE to rank by (e.g. the architecture split in the window
    right after an architecture warm-up that ends mid-window) and every score is ``nan``: callers must not prune on
    such scores (:class:`~lightning_nas.callbacks.VoEPruning` skips the split; :func:`select_prune` rejects them).
    So the scores are either all finite or all ``nan``.

    Args:
        errors_window: ``(N, T)`` errors, one row per sample and one column per epoch of the window, ``nan`` where a
            sample has no record in that epoch; the records themselves must be finite.
        min_records: records a sample needs for its own score (at least 2: a single record has variance 0).

    Returns:
        ``(N,)`` float64 scores, all finite, or all ``nan`` when no sample has ``min_records`` records.

    Raises:
        ValueError: ``errors_window`` is not 2-d or holds ``±inf``, or ``min_records`` < 2.

    Example:
        >>> voe([[0.2, 0.4], [0.5, 0.5], [0.1, float("nan")], [0.0, 1.0]]).round(4).tolist()
        [0.01, 0.0, 0.01, 0.25]
        >>> voe([[0.2, float("nan")], [float("nan"), 0.3]]).tolist()  # one record each: nothing to rank by
        [nan, nan]

    References:
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Eq. (4); ``ē`` is the window mean (PAPERS-SPEC 8.1).
    """
    errors = np.asarray(errors_window, dtype=np.float64)
    if errors.ndim != 2:
        raise ValueError(
            "`voe(errors_window=...)`: `errors_window` must be 2-d (samples, epochs). "
            f"Got shape {errors.shape} instead."
        )
    if isinstance(min_records, bool) or not isinstance(min_records, int) or min_records < 2:
        raise ValueError(f"`voe(min_records={min_records!r})`: `min_records` must be an int >= 2.")
    if np.isinf(errors).any():
        raise ValueError(
            "`voe(errors_window=...)`: records must be finite (`nan` marks a missing record). "
            f"Got {int(np.isinf(errors).sum())} inf value(s) instead."
        )
    counts = np.sum(~np.isnan(errors), axis=1)
    enough = counts >= min_records
    scores = np.full(len(errors), np.nan, dtype=np.float64)
    if enough.any():
        rows = errors[enough]
        mean = np.nanmean(rows, axis=1, keepdims=True)
        scores[enough] = np.nansum((rows - mean) ** 2, axis=1) / counts[enough]
        scores[~enough] = np.median(scores[enough])
    return scores


def class_balance_degree(counts: ArrayLike) -> float:
    """Class balance degree ``b`` of a set: the mean over class pairs of ``min(n_i, n_j) / max(n_i, n_j)``.

    ``b = 1`` for a perfectly balanced set and tends to 0 as it becomes imbalanced. A pair of empty classes scores 1,
    a pair with exactly one empty class scores 0; with fewer than two classes ``b = 1``.

    Args:
        counts: ``(M,)`` non-negative sample counts per class.

    Returns:
        ``b`` in ``[0, 1]``.

    Raises:
        ValueError: ``counts`` is not 1-d or has negative entries.

    Example:
        >>> class_balance_degree([10, 10, 10]), round(class_balance_degree([10, 5, 0]), 4)
        (1.0, 0.1667)

    References:
        Tu et al., BDP, Eq. (5) (after Sun et al.); PAPERS-SPEC 8.3.
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or (n < 0).any():
        raise ValueError("`class_balance_degree(counts=...)`: `counts` must be a 1-d array of non-negative counts.")
    m = len(n)
    if m < 2:
        return 1.0
    low = np.minimum(n[:, None], n[None, :])
    high = np.maximum(n[:, None], n[None, :])
    ratio = np.where(high > 0, low / np.where(high > 0, high, 1.0), 1.0)
    upper = np.triu_indices(m, k=1)
    return float(ratio[upper].mean())


def class_limits(counts: ArrayLike, n_prunings: int) -> np.ndarray:
    """Per-class caps of one pruning step: ``L_i = floor(n_i / N)`` with ``N = n (1 - b^2) + 1``.

    ``b`` is :func:`class_balance_degree` of ``counts`` and ``n`` the total number of prunings of the search
    (``floor(E / T)``). At ``b = 1`` the cap is ``n_i`` (no constraint); as ``b`` falls it tightens towards
    ``n_i / (n + 1)``. One deviation, so that pruning stops cleanly instead of emptying a class: the cap never exceeds
    ``n_i - 1`` (the last sample of a class is never removed).

    Args:
        counts: ``(M,)`` current sample counts per class of the set about to be pruned.
        n_prunings: ``n``, the total number of prunings (>= 0).

    Returns:
        ``(M,)`` int64 caps.

    Raises:
        ValueError: bad ``counts`` or a negative ``n_prunings``.

    Example:
        >>> class_limits([100, 100], n_prunings=25).tolist()  # balanced: N = 1
        [99, 99]
        >>> class_limits([100, 50], n_prunings=25).tolist()  # b = 0.5: N = 25 * 0.75 + 1 = 19.75
        [5, 2]

    References:
        Tu et al., BDP, Eq. (6); PAPERS-SPEC 8.3 and ambiguity 15.
    """
    if isinstance(n_prunings, bool) or not isinstance(n_prunings, (int, np.integer)) or n_prunings < 0:
        raise ValueError(
            f"`class_limits(n_prunings={n_prunings!r})`: `n_prunings` must be an int >= 0. Got {n_prunings!r} instead."
        )
    n = np.asarray(counts)
    b = class_balance_degree(n)
    intensity = n_prunings * (1.0 - b * b) + 1.0
    n = n.astype(np.int64)
    # round away float noise first, so that e.g. 30 / (1 + 2 * (1 - 1)) stays 30
    limits = np.floor(np.round(n / intensity, 9)).astype(np.int64)
    return np.minimum(limits, np.maximum(n - 1, 0))


def select_prune(
    ids: ArrayLike,
    scores: ArrayLike,
    labels: ArrayLike,
    quota: int,
    limits: ArrayLike | None = None,
    descending: bool = False,
) -> np.ndarray:
    """The ids one pruning step removes: walk the samples in criterion order, skipping capped classes.

    Samples are visited by ascending score (``descending=False``, BDP's weight split: lowest VoE first) or descending
    score (BDP's architecture split: highest VoE first), ties broken by ascending id. A sample is taken if its class
    has had fewer than ``limits[label]`` samples taken so far; the walk stops when ``quota`` samples are taken or the
    list ends, so the quota may be under-filled when the caps bind.

    Args:
        ids: ``(N,)`` distinct integer ids of the current set.
        scores: ``(N,)`` finite scores.
        labels: ``(N,)`` class labels in ``[0, len(limits))``.
        quota: the most samples to take (>= 0), e.g. ``round(p * N)``.
        limits: ``(M,)`` per-class caps (:func:`class_limits`); ``None`` for no caps.
        descending: visit the highest scores first.

    Returns:
        The selected ids, sorted ascending (int64).

    Raises:
        ValueError: mismatched lengths, duplicate ids, non-finite scores, labels outside ``[0, len(limits))`` or a
            negative quota.

    Example:
        >>> select_prune([10, 11, 12, 13], [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 1], quota=3, limits=[1, 1]).tolist()
        [10, 13]
        >>> select_prune([10, 11, 12, 13], [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 1], quota=2, descending=True).tolist()
        [12, 13]

    References:
        Tu et al., BDP, Algorithm 1 lines 13-16 and Sec. 3.2.4; PAPERS-SPEC 8.2-8.3.
    """
    ids_a = np.asarray(ids).reshape(-1)
    scores_a = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels_a = np.asarray(labels).reshape(-1)
    if not (len(ids_a) == len(scores_a) == len(labels_a)):
        raise ValueError(
            f"`select_prune(...)`: `ids`, `scores` and `labels` must have one entry per sample. Got lengths "
            f"{len(ids_a)}, {len(scores_a)} and {len(labels_a)} instead."
        )
    if isinstance(quota, bool) or not isinstance(quota, (int, np.integer)) or quota < 0:
        raise ValueError(f"`select_prune(quota={quota!r})`: `quota` must be an int >= 0. Got {quota!r} instead.")
    if len(ids_a) == 0 or quota == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(scores_a).all():
        raise ValueError("`select_prune(scores=...)`: `scores` must be finite.")
    if len(np.unique(ids_a)) != len(ids_a):
        raise ValueError("`select_prune(ids=...)`: `ids` must be distinct.")
    ids_a = ids_a.astype(np.int64)
    labels_a = labels_a.astype(np.int64)
    order = np.lexsort((ids_a, -scores_a if descending else scores_a))
    if limits is None:
        taken = order[:quota]
    else:
        caps = np.asarray(limits, dtype=np.int64).reshape(-1)
        if labels_a.min() < 0 or labels_a.max() >= len(caps):
            raise ValueError(
                f"`select_prune(labels=...)`: labels must be in [0, {len(caps)}) (one cap per class in `limits`). "
                f"Got labels in [{labels_a.min()}, {labels_a.max()}] instead."
            )
        walked = labels_a[order]
        # rank of each visited sample among the visited samples of its class (0 for the first of its class)
        by_class = np.argsort(walked, kind="stable")
        starts = np.searchsorted(walked[by_class], walked[by_class], side="left")
        rank = np.empty(len(walked), dtype=np.int64)
        rank[by_class] = np.arange(len(walked)) - starts
        eligible = rank < caps[walked]
        # a sample is taken iff its class is under its cap and the quota is not yet filled
        taken = order[eligible & (np.cumsum(eligible) <= quota)]
    return np.sort(ids_a[taken])
