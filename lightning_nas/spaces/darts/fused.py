"""The fused DARTS search cell: the edges leaving a node computed together, one weighted sum per node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.darts.ops import _STEPS, DARTS_EDGES, FactorizedReduce
from lightning_nas.spaces.darts.reference import _SearchCell
from lightning_nas.spaces.fused import stacked_batch_norm

_CONV_SPECS: dict[str, tuple[int, int, int, bool]] = {
    "sep_conv_3x3": (3, 1, 1, True),
    "sep_conv_5x5": (5, 2, 1, True),
    "dil_conv_3x3": (3, 2, 2, False),
    "dil_conv_5x5": (5, 4, 2, False),
}
"""Each conv op's (kernel size, padding, dilation, separable), as its factory builds it."""

_Members = tuple[tuple[int, int], ...]
"""``(edge, op column)`` pairs."""


@dataclass(frozen=True)
class _SourcePlan:
    """What the fused cell computes once for one source node, from the op names of its outgoing edges.

    ``convs`` holds ``(op name, members)`` per conv op present on the node's outgoing edges; ``max_pools``,
    ``avg_pools`` and ``skips`` the members of the other ops (``none`` is left out); ``edges`` all outgoing edges.
    """

    stride: int
    edges: tuple[int, ...]
    convs: tuple[tuple[str, _Members], ...]
    max_pools: _Members
    avg_pools: _Members
    skips: _Members


def _plan_sources(edge_ops: Sequence[Sequence[str]], reduction: bool) -> tuple[_SourcePlan, ...]:
    plans = []
    for source in range(1 + _STEPS):
        edges = tuple(edge for edge, (_, s) in enumerate(DARTS_EDGES) if s == source)

        def members(name: str, edges: tuple[int, ...] = edges) -> _Members:
            return tuple((edge, list(edge_ops[edge]).index(name)) for edge in edges if name in edge_ops[edge])

        plans.append(
            _SourcePlan(
                stride=2 if reduction and source < 2 else 1,
                edges=edges,
                convs=tuple((name, members(name)) for name in _CONV_SPECS if members(name)),
                max_pools=members("max_pool_3x3"),
                avg_pools=members("avg_pool_3x3"),
                skips=members("skip_connect"),
            )
        )
    return tuple(plans)


def _shared_batch_norm(x: Tensor, bns: Sequence[nn.BatchNorm2d]) -> Tensor:
    """The BatchNorms ``bns`` (affine-free, built alike, training mode) on the same input ``x``: computed once.

    With batch statistics all give the same output; each module's running buffers get the update its own
    ``forward`` would make, ``new_i = new_0 + (1 - momentum) * (old_i - old_0)``.
    """
    bn = bns[0]
    if not bn.track_running_stats:
        return nn.functional.batch_norm(x, None, None, None, None, True, 0.0, bn.eps)
    for b in bns:
        cast(Tensor, b.num_batches_tracked).add_(1)
    momentum = bn.momentum if bn.momentum is not None else 1.0 / float(cast(Tensor, bn.num_batches_tracked))
    mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)
    old = (mean.clone(), var.clone()) if len(bns) > 1 else None
    out = nn.functional.batch_norm(x, mean, var, None, None, True, momentum, bn.eps)
    if old is not None:
        with torch.no_grad():
            for b in bns[1:]:
                for buffer, new, old_0 in ((b.running_mean, mean, old[0]), (b.running_var, var, old[1])):
                    cast(Tensor, buffer).sub_(old_0).mul_(1.0 - momentum).add_(new)
    return out


