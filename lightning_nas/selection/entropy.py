"""Entropy-based proxy-data selection (Na et al., IJCAI 2021): entropies, the log-entropy histogram, P1/P2/P3.

A baseline classifier scores every training example by the entropy of its prediction. The proposed selection
favours both tails of the (log-scale) entropy distribution: many easy (low-entropy) examples plus the rare
hard ones, few from the crowded middle. Probabilistic: sample without replacement with probabilities from the
histogram of ``log10(entropy)`` (P1, the paper's main method, or P2/P3). Deterministic: the ``beta * size``
lowest-entropy plus the ``(1 - beta) * size`` highest-entropy examples.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np

from lightning_nas.selection._arrays import SeedLike, check_int, describe, to_numpy

__all__ = [
    "DEFAULT_BIN_WIDTHS",
    "ENTROPY_FLOOR",
    "EntropyHistogram",
    "entropy",
    "entropy_beta_selection",
    "entropy_bin_weights",
    "entropy_histogram",
    "entropy_proxy_selection",
    "entropy_selection_probabilities",
]

Weighting = Literal["P1", "P2", "P3"]

#: Histogram bin widths in ``log10(entropy)`` per data set (the paper's Fig. 4; the official sampler's values).
DEFAULT_BIN_WIDTHS: dict[str, float] = {"cifar10": 0.5, "cifar100": 0.25, "svhn": 0.2, "imagenet": 0.25}

#: Entropies below this (exact zeros, when float64 underflows) are raised to it before taking ``log10``.
ENTROPY_FLOOR = 1e-300

_WEIGHTINGS = ("P1", "P2", "P3")


class EntropyHistogram(NamedTuple):
    """Histogram of ``log10(max(entropy, ENTROPY_FLOOR))`` with half-open bins ``[edges[b], edges[b + 1])``."""

    bins: np.ndarray
    """``(N,)`` int64 bin of every example."""
    counts: np.ndarray
    """``(B,)`` int64 number of examples per bin (empty bins between the extremes included)."""
    edges: np.ndarray
    """``(B + 1,)`` float64 bin edges in ``log10`` space."""


def entropy(logits: Any) -> np.ndarray:
    """Per-row entropy ``H = -sum_y p(y) ln p(y)`` of ``softmax(logits)``, in float64 (natural log).

    Computed from the log-softmax in float64, with the largest probability's log taken as ``-log1p(rest)``,
    so confident rows keep their tiny entropies (a probability of 1e-20 gives ``H ~ 4.7e-19``, not 0) and huge
    logit gaps stay finite. Terms with ``p = 0`` (a ``-inf`` logit, or an underflow) count 0.

    Args:
        logits: ``(N, K)`` unnormalised scores (numpy or torch, any float dtype); ``-inf`` marks an impossible
            class, but every row needs a finite entry.

    Returns:
        ``(N,)`` float64 entropies in ``[0, ln K]``.

    Raises:
        ValueError: if ``logits`` is not 2-D with ``K >= 1``, holds NaN or ``+inf``, or a row is all ``-inf``.

    Example:
        >>> entropy(np.array([[0.0, 0.0], [0.0, -46.0]])).round(6).tolist()
        [0.693147, 0.0]
        >>> float(entropy(np.array([[0.0, -46.0]]))[0]) > 0
        True

    References:
        Na et al., "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021, Eq. (1) (the minus
        sign the text drops restored; spec 5.1 and ambiguity 23).
    """
    z = to_numpy(logits)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"`entropy`: `logits` must be a 2-D (N, K) array with K >= 1. Got {describe(z)} instead.")
    z = np.array(z, dtype=np.float64)  # a float64 copy, shifted in place below
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("`entropy`: `logits` must not hold NaN or +inf. Got a NaN or +inf value.")
    top = z.max(axis=1, keepdims=True)
    if len(z) and np.isneginf(top).any():
        row = int(np.flatnonzero(np.isneginf(top[:, 0]))[0])
        raise ValueError(f"`entropy`: every row of `logits` needs a finite value. Got row {row} all -inf.")
    z -= top  # the largest logit of each row is now exactly 0
    expz = np.exp(z)
    # log-normaliser log(1 + rest), with `rest` the sum over all entries but one largest, added up directly
    # (sum(exp) - 1 would cancel catastrophically for confident rows)
    expz[np.arange(len(z)), np.argmax(z, axis=1)] = 0.0
    rest = expz.sum(axis=1)
    log_norm = np.log1p(rest)[:, None]
    log_p = z - log_norm
    p = np.exp(log_p)
    terms = np.multiply(p, log_p, out=np.zeros_like(p), where=p > 0)  # p log p := 0 for p == 0 (no 0 * -inf)
    return np.maximum(-terms.sum(axis=1), 0.0)


def entropy_histogram(entropies: Any, bin_width: float) -> EntropyHistogram:
    """Histogram of ``log10`` entropies with the official sampler's bin grid, as half-open bins.

    The lowest edge is ``round(min)`` lowered by whole ``bin_width`` steps until it is ``<= min`` (``min`` of
    ``log10(entropy)``); bins are ``[low + b w, low + (b + 1) w)`` up to the one holding the maximum.

    Args:
        entropies: ``(N,)`` non-negative entropies, ``N >= 1``.
        bin_width: bin width in ``log10`` space, ``> 0`` (see :data:`DEFAULT_BIN_WIDTHS`).

    Returns:
        An :class:`EntropyHistogram` ``(bins, counts, edges)``.

    Example:
        >>> h = entropy_histogram([1e-3, 5e-3, 1e-1], bin_width=0.5)
        >>> h.counts.tolist(), h.edges.tolist(), h.bins.tolist()
        ([1, 1, 0, 0, 1], [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5], [0, 1, 4])

    References:
        Na et al., IJCAI 2021, Sec. 4 and Fig. 4 (bin widths 0.5 / 0.25 / 0.2 / 0.25 for CIFAR-10 / CIFAR-100 /
        SVHN / ImageNet); spec 5.2. The official code's strict inequalities on both sides are replaced by
        half-open bins, so a value on an edge no longer raises.
    """
    h = _entropies("entropy_histogram", entropies)
    width = _bin_width("entropy_histogram", bin_width)
    if h.size == 0:
        raise ValueError("`entropy_histogram`: `entropies` must hold at least one value. Got an empty array.")
    log_h = np.log10(np.maximum(h, ENTROPY_FLOOR))
    lo = float(log_h.min())
    start = float(np.round(lo))
    low = start - math.ceil(max(start - lo, 0.0) / width) * width if start > lo else start
    bins = np.floor((log_h - low) / width).astype(np.int64)
    bins = np.maximum(bins, 0)  # guards rounding of (lo - low) / width to just below 0
    counts = np.bincount(bins)
    edges = low + width * np.arange(len(counts) + 1, dtype=np.float64)
    return EntropyHistogram(bins, counts.astype(np.int64), edges)


def entropy_bin_weights(counts: Any, weighting: Weighting = "P1") -> np.ndarray:
    """Selection weight ``W(h)`` of every histogram bin (Eqs. 3-5 of the proxy-data paper).

    With ``|h|`` the bin's count and ``M`` the largest count:

    * ``"P1"``: ``W1(h) = (M - |h| + 1) / sum_{h' non-empty} (M - |h'| + 1)``, 0 for empty bins;
    * ``"P2"``: ``W2(h) = 1 / #bins`` for every bin, empty ones included;
    * ``"P3"``: ``W3(h) = (1 / |h|) / sum_{h' non-empty} (1 / |h'|)``, 0 for empty bins.

    Args:
        counts: ``(B,)`` non-negative bin counts with at least one non-empty bin.
        weighting: ``"P1"`` (the paper's main method), ``"P2"`` or ``"P3"``.

    Returns:
        ``(B,)`` float64 weights summing to 1.

    Example:
        >>> entropy_bin_weights([3, 1, 0, 2], "P1").tolist() == [1 / 6, 3 / 6, 0.0, 2 / 6]
        True

    References:
        Na et al., IJCAI 2021, Eqs. (3)-(5); W1 as reconstructed from the official sampler (spec 5.3, ambiguity 1).
    """
    call = f"entropy_bin_weights(weighting={weighting!r})"
    _check_weighting(call, weighting)
    c = to_numpy(counts)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer) or c.size == 0 or c.min() < 0 or c.max() == 0:
        raise ValueError(
            f"`{call}`: `counts` must be a 1-D array of non-negative integers with a non-zero entry. "
            f"Got {describe(c)} instead."
        )
    c = c.astype(np.float64)
    filled = c > 0
    if weighting == "P1":
        w = np.where(filled, c.max() - c + 1, 0.0)
    elif weighting == "P2":
        w = np.ones_like(c)
    else:
        w = np.where(filled, 1.0 / np.where(filled, c, 1.0), 0.0)
    return w / w.sum()


def entropy_selection_probabilities(entropies: Any, bin_width: float, weighting: Weighting = "P1") -> np.ndarray:
    """Per-example selection probabilities ``P(x) = norm(W(h_x) / |h_x|)`` from the log-entropy histogram.

    Examples in crowded bins share their bin's weight, so P1 (and P3) favour the sparse tails of the entropy
    distribution; P2 weighs every bin equally.

    Args:
        entropies: ``(N,)`` non-negative entropies (e.g. from :func:`entropy`), ``N >= 1``.
        bin_width: histogram bin width in ``log10`` space, ``> 0`` (see :data:`DEFAULT_BIN_WIDTHS`).
        weighting: ``"P1"`` (default, the paper's main method), ``"P2"`` or ``"P3"``.

    Returns:
        ``(N,)`` float64 probabilities summing to 1, all positive.

    Raises:
        ValueError: if ``entropies`` is not 1-D, empty, negative or not finite, ``bin_width <= 0``, or the
            weighting is unknown.

    Example:
        >>> p = entropy_selection_probabilities([1e-3, 1.1e-3, 1.2e-3, 0.5], bin_width=0.5)
        >>> p.round(4).tolist()  # three in one bin (W1 = 1/4 shared), one alone (W1 = 3/4)
        [0.0833, 0.0833, 0.0833, 0.75]

    References:
        Na et al., IJCAI 2021, Eq. (2) with Eqs. (3)-(5); spec 5.3.
    """
    call = f"entropy_selection_probabilities(weighting={weighting!r})"
    _check_weighting(call, weighting)
    hist = entropy_histogram(entropies, bin_width)
    weights = entropy_bin_weights(hist.counts, weighting)
    p = weights[hist.bins] / hist.counts[hist.bins]
    return p / p.sum()


def entropy_proxy_selection(
    entropies: Any,
    size: int,
    *,
    bin_width: float,
    weighting: Weighting = "P1",
    seed: SeedLike = None,
) -> np.ndarray:
    """Probabilistic proxy-data selection: ``size`` examples drawn without replacement with P1/P2/P3.

    Args:
        entropies: ``(N,)`` non-negative entropies.
        size: number of examples, in ``[0, N]`` (the official code uses ``floor(portion * N)``, rounded down to
            a multiple of 1000 for ImageNet; that is the caller's choice).
        bin_width: histogram bin width in ``log10`` space (see :data:`DEFAULT_BIN_WIDTHS`).
        weighting: ``"P1"`` (default), ``"P2"`` or ``"P3"``.
        seed: seed (or generator) for ``np.random.default_rng``.

    Returns:
        ``(size,)`` sorted int64 example ids.

    Example:
        >>> h = np.geomspace(1e-12, 1.0, 100)
        >>> entropy_proxy_selection(h, 10, bin_width=0.5, seed=0).tolist() == entropy_proxy_selection(
        ...     h, 10, bin_width=0.5, seed=0).tolist()
        True

    References:
        Na et al., IJCAI 2021, Sec. 4 ("probabilistic selection"); the official sampler draws with
        ``numpy.random.choice(replace=False, p=P)`` the same way.
    """
    probs = entropy_selection_probabilities(entropies, bin_width, weighting)
    size = check_int(size, "size", f"entropy_proxy_selection(size={size!r})", 0, len(probs))
    ids = np.random.default_rng(seed).choice(len(probs), size=size, replace=False, p=probs)
    return np.sort(ids).astype(np.int64)


def entropy_beta_selection(entropies: Any, size: int, beta: float = 0.9) -> np.ndarray:
    """Deterministic proxy-data selection: the ``round(beta * size)`` lowest- plus the rest highest-entropy ids.

    ``beta = 1`` is the paper's "entropy bottom-k" baseline and ``beta = 0`` its "top-k". Rounding is half up.
    Ties in entropy go to the lower id at both ends: the low end takes the first ``round(beta * size)`` ids by
    (ascending entropy, ascending id), the high end the first of the others by (descending entropy, ascending id).
    The high end skips the ids the low end took, so no id is returned twice even when entropies tie across the two
    cuts (e.g. all equal); the result always has ``size`` distinct ids and exactly ``round(beta * size)`` from the low
    end.

    Args:
        entropies: ``(N,)`` non-negative entropies.
        size: number of examples, in ``[0, N]``.
        beta: share of low-entropy examples, in ``[0, 1]`` (default 0.9, the paper's best on NAS-Bench-1shot1).

    Returns:
        ``(size,)`` sorted, distinct int64 example ids.

    Example:
        >>> entropy_beta_selection([0.5, 0.1, 0.9, 0.3, 0.7, 0.2], 4, beta=0.75).tolist()  # 3 lowest + 1 highest
        [1, 2, 3, 5]
        >>> entropy_beta_selection([0.4] * 6, 4, beta=0.75).tolist()  # all tie: low 0, 1, 2; high the next, 3
        [0, 1, 2, 3]

    References:
        Na et al., IJCAI 2021, Sec. 4 ("deterministic selection": bottom-``beta k`` plus top-``(1 - beta) k``);
        not in the official code (spec 5.3, ambiguity 2).
    """
    h = _entropies("entropy_beta_selection", entropies)
    size = check_int(size, "size", f"entropy_beta_selection(size={size!r})", 0, len(h))
    ok = isinstance(beta, int | float | np.floating | np.integer) and not isinstance(beta, bool) and 0 <= beta <= 1
    if not ok:
        raise ValueError(f"`entropy_beta_selection(beta={beta!r})`: `beta` must be in [0, 1]. Got {beta!r} instead.")
    n_low = min(size, math.floor(beta * size + 0.5))
    ids = np.arange(len(h))
    low = np.lexsort((ids, h))[:n_low]
    descending = np.lexsort((ids, -h))
    high = descending[~np.isin(descending, low)][: size - n_low]  # size <= N: enough ids remain
    return np.sort(np.concatenate([low, high])).astype(np.int64)


def _entropies(call: str, entropies: Any) -> np.ndarray:
    h = to_numpy(entropies)
    if h.ndim != 1 or not (np.issubdtype(h.dtype, np.floating) or np.issubdtype(h.dtype, np.integer)):
        raise ValueError(f"`{call}`: `entropies` must be a 1-D array of numbers. Got {describe(h)} instead.")
    h = h.astype(np.float64)
    if not np.isfinite(h).all():
        raise ValueError(f"`{call}`: `entropies` must be finite. Got {int((~np.isfinite(h)).sum())} NaN/inf value(s).")
    if h.size and h.min() < 0:
        raise ValueError(f"`{call}`: `entropies` must be non-negative. Got {float(h.min())!r} instead.")
    return h


def _bin_width(call: str, bin_width: Any) -> float:
    ok = isinstance(bin_width, int | float | np.floating | np.integer) and not isinstance(bin_width, bool)
    if not ok or not math.isfinite(bin_width) or bin_width <= 0:
        raise ValueError(f"`{call}(bin_width={bin_width!r})`: `bin_width` must be > 0. Got {bin_width!r} instead.")
    return float(bin_width)


def _check_weighting(call: str, weighting: Any) -> None:
    if weighting not in _WEIGHTINGS:
        raise ValueError(f"`{call}`: `weighting` must be one of {list(_WEIGHTINGS)}. Got {weighting!r} instead.")
