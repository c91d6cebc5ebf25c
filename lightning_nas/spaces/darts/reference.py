"""The per-edge mixed op and search cell of the research code: the reference the fused cell must match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import get_op
from lightning_nas.spaces.darts.macro import _preprocess
from lightning_nas.spaces.darts.ops import _POOLS, _STEPS, DARTS_EDGES, SPACE_NAME, channel_shuffle


class _MixedOp(nn.Module):
    """One supernet edge: ``sum_o w_o * o(x)`` over its candidate ops, optionally on the first ``C / K`` channels.

    Pools are followed by a non-affine BatchNorm, as in DARTS's search network. ``none`` is not evaluated: its
    term is zero and gives no gradient to its weight (which still shapes the others through the softmax).
    With ``partial_channels = K > 1`` the ops are built with ``C / K`` channels and see the first ``C / K``
    input channels; the other channels bypass them (max-pooled 2 x 2 on stride-2 edges), are concatenated
    after the mixed part and the result is channel-shuffled with ``K`` groups.
    """

    def __init__(self, C: int, stride: int, op_names: Sequence[str], partial_channels: int) -> None:
        super().__init__()
        width = C // partial_channels
        ops = []
        for name in op_names:
            op = get_op(name, space=SPACE_NAME)(width, stride, False)
            if name in _POOLS:
                op = nn.Sequential(op, nn.BatchNorm2d(width, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        self.stride = stride
        self.partial_channels = partial_channels
        self._evaluated = tuple(name != "none" for name in op_names)
        # P-DARTS drops the outputs of identity skips only (not the FactorizedReduce of stride-2 edges)
        self._droppable = tuple(name == "skip_connect" and stride == 1 for name in op_names)
        self.bypass_pool = nn.MaxPool2d(2, 2) if partial_channels > 1 and stride > 1 else None

    def forward(self, x: Tensor, weights: Sequence[Tensor], skip_dropout: float = 0.0) -> Tensor:
        k = self.partial_channels
        part = x if k == 1 else x[:, : x.shape[1] // k]
        out: Tensor | None = None
        for op, weight, evaluated, droppable in zip(self.ops, weights, self._evaluated, self._droppable, strict=True):
            if not evaluated:
                continue
            y = op(part)
            if droppable and skip_dropout > 0:
                y = nn.functional.dropout(y, p=skip_dropout, training=self.training)
            out = weight * y if out is None else out + weight * y
        out = cast(Tensor, out)  # every edge holds an op other than `none` (checked by the supernet)
        if k == 1:
            return out
        rest = x[:, x.shape[1] // k :]
        if self.bypass_pool is not None:
            rest = self.bypass_pool(rest)
        return channel_shuffle(torch.cat([out, rest], dim=1), k)


class _SearchCell(nn.Module):
    """A supernet cell: node ``i`` = sum over its inputs ``j`` of (``beta_ij`` times) the mixed op of edge ``i<-j``."""

    def __init__(
        self,
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        edge_ops: Sequence[Sequence[str]],
        partial_channels: int,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(C_pp, C_p, C, reduction_prev, affine=False)
        self.edges = nn.ModuleList(
            _MixedOp(C, 2 if reduction and source < 2 else 1, edge_ops[edge], partial_channels)
            for edge, (_, source) in enumerate(DARTS_EDGES)
        )

    def forward(
        self,
        s0: Tensor,
        s1: Tensor,
        weights: Sequence[Sequence[Tensor]],
        betas: Sequence[Tensor] | None,
        skip_dropout: float,
    ) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for _ in range(_STEPS):
            total: Tensor | None = None
            for state in states:
                y = self.edges[edge](state, weights[edge], skip_dropout)
                if betas is not None:
                    y = betas[edge] * y
                total = y if total is None else total + y
                edge += 1
            states.append(cast(Tensor, total))
        return torch.cat(states[2:], dim=1)
