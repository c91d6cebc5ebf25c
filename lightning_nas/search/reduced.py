"""EcoNAS's reduced settings ``c r s e``: fewer channels, lower resolution, fewer samples, fewer epochs.

A reduced setting (Zhou et al., CVPR 2020, Section 3.1 and Table 1) trains a network with ``c`` initial channels on
``r x r`` images, a fraction ``s`` of the training samples, for ``e`` epochs. Names such as ``c4r4s0e60`` index the
CIFAR-10 table for ``c``, ``r`` and ``s`` (:data:`CHANNELS`, :data:`RESOLUTIONS`, :data:`SAMPLE_RATIOS`), while the
number after ``e`` **is the epoch count itself** (paper, Section 3.1: "the subscript for e is an integer, e.g.
e30 indicates 30 training epochs"; Table 1's e row, 30/60/90/120, is only the grid of the exploration study):
``c4r4s0e60`` is 8 channels, 8 x 8 images, all samples, 60 epochs (EcoNAS's proxy) and ``c0r0s0e600`` the original
DARTS setting (36 channels, 32 x 32, all samples, 600 epochs).

Applying a setting (:class:`ReducedSetting`): :meth:`~ReducedSetting.module_kwargs` gives the
:class:`~lightning_nas.methods.ArchitectureTraining` arguments (``C`` of the space, no drop path, the cutout scaled
by ``r / 32``, a cosine schedule that completes within ``e`` epochs), :meth:`~ReducedSetting.datamodule` wraps a
search data module for ``r`` and ``s`` (:class:`~lightning_nas.datamodules.ReducedDataModule`), and ``e`` is the
epoch count (``Trainer(max_epochs=setting.e)``, or fewer for a staged run along the same schedule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightning_nas.datamodules import ReducedDataModule, SearchDataModule

__all__ = ["CHANNELS", "RESOLUTIONS", "SAMPLE_RATIOS", "ReducedSetting"]

CHANNELS: tuple[int, ...] = (36, 24, 18, 12, 8)
"""Initial channels ``c_0 .. c_4`` (CIFAR-10, Table 1): ``36 / sqrt(2)^x``, rounded to a multiple of 4."""

RESOLUTIONS: tuple[int, ...] = (32, 24, 16, 12, 8)
"""Input resolutions ``r_0 .. r_4`` (CIFAR-10, Table 1)."""

SAMPLE_RATIOS: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
"""Sample ratios ``s_0 .. s_3`` (CIFAR-10, Table 1)."""

_NAME = re.compile(r"c(\d+)r(\d+)s(\d+)e(\d+)")
_GRAMMAR = (
    "'c{a}r{b}s{c}e{epochs}' with a in 0..4 (c = 36, 24, 18, 12, 8 channels), b in 0..4 (r = 32, 24, 16, 12, 8 "
    "pixels), c in 0..3 (s = 1, 0.5, 0.25, 0.125) and epochs >= 1, e.g. 'c4r4s0e60'"
)

# The networks a child trains when the caller gives no space options: EcoNAS's N = 6 (20 cells) without the
# auxiliary tower (the official search code trains without one), and NAS-Bench-201's own macro skeleton (N = 5).
DEFAULT_SPACE_OPTIONS: dict[str, dict[str, Any]] = {
    "econas": {"layers": 20, "auxiliary": False},
    "darts": {"layers": 20, "auxiliary": False},
    "nasbench201": {"N": 5},
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ReducedSetting:
    """A reduced training setting: ``c`` initial channels, ``r x r`` images, sample ratio ``s``, ``e`` epochs.

    The defaults are EcoNAS's proxy ``c4r4s0e60`` (paper Section 4.1; spec ambiguity 7: the paper's 8 channels, not
    the official code's 9). ``c`` is always the absolute initial-channel count ``C`` of the trained network, whatever
    the space: on the DARTS/EcoNAS cells the table's ``c_0 = 36`` is the original setting; on NAS-Bench-201 (whose
    own network has ``C = 16``) the names give the same absolute widths, so ``c4`` = 8 channels is half the
    benchmark's width and ``c0`` = 36 is wider than it (use ``c=16`` for NAS-Bench-201's width). ``None`` keeps the
    model's own channels (``c``) or the data's own size (``r``).

    In YAML, give the name or the fields: ``setting: c4r4s0e60`` or ``setting: {c: 8, r: 8, s: 1.0, e: 60}``
    (annotate the argument ``ReducedSetting | str`` and normalise it with :meth:`coerce`).

    Args:
        c: initial channels of the network (``C``), or ``None``.
        r: input resolution the images are resized to, or ``None``.
        s: fraction of the training samples kept, in (0, 1].
        e: epochs; the cosine learning-rate schedule completes within them.

    Raises:
        ValueError: if a field is out of range.

    Example:
        >>> setting = ReducedSetting.parse("c4r4s0e60")
        >>> setting, str(setting)
        (ReducedSetting(c=8, r=8, s=1.0, e=60), 'c4r4s0e60')
        >>> str(ReducedSetting.parse("c0r0s0e600")), ReducedSetting.coerce({"c": 9, "r": 8, "s": 1.0, "e": 60}).name
        ('c0r0s0e600', None)
        >>> ReducedSetting.parse("c5r0s0e60")
        Traceback (most recent call last):
        ...
        ValueError: `ReducedSetting.parse('c5r0s0e60')`: the c subscript must be in 0..4 (36, 24, 18, 12, 8 channels). Got 5 instead.

    References:
        Zhou et al., EcoNAS, CVPR 2020 (Section 3.1 and Table 1: the factors; Appendix A5.2: reduced training).
    """  # noqa: E501

    c: int | None = 8
    r: int | None = 8
    s: float = 1.0
    e: int = 60

    def __post_init__(self) -> None:
        for field in ("c", "r"):
            value = getattr(self, field)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(
                    f"`ReducedSetting({field}={value!r})`: `{field}` must be a positive int or None. Got {value!r}."
                )
        s = self.s
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1:
            raise ValueError(f"`ReducedSetting(s={s!r})`: `s` must be in (0, 1]. Got {s!r} instead.")
        object.__setattr__(self, "s", float(s))
        if not _is_int(self.e) or self.e < 1:
            raise ValueError(f"`ReducedSetting(e={self.e!r})`: `e` must be a positive int (epochs). Got {self.e!r}.")

    @classmethod
    def parse(cls, name: str) -> ReducedSetting:
        """Read a name such as ``c4r4s0e60`` (the CIFAR-10 table for c, r and s; e is the epoch count).

        Raises:
            ValueError: if ``name`` does not follow the grammar or a subscript is outside the table.
            TypeError: if ``name`` is not a string.
        """
        if not isinstance(name, str):
            raise TypeError(f"`ReducedSetting.parse`: expected a string. Got {type(name).__name__} instead.")
        where = f"`ReducedSetting.parse({name!r})`"
        match = _NAME.fullmatch(name.strip().lower())
        if match is None:
            raise ValueError(f"{where}: a reduced setting is named {_GRAMMAR}. Got {name!r} instead.")
        a, b, c, epochs = (int(group) for group in match.groups())
        for letter, index, table, unit in (
            ("c", a, CHANNELS, "channels"),
            ("r", b, RESOLUTIONS, "pixels"),
            ("s", c, SAMPLE_RATIOS, "of the samples"),
        ):
            if index >= len(table):
                values = ", ".join(f"{v:g}" for v in table)
                raise ValueError(
                    f"{where}: the {letter} subscript must be in 0..{len(table) - 1} ({values} {unit}). "
                    f"Got {index} instead."
                )
        if epochs < 1:
            raise ValueError(
                f"{where}: the number after 'e' is the epoch count itself (e60 = 60 epochs) and must be >= 1. "
                f"Got {epochs} instead."
            )
        return cls(c=CHANNELS[a], r=RESOLUTIONS[b], s=SAMPLE_RATIOS[c], e=epochs)

    @classmethod
    def coerce(cls, value: ReducedSetting | str | Mapping[str, Any]) -> ReducedSetting:
        """A setting from itself, its name (:meth:`parse`) or its fields as a mapping (e.g. parsed YAML).

        Raises:
            ValueError: if the name or a field is invalid.
            TypeError: if ``value`` is none of the three, or the mapping has other keys.
        """
        if isinstance(value, ReducedSetting):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"c", "r", "s", "e"})
            if unknown:
                raise TypeError(f"`ReducedSetting.coerce`: unknown field(s) {unknown}; the fields are c, r, s, e.")
            return cls(**value)
        raise TypeError(
            f"`ReducedSetting.coerce`: expected a ReducedSetting, its name or its fields. Got {type(value).__name__}."
        )

    @property
    def name(self) -> str | None:
        """The name ``c{a}r{b}s{c}e{e}`` when c, r and s are values of the CIFAR-10 table, else ``None``."""
        if self.c not in CHANNELS or self.r not in RESOLUTIONS or self.s not in SAMPLE_RATIOS:
            return None
        return f"c{CHANNELS.index(self.c)}r{RESOLUTIONS.index(self.r)}s{SAMPLE_RATIOS.index(self.s)}e{self.e}"

    def __str__(self) -> str:
        """The name when it exists (:attr:`name`), else the fields (``ReducedSetting(c=9, r=8, s=1.0, e=60)``)."""
        return self.name or repr(self)

    def cutout_length(self, full_length: int = 16, base_resolution: int = 32) -> int:
        """The cutout side at resolution ``r``: ``round(full_length * r / base_resolution)`` (A5.2, item 3).

        Args:
            full_length: the cutout side of the original setting (DARTS: 16 at 32 x 32); 0 disables cutout.
            base_resolution: the resolution ``full_length`` belongs to.

        Example:
            >>> ReducedSetting.parse("c4r4s0e60").cutout_length(), ReducedSetting(r=None).cutout_length()
            (4, 16)
        """
        if not _is_int(full_length) or full_length < 0:
            raise ValueError(f"`ReducedSetting.cutout_length(full_length={full_length!r})`: must be an int >= 0.")
        if not _is_int(base_resolution) or base_resolution < 1:
            raise ValueError(
                f"`ReducedSetting.cutout_length(base_resolution={base_resolution!r})`: must be a positive int."
            )
        if self.r is None or full_length == 0:
            return full_length
        return max(1, round(full_length * self.r / base_resolution))

    def module_kwargs(
        self,
        search_space: str = "econas",
        space_options: Mapping[str, Any] | None = None,
        *,
        cutout: int = 16,
        base_resolution: int = 32,
    ) -> dict[str, Any]:
        """The :class:`~lightning_nas.methods.ArchitectureTraining` arguments of this setting.

        Reduced-setting training is the original recipe with EcoNAS's changes (Appendix A5.2): the cosine schedule
        completes within ``e`` epochs (``schedule_epochs=e``, so it does not depend on where a staged run stops),
        no path dropout (``drop_path_prob=0``), and a cutout scaled to the resolution (:meth:`cutout_length`; pass
        ``cutout=0`` for the official search code, which has none). The space's ``C`` becomes ``c``.

        Args:
            search_space: the space of the trained genotypes.
            space_options: the network's options; ``None`` uses EcoNAS's search network (``layers=20``, no
                auxiliary tower) for ``"econas"``/``"darts"`` and ``N=5`` for ``"nasbench201"``. ``C`` is replaced
                by ``c`` unless ``c`` is ``None``.
            cutout: the cutout side at ``base_resolution`` (the original setting's; DARTS: 16).
            base_resolution: the resolution ``cutout`` belongs to.

        Returns:
            ``{"search_space", "space_options", "drop_path_prob", "cutout", "schedule_epochs"}``.

        Example:
            >>> ReducedSetting.parse("c4r4s0e60").module_kwargs("nasbench201", {"N": 1})
            {'search_space': 'nasbench201', 'space_options': {'N': 1, 'C': 8}, 'drop_path_prob': 0.0, 'cutout': 4, 'schedule_epochs': 60}
        """  # noqa: E501
        options = dict(DEFAULT_SPACE_OPTIONS.get(search_space, {}) if space_options is None else space_options)
        if self.c is not None:
            options["C"] = self.c
        return {
            "search_space": search_space,
            "space_options": options,
            "drop_path_prob": 0.0,
            "cutout": self.cutout_length(cutout, base_resolution),
            "schedule_epochs": self.e,
        }

    def datamodule(self, datamodule: SearchDataModule, seed: int | None = None) -> ReducedDataModule:
        """Wrap a search data module for ``r`` and ``s`` (:class:`~lightning_nas.datamodules.ReducedDataModule`).

        Args:
            datamodule: the search data module (for EcoNAS: ``val_fraction=0.1, paired=False``).
            seed: seeds the subset of fraction ``s``; ``None`` uses the data module's seed.
        """
        return ReducedDataModule(datamodule, resolution=self.r, fraction=self.s, seed=seed)
