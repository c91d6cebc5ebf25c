"""The MobileNet chain space (:class:`MobileNetSpace`, registered as ``"mobilenet"``) and its networks.

The networks are the single-path supernet (:class:`SinglePathSupernet`) and the discrete network of a path
(:class:`MobileNetNetwork`); the space also counts a path's FLOPs and parameters analytically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import (
    DifferentiableSearchSpace,
    Genotype,
    PathSupernet,
    SinglePathSearchSpace,
    StepOrder,
    _check_bool,
    _check_positive_int,
    get_op,
    register_search_space,
)
from lightning_nas.spaces.mobilenet.blocks import (
    _ACTIVATIONS,
    _BLOCK_SPECS,
    _SE_RATIO,
    CIFAR_STAGE_STRIDES,
    FIRST_BLOCK_CHANNELS,
    IDENTITY,
    MBCONV_CHOICES,
    MOBILENET_CHOICES,
    NUM_LAYERS,
    SE_CHOICES,
    SPACE_NAME,
    STAGES,
    STEM_CHANNELS,
    Activation,
    MBConv,
    MobileNetVariant,
    _check_activation,
    _conv_bn,
    _init_weights,
    _out_size,
    make_divisible,
)
from lightning_nas.spaces.mobilenet.path import MobileNetLayer, MobileNetPath

if TYPE_CHECKING:
    from lightning_nas.spaces.mobilenet.mixed import MixedOpSupernet

__all__ = ["MobileNetNetwork", "MobileNetSpace", "SinglePathSupernet"]


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


class _SupernetChain(_Chain):
    """A supernet's chain: the space and ``num_classes`` checked, one ``layer_type(space, info)`` per layer."""

    def __init__(
        self,
        space: MobileNetSpace,
        num_classes: int | None,
        layer_type: Callable[[MobileNetSpace, MobileNetLayer], nn.Module],
    ) -> None:
        if not isinstance(space, MobileNetSpace):
            raise TypeError(
                f"`{type(self).__name__}`: `space` must be a MobileNetSpace. Got {type(space).__name__} instead."
            )
        num_classes = space.num_classes if num_classes is None else num_classes
        _check_positive_int(type(self).__name__, "num_classes", num_classes)
        super().__init__(space, num_classes)
        self.space = space
        self.num_classes = num_classes
        self.layers = nn.ModuleList(layer_type(space, info) for info in space.layers)
        _init_weights(self)


class SinglePathSupernet(_SupernetChain, PathSupernet):
    """The single-path weight-sharing supernet (SPOS): every layer holds all its candidates, a path runs one each.

    ``forward(x, path)`` checks the path against the space (:meth:`MobileNetSpace.validate`) and runs the stem,
    the first block, the chosen block of every layer and the head. Each candidate block owns its weights and its
    BatchNorms (standard ``BatchNorm2d`` with running statistics, as SPOS), shared by all paths that choose it; in
    training mode only the running statistics of the chosen blocks move. SPOS and GreedyNAS's NSGA-II may
    recalibrate them on training batches before evaluating a path (reset the statistics of the path's BNs, run a
    few batches in train mode without gradients; :meth:`path_modules` lists the modules of a path). Under DDP the
    blocks a path skips get no gradient, so the strategy needs ``find_unused_parameters=True`` (Lightning:
    ``strategy="ddp_find_unused_parameters_true"``).

    It is a :class:`~lightning_nas.spaces.PathSupernet`, not a :class:`~lightning_nas.spaces.Supernet`: it has no
    architecture parameters and no current genotype to derive. :meth:`arch_parameters` is empty and
    :meth:`weight_parameters` returns all parameters, so code written for the differentiable supernets can treat
    both alike.

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
        super().__init__(space, num_classes, _ChoiceLayer)

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

    def path_modules(self, path: Genotype | str | Sequence[str]) -> list[nn.Module]:
        """The modules ``path`` runs: stem, first block, its 21 chosen blocks, head, classifier."""
        path = self.space.validate(path)
        chosen = [layer.candidates[choice] for layer, choice in zip(self.layers, path.choices)]
        return [self.stem, self.first_block, *chosen, self.head, self.classifier]

    def path_parameters(self, path: Genotype | str | Sequence[str]) -> list[nn.Parameter]:
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
@register_search_space(SPACE_NAME)
class MobileNetSpace(SinglePathSearchSpace, DifferentiableSearchSpace):
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
    * **Two supernets.** The space is both a :class:`~lightning_nas.spaces.SinglePathSearchSpace` and a
      :class:`~lightning_nas.spaces.DifferentiableSearchSpace`: :meth:`build_supernet` builds the single-path
      supernet (SPOS, GreedyNAS), :meth:`build_mixed_supernet` the mixed-op one (DARTS, β-DARTS, BDP's Table 6).
    * ``default_step_order`` is ``"weights_first"`` (xautodl's DARTS-V1 order, which BDP's and β-DARTS's
      NAS-Bench-201 code use; BDP does not state one for this space). Single-path methods have no architecture step.

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
    ops: ClassVar[tuple[str, ...]] = MOBILENET_CHOICES
    skip_op: ClassVar[str | None] = IDENTITY
    parameter_free_ops: ClassVar[tuple[str, ...]] = (IDENTITY,)
    stages: ClassVar[tuple[int, ...] | None] = tuple(n for _, n, _ in STAGES)

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
    def validate(self, path: Genotype | str | Sequence[str]) -> MobileNetPath:
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
        return self.validate(genotype)

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
    def build_supernet(self, num_classes: int | None = None) -> SinglePathSupernet:
        """Build a freshly initialised :class:`SinglePathSupernet` (``num_classes=None``: the space's)."""
        return SinglePathSupernet(self, num_classes)

    def build_mixed_supernet(self, num_classes: int | None = None) -> MixedOpSupernet:
        """Build a freshly initialised mixed-op :class:`~lightning_nas.spaces.mobilenet.MixedOpSupernet`.

        What the differentiable methods (:class:`~lightning_nas.methods.DARTS`, β-DARTS, BDP) train: one
        ``arch_alpha`` row per layer over its legal choices. ``num_classes=None``: the space's.
        """
        from lightning_nas.spaces.mobilenet.mixed import MixedOpSupernet  # mixed.py builds on this module's chain

        return MixedOpSupernet(self, num_classes)

    def build_network(
        self, genotype: Genotype | str | Sequence[str], num_classes: int | None = None
    ) -> MobileNetNetwork:
        """Build the discrete :class:`MobileNetNetwork` of ``genotype`` (``num_classes=None``: the space's).

        Raises:
            ValueError: If ``genotype`` is malformed or not legal in the space.
        """
        return MobileNetNetwork(self.validate(genotype), self, num_classes)

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
