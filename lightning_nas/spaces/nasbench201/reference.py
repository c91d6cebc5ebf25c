"""The per-edge mixed op and search cell of the research code: the reference the fused cell must match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import get_op
from lightning_nas.spaces.darts.ops import channel_shuffle
from lightning_nas.spaces.nasbench201.ops import NB201_EDGES, NB201_OPS, SPACE_NAME


class _MixedOp(nn.Module):
    """One supernet edge: ``sum_o w_o * o(x)`` over the 5 ops (DARTS Eq. 2).

    The ``none`` op is kept (its module holds no state) but not evaluated: its term ``w_none * 0`` is zero and
    contributes no gradient to ``w_none`` either, exactly as in xautodl, where ``w_none`` still shapes the other
    weights through the softmax.

    With ``partial_channels = K > 1`` (PC-DARTS) the ops are built with ``C / K`` channels and see the first
    ``C / K`` input channels; the other channels bypass them, are concatenated after the mixed part and the
    result is channel-shuffled with ``K`` groups.
    """

    def __init__(
        self, C: int, track_running_stats: bool, partial_channels: int = 1, ops: Sequence[str] = NB201_OPS
    ) -> None:
        super().__init__()
        self.ops = nn.ModuleList(
            get_op(name, space=SPACE_NAME)(C // partial_channels, affine=False, track_running_stats=track_running_stats)
            for name in ops
        )
        self.partial_channels = partial_channels
        self._evaluated = tuple(name != "none" for name in ops)
        self._skip = tuple(name == "skip_connect" for name in ops)

    def forward(self, x: Tensor, weights: Sequence[Tensor], skip_dropout: float = 0.0) -> Tensor:
        k = self.partial_channels
        part = x if k == 1 else x[:, : x.shape[1] // k]
        terms = []
        for op, weight, evaluated, skip in zip(self.ops, weights, self._evaluated, self._skip, strict=True):
            if not evaluated:
                continue
            out = op(part)
            if skip and skip_dropout > 0 and self.training:  # P-DARTS's dropout on skip connections
                out = nn.functional.dropout(out, p=skip_dropout)
            terms.append(weight * out)
        # an edge whose only candidate is `none` outputs zeros
        mixed = sum(terms[1:], terms[0]) if terms else torch.zeros_like(part)
        if k == 1:
            return mixed
        return channel_shuffle(torch.cat([mixed, x[:, x.shape[1] // k :]], dim=1), k)


class _SearchCell(nn.Module):
    """A supernet cell: node ``i`` = sum over ``j < i`` of (``beta_ij`` times) the mixed op of edge ``i<-j``."""

    def __init__(
        self,
        C: int,
        track_running_stats: bool,
        partial_channels: int = 1,
        edge_ops: Sequence[Sequence[str]] = (NB201_OPS,) * len(NB201_EDGES),
    ) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_MixedOp(C, track_running_stats, partial_channels, ops) for ops in edge_ops)

    def forward(
        self,
        x: Tensor,
        weights: Sequence[Sequence[Tensor]],
        betas: Sequence[Tensor] | None = None,
        skip_dropout: float = 0.0,
    ) -> Tensor:
        nodes = [x]
        edge = 0
        for node in range(1, 4):
            total: Tensor | None = None
            for source in range(node):
                y = self.edges[edge](nodes[source], weights[edge], skip_dropout)
                if betas is not None:
                    y = betas[edge] * y
                total = y if total is None else total + y
                edge += 1
            nodes.append(cast(Tensor, total))
        return nodes[3]
