"""Greedy k-center (farthest-first traversal) core-set selection: exact picks, fewer features read.

Core-set sampling for NAS (spec 4.2) adds, per class, the point farthest from the points chosen so far until
the budget is spent. The straightforward loop (:func:`k_center_greedy_reference`) reads every feature once per
pick, so it runs at the memory-bandwidth limit. :func:`k_center_greedy` makes the same picks, in the same
order, by reading less:

* **Lazy updates.** Each point keeps ``u``, the squared distance to its nearest center among the centers it
  has been compared with so far. Adding centers only lowers distances, so ``u`` bounds the current distance
  from above, and a point whose bound is below the current maximum cannot be the next pick; it is not
  touched. A pick is confirmed once the point with the largest bound is up to date (compared with every
  center). When that front runner falls, the stale points with the highest bounds are brought up to date
  together (512 at first, twice as many each further round), so a pick reads a few rows, not all of them.
* **Batched distances.** Points that must be brought up to date are compared with all centers they missed
  at once, as one float32 (float64) matrix product per block of rows, which runs near the processor's peak
  instead of the memory bandwidth of one pass per pick.
* **Exact values.** Every distance that decides a pick is the *canonical* value, computed by the same
  content-deterministic kernel the reference loop uses (``||x||^2 + ||c||^2 - 2 x.c``, with numpy's einsum
  dot, clipped at 0). The matrix product only screens: a center is re-evaluated exactly whenever its
  screened distance lies within a proven rounding bound of the point's current value or of the row's
  minimum, so rounding in the matrix product can never change a pick, ties (duplicate points) included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lightning_nas.selection._arrays import SeedLike, check_index_array, check_int, describe, to_numpy

__all__ = ["covering_radius", "k_center_greedy", "k_center_greedy_reference", "nearest_centers"]

# a block of the screening matrix has at most this many entries (rows x centers; 4 Mi float32 = 16 MiB) and its
# gathered rows at most this many bytes
_BLOCK_ENTRIES = 1 << 22
_BLOCK_BYTES = 1 << 24
# stale points brought up to date together at first when the front runner falls (doubled each further round)
_BAND_ROWS = 512
# initial sets up to this size are measured with the exact kernel directly (one pass over the features each)
_DIRECT_INITIAL = 4


def k_center_greedy(
    features: Any,
    budget: int,
    *,
    initial: Any = None,
    seed: SeedLike = None,
    progress: bool = True,
    desc: str = "k-center",
) -> np.ndarray:
    """Greedy k-center selection: the rows of ``features`` that minimise the covering radius, greedily.

    Repeats ``budget`` times: pick the row farthest (Euclidean) from its nearest selected row, ties going to
    the lowest index. The picks are exactly those of :func:`k_center_greedy_reference`, found by reading far
    fewer features (see the module docstring). Distances are squared distances in the input's precision
    (float32, or float64 for float64 input), so another implementation may order two points whose distances
    agree to within rounding differently. Besides the features it keeps a copy of the centers,
    ``(len(initial) + budget) x D``. Call it once per class for the paper's class-balanced core-set (see
    :func:`~lightning_nas.selection.per_class_budgets`).

    Args:
        features: ``(N, D)`` embeddings, numpy array or torch tensor. float64 input is computed in float64,
            anything else in float32.
        budget: number of rows to pick beyond the initial set, in ``[0, N - len(initial)]``.
        initial: indices of the initial set ``s0``, which counts as selected but is not returned. ``None``
            draws one row uniformly with ``np.random.default_rng(seed)`` (the paper's random ``s0`` of size
            1; spec ambiguity 17). An empty sequence starts from nothing: the first pick is then row 0, as
            every distance to an empty set is infinite.
        seed: seed (or ``np.random.Generator``) for the random initial row; unused when ``initial`` is given.
        progress: show a progress bar of the picks (``tqdm``; removed when done).
        desc: the progress bar's label.

    Returns:
        ``(budget,)`` int64 row indices in pick order, the initial rows excluded.

    Raises:
        ValueError: if ``features`` is not a non-empty 2-D array of finite numbers, ``initial`` holds an index
            out of range or twice, or ``budget`` is out of range.

    Example:
        >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [5.0, 0.0]])
        >>> k_center_greedy(x, 2, initial=[0], progress=False).tolist()
        [2, 3]
        >>> first = k_center_greedy(x, 2, seed=0, progress=False)
        >>> first.tolist() == k_center_greedy(x, 2, seed=0, progress=False).tolist()
        True

    References:
        Shim, Kong & Kang, "Core-set Sampling for Efficient Neural Architecture Search", ICML 2021 workshop,
        Algorithm 1 (per-class greedy k-center, random ``s0`` excluded from ``Q``); Sener & Savarese, "Active
        Learning for Convolutional Neural Networks: A Core-Set Approach", ICLR 2018, Algorithm 1.
    """
    x, s0, budget = _prepare("k_center_greedy", features, budget, initial, seed)
    state = _LazyKCenter(x, s0, budget)
    return state.run(budget, progress=progress, desc=desc)


def k_center_greedy_reference(
    features: Any,
    budget: int,
    *,
    initial: Any = None,
    seed: SeedLike = None,
) -> np.ndarray:
    """The straightforward greedy k-center loop (one pass over all features per pick); same arguments and picks.

    Kept as the ground truth for :func:`k_center_greedy` in tests and benchmarks.

    Example:
        >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [5.0, 0.0]])
        >>> k_center_greedy_reference(x, 3, initial=[0]).tolist()
        [2, 3, 1]
    """
    x, s0, budget = _prepare("k_center_greedy_reference", features, budget, initial, seed)
    sq_norms = _sq_norms(x)
    nearest = np.full(len(x), np.inf, dtype=x.dtype)
    for c in s0:
        np.minimum(nearest, _sq_dists(x, sq_norms, slice(None), c), out=nearest)
    nearest[s0] = -np.inf
    picks = np.empty(budget, dtype=np.int64)
    for p in range(budget):
        i = int(np.argmax(nearest))
        picks[p] = i
        np.minimum(nearest, _sq_dists(x, sq_norms, slice(None), i), out=nearest)
        nearest[i] = -np.inf
    return picks


def nearest_centers(features: Any, centers: Any) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from every row to its nearest center, and that center's position in ``centers``.

    Uses faiss's exact (brute-force, float32) nearest-neighbour search, which is blocked and multi-threaded.

    Args:
        features: ``(N, D)`` embeddings.
        centers: indices of the center rows (a selection), non-empty.

    Returns:
        ``(distances, assignment)``: ``(N,)`` float32 distances (0 for the centers themselves) and ``(N,)``
        int64 positions into ``centers``.

    Example:
        >>> x = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
        >>> dist, which = nearest_centers(x, [0, 2])
        >>> dist.tolist(), which.tolist()
        ([0.0, 5.0, 0.0], [0, 0, 1])
    """
    import faiss

    x = _features("nearest_centers", features).astype(np.float32, copy=False)
    idx = check_index_array(centers, "centers", "nearest_centers", len(x))
    if idx.size == 0:
        raise ValueError("`nearest_centers`: `centers` must hold at least one index. Got an empty selection.")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(x[idx]))
    sq, which = index.search(x, 1)
    dist = np.sqrt(np.maximum(sq[:, 0], 0.0))
    dist[idx] = 0.0  # exact for the centers themselves (float32 rounding could leave ~1e-3 otherwise)
    return dist, which[:, 0].astype(np.int64)


