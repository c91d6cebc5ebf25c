"""The NAS-Bench-201 weight-sharing supernet (:class:`NASBench201Supernet`), its macro skeleton and option checks."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import Supernet, _check_bool
from lightning_nas.spaces.nasbench201.fused import _FusedSearchCell
from lightning_nas.spaces.nasbench201.genotype import NASBench201Genotype
from lightning_nas.spaces.nasbench201.macro import (
    _build_macro,
    _check_candidate_ops,
    _check_cell_type,
    _check_macro,
    _check_pcdarts,
)
from lightning_nas.spaces.nasbench201.ops import _NODE_EDGES, NB201_EDGES
from lightning_nas.spaces.nasbench201.reference import _SearchCell

__all__ = ["NASBench201Supernet"]


class NASBench201Supernet(Supernet):
    """The NAS-Bench-201 weight-sharing supernet (xautodl's ``TinyNetworkDarts``).

    Search-cell ops use BatchNorm without affine parameters; ``track_running_stats`` follows the flag (xautodl's
    scripts pass 0, so batch statistics are used in eval mode too). The stem, reduction blocks and head use
    affine BatchNorm with running statistics. Input height and width must be at least 4.

    By default (``fused=True``) the search cells compute the edges that leave a node together (see the module
    docstring), and on a CPU the supernet runs in ``torch.channels_last`` memory format (the input is converted in
    ``forward``; the convolutions' backward and the 3x3 pooling are several times faster in it there); the per-edge
    reference (``fused=False``) keeps the input's format. Second derivatives (e.g. Hessian-vector products in
    ``arch_alpha``) go through both.

    PC-DARTS options: with ``partial_channels = K > 1`` each mixed edge computes its ops on the first ``C / K``
    channels of its input (ops built with ``C / K`` channels); the other channels bypass the ops and the
    concatenation is channel-shuffled with ``K`` groups. With ``edge_normalization`` the parameter ``arch_beta``
    (``[6]``, ``1e-3 * N(0, 1)``) weighs the incoming edges of each node by their softmax within the node
    (node 1: edge 0; node 2: edges 1, 2; node 3: edges 3, 4, 5; see :meth:`normalized_betas`). The genotype stays
    the per-edge argmax of ``arch_alpha``: a node's beta weight scales all ops of an edge alike.

    Args:
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.
        track_running_stats: Whether the search cells' BatchNorms keep running statistics.
        partial_channels: PC-DARTS's ``K`` (1: off); must divide ``C``.
        edge_normalization: Whether to add PC-DARTS's edge normalization (``arch_beta``).
        candidate_ops: ``{"cell": [ops of each of the 6 edges]}`` (P-DARTS's reduced op sets); ``None``: all 5 ops.
        fused: Whether the search cells compute their edges together, per source node (shared ReLU, pooling and
            identity, one stacked convolution per conv kind, BatchNorm scaled by the mixing weights, one fused sum
            per node), instead of edge by edge and op by op as the research code does. Both give the same outputs
            and gradients up to rounding and have the same parameters, buffers and ``state_dict`` keys; the
            per-edge cells (``False``) are the reference the fused ones are tested against.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = NASBench201Supernet(C=4, N=1, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> net.arch_parameter_names(), tuple(net.arch_alpha.shape)
        (['arch_alpha'], (6, 5))
        >>> with torch.no_grad():
        ...     _ = net.arch_alpha.zero_().index_fill_(1, torch.tensor([1]), 1.0)
        >>> str(net.genotype())
        '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
        >>> pc = NASBench201Supernet(C=4, N=1, partial_channels=2, edge_normalization=True)
        >>> pc.arch_parameter_names()
        ['arch_alpha', 'arch_beta']
        >>> [round(float(w.sum()), 6) for w in pc.normalized_betas().detach().split([1, 2, 3])]
        [1.0, 1.0, 1.0]

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020; Liu et al., DARTS, ICLR 2019 (Eq. 2); Xu et al., PC-DARTS,
        ICLR 2020 (Eq. 2 and 4).
    """

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        track_running_stats: bool = False,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        _check_macro(type(self).__name__, C, N, num_classes, in_channels)
        _check_pcdarts(type(self).__name__, C, partial_channels, edge_normalization)
        _check_bool(type(self).__name__, "fused", fused)
        self._edge_ops = _check_candidate_ops(type(self).__name__, candidate_ops)
        self.fused = fused
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.skip_dropout = 0.0
        self.stem, self.cells, self.head, self.classifier = _build_macro(
            C,
            N,
            num_classes,
            in_channels,
            lambda channels: (_FusedSearchCell if fused else _SearchCell)(
                channels, track_running_stats, partial_channels, self._edge_ops
            ),
        )
        self._is_search_cell = tuple(isinstance(cell, _SearchCell) for cell in self.cells)
        self.arch_alpha = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(self._edge_ops[0])))
        if edge_normalization:
            self.arch_beta = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES)))

    cell_types: ClassVar[tuple[str, ...]] = ("cell",)

    def edge_weights(self) -> Tensor:
        """The mixing weights ``softmax(arch_alpha, dim=-1)``, shape ``[6, k]`` (``k = 5`` unless restricted)."""
        return torch.softmax(self.arch_alpha, dim=-1)

    def edge_labels(self, cell: str = "cell") -> tuple[str, ...]:
        """The 6 edges as ``"node<-input"`` (:data:`NB201_EDGES`), the rows of ``arch_alpha``."""
        _check_cell_type(type(self).__name__, cell)
        return tuple(f"{node}<-{source}" for node, source in NB201_EDGES)

    def edge_ops(self, cell: str = "cell") -> list[list[str]]:
        """The candidate op names of each of the 6 edges, in the order of ``arch_alpha``'s columns."""
        _check_cell_type(type(self).__name__, cell)
        return [list(ops) for ops in self._edge_ops]

    def op_weights(self, cell: str = "cell") -> Tensor:
        """The weights op dropping ranks (P-DARTS): ``softmax(alpha)``, times the normalized betas if any."""
        _check_cell_type(type(self).__name__, cell)
        weights = self.edge_weights()
        return weights * self.normalized_betas().unsqueeze(1) if self.edge_normalization else weights

    def normalized_betas(self) -> Tensor:
        """PC-DARTS's edge weights ``[6]``: the softmax of ``arch_beta`` over each node's incoming edges.

        The groups are node 1: edge 0 (always weight 1), node 2: edges 1, 2, node 3: edges 3, 4, 5.

        Raises:
            RuntimeError: If the supernet was built without edge normalization.
        """
        if not self.edge_normalization:
            raise RuntimeError(
                f"`{type(self).__name__}.normalized_betas`: the supernet has no betas; build it with "
                "edge_normalization=True."
            )
        return torch.cat([torch.softmax(group, dim=-1) for group in self.arch_beta.split(_NODE_EDGES)])

    def forward(self, x: Tensor, weights: Tensor | None = None) -> Tensor:
        """Return the logits of ``x``.

        Args:
            x: Images, ``[B, in_channels, H, W]``.
            weights: Mixing weights ``[6, 5]`` to use instead of ``softmax(arch_alpha)`` (e.g. a Gumbel-softmax
                sample); computed once per call and shared by all cells. With edge normalization the normalized
                betas still weigh the edges.
        """
        if weights is None:
            weights = self.edge_weights()
        elif weights.shape != self.arch_alpha.shape:
            raise ValueError(
                f"`{type(self).__name__}.forward`: `weights` must have shape {tuple(self.arch_alpha.shape)}. "
                f"Got {tuple(weights.shape)} instead."
            )
        betas = self.normalized_betas() if self.edge_normalization else None
        cell_weights: Tensor | list[tuple[Tensor, ...]] = weights
        cell_betas: Tensor | tuple[Tensor, ...] | None = betas
        if not self.fused:  # the per-edge cells take one scalar tensor per op
            cell_weights = [row.unbind(0) for row in weights.unbind(0)]
            cell_betas = None if betas is None else betas.unbind(0)
        if self.fused and x.device.type == "cpu":  # faster on CPU, above all the convs' backward and the pooling
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)
        for cell, is_search_cell in zip(self.cells, self._is_search_cell, strict=True):
            h = cell(h, cell_weights, cell_betas, self.skip_dropout) if is_search_cell else cell(h)
        return self.classifier(self.head(h))

    def genotype(self) -> NASBench201Genotype:
        """Pick the argmax op of every edge, ``none`` included (xautodl's DARTS on NAS-Bench-201).

        Ties go to the op listed first in :data:`NB201_OPS`. Edge normalization does not change the genotype
        (every edge is kept, and a beta scales all ops of its edge alike).
        """
        best = self.arch_alpha.detach().argmax(dim=-1).tolist()
        return NASBench201Genotype.from_ops([ops[index] for ops, index in zip(self._edge_ops, best, strict=True)])
