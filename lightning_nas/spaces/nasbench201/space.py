"""The NAS-Bench-201 search space (:class:`NASBench201Space`), registered as ``"nasbench201"``."""

from __future__ import annotations

from typing import ClassVar, cast

from lightning_nas.spaces.base import (
    DifferentiableSearchSpace,
    Genotype,
    StepOrder,
    _check_bool,
    _check_positive_int,
    register_search_space,
)
from lightning_nas.spaces.nasbench201.genotype import NASBench201Genotype
from lightning_nas.spaces.nasbench201.macro import _check_candidate_ops, _check_pcdarts
from lightning_nas.spaces.nasbench201.network import NASBench201Network
from lightning_nas.spaces.nasbench201.ops import NB201_OPS, SPACE_NAME
from lightning_nas.spaces.nasbench201.supernet import NASBench201Supernet

__all__ = ["NASBench201Space"]


@register_search_space(SPACE_NAME)
class NASBench201Space(DifferentiableSearchSpace):
    """The NAS-Bench-201 search space (registered as ``"nasbench201"``).

    Defaults are NAS-Bench-201's: 16 initial channels and 5 cells per stage. xautodl runs first-order DARTS
    with the weight step before the architecture step, hence ``default_step_order = "weights_first"``.

    Args:
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        in_channels: Channels of the input images (3 for RGB, 1 for grey-scale).
        track_running_stats: Whether the supernet's search-cell BatchNorms keep running statistics (xautodl's
            scripts: no).
        partial_channels: PC-DARTS's partial-channel ``K`` for the supernet's mixed edges (1: off); must divide
            ``C``. The discrete network is unaffected.
        edge_normalization: Whether the supernet has PC-DARTS's edge normalization (``arch_beta``, ``[6]``).
        candidate_ops: ``{"cell": [ops of each of the 6 edges]}``, the same count per edge: restricts the supernet's
            edges to these ops (P-DARTS's operation dropping); ``None``: all 5 ops everywhere.
        fused: Whether the supernet's search cells compute their edges together per source node (the fast path,
            see :class:`NASBench201Supernet`); ``False`` builds the per-edge reference cells. Same parameters and
            ``state_dict`` keys either way.

    Raises:
        ValueError: If ``C``, ``N``, ``in_channels`` or ``partial_channels`` is not a positive integer,
            ``partial_channels`` does not divide ``C``, or a flag is not a bool.

    Example:
        >>> import torch
        >>> space = NASBench201Space(C=4, N=1)
        >>> supernet = space.build_supernet(num_classes=10)
        >>> [tuple(p.shape) for p in supernet.arch_parameters()]
        [(6, 5)]
        >>> net = space.build_network(str(supernet.genotype()), num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> NASBench201Space(C=0)
        Traceback (most recent call last):
        ...
        ValueError: `NASBench201Space(C=0)`: `C` must be a positive integer. Got 0 instead.

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020; Liu et al., DARTS, ICLR 2019.
    """

    name: ClassVar[str] = SPACE_NAME
    genotype_type: ClassVar[type[Genotype]] = NASBench201Genotype
    default_step_order: ClassVar[StepOrder] = "weights_first"
    ops: ClassVar[tuple[str, ...]] = NB201_OPS
    skip_op: ClassVar[str | None] = "skip_connect"
    parameter_free_ops: ClassVar[tuple[str, ...]] = ("none", "skip_connect", "avg_pool_3x3")

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        in_channels: int = 3,
        track_running_stats: bool = False,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        for arg, value in (("C", C), ("N", N), ("in_channels", in_channels)):
            _check_positive_int(type(self).__name__, arg, value)
        if not isinstance(track_running_stats, bool):
            raise ValueError(
                f"`NASBench201Space(track_running_stats={track_running_stats!r})`: `track_running_stats` must be "
                f"a bool. Got {track_running_stats!r} instead."
            )
        _check_pcdarts(type(self).__name__, C, partial_channels, edge_normalization)
        self.C = C
        self.N = N
        self.in_channels = in_channels
        self.track_running_stats = track_running_stats
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        _check_candidate_ops(type(self).__name__, candidate_ops)
        self.candidate_ops = candidate_ops
        _check_bool(type(self).__name__, "fused", fused)
        self.fused = fused

    def build_supernet(self, num_classes: int) -> NASBench201Supernet:
        """Build a :class:`NASBench201Supernet` with freshly initialised weights and ``arch_alpha``."""
        return NASBench201Supernet(
            C=self.C,
            N=self.N,
            num_classes=num_classes,
            in_channels=self.in_channels,
            track_running_stats=self.track_running_stats,
            partial_channels=self.partial_channels,
            candidate_ops=self.candidate_ops,
            edge_normalization=self.edge_normalization,
            fused=self.fused,
        )

    def build_network(self, genotype: Genotype | str, num_classes: int) -> NASBench201Network:
        """Build the discrete :class:`NASBench201Network` of ``genotype``.

        Raises:
            ValueError: If ``genotype`` is a malformed string or belongs to another space.
        """
        return NASBench201Network(
            self.parse_genotype(genotype), C=self.C, N=self.N, num_classes=num_classes, in_channels=self.in_channels
        )

    def parse_genotype(self, genotype: Genotype | str) -> NASBench201Genotype:
        """Return ``genotype`` as a :class:`NASBench201Genotype`, parsing it if it is a string."""
        return cast(NASBench201Genotype, super().parse_genotype(genotype))

    def __repr__(self) -> str:
        # the PC-DARTS options are shown only when set, so the default repr stays NAS-Bench-201's
        extra = "" if self.partial_channels == 1 else f", partial_channels={self.partial_channels}"
        extra += ", edge_normalization=True" if self.edge_normalization else ""
        extra += "" if self.fused else ", fused=False"
        return (
            f"{type(self).__name__}(C={self.C}, N={self.N}, in_channels={self.in_channels}, "
            f"track_running_stats={self.track_running_stats}{extra})"
        )
