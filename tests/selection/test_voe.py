"""VoE, class balance degree, class caps and the capped walk, checked against NumPy and brute force."""

import itertools
import math

import numpy as np
import pytest

from lightning_nas.selection.voe import class_balance_degree, class_limits, select_prune, voe


def test_voe_is_the_population_variance_of_the_window():
    errors = np.random.default_rng(0).random((50, 4)).astype(np.float32)
    np.testing.assert_allclose(voe(errors), np.var(errors.astype(np.float64), axis=1, ddof=0), rtol=1e-12)


def test_voe_uses_nanvar_and_gives_samples_with_fewer_than_two_records_the_median():
    rng = np.random.default_rng(1)
    errors = rng.random((40, 3))
    errors[rng.random((40, 3)) < 0.3] = np.nan
    records = (~np.isnan(errors)).sum(1)
    assert (records >= 2).any() and (records < 2).any()
    scores = voe(errors)
    enough = records >= 2
    np.testing.assert_allclose(scores[enough], np.nanvar(errors[enough], axis=1), rtol=1e-12)
    assert (scores[~enough] == np.median(scores[enough])).all()


@pytest.mark.parametrize(
    "window",
    [
        [[0.5, np.nan], [np.nan, np.nan]],
        [[0.5, np.nan], [np.nan, 0.7], [0.2, np.nan]],  # one record each: the window after an odd-length warm-up
        np.full((3, 2), np.nan),
        np.zeros((0, 2)),
    ],
)
def test_voe_without_any_sample_having_two_records_is_all_nan(window):
    # no VoE to rank by: nan, never a number (zeros would let a caller prune by id order)
    scores = voe(window)
    assert scores.shape == (len(window),) and np.isnan(scores).all()


def test_voe_scores_are_all_finite_or_all_nan():
    rng = np.random.default_rng(2)
    for _ in range(50):
        errors = rng.random((int(rng.integers(1, 8)), 3))
        errors[rng.random(errors.shape) < 0.6] = np.nan
        scores = voe(errors)
        assert np.isfinite(scores).all() or np.isnan(scores).all()
        assert np.isfinite(scores).all() == ((~np.isnan(errors)).sum(1) >= 2).any()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"errors_window": [0.1, 0.2]}, "must be 2-d"),
        ({"errors_window": [[0.1, 0.2]], "min_records": 1}, "min_records"),
        ({"errors_window": [[0.1, np.inf], [0.2, 0.3]]}, "records must be finite .* Got 1 inf value"),
    ],
)
def test_voe_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        voe(**kwargs)


def _balance_brute_force(counts):
    pairs = list(itertools.combinations(counts, 2))
    if not pairs:
        return 1.0
    total = 0.0
    for a, b in pairs:
        if max(a, b) == 0:
            total += 1.0
        else:
            total += min(a, b) / max(a, b)
    return total / len(pairs)


@pytest.mark.parametrize("counts", [[5, 5, 5], [10, 5, 0], [0, 0], [7], [3, 9, 1, 40, 0, 0], [1, 2]])
def test_class_balance_degree_matches_the_pairwise_definition(counts):
    assert class_balance_degree(counts) == pytest.approx(_balance_brute_force(counts), abs=1e-12)


def test_class_balance_degree_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        class_balance_degree([3, -1])


@pytest.mark.parametrize("counts", [[100, 100, 100], [100, 50, 10], [40, 10, 6], [3, 1, 0], [1, 1]])
@pytest.mark.parametrize("n_prunings", [0, 1, 5, 25])
def test_class_limits_follow_eq_6_and_keep_a_sample_of_every_class(counts, n_prunings):
    b = _balance_brute_force(counts)
    big_n = n_prunings * (1 - b * b) + 1
    expected = [min(math.floor(c / big_n + 1e-9), max(c - 1, 0)) for c in counts]
    assert class_limits(counts, n_prunings).tolist() == expected


def test_class_limits_tighten_as_the_balance_falls():
    assert class_limits([100, 100], 10).tolist() == [99, 99]  # b = 1: N = 1, only the keep-one guard
    assert class_limits([100, 25], 10).tolist() == [9, 2]  # b = 0.25: N = 10 * 0.9375 + 1 = 10.375


def test_class_limits_reject_a_negative_number_of_prunings():
    with pytest.raises(ValueError, match="`n_prunings` must be an int >= 0"):
        class_limits([3, 3], -1)


def _walk_brute_force(ids, scores, labels, quota, limits, descending):
    order = sorted(range(len(ids)), key=lambda i: ((-scores[i] if descending else scores[i]), ids[i]))
    taken, per_class = [], {}
    for i in order:
        if len(taken) == quota:
            break
        c = labels[i]
        if limits is not None and per_class.get(c, 0) >= limits[c]:
            continue
        taken.append(ids[i])
        per_class[c] = per_class.get(c, 0) + 1
    return sorted(taken)


@pytest.mark.parametrize("trial", range(30))
def test_select_prune_equals_the_greedy_walk(trial):
    rng = np.random.default_rng(trial)
    n, m = int(rng.integers(1, 60)), int(rng.integers(1, 6))
    ids = rng.permutation(1000)[:n]
    scores = rng.integers(0, 8, n) / 8.0 if trial % 3 == 0 else rng.random(n)  # ties are broken by id
    labels = rng.integers(0, m, n)
    quota = int(rng.integers(0, n + 2))
    limits = None if trial % 5 == 0 else rng.integers(0, 10, m)
    descending = bool(trial % 2)
    expected = _walk_brute_force(ids.tolist(), scores.tolist(), labels.tolist(), quota, limits, descending)
    assert select_prune(ids, scores, labels, quota, limits, descending).tolist() == expected


def test_select_prune_under_fills_the_quota_when_the_caps_bind():
    chosen = select_prune([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 0.5], [0, 0, 0, 0, 1], quota=4, limits=[1, 1])
    assert chosen.tolist() == [1, 5]


@pytest.mark.parametrize(
    "args,match",
    [
        (([1, 2], [0.1], [0, 0], 1), "one entry per sample"),
        (([1, 1], [0.1, 0.2], [0, 0], 1), "distinct"),
        (([1, 2], [0.1, float("nan")], [0, 0], 1), "finite"),
        (([1, 2], [0.1, 0.2], [0, 0], -1), "`quota` must be an int >= 0"),
        (([1, 2], [0.1, 0.2], [0, 3], 1, [1, 1]), "labels must be in \\[0, 2\\)"),
    ],
)
def test_select_prune_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        select_prune(*args)
