import numpy as np
import pytest
import torch
from scipy import stats

from lightning_nas.benchmarks import rank_consistency, tolerant_ranks


def test_matches_scipy_on_random_scores():
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    b = a + rng.normal(scale=0.7, size=30)
    result = rank_consistency(a, b)
    assert result["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-6)
    assert result["spearman_plain"] == result["spearman"]
    assert result["kendall"] == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-6)
    assert result["num_models"] == 30


def test_accepts_tensors_and_reversed_order_is_minus_one():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    result = rank_consistency(a, -a)
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["kendall"] == pytest.approx(-1.0)


def test_tolerant_spearman_ignores_differences_within_tolerance_in_both_settings():
    original = [94.00, 94.10, 90.0, 85.0]
    reduced = [60.05, 60.00, 55.0, 50.0]  # models 0 and 1 swap, by < 0.15 in both settings
    assert rank_consistency(original, reduced)["spearman"] < 1.0
    tolerant = rank_consistency(original, reduced, tolerance=0.15)
    assert tolerant["spearman"] == pytest.approx(1.0)
    assert tolerant["spearman_plain"] < 1.0


def test_tolerant_spearman_counts_a_swap_that_is_large_in_one_setting():
    original = [94.00, 94.10, 90.0, 85.0]
    reduced = [61.00, 60.00, 55.0, 50.0]  # swap by 1 point in the reduced setting: not tied
    result = rank_consistency(original, reduced, tolerance=0.15)
    # ranks (1,2) vs (2,1) for the first two models: d^2 sum = 2 -> 1 - 12 / (4 * 15) = 0.8
    assert result["spearman"] == pytest.approx(0.8)


def test_tolerant_ranks_formula_without_ties():
    a = np.array([3.0, 1.0, 2.0])
    ra, rb = tolerant_ranks(a, a, tolerance=0.0)
    assert ra.tolist() == [1.0, 3.0, 2.0] and rb.tolist() == ra.tolist()


@pytest.mark.parametrize(
    ("a", "b", "tolerance", "match"),
    [
        ([1.0, 2.0], [1.0], 0.0, "same models"),
        ([1.0], [1.0], 0.0, "at least 2"),
        ([1.0, float("nan")], [1.0, 2.0], 0.0, "finite"),
        ([[1.0, 2.0]], [[1.0, 2.0]], 0.0, "1-D"),
        ([1.0, 2.0], [1.0, 2.0], -0.1, "tolerance"),
    ],
)
def test_bad_input_is_rejected(a, b, tolerance, match):
    with pytest.raises(ValueError, match=match):
        rank_consistency(a, b, tolerance=tolerance)
