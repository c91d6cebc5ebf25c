"""The NAS-Bench-201 cell search space, as DARTS searches it in xautodl (``TinyNetworkDarts``).

A cell has 4 nodes: node 0 is the cell input and node ``i`` (1..3) sums one operation on every earlier node,
which gives 6 edges, ordered ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` (:data:`NB201_EDGES`). Every edge picks
one of 5 operations, in this order (:data:`NB201_OPS`): ``none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3``, so the space holds 5**6 = 15,625 cells. The cell output is node 3.

The macro network is a stem (Conv3x3 + BN), ``N`` cells at ``C`` channels, a residual reduction block to
``2C`` (stride 2), ``N`` cells, a block to ``4C``, ``N`` cells, and a head (BN, ReLU, global average pool,
Linear). The supernet replaces each edge by a mixed op, the sum of all 5 ops weighted by the softmax of the
edge's row of the architecture parameter ``arch_alpha`` (shape ``[6, 5]``, shared by all cells).

Two PC-DARTS options apply to the supernet: ``partial_channels=K`` computes each mixed edge on the first ``C / K``
channels only (the rest bypass the ops, then the channels are shuffled), and ``edge_normalization=True`` weighs
each node's incoming edges by the softmax of their entries of ``arch_beta`` (shape ``[6]``).

The supernet's search cells are *fused* by default (``fused=True``): they compute the edges leaving a node together
(shared ReLU, pooling and identity, the convs of those edges stacked into one conv per kernel size, BatchNorm scaled
by the mixing weights, one fused weighted sum per node) instead of edge by edge and op by op. ``fused=False`` builds
the per-edge cells of the research code, which stay as the reference: both hold the same modules and ``state_dict``
keys and give the same outputs and gradients up to rounding.

The ops are registered in the ``"nasbench201"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory
takes ``(C, *, affine, track_running_stats)`` and returns a module that maps ``[B, C, H, W]`` to the same shape.

References:
    Xuanyi Dong and Yi Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search.
    ICLR 2020 (Section 2.1 and Figure 1: cell, ops and macro skeleton).
    Hanxiao Liu, Karen Simonyan and Yiming Yang. DARTS: Differentiable Architecture Search. ICLR 2019
    (Eq. 2: the mixed op).
    Yuhui Xu et al. PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search. ICLR 2020
    (Eq. 2: partial channels; Eq. 4: edge normalization).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import (
    Genotype,
    SearchSpace,
    StepOrder,
    Supernet,
    _check_positive_int,
    get_op,
    register_op,
    register_search_space,
)
from lightning_nas.spaces.darts import channel_shuffle
from lightning_nas.spaces.fused import stacked_batch_norm

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "NB201_EDGES",
    "NB201_OPS",
    "NASBench201Genotype",
    "NASBench201Network",
    "NASBench201Space",
    "NASBench201Supernet",
    "ReLUConvBN",
    "ResidualReductionBlock",
    "Zero",
]

SPACE_NAME = "nasbench201"

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The 5 candidate ops, in the order of the columns of ``arch_alpha``."""

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The 6 edges as ``(node, input)`` pairs, in the order of the rows of ``arch_alpha`` (xautodl's ``"i<-j"``)."""

_NODE_EDGES = (1, 2, 3)  # incoming edges of nodes 1, 2, 3: the groups of `arch_beta`

_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


# ------------------------------------------------------------------------------------------------- operations
class ReLUConvBN(nn.Sequential):
    """ReLU, Conv(k x k, padding k // 2, no bias), BatchNorm: NAS-Bench-201's ``nor_conv_kxk``.

    The convolution has no bias in the search cells either. xautodl sets ``bias = not affine``, which gives the
    search convs a bias that the following BatchNorm cancels anyway; that quirk is not copied.

    Args:
        C_in: Input channels.
        C_out: Output channels.
        kernel_size: Side of the square kernel.
        stride: Convolution stride.
        affine: Whether the BatchNorm has a learnable scale and shift.
        track_running_stats: Whether the BatchNorm keeps running statistics (else it always uses batch statistics).
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int = 1,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like its input."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)


@register_op("none", space=SPACE_NAME)
def _none(C: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    return Zero()


@register_op("skip_connect", space=SPACE_NAME)
def _skip_connect(C: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    return nn.Identity()


@register_op("nor_conv_1x1", space=SPACE_NAME)
def _nor_conv_1x1(C: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    return ReLUConvBN(C, C, 1, affine=affine, track_running_stats=track_running_stats)


@register_op("nor_conv_3x3", space=SPACE_NAME)
def _nor_conv_3x3(C: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    return ReLUConvBN(C, C, 3, affine=affine, track_running_stats=track_running_stats)


@register_op("avg_pool_3x3", space=SPACE_NAME)
def _avg_pool_3x3(C: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class ResidualReductionBlock(nn.Module):
    """The ResNet basic block (stride 2) between the stages: ``shortcut(x) + conv_b(conv_a(x))``.

    ``conv_a`` is ReLU-Conv3x3(stride 2)-BN, ``conv_b`` is ReLU-Conv3x3-BN (affine BN with running
    statistics), the shortcut is AvgPool(2, stride 2) followed by a 1x1 conv without BN. The pool uses
    ``ceil_mode=True``, which changes nothing for even sizes (CIFAR, ImageNet16) and lets odd sizes such as
    7x7 through, matching the conv's output size.

    Args:
        C_in: Input channels.
        C_out: Output channels.
    """

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride=2)
        self.conv_b = ReLUConvBN(C_out, C_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


# --------------------------------------------------------------------------------------------------- genotype
@dataclass(frozen=True, repr=False)
class NASBench201Genotype(Genotype):
    """A NAS-Bench-201 cell: for each node 1..3, its ``(op, input)`` pairs over inputs ``0..node-1``.

    The canonical string is NAS-Bench-201's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, the key of the benchmark's
    tables. The genotype is immutable and hashable.

    Args:
        nodes: Three tuples, node ``i``'s holding ``i`` pairs ``(op, j)`` for ``j = 0..i-1`` in order.

    Raises:
        ValueError: If the nodes do not have that structure or an op is not in :data:`NB201_OPS`.

    Example:
        >>> g = NASBench201Genotype.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|"
        ...                                     "nor_conv_1x1~1|skip_connect~2|")
        >>> g.nodes[1]
        (('none', 0), ('skip_connect', 1))
        >>> g.ops
        ('nor_conv_3x3', 'none', 'skip_connect', 'avg_pool_3x3', 'nor_conv_1x1', 'skip_connect')
        >>> NASBench201Genotype.from_ops(g.ops) == g
        True
        >>> str(NASBench201Genotype.from_ops(["skip_connect"] * 6))
        '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
        >>> sum(1 for _ in NASBench201Genotype.all())
        15625
        >>> NASBench201Genotype.from_json(g.to_json()) == g
        True

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020 (Section 2.1: the cell and its string form).
    """

    space: ClassVar[str] = SPACE_NAME
    nodes: tuple[tuple[tuple[str, int], ...], ...]

    def __post_init__(self) -> None:
        nodes = self.nodes
        if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence) or len(nodes) != 3:
            raise ValueError(f"`NASBench201Genotype(nodes={nodes!r})`: `nodes` must hold 3 nodes.")
        normalised = []
        for i, node in enumerate(nodes, start=1):
            if isinstance(node, (str, bytes)) or not isinstance(node, Sequence) or len(node) != i:
                raise ValueError(
                    f"`NASBench201Genotype(nodes={nodes!r})`: node {i} must hold {i} (op, input) pairs. "
                    f"Got {node!r} instead."
                )
            pairs = []
            for j, pair in enumerate(node):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: node {i} must hold (op, input) pairs. "
                        f"Got {pair!r} instead."
                    )
                op, source = pair
                if op not in NB201_OPS:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: unknown op {op!r} at node {i}. "
                        f"Allowed ops: {list(NB201_OPS)}."
                    )
                if isinstance(source, bool) or not isinstance(source, int) or source != j:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: edge {len(pairs) + 1} of node {i} must take "
                        f"input {j} (node {i} takes inputs 0..{i - 1} in order). Got {source!r} instead."
                    )
                pairs.append((op, j))
            normalised.append(tuple(pairs))
        object.__setattr__(self, "nodes", tuple(normalised))

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` strictly (no extra whitespace or separators).

        Raises:
            ValueError: If ``s`` is malformed (node or edge count, input index, unknown op) or is a DARTS-space
                genotype; the message names the bad part and the allowed ops.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        if s.lstrip().startswith("Genotype(") or "normal=" in s or "reduce=" in s:
            raise ValueError(
                f"{s!r} looks like a DARTS-space genotype (`Genotype(normal=..., reduce=...)`), which belongs to "
                f"another search space; a NAS-Bench-201 genotype has the form {_FORMAT!r}."
            )
        parts = s.split("+")
        if len(parts) != 3:
            raise _malformed(s, f"expected 3 nodes separated by '+', got {len(parts)}")
        nodes = []
        for i, part in enumerate(parts, start=1):
            if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
                raise _malformed(s, f"node {i} ({part!r}) must start and end with '|'")
            tokens = part[1:-1].split("|")
            if len(tokens) != i:
                raise _malformed(
                    s,
                    f"node {i} ({part!r}) must have {i} edge(s), one from each of the nodes "
                    f"0..{i - 1}, got {len(tokens)}",
                )
            pairs = []
            for j, token in enumerate(tokens):
                op, sep, source = token.partition("~")
                if not sep or "~" in source:
                    raise _malformed(s, f"edge {token!r} of node {i} must have the form 'op~input'")
                if op not in NB201_OPS:
                    raise _malformed(s, f"unknown op {op!r} in node {i}")
                if source != str(j):
                    raise _malformed(
                        s,
                        f"edge {token!r} of node {i} must take input {j} (node {i} takes inputs "
                        f"0..{i - 1} in order), got {source!r}",
                    )
                pairs.append((op, j))
            nodes.append(tuple(pairs))
        return cls(tuple(nodes))

    @classmethod
    def from_ops(cls, ops: Sequence[str]) -> Self:
        """Build a genotype from its 6 op names in edge order (:data:`NB201_EDGES`).

        Raises:
            ValueError: If there are not 6 names or one is not in :data:`NB201_OPS`.
        """
        if isinstance(ops, str) or len(ops) != len(NB201_EDGES):
            raise ValueError(
                f"`{cls.__name__}.from_ops`: `ops` must hold {len(NB201_EDGES)} op names, one per edge "
                f"{[f'{node}<-{source}' for node, source in NB201_EDGES]}. Got {ops!r} instead."
            )
        nodes: list[list[tuple[str, int]]] = [[], [], []]
        for (node, source), op in zip(NB201_EDGES, ops, strict=True):
            nodes[node - 1].append((op, source))
        return cls(tuple(tuple(node) for node in nodes))

    @classmethod
    def all(cls) -> Iterator[Self]:
        """Yield all 5**6 = 15,625 cells, the last edge's op varying fastest (in :data:`NB201_OPS` order)."""
        for ops in itertools.product(NB201_OPS, repeat=len(NB201_EDGES)):
            yield cls.from_ops(ops)

    @property
    def ops(self) -> tuple[str, ...]:
        """The 6 op names in edge order (:data:`NB201_EDGES`)."""
        return tuple(op for node in self.nodes for op, _ in node)

    def __str__(self) -> str:
        return "+".join("|" + "|".join(f"{op}~{source}" for op, source in node) + "|" for node in self.nodes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.from_string({str(self)!r})"


def _malformed(s: str, reason: str) -> ValueError:
    return ValueError(
        f"Invalid NAS-Bench-201 genotype string {s!r}: {reason}. Expected the form {_FORMAT!r} with each op in "
        f"{list(NB201_OPS)}."
    )


# ---------------------------------------------------------------------------------------------------- supernet
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


def _build_macro(
    C: int, N: int, num_classes: int, in_channels: int, make_cell: Callable[[int], nn.Module]
) -> tuple[nn.Module, nn.ModuleList, nn.Module, nn.Linear]:
    stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    cells = nn.ModuleList()
    channels = C
    for stage in range(3):
        if stage > 0:
            cells.append(ResidualReductionBlock(channels, 2 * channels))
            channels *= 2
        cells.extend(make_cell(channels) for _ in range(N))
    head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return stem, cells, head, nn.Linear(channels, num_classes)


def _check_macro(owner: str, C: int, N: int, num_classes: int, in_channels: int) -> None:
    for name, value in (("C", C), ("N", N), ("num_classes", num_classes), ("in_channels", in_channels)):
        _check_positive_int(owner, name, value)


def _check_pcdarts(owner: str, C: int, partial_channels: object, edge_normalization: object) -> None:
    _check_positive_int(owner, "partial_channels", partial_channels)
    widths = [C, 2 * C, 4 * C]
    if any(width % cast(int, partial_channels) for width in widths):
        raise ValueError(
            f"`{owner}(partial_channels={partial_channels!r})`: `partial_channels` must divide the channels of every "
            f"cell, {widths} for C={C}. Got {partial_channels!r} instead."
        )
    if not isinstance(edge_normalization, bool):
        raise ValueError(
            f"`{owner}(edge_normalization={edge_normalization!r})`: `edge_normalization` must be a bool. "
            f"Got {edge_normalization!r} instead."
        )


def _check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a bool. Got {value!r} instead.")


def _check_cell_type(owner: str, cell: str) -> None:
    if cell != "cell":
        raise ValueError(f"`{owner}`: NAS-Bench-201 has one cell type, 'cell'. Got {cell!r} instead.")


def _check_candidate_ops(owner: str, candidate_ops: object) -> tuple[tuple[str, ...], ...]:
    """Validates ``{"cell": [ops of edge 0, ..., ops of edge 5]}`` (P-DARTS's reduced op sets)."""
    if candidate_ops is None:
        return (NB201_OPS,) * len(NB201_EDGES)
    edges = candidate_ops.get("cell") if isinstance(candidate_ops, dict) else None
    if (
        not isinstance(edges, (list, tuple))
        or set(candidate_ops) != {"cell"}
        or len(edges) != len(NB201_EDGES)
        or any(not isinstance(ops, (list, tuple)) or not ops for ops in edges)
        or len({len(ops) for ops in edges}) != 1
        or any(op not in NB201_OPS for ops in edges for op in ops)
        or any(len(set(ops)) != len(ops) for ops in edges)
    ):
        raise ValueError(
            f"`{owner}(candidate_ops={candidate_ops!r})`: `candidate_ops` must be {{'cell': [6 lists]}} with the "
            f"same number of distinct ops per edge, each op one of {list(NB201_OPS)}."
        )
    return tuple(tuple(ops) for ops in edges)


class NASBench201Supernet(Supernet):
    """The NAS-Bench-201 weight-sharing supernet (xautodl's ``TinyNetworkDarts``).

    Search-cell ops use BatchNorm without affine parameters; ``track_running_stats`` follows the flag (xautodl's
    scripts pass 0, so batch statistics are used in eval mode too). The stem, reduction blocks and head use
    affine BatchNorm with running statistics. Input height and width must be at least 4.

    By default (``fused=True``) the search cells compute the edges that leave a node together (see the module
    docstring), and on a CPU the supernet runs in ``torch.channels_last`` memory format (the input is converted in
    ``forward``; the convolutions' backward and the 3x3 pooling are several times faster in it there); the per-edge
    reference (``fused=False``) keeps the input's format. Second derivatives (e.g. Hessian-vector products in
    ``arch_alpha``) go through both.

    PC-DARTS options: with ``partial_channels = K > 1`` each mixed edge computes its ops on the first ``C / K``
    channels of its input (ops built with ``C / K`` channels); the other channels bypass the ops and the
    concatenation is channel-shuffled with ``K`` groups. With ``edge_normalization`` the parameter ``arch_beta``
    (``[6]``, ``1e-3 * N(0, 1)``) weighs the incoming edges of each node by their softmax within the node
    (node 1: edge 0; node 2: edges 1, 2; node 3: edges 3, 4, 5; see :meth:`normalized_betas`). The genotype stays
    the per-edge argmax of ``arch_alpha``: a node's beta weight scales all ops of an edge alike.

    Args:
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.
        track_running_stats: Whether the search cells' BatchNorms keep running statistics.
        partial_channels: PC-DARTS's ``K`` (1: off); must divide ``C``.
        edge_normalization: Whether to add PC-DARTS's edge normalization (``arch_beta``).
        candidate_ops: ``{"cell": [ops of each of the 6 edges]}`` (P-DARTS's reduced op sets); ``None``: all 5 ops.
        fused: Whether the search cells compute their edges together, per source node (shared ReLU, pooling and
            identity, one stacked convolution per conv kind, BatchNorm scaled by the mixing weights, one fused sum
            per node), instead of edge by edge and op by op as the research code does. Both give the same outputs
            and gradients up to rounding and have the same parameters, buffers and ``state_dict`` keys; the
            per-edge cells (``False``) are the reference the fused ones are tested against.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = NASBench201Supernet(C=4, N=1, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> net.arch_parameter_names(), tuple(net.arch_alpha.shape)
        (['arch_alpha'], (6, 5))
        >>> with torch.no_grad():
        ...     _ = net.arch_alpha.zero_().index_fill_(1, torch.tensor([1]), 1.0)
        >>> str(net.genotype())
        '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
        >>> pc = NASBench201Supernet(C=4, N=1, partial_channels=2, edge_normalization=True)
        >>> pc.arch_parameter_names()
        ['arch_alpha', 'arch_beta']
        >>> [round(float(w.sum()), 6) for w in pc.normalized_betas().detach().split([1, 2, 3])]
        [1.0, 1.0, 1.0]

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020; Liu et al., DARTS, ICLR 2019 (Eq. 2); Xu et al., PC-DARTS,
        ICLR 2020 (Eq. 2 and 4).
    """

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        track_running_stats: bool = False,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        _check_macro(type(self).__name__, C, N, num_classes, in_channels)
        _check_pcdarts(type(self).__name__, C, partial_channels, edge_normalization)
        _check_bool(type(self).__name__, "fused", fused)
        self._edge_ops = _check_candidate_ops(type(self).__name__, candidate_ops)
        self.fused = fused
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.skip_dropout = 0.0
        self.stem, self.cells, self.head, self.classifier = _build_macro(
            C,
            N,
            num_classes,
            in_channels,
            lambda channels: (_FusedSearchCell if fused else _SearchCell)(
                channels, track_running_stats, partial_channels, self._edge_ops
            ),
        )
        self._is_search_cell = tuple(isinstance(cell, _SearchCell) for cell in self.cells)
        self.arch_alpha = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(self._edge_ops[0])))
        if edge_normalization:
            self.arch_beta = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES)))

    cell_types: ClassVar[tuple[str, ...]] = ("cell",)

    def edge_weights(self) -> Tensor:
        """The mixing weights ``softmax(arch_alpha, dim=-1)``, shape ``[6, k]`` (``k = 5`` unless restricted)."""
        return torch.softmax(self.arch_alpha, dim=-1)

    def edge_ops(self, cell: str = "cell") -> list[list[str]]:
        """The candidate op names of each of the 6 edges, in the order of ``arch_alpha``'s columns."""
        _check_cell_type(type(self).__name__, cell)
        return [list(ops) for ops in self._edge_ops]

    def op_weights(self, cell: str = "cell") -> Tensor:
        """The weights op dropping ranks (P-DARTS): ``softmax(alpha)``, times the normalized betas if any."""
        _check_cell_type(type(self).__name__, cell)
        weights = self.edge_weights()
        return weights * self.normalized_betas().unsqueeze(1) if self.edge_normalization else weights

    def normalized_betas(self) -> Tensor:
        """PC-DARTS's edge weights ``[6]``: the softmax of ``arch_beta`` over each node's incoming edges.

        The groups are node 1: edge 0 (always weight 1), node 2: edges 1, 2, node 3: edges 3, 4, 5.

        Raises:
            RuntimeError: If the supernet was built without edge normalization.
        """
        if not self.edge_normalization:
            raise RuntimeError(
                f"`{type(self).__name__}.normalized_betas`: the supernet has no betas; build it with "
                "edge_normalization=True."
            )
        return torch.cat([torch.softmax(group, dim=-1) for group in self.arch_beta.split(_NODE_EDGES)])

    def forward(self, x: Tensor, weights: Tensor | None = None) -> Tensor:
        """Return the logits of ``x``.

        Args:
            x: Images, ``[B, in_channels, H, W]``.
            weights: Mixing weights ``[6, 5]`` to use instead of ``softmax(arch_alpha)`` (e.g. a Gumbel-softmax
                sample); computed once per call and shared by all cells. With edge normalization the normalized
                betas still weigh the edges.
        """
        if weights is None:
            weights = self.edge_weights()
        elif weights.shape != self.arch_alpha.shape:
            raise ValueError(
                f"`{type(self).__name__}.forward`: `weights` must have shape {tuple(self.arch_alpha.shape)}. "
                f"Got {tuple(weights.shape)} instead."
            )
        betas = self.normalized_betas() if self.edge_normalization else None
        cell_weights: Tensor | list[tuple[Tensor, ...]] = weights
        cell_betas: Tensor | tuple[Tensor, ...] | None = betas
        if not self.fused:  # the per-edge cells take one scalar tensor per op
            cell_weights = [row.unbind(0) for row in weights.unbind(0)]
            cell_betas = None if betas is None else betas.unbind(0)
        if self.fused and x.device.type == "cpu":  # faster on CPU, above all the convs' backward and the pooling
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)
        for cell, is_search_cell in zip(self.cells, self._is_search_cell, strict=True):
            h = cell(h, cell_weights, cell_betas, self.skip_dropout) if is_search_cell else cell(h)
        return self.classifier(self.head(h))

    def genotype(self) -> NASBench201Genotype:
        """Pick the argmax op of every edge, ``none`` included (xautodl's DARTS on NAS-Bench-201).

        Ties go to the op listed first in :data:`NB201_OPS`. Edge normalization does not change the genotype
        (every edge is kept, and a beta scales all ops of its edge alike).
        """
        best = self.arch_alpha.detach().argmax(dim=-1).tolist()
        return NASBench201Genotype.from_ops([ops[index] for ops, index in zip(self._edge_ops, best, strict=True)])


