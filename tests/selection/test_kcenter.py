import itertools

import numpy as np
import pytest
import torch

import lightning_nas.selection.kcenter as kcenter
from lightning_nas.selection import covering_radius, k_center_greedy, k_center_greedy_reference, nearest_centers


def brute_force_greedy(x, budget, initial):
    """Independent tiny greedy: full float64 squared-distance matrix, argmax with ties to the lowest index."""
    x = np.asarray(x, dtype=np.float64)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    selected = list(initial)
    nearest = sq[:, selected].min(axis=1) if selected else np.full(len(x), np.inf)
    picks = []
    for _ in range(budget):
        masked = nearest.copy()
        masked[selected] = -np.inf
        i = int(np.argmax(masked))
        picks.append(i)
        selected.append(i)
        nearest = np.minimum(nearest, sq[:, i])
    return picks


def radius(x, centers):
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(((x[:, None, :] - x[None, list(centers), :]) ** 2).sum(-1).min(axis=1).max()))


def random_initial(n, seed):
    return [int(np.random.default_rng(seed).integers(n))]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("n", "d"), [(1, 3), (7, 1), (40, 2), (120, 16)])
def test_matches_brute_force_on_random_arrays(seed, n, d):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    budget = int(rng.integers(0, n))  # initial=None: one random initial row
    picks = k_center_greedy(x, budget, seed=seed)
    assert picks.dtype == np.int64
    assert picks.tolist() == brute_force_greedy(x, budget, random_initial(n, seed))
    assert picks.tolist() == k_center_greedy_reference(x, budget, seed=seed).tolist()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_initial", [0, 2, 5, 9])
