"""BatchNorm recalibration of one path of a weight-sharing supernet, leaving the supernet as it was afterwards.

A single-path supernet's BatchNorm running statistics are averages over all the paths trained through each layer, so
they can be off for any one path. Single Path One-Shot (Guo et al., 2019) therefore recomputes them for each
candidate on a few training batches before evaluating it. GreedyNAS does not mention it; the NSGA-II search offers it
as an option (``NSGA2Search(bn_batches=...)``, PAPERS-SPEC 6.4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["batch_norm_layers", "preserved_batch_norm", "recalibrate_batch_norm"]


def batch_norm_layers(module: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``module`` that track running statistics, in ``modules()`` order.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.BatchNorm2d(4, track_running_stats=False))
        >>> len(batch_norm_layers(net))
        1
    """
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@contextmanager
def preserved_batch_norm(module: nn.Module) -> Iterator[None]:
    """Restore the running statistics, the momentum and the train/eval flag of ``module``'s BatchNorm layers on exit.

    Only the BatchNorm state is saved, not a copy of the whole module, so it costs a few buffers of memory. The
    train/eval flag of every submodule of ``module`` is restored too.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).eval()
        >>> with preserved_batch_norm(net):
        ...     recalibrate_batch_norm(net, net, [torch.randn(8, 2)])
        8
        >>> net[1].running_mean.abs().sum().item(), net[1].momentum, net.training
        (0.0, 0.1, False)
    """
    layers = batch_norm_layers(module)
    saved = [
        (
            layer.momentum,
            layer.running_mean.detach().clone() if layer.running_mean is not None else None,
            layer.running_var.detach().clone() if layer.running_var is not None else None,
            layer.num_batches_tracked.detach().clone() if layer.num_batches_tracked is not None else None,
        )
        for layer in layers
    ]
    flags = [(m, m.training) for m in module.modules()]
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, (momentum, mean, var, count) in zip(layers, saved):
                layer.momentum = momentum
                for buffer, value in (
                    (layer.running_mean, mean),
                    (layer.running_var, var),
                    (layer.num_batches_tracked, count),
                ):
                    if buffer is not None and value is not None:
                        buffer.copy_(value)
        for m, training in flags:
            m.training = training


def recalibrate_batch_norm(module: nn.Module, forward: Callable[[Tensor], Any], batches: Iterable[Tensor]) -> int:
    """Recompute the running statistics of ``module``'s BatchNorm layers from ``batches``, then switch to eval mode.

    Every BatchNorm layer is reset (mean 0, variance 1) and set to ``momentum=None``, i.e. a cumulative average over
    the batches instead of an exponential one, as in Single Path One-Shot; ``forward(x)`` is called on each batch in
    train mode without gradients, and ``module`` is left in eval mode. Layers that ``forward`` does not reach (the
    choices off the path) keep the reset statistics: wrap the call in :func:`preserved_batch_norm` to restore them.

    Args:
        module: the module that owns the BatchNorm layers (the supernet).
        forward: what to run on each batch, e.g. ``lambda x: supernet(x, path)``.
        batches: input tensors, already on ``module``'s device.

    Returns:
        The number of samples forwarded.

    Raises:
        ValueError: ``batches`` is empty (the statistics would stay reset).

    Example:
        >>> bn = nn.BatchNorm1d(2)
        >>> recalibrate_batch_norm(bn, bn, [torch.zeros(4, 2), torch.full((4, 2), 2.0)])
        8
        >>> bn.running_mean.tolist(), bn.training
        ([1.0, 1.0], False)
    """
    for layer in batch_norm_layers(module):
        layer.reset_running_stats()
        layer.momentum = None
    module.train()
    count = 0
    with torch.no_grad():
        for x in batches:
            forward(x)
            count += int(x.shape[0])
    module.eval()
    if count == 0:
        raise ValueError("`recalibrate_batch_norm(batches=...)`: `batches` must hold at least one sample. Got none.")
    return count
