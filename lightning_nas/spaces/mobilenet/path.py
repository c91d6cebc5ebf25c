"""A path through the MobileNet chain (:class:`MobileNetPath`) and the description of one searchable layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lightning_nas.spaces.base import Genotype, GenotypeEdge
from lightning_nas.spaces.mobilenet.blocks import (
    IDENTITY,
    MBCONV_CHOICES,
    MOBILENET_CHOICES,
    NUM_LAYERS,
    SPACE_NAME,
    STAGE_FIRST_LAYERS,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MobileNetLayer", "MobileNetPath"]


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

    def edges(self) -> tuple[GenotypeEdge, ...]:
        """The 21 layers of the chain, ``"layer {i}"``, in the cell ``"path"`` (no input or output nodes)."""
        return tuple(GenotypeEdge("path", f"layer {i}", choice) for i, choice in enumerate(self.choices))

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
