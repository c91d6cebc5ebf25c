"""The MobileNet-like chain search space of ProxylessNAS, FairNAS, SPOS-mobile and GreedyNAS.

The network is a chain: a stem (Conv3x3, 32 channels, BN, activation), a fixed first block (MBConv k3 e1, 16
channels), 21 searchable layers in 6 stages, and a head (Conv1x1 to 1280 channels, BN, activation, global average
pool, dropout, Linear). The stages have (output channels, layers, stride of the first layer) = ``(24, 4, 2)``,
``(40, 4, 2)``, ``(80, 4, 2)``, ``(96, 4, 1)``, ``(192, 4, 2)``, ``(320, 1, 1)`` (:data:`STAGES`).

Each searchable layer picks one block (:data:`MOBILENET_CHOICES`): an inverted bottleneck ``"k{3,5,7}e{3,6}"``
(kernel size times expansion ratio, :class:`MBConv`), the identity ``"id"``, and, with ``se=True``, an
MBConv with squeeze-and-excitation ``"k{3,5,7}e{3,6}_se"``. The identity is legal only where a layer keeps its
input shape, i.e. not at the 6 stage-first layers (:data:`STAGE_FIRST_LAYERS`), which choose among the MBConvs
only. The plain space thus has 6 or 7 choices per layer (nominally 7**21 paths, really 6**6 * 7**15); the SE space
has 12 or 13 (nominally 13**21).

A path is a :class:`MobileNetPath`, one choice name per layer, written ``"k3e3-k5e6-id-..."``. The weight-sharing
supernet (:class:`SinglePathSupernet`, SPOS style) holds every candidate block of every layer and runs exactly one
per layer: ``supernet(x, path)``. The discrete network of a path (:class:`MobileNetNetwork`) has the same module
structure, so the supernet's weights of a path can be copied into it (:meth:`MobileNetNetwork.load_from_supernet`).
:meth:`MobileNetSpace.flops` and :meth:`MobileNetSpace.params` compute the multiply-accumulates and the parameter
count of a path analytically, without building or running a network.

Full-width ImageNet figures (``MobileNetSpace()``, 224 x 224, 1000 classes), as computed by ``flops``/``params``:

==============  ============  ==========
path            MACs          params
==============  ============  ==========
all ``k3e3``    257,422,208   3,191,928
all ``k3e6``    472,620,800   4,684,776
all ``k7e6``    606,590,720   5,103,336
==============  ============  ==========

ProxylessNAS-mobile (a mixed path of this space) is about 320M MACs and GreedyNAS's searched net 320M (FLOPs
constraint 322M); the papers' "FLOPs" are multiply-accumulates, as here.

The blocks are registered in the ``"mobilenet"`` op registry (:func:`~lightning_nas.spaces.get_op`); a factory
takes ``(C_in, C_out, stride, *, residual, activation)`` and maps ``[B, C_in, H, W]`` to
``[B, C_out, ceil(H / stride), ceil(W / stride)]``.

References:
    Han Cai, Ligeng Zhu and Song Han. ProxylessNAS: Direct Neural Architecture Search on Target Task and
    Hardware. ICLR 2019 (the mobile macro structure and its MBConv choices; "zero" in a residual block is the
    identity).
    Xiangxiang Chu, Bo Zhang and Ruijun Xu. FairNAS: Rethinking Evaluation Fairness of Weight Sharing Neural
    Architecture Search. ICCV 2021 (the same macro structure).
    Zichao Guo et al. Single Path One-Shot Neural Architecture Search with Uniform Sampling. ECCV 2020
    (the single-path supernet).
    Shan You et al. GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet. CVPR 2020 (Section 5.1, "Search
    space", and supplementary Table 5: this space, with identity and the SE option).
    Mark Sandler et al. MobileNetV2: Inverted Residuals and Linear Bottlenecks. CVPR 2018 (the inverted bottleneck
    and the width multiplier); Andrew Howard et al. Searching for MobileNetV3. ICCV 2019 (h-swish, hard sigmoid
    squeeze-and-excitation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Literal, cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import (
    Genotype,
    SearchSpace,
    StepOrder,
    _check_positive_int,
    get_op,
    register_op,
    register_search_space,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "MBCONV_CHOICES",
    "MOBILENET_CHOICES",
    "SE_CHOICES",
    "STAGES",
    "STAGE_FIRST_LAYERS",
    "Activation",
    "MBConv",
    "MobileNetLayer",
    "MobileNetNetwork",
    "MobileNetPath",
    "MobileNetSpace",
    "MobileNetVariant",
    "SinglePathSupernet",
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


# ------------------------------------------------------------------------------------------------- operations
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

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
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


# --------------------------------------------------------------------------------------------------- genotype
@dataclass(frozen=True, repr=False)
class MobileNetPath(Genotype):
    """A path of the MobileNet chain space: one choice name per searchable layer (21).

    The canonical string joins the choices with ``"-"``, e.g. ``"k3e6-k5e3-id-...-k7e6"``. A path is immutable,
    hashable, has a length (21) and is indexed like its ``choices`` tuple. Its constructor checks the structure
    every instance of the space shares: 21 known names, and no identity at a stage-first layer
    (:data:`STAGE_FIRST_LAYERS`). Whether SE choices are allowed depends on the space's options and is checked by
    :meth:`MobileNetSpace.validate`.

    Args:
        choices: 21 names from :data:`MOBILENET_CHOICES`.

    Raises:
        ValueError: If ``choices`` does not hold 21 names, a name is unknown, or ``"id"`` is at a stage-first
            layer; the message names the layer and its legal choices.

    Example:
        >>> path = MobileNetPath(("k3e6",) * 4 + ("k5e3", "id", "id", "k7e6_se") + ("k3e3",) * 13)
        >>> str(path)[:40]
        'k3e6-k3e6-k3e6-k3e6-k5e3-id-id-k7e6_se-k'
        >>> len(path), path[5], path.num_identity
        (21, 'id', 2)
        >>> MobileNetPath.from_string(str(path)) == path
        True
        >>> Genotype.from_json(path.to_json()) == path
        True
        >>> MobileNetPath(("id",) + ("k3e3",) * 20)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `MobileNetPath`: layer 0 (stage 1, first layer) cannot be 'id'; ... Legal choices there: [...]...

    References:
        You et al., GreedyNAS, CVPR 2020 (Section 3: a path is a tuple of one op per layer).
    """

    space: ClassVar[str] = SPACE_NAME
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        choices = self.choices
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise ValueError(
                f"`MobileNetPath(choices={choices!r})`: `choices` must be a sequence of {NUM_LAYERS} choice names."
            )
        choices = tuple(choices)
        if len(choices) != NUM_LAYERS:
            raise ValueError(
                f"`MobileNetPath`: `choices` must hold {NUM_LAYERS} choice names, one per searchable layer. "
                f"Got {len(choices)} instead: {choices!r}."
            )
        for index, choice in enumerate(choices):
            if choice not in _ALL_CHOICES:
                raise ValueError(
                    f"`MobileNetPath`: unknown choice {choice!r} at layer {index}. "
                    f"Allowed choices: {list(MOBILENET_CHOICES)}."
                )
            if choice == IDENTITY and index in _STAGE_FIRST:
                raise ValueError(
                    f"`MobileNetPath`: layer {index} (stage {STAGE_FIRST_LAYERS.index(index) + 1}, first layer) "
                    f"cannot be 'id'; the identity is illegal at the stage-first layers {STAGE_FIRST_LAYERS}. "
                    f"Legal choices there: {list(MBCONV_CHOICES)} (+ their '_se' variants in an SE space)."
                )
        object.__setattr__(self, "choices", choices)

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``"choice-choice-...-choice"`` (21 names joined by ``"-"``, no whitespace).

        Raises:
            ValueError: If ``s`` is malformed (layer count, unknown name, identity at a stage-first layer) or the
                genotype of another search space.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        if "|" in s or s.lstrip().startswith("Genotype(") or "normal=" in s:
            raise ValueError(
                f"{s!r} looks like the genotype of another search space (NAS-Bench-201 or DARTS); a MobileNet path "
                f"has the form 'k3e3-k5e6-id-...' with {NUM_LAYERS} names from {list(MOBILENET_CHOICES)}."
            )
        tokens = s.split("-")
        if len(tokens) != NUM_LAYERS:
            raise ValueError(
                f"Invalid MobileNet path string {s!r}: expected {NUM_LAYERS} choice names joined by '-', got "
                f"{len(tokens)}."
            )
        return cls(tuple(tokens))

    @property
    def num_identity(self) -> int:
        """How many layers are skipped (``"id"``)."""
        return self.choices.count(IDENTITY)

    def __str__(self) -> str:
        return "-".join(self.choices)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.from_string({str(self)!r})"

    def __len__(self) -> int:
        return len(self.choices)

    def __getitem__(self, index: int) -> str:
        return self.choices[index]


_ALL_CHOICES = frozenset(MOBILENET_CHOICES)
_STAGE_FIRST = frozenset(STAGE_FIRST_LAYERS)


@dataclass(frozen=True)
class MobileNetLayer:
    """The fixed description of one searchable layer of a :class:`MobileNetSpace` (see ``space.layer_info(i)``).

    Attributes:
        index: Layer index, 0..20.
        stage: Stage, 1..6.
        position: Position in the stage, 0 for the stage-first layer.
        in_channels: Input channels (after the width multiplier).
        out_channels: Output channels (after the width multiplier).
        stride: Stride of the layer's MBConvs (1 except at some stage-first layers).
        input_resolution: Side of the input feature map at the space's ``input_size``.
        output_resolution: Side of the output feature map.
        choices: The legal choice names.
    """

    index: int
    stage: int
    position: int
    in_channels: int
    out_channels: int
    stride: int
    input_resolution: int
    output_resolution: int
    choices: tuple[str, ...]

    @property
    def stage_first(self) -> bool:
        """Whether the layer opens its stage (no identity, no residual connection)."""
        return self.position == 0


# ---------------------------------------------------------------------------------------------------- networks
class _Chain(nn.Module):
    """Stem, first block and head shared by the supernet and the discrete network (same module names)."""

    def __init__(self, space: MobileNetSpace, num_classes: int) -> None:
        super().__init__()
        act = _ACTIVATIONS[space.resolved_activation]
        stem, first = space.stem_channels, space.first_block_channels
        self.stem = nn.Sequential(*_conv_bn(space.in_channels, stem, 3, space.stem_stride), act())
        self.first_block = MBConv(stem, first, 3, 1, 1, residual=False, activation=space.resolved_activation)
        last = space.layer_info(NUM_LAYERS - 1).out_channels
        self.head = nn.Sequential(*_conv_bn(last, space.head_channels_scaled, 1, 1), act())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(space.dropout)
        self.classifier = nn.Linear(space.head_channels_scaled, num_classes)

    def _head(self, h: Tensor) -> Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.head(h)), 1)))


def _make_block(space: MobileNetSpace, info: MobileNetLayer, choice: str) -> nn.Module:
    return get_op(choice, space=SPACE_NAME)(
        info.in_channels,
        info.out_channels,
        info.stride,
        residual=not info.stage_first,
        activation=space.resolved_activation,
    )


class _ChoiceLayer(nn.Module):
    """One supernet layer: every candidate block of the layer in ``candidates``, keyed by its choice name."""

    def __init__(self, space: MobileNetSpace, info: MobileNetLayer) -> None:
        super().__init__()
        self.candidates = nn.ModuleDict({choice: _make_block(space, info, choice) for choice in info.choices})

    def forward(self, x: Tensor, choice: str) -> Tensor:
        return self.candidates[choice](x)


class SinglePathSupernet(_Chain):
    """The single-path weight-sharing supernet (SPOS): every layer holds all its candidates, a path runs one each.

    ``forward(x, path)`` checks the path against the space (:meth:`MobileNetSpace.validate`) and runs the stem,
    the first block, the chosen block of every layer and the head. Each candidate block owns its weights and its
    BatchNorms (standard ``BatchNorm2d`` with running statistics, as SPOS), shared by all paths that choose it; in
    training mode only the running statistics of the chosen blocks move. SPOS and GreedyNAS's NSGA-II may
    recalibrate them on training batches before evaluating a path (reset the statistics of the path's BNs, run a
    few batches in train mode without gradients; :meth:`path_modules` lists the modules of a path). Under DDP the
    blocks a path skips get no gradient, so the strategy needs ``find_unused_parameters=True`` (Lightning:
    ``strategy="ddp_find_unused_parameters_true"``).

    It is a plain ``nn.Module``, not a :class:`~lightning_nas.spaces.Supernet`: it has no architecture parameters
    and no current genotype to derive. :meth:`arch_parameters` is empty and :meth:`weight_parameters` returns all
    parameters, so code written for the differentiable supernets can treat both alike.

    Args:
        space: The :class:`MobileNetSpace` whose options (width, variant, SE, activation, dropout, ...) to use.
        num_classes: Outputs of the classifier; ``None`` uses ``space.num_classes``.

    Example:
        >>> space = MobileNetSpace(input_size=32, width_mult=0.25, num_classes=10)
        >>> _ = torch.manual_seed(0)
        >>> supernet = space.build_supernet()
        >>> path = space.random_path(torch.Generator().manual_seed(0))
        >>> supernet(torch.randn(2, 3, 32, 32), path).shape
        torch.Size([2, 10])
        >>> sorted(supernet.layers[1].candidates)
        ['id', 'k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6']
    """

    def __init__(self, space: MobileNetSpace, num_classes: int | None = None) -> None:
        if not isinstance(space, MobileNetSpace):
            raise TypeError(
                f"`{type(self).__name__}`: `space` must be a MobileNetSpace. Got {type(space).__name__} instead."
            )
        num_classes = space.num_classes if num_classes is None else num_classes
        _check_positive_int(type(self).__name__, "num_classes", num_classes)
        super().__init__(space, num_classes)
        self.space = space
        self.num_classes = num_classes
        self.layers = nn.ModuleList(_ChoiceLayer(space, info) for info in space.layers)
        _init_weights(self)

    def forward(self, x: Tensor, path: MobileNetPath | str | Sequence[str]) -> Tensor:
        """Return the logits of ``x`` through ``path`` (a :class:`MobileNetPath`, its string or its choices).

        Raises:
            ValueError: If ``path`` is malformed or not legal in the space (e.g. an SE choice in a plain space).
        """
        path = self.space.validate(path)
        h = self.first_block(self.stem(x))
        for layer, choice in zip(self.layers, path.choices):
            h = layer(h, choice)
        return self._head(h)

    def path_modules(self, path: MobileNetPath | str | Sequence[str]) -> list[nn.Module]:
        """The modules ``path`` runs: stem, first block, its 21 chosen blocks, head, classifier."""
        path = self.space.validate(path)
        chosen = [layer.candidates[choice] for layer, choice in zip(self.layers, path.choices)]
        return [self.stem, self.first_block, *chosen, self.head, self.classifier]

    def path_parameters(self, path: MobileNetPath | str | Sequence[str]) -> list[nn.Parameter]:
        """The parameters ``path`` uses (those that get gradients from ``supernet(x, path)``), in module order."""
        return [p for module in self.path_modules(path) for p in module.parameters()]

    def path_state_dict(self, path: MobileNetPath | str | Sequence[str]) -> dict[str, Tensor]:
        """The state of ``path`` keyed as in :class:`MobileNetNetwork`'s ``state_dict`` (for ``load_state_dict``).

        The key ``layers.{i}.candidates.{choice}.{rest}`` becomes ``layers.{i}.{rest}``; other layers' candidates
        are dropped. The tensors are the supernet's own (not copies).
        """
        path = self.space.validate(path)
        state: dict[str, Tensor] = {}
        for key, value in self.state_dict(keep_vars=True).items():
            if not key.startswith("layers."):
                state[key] = value
                continue
            _, index, _, choice, rest = key.split(".", 4)
            if path.choices[int(index)] == choice:
                state[f"layers.{index}.{rest}"] = value
        return state

    def arch_parameters(self) -> list[nn.Parameter]:
        """No architecture parameters: the architecture is the ``path`` argument of ``forward``."""
        return []

    def weight_parameters(self) -> list[nn.Parameter]:
        """All parameters, in ``named_parameters()`` order."""
        return list(self.parameters())


class MobileNetNetwork(_Chain):
    """The discrete network of one :class:`MobileNetPath`: the supernet's structure with one block per layer.

    ``layers[i]`` is the chosen :class:`MBConv` (or ``nn.Identity`` for ``"id"``), so the module names are the
    supernet's with ``candidates.{choice}.`` removed: :meth:`load_from_supernet` copies a path's weights.

    Args:
        path: The path, or its string.
        space: The space whose options to use; ``None`` uses ``MobileNetSpace()`` (full-width ImageNet).
        num_classes: Outputs of the classifier; ``None`` uses ``space.num_classes``.

    Raises:
        ValueError: If ``path`` is malformed or not legal in ``space``.

    Example:
        >>> space = MobileNetSpace(input_size=32, width_mult=0.25, num_classes=10)
        >>> net = space.build_network("-".join(["k3e3"] * 21))
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> sum(p.numel() for p in net.parameters()) == space.params(net.path)
        True
    """

    def __init__(
        self,
        path: MobileNetPath | str | Sequence[str],
        space: MobileNetSpace | None = None,
        num_classes: int | None = None,
    ) -> None:
        space = MobileNetSpace() if space is None else space
        if not isinstance(space, MobileNetSpace):
            raise TypeError(
                f"`{type(self).__name__}`: `space` must be a MobileNetSpace. Got {type(space).__name__} instead."
            )
        num_classes = space.num_classes if num_classes is None else num_classes
        _check_positive_int(type(self).__name__, "num_classes", num_classes)
        path = space.validate(path)
        super().__init__(space, num_classes)
        self.space = space
        self.path = path
        self.genotype = path
        self.num_classes = num_classes
        self.layers = nn.ModuleList(
            _make_block(space, info, choice) for info, choice in zip(space.layers, path.choices)
        )
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        h = self.first_block(self.stem(x))
        for layer in self.layers:
            h = layer(h)
        return self._head(h)

    def load_from_supernet(self, supernet: SinglePathSupernet) -> None:
        """Copy the weights and BN statistics of this network's path from ``supernet`` (same space options).

        Raises:
            ValueError: If the supernet's structure does not match (other width, classes, SE option, ...).
        """
        state = supernet.path_state_dict(self.path)
        own = self.state_dict()
        mismatched = sorted(k for k in set(own) | set(state) if k not in own or k not in state)
        mismatched += sorted(k for k in own if k in state and own[k].shape != state[k].shape)
        if mismatched:
            raise ValueError(
                f"`{type(self).__name__}.load_from_supernet`: the supernet does not match this network's structure "
                f"(keys or shapes differ: {mismatched[:5]}{' ...' if len(mismatched) > 5 else ''})."
            )
        with torch.no_grad():
            self.load_state_dict({k: v.detach().clone() for k, v in state.items()})


# ------------------------------------------------------------------------------------------------------ space
def _check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be a bool. Got {value!r} instead.")


@register_search_space(SPACE_NAME)
class MobileNetSpace(SearchSpace):
    """The MobileNet chain space of ProxylessNAS / GreedyNAS (registered as ``"mobilenet"``).

    Layout: stem Conv3x3 (32 channels, stride 2 on ImageNet, 1 on CIFAR) + BN + activation; fixed MBConv k3 e1
    to 16 channels; 21 searchable layers in the stages of :data:`STAGES`; head Conv1x1 to 1280 channels + BN +
    activation, global average pool, dropout, Linear. Choices per layer: :meth:`choices`.

    Resolved ambiguities:

    * **Identity and residuals follow the full-width structure.** A stage-first layer never offers ``"id"`` and
      its MBConvs have no residual connection; every other layer keeps stride 1 and its channels, offers ``"id"``
      and has residual MBConvs. At full width this is exactly "stride 1 and C_in == C_out"; keeping it fixed
      means a path means the same at every width, even when rounding equalises a stage-first layer's channels
      (e.g. 80 -> 96 becomes 24 -> 24 at ``width_mult=0.25``).
    * **Width multiplier.** Every channel count ``c`` becomes ``make_divisible(c * width_mult)`` (multiple of 8,
      at least 8, MobileNetV2's rule); the 1280 head channels are only scaled up (``width_mult > 1``), as
      MobileNetV2. The hidden width of an MBConv is ``C_in * e`` (not rounded, as ProxylessNAS and mmrazor).
    * **Activation.** ``None`` picks ReLU6 for the plain space (ProxylessNAS) and h-swish for the SE space
      (mmrazor's GreedyNAS SE config, whose blocks use h-swish); the chosen activation is used in the stem, all
      blocks and the head (mmrazor keeps ReLU in its stem and head). SE: ratio 4, squeeze channels
      ``make_divisible(mid // 4)``, the block's activation then a hard sigmoid (:class:`SqueezeExcite`). The fixed
      first block has no SE.
    * **Variant.** ``"imagenet"``: stem stride 2 and stage strides (2, 2, 2, 1, 2, 1), 224 -> 7 px.
      ``"cifar"`` (spec 6.1, inferred adaptation): stem stride 1 and stage strides (1, 2, 2, 1, 2, 1),
      32 -> 4 px. ``None`` infers ``"cifar"`` when ``input_size <= 64`` (CIFAR, 64-px Tiny-ImageNet) and
      ``"imagenet"`` otherwise. Scale FLOPs constraints to the variant (:meth:`flops`).
    * **Choice order.** :meth:`choices` lists the MBConvs by kernel then expansion, then ``"id"``, then the SE
      variants, so the plain space's choices are a prefix of the SE space's.
    * ``default_step_order`` is ``"weights_first"`` only to satisfy the base class: single-path methods have no
      architecture step.

    Args:
        input_size: Side of the (square) input images; :meth:`flops` and :meth:`layer_info` use it, the networks
            accept any size.
        width_mult: Width multiplier of every channel count (see above).
        num_classes: Default outputs of the classifier (:meth:`build_supernet`, :meth:`build_network`,
            :meth:`flops`, :meth:`params`).
        se: Whether to add the squeeze-and-excitation variant of each MBConv (13 choices, GreedyNAS's larger space).
        dropout: Dropout probability before the classifier, in [0, 1) (0: none, the supernet-training setting;
            retraining recipes may set it).
        in_channels: Channels of the input images.
        variant: ``"imagenet"``, ``"cifar"`` or ``None`` (inferred from ``input_size``).
        activation: ``"relu6"``, ``"hswish"`` or ``None`` (ReLU6 without SE, h-swish with SE).
        head_channels: Channels of the head's Conv1x1 at width 1.

    Raises:
        ValueError: If an option is invalid (not a positive integer / number, an unknown variant or activation,
            ``dropout`` outside [0, 1), a non-bool ``se``).

    Example:
        >>> from lightning_nas.spaces import get_search_space
        >>> space = get_search_space("mobilenet", input_size=32, width_mult=0.25, num_classes=10)
        >>> space.num_layers, space.choices(0), len(space.choices(1))
        (21, ('k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6'), 7)
        >>> info = space.layer_info(4)
        >>> info.stage, info.stage_first, info.in_channels, info.out_channels, info.stride, info.output_resolution
        (2, True, 8, 16, 2, 16)
        >>> path = space.random_path(torch.Generator().manual_seed(0))
        >>> len(path), space.flops(path) > 0, space.params(path) > 0
        (21, True, True)
        >>> MobileNetSpace(se=True).choices(1)[-1], len(MobileNetSpace(se=True).choices(1))
        ('k7e6_se', 13)
        >>> MobileNetSpace(width_mult=0)
        Traceback (most recent call last):
        ...
        ValueError: `MobileNetSpace(width_mult=0)`: `width_mult` must be a positive number. Got 0 instead.

    References:
        Cai et al., ProxylessNAS, ICLR 2019; You et al., GreedyNAS, CVPR 2020 (Section 5.1 and Table 5);
        Sandler et al., MobileNetV2, CVPR 2018.
    """

    name: ClassVar[str] = SPACE_NAME
    genotype_type: ClassVar[type[Genotype]] = MobileNetPath
    default_step_order: ClassVar[StepOrder] = "weights_first"

    def __init__(
        self,
        input_size: int = 224,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        se: bool = False,
        dropout: float = 0.0,
        in_channels: int = 3,
        variant: MobileNetVariant | None = None,
        activation: Activation | None = None,
        head_channels: int = 1280,
    ) -> None:
        owner = type(self).__name__
        for arg, value in (
            ("input_size", input_size),
            ("num_classes", num_classes),
            ("in_channels", in_channels),
            ("head_channels", head_channels),
        ):
            _check_positive_int(owner, arg, value)
        if (
            isinstance(width_mult, bool)
            or not isinstance(width_mult, (int, float))
            or not math.isfinite(width_mult)
            or width_mult <= 0
        ):
            raise ValueError(
                f"`{owner}(width_mult={width_mult!r})`: `width_mult` must be a positive number. "
                f"Got {width_mult!r} instead."
            )
        _check_bool(owner, "se", se)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"`{owner}(dropout={dropout!r})`: `dropout` must be in [0, 1). Got {dropout!r} instead.")
        if variant is not None and variant not in ("imagenet", "cifar"):
            raise ValueError(
                f"`{owner}(variant={variant!r})`: `variant` must be 'imagenet', 'cifar' or None (inferred from "
                f"`input_size`). Got {variant!r} instead."
            )
        if activation is not None:
            _check_activation(owner, activation)
        self.input_size = input_size
        self.width_mult = width_mult
        self.num_classes = num_classes
        self.se = se
        self.dropout = dropout
        self.in_channels = in_channels
        self.variant = variant
        self.activation = activation
        self.head_channels = head_channels

    # ---------------------------------------------------------------------------------------------- structure
    @property
    def resolved_variant(self) -> MobileNetVariant:
        """``variant``, or the one inferred from ``input_size`` (``"cifar"`` when ``<= 64``)."""
        if self.variant is not None:
            return self.variant
        return "cifar" if self.input_size <= 64 else "imagenet"

    @property
    def resolved_activation(self) -> Activation:
        """``activation``, or ReLU6 without SE and h-swish with SE."""
        if self.activation is not None:
            return self.activation
        return "hswish" if self.se else "relu6"

    @property
    def stem_stride(self) -> int:
        """2 for the ImageNet variant, 1 for the CIFAR variant."""
        return 2 if self.resolved_variant == "imagenet" else 1

    @property
    def stage_strides(self) -> tuple[int, ...]:
        """Stride of each stage's first layer."""
        if self.resolved_variant == "imagenet":
            return tuple(stride for _, _, stride in STAGES)
        return CIFAR_STAGE_STRIDES

    @property
    def stem_channels(self) -> int:
        """Output channels of the stem (32 at width 1)."""
        return make_divisible(STEM_CHANNELS * self.width_mult)

    @property
    def first_block_channels(self) -> int:
        """Output channels of the fixed first block (16 at width 1)."""
        return make_divisible(FIRST_BLOCK_CHANNELS * self.width_mult)

    @property
    def head_channels_scaled(self) -> int:
        """Channels of the head conv: ``make_divisible(head_channels * max(1, width_mult))`` (MobileNetV2)."""
        return make_divisible(self.head_channels * max(1.0, self.width_mult))

    @property
    def num_layers(self) -> int:
        """The number of searchable layers, 21."""
        return NUM_LAYERS

    @cached_property
    def layers(self) -> tuple[MobileNetLayer, ...]:
        """The :class:`MobileNetLayer` of every searchable layer, in order."""
        plain = (*MBCONV_CHOICES, IDENTITY)
        first_choices = MBCONV_CHOICES + (SE_CHOICES if self.se else ())
        other_choices = plain + (SE_CHOICES if self.se else ())
        size = _out_size(self.input_size, self.stem_stride)
        channels = self.first_block_channels
        layers = []
        for stage, ((width, depth, _), stage_stride) in enumerate(zip(STAGES, self.stage_strides), start=1):
            out_channels = make_divisible(width * self.width_mult)
            for position in range(depth):
                stride = stage_stride if position == 0 else 1
                out_size = _out_size(size, stride)
                layers.append(
                    MobileNetLayer(
                        index=len(layers),
                        stage=stage,
                        position=position,
                        in_channels=channels,
                        out_channels=out_channels,
                        stride=stride,
                        input_resolution=size,
                        output_resolution=out_size,
                        choices=first_choices if position == 0 else other_choices,
                    )
                )
                channels, size = out_channels, out_size
        return tuple(layers)

    def _check_layer(self, method: str, index: object) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < NUM_LAYERS:
            raise ValueError(
                f"`{type(self).__name__}.{method}({index!r})`: the layer index must be an integer in "
                f"[0, {NUM_LAYERS}). Got {index!r} instead."
            )
        return index

    def layer_info(self, index: int) -> MobileNetLayer:
        """The :class:`MobileNetLayer` of layer ``index`` (stage, channels, stride, resolutions, choices).

        Raises:
            ValueError: If ``index`` is not in [0, 21).
        """
        return self.layers[self._check_layer("layer_info", index)]

    def choices(self, index: int) -> tuple[str, ...]:
        """The legal choice names of layer ``index``, in :data:`MOBILENET_CHOICES` order.

        6 MBConvs at a stage-first layer, plus ``"id"`` elsewhere, plus the 6 SE variants with ``se=True``.

        Raises:
            ValueError: If ``index`` is not in [0, 21).
        """
        return self.layers[self._check_layer("choices", index)].choices

    @property
    def num_paths(self) -> int:
        """The number of legal paths: ``6**6 * 7**15`` (plain) or ``12**6 * 13**15`` (SE)."""
        return math.prod(len(info.choices) for info in self.layers)

    # ------------------------------------------------------------------------------------------------- paths
    def validate(self, path: MobileNetPath | str | Sequence[str]) -> MobileNetPath:
        """Return ``path`` as a :class:`MobileNetPath` after checking that every choice is legal in this space.

        Raises:
            ValueError: If ``path`` is malformed, belongs to another space, or a layer's choice is not legal here
                (the message names the layer and its legal choices).
            TypeError: If ``path`` is neither a path, a string nor a sequence of strings.
        """
        if isinstance(path, (list, tuple)):
            path = MobileNetPath(tuple(path))
        parsed = cast(MobileNetPath, super().parse_genotype(path))
        for info, choice in zip(self.layers, parsed.choices):
            if choice not in info.choices:
                reason = " (the space has no SE choices: build it with se=True)" if choice in SE_CHOICES else ""
                raise ValueError(
                    f"`{type(self).__name__}.validate`: choice {choice!r} at layer {info.index} (stage {info.stage}, "
                    f"position {info.position}) is not legal in this space{reason}. "
                    f"Legal choices: {list(info.choices)}."
                )
        return parsed

    def parse_genotype(self, genotype: Genotype | str) -> MobileNetPath:
        """Return ``genotype`` as a :class:`MobileNetPath` legal in this space (see :meth:`validate`)."""
        return self.validate(genotype)  # type: ignore[arg-type]

    def random_path(self, generator: torch.Generator | None = None) -> MobileNetPath:
        """Draw a path uniformly: each layer's choice uniformly over its legal choices, independently.

        Args:
            generator: The random generator (CPU); ``None`` uses torch's global generator (seeded by
                ``lightning.seed_everything``).
        """
        picks = []
        for info in self.layers:
            index = int(torch.randint(len(info.choices), (), generator=generator))
            picks.append(info.choices[index])
        return MobileNetPath(tuple(picks))

    # ----------------------------------------------------------------------------------------------- costs
    def flops(self, path: MobileNetPath | str | Sequence[str], num_classes: int | None = None) -> int:
        """Multiply-accumulates (the papers' "FLOPs") of ``path``'s network on one ``input_size`` image.

        Computed analytically, layer by layer, with no forward pass. Counted: every convolution
        (``C_out * C_in / groups * k * k * H_out * W_out``, the SE block's two 1x1 convolutions on the pooled
        ``1 x 1`` map included) and the classifier (``head_channels * num_classes``). Not counted: biases,
        BatchNorm, activations, pooling (SE's and the global one), the SE gating product, residual additions and
        dropout. This equals half the FLOPs ``torch.utils.flop_counter.FlopCounterMode`` measures (it counts 2
        per multiply-accumulate of convolutions and matrix products only).

        Args:
            path: The path, its string or its choices.
            num_classes: Classifier outputs; ``None`` uses ``num_classes`` of the space.

        Raises:
            ValueError: If ``path`` is not legal in the space.
        """
        return self._cost(path, num_classes)[0]

    def params(self, path: MobileNetPath | str | Sequence[str], num_classes: int | None = None) -> int:
        """Parameter count of ``path``'s discrete network (``sum(p.numel() for p in net.parameters())``).

        Counted analytically: convolution weights, BatchNorm scales and shifts, the SE convolutions' weights and
        biases, the classifier's weight and bias; BatchNorm running statistics are buffers and not counted.

        Raises:
            ValueError: If ``path`` is not legal in the space.
        """
        return self._cost(path, num_classes)[1]

    def _cost(self, path: MobileNetPath | str | Sequence[str], num_classes: int | None) -> tuple[int, int]:
        path = self.validate(path)
        num_classes = self.num_classes if num_classes is None else num_classes
        _check_positive_int(f"{type(self).__name__}.flops", "num_classes", num_classes)
        macs, params = self._fixed_cost
        for table, choice in zip(self._block_costs, path.choices):
            block_macs, block_params = table[choice]
            macs += block_macs
            params += block_params
        head = self.head_channels_scaled
        return macs + head * num_classes, params + head * num_classes + num_classes

    @cached_property
    def _fixed_cost(self) -> tuple[int, int]:
        """MACs and parameters of the stem, first block and head conv (the classifier excluded)."""
        stem, first = self.stem_channels, self.first_block_channels
        size = _out_size(self.input_size, self.stem_stride)
        macs = stem * self.in_channels * 9 * size * size
        params = stem * self.in_channels * 9 + 2 * stem
        block_macs, block_params = _mbconv_cost(stem, first, 3, 1, 1, False, size)
        last = self.layers[-1]
        head = self.head_channels_scaled
        macs += block_macs + last.out_channels * head * last.output_resolution**2
        params += block_params + last.out_channels * head + 2 * head
        return macs, params

    @cached_property
    def _block_costs(self) -> tuple[dict[str, tuple[int, int]], ...]:
        tables = []
        for info in self.layers:
            table = {IDENTITY: (0, 0)}
            for choice in info.choices:
                if choice != IDENTITY:
                    kernel_size, expand_ratio, se = _BLOCK_SPECS[choice]
                    table[choice] = _mbconv_cost(
                        info.in_channels,
                        info.out_channels,
                        kernel_size,
                        info.stride,
                        expand_ratio,
                        se,
                        info.input_resolution,
                    )
            tables.append(table)
        return tuple(tables)

    # ---------------------------------------------------------------------------------------------- networks
    def build_supernet(self, num_classes: int | None = None) -> SinglePathSupernet:  # type: ignore[override]
        """Build a freshly initialised :class:`SinglePathSupernet` (``num_classes=None``: the space's)."""
        return SinglePathSupernet(self, num_classes)

    def build_network(  # type: ignore[override]
        self, genotype: MobileNetPath | str | Sequence[str], num_classes: int | None = None
    ) -> MobileNetNetwork:
        """Build the discrete :class:`MobileNetNetwork` of ``genotype`` (``num_classes=None``: the space's).

        Raises:
            ValueError: If ``genotype`` is malformed or not legal in the space.
        """
        return MobileNetNetwork(genotype, self, num_classes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, width_mult={self.width_mult}, "
            f"num_classes={self.num_classes}, se={self.se}, dropout={self.dropout}, in_channels={self.in_channels}, "
            f"variant={self.variant!r}, activation={self.activation!r}, head_channels={self.head_channels})"
        )


def _mbconv_cost(
    C_in: int, C_out: int, kernel_size: int, stride: int, expand_ratio: int, se: bool, size: int
) -> tuple[int, int]:
    """MACs and parameters of an :class:`MBConv` on a ``size x size`` input (see :meth:`MobileNetSpace.flops`)."""
    mid = C_in * expand_ratio
    out_size = _out_size(size, stride)
    macs = params = 0
    if expand_ratio != 1:
        macs += C_in * mid * size * size
        params += C_in * mid + 2 * mid
    macs += mid * kernel_size * kernel_size * out_size * out_size
    params += mid * kernel_size * kernel_size + 2 * mid
    if se:
        squeeze = make_divisible(mid // _SE_RATIO)
        macs += 2 * mid * squeeze
        params += 2 * mid * squeeze + squeeze + mid
    macs += mid * C_out * out_size * out_size
    params += mid * C_out + 2 * C_out
    return macs, params
