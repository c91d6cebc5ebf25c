"""Rank consistency between two scorings of the same architectures (EcoNAS Sec. 3, GreedyNAS Table 3).

A proxy is useful when it ranks architectures as the expensive setting does. Given the scores of ``K`` models
under two settings (higher is better in both: pass accuracies, or negated losses), :func:`rank_consistency`
returns Spearman's ρ and Kendall's τ-b (torchmetrics), and EcoNAS's *tolerant* Spearman ρ, which ignores rank
differences between models whose accuracies differ by less than ``tolerance`` in both settings.

References:
    Dongzhan Zhou et al. EcoNAS: Finding Proxies for Economical Neural Architecture Search. CVPR 2020.
    Shan You et al. GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet. CVPR 2020.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics.functional import kendall_rank_corrcoef, spearman_corrcoef

__all__ = ["rank_consistency", "tolerant_ranks"]


def _as_scores(name: str, values: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"`rank_consistency({name}=...)`: expected a 1-D sequence of scores. Got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"`rank_consistency({name}=...)`: every score must be finite. Got {array.tolist()!r}.")
    return array


def tolerant_ranks(scores_a: np.ndarray, scores_b: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (1 = best) of each model in both settings with EcoNAS's tolerance (spec 7.5).

    A pair ``(i, j)`` is *tied* when its scores differ by less than ``tolerance`` in both settings. Then, in each
    setting X, ``rank_X(i) = 1 + #{j : s_X(j) > s_X(i) and not tied(i, j)} + 0.5 * #{j != i : tied(i, j)}``: a
    tied pair adds the same amount to both ranks of ``i``, so it never creates a rank difference. With
    ``tolerance=0`` no pair is tied and ranks count strictly better models.

    Example:
        >>> ra, rb = tolerant_ranks(np.array([90.0, 90.1, 80.0]), np.array([70.05, 70.0, 60.0]), tolerance=0.15)
        >>> ra.tolist(), rb.tolist()
        ([1.5, 1.5, 3.0], [1.5, 1.5, 3.0])
    """
    diff_a = scores_a[None, :] - scores_a[:, None]  # [i, j] = s(j) - s(i)
    diff_b = scores_b[None, :] - scores_b[:, None]
    tied = (np.abs(diff_a) < tolerance) & (np.abs(diff_b) < tolerance)
    np.fill_diagonal(tied, False)
    half_ties = 0.5 * tied.sum(axis=1)
    rank_a = 1 + ((diff_a > 0) & ~tied).sum(axis=1) + half_ties
    rank_b = 1 + ((diff_b > 0) & ~tied).sum(axis=1) + half_ties
    return rank_a.astype(np.float64), rank_b.astype(np.float64)


def rank_consistency(
    scores_a: Sequence[float] | np.ndarray | torch.Tensor,
    scores_b: Sequence[float] | np.ndarray | torch.Tensor,
    tolerance: float = 0.0,
) -> dict[str, float]:
    """Spearman's ρ and Kendall's τ between two scorings of the same models (higher = better in both).

    Args:
        scores_a: one score per model in the first setting (e.g. the original, full-cost accuracies).
        scores_b: the same models' scores in the second setting (e.g. a reduced proxy), in the same order.
        tolerance: EcoNAS's ``b`` (0.15 accuracy points in the paper). When positive, ``"spearman"`` is the
            tolerant variant ``1 - 6 Σ d_i² / (K (K² - 1))`` over :func:`tolerant_ranks`; with 0 it is the
            ordinary Spearman ρ (torchmetrics, average ranks for exact ties).

    Returns:
        ``{"spearman": ρ (tolerant when tolerance > 0), "spearman_plain": ordinary ρ, "kendall": τ-b,
        "num_models": K}``.

    Raises:
        ValueError: if the two sequences differ in length, have fewer than 2 models or non-finite scores, or
            ``tolerance`` is negative.

    Example:
        >>> result = rank_consistency([94.4, 91.2, 88.0, 70.1], [60.3, 61.0, 52.5, 40.0])
        >>> round(result["spearman"], 3), round(result["kendall"], 3), result["num_models"]
        (0.8, 0.667, 4)
    """
    a, b = _as_scores("scores_a", scores_a), _as_scores("scores_b", scores_b)
    if a.shape != b.shape:
        raise ValueError(
            f"`rank_consistency`: `scores_a` and `scores_b` must score the same models. Got {a.size} and {b.size}."
        )
    if a.size < 2:
        raise ValueError(f"`rank_consistency`: at least 2 models are needed. Got {a.size}.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"`rank_consistency(tolerance={tolerance!r})`: `tolerance` must be a number >= 0.")
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    plain = float(spearman_corrcoef(ta, tb))
    kendall = float(kendall_rank_corrcoef(ta, tb, variant="b"))
    if tolerance > 0:
        rank_a, rank_b = tolerant_ranks(a, b, float(tolerance))
        k = a.size
        spearman = float(1 - 6 * np.sum((rank_a - rank_b) ** 2) / (k * (k * k - 1)))
    else:
        spearman = plain
    return {"spearman": spearman, "spearman_plain": plain, "kendall": kendall, "num_models": int(a.size)}