def covering_radius(features: Any, centers: Any) -> float:
    """Largest distance from a row to its nearest center: the k-center objective ``max_x min_c ||x - c||``.

    Args:
        features: ``(N, D)`` embeddings.
        centers: indices of the center rows, non-empty (e.g. the initial set plus the picks).

    Returns:
        The covering radius (float32 accuracy).

    Example:
        >>> x = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
        >>> covering_radius(x, [0, 2])
        5.0

    References:
        Shim, Kong & Kang (ICML 2021 workshop), Eq. (1), the minimax facility location objective.
    """
    return float(nearest_centers(features, centers)[0].max())


# --------------------------------------------------------------------------------------------------------------
# validation and the canonical distance kernel


def _features(call: str, features: Any) -> np.ndarray:
    x = to_numpy(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"`{call}`: `features` must be a non-empty 2-D (N, D) array. Got {describe(x)} instead.")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"`{call}`: `features` must hold real numbers. Got {describe(x)} instead.")
    x = np.ascontiguousarray(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(
            f"`{call}`: `features` must be finite. Got NaN or inf in {bad.size} row(s), e.g. row {int(bad[0])}."
        )
    return x


def _prepare(call: str, features: Any, budget: Any, initial: Any, seed: SeedLike) -> tuple[np.ndarray, Any, int]:
    x = _features(call, features)
    n = len(x)
    if initial is None:
        s0 = np.array([np.random.default_rng(seed).integers(n)], dtype=np.int64)
    else:
        s0 = check_index_array(initial, "initial", f"{call}(initial=...)", n, unique=True)
    budget = check_int(budget, "budget", f"{call}(budget={budget!r})", 0, n - len(s0))
    return x, s0, budget


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _sq_dists(x: np.ndarray, sq_norms: np.ndarray, rows: Any, center: int) -> np.ndarray:
    """Canonical squared distances from ``x[rows]`` to row ``center``.

    The value for a pair depends only on the two rows' contents: numpy's einsum reduces each row in a fixed
    order whatever the other rows, the alignment or the batch (unlike BLAS, whose kernels differ with the
    shape). :func:`_sq_dists_pairs` computes the very same values for arbitrary pairs.
    """
    dot = np.einsum("ij,j->i", x[rows], x[center])
    return np.maximum((sq_norms[rows] + sq_norms[center]) - 2 * dot, 0)


def _sq_dists_pairs(a: np.ndarray, a_sq: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Canonical squared distances between rows ``a[i]`` and ``b[i]`` (with their squared norms), gathered.

    Bitwise equal to :func:`_sq_dists` for the same pairs.
    """
    dot = np.einsum("ij,ij->i", a, b)
    return np.maximum((a_sq + b_sq) - 2 * dot, 0)


def _screen(rows_x: np.ndarray, centers_x: np.ndarray) -> np.ndarray:
    """Dot products of rows and centers by BLAS: fast, but the rounding depends on the shapes (screening only)."""
    return rows_x @ centers_x.T


def _screening_tolerance(dtype: np.dtype, d: int) -> float:
    """``t`` with ``|screened - canonical| <= t (|x|^2 + |c|^2) / 2`` for the squared distance of any pair.

    A dot product of length ``d`` summed in any order (blocked, pairwise, with or without FMA) is within
    ``gamma_d sum_i |x_i c_i| <= gamma_d (|x|^2 + |c|^2) / 2`` of the exact value, ``gamma_d = d u / (1 - d u)``
    with ``u`` the unit roundoff (Higham, "Accuracy and Stability of Numerical Algorithms", Sec. 3.1). Doubled,
    plus the rounding of the two additions, the screened value is within ``(gamma_d + 4u)(|x|^2 + |c|^2)`` of
    the exact distance and the canonical one within ``(gamma_d + 3u)(...)``: they differ by at most
    ``(2 gamma_d + 7u)(|x|^2 + |c|^2)``. The tolerance is twice that.
    """
    unit = float(np.finfo(dtype).eps) / 2
    return 2 * (2 * (d * unit) / (1 - d * unit) + 7 * unit)


# --------------------------------------------------------------------------------------------------------------
# the lazy, blocked greedy


class _LazyKCenter:
    """State of the lazy greedy: per-point bounds, the centers so far, and counters of the work done.

    ``bound[i]`` is the canonical squared distance from row ``i`` to its nearest center among
    ``centers[:seen[i]]``; it only ever overestimates the distance to all centers. Selected rows hold ``-inf``.
    """

    def __init__(self, x: np.ndarray, initial: np.ndarray, budget: int) -> None:
        n, d = x.shape
        self.x = x
        self.sq_norms = _sq_norms(x)
        capacity = len(initial) + budget
        self.center_rows = np.empty(capacity, dtype=np.int64)
        self.center_x = np.empty((capacity, d), dtype=x.dtype)  # a contiguous copy, read by the matrix products
        self.center_sq = np.empty(capacity, dtype=x.dtype)
        self.k = 0
        self.bound = np.full(n, np.inf, dtype=x.dtype)
        self.seen = np.zeros(n, dtype=np.int64)
        self.rel_tol = _screening_tolerance(x.dtype, d)
        self.max_center_sq = 0.0
        self.stats = {"pairs_screened": 0, "pairs_exact": 0, "rows_refreshed": 0, "bytes_read": 0}
        for c in initial:
            self._add_center(int(c))
        if 0 < len(initial) <= _DIRECT_INITIAL:
            for c in initial:
                np.minimum(self.bound, _sq_dists(x, self.sq_norms, slice(None), int(c)), out=self.bound)
            self.stats["pairs_exact"] += n * len(initial)
            self.stats["bytes_read"] += x.nbytes * len(initial)
            self.seen[:] = self.k
        elif len(initial):
            self._refresh(np.arange(n))
        self.bound[initial] = -np.inf

    def _add_center(self, i: int) -> None:
        k = self.k
        self.center_rows[k] = i
        self.center_x[k] = self.x[i]
        self.center_sq[k] = self.sq_norms[i]
        self.max_center_sq = max(self.max_center_sq, float(self.sq_norms[i]))
        self.k = k + 1

    def run(self, budget: int, *, progress: bool = False, desc: str = "k-center") -> np.ndarray:
        from tqdm.auto import tqdm

        picks = np.empty(budget, dtype=np.int64)
        bound, seen = self.bound, self.seen
        bar = tqdm(total=budget, desc=desc, unit="pick", disable=not progress, leave=False)
        for p in range(budget):
            i = int(np.argmax(bound))
            width = _BAND_ROWS
            while seen[i] != self.k:
                # bring the front runner up to date; if it kept its bound it is the farthest point (every other
                # bound is lower or belongs to a higher index), else the stale points whose bounds reach its new
                # value may be: update the `width` highest of them together, twice as many each further round
                before = bound[i]
                self._refresh(np.array([i]))
                if bound[i] == before:
                    break
                stale = np.flatnonzero((bound >= bound[i]) & (seen < self.k))
                if stale.size > width:
                    stale = stale[np.argpartition(bound[stale], stale.size - width)[stale.size - width :]]
                    width *= 2
                if stale.size:
                    self._refresh(stale)
                i = int(np.argmax(bound))
            picks[p] = i
            bound[i] = -np.inf
            self._add_center(i)
            bar.update()
        bar.close()
        return picks

    def _refresh(self, rows: np.ndarray) -> None:
        """Lower ``bound[rows]`` to the canonical distance to all ``k`` centers (each row from ``seen[row]`` on)."""
        k, seen = self.k, self.seen
        rows = rows[np.argsort(seen[rows], kind="stable")]  # most centers missed first
        missing = k - seen[rows]
        # blocks: rows missing about as many centers (within 2x), at most _BLOCK_ENTRIES entries per block
        level = np.floor(np.log2(np.maximum(missing, 1))).astype(np.int64)
        starts = np.flatnonzero(np.diff(level, prepend=-1))
        ends = np.append(starts[1:], len(rows))
        self.stats["rows_refreshed"] += len(rows)
        max_rows = max(16, _BLOCK_BYTES // (self.x.shape[1] * self.x.dtype.itemsize))
        for s, e in zip(starts.tolist(), ends.tolist()):
            step = min(max_rows, max(16, _BLOCK_ENTRIES // int(missing[s])))
            for b in range(s, e, step):
                self._refresh_block(rows[b : min(b + step, e)])
        seen[rows] = k

    def _refresh_block(self, rows: np.ndarray) -> None:
        first = int(self.seen[rows[0]])  # the block's rows missed centers first..k-1 at most
        k, x, sq_norms, bound = self.k, self.x, self.sq_norms, self.bound
        centers_x = self.center_x[first:k]
        xr = x[rows]
        screened = _screen(xr, centers_x)
        screened *= -2
        screened += sq_norms[rows, None]
        screened += self.center_sq[first:k]
        # a center may lower the bound only if its screened distance is within `tol` of the bound, and may be the
        # row's nearest only if within 2 `tol` of the smallest screened distance: only those are computed exactly
        tol = self.rel_tol * (sq_norms[rows] + self.max_center_sq)
        limit = np.minimum(bound[rows] + tol, screened.min(axis=1) + 2 * tol)
        hit_row, hit_col = np.nonzero(screened <= limit[:, None])
        if hit_row.size:
            # the canonical kernel on the rows already gathered (bitwise the same values as on x itself)
            exact = _sq_dists_pairs(
                xr[hit_row], sq_norms[rows[hit_row]], centers_x[hit_col], self.center_sq[first + hit_col]
            )
            np.minimum.at(bound, rows[hit_row], exact)
        itemsize = x.dtype.itemsize
        self.stats["pairs_screened"] += screened.size
        self.stats["pairs_exact"] += hit_row.size
        self.stats["bytes_read"] += (xr.size + centers_x.size) * itemsize
