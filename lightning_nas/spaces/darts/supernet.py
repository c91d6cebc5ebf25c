"""The DARTS weight-sharing supernet (:class:`DARTSSupernet`), with the PC-DARTS and P-DARTS options."""

from __future__ import annotations

from typing import ClassVar, cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import Supernet, _check_bool, _check_positive_int
from lightning_nas.spaces.darts.fused import _FusedSearchCell
from lightning_nas.spaces.darts.genotype import DARTSGenotype, _check_cell_type, derive_genotype
from lightning_nas.spaces.darts.macro import (
    _check_candidate_ops,
    _check_macro,
    _check_partial_channels,
    _make_stem,
    _reduction_layers,
)
from lightning_nas.spaces.darts.ops import _CELLS, _NUM_EDGES, _STEPS, DARTS_EDGES, CellType, StemType
from lightning_nas.spaces.darts.reference import _SearchCell

__all__ = ["DARTSSupernet"]


class DARTSSupernet(Supernet):
    """The DARTS weight-sharing supernet (DARTS's search ``Network``, PC-DARTS's and P-DARTS's variants).

    ``layers`` cells follow the stem; cells ``layers // 3`` and ``2 * layers // 3`` are reduction cells and
    double the channels; a cell's inputs are the outputs of the two cells before it (the stem's output for the
    first). A global average pool and a linear classifier end the network. All search-cell BatchNorms are
    non-affine (with running statistics, as in DARTS); the stem's is affine.

    Architecture parameters (``1e-3 * N(0, 1)`` at construction): ``arch_alpha_normal`` and
    ``arch_alpha_reduce`` of shape ``[14, k]`` (``k = 8``, or the size of the ``candidate_ops`` subsets), and with
    edge normalization ``arch_beta_normal`` and ``arch_beta_reduce`` of shape ``[14]``. The softmaxes are
    computed once per forward pass and shared by all cells.

    The attribute ``skip_dropout`` (default 0) is P-DARTS's dropout rate on the outputs of the identity
    ``skip_connect`` ops (stride 1), applied in training mode only; a method sets it every epoch. It is not part
    of the state dict.

    Args:
        C: Channels of the first cells (then ``2C`` and ``4C``).
        layers: Number of cells.
        num_classes: Outputs of the classifier.
        stem: ``"cifar"`` (Conv3x3 to ``3C``, stride 1) or ``"imagenet"`` (three stride-2 convs; the first cell's
            ``c_{k-2}`` input has twice the resolution of its ``c_{k-1}``, as in PC-DARTS's ImageNet search).
        in_channels: Channels of the input images.
        partial_channels: PC-DARTS's ``K``: each edge computes its ops on ``C / K`` channels (1 disables it).
        edge_normalization: PC-DARTS's edge normalization with ``arch_beta_*`` parameters.
        candidate_ops: ``{"normal": [...], "reduce": [...]}``, for each cell 14 lists of op names (the same
            number ``k`` for every edge of the cell), the ops each edge mixes (P-DARTS); ``None`` gives all 8 ops
            to every edge.
        fused: Whether the search cells compute their edges together, per source node (shared ReLU, pooling and
            identity; on a GPU one depthwise and one grouped pointwise conv per conv op and stage for all edges
            leaving a node, on a CPU per-edge convs in ``channels_last``; BatchNorm scaled by the mixing weights,
            one fused sum per node), instead of edge by edge and op by op as the research code does. Both give
            the same outputs and gradients up to rounding and have the same parameters, buffers and
            ``state_dict`` keys; the per-edge cells (``False``) are the reference the fused ones are tested
            against.

    Raises:
        ValueError: If an option is invalid (see :class:`DARTSSpace`).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = DARTSSupernet(C=4, layers=3, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
        >>> net.arch_parameter_names(), tuple(net.arch_alpha_normal.shape)
        (['arch_alpha_normal', 'arch_alpha_reduce'], (14, 8))
        >>> with torch.no_grad():
        ...     _ = net.arch_alpha_normal.zero_().index_fill_(1, torch.tensor([4]), 1.0)
        >>> net.genotype().normal[:2]
        (('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
        >>> net.cell_types, [len(ops) for ops in net.edge_ops("reduce")][:3]
        (('normal', 'reduce'), [8, 8, 8])

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.1-2.2, Appendix A.1.1); Xu et al., PC-DARTS, ICLR 2020
        (Section 3.2-3.3); Chen et al., P-DARTS, ICCV 2019 (Section 3.2-3.3).
    """

    cell_types: ClassVar[tuple[CellType, ...]] = _CELLS
    """The cell types, each with its own architecture parameters: ``("normal", "reduce")``."""

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        stem: StemType = "cifar",
        in_channels: int = 3,
        partial_channels: int = 1,
        edge_normalization: bool = False,
        candidate_ops: dict[str, list[list[str]]] | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        _check_macro(owner, C, layers, stem, in_channels)
        _check_positive_int(owner, "num_classes", num_classes)
        _check_partial_channels(owner, partial_channels, C, layers)
        _check_bool(owner, "edge_normalization", edge_normalization)
        _check_bool(owner, "fused", fused)
        self.fused = fused
        self._edge_ops = _check_candidate_ops(owner, candidate_ops)
        self.C = C
        self.layers = layers
        self.partial_channels = partial_channels
        self.edge_normalization = edge_normalization
        self.stem, C_pp, C_p, reduction_prev = _make_stem(stem, in_channels, C)
        self.cells = nn.ModuleList()
        C_curr = C
        reductions = _reduction_layers(layers)
        for layer in range(layers):
            reduction = layer in reductions
            if reduction:
                C_curr *= 2
            cell_type = "reduce" if reduction else "normal"
            cell_class = _FusedSearchCell if fused else _SearchCell
            self.cells.append(
                cell_class(C_pp, C_p, C_curr, reduction, reduction_prev, self._edge_ops[cell_type], partial_channels)
            )
            C_pp, C_p, reduction_prev = C_p, _STEPS * C_curr, reduction
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        self.arch_alpha_normal = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES, len(self._edge_ops["normal"][0])))
        self.arch_alpha_reduce = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES, len(self._edge_ops["reduce"][0])))
        if edge_normalization:
            self.arch_beta_normal = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES))
            self.arch_beta_reduce = nn.Parameter(1e-3 * torch.randn(_NUM_EDGES))
        self._skip_dropout = 0.0

    @property
    def skip_dropout(self) -> float:
        """P-DARTS's dropout rate on identity ``skip_connect`` outputs in training mode, in [0, 1]."""
        return self._skip_dropout

    @skip_dropout.setter
    def skip_dropout(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(
                f"`{type(self).__name__}.skip_dropout`: `skip_dropout` must be in [0, 1]. Got {value!r} instead."
            )
        self._skip_dropout = float(value)

    def edge_labels(self, cell: CellType) -> tuple[str, ...]:
        """The 14 edges of a cell as ``"node<-input"`` (:data:`DARTS_EDGES`), the rows of ``arch_alpha_*``."""
        _check_cell_type(f"{type(self).__name__}.edge_labels", cell)
        return tuple(f"{node}<-{source}" for node, source in DARTS_EDGES)

    def edge_ops(self, cell: CellType) -> list[list[str]]:
        """The candidate op names of each of the 14 edges of the ``"normal"`` or ``"reduce"`` cell.

        Column ``o`` of the cell's ``arch_alpha_*`` row ``e`` weighs ``edge_ops(cell)[e][o]``.
        """
        cell = _check_cell_type(f"{type(self).__name__}.edge_ops", cell)
        return [list(names) for names in self._edge_ops[cell]]

    def _alpha(self, cell: CellType) -> Tensor:
        return self.arch_alpha_normal if cell == "normal" else self.arch_alpha_reduce

    def normalized_betas(self, cell: CellType) -> Tensor:
        """PC-DARTS's edge weights ``[14]``: the softmax of ``arch_beta_*`` over each node's incoming edges.

        The weights of the 2, 3, 4 and 5 edges into nodes 2, 3, 4 and 5 each sum to one.

        Raises:
            RuntimeError: If the supernet was built without edge normalization.
        """
        cell = _check_cell_type(f"{type(self).__name__}.normalized_betas", cell)
        if not self.edge_normalization:
            raise RuntimeError(
                f"`{type(self).__name__}.normalized_betas`: the supernet has no betas; build it with "
                "edge_normalization=True."
            )
        beta = self.arch_beta_normal if cell == "normal" else self.arch_beta_reduce
        groups = beta.split([node for node in range(2, 2 + _STEPS)])
        return torch.cat([torch.softmax(group, dim=-1) for group in groups])

    def op_weights(self, cell: CellType) -> Tensor:
        """The ``[14, k]`` weights the genotype is derived from: ``softmax(arch_alpha_*)`` per edge, times the
        edge's normalized beta with edge normalization (PC-DARTS). Differentiable (not detached).
        """
        cell = _check_cell_type(f"{type(self).__name__}.op_weights", cell)
        weights = torch.softmax(self._alpha(cell), dim=-1)
        if self.edge_normalization:
            weights = weights * self.normalized_betas(cell).unsqueeze(-1)
        return weights

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of ``x``, ``[B, in_channels, H, W]``.

        ``H`` and ``W`` must stay even at every reduction: divisible by 4 with the CIFAR stem, by 32 with the
        ImageNet stem.
        """
        weights: dict[str, Tensor | list[tuple[Tensor, ...]]] = {
            cell: torch.softmax(self._alpha(cell), dim=-1) for cell in _CELLS
        }
        betas: dict[str, Tensor | tuple[Tensor, ...] | None] = {
            cell: self.normalized_betas(cell) if self.edge_normalization else None for cell in _CELLS
        }
        if not self.fused:  # the per-edge cells take one scalar tensor per op and edge
            weights = {cell: [row.unbind(0) for row in cast(Tensor, w).unbind(0)] for cell, w in weights.items()}
            betas = {cell: None if b is None else cast(Tensor, b).unbind(0) for cell, b in betas.items()}
        skip_dropout = self._skip_dropout
        if self.fused and x.device.type == "cpu":  # faster on a CPU, above all the convs' backward and the pooling
            x = x.contiguous(memory_format=torch.channels_last)
        s0, s1 = self.stem(x)
        for cell in self.cells:
            cell_type = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, weights[cell_type], betas[cell_type], skip_dropout)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def genotype(self) -> DARTSGenotype:
        """Derive the discrete cells from :meth:`op_weights` with :func:`derive_genotype`."""
        with torch.no_grad():
            return derive_genotype(
                self.op_weights("normal"), self._edge_ops["normal"], self.op_weights("reduce"), self._edge_ops["reduce"]
            )
