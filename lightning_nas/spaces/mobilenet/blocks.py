"""The MobileNet candidate blocks (MBConv, squeeze-and-excitation, identity; the ``"mobilenet"`` op registry).

Also the chain's layout constants: stages, choices, stem and first-block widths.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from lightning_nas.spaces.base import _check_positive_int, register_op

__all__ = [
    "Activation",
    "MBCONV_CHOICES",
    "MBConv",
    "MOBILENET_CHOICES",
    "MobileNetVariant",
    "SE_CHOICES",
    "STAGES",
    "STAGE_FIRST_LAYERS",
    "SqueezeExcite",
    "make_divisible",
]


SPACE_NAME = "mobilenet"

MBCONV_CHOICES: tuple[str, ...] = ("k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6")
"""The 6 inverted-bottleneck choices ``k{kernel}e{expansion}``."""

SE_CHOICES: tuple[str, ...] = tuple(f"{name}_se" for name in MBCONV_CHOICES)
"""The 6 squeeze-and-excitation variants (``se=True`` only)."""

IDENTITY = "id"

MOBILENET_CHOICES: tuple[str, ...] = (*MBCONV_CHOICES, IDENTITY, *SE_CHOICES)
"""All 13 choice names, in the order :meth:`MobileNetSpace.choices` lists them (the plain space's 7 first)."""

STAGES: tuple[tuple[int, int, int], ...] = ((24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
"""The 6 searchable stages as (output channels at width 1, layers, stride of the first layer on ImageNet)."""

CIFAR_STAGE_STRIDES: tuple[int, ...] = (1, 2, 2, 1, 2, 1)
"""Stage strides of the CIFAR variant (whose stem has stride 1): 32 px inputs end at 4 px."""

NUM_LAYERS = sum(n for _, n, _ in STAGES)

STAGE_FIRST_LAYERS: tuple[int, ...] = tuple(sum(n for _, n, _ in STAGES[:s]) for s in range(len(STAGES)))
"""Indices of the layers that open a stage (0, 4, 8, 12, 16, 20): they change the channels, so no identity."""

STEM_CHANNELS = 32
FIRST_BLOCK_CHANNELS = 16

MobileNetVariant = Literal["imagenet", "cifar"]
"""``"imagenet"``: stem stride 2 and the stage strides of :data:`STAGES` (32x downsampling); ``"cifar"``: stem
stride 1 and stage strides :data:`CIFAR_STAGE_STRIDES` (8x downsampling)."""

Activation = Literal["relu6", "hswish"]
"""The activation of the stem, the blocks and the head: ReLU6 (ProxylessNAS) or h-swish (MobileNetV3)."""

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu6": nn.ReLU6, "hswish": nn.Hardswish}
_SE_RATIO = 4
_BLOCK_SPECS: dict[str, tuple[int, int, bool]] = {
    f"k{k}e{e}{suffix}": (k, e, suffix == "_se") for suffix in ("", "_se") for k in (3, 5, 7) for e in (3, 6)
}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, at least ``min_value`` (default ``divisor``).

    MobileNetV2's rule (``_make_divisible`` of the TensorFlow and torchvision code): if rounding down loses more
    than 10 % of ``value``, one ``divisor`` is added.

    Example:
        >>> make_divisible(32 * 0.25), make_divisible(40 * 0.25), make_divisible(80 * 0.25), make_divisible(4)
        (8, 16, 24, 8)
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _out_size(size: int, stride: int) -> int:
    # a conv with an odd kernel k, padding k // 2 and stride s maps n pixels to ceil(n / s)
    return (size - 1) // stride + 1


def _conv_bn(C_in: int, C_out: int, kernel_size: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(C_out),
    ]


def _check_activation(owner: str, activation: object) -> None:
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"`{owner}(activation={activation!r})`: `activation` must be one of {list(_ACTIVATIONS)}. "
            f"Got {activation!r} instead."
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a hard-sigmoid gate: ``x * hsigmoid(W2 act(W1 avgpool(x) + b1) + b2)``.

    As mmrazor's GreedyNAS SE space (``se_cfg``: ratio 4, h-swish then ``HSigmoid(bias=3, divisor=6)``), the
    squeeze convolution's activation is the block's; MobileNetV3 uses ReLU there. Both 1x1 convolutions have a
    bias (no BatchNorm).

    Args:
        channels: Channels of the input (the expanded channels of an MBConv).
        squeeze_channels: Channels of the bottleneck, ``make_divisible(channels // 4)`` in this space.
        activation: The activation after the squeeze convolution.
    """

    def __init__(self, channels: int, squeeze_channels: int, activation: Activation = "hswish") -> None:
        super().__init__()
        _check_activation(type(self).__name__, activation)
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = _ACTIVATIONS[activation]()
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))


class MBConv(nn.Module):
    """The inverted bottleneck (MobileNetV2): expand, depthwise, (squeeze-and-excitation), project, (+ input).

    ``expand`` is Conv1x1 to ``C_in * expand_ratio`` channels, BN, activation (absent when ``expand_ratio`` is
    1); ``depthwise`` is a depthwise ``kernel_size`` conv with ``stride``, BN, activation; ``se`` is a
    :class:`SqueezeExcite` on the expanded channels with ``make_divisible(mid // 4)`` squeeze channels;
    ``project`` is Conv1x1 to ``C_out``, BN, no activation (linear bottleneck). The input is added to the output
    when ``residual`` is true (by default when ``stride == 1`` and ``C_in == C_out``). Convolutions have no bias.

    Args:
        C_in: Input channels.
        C_out: Output channels.
        kernel_size: Odd kernel size of the depthwise convolution.
        stride: Stride of the depthwise convolution.
        expand_ratio: Expansion ratio ``e`` (the hidden width is ``C_in * e``, as ProxylessNAS and mmrazor).
        se: Whether to add squeeze-and-excitation.
        residual: Whether to add the input to the output; ``None`` adds it exactly when the shapes allow.
        activation: ``"relu6"`` or ``"hswish"``.

    Raises:
        ValueError: If an argument is not a positive integer, ``kernel_size`` is even, ``activation`` is unknown,
            or ``residual=True`` while the block changes the shape.

    Example:
        >>> import torch
        >>> block = MBConv(16, 16, kernel_size=5, stride=1, expand_ratio=6, se=True, activation="hswish")
        >>> block(torch.randn(2, 16, 8, 8)).shape, block.use_residual
        (torch.Size([2, 16, 8, 8]), True)
        >>> MBConv(16, 24, 3, 2, 3)(torch.randn(2, 16, 7, 7)).shape
        torch.Size([2, 24, 4, 4])
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
        *,
        se: bool = False,
        residual: bool | None = None,
        activation: Activation = "relu6",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        for arg, value in (
            ("C_in", C_in),
            ("C_out", C_out),
            ("kernel_size", kernel_size),
            ("stride", stride),
            ("expand_ratio", expand_ratio),
        ):
            _check_positive_int(owner, arg, value)
        if kernel_size % 2 == 0:
            raise ValueError(f"`{owner}(kernel_size={kernel_size})`: `kernel_size` must be odd. Got {kernel_size}.")
        _check_activation(owner, activation)
        shape_kept = stride == 1 and C_in == C_out
        if residual and not shape_kept:
            raise ValueError(
                f"`{owner}(residual=True)`: a residual connection needs stride 1 and C_in == C_out. Got stride "
                f"{stride}, C_in {C_in} and C_out {C_out} instead."
            )
        act = _ACTIVATIONS[activation]
        mid = C_in * expand_ratio
        self.kernel_size = kernel_size
        self.expand_ratio = expand_ratio
        self.use_residual = shape_kept if residual is None else residual
        self.expand = nn.Sequential(*_conv_bn(C_in, mid, 1, 1), act()) if expand_ratio != 1 else None
        self.depthwise = nn.Sequential(*_conv_bn(mid, mid, kernel_size, stride, groups=mid), act())
        self.se = SqueezeExcite(mid, make_divisible(mid // _SE_RATIO), activation) if se else None
        self.project = nn.Sequential(*_conv_bn(mid, C_out, 1, 1))

    def branch(self, x: Tensor) -> Tensor:
        """The block without its residual connection: expand, depthwise, (SE), project."""
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        return self.project(out)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        return x + out if self.use_residual else out


def _make_block_factory(name: str) -> None:
    kernel_size, expand_ratio, se = _BLOCK_SPECS[name]

    @register_op(name, space=SPACE_NAME)
    def factory(C_in: int, C_out: int, stride: int, *, residual: bool, activation: Activation) -> nn.Module:
        return MBConv(C_in, C_out, kernel_size, stride, expand_ratio, se=se, residual=residual, activation=activation)


for _name in _BLOCK_SPECS:
    _make_block_factory(_name)


@register_op(IDENTITY, space=SPACE_NAME)
def _identity(C_in: int, C_out: int, stride: int, *, residual: bool, activation: Activation) -> nn.Module:
    if stride != 1 or C_in != C_out:
        raise ValueError(
            f"`get_op('id', space='mobilenet')`: the identity needs stride 1 and C_in == C_out. Got stride {stride}, "
            f"C_in {C_in} and C_out {C_out} instead."
        )
    return nn.Identity()


def _init_weights(module: nn.Module) -> None:
    """MobileNetV2's initialisation (torchvision): Kaiming-normal fan-out convs, unit BN, N(0, 0.01) Linear."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
