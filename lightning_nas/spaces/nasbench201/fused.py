"""The fused NAS-Bench-201 search cell: the edges leaving a node computed together, one weighted sum per node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.fused import stacked_batch_norm
from lightning_nas.spaces.nasbench201.ops import NB201_EDGES, NB201_OPS, ReLUConvBN
from lightning_nas.spaces.nasbench201.reference import _SearchCell


@dataclass(frozen=True)
class _SourcePlan:
    """What the fused cell computes once for one source node: its edges' ops, grouped by kind.

    ``convs`` holds ``(kernel size, ((edge, op column), ...))`` per conv kind present on the node's outgoing edges,
    ``pools`` and ``skips`` the ``(edge, op column)`` pairs of ``avg_pool_3x3`` and ``skip_connect``.
    """

    convs: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]
    pools: tuple[tuple[int, int], ...]
    skips: tuple[tuple[int, int], ...]

    @property
    def same_conv_edges(self) -> bool:
        """Whether both conv kinds are present, on the same edges."""
        return len(self.convs) == 2 and [e for e, _ in self.convs[0][1]] == [e for e, _ in self.convs[1][1]]


_CONV_KERNELS = (("nor_conv_3x3", 3), ("nor_conv_1x1", 1))


def _plan_sources(edge_ops: Sequence[Sequence[str]]) -> tuple[_SourcePlan, ...]:
    plans = []
    for source in range(3):
        out = [edge for edge, (_, s) in enumerate(NB201_EDGES) if s == source]

        def pairs(name: str, out: list[int] = out) -> tuple[tuple[int, int], ...]:
            return tuple((edge, list(edge_ops[edge]).index(name)) for edge in out if name in edge_ops[edge])

        convs = tuple((kernel, pairs(name)) for name, kernel in _CONV_KERNELS if pairs(name))
        plans.append(_SourcePlan(convs, pairs("avg_pool_3x3"), pairs("skip_connect")))
    return tuple(plans)


def _weighted_sum(terms: Sequence[tuple[Tensor, Tensor | None]]) -> Tensor | None:
    """``sum_i c_i * t_i`` over ``(t_i, c_i)`` pairs (``c_i = None``: weight 1); ``None`` if there are no terms."""
    if not terms:
        return None
    plain = [tensor for tensor, coefficient in terms if coefficient is None]
    weighted = [(tensor, coefficient) for tensor, coefficient in terms if coefficient is not None]
    if not weighted:
        return plain[0] if len(plain) == 1 else _WeightedSum.apply(None, len(plain), *plain)
    coefficients = torch.stack([cast(Tensor, coefficient) for _, coefficient in weighted])
    return _WeightedSum.apply(coefficients, len(plain), *plain, *(tensor for tensor, _ in weighted))


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum()`` without the temporary when both tensors are laid out alike and densely."""
    for memory_format in (torch.contiguous_format, torch.channels_last):
        if a.is_contiguous(memory_format=memory_format) and b.is_contiguous(memory_format=memory_format):
            if memory_format is torch.channels_last:
                a, b = a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)
            return torch.dot(a.reshape(-1), b.reshape(-1))
    return torch.sum(a * b)


class _WeightedSum(torch.autograd.Function):
    """``t_0 + ... + t_{n-1} + sum_i c_i * t_{n+i}`` as one chain of in-place kernels on a fresh tensor.

    Its backward passes the output gradient ``g`` unchanged to the unweighted terms, gives ``c_i * g`` to the
    weighted ones and ``<g, t_{n+i}>`` (a dot product, no temporary) to the coefficients, instead of autograd's
    ``mul``, ``mul`` and ``sum`` per ``addcmul``.
    """

    @staticmethod
    def forward(ctx: Any, coefficients: Tensor | None, n_plain: int, *tensors: Tensor) -> Tensor:
        plain, weighted = tensors[:n_plain], tensors[n_plain:]
        ctx.n_plain = n_plain
        ctx.save_for_backward(coefficients, *weighted)
        scales = coefficients.unbind(0) if coefficients is not None else ()
        if len(plain) >= 2:
            out = plain[0] + plain[1]
            rest = plain[2:]
        elif plain:
            out = torch.addcmul(plain[0], weighted[0], scales[0])
            rest, weighted, scales = (), weighted[1:], scales[1:]
        else:
            out = weighted[0] * scales[0]
            rest, weighted, scales = (), weighted[1:], scales[1:]
        for tensor in rest:
            out.add_(tensor)
        for tensor, scale in zip(weighted, scales, strict=True):
            out.addcmul_(tensor, scale)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        coefficients, *weighted = ctx.saved_tensors
        grad_coefficients = None
        if coefficients is not None and ctx.needs_input_grad[0]:
            grad_coefficients = torch.stack([_dot(grad, tensor) for tensor in weighted])
        scales = coefficients.unbind(0) if coefficients is not None else ()
        grad_weighted = [
            grad * scale if needed else None
            for scale, needed in zip(scales, ctx.needs_input_grad[2 + ctx.n_plain :], strict=True)
        ]
        return (grad_coefficients, None, *([grad] * ctx.n_plain), *grad_weighted)


