"""Scoring paths of a single-path supernet: one evaluation loop for GreedyNAS, rank consistency and NSGA-II."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["PathScores", "evaluate_paths", "tensor_batches"]


class PathScores(NamedTuple):
    """The scores of :func:`evaluate_paths`, one entry per path, in the order of the paths."""

    losses: list[float]
    """Mean cross-entropy over the samples."""
    accuracies: list[float]
    """Top-1 accuracy (fraction of the samples), in [0, 1]."""
    num_samples: int
    """Samples every path was evaluated on."""


def tensor_batches(x: Tensor, y: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    """``(x, y)`` in consecutive chunks of ``batch_size`` samples (the last one may be smaller).

    Example:
        >>> [len(b[1]) for b in tensor_batches(torch.zeros(5, 2), torch.zeros(5), 2)]
        [2, 2, 1]
    """
    for start in range(0, len(y), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


@contextlib.contextmanager
def _eval_mode(supernet: Any, enabled: bool) -> Iterator[None]:
    """``supernet`` in eval mode (when it is an ``nn.Module`` and ``enabled``); every submodule's flag restored."""
    if not enabled or not isinstance(supernet, nn.Module):
        yield
        return
    flags = [(m, m.training) for m in supernet.modules()]
    supernet.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


@torch.no_grad()
def evaluate_paths(
    supernet: Callable[[Tensor, Any], Tensor],
    paths: Sequence[Any],
    batches: Iterable[Any],
    *,
    device: torch.device | str | None = None,
    max_batches: int | None = None,
    eval_mode: bool = True,
) -> PathScores:
    """Mean cross-entropy and top-1 accuracy of every path of ``supernet`` over ``batches``, without gradients.

    Each batch is loaded once and passed through every path; the sums are kept on the device in float64 (one host
    synchronization at the end) and a row of logits is cast to float32 before the loss, so the scores do not depend
    on the batch size or on mixed precision. This is the evaluation of GreedyNAS's filtering (the surrogate batch),
    of :func:`~lightning_nas.methods.surrogate_rank_consistency` and of
    :class:`~lightning_nas.search.NSGA2Search` (through :func:`~lightning_nas.search.supernet_accuracy`).

    Args:
        supernet: called as ``supernet(x, path)``, returns logits ``(N, num_classes)``.
        paths: the paths (genotypes, or whatever ``supernet`` takes) to evaluate.
        batches: an iterable of ``(x, y, ...)`` batches, e.g. ``datamodule.val_dataloader()`` or
            :func:`tensor_batches` of a tensor pair.
        device: where to move the batches; ``None`` leaves them where they are.
        max_batches: evaluate only the first ``max_batches`` batches; ``None`` evaluates all of them.
        eval_mode: put ``supernet`` (an ``nn.Module``) in eval mode for the evaluation and restore every submodule's
            mode afterwards; ``False`` leaves the mode to the caller (e.g. after a BatchNorm recalibration).

    Returns:
        :class:`PathScores` ``(losses, accuracies, num_samples)``.

    Raises:
        ValueError: ``batches`` holds no sample (and ``paths`` is not empty).

    Example:
        >>> net = lambda x, path: x * path
        >>> batches = [(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]))]
        >>> scores = evaluate_paths(net, [1.0, -1.0], batches)
        >>> scores.accuracies, scores.num_samples
        ([0.5, 0.5], 2)
        >>> [round(loss, 3) for loss in scores.losses]
        [1.127, 1.127]
    """
    if not paths:
        return PathScores([], [], 0)
    loss_sums: list[Tensor] | None = None
    correct: list[Tensor] | None = None
    seen = 0
    with _eval_mode(supernet, eval_mode):
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            x, y = batch[0], batch[1]
            if device is not None:
                x = x.to(device, non_blocking=True)
                y = y.to(device, non_blocking=True)
            y = y.long()
            if loss_sums is None or correct is None:
                loss_sums = [torch.zeros((), dtype=torch.float64, device=y.device) for _ in paths]
                correct = [torch.zeros((), dtype=torch.int64, device=y.device) for _ in paths]
            for k, path in enumerate(paths):
                logits = supernet(x, path).float()
                loss_sums[k] += nn.functional.cross_entropy(logits, y, reduction="sum").double()
                correct[k] += (logits.argmax(dim=-1) == y).sum()
            seen += int(y.numel())
    if seen == 0 or loss_sums is None or correct is None:
        raise ValueError("`evaluate_paths(batches=...)`: `batches` must hold at least one sample. Got none.")
    losses = (torch.stack(loss_sums) / seen).tolist()
    accuracies = (torch.stack(correct).double() / seen).tolist()
    return PathScores(losses, accuracies, seen)
