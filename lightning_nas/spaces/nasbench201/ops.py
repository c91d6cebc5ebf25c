"""The NAS-Bench-201 candidate ops (the ``"nasbench201"`` op registry) and the residual reduction block."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import register_op

__all__ = ["NB201_EDGES", "NB201_OPS", "ReLUConvBN", "ResidualReductionBlock", "Zero"]


SPACE_NAME = "nasbench201"

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The 5 candidate ops, in the order of the columns of ``arch_alpha``."""

NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The 6 edges as ``(node, input)`` pairs, in the order of the rows of ``arch_alpha`` (xautodl's ``"i<-j"``)."""

_NODE_EDGES = (1, 2, 3)  # incoming edges of nodes 1, 2, 3: the groups of `arch_beta`

_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


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