class _FusedSearchCell(_SearchCell):
    """A supernet cell computed per source node instead of per edge; equal to :class:`_SearchCell` up to rounding.

    It owns the very same modules (``edges.{e}.ops.{o}``), so parameters, buffers and ``state_dict`` keys are those
    of the per-edge cell, and the two load each other's checkpoints. Only ``forward`` differs:

    * Per source node, the ReLU in front of the convs, the 3x3 average pool and the identity are computed once and
      shared by all edges leaving the node; ``none`` is never computed.
    * The convolutions of one kind (3x3, 1x1) of all edges leaving a node run as one convolution: the edges'
      weights are concatenated along the output channels (``torch.cat`` in ``forward``, so the gradients reach the
      edges' own parameters). One ``batch_norm`` call normalizes the stacked channels (the BatchNorms are
      per-channel, so it equals the per-edge ones) and takes the mixing weight ``beta_e * w_eo`` of each channel
      as its scale, so the weighting of conv outputs costs nothing. With ``track_running_stats`` the edges' running
      buffers are concatenated for the call and written back after it (train mode); the momentum and ``eps`` of
      the first BatchNorm are used (all are built alike).
    * Each node is one chain of ``add``/``addcmul`` kernels over the (weighted) terms of all its incoming edges.
      With PC-DARTS partial channels, the channel shuffle is linear, so a node is
      ``shuffle(cat(sum_e beta_e mixed_e, sum_e beta_e bypass_e))``, assembled by one ``torch.cat``.
    * The backward of that sum (:class:`_WeightedSum`) hands the output gradient unchanged to the unweighted terms
      and computes each coefficient's gradient as one dot product, without temporaries.
    * P-DARTS skip dropout: the masks are drawn at the start of the cell, one per edge holding ``skip_connect``, in
      edge order, as contiguous tensors with the shape and dtype the per-edge cell uses, so a seeded run draws the
      same masks as the per-edge cell on contiguous (NCHW) inputs.

    Any memory format works; channels_last (which :class:`NASBench201Supernet` uses on a CPU) is the fast one there.
    """

    def __init__(
        self,
        C: int,
        track_running_stats: bool,
        partial_channels: int = 1,
        edge_ops: Sequence[Sequence[str]] = (NB201_OPS,) * len(NB201_EDGES),
    ) -> None:
        super().__init__(C, track_running_stats, partial_channels, edge_ops)
        self.partial_channels = partial_channels
        self._sources = _plan_sources(edge_ops)
        self._skip_edges = tuple(edge for edge, ops in enumerate(edge_ops) if "skip_connect" in ops)

    def forward(
        self,
        x: Tensor,
        weights: Tensor | Sequence[Sequence[Tensor]],
        betas: Tensor | Sequence[Tensor] | None = None,
        skip_dropout: float = 0.0,
    ) -> Tensor:
        if not isinstance(weights, Tensor):
            weights = torch.stack([torch.stack(tuple(row)) for row in weights])
        if betas is not None and not isinstance(betas, Tensor):
            betas = torch.stack(tuple(betas))
        coef = weights if betas is None else weights * betas.unsqueeze(1)
        k = self.partial_channels
        width = x.shape[1] // k
        parts = [x.split([width, x.shape[1] - width], dim=1)] if k > 1 else []  # (ops' channels, bypass) of each node
        masks = {}
        if self.training and skip_dropout > 0:
            # drawn in the per-edge cell's order (edge by edge) on contiguous tensors shaped like its, so that a
            # seeded run draws the same masks as the per-edge cell on contiguous (NCHW) inputs
            like = x if k == 1 else parts[0][0]
            masks = {
                edge: nn.functional.dropout(x.new_ones(like.shape), p=skip_dropout).contiguous(
                    memory_format=_memory_format(x)
                )
                for edge in self._skip_edges
            }
        terms: list[list[tuple[Tensor, Tensor | None]]] = [[] for _ in range(4)]
        nodes = [x]
        for source, plan in enumerate(self._sources):
            part = nodes[source] if k == 1 else parts[source][0]
            if k > 1 and _memory_format(x) is torch.channels_last:  # a channel slice is not: its ops would run NCHW
                part = part.contiguous(memory_format=torch.channels_last)
            if plan.convs:
                relu = nn.functional.relu(part)
                outs = [self._conv_bn(relu, kernel_size, members, coef, width) for kernel_size, members in plan.convs]
                groups = [members for _, members in plan.convs]
                if plan.same_conv_edges:  # both conv kinds on the same edges: add them before splitting per edge
                    outs, groups = [outs[0] + outs[1]], groups[:1]
                for out, members in zip(outs, groups, strict=True):
                    # split, not slices: its backward is one `cat` instead of a zero-filled copy per slice
                    for (edge, _), block in zip(members, out.split(width, dim=1), strict=True):
                        terms[NB201_EDGES[edge][0]].append((block, None))
            if plan.pools:
                pooled = nn.functional.avg_pool2d(part, 3, stride=1, padding=1, count_include_pad=False)
                for edge, op in plan.pools:
                    terms[NB201_EDGES[edge][0]].append((pooled, coef[edge, op]))
            for edge, op in plan.skips:
                terms[NB201_EDGES[edge][0]].append((part * masks[edge] if masks else part, coef[edge, op]))
            nodes.append(self._node(source + 1, terms[source + 1], parts, betas, part))
            if k > 1 and source < 2:
                parts.append(nodes[-1].split([width, x.shape[1] - width], dim=1))
        return nodes[3]

    def _conv_bn(
        self, relu: Tensor, kernel_size: int, members: Sequence[tuple[int, int]], coef: Tensor, width: int
    ) -> Tensor:
        """Conv + BatchNorm of all ``members`` (edge, op) at once; channel block ``j`` is member ``j``, weighted."""
        ops = [cast(ReLUConvBN, self.edges[edge].ops[op]) for edge, op in members]
        convs = [cast(nn.Conv2d, op[1]) for op in ops]
        bns = [cast(nn.BatchNorm2d, op[2]) for op in ops]
        weight = convs[0].weight if len(convs) == 1 else torch.cat([conv.weight for conv in convs])
        out = nn.functional.conv2d(relu, weight, padding=kernel_size // 2)
        scale = torch.stack([coef[edge, op] for edge, op in members]).repeat_interleave(width)
        return stacked_batch_norm(out, bns, scale)

    def _node(
        self,
        node: int,
        terms: Sequence[tuple[Tensor, Tensor | None]],
        parts: Sequence[Sequence[Tensor]],
        betas: Tensor | None,
        part: Tensor,
    ) -> Tensor:
        mixed = _weighted_sum(terms)
        if mixed is None:  # every incoming edge is `none`
            mixed = torch.zeros_like(part)
        k = self.partial_channels
        if k == 1:
            return mixed
        width = part.shape[1]
        incoming = [(edge, source) for edge, (target, source) in enumerate(NB201_EDGES) if target == node]
        bypass = cast(
            Tensor,
            _weighted_sum([(parts[source][1], None if betas is None else betas[edge]) for edge, source in incoming]),
        )
        # = channel_shuffle(cat([mixed, bypass]), k): mixed channel i goes to i * k, bypass group g's channel i to
        # i * k + g; one `cat` in the layout of the input (in channels_last, channels are the last dimension)
        if _memory_format(part) is torch.channels_last:
            mixed, bypass = mixed.permute(0, 2, 3, 1), bypass.permute(0, 2, 3, 1)
            groups = bypass.unflatten(3, (k - 1, width)).transpose(3, 4)
            return torch.cat([mixed.unsqueeze(4), groups], dim=4).flatten(3, 4).permute(0, 3, 1, 2)
        shuffled = torch.cat([mixed.unsqueeze(2), bypass.unflatten(1, (k - 1, width)).transpose(1, 2)], dim=2)
        return shuffled.flatten(1, 2)


def _memory_format(x: Tensor) -> torch.memory_format:
    """``channels_last`` if ``x`` (4-d, possibly a channel slice) is laid out channels last, else contiguous."""
    strides = x.stride()
    if x.dim() == 4 and x.shape[1] > 1 and strides[1] == 1 and strides[3] >= x.shape[1]:
        return torch.channels_last
    return torch.contiguous_format