class _FusedSearchCell(_SearchCell):
    """A supernet cell computed per source node instead of per edge; equal to :class:`_SearchCell` up to rounding.

    It owns the very same modules (``edges.{e}.ops.{o}``), so parameters, buffers and ``state_dict`` keys are those
    of the per-edge cell, and the two load each other's checkpoints. Only ``forward`` differs:

    * Per source node, the ReLU in front of the convs, each pooling with its affine-free BatchNorm (in training
      mode: batch statistics make it the same for every edge; every edge's running buffers are updated) and the
      identity are computed once and shared by all edges leaving the node; ``none`` is never computed.
    * The conv ops (``sep_conv_3x3``, ..., ``dil_conv_5x5``) read the node's shared ReLU. On a CPU, each edge's
      op runs as its own calls (measured: oneDNN's backward of a batched depthwise or grouped pointwise conv is
      2-4x slower than the separate calls it replaces), with the mixing weight as its last BatchNorm's scale, in
      ``channels_last`` (the supernet converts its input on a CPU: the convs' backward and the pooling are 1.5-3x
      faster in it). Elsewhere each conv op of all edges leaving a node runs as one call per
      stage: the ReLU output repeated once per edge, one depthwise conv with the edges' kernels concatenated
      (``torch.cat`` in ``forward``, so gradients reach the edges' own parameters), one grouped pointwise conv
      (``groups`` = edges), one ``batch_norm`` on the stacked channels with the edges' running buffers
      concatenated and written back. The last BatchNorm takes the mixing weight ``beta_e * w_eo`` of each channel
      as its scale, so weighting conv outputs costs nothing, and the conv ops with the same edges are added
      before the result is split per edge. ``skip_connect`` at stride 2 (``FactorizedReduce``) stays per edge,
      on the shared ReLU, with its weight as BatchNorm scale.
    * Each node is one chain of in-place ``add``/``addcmul`` kernels over the terms of all its incoming edges.
      With PC-DARTS partial channels the channel shuffle is linear, so a node is
      ``shuffle(cat(sum_e beta_e mixed_e, sum_e beta_e bypass_e))``; the bypass of a stride-2 source is max-pooled
      once.
    * P-DARTS skip dropout: the masks are drawn at the start of the cell, one per edge with an identity
      ``skip_connect``, in edge order and with the shape and dtype of the per-edge cell's, so a seeded run draws
      the same masks.
    """

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
        super().__init__(C_pp, C_p, C, reduction, reduction_prev, edge_ops, partial_channels)
        self.partial_channels = partial_channels
        self._plans = _plan_sources(edge_ops, reduction)
        self._droppable_edges = tuple(
            edge
            for edge, (_, source) in enumerate(DARTS_EDGES)
            if "skip_connect" in edge_ops[edge] and not (reduction and source < 2)
        )

    def forward(
        self,
        s0: Tensor,
        s1: Tensor,
        weights: Tensor | Sequence[Sequence[Tensor]],
        betas: Tensor | Sequence[Tensor] | None,
        skip_dropout: float,
    ) -> Tensor:
        if not isinstance(weights, Tensor):
            weights = torch.stack([torch.stack(tuple(row)) for row in weights])
        if betas is not None and not isinstance(betas, Tensor):
            betas = torch.stack(tuple(betas))
        coef = weights if betas is None else weights * betas.unsqueeze(1)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        k = self.partial_channels
        channels = states[1].shape[1]
        width = channels // k
        masks = self._skip_masks(states[1], width, skip_dropout)
        terms: list[list[tuple[Tensor, Tensor | None]]] = [[] for _ in range(_STEPS)]
        bypass: list[list[tuple[Tensor, Tensor | None]]] = [[] for _ in range(_STEPS)]
        for source, plan in enumerate(self._plans):
            if source >= 2:
                states.append(self._node(terms[source - 2], bypass[source - 2], k, width))
            x = states[source]
            part = x if k == 1 else x[:, :width]
            if k > 1 and _is_channels_last(x):  # a channel slice is not channels_last: ops on it would run NCHW
                part = part.contiguous(memory_format=torch.channels_last)
            self._edges_out(part, plan, coef, terms, masks, width)
            if k > 1:
                rest = x[:, width:]
                if plan.stride > 1:
                    rest = nn.functional.max_pool2d(rest, 2, 2)
                for edge in plan.edges:
                    bypass[DARTS_EDGES[edge][0] - 2].append((rest, None if betas is None else betas[edge]))
        states.append(self._node(terms[-1], bypass[-1], k, width))
        return torch.cat(states[2:], dim=1)

    def _skip_masks(self, like: Tensor, width: int, skip_dropout: float) -> dict[int, Tensor]:
        if not (self.training and skip_dropout > 0 and self._droppable_edges):
            return {}
        batch, _, height, side = like.shape
        if self.reduction:
            height, side = (height + 1) // 2, (side + 1) // 2
        ones = torch.ones(batch, width, height, side, dtype=like.dtype, device=like.device)
        return {edge: nn.functional.dropout(ones, p=skip_dropout) for edge in self._droppable_edges}

    def _edges_out(
        self,
        part: Tensor,
        plan: _SourcePlan,
        coef: Tensor,
        terms: list[list[tuple[Tensor, Tensor | None]]],
        masks: Mapping[int, Tensor],
        width: int,
    ) -> None:
        """Append the (weighted) outputs of all edges leaving the node ``part`` to their target nodes' terms."""
        stride = plan.stride
        factorized = [(edge, op) for edge, op in plan.skips if stride > 1]
        relu = nn.functional.relu(part) if plan.convs or factorized else None
        if plan.convs and part.device.type == "cpu":
            # one call per edge and stage on the shared ReLU: on a CPU, batching the edges' depthwise convs (and
            # grouping their pointwise ones) makes the backward several times slower than separate calls
            for name, members in plan.convs:
                for edge, op in members:
                    out = self._edge_conv(cast(Tensor, relu), name, edge, op, coef[edge, op], stride, width)
                    terms[DARTS_EDGES[edge][0] - 2].append((out, None))
        elif plan.convs:
            repeated: dict[int, Tensor] = {}
            summed: dict[tuple[int, ...], Tensor] = {}
            for name, members in plan.convs:
                out = self._conv(cast(Tensor, relu), name, members, coef, stride, width, repeated)
                key = tuple(edge for edge, _ in members)
                summed[key] = out if key not in summed else summed[key] + out
            for key, out in summed.items():
                for edge, block in zip(key, out.split(width, dim=1) if len(key) > 1 else (out,), strict=True):
                    terms[DARTS_EDGES[edge][0] - 2].append((block, None))
        for members, pool in ((plan.max_pools, "max"), (plan.avg_pools, "avg")):
            if not members:
                continue
            if pool == "max":
                pooled = nn.functional.max_pool2d(part, 3, stride, 1)
            else:
                pooled = nn.functional.avg_pool2d(part, 3, stride, 1, count_include_pad=False)
            bns = [cast(nn.BatchNorm2d, self.edges[edge].ops[op][1]) for edge, op in members]
            if bns[0].training or not bns[0].track_running_stats:
                shared = _shared_batch_norm(pooled, bns)
                for edge, op in members:
                    terms[DARTS_EDGES[edge][0] - 2].append((shared, coef[edge, op]))
            else:  # running statistics: each edge's own
                for (edge, op), bn in zip(members, bns, strict=True):
                    scale = coef[edge, op].expand(width)
                    terms[DARTS_EDGES[edge][0] - 2].append((stacked_batch_norm(pooled, [bn], scale), None))
        for edge, op in plan.skips:
            node = DARTS_EDGES[edge][0] - 2
            if stride == 1:
                terms[node].append((part * masks[edge] if edge in masks else part, coef[edge, op]))
                continue
            reduce = cast(FactorizedReduce, self.edges[edge].ops[op])
            relu = cast(Tensor, relu)
            out = torch.cat([reduce.conv_1(relu), reduce.conv_2(relu[:, :, 1:, 1:])], dim=1)
            terms[node].append((stacked_batch_norm(out, [reduce.bn], coef[edge, op].expand(width)), None))

    def _edge_conv(self, relu: Tensor, name: str, edge: int, op: int, coef: Tensor, stride: int, width: int) -> Tensor:
        """The conv op ``name`` of one edge on the shared ReLU, weighted by ``coef`` as its last BatchNorm's scale."""
        _, padding, dilation, separable = _CONV_SPECS[name]
        layers = cast(nn.Sequential, self.edges[edge].ops[op])

        def stage(x: Tensor, first: int, stride: int, dilation: int, weight: Tensor | None) -> Tensor:
            x = _depthwise_conv(x, cast(nn.Conv2d, layers[first]).weight, stride, padding, dilation)
            x = nn.functional.conv2d(x, cast(nn.Conv2d, layers[first + 1]).weight)
            return stacked_batch_norm(x, [cast(nn.BatchNorm2d, layers[first + 2])], weight)

        scale = coef.expand(width)
        if not separable:
            return stage(relu, 1, stride, dilation, scale)
        return stage(nn.functional.relu(stage(relu, 1, stride, 1, None)), 5, 1, 1, scale)

    def _conv(
        self,
        relu: Tensor,
        name: str,
        members: _Members,
        coef: Tensor,
        stride: int,
        width: int,
        repeated: dict[int, Tensor],
    ) -> Tensor:
        """The conv op ``name`` of all ``members`` at once, weighted; channel block ``j`` is member ``j``."""
        kernel_size, padding, dilation, separable = _CONV_SPECS[name]
        ops = [cast(nn.Sequential, self.edges[edge].ops[op]) for edge, op in members]
        m = len(ops)
        if m not in repeated:
            repeated[m] = relu if m == 1 else relu.repeat(1, m, 1, 1)
        scale = coef[[edge for edge, _ in members], [op for _, op in members]]
        scale = scale.unsqueeze(1).expand(m, width).reshape(-1)

        def stage(x: Tensor, first: int, stride: int, dilation: int, weight: Tensor | None) -> Tensor:
            depthwise = _cat([cast(nn.Conv2d, op[first]).weight for op in ops])
            x = _depthwise_conv(x, depthwise, stride, padding, dilation)
            pointwise = _cat([cast(nn.Conv2d, op[first + 1]).weight for op in ops])
            # the grouped 1x1 conv as one batched matmul (CPU's grouped conv backward is several times slower)
            batch, _, height, side = x.shape
            x = torch.matmul(pointwise.view(m, width, width), x.reshape(batch, m, width, height * side))
            x = x.view(batch, m * width, height, side)
            return stacked_batch_norm(x, [cast(nn.BatchNorm2d, op[first + 2]) for op in ops], weight)

        if not separable:
            return stage(repeated[m], 1, stride, dilation, scale)
        x = stage(repeated[m], 1, stride, 1, None)
        return stage(nn.functional.relu(x), 5, 1, 1, scale)

    def _node(
        self,
        terms: Sequence[tuple[Tensor, Tensor | None]],
        bypass: Sequence[tuple[Tensor, Tensor | None]],
        k: int,
        width: int,
    ) -> Tensor:
        mixed = _weighted_sum(terms)
        if k == 1:
            return mixed
        rest = _weighted_sum(bypass)
        # = channel_shuffle(cat([mixed, rest]), k): mixed channel i goes to i * k, rest group g channel i to i * k + g
        shuffled = torch.cat([mixed.unsqueeze(2), rest.unflatten(1, (k - 1, width)).transpose(1, 2)], dim=2)
        return shuffled.flatten(1, 2)


