import math

import numpy as np
import pytest
import torch

from lightning_nas.selection import (
    DEFAULT_BIN_WIDTHS,
    entropy,
    entropy_beta_selection,
    entropy_bin_weights,
    entropy_histogram,
    entropy_proxy_selection,
    entropy_selection_probabilities,
)

# a known histogram with bin width 0.5: counts [3, 1, 0, 2] over the bins starting at -3.0, -2.5, -2.0, -1.5
KNOWN_LOG10 = np.array([-3.0, -2.9, -2.6, -2.4, -1.4, -1.1])
KNOWN = 10.0**KNOWN_LOG10


def test_entropy_of_uniform_and_one_hot_rows():
    h = entropy(np.array([[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0], [0.0, -1e4, -1e4, -1e4]]))
    assert h.dtype == np.float64
    np.testing.assert_allclose(h[:2], math.log(4), rtol=1e-15)
    assert h[2] == 0.0  # exp(-1e4) underflows: p log p := 0, finite


def test_entropy_matches_the_definition():
    logits = np.random.default_rng(0).standard_normal((50, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(entropy(logits), -(p * np.log(p)).sum(1), rtol=1e-12)
    np.testing.assert_allclose(entropy(torch.from_numpy(logits).float()), -(p * np.log(p)).sum(1), rtol=1e-5)


@pytest.mark.parametrize("tiny", [1e-8, 1e-15, 1e-20, 1e-30])
def test_entropy_stays_finite_and_accurate_for_tiny_probabilities(tiny):
    # p = (1 - tiny, tiny): H = -(1 - t) ln(1 - t) - t ln t ~ t (1 - ln t)
    logits = np.log(np.array([[1.0 - tiny, tiny]]))
    expected = -(1 - tiny) * math.log1p(-tiny) - tiny * math.log(tiny)
    h = entropy(logits)
    assert np.isfinite(h).all() and h[0] > 0
    assert h[0] == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(np.log10(h)).all()
    # the same from float32 torch logits with a huge gap
    assert entropy(torch.tensor([[0.0, math.log(tiny)]], dtype=torch.float32))[0] == pytest.approx(expected, rel=1e-5)


def test_entropy_with_minus_inf_and_ties():
    h = entropy(np.array([[0.0, -np.inf, 0.0], [5.0, 5.0, -np.inf]]))
    np.testing.assert_allclose(h, math.log(2), rtol=1e-15)
    assert entropy(np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize(
    ("logits", "match"),
    [
        (np.array([[0.0, np.nan]]), r"`entropy`: `logits` must not hold NaN or \+inf"),
        (np.array([[0.0, np.inf]]), r"`logits` must not hold NaN or \+inf"),
        (np.array([[0.0, 1.0], [-np.inf, -np.inf]]), r"every row of `logits` needs a finite value. Got row 1 all -inf"),
        (np.zeros(3), r"`logits` must be a 2-D \(N, K\) array with K >= 1. Got an array of shape \(3,\)"),
        (np.zeros((3, 0)), r"`logits` must be a 2-D \(N, K\) array"),
    ],
)
def test_entropy_bad_input(logits, match):
    with pytest.raises(ValueError, match=match):
        entropy(logits)


def test_histogram_grid_and_half_open_bins():
    hist = entropy_histogram(KNOWN, 0.5)
    assert hist.counts.tolist() == [3, 1, 0, 2]
    np.testing.assert_allclose(hist.edges, [-3.0, -2.5, -2.0, -1.5, -1.0])
    assert hist.bins.tolist() == [0, 0, 0, 1, 3, 3]
    # a value on an edge belongs to the bin above it; the low edge is round(min) lowered by whole widths
    assert entropy_histogram([1e-2, 1e-1], 0.5).counts.tolist() == [1, 0, 1]
    assert entropy_histogram([10**-2.3, 1e-1], 0.25).edges[0] == pytest.approx(-2.5)
    # exact zeros are floored at 1e-300 before the logarithm
    assert entropy_histogram([0.0, 1.0], 100.0).edges[0] == pytest.approx(-300.0)


def test_default_bin_widths_are_the_papers():
    assert DEFAULT_BIN_WIDTHS == {"cifar10": 0.5, "cifar100": 0.25, "svhn": 0.2, "imagenet": 0.25}


def test_bin_weights_match_hand_computed_values():
    counts = [3, 1, 0, 2]  # M = 3
    np.testing.assert_allclose(entropy_bin_weights(counts, "P1"), np.array([1, 3, 0, 2]) / 6)  # M - |h| + 1
    np.testing.assert_allclose(entropy_bin_weights(counts, "P2"), [0.25] * 4)  # 1 / #bins, empty bins included
    np.testing.assert_allclose(entropy_bin_weights(counts, "P3"), np.array([1 / 3, 1, 0, 1 / 2]) / (11 / 6))


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("P1", [1 / 18] * 3 + [1 / 2] + [1 / 6] * 2),  # W1 = (1, 3, 2)/6 shared within the bins
        ("P2", [1 / 9] * 3 + [1 / 3] + [1 / 6] * 2),  # 1/|h| renormalised: (1/12 x3, 1/4, 1/8 x2) / (3/4)
        ("P3", [2 / 33] * 3 + [6 / 11] + [3 / 22] * 2),  # W3 = (2, 6, 3)/11 shared within the bins
    ],
)
def test_probabilities_match_hand_computed_values(weighting, expected):
    p = entropy_selection_probabilities(KNOWN, 0.5, weighting)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("weighting", ["P1", "P2", "P3"])
def test_selection_favours_both_tails(weighting):
    # a peaked log-entropy distribution, as in the paper's Fig. 2: tails over-, the crowded mode under-represented
    log_h = np.random.default_rng(0).normal(-8.0, 3.0, 5000)
    ids = entropy_proxy_selection(10**log_h, 500, bin_width=0.5, weighting=weighting, seed=0)
    for region in (log_h < -13, log_h > -3):
        assert region[ids].mean() > 2 * region.mean()
    mode = np.abs(log_h + 8) < 1
    assert mode[ids].mean() < 0.75 * mode.mean()


def test_proxy_selection_is_seeded_sorted_and_without_replacement():
    h = 10 ** np.random.default_rng(1).uniform(-20, 0, 1000)
    a = entropy_proxy_selection(h, 100, bin_width=0.5, weighting="P3", seed=3)
    assert a.dtype == np.int64 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, entropy_proxy_selection(h, 100, bin_width=0.5, weighting="P3", seed=3))
    assert not np.array_equal(a, entropy_proxy_selection(h, 100, bin_width=0.5, weighting="P3", seed=4))
    assert entropy_proxy_selection(h, 0, bin_width=0.5, seed=0).tolist() == []
    assert entropy_proxy_selection(h, 1000, bin_width=0.5, seed=0).tolist() == list(range(1000))


