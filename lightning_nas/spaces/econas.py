"""The EcoNAS cell space: DARTS's cell with NASNet-style sampled nodes, 'none' as an op and loose-end outputs.

EcoNAS (Zhou et al., CVPR 2020, Appendix A3 and A5.1) samples and mutates cells instead of training a supernet.
A cell is the DARTS cell (two inputs ``c_{k-2}``, ``c_{k-1}`` as nodes 0 and 1, four intermediate nodes 2..5) in
which every intermediate node picks **two inputs** among the earlier states (the cell inputs included; both picks may
be the same state) and **two ops**, and adds the results. The ops are DARTS's 8 (:data:`ECONAS_OPS`), ``none``
(zeros) included: the paper's list (A5.1) and the official mutation (``search/network/mutate.py``) both have it, so a
node may ignore an input, unlike in a :class:`~lightning_nas.spaces.DARTSGenotype`, which rejects ``none``. The cell
output concatenates the **loose ends**, the intermediate nodes that no other node of the cell reads
(:func:`loose_ends`); the cell inputs are never part of it (paper A3: "two initial inputs excluded"; the official
``reconcat`` also lets unused inputs in, which breaks the shapes of reduction cells, spec 9.11).

The discrete network is DARTS's evaluation network (:class:`~lightning_nas.spaces.DARTSNetwork`): in reduction cells
the ops on the cell inputs have stride 2 (``none`` included: zeros of half the size), so every intermediate node
has half the resolution and any loose-end concat is well formed. The space has no weight-sharing supernet; it is
searched by evolution over trained children (:mod:`lightning_nas.search`).

References:
    Dongzhan Zhou et al. EcoNAS: Finding Proxies for Economical Neural Architecture Search. CVPR 2020
    (Appendix A3: the cell sampling steps; A5.1: the 8 ops, loose-end outputs).
    Barret Zoph et al. Learning Transferable Architectures for Scalable Image Recognition. CVPR 2018 (the cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from lightning_nas.spaces.base import Genotype, StepOrder, Supernet, register_search_space
from lightning_nas.spaces.cells import CELL_FIELDS, InvalidCellError, check_cell_field, loose_ends, parse_cell_genotype
from lightning_nas.spaces.darts import DARTS_OPS, DARTSGenotype, DARTSNetworkSpace, StemType

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ECONAS_OPS", "EcoNASGenotype", "EcoNASSpace", "loose_ends"]

SPACE_NAME = "econas"

ECONAS_OPS: tuple[str, ...] = DARTS_OPS
"""The 8 ops of an EcoNAS cell (paper A5.1): DARTS's, ``none`` (zeros) included."""

