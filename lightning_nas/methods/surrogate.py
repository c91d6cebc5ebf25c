"""GreedyNAS's surrogate validation batch: drawing it class-balanced, and how well it ranks paths (Table 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lightning_nas.benchmarks.rank_consistency import rank_consistency
from lightning_nas.checks import check_number
from lightning_nas.methods.path_evaluation import evaluate_paths, tensor_batches
from lightning_nas.spaces import Genotype

if TYPE_CHECKING:
    from lightning_nas.methods.spos import SPOS

__all__ = ["class_balanced_subset", "surrogate_rank_consistency"]


def class_balanced_subset(
    ids: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, size: int, *, seed: int
) -> np.ndarray:
    """``size`` ids drawn uniformly within classes, with (as nearly as possible) the same count for every class.

    GreedyNAS's surrogate batch ``D̂_val``: 1000 images of the validation split, 1 per class on ImageNet. Counts are
    water-filled: every class gets ``size // C`` and the remainder goes to the largest classes (ties: the higher
    label); a class smaller than its share gives all it has and the others share the rest.

    Args:
        ids: the candidate ids (e.g. the data module's ``active_ids("val")``).
        labels: their labels, in the same order.
        size: the number of ids to draw, in ``[1, len(ids)]``.
        seed: seeds ``numpy.random.default_rng``.

    Returns:
        ``(size,)`` sorted int64 ids.

    Raises:
        ValueError: ``size`` is out of range or ``labels`` does not match ``ids``.

    Example:
        >>> ids = class_balanced_subset(np.arange(10, 22), [0] * 9 + [1] * 3, 6, seed=0)
        >>> len(ids), int((ids >= 19).sum())  # ids 19..21 are class 1: 3 of each class
        (6, 3)
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(ids):
        raise ValueError(
            f"`class_balanced_subset()`: `labels` must have one label per id. Got {len(labels)} labels for "
            f"{len(ids)} ids."
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(ids):
        raise ValueError(
            f"`class_balanced_subset(size={size!r})`: `size` must be an int in [1, {len(ids)}] (the number of "
            f"candidate ids). Got {size!r} instead."
        )
    classes, counts = np.unique(labels, return_counts=True)
    quotas = np.zeros(len(classes), dtype=np.int64)
    remaining = int(size)
    for position, c in enumerate(np.argsort(counts, kind="stable")):  # smallest classes first
        quotas[c] = min(int(counts[c]), remaining // (len(classes) - position))
        remaining -= int(quotas[c])
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(ids[labels == c], size=int(q), replace=False) for c, q in zip(classes, quotas) if q]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@torch.no_grad()
def surrogate_rank_consistency(
    module: SPOS,
    datamodule: Any,
    num_paths: int = 100,
    generator: torch.Generator | None = None,
    paths: Sequence[Genotype | str] | None = None,
    surrogate_size: int | None = None,
    batch_size: int = 500,
    progress: bool = True,
) -> dict[str, float]:
    """How well the surrogate batch ranks paths of a trained supernet, against the whole architecture split (Table 3).

    Draws ``num_paths`` paths uniformly (or takes ``paths``), and for each computes, in eval mode, the loss and the
    accuracy on the surrogate batch ``D̂_val`` and on the whole architecture split ``D_val`` (the data module's
    ``active_ids("val")``, eval transform, via ``pool_dataloader``; each batch is loaded once and passed through every
    path). Rank consistency (:func:`~lightning_nas.benchmarks.rank_consistency`, higher = better in both) of:

    * ``spearman``/``kendall``: surrogate **loss** vs full-split **accuracy** (the paper's Table 3 ranking);
    * ``spearman_acc``/``kendall_acc``: surrogate accuracy vs full-split accuracy (Table 3 in parentheses);
    * ``spearman_loss``/``kendall_loss``: surrogate loss vs full-split loss.

    The surrogate batch is the module's (GreedyNAS after fit) or, otherwise, :func:`class_balanced_subset` of the
    architecture split with ``surrogate_size`` ids and the module's seed, so a uniform (SPOS) and a greedy supernet
    trained with the same seed are scored on the same images.

    Args:
        module: a trained :class:`SPOS` or :class:`GreedyNAS` (its supernet stays on its device).
        datamodule: the search data module (set up here if needed).
        num_paths: paths drawn uniformly when ``paths`` is ``None`` (the paper: 1000).
        generator: the source of the paths; ``None`` uses a generator seeded with 0.
        paths: the paths to rank instead of random ones.
        surrogate_size: images of the surrogate batch when the module has none (``None``: the module's
            ``surrogate_size`` hyperparameter, else 1000).
        batch_size: chunk size of the evaluations.
        progress: show a progress bar over the architecture split.

    Returns:
        The six coefficients, the paths' mean ``mean_val_acc``/``mean_val_loss`` on the whole split and
        ``mean_surrogate_loss`` (how well trained the supernet is), ``num_paths``, ``surrogate_size`` and
        ``val_size``. A coefficient is NaN when one of its scorings is constant (e.g. an untrained supernet giving
        every path the same accuracy).

    Raises:
        ValueError: fewer than 2 paths, or a surrogate larger than the architecture split.

    References:
        You et al., "GreedyNAS", CVPR 2020, Sec. 5.3.1, Table 3 and Figure 4.
    """
    if paths is None:
        check_number("surrogate_rank_consistency", "num_paths", num_paths, low=2, integer=True)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        paths = [module.space.random_path(generator) for _ in range(num_paths)]
    else:
        paths = [module.space.parse_genotype(p) for p in paths]
        if len(paths) < 2:
            raise ValueError(f"`surrogate_rank_consistency(paths=...)`: at least 2 paths are needed. Got {len(paths)}.")
    datamodule.setup("fit")
    device = next(module.supernet.parameters()).device
    val_ids = np.asarray(datamodule.active_ids("val"), dtype=np.int64)
    surrogate = getattr(module, "surrogate", None)
    if surrogate is not None:
        x_s, y_s = surrogate[0].to(device), surrogate[1].to(device)
    else:
        size = surrogate_size if surrogate_size is not None else int(module.hparams.get("surrogate_size", 1000))
        if size > len(val_ids):
            raise ValueError(
                f"`surrogate_rank_consistency(surrogate_size={size})`: the architecture split has only {len(val_ids)} "
                "samples."
            )
        labels = np.asarray(datamodule.labels, dtype=np.int64)[val_ids]
        ids = class_balanced_subset(val_ids, labels, size, seed=module.seed)
        batches = list(datamodule.pool_dataloader(ids))
        x_s = torch.cat([b[0] for b in batches]).to(device)
        y_s = torch.cat([b[1] for b in batches]).to(device, dtype=torch.int64)
    surrogate_scores = evaluate_paths(module.supernet, paths, tensor_batches(x_s, y_s, batch_size))
    sur_loss, sur_acc = surrogate_scores.losses, surrogate_scores.accuracies
    # each batch of the split is loaded once and passed through every path
    batches = tqdm(datamodule.pool_dataloader(val_ids), disable=not progress, desc="D_val")
    full = evaluate_paths(module.supernet, paths, batches, device=device)
    full_loss, full_acc, seen = np.asarray(full.losses), np.asarray(full.accuracies), full.num_samples
    neg_sur_loss = -np.asarray(sur_loss)
    main = rank_consistency(full_acc, neg_sur_loss)
    acc = rank_consistency(full_acc, np.asarray(sur_acc))
    loss = rank_consistency(-full_loss, neg_sur_loss)
    return {
        "spearman": main["spearman"],
        "kendall": main["kendall"],
        "spearman_acc": acc["spearman"],
        "kendall_acc": acc["kendall"],
        "spearman_loss": loss["spearman"],
        "kendall_loss": loss["kendall"],
        "mean_val_acc": float(full_acc.mean()),
        "mean_val_loss": float(full_loss.mean()),
        "mean_surrogate_loss": float(np.mean(sur_loss)),
        "num_paths": float(len(paths)),
        "surrogate_size": float(len(y_s)),
        "val_size": float(seen),
    }
