"""The DARTS cell search space, with the PC-DARTS (partial channels, edge normalization) and P-DARTS options.

A cell takes two inputs, the outputs ``c_{k-2}`` and ``c_{k-1}`` of the two previous cells (nodes 0 and 1),
and has 4 intermediate nodes (2..5). Node ``i`` sums one operation on each of the ``i`` earlier nodes, which
gives 2 + 3 + 4 + 5 = 14 edges, ordered ``(2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0), ...``
(:data:`DARTS_EDGES`); the cell output is the channel concatenation of the intermediate nodes. Every edge picks
one of 8 operations, in this order (:data:`DARTS_OPS`): ``none, max_pool_3x3, avg_pool_3x3, skip_connect,
sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5``. Normal cells keep the resolution; reduction cells
(at layers ``layers // 3`` and ``2 * layers // 3``) double the channels and halve the resolution, their edges
from the two inputs having stride 2. A discrete cell (:class:`DARTSGenotype`) keeps 2 incoming edges per node.

The supernet (:class:`DARTSSupernet`) mixes all candidate ops of an edge with the softmax of that edge's row of
``arch_alpha_normal`` or ``arch_alpha_reduce`` (shape ``[14, 8]``, shared by all cells of the type). Options:

* ``partial_channels=K`` (PC-DARTS): only the first ``C / K`` channels of an edge's input go through its ops;
  the rest bypass them and the result is channel-shuffled (:func:`channel_shuffle`).
* ``edge_normalization=True`` (PC-DARTS): node ``i`` weighs its incoming edges by the softmax of their
  ``arch_beta_normal`` / ``arch_beta_reduce`` entries over the node's ``i`` edges.
* ``candidate_ops`` (P-DARTS): each edge mixes its own subset of the ops; the supernet attribute
  ``skip_dropout`` applies dropout to the identity ``skip_connect`` outputs in training mode.

The discrete network of a genotype (:class:`DARTSNetwork`) is DARTS's evaluation network (``NetworkCIFAR``, or
``NetworkImageNet`` with ``stem="imagenet"``), with optional auxiliary head and drop-path.

The ops are registered in the ``"darts"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory takes
``(C, stride, affine)`` and maps ``[B, C, H, W]`` to ``[B, C, H / stride, W / stride]``. Spatial sizes must be
even at every reduction (as in DARTS, whose ``FactorizedReduce`` needs them so).

References:
    Hanxiao Liu, Karen Simonyan and Yiming Yang. DARTS: Differentiable Architecture Search. ICLR 2019
    (Section 2.1: the cell; Eq. 2: the mixed op; Section 2.4: deriving the discrete cell; Appendix A.1).
    Yuhui Xu et al. PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search. ICLR 2020
    (Eq. 2: partial channels; Eq. 4: edge normalization; Section 3.3: channel shuffle).
    Xin Chen, Lingxi Xie, Jun Wu and Qi Tian. Progressive Differentiable Architecture Search: Bridging the Depth
    Gap between Search and Evaluation. ICCV 2019 (Section 3.2: search-space approximation, dropout on skips).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

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
from lightning_nas.spaces.fused import stacked_batch_norm

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DARTS_EDGES",
    "DARTS_OPS",
    "GENOTYPE_OPS",
    "CellType",
    "DARTSGenotype",
    "DARTSNetwork",
    "DARTSSpace",
    "DARTSSupernet",
    "DilConv",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "StemType",
    "Zero",
    "channel_shuffle",
    "derive_genotype",
]

SPACE_NAME = "darts"

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The 8 candidate ops, in the order of the columns of ``arch_alpha_normal`` and ``arch_alpha_reduce``."""

GENOTYPE_OPS: tuple[str, ...] = DARTS_OPS[1:]
"""The 7 ops a discrete cell may use (every op but ``none``)."""

DARTS_EDGES: tuple[tuple[int, int], ...] = tuple((node, source) for node in range(2, 6) for source in range(node))
"""The 14 edges as ``(node, input)`` pairs, in the order of the rows of the architecture parameters."""

CellType = Literal["normal", "reduce"]
"""The two cell types, each with its own architecture parameters."""

StemType = Literal["cifar", "imagenet"]
"""The CIFAR stem (one stride-1 conv) or the ImageNet stems (three stride-2 convs)."""

_STEPS = 4
_NUM_EDGES = len(DARTS_EDGES)
_CELLS: tuple[CellType, CellType] = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_POOLS = ("max_pool_3x3", "avg_pool_3x3")
_FORMAT = (
    "Genotype(normal=[(op, input), ...], normal_concat=[2, 3, 4, 5], reduce=[(op, input), ...], "
    "reduce_concat=[2, 3, 4, 5]) with 8 pairs per cell"
)


