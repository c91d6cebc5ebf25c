"""Pieces shared by the fused (per-source-node) search cells of the NAS-Bench-201 and DARTS supernets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn


def stacked_batch_norm(x: Tensor, bns: Sequence[nn.BatchNorm2d], weight: Tensor | None) -> Tensor:
    """The BatchNorms ``bns`` (affine-free, built alike) on the channel blocks of ``x`` as one ``batch_norm`` call.

    Block ``j`` of ``x`` belongs to ``bns[j]``; their running buffers are concatenated for the call and, in
    training mode, written back after it, as each module's own ``forward`` would update them. ``weight`` (one
    scale per channel, or ``None``) multiplies the normalized output.
    """
    bn = bns[0]
    mean = var = None
    if bn.track_running_stats:
        mean = (
            cast(Tensor, bn.running_mean) if len(bns) == 1 else torch.cat([cast(Tensor, b.running_mean) for b in bns])
        )
        var = cast(Tensor, bn.running_var) if len(bns) == 1 else torch.cat([cast(Tensor, b.running_var) for b in bns])
    update = bn.training and bn.track_running_stats
    momentum = 0.0
    if update:
        for b in bns:
            cast(Tensor, b.num_batches_tracked).add_(1)
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(cast(Tensor, bn.num_batches_tracked))
    if weight is not None:  # CPU batch_norm in channels_last reads a stride-0 (expanded) weight wrongly (PyTorch 2.x)
        weight = weight.contiguous()
    out = nn.functional.batch_norm(
        x, mean, var, weight, None, bn.training or not bn.track_running_stats, momentum, bn.eps
    )
    if update and len(bns) > 1:
        with torch.no_grad():
            width = x.shape[1] // len(bns)
            for b, m, v in zip(bns, cast(Tensor, mean).split(width), cast(Tensor, var).split(width), strict=True):
                cast(Tensor, b.running_mean).copy_(m)
                cast(Tensor, b.running_var).copy_(v)
    return out