def test_beta_selection_takes_the_right_tails():
    h = np.random.default_rng(0).permutation(100).astype(float)  # entropy of id i is a distinct rank
    ids = entropy_beta_selection(h, 20, beta=0.9)
    assert sorted(h[ids].tolist()) == list(range(18)) + [98, 99]  # 18 lowest + 2 highest
    assert sorted(h[entropy_beta_selection(h, 10, beta=1.0)].tolist()) == list(range(10))  # bottom-k
    assert sorted(h[entropy_beta_selection(h, 10, beta=0.0)].tolist()) == list(range(90, 100))  # top-k
    assert len(entropy_beta_selection(h, 5, beta=0.9)) == 5  # round(4.5) = 5 (half up): 5 low, 0 high
    assert sorted(h[entropy_beta_selection(h, 5, beta=0.9)].tolist()) == [0, 1, 2, 3, 4]
    assert entropy_beta_selection(h, 100, beta=0.5).tolist() == list(range(100))


def test_beta_selection_ties_go_to_lower_ids():
    h = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    assert entropy_beta_selection(h, 2, beta=0.5).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("h", "size", "beta", "expected"),
    [
        ([0.4] * 6, 4, 0.75, [0, 1, 2, 3]),  # all tie: low takes 0, 1, 2; the high end skips them and takes 3
        ([0.4] * 6, 6, 0.5, [0, 1, 2, 3, 4, 5]),
        ([0.1, 0.5, 0.5, 0.5, 0.9], 4, 0.5, [0, 1, 2, 4]),  # ties across the cut: low 0, 1; high 4, then 2 (not 1)
        ([0.2, 0.2, 0.2, 0.2], 2, 0.0, [0, 1]),  # top-k of ties: lower ids, as at the low end
    ],
)
def test_beta_selection_never_returns_a_duplicate_when_entropies_tie_across_the_cut(h, size, beta, expected):
    assert entropy_beta_selection(h, size, beta=beta).tolist() == expected