# ------------------------------------------------------------------------------------------------- operations
class ReLUConvBN(nn.Sequential):
    """ReLU, Conv (no bias), BatchNorm: DARTS's cell preprocessing (1 x 1 convs).

    Args:
        C_in: Input channels.
        C_out: Output channels.
        kernel_size: Side of the square kernel.
        stride: Convolution stride.
        padding: Zero padding on each side.
        affine: Whether the BatchNorm has a learnable scale and shift (search cells: no).

    Example:
        >>> ReLUConvBN(8, 4, 1)(torch.randn(2, 8, 6, 6)).shape
        torch.Size([2, 4, 6, 6])
    """

    def __init__(
        self, C_in: int, C_out: int, kernel_size: int, stride: int = 1, padding: int = 0, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise dilated conv (stride ``stride``), pointwise 1 x 1 conv, BatchNorm: ``dil_conv_kxk``.

    Args:
        C_in: Input channels.
        C_out: Output channels.
        kernel_size: Side of the depthwise kernel.
        stride: Stride of the depthwise conv.
        padding: Zero padding of the depthwise conv (``dilation * (kernel_size - 1) // 2`` keeps the size).
        dilation: Dilation of the depthwise conv.
        affine: Whether the BatchNorm has a learnable scale and shift.

    Example:
        >>> DilConv(4, 4, 3, stride=2, padding=2, dilation=2)(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked (ReLU, depthwise conv, pointwise conv, BatchNorm) blocks, the first strided: ``sep_conv_kxk``.

    Args:
        C_in: Input channels.
        C_out: Output channels.
        kernel_size: Side of the depthwise kernels.
        stride: Stride of the first depthwise conv (the second has stride 1).
        padding: Zero padding of both depthwise convs (``kernel_size // 2``).
        affine: Whether the BatchNorms have a learnable scale and shift.

    Example:
        >>> SepConv(4, 4, 5, stride=1, padding=2)(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: ReLU, two 1 x 1 stride-2 convs, concat, BatchNorm.

    The second conv sees the input shifted by one pixel in both directions, so the two halves of the output
    channels sample complementary pixels. It is ``skip_connect`` with stride 2 and the preprocessing of
    ``c_{k-2}`` after a reduction cell. The input height and width must be even.

    Args:
        C_in: Input channels.
        C_out: Output channels; must be even (each conv makes ``C_out // 2``).
        affine: Whether the BatchNorm has a learnable scale and shift.

    Raises:
        ValueError: If ``C_out`` is not a positive even integer.

    Example:
        >>> FactorizedReduce(3, 4)(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        _check_positive_int("FactorizedReduce", "C_in", C_in)
        _check_positive_int("FactorizedReduce", "C_out", C_out)
        if C_out % 2:
            raise ValueError(f"`FactorizedReduce(C_out={C_out!r})`: `C_out` must be even. Got {C_out!r} instead.")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the input subsampled by ``stride``.

    Args:
        stride: Subsampling step in height and width.

    Example:
        >>> Zero(stride=2)(torch.ones(1, 2, 5, 5)).shape
        torch.Size([1, 2, 3, 3])
    """

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        _check_positive_int("Zero", "stride", stride)
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


@register_op("none", space=SPACE_NAME)
def _none(C: int, stride: int, affine: bool) -> nn.Module:
    return Zero(stride)


@register_op("max_pool_3x3", space=SPACE_NAME)
def _max_pool_3x3(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.MaxPool2d(3, stride=stride, padding=1)


@register_op("avg_pool_3x3", space=SPACE_NAME)
def _avg_pool_3x3(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


@register_op("skip_connect", space=SPACE_NAME)
def _skip_connect(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine)


@register_op("sep_conv_3x3", space=SPACE_NAME)
def _sep_conv_3x3(C: int, stride: int, affine: bool) -> nn.Module:
    return SepConv(C, C, 3, stride, 1, affine=affine)


@register_op("sep_conv_5x5", space=SPACE_NAME)
def _sep_conv_5x5(C: int, stride: int, affine: bool) -> nn.Module:
    return SepConv(C, C, 5, stride, 2, affine=affine)


@register_op("dil_conv_3x3", space=SPACE_NAME)
def _dil_conv_3x3(C: int, stride: int, affine: bool) -> nn.Module:
    return DilConv(C, C, 3, stride, 2, 2, affine=affine)


@register_op("dil_conv_5x5", space=SPACE_NAME)
def _dil_conv_5x5(C: int, stride: int, affine: bool) -> nn.Module:
    return DilConv(C, C, 5, stride, 4, 2, affine=affine)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` equal channel groups: view ``[B, G, C / G, H, W]``, swap dims 1 and 2, flatten.

    Channel ``g * (C / G) + i`` moves to position ``i * G + g``. PC-DARTS shuffles each partial-channel edge's
    output with ``groups = K`` so that other channels fall into the first ``C / K`` in the next cell.

    Args:
        x: A ``[B, C, H, W]`` tensor.
        groups: Number of groups; must divide ``C``.

    Raises:
        ValueError: If ``groups`` is not a positive integer dividing the channels of ``x``.

    Example:
        >>> channel_shuffle(torch.arange(6.0).view(1, 6, 1, 1), groups=2).flatten().tolist()
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]

    References:
        Xu et al., PC-DARTS, ICLR 2020 (Section 3.3); Zhang et al., ShuffleNet, CVPR 2018 (channel shuffle).
    """
    _check_positive_int("channel_shuffle", "groups", groups)
    batch, channels, height, width = x.shape
    if channels % groups:
        raise ValueError(
            f"`channel_shuffle(groups={groups})`: `groups` must divide the {channels} channels of `x`. "
            f"Got {groups} instead."
        )
    return x.view(batch, groups, channels // groups, height, width).transpose(1, 2).reshape(x.shape)


def _drop_path(x: Tensor, drop_prob: float) -> Tensor:
    """Zero whole samples with probability ``drop_prob`` and scale the others by ``1 / (1 - drop_prob)``."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


# --------------------------------------------------------------------------------------------------- genotype
class _InvalidGenotype(ValueError):
    """A reason why a genotype is invalid, worded for both the constructor and the string parser."""


def _check_cell_pairs(field: str, value: object) -> tuple[tuple[str, int], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _InvalidGenotype(f"`{field}` must be a list of (op, input) pairs, got {value!r}")
    if len(value) != 2 * _STEPS:
        raise _InvalidGenotype(
            f"`{field}` must hold {2 * _STEPS} (op, input) pairs, two per intermediate node, got {len(value)}"
        )
    pairs = []
    for index, pair in enumerate(value):
        node = index // 2 + 2
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise _InvalidGenotype(f"`{field}` must hold (op, input) pairs, got {pair!r} at position {index}")
        op, source = pair
        if op == "none":
            raise _InvalidGenotype(
                f"pair {index} of `{field}` uses 'none', which a discrete cell cannot hold (it means no edge); "
                f"allowed ops: {list(GENOTYPE_OPS)}"
            )
        if op not in GENOTYPE_OPS:
            raise _InvalidGenotype(f"unknown op {op!r} in pair {index} of `{field}`; allowed ops: {list(GENOTYPE_OPS)}")
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node:
            raise _InvalidGenotype(
                f"pair {index} of `{field}` feeds node {node}, which takes inputs 0..{node - 1}, got {source!r}"
            )
        pairs.append((op, source))
    return tuple(pairs)


def _check_concat(field: str, value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise _InvalidGenotype(f"`{field}` must be a non-empty list of intermediate nodes, got {value!r}")
    nodes = tuple(value)
    for node in nodes:
        if isinstance(node, bool) or not isinstance(node, int) or not 2 <= node < 2 + _STEPS:
            raise _InvalidGenotype(
                f"`{field}` may only hold the intermediate nodes 2..{1 + _STEPS}, got {list(nodes)!r}"
            )
    if len(set(nodes)) != len(nodes):
        raise _InvalidGenotype(f"`{field}` must not repeat a node, got {list(nodes)!r}")
    return nodes


def _check_field(field: str, value: object) -> tuple[Any, ...]:
    return _check_concat(field, value) if field.endswith("_concat") else _check_cell_pairs(field, value)


def _literal_range(node: ast.expr) -> tuple[int, ...] | None:
    """``range(a, b)`` (1 to 3 integer literals) as a tuple, else ``None``."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        return None
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
    except (ValueError, TypeError, SyntaxError):
        return None
    if not all(isinstance(arg, int) and not isinstance(arg, bool) for arg in args):
        return None
    return tuple(range(*args))


@dataclass(frozen=True, repr=False)
class DARTSGenotype(Genotype):
    """A discrete DARTS architecture: a normal and a reduction cell, two ``(op, input)`` pairs per node.

    Pairs ``2i`` and ``2i + 1`` of a cell are the two incoming edges of node ``i + 2``; their inputs are
    ``0`` (``c_{k-2}``), ``1`` (``c_{k-1}``) or an earlier intermediate node ``2..i + 1``, and their ops are among
    :data:`GENOTYPE_OPS`. The ``*_concat`` tuples name the nodes whose outputs are concatenated (DARTS: all
    four, ``(2, 3, 4, 5)``). The canonical string is the form in which DARTS-family genotypes are published,
    ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
    reduce_concat=[2, 3, 4, 5])``; :meth:`from_string` also reads ``range(2, 6)`` for a concat. The genotype is
    immutable and hashable; lists given to the constructor are stored as tuples.

    Args:
        normal: The normal cell's 8 pairs.
        normal_concat: The normal cell's output nodes.
        reduce: The reduction cell's 8 pairs.
        reduce_concat: The reduction cell's output nodes.

    Raises:
        ValueError: If a cell has not 8 pairs, an input index is out of range, an op is unknown or ``none``, or a
            concat is empty, repeats a node or names a node outside 2..5.

    Example:
        >>> text = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        ...         "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        ...         "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
        ...         "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        ...         "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")
        >>> g = DARTSGenotype.from_string(text)  # DARTS (2nd order), CIFAR-10
        >>> g.normal[7], g.normal_concat
        (('dil_conv_3x3', 2), (2, 3, 4, 5))
        >>> str(g) == text.replace("range(2, 6)", "[2, 3, 4, 5]")
        True
        >>> DARTSGenotype.from_json(g.to_json()) == g
        True

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.4 and Figure 4: the discrete cells and their string form).
    """

    space: ClassVar[str] = SPACE_NAME
    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for field in _FIELDS:
            value = getattr(self, field)
            try:
                checked = _check_field(field, value)
            except _InvalidGenotype as err:
                raise ValueError(f"`DARTSGenotype({field}={value!r})`: {err}.") from None
            object.__setattr__(self, field, checked)

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``.

        The keyword values are read with :func:`ast.literal_eval` (never ``eval``); a concat may also be written
        ``range(a, b)``. Whitespace between tokens is free.

        Raises:
            ValueError: If ``s`` is malformed or invalid (see the class) or is a NAS-Bench-201 genotype; the
                message names the bad part and the allowed ops.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        if s.lstrip().startswith("|") or "~" in s:
            raise ValueError(
                f"{s!r} looks like a NAS-Bench-201 genotype (`|op~0|+|op~0|op~1|+...`), which belongs to another "
                f"search space; a DARTS genotype has the form {_FORMAT!r}."
            )
        try:
            tree = ast.parse(s.strip(), mode="eval")
        except SyntaxError:
            raise _malformed(s, "it is not a `Genotype(...)` expression") from None
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
            raise _malformed(s, "it is not a `Genotype(...)` expression")
        names = [keyword.arg for keyword in call.keywords]
        if call.args or sorted(names, key=str) != sorted(_FIELDS):
            raise _malformed(
                s,
                f"`Genotype(...)` takes the keyword arguments {list(_FIELDS)} once each, got {names} and "
                f"{len(call.args)} positional argument(s)",
            )
        values: dict[str, Any] = {}
        for keyword in call.keywords:
            name = cast(str, keyword.arg)
            as_range = _literal_range(keyword.value) if name.endswith("_concat") else None
            if as_range is not None:
                values[name] = as_range
                continue
            try:
                values[name] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError):
                raise _malformed(s, f"`{name}` is not a literal list") from None
        try:
            checked = {field: _check_field(field, values[field]) for field in _FIELDS}
        except _InvalidGenotype as err:
            raise _malformed(s, str(err)) from None
        return cls(**checked)

    def cell(self, cell: CellType) -> tuple[tuple[str, int], ...]:
        """The 8 ``(op, input)`` pairs of the ``"normal"`` or ``"reduce"`` cell."""
        return self.normal if _check_cell_type("DARTSGenotype.cell", cell) == "normal" else self.reduce

    def concat(self, cell: CellType) -> tuple[int, ...]:
        """The output nodes of the ``"normal"`` or ``"reduce"`` cell."""
        return self.normal_concat if _check_cell_type("DARTSGenotype.concat", cell) == "normal" else self.reduce_concat

    def __str__(self) -> str:
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}.from_string({str(self)!r})"


def _malformed(s: str, reason: str) -> ValueError:
    return ValueError(
        f"Invalid DARTS genotype string {s!r}: {reason}. Expected the form {_FORMAT!r} with each op in "
        f"{list(GENOTYPE_OPS)}."
    )


def _check_cell_type(owner: str, cell: object) -> CellType:
    if cell not in _CELLS:
        raise ValueError(f"`{owner}(cell={cell!r})`: `cell` must be 'normal' or 'reduce'. Got {cell!r} instead.")
    return cast(CellType, cell)


def _derive_cell(
    cell: str, weights: Tensor | Sequence[Sequence[float]], ops: Sequence[Sequence[str]]
) -> tuple[tuple[str, int], ...]:
    rows = weights.detach().cpu().tolist() if isinstance(weights, Tensor) else [list(row) for row in weights]
    if len(rows) != _NUM_EDGES or len(ops) != _NUM_EDGES:
        raise ValueError(
            f"`derive_genotype`: `{cell}_weights` and `{cell}_ops` must have {_NUM_EDGES} rows, one per edge. "
            f"Got {len(rows)} and {len(ops)} instead."
        )
    strengths: list[float] = []
    best_ops: list[str] = []
    for edge, (row, names) in enumerate(zip(rows, ops, strict=True)):
        if isinstance(row, float) or len(row) != len(names):
            raise ValueError(
                f"`derive_genotype`: edge {edge} of `{cell}_weights` must hold one weight per op of `{cell}_ops` "
                f"({list(names)}). Got {row!r} instead."
            )
        best = None
        for index, name in enumerate(names):
            if name != "none" and (best is None or row[index] > row[best]):
                best = index
        if best is None:
            raise ValueError(
                f"`derive_genotype`: edge {edge} of `{cell}_ops` has no op other than 'none'. "
                f"Got {list(names)} instead."
            )
        strengths.append(float(row[best]))
        best_ops.append(names[best])
    pairs = []
    first = 0
    for node in range(2, 2 + _STEPS):
        edges = range(first, first + node)
        strongest = sorted(edges, key=lambda edge: -strengths[edge])[:2]  # stable: ties keep the lower input
        pairs.extend((best_ops[edge], edge - first) for edge in strongest)
        first += node
    return tuple(pairs)


def derive_genotype(
    normal_weights: Tensor | Sequence[Sequence[float]],
    normal_ops: Sequence[Sequence[str]],
    reduce_weights: Tensor | Sequence[Sequence[float]],
    reduce_ops: Sequence[Sequence[str]],
) -> DARTSGenotype:
    """Derive the discrete cells from per-edge op weights (DARTS Section 2.4, PC-DARTS Section 3.3).

    For each intermediate node, an incoming edge's strength is its largest weight over the ops other than
    ``none``; the 2 strongest edges are kept, strongest first, and each gets its strongest op other than
    ``none``. Ties go to the lower input (edges) and the op listed first (ops). Both concats are ``(2, 3, 4, 5)``.

    Args:
        normal_weights: ``[14, k]`` weights of the normal cell, e.g. ``softmax(alpha)`` (times the normalized
            betas with PC-DARTS's edge normalization), rows in :data:`DARTS_EDGES` order.
        normal_ops: The ``k`` op names of each of the 14 edges (column ``o`` of row ``e`` weighs
            ``normal_ops[e][o]``); edges may have different op subsets (P-DARTS).
        reduce_weights: The same for the reduction cell.
        reduce_ops: The op names of the reduction cell's edges.

    Returns:
        The genotype.

    Raises:
        ValueError: If the shapes do not match (14 edges, one weight per op) or an edge has only ``none``.

    Example:
        >>> weights = torch.zeros(14, 8)
        >>> weights[:, 4] = 1.0  # sep_conv_3x3 everywhere
        >>> weights[3, 0] = 9.0  # `none` is ignored
        >>> weights[4, 3] = 2.0  # the edge 3 <- 2 is the strongest into node 3, with skip_connect
        >>> g = derive_genotype(weights, [DARTS_OPS] * 14, weights, [DARTS_OPS] * 14)
        >>> g.normal[:4]
        (('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 0))

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.4); Xu et al., PC-DARTS, ICLR 2020 (Section 3.3).
    """
    return DARTSGenotype(
        normal=_derive_cell("normal", normal_weights, normal_ops),
        normal_concat=tuple(range(2, 2 + _STEPS)),
        reduce=_derive_cell("reduce", reduce_weights, reduce_ops),
        reduce_concat=tuple(range(2, 2 + _STEPS)),
    )


# ------------------------------------------------------------------------------------------- option checks
def _check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a bool. Got {value!r} instead.")


def _reduction_layers(layers: int) -> frozenset[int]:
    return frozenset((layers // 3, 2 * layers // 3))


def _cell_widths(C: int, layers: int) -> list[int]:
    widths, width = [], C
    for layer in range(layers):
        if layer in _reduction_layers(layers):
            width *= 2
        widths.append(width)
    return sorted(set(widths))


def _check_macro(owner: str, C: object, layers: object, stem: object, in_channels: object) -> None:
    for name, value in (("C", C), ("layers", layers), ("in_channels", in_channels)):
        _check_positive_int(owner, name, value)
    if stem not in ("cifar", "imagenet"):
        raise ValueError(f"`{owner}(stem={stem!r})`: `stem` must be 'cifar' or 'imagenet'. Got {stem!r} instead.")
    if stem == "imagenet" and cast(int, C) % 2:
        raise ValueError(
            f"`{owner}(C={C!r})`: with stem='imagenet', `C` must be even (the stem's first conv has C // 2 "
            f"channels and the first cell reduces its `c_{{k-2}}` input with a FactorizedReduce). Got {C!r} instead."
        )


def _check_partial_channels(owner: str, partial_channels: object, C: int, layers: int) -> None:
    _check_positive_int(owner, "partial_channels", partial_channels)
    widths = _cell_widths(C, layers)
    if any(width % cast(int, partial_channels) for width in widths):
        raise ValueError(
            f"`{owner}(partial_channels={partial_channels!r})`: `partial_channels` must divide the channels of every "
            f"cell, {widths} for C={C}. Got {partial_channels!r} instead."
        )


def _check_candidate_ops(owner: str, candidate_ops: object) -> dict[str, tuple[tuple[str, ...], ...]]:
    if candidate_ops is None:
        return {cell: (DARTS_OPS,) * _NUM_EDGES for cell in _CELLS}
    if not isinstance(candidate_ops, Mapping) or sorted(candidate_ops, key=str) != sorted(_CELLS):
        raise ValueError(
            f"`{owner}(candidate_ops={candidate_ops!r})`: `candidate_ops` must be None or a dict with the keys "
            f"'normal' and 'reduce'. Got {candidate_ops!r} instead."
        )
    checked = {}
    for cell in _CELLS:
        edges = candidate_ops[cell]
        if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) or len(edges) != _NUM_EDGES:
            raise ValueError(
                f"`{owner}(candidate_ops=...)`: `candidate_ops[{cell!r}]` must be a list of {_NUM_EDGES} op lists, "
                f"one per edge. Got {edges!r} instead."
            )
        cell_ops = []
        for edge, names in enumerate(edges):
            where = f"`candidate_ops[{cell!r}][{edge}]`"
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or len(names) == 0:
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} must be a non-empty list of op names. "
                    f"Got {names!r} instead."
                )
            unknown = [name for name in names if name not in DARTS_OPS]
            if unknown:
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} holds unknown op(s) {unknown}; allowed ops: "
                    f"{list(DARTS_OPS)}. Got {names!r} instead."
                )
            if len(set(names)) != len(names):
                raise ValueError(f"`{owner}(candidate_ops=...)`: {where} must not repeat an op. Got {names!r} instead.")
            if all(name == "none" for name in names):
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} must hold an op other than 'none' (a genotype needs one "
                    f"on every edge). Got {names!r} instead."
                )
            if cell_ops and len(names) != len(cell_ops[0]):
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: every edge of the {cell!r} cell must have the same number of ops "
                    f"(edge 0 has {len(cell_ops[0])}). Got {names!r} at edge {edge} instead."
                )
            cell_ops.append(tuple(names))
        checked[cell] = tuple(cell_ops)
    return checked


# ------------------------------------------------------------------------------------------------- macro parts
class _CIFARStem(nn.Module):
    """Conv3x3 (stride 1) + BN; both cell inputs of the first cell are its output."""

    def __init__(self, in_channels: int, C_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, C_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s = self.bn(self.conv(x))
        return s, s


class _ImageNetStem(nn.Module):
    """DARTS's ImageNet stems: ``stem0`` (two stride-2 convs, to ``C``) then ``stem1`` (one more stride-2 conv)."""

    def __init__(self, in_channels: int, C: int) -> None:
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


def _make_stem(stem: str, in_channels: int, C: int) -> tuple[nn.Module, int, int, bool]:
    """The stem and the channels of ``(s0, s1)`` it makes, and whether ``s0`` has twice the resolution of ``s1``."""
    if stem == "cifar":
        return _CIFARStem(in_channels, 3 * C), 3 * C, 3 * C, False
    return _ImageNetStem(in_channels, C), C, C, True


def _preprocess(C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool) -> tuple[nn.Module, nn.Module]:
    first = FactorizedReduce(C_pp, C, affine=affine) if reduction_prev else ReLUConvBN(C_pp, C, 1, affine=affine)
    return first, ReLUConvBN(C_p, C, 1, affine=affine)


# ---------------------------------------------------------------------------------------------------- supernet
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


class DARTSSupernet(Supernet):
    """The DARTS weight-sharing supernet (DARTS's search ``Network``, PC-DARTS's and P-DARTS's variants).

    ``layers`` cells follow the stem; cells ``layers // 3`` and ``2 * layers // 3`` are reduction cells and
    double the channels; a cell's inputs are the outputs of the two cells before it (the stem's output for the
    first). A global average pool and a linear classifier end the network. All search-cell BatchNorms are
    non-affine (with running statistics, as in DARTS); the stem's is affine.

    Architecture parameters (``1e-3 * N(0, 1)`` at construction): ``arch_alpha_normal`` and
    ``arch_alpha_reduce`` of shape ``[14, k]`` (``k = 8``, or the size of the ``candidate_ops`` subsets), and with
    edge normalization ``arch_beta_normal`` and ``arch_beta_reduce`` of shape ``[14]``. The softmaxes are
    computed once per forward pass and shared by all cells.

    The attribute ``skip_dropout`` (default 0) is P-DARTS's dropout rate on the outputs of the identity
    ``skip_connect`` ops (stride 1), applied in training mode only; a method sets it every epoch. It is not part
    of the state dict.

    Args:
        C: Channels of the first cells (then ``2C`` and ``4C``).
        layers: Number of cells.
        num_classes: Outputs of the classifier.
        stem: ``"cifar"`` (Conv3x3 to ``3C``, stride 1) or ``"imagenet"`` (three stride-2 convs; the first cell's
            ``c_{k-2}`` input has twice the resolution of its ``c_{k-1}``, as in PC-DARTS's ImageNet search).
        in_channels: Channels of the input images.
        partial_channels: PC-DARTS's ``K``: each edge computes its ops on ``C / K`` channels (1 disables it).
        edge_normalization: PC-DARTS's edge normalization with ``arch_beta_*`` parameters.
        candidate_ops: ``{"normal": [...], "reduce": [...]}``, for each cell 14 lists of op names (the same
            number ``k`` for every edge of the cell), the ops each edge mixes (P-DARTS); ``None`` gives all 8 ops
            to every edge.
        fused: Whether the search cells compute their edges together, per source node (shared ReLU, pooling and
            identity; on a GPU one depthwise and one grouped pointwise conv per conv op and stage for all edges
            leaving a node, on a CPU per-edge convs in ``channels_last``; BatchNorm scaled by the mixing weights,
            one fused sum per node), instead of edge by edge and op by op as the research code does. Both give
            the same outputs and gradients up to rounding and have the same parameters, buffers and
            ``state_dict`` keys; the per-edge cells (``False``) are the reference the fused ones are tested
            against.

    Raises:
        ValueError: If an option is invalid (see :class:`DARTSSpace`).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = DARTSSupernet(C=4, layers=3, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> net.arch_parameter_names(), tuple(net.arch_alpha_normal.shape)
        (['arch_alpha_normal', 'arch_alpha_reduce'], (14, 8))
        >>> with torch.no_grad():
        ...     _ = net.arch_alpha_normal.zero_().index_fill_(1, torch.tensor([4]), 1.0)
        >>> net.genotype().normal[:2]
        (('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
        >>> net.cell_types, [len(ops) for ops in net.edge_ops("reduce")][:3]
        (('normal', 'reduce'), [8, 8, 8])

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.1-2.2, Appendix A.1.1); Xu et al., PC-DARTS, ICLR 2020
        (Section 3.2-3.3); Chen et al., P-DARTS, ICCV 2019 (Section 3.2-3.3).
    """

    cell_types: ClassVar[tuple[CellType, ...]] = _CELLS
    """The cell types, each with its own architecture parameters: ``("normal", "reduce")``."""

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        stem: StemType = "cifar",
        in_channels: int = 3,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        _check_macro(owner, C, layers, stem, in_channels)
        _check_positive_int(owner, "num_classes", num_classes)
        _check_partial_channels(owner, partial_channels, C, layers)
        _check_bool(owner, "edge_normalization", edge_normalization)
        _check_bool(owner, "fused", fused)
        self.fused = fused
        self._edge_ops = _check_candidate_ops(owner, candidate_ops)
        self.C = C
        self.layers = layers
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.stem, C_pp, C_p, reduction_prev = _make_stem(stem, in_channels, C)
        self.cells = nn.ModuleList()
        C_curr = C
        reductions = _reduction_layers(layers)
        for layer in range(layers):
            reduction = layer in reductions
            if reduction:
                C_curr *= 2
            cell_type = "reduce" if reduction else "normal"
            cell_class = _FusedSearchCell if fused else _SearchCell
            self.cells.append(
                cell_class(C_pp, C_p, C_curr, reduction, reduction_prev, self._edge_ops[cell_type], partial_channels)
            )
            C_pp, C_p, reduction_prev = C_p, _STEPS * C_curr, reduction
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        self.arch_alpha_normal = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES, len(self._edge_ops["normal"][0])))
        self.arch_alpha_reduce = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES, len(self._edge_ops["reduce"][0])))
        if edge_normalization:
            self.arch_beta_normal = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES))
            self.arch_beta_reduce = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES))
        self._skip_dropout = 0.0

    @property
    def skip_dropout(self) -> float:
        """P-DARTS's dropout rate on identity ``skip_connect`` outputs in training mode, in [0, 1]."""
        return self._skip_dropout

    @skip_dropout.setter
    def skip_dropout(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(
                f"`{type(self).__name__}.skip_dropout`: `skip_dropout` must be in [0, 1]. Got {value!r} instead."
            )
        self._skip_dropout = float(value)

    def edge_ops(self, cell: CellType) -> list[list[str]]:
        """The candidate op names of each of the 14 edges of the ``"normal"`` or ``"reduce"`` cell.

        Column ``o`` of the cell's ``arch_alpha_*`` row ``e`` weighs ``edge_ops(cell)[e][o]``.
        """
        cell = _check_cell_type(f"{type(self).__name__}.edge_ops", cell)
        return [list(names) for names in self._edge_ops[cell]]

    def _alpha(self, cell: CellType) -> Tensor:
        return self.arch_alpha_normal if cell == "normal" else self.arch_alpha_reduce

    def normalized_betas(self, cell: CellType) -> Tensor:
        """PC-DARTS's edge weights ``[14]``: the softmax of ``arch_beta_*`` over each node's incoming edges.

        The weights of the 2, 3, 4 and 5 edges into nodes 2, 3, 4 and 5 each sum to one.

        Raises:
            RuntimeError: If the supernet was built without edge normalization.
        """
        cell = _check_cell_type(f"{type(self).__name__}.normalized_betas", cell)
        if not self.edge_normalization:
            raise RuntimeError(
                f"`{type(self).__name__}.normalized_betas`: the supernet has no betas; build it with "
                "edge_normalization=True."
            )
        beta = self.arch_beta_normal if cell == "normal" else self.arch_beta_reduce
        groups = beta.split([node for node in range(2, 2 + _STEPS)])
        return torch.cat([torch.softmax(group, dim=-1) for group in groups])

    def op_weights(self, cell: CellType) -> Tensor:
        """The ``[14, k]`` weights the genotype is derived from: ``softmax(arch_alpha_*)`` per edge, times the
        edge's normalized beta with edge normalization (PC-DARTS). Differentiable (not detached).
        """
        cell = _check_cell_type(f"{type(self).__name__}.op_weights", cell)
        weights = torch.softmax(self._alpha(cell), dim=-1)
        if self.edge_normalization:
            weights = weights * self.normalized_betas(cell).unsqueeze(-1)
        return weights

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of ``x``, ``[B, in_channels, H, W]``.

        ``H`` and ``W`` must stay even at every reduction: divisible by 4 with the CIFAR stem, by 32 with the
        ImageNet stem.
        """
        weights: dict[str, Tensor | list[tuple[Tensor, ...]]] = {
            cell: torch.softmax(self._alpha(cell), dim=-1) for cell in _CELLS
        }
        betas: dict[str, Tensor | tuple[Tensor, ...] | None] = {
            cell: self.normalized_betas(cell) if self.edge_normalization else None for cell in _CELLS
        }
        if not self.fused:  # the per-edge cells take one scalar tensor per op and edge
            weights = {cell: [row.unbind(0) for row in cast(Tensor, w).unbind(0)] for cell, w in weights.items()}
            betas = {cell: None if b is None else cast(Tensor, b).unbind(0) for cell, b in betas.items()}
        skip_dropout = self._skip_dropout
        if self.fused and x.device.type == "cpu":  # faster on a CPU, above all the convs' backward and the pooling
            x = x.contiguous(memory_format=torch.channels_last)
        s0, s1 = self.stem(x)
        for cell in self.cells:
            cell_type = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, weights[cell_type], betas[cell_type], skip_dropout)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> DARTSGenotype:
        """Derive the discrete cells from :meth:`op_weights` with :func:`derive_genotype`."""
        with torch.no_grad():
            return derive_genotype(
                self.op_weights("normal"), self._edge_ops["normal"], self.op_weights("reduce"), self._edge_ops["reduce"]
            )


# ------------------------------------------------------------------------------------------- discrete network
class _DiscreteCell(nn.Module):
    """A cell of the evaluation network: node ``i`` = ``op_a(h_a) + op_b(h_b)``, with drop-path on non-identities."""

    def __init__(
        self,
        pairs: Sequence[tuple[str, int]],
        concat: Sequence[int],
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(C_pp, C_p, C, reduction_prev, affine=True)
        self.ops = nn.ModuleList(
            get_op(name, space=SPACE_NAME)(C, 2 if reduction and source < 2 else 1, True) for name, source in pairs
        )
        self._sources = tuple(source for _, source in pairs)
        self._concat = tuple(concat)
        self.multiplier = len(self._concat)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(_STEPS):
            total: Tensor | None = None
            for edge in (2 * node, 2 * node + 1):
                op = self.ops[edge]
                h = op(states[self._sources[edge]])
                if drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = _drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(cast(Tensor, total))
        return torch.cat([states[index] for index in self._concat], dim=1)


class _AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier on the output of cell ``2 * layers // 3``.

    CIFAR (8 x 8 input): ReLU, AvgPool 5 (stride 3), Conv1x1 to 128, BN, ReLU, Conv2x2 to 768, BN, ReLU, Linear.
    ImageNet (7 x 7 input): AvgPool stride 2, and no BatchNorm after the 2 x 2 conv (DARTS leaves it out to match
    its paper's experiments). Two deviations let other input sizes through where DARTS would fail, and change
    nothing on DARTS's sizes: a global average pool before the classifier (e.g. 16 x 16 inputs for 64 x 64
    Tiny-ImageNet with the CIFAR stem), and an adaptive 2 x 2 average pool instead of the 5 x 5 one on inputs too
    small for it (under 8 x 8, or 7 x 7 for the ImageNet head, e.g. from 16 x 16 images).
    """

    def __init__(self, C: int, num_classes: int, imagenet: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False)
        self._min_size = 7 if imagenet else 8  # the smallest input the pool maps to at least 2 x 2
        layers: list[nn.Module] = [
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers += [nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        x = self.pool(x) if min(x.shape[-2:]) >= self._min_size else nn.functional.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x))


class DARTSNetwork(nn.Module):
    """The discrete network of a DARTS genotype: DARTS's evaluation ``NetworkCIFAR`` or ``NetworkImageNet``.

    The supernet's macro skeleton (stem, ``layers`` cells with reductions at ``layers // 3`` and
    ``2 * layers // 3``, global pool, linear classifier) with the genotype's cells, affine BatchNorms, and an
    optional auxiliary head on the output of cell ``2 * layers // 3``.

    Set ``drop_path_prob`` (default 0, in [0, 1)) every epoch, e.g. to ``0.2 * epoch / epochs`` as in DARTS:
    in training mode, each non-identity op's output is zeroed per sample with that probability and the kept
    ones are scaled by ``1 / (1 - p)``. It is not part of the state dict.

    Args:
        genotype: The cells, or their string.
        C: Channels of the first cells (DARTS CIFAR evaluation: 36; ImageNet: 48).
        layers: Number of cells (DARTS CIFAR evaluation: 20; ImageNet: 14).
        num_classes: Outputs of the classifier.
        stem: ``"cifar"`` or ``"imagenet"`` (see :class:`DARTSSupernet`); the auxiliary head follows it.
        in_channels: Channels of the input images.
        auxiliary: Whether to add the auxiliary head.

    Raises:
        ValueError: If an option is invalid or ``genotype`` a malformed string.
        TypeError: If ``genotype`` is neither a :class:`DARTSGenotype` nor a string.

    Example:
        >>> g = derive_genotype(torch.rand(14, 8), [DARTS_OPS] * 14, torch.rand(14, 8), [DARTS_OPS] * 14)
        >>> net = DARTSNetwork(g, C=4, layers=3, num_classes=10, auxiliary=True)
        >>> logits, aux_logits = net(torch.randn(2, 3, 32, 32))  # training mode
        >>> logits.shape, aux_logits.shape
        (torch.Size([2, 10]), torch.Size([2, 10]))
        >>> net.eval()(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        Liu et al., DARTS, ICLR 2019 (Section 3.3 and Appendix A.2: evaluation networks, auxiliary towers,
        path dropout).
    """

    def __init__(
        self,
        genotype: DARTSGenotype | str,
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        stem: StemType = "cifar",
        in_channels: int = 3,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(genotype, str):
            genotype = DARTSGenotype.from_string(genotype)
        elif not isinstance(genotype, DARTSGenotype):
            raise TypeError(
                f"`{owner}`: `genotype` must be a DARTSGenotype or its string. Got {type(genotype).__name__} instead."
            )
        _check_macro(owner, C, layers, stem, in_channels)
        _check_positive_int(owner, "num_classes", num_classes)
        _check_bool(owner, "auxiliary", auxiliary)
        self.genotype = genotype
        self.stem, C_pp, C_p, reduction_prev = _make_stem(stem, in_channels, C)
        self.cells = nn.ModuleList()
        self._auxiliary_layer = 2 * layers // 3
        C_curr, C_auxiliary = C, C_p
        reductions = _reduction_layers(layers)
        for layer in range(layers):
            reduction = layer in reductions
            if reduction:
                C_curr *= 2
            cell_type: CellType = "reduce" if reduction else "normal"
            cell = _DiscreteCell(
                genotype.cell(cell_type), genotype.concat(cell_type), C_pp, C_p, C_curr, reduction, reduction_prev
            )
            self.cells.append(cell)
            C_pp, C_p, reduction_prev = C_p, cell.multiplier * C_curr, reduction
            if layer == self._auxiliary_layer:
                C_auxiliary = C_p
        self.auxiliary_head = _AuxiliaryHead(C_auxiliary, num_classes, stem == "imagenet") if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        self._drop_path_prob = 0.0

    @property
    def drop_path_prob(self) -> float:
        """Drop-path probability of the non-identity ops in training mode, in [0, 1)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(
                f"`{type(self).__name__}.drop_path_prob`: `drop_path_prob` must be in [0, 1). Got {value!r} instead."
            )
        self._drop_path_prob = float(value)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Return the logits, or ``(logits, aux_logits)`` in training mode with the auxiliary head."""
        drop_prob = self._drop_path_prob if self.training else 0.0
        aux_logits = None
        s0, s1 = self.stem(x)
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob)
            if layer == self._auxiliary_layer and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits if aux_logits is None else (logits, aux_logits)


# ------------------------------------------------------------------------------------------------------ space
@register_search_space(SPACE_NAME)
class DARTSSpace(SearchSpace):
    """The DARTS cell search space (registered as ``"darts"``), with PC-DARTS's and P-DARTS's options.

    Defaults are DARTS's CIFAR search network: 8 cells, 16 initial channels, the CIFAR stem. The core-set paper
    searches Tiny-ImageNet (64 x 64) with PC-DARTS on this CIFAR stem (``partial_channels=2``,
    ``edge_normalization=True``); PC-DARTS's own settings are ``partial_channels=4`` on CIFAR and
    ``stem="imagenet", partial_channels=2`` on ImageNet. DARTS runs the architecture step before the weight step,
    hence ``default_step_order = "arch_first"``. :meth:`build_network` uses the same ``C``, ``layers`` and
    ``stem`` (DARTS's CIFAR evaluation: ``C=36, layers=20, auxiliary=True``).

    Args:
        C: Channels of the first cells (then ``2C`` and ``4C``).
        layers: Number of cells.
        stem: ``"cifar"`` (Conv3x3 to ``3C``, stride 1) or ``"imagenet"`` (DARTS's ImageNet stems, 8x
            downsampling; ``C`` must be even).
        in_channels: Channels of the input images.
        partial_channels: PC-DARTS's ``K`` (1: off); must divide the channels of every cell.
        edge_normalization: PC-DARTS's edge normalization (``arch_beta_normal``, ``arch_beta_reduce``).
        candidate_ops: P-DARTS's per-edge op subsets, ``{"normal": [14 lists], "reduce": [14 lists]}`` with the
            same number of ops on every edge of a cell and at least one op other than ``none`` per edge; ``None``
            gives all 8 ops to every edge.
        auxiliary: Whether the discrete network has DARTS's auxiliary head (the supernet never has one).
        fused: Whether the supernet's search cells compute their edges together per source node (the fast path,
            see :class:`DARTSSupernet`); ``False`` builds the per-edge reference cells. Same parameters and
            ``state_dict`` keys either way.

    Raises:
        ValueError: If an option is invalid: ``C``, ``layers``, ``in_channels`` or ``partial_channels`` not a
            positive integer, an unknown ``stem``, an odd ``C`` with the ImageNet stem, ``partial_channels`` not
            dividing every cell's channels, a non-bool flag, or malformed ``candidate_ops``.

    Example:
        >>> space = DARTSSpace(C=4, layers=3)
        >>> supernet = space.build_supernet(num_classes=10)
        >>> [tuple(p.shape) for p in supernet.arch_parameters()]
        [(14, 8), (14, 8)]
        >>> net = space.build_network(str(supernet.genotype()), num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> DARTSSpace(stem="tiny")
        Traceback (most recent call last):
        ...
        ValueError: `DARTSSpace(stem='tiny')`: `stem` must be 'cifar' or 'imagenet'. Got 'tiny' instead.

    References:
        Liu et al., DARTS, ICLR 2019; Xu et al., PC-DARTS, ICLR 2020; Chen et al., P-DARTS, ICCV 2019;
        Shim et al., Core-set Sampling for Efficient Neural Architecture Search, ICML 2021 workshop (Section 4.2).
    """

    name: ClassVar[str] = SPACE_NAME
    genotype_type: ClassVar[type[Genotype]] = DARTSGenotype
    default_step_order: ClassVar[StepOrder] = "arch_first"

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        stem: StemType = "cifar",
        in_channels: int = 3,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        auxiliary: bool = False,
        fused: bool = True,
    ) -> None:
        owner = type(self).__name__
        _check_macro(owner, C, layers, stem, in_channels)
        _check_partial_channels(owner, partial_channels, C, layers)
        _check_bool(owner, "edge_normalization", edge_normalization)
        _check_bool(owner, "auxiliary", auxiliary)
        _check_bool(owner, "fused", fused)
        self.fused = fused
        checked = _check_candidate_ops(owner, candidate_ops)
        self.C = C
        self.layers = layers
        self.stem = stem
        self.in_channels = in_channels
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.candidate_ops = (
            None if candidate_ops is None else {cell: [list(names) for names in checked[cell]] for cell in _CELLS}
        )
        self.auxiliary = auxiliary

    def build_supernet(self, num_classes: int) -> DARTSSupernet:
        """Build a :class:`DARTSSupernet` with freshly initialised weights and architecture parameters."""
        return DARTSSupernet(
            C=self.C,
            layers=self.layers,
            num_classes=num_classes,
            stem=self.stem,
            in_channels=self.in_channels,
            partial_channels=self.partial_channels,
            edge_normalization=self.edge_normalization,
            candidate_ops=self.candidate_ops,
            fused=self.fused,
        )

    def build_network(self, genotype: Genotype | str, num_classes: int) -> DARTSNetwork:
        """Build the discrete :class:`DARTSNetwork` of ``genotype`` with the space's ``C``, ``layers``, ``stem``,
        ``in_channels`` and ``auxiliary``.

        Raises:
            ValueError: If ``genotype`` is a malformed string or belongs to another space.
        """
        return DARTSNetwork(
            self.parse_genotype(genotype),
            C=self.C,
            layers=self.layers,
            num_classes=num_classes,
            stem=self.stem,
            in_channels=self.in_channels,
            auxiliary=self.auxiliary,
        )

    def parse_genotype(self, genotype: Genotype | str) -> DARTSGenotype:
        """Return ``genotype`` as a :class:`DARTSGenotype`, parsing it if it is a string."""
        return cast(DARTSGenotype, super().parse_genotype(genotype))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(C={self.C}, layers={self.layers}, stem={self.stem!r}, "
            f"in_channels={self.in_channels}, partial_channels={self.partial_channels}, "
            f"edge_normalization={self.edge_normalization}, candidate_ops={self.candidate_ops!r}, "
            f"auxiliary={self.auxiliary}{'' if self.fused else ', fused=False'})"
        )