def test_matches_brute_force_with_initial_set(seed, n_initial):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    initial = rng.choice(60, n_initial, replace=False)
    budget = 60 - n_initial  # all the way down to the zero-distance ties
    picks = k_center_greedy(x, budget, initial=initial)
    assert picks.tolist() == brute_force_greedy(x, budget, initial.tolist())
    assert picks.tolist() == k_center_greedy_reference(x, budget, initial=initial).tolist()
    assert set(picks.tolist()).isdisjoint(initial.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_and_ties_follow_lowest_index(seed):
    rng = np.random.default_rng(seed)
    # small integers: every squared distance is exact, so ties are real ties in every arithmetic
    x = rng.integers(-3, 4, size=(80, 3)).astype(np.float32)
    x[40:] = x[rng.integers(0, 40, 40)]  # every later row duplicates an earlier one
    initial = [int(rng.integers(80))] if seed % 2 else []
    budget = 80 - len(initial)
    picks = k_center_greedy(x, budget, initial=initial)
    assert picks.tolist() == brute_force_greedy(x, budget, initial)
    assert picks.tolist() == k_center_greedy_reference(x, budget, initial=initial).tolist()


def test_lattice_ties_and_empty_initial():
    x = np.array([[i, j] for i in range(4) for j in range(4)], dtype=np.float64)
    picks = k_center_greedy(x, 16, initial=[])
    assert picks[0] == 0  # every distance to an empty set is infinite: lowest index
    assert picks.tolist() == brute_force_greedy(x, 16, [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_initial", [None, 3, 40])
def test_fast_path_matches_reference_on_larger_inputs(dtype, n_initial):
    # clustered 64-d data (like embeddings) and a large initial set exercise the lazy and blocked paths
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((25, 64)) * 4
    x = (centers[rng.integers(0, 25, 1500)] + rng.standard_normal((1500, 64))).astype(dtype)
    x[1000:1100] = x[:100]  # exact duplicates
    initial = None if n_initial is None else rng.choice(1500, n_initial, replace=False)
    fast = k_center_greedy(x, 300, initial=initial, seed=3)
    ref = k_center_greedy_reference(x, 300, initial=initial, seed=3)
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("band_rows", [1, 3, 40])
def test_small_blocks_and_bands_match_reference(monkeypatch, band_rows):
    monkeypatch.setattr(kcenter, "_BLOCK_ENTRIES", 64)  # many tiny blocks per refresh
    monkeypatch.setattr(kcenter, "_BLOCK_BYTES", 1000)
    monkeypatch.setattr(kcenter, "_BAND_ROWS", band_rows)  # several rounds of band updates per pick
    monkeypatch.setattr(kcenter, "_DIRECT_INITIAL", 0)  # the initial set through the screened path
    rng = np.random.default_rng(band_rows)
    x = rng.standard_normal((400, 24)).astype(np.float32)
    x[300:] = np.round(x[:100])  # near-duplicates and ties mixed in
    np.testing.assert_array_equal(
        k_center_greedy(x, 200, initial=[5, 9]), k_center_greedy_reference(x, 200, initial=[5, 9])
    )


@pytest.mark.parametrize("seed", range(3))
def test_screening_errors_within_the_tolerance_never_change_picks(monkeypatch, seed):
    # a coarse tolerance and screened distances off by up to all of it: orders of near centers flip
    # all the time, and only the exact re-evaluation keeps the picks those of the reference
    rel_tol = 0.05
    rng = np.random.default_rng(seed)

    def noisy(rows_x, centers_x):
        scale = (rows_x**2).sum(1)[:, None] + (centers_x**2).sum(1)[None, :]
        return rows_x @ centers_x.T + rng.choice([-1.0, 1.0], scale.shape) * scale * rel_tol / 2

    monkeypatch.setattr(kcenter, "_screen", noisy)
    monkeypatch.setattr(kcenter, "_screening_tolerance", lambda dtype, d: rel_tol)
    monkeypatch.setattr(kcenter, "_DIRECT_INITIAL", 0)
    monkeypatch.setattr(kcenter, "_BAND_ROWS", 4)
    x = rng.standard_normal((300, 6))
    initial = rng.choice(300, 8, replace=False)
    np.testing.assert_array_equal(
        k_center_greedy(x, 150, initial=initial), k_center_greedy_reference(x, 150, initial=initial)
    )


def test_high_dimensional_float32_matches_reference():
    # near-equal distances in 2,048-d: rounding of the matrix products must never change a pick
    x = np.random.default_rng(1).standard_normal((600, 2048), dtype=np.float32)
    np.testing.assert_array_equal(k_center_greedy(x, 120, seed=0), k_center_greedy_reference(x, 120, seed=0))


def test_canonical_kernel_is_content_deterministic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    sq = kcenter._sq_norms(x)
    full = kcenter._sq_dists(x, sq, slice(None), 11)
    rows = rng.permutation(300)[:77]
    np.testing.assert_array_equal(kcenter._sq_dists(x, sq, rows, 11), full[rows])
    pairs = kcenter._sq_dists_pairs(x[rows], sq[rows], x[np.full(77, 11)], sq[np.full(77, 11)])
    np.testing.assert_array_equal(pairs, full[rows])
    assert full[11] == 0.0


@pytest.mark.parametrize("seed", range(8))
def test_within_twice_the_optimal_radius(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 11))
    x = rng.standard_normal((n, 2))
    budget = int(rng.integers(1, 4))
    s0 = random_initial(n, seed)
    picks = k_center_greedy(x, budget, seed=seed)
    achieved = radius(x, s0 + picks.tolist())
    optimum = min(radius(x, c) for c in itertools.combinations(range(n), budget + 1))
    assert achieved <= 2 * optimum + 1e-9
    assert covering_radius(x, s0 + picks.tolist()) == pytest.approx(achieved, rel=1e-5, abs=1e-6)


def test_nearest_centers_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    centers = [3, 50, 120]
    dist, which = nearest_centers(torch.from_numpy(x), centers)
    sq = ((x[:, None] - x[None, centers]) ** 2).sum(-1)
    np.testing.assert_array_equal(which, sq.argmin(1))
    np.testing.assert_allclose(dist, np.sqrt(sq.min(1)), rtol=1e-5, atol=1e-5)
    assert dist[centers].tolist() == [0.0, 0.0, 0.0]


def test_same_seed_same_selection_and_torch_input():
    x = np.random.default_rng(0).standard_normal((300, 10))
    a = k_center_greedy(x, 30, seed=5)
    np.testing.assert_array_equal(a, k_center_greedy(x, 30, seed=5))
    np.testing.assert_array_equal(a, k_center_greedy(torch.from_numpy(x), 30, seed=5))  # float64 stays float64
    assert not np.array_equal(a, k_center_greedy(x, 30, seed=6))
    half = k_center_greedy(torch.from_numpy(x).half(), 30, seed=5)
    assert len(np.unique(half)) == 30


def test_budget_zero_and_full():
    x = np.random.default_rng(0).standard_normal((10, 3))
    assert k_center_greedy(x, 0, seed=0).tolist() == []
    full = k_center_greedy(x, 9, seed=0)
    assert sorted(full.tolist() + random_initial(10, 0)) == list(range(10))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": -1}, r"`k_center_greedy\(budget=-1\)`: `budget` must be an int in \[0, 19\]. Got -1 instead"),
        ({"budget": 20}, r"`budget` must be an int in \[0, 19\]. Got 20 instead"),
        ({"budget": 19, "initial": [0, 1]}, r"`budget` must be an int in \[0, 18\]. Got 19 instead"),
        ({"budget": 2.0}, r"`budget` must be an int"),
        ({"budget": True}, r"`budget` must be an int"),
        ({"budget": 2, "initial": [0, 20]}, r"`initial` must hold indices in \[0, 20\)"),
        ({"budget": 2, "initial": [-1]}, r"`initial` must hold indices"),
        ({"budget": 2, "initial": [3, 3]}, r"`initial` must not repeat an index"),
        ({"budget": 2, "initial": [[0, 1]]}, r"`initial` must be a 1-D array of integers"),
        ({"budget": 2, "initial": [0.5]}, r"`initial` must be a 1-D array of integers"),
    ],
)
def test_bad_budget_and_initial(kwargs, match):
    x = np.zeros((20, 2))
    with pytest.raises(ValueError, match=match):
        k_center_greedy(x, **kwargs)
    with pytest.raises(ValueError, match=match.replace("k_center_greedy", "k_center_greedy_reference")):
        k_center_greedy_reference(x, **kwargs)