@dataclass(frozen=True, repr=False)
class EcoNASGenotype(DARTSGenotype):
    """An EcoNAS architecture: a normal and a reduction cell, two ``(op, input)`` pairs per node, ``none`` allowed.

    A :class:`~lightning_nas.spaces.DARTSGenotype` (same fields, same canonical string) whose ops may also be
    ``none`` (:data:`ECONAS_OPS`), registered under the space ``"econas"``. The concats may name any nodes 2..5 (as
    for DARTS genotypes); :meth:`from_cells` sets them to the loose ends, the EcoNAS rule. It is not equal to a
    ``DARTSGenotype`` with the same cells (another space). Being a ``DARTSGenotype``, it is also accepted by the
    ``"darts"`` space's network, which builds ``none`` ops as zeros.

    Args:
        normal: The normal cell's 8 pairs.
        normal_concat: The normal cell's output nodes.
        reduce: The reduction cell's 8 pairs.
        reduce_concat: The reduction cell's output nodes.

    Raises:
        ValueError: If a cell has not 8 pairs, an input index is out of range, an op is unknown, or a concat is
            empty, repeats a node or names a node outside 2..5.

    Example:
        >>> cell = [("none", 0), ("skip_connect", 1), ("sep_conv_3x3", 2), ("none", 0),
        ...         ("max_pool_3x3", 1), ("dil_conv_3x3", 0), ("skip_connect", 4), ("none", 3)]
        >>> g = EcoNASGenotype.from_cells(cell, cell)
        >>> g.normal_concat, g.space
        ((5,), 'econas')
        >>> EcoNASGenotype.from_string(str(g)) == g, Genotype.from_json(g.to_json()) == g
        (True, True)

    References:
        Zhou et al., EcoNAS, CVPR 2020 (Appendix A3 and A5.1).
    """

    space: ClassVar[str] = SPACE_NAME

    def __post_init__(self) -> None:
        for field in CELL_FIELDS:
            value = getattr(self, field)
            try:
                checked = check_cell_field(field, value, ECONAS_OPS)
            except InvalidCellError as err:
                raise ValueError(f"`EcoNASGenotype({field}={value!r})`: {err}.") from None
            object.__setattr__(self, field, checked)

    @classmethod
    def from_cells(cls, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Self:
        """The genotype of two cells whose outputs are their loose ends (:func:`loose_ends`).

        Raises:
            ValueError: If a cell is invalid (see the class).
        """
        normal, reduce = tuple(normal), tuple(reduce)
        return cls(normal=normal, normal_concat=loose_ends(normal), reduce=reduce, reduce_concat=loose_ends(reduce))

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``, ``none`` allowed.

        Read with :func:`ast.literal_eval` (never ``eval``); a concat may also be written ``range(a, b)``.

        Raises:
            ValueError: If ``s`` is malformed or invalid, or is a NAS-Bench-201 genotype.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        return cls(**parse_cell_genotype(s, ops=ECONAS_OPS, kind="EcoNAS"))


@register_search_space(SPACE_NAME)
class EcoNASSpace(DARTSNetworkSpace):
    """The EcoNAS cell space (registered as ``"econas"``): discrete networks of :class:`EcoNASGenotype` cells.

    The defaults are EcoNAS's final (original-setting) CIFAR-10 evaluation, as DARTS's: ``N = 6`` (20 cells), 36
    initial channels, the auxiliary tower. Children of the search train the reduced setting (e.g. ``C=8``, no
    auxiliary tower: the official search code trains without one; see
    :meth:`lightning_nas.search.ReducedSetting.module_kwargs`). There is no supernet: :meth:`build_supernet` raises.

    Args:
        C: Channels of the first cells (then ``2C`` and ``4C``).
        layers: Number of cells (``3N + 2``).
        stem: ``"cifar"`` or ``"imagenet"`` (DARTS's stems).
        in_channels: Channels of the input images.
        auxiliary: Whether the network has DARTS's auxiliary head.

    Raises:
        ValueError: If an option is invalid.

    Example:
        >>> import torch
        >>> space = EcoNASSpace(C=4, layers=5, auxiliary=False)
        >>> cell = [("none", 0), ("skip_connect", 1), ("sep_conv_3x3", 2), ("none", 0),
        ...         ("max_pool_3x3", 1), ("dil_conv_3x3", 0), ("skip_connect", 4), ("none", 3)]
        >>> net = space.build_network(EcoNASGenotype.from_cells(cell, cell), num_classes=10)
        >>> net(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 10])

    References:
        Zhou et al., EcoNAS, CVPR 2020 (Section 5 and Appendix A5); Liu et al., DARTS, ICLR 2019 (the network).
    """

    name: ClassVar[str] = SPACE_NAME
    genotype_type: ClassVar[type[Genotype]] = EcoNASGenotype
    default_step_order: ClassVar[StepOrder] = "arch_first"  # unused: the space has no supernet
    ops: ClassVar[tuple[str, ...]] = ECONAS_OPS
    skip_op: ClassVar[str | None] = "skip_connect"
    parameter_free_ops: ClassVar[tuple[str, ...]] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect")

    def __init__(
        self, C: int = 36, layers: int = 20, stem: StemType = "cifar", in_channels: int = 3, auxiliary: bool = True
    ) -> None:
        self._set_network_options(C, layers, stem, in_channels, auxiliary)

    def build_supernet(self, num_classes: int) -> Supernet:
        """Not available: EcoNAS trains discrete children instead of a supernet.

        Raises:
            NotImplementedError: Always.
        """
        raise NotImplementedError(
            "`EcoNASSpace.build_supernet`: the EcoNAS space has no weight-sharing supernet; search it by evolution "
            "over trained children (lightning_nas.search), or use the 'darts' space for one-shot methods."
        )

    def parse_genotype(self, genotype: Genotype | str) -> EcoNASGenotype:
        """Return ``genotype`` as an :class:`EcoNASGenotype`, parsing it if it is a string."""
        return cast(EcoNASGenotype, super().parse_genotype(genotype))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(C={self.C}, layers={self.layers}, stem={self.stem!r}, "
            f"in_channels={self.in_channels}, auxiliary={self.auxiliary})"
        )
