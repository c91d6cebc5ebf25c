"""The DARTS candidate operations, registered in the ``"darts"`` op registry, and the space's op and edge constants."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import _check_positive_int, register_op
from lightning_nas.spaces.cells import CELL_STEPS

__all__ = [
    "CellType",
    "DARTS_EDGES",
    "DARTS_OPS",
    "DilConv",
    "FactorizedReduce",
    "GENOTYPE_OPS",
    "ReLUConvBN",
    "SepConv",
    "StemType",
    "Zero",
    "channel_shuffle",
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

_STEPS = CELL_STEPS
_NUM_EDGES = len(DARTS_EDGES)
_CELLS: tuple[CellType, CellType] = ("normal", "reduce")
_POOLS = ("max_pool_3x3", "avg_pool_3x3")
_FORMAT = (
    "Genotype(normal=[(op, input), ...], normal_concat=[2, 3, 4, 5], reduce=[(op, input), ...], "
    "reduce_concat=[2, 3, 4, 5]) with 8 pairs per cell"
)


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