@pytest.mark.parametrize(
    ("features", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), r"`features` must be finite. Got NaN or inf in 1 row\(s\), e.g. row 0"),
        (np.array([[0.0, 1.0], [np.inf, 2.0]]), r"`features` must be finite"),
        (torch.tensor([[float("nan")], [1.0]]), r"`features` must be finite"),
        (np.zeros(5), r"`features` must be a non-empty 2-D \(N, D\) array. Got an array of shape \(5,\)"),
        (np.zeros((0, 4)), r"`features` must be a non-empty 2-D"),
        (np.zeros((4, 0)), r"`features` must be a non-empty 2-D"),
        (np.zeros((2, 2, 2)), r"`features` must be a non-empty 2-D"),
        (np.array([["a", "b"]]), r"`features` must hold real numbers"),
    ],
)
def test_bad_features(features, match):
    with pytest.raises(ValueError, match=match):
        k_center_greedy(features, 0, seed=0)
    with pytest.raises(ValueError, match=match):
        covering_radius(features, [0])


def test_bad_centers():
    with pytest.raises(ValueError, match=r"`nearest_centers`: `centers` must hold at least one index"):
        covering_radius(np.zeros((3, 2)), [])
    with pytest.raises(ValueError, match=r"`centers` must hold indices in \[0, 3\)"):
        nearest_centers(np.zeros((3, 2)), [3])
