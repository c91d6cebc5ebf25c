"""The DARTS search spaces (:class:`DARTSNetworkSpace`, :class:`DARTSSpace`), registered as ``"darts"``."""

from __future__ import annotations

from typing import ClassVar, cast

from lightning_nas.spaces.base import (
    DifferentiableSearchSpace,
    Genotype,
    SearchSpace,
    StepOrder,
    _check_bool,
    register_search_space,
)
from lightning_nas.spaces.darts.genotype import DARTSGenotype
from lightning_nas.spaces.darts.macro import _check_candidate_ops, _check_macro, _check_partial_channels
from lightning_nas.spaces.darts.network import DARTSNetwork
from lightning_nas.spaces.darts.ops import _CELLS, DARTS_OPS, SPACE_NAME, StemType
from lightning_nas.spaces.darts.supernet import DARTSSupernet

__all__ = ["DARTSNetworkSpace", "DARTSSpace"]


class DARTSNetworkSpace(SearchSpace):
    """A space of DARTS-family cells whose discrete networks are :class:`DARTSNetwork` (the DARTS and EcoNAS spaces).

    Subclasses call :meth:`_set_network_options` in their constructor; :meth:`build_network` then uses the space's
    ``C``, ``layers``, ``stem``, ``in_channels`` and ``auxiliary``.
    """

    C: int
    layers: int
    stem: StemType
    in_channels: int
    auxiliary: bool

    def _set_network_options(self, C: int, layers: int, stem: StemType, in_channels: int, auxiliary: bool) -> None:
        """Check and keep the options of the discrete network (the library's ValueError for a bad one)."""
        owner = type(self).__name__
        _check_macro(owner, C, layers, stem, in_channels)
        _check_bool(owner, "auxiliary", auxiliary)
        self.C = C
        self.layers = layers
        self.stem = stem
        self.in_channels = in_channels
        self.auxiliary = auxiliary

    def build_network(self, genotype: Genotype | str, num_classes: int) -> DARTSNetwork:
        """Build the discrete :class:`DARTSNetwork` of ``genotype`` with the space's ``C``, ``layers``, ``stem``,
        ``in_channels`` and ``auxiliary``.

        Raises:
            ValueError: If ``genotype`` is a malformed string or belongs to another space.
        """
        return DARTSNetwork(
            cast(DARTSGenotype, self.parse_genotype(genotype)),
            C=self.C,
            layers=self.layers,
            num_classes=num_classes,
            stem=self.stem,
            in_channels=self.in_channels,
            auxiliary=self.auxiliary,
        )


@register_search_space(SPACE_NAME)
class DARTSSpace(DARTSNetworkSpace, DifferentiableSearchSpace):
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
        >>> import torch
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
    ops: ClassVar[tuple[str, ...]] = DARTS_OPS
    skip_op: ClassVar[str | None] = "skip_connect"
    parameter_free_ops: ClassVar[tuple[str, ...]] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect")

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
        self._set_network_options(C, layers, stem, in_channels, auxiliary)
        _check_partial_channels(owner, partial_channels, C, layers)
        _check_bool(owner, "edge_normalization", edge_normalization)
        _check_bool(owner, "fused", fused)
        self.fused = fused
        checked = _check_candidate_ops(owner, candidate_ops)
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.candidate_ops = (
            None if candidate_ops is None else {cell: [list(names) for names in checked[cell]] for cell in _CELLS}
        )

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