def _beta_brute_force(h, size, beta):
    n_low = min(size, math.floor(beta * size + 0.5))
    low = sorted(range(len(h)), key=lambda i: (h[i], i))[:n_low]
    rest = sorted((i for i in range(len(h)) if i not in low), key=lambda i: (-h[i], i))
    return sorted(low + rest[: size - n_low])


@pytest.mark.parametrize("trial", range(40))
def test_beta_selection_equals_the_brute_force_and_keeps_the_shares(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(1, 30))
    h = rng.integers(0, 4, n) / 4.0 if trial % 2 else rng.random(n)  # heavy ties on every other trial
    size, beta = int(rng.integers(0, n + 1)), float(rng.choice([0.0, 0.3, 0.5, 0.9, 1.0]))
    ids = entropy_beta_selection(h, size, beta=beta)
    assert ids.tolist() == _beta_brute_force(h.tolist(), size, beta)
    assert len(np.unique(ids)) == len(ids) == size
    n_low = min(size, math.floor(beta * size + 0.5))
    assert np.sort(h[ids])[:n_low].tolist() == np.sort(h)[:n_low].tolist()  # the low share is the bottom of h


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy_selection_probabilities(KNOWN, 0.0), r"`bin_width` must be > 0. Got 0.0 instead"),
        (lambda: entropy_selection_probabilities(KNOWN, -0.5), r"`bin_width` must be > 0"),
        (lambda: entropy_selection_probabilities(KNOWN, float("nan")), r"`bin_width` must be > 0"),
        (lambda: entropy_selection_probabilities([0.1, np.nan], 0.5), r"`entropies` must be finite. Got 1 NaN/inf"),
        (lambda: entropy_selection_probabilities([0.1, -0.2], 0.5), r"`entropies` must be non-negative"),
        (lambda: entropy_selection_probabilities([], 0.5), r"`entropies` must hold at least one value"),
        (lambda: entropy_selection_probabilities([[0.1]], 0.5), r"`entropies` must be a 1-D array of numbers"),
        (lambda: entropy_selection_probabilities(KNOWN, 0.5, "P4"), r"`weighting` must be one of \['P1', 'P2', 'P3'\]"),
        (lambda: entropy_bin_weights([0, 0], "P1"), r"`counts` must be a 1-D array of non-negative integers"),
        (lambda: entropy_proxy_selection(KNOWN, 7, bin_width=0.5), r"`size` must be an int in \[0, 6\]. Got 7"),
        (lambda: entropy_proxy_selection(KNOWN, -1, bin_width=0.5), r"`size` must be an int in \[0, 6\]"),
        (lambda: entropy_beta_selection(KNOWN, 7), r"`entropy_beta_selection\(size=7\)`: `size` must be an int in"),
        (lambda: entropy_beta_selection(KNOWN, 3, beta=1.5), r"`beta` must be in \[0, 1\]. Got 1.5 instead"),
        (lambda: entropy_beta_selection([np.inf], 1), r"`entropies` must be finite"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