# ------------------------------------------------------------------------------------------- discrete network
class _DiscreteCell(nn.Module):
    """A cell with one op per edge; ``none`` edges are dropped and a node with no other input is zeros."""

    def __init__(self, genotype: NASBench201Genotype, C: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        wiring: list[tuple[tuple[int, int], ...]] = []
        for node in genotype.nodes:
            inputs = []
            for op, source in node:
                if op != "none":
                    inputs.append((len(self.ops), source))
                    self.ops.append(get_op(op, space=SPACE_NAME)(C, affine=True, track_running_stats=True))
            wiring.append(tuple(inputs))
        self._wiring = tuple(wiring)

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for inputs in self._wiring:
            if not inputs:
                nodes.append(torch.zeros_like(x))
                continue
            index, source = inputs[0]
            total = self.ops[index](nodes[source])
            for index, source in inputs[1:]:
                total = total + self.ops[index](nodes[source])
            nodes.append(total)
        return nodes[3]


class NASBench201Network(nn.Module):
    """The discrete network of one NAS-Bench-201 cell: the supernet's macro skeleton with a fixed cell.

    Each edge holds its op with affine BatchNorm and running statistics; ``none`` edges hold nothing, and
    ``skip_connect`` and ``avg_pool_3x3`` have no parameters.

    Args:
        genotype: The cell, or its string.
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.

    Example:
        >>> net = NASBench201Network("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|",
        ...                          C=4, N=1, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, genotype: NASBench201Genotype | str, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        if isinstance(genotype, str):
            genotype = NASBench201Genotype.from_string(genotype)
        elif not isinstance(genotype, NASBench201Genotype):
            raise TypeError(
                f"`{type(self).__name__}`: `genotype` must be a NASBench201Genotype or its string. "
                f"Got {type(genotype).__name__} instead."
            )
        _check_macro(type(self).__name__, C, N, num_classes, in_channels)
        self.genotype = genotype
        self.stem, self.cells, self.head, self.classifier = _build_macro(
            C, N, num_classes, in_channels, lambda channels: _DiscreteCell(genotype, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.classifier(self.head(h))


# ------------------------------------------------------------------------------------------------------ space
@register_search_space(SPACE_NAME)
class NASBench201Space(SearchSpace):
    """The NAS-Bench-201 search space (registered as ``"nasbench201"``).

    Defaults are NAS-Bench-201's: 16 initial channels and 5 cells per stage. xautodl runs first-order DARTS
    with the weight step before the architecture step, hence ``default_step_order = "weights_first"``.

    Args:
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        in_channels: Channels of the input images (3 for RGB, 1 for grey-scale).
        track_running_stats: Whether the supernet's search-cell BatchNorms keep running statistics (xautodl's
            scripts: no).
        partial_channels: PC-DARTS's partial-channel ``K`` for the supernet's mixed edges (1: off); must divide
            ``C``. The discrete network is unaffected.
        edge_normalization: Whether the supernet has PC-DARTS's edge normalization (``arch_beta``, ``[6]``).
        candidate_ops: ``{"cell": [ops of each of the 6 edges]}``, the same count per edge: restricts the supernet's
            edges to these ops (P-DARTS's operation dropping); ``None``: all 5 ops everywhere.
        fused: Whether the supernet's search cells compute their edges together per source node (the fast path,
            see :class:`NASBench201Supernet`); ``False`` builds the per-edge reference cells. Same parameters and
            ``state_dict`` keys either way.

    Raises:
        ValueError: If ``C``, ``N``, ``in_channels`` or ``partial_channels`` is not a positive integer,
            ``partial_channels`` does not divide ``C``, or a flag is not a bool.

    Example:
        >>> space = NASBench201Space(C=4, N=1)
        >>> supernet = space.build_supernet(num_classes=10)
        >>> [tuple(p.shape) for p in supernet.arch_parameters()]
        [(6, 5)]
        >>> net = space.build_network(str(supernet.genotype()), num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> NASBench201Space(C=0)
        Traceback (most recent call last):
        ...
        ValueError: `NASBench201Space(C=0)`: `C` must be a positive integer. Got 0 instead.

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020; Liu et al., DARTS, ICLR 2019.
    """

    name: ClassVar[str] = SPACE_NAME
    genotype_type: ClassVar[type[Genotype]] = NASBench201Genotype
    default_step_order: ClassVar[StepOrder] = "weights_first"

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        in_channels: int = 3,
        track_running_stats: bool = False,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        for arg, value in (("C", C), ("N", N), ("in_channels", in_channels)):
            _check_positive_int(type(self).__name__, arg, value)
        if not isinstance(track_running_stats, bool):
            raise ValueError(
                f"`NASBench201Space(track_running_stats={track_running_stats!r})`: `track_running_stats` must be "
                f"a bool. Got {track_running_stats!r} instead."
            )
        _check_pcdarts(type(self).__name__, C, partial_channels, edge_normalization)
        self.C = C
        self.N = N
        self.in_channels = in_channels
        self.track_running_stats = track_running_stats
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        _check_candidate_ops(type(self).__name__, candidate_ops)
        self.candidate_ops = candidate_ops
        _check_bool(type(self).__name__, "fused", fused)
        self.fused = fused

    def build_supernet(self, num_classes: int) -> NASBench201Supernet:
        """Build a :class:`NASBench201Supernet` with freshly initialised weights and ``arch_alpha``."""
        return NASBench201Supernet(
            C=self.C,
            N=self.N,
            num_classes=num_classes,
            in_channels=self.in_channels,
            track_running_stats=self.track_running_stats,
            partial_channels=self.partial_channels,
            candidate_ops=self.candidate_ops,
            edge_normalization=self.edge_normalization,
            fused=self.fused,
        )

    def build_network(self, genotype: Genotype | str, num_classes: int) -> NASBench201Network:
        """Build the discrete :class:`NASBench201Network` of ``genotype``.

        Raises:
            ValueError: If ``genotype`` is a malformed string or belongs to another space.
        """
        return NASBench201Network(
            self.parse_genotype(genotype), C=self.C, N=self.N, num_classes=num_classes, in_channels=self.in_channels
        )

    def parse_genotype(self, genotype: Genotype | str) -> NASBench201Genotype:
        """Return ``genotype`` as a :class:`NASBench201Genotype`, parsing it if it is a string."""
        return cast(NASBench201Genotype, super().parse_genotype(genotype))

    def __repr__(self) -> str:
        # the PC-DARTS options are shown only when set, so the default repr stays NAS-Bench-201's
        extra = "" if self.partial_channels == 1 else f", partial_channels={self.partial_channels}"
        extra += ", edge_normalization=True" if self.edge_normalization else ""
        extra += "" if self.fused else ", fused=False"
        return (
            f"{type(self).__name__}(C={self.C}, N={self.N}, in_channels={self.in_channels}, "
            f"track_running_stats={self.track_running_stats}{extra})"
        )