def _depthwise_conv(x: Tensor, weight: Tensor, stride: int, padding: int, dilation: int) -> Tensor:
    """A depthwise conv; with dilation 2 on even sizes, as undilated convs on the 2 x 2 polyphase components.

    A dilation-2 conv reads only pixels of one parity, so it is the plain conv (half the padding) of each parity
    grid: the even grid alone at stride 2, all four grids interleaved at stride 1. Exact, and several times
    faster on CPU than the dilated kernel.
    """
    channels = x.shape[1]
    batch, _, height, side = x.shape
    channels_last = _is_channels_last(x)
    if dilation != 2 or padding % 2 or height % 2 or side % 2 or stride > 2 or (channels_last and stride == 1):
        return nn.functional.conv2d(x, weight, None, stride, padding, dilation, channels)
    if stride == 2:
        return nn.functional.conv2d(x[:, :, ::2, ::2], weight, None, 1, padding // 2, 1, channels)
    grids = x.view(batch, channels, height // 2, 2, side // 2, 2).permute(0, 3, 5, 1, 2, 4)
    grids = grids.reshape(batch * 4, channels, height // 2, side // 2)
    out = nn.functional.conv2d(grids, weight, None, 1, padding // 2, 1, channels)
    out = out.view(batch, 2, 2, channels, height // 2, side // 2).permute(0, 3, 4, 1, 5, 2)
    return out.reshape(batch, channels, height, side)


def _is_channels_last(x: Tensor) -> bool:
    """Whether the 4-d ``x`` is laid out channels last (and not also contiguous, as a 1 x 1 map is)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _cat(tensors: Sequence[Tensor]) -> Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(list(tensors))


def _weighted_sum(terms: Sequence[tuple[Tensor, Tensor | None]]) -> Tensor:
    """``sum_i c_i * t_i`` over ``(t_i, c_i)`` pairs (``c_i = None``: weight 1) as a chain of in-place kernels."""
    plain = [tensor for tensor, coefficient in terms if coefficient is None]
    weighted = [(tensor, cast(Tensor, coefficient)) for tensor, coefficient in terms if coefficient is not None]
    if len(plain) >= 2:
        out = plain[0] + plain[1]
    elif plain:
        tensor, coefficient = weighted.pop(0) if weighted else (None, None)
        if tensor is None:
            return plain[0]
        out = torch.addcmul(plain[0], tensor, coefficient)
    else:
        tensor, coefficient = weighted.pop(0)
        out = tensor * coefficient
    for tensor in plain[2:]:
        out.add_(tensor)
    for tensor, coefficient in weighted:
        out.addcmul_(tensor, coefficient)
    return out
