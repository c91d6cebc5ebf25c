"""The differentiable (mixed-op) supernet of the MobileNet chain space, searched by DARTS, β-DARTS and BDP.

Every searchable layer holds all its legal candidates (the MBConvs ``k{3,5,7}e{3,6}``, their SE variants in an SE
space, and the identity where the layer keeps its shape, i.e. not at the stage-first layers) and one architecture
row ``layers.{i}.arch_alpha`` over them. All candidates of a layer read the same input tensor, and the layer's
output is the ``softmax(alpha)``-weighted sum of their outputs (DARTS's mixed op, Eq. 2), one running weighted sum.
Since the weights sum to one, the residual connections of the MBConvs and the identity fold into a
single addition of the input: ``sum_i w_i (x + f_i(x)) + w_id x = x + sum_i w_i f_i(x)``, exactly the mixed op,
with one ``x`` added instead of one per candidate. The derived path takes the argmax of every row, so it is legal
by construction (no identity where a row has none). On a CPU the supernet runs in ``torch.channels_last`` memory
format (the input is converted in ``forward``): one DARTS step is about twice as fast in it there.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import Supernet
from lightning_nas.spaces.mobilenet.blocks import IDENTITY, MBConv
from lightning_nas.spaces.mobilenet.path import MobileNetLayer, MobileNetPath
from lightning_nas.spaces.mobilenet.space import MobileNetSpace, _make_block, _SupernetChain

__all__ = ["MixedOpSupernet"]

CELL = "path"
"""The one "cell" of the chain, as :meth:`MobileNetPath.edges` names it (the plots' panel)."""


class _MixedLayer(nn.Module):
    """One searchable layer: every legal candidate (``candidates``, keyed by choice name) and its ``arch_alpha`` row.

    The module names are :class:`~lightning_nas.spaces.mobilenet.SinglePathSupernet`'s (``candidates.{choice}``),
    plus the row ``arch_alpha`` (``[len(choices)]``, ``1e-3 * N(0, 1)`` as DARTS).
    """

    def __init__(self, space: MobileNetSpace, info: MobileNetLayer) -> None:
        super().__init__()
        self.choices = info.choices
        self.candidates = nn.ModuleDict({choice: _make_block(space, info, choice) for choice in info.choices})
        self.residual = not info.stage_first
        # the MBConvs (every choice but the identity) and their columns in the row; registered in `candidates`
        self.blocks = [index for index, choice in enumerate(info.choices) if choice != IDENTITY]
        self._mbconvs = [block for block in self.candidates.values() if isinstance(block, MBConv)]
        self.arch_alpha = nn.Parameter(1e-3 * torch.randn(len(info.choices)))

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """``sum_c weights[c] * candidate_c(x)`` over the layer's choices (``weights`` sums to one)."""
        # a running weighted sum: elementwise ops keep the input's memory format (channels_last on a CPU), which a
        # stacked reduction (torch.stack + tensordot) loses; on one CPU thread the step is then twice as fast
        mixed = self._mbconvs[0].branch(x) * weights[self.blocks[0]]
        for block, index in zip(self._mbconvs[1:], self.blocks[1:], strict=True):
            mixed = torch.addcmul(mixed, block.branch(x), weights[index])
        return x + mixed if self.residual else mixed


class MixedOpSupernet(_SupernetChain, Supernet):
    """The mixed-op supernet of a :class:`MobileNetSpace`: one ``arch_alpha`` row per layer over its legal choices.

    Built by :meth:`MobileNetSpace.build_mixed_supernet` (what :class:`~lightning_nas.methods.DARTS` and its
    variants call); the space's :meth:`~MobileNetSpace.build_supernet` stays the single-path supernet of SPOS and
    GreedyNAS. Stem, first block and head are those of the single-path supernet and of
    :class:`~lightning_nas.spaces.mobilenet.MobileNetNetwork`; each layer mixes its candidates with
    ``softmax(arch_alpha)`` (see the module docstring). The architecture parameters are the 21 rows
    ``layers.{i}.arch_alpha`` (6 or 7 entries, 12 or 13 with SE), in layer order: β-DARTS's β-decay takes each row as
    one edge.

    For the plots (:func:`~lightning_nas.plots.plot_arch_weights`) the chain is one cell ``"path"`` with one row per
    layer: :meth:`op_weights` pads the rows of the stage-first layers (no identity) with zeros, :meth:`edge_ops`
    lists each row's choices.

    Args:
        space: The :class:`MobileNetSpace` whose options (width, variant, SE, activation, dropout, ...) to use.
        num_classes: Outputs of the classifier; ``None`` uses ``space.num_classes``.

    Raises:
        TypeError: If ``space`` is not a :class:`MobileNetSpace`.
        ValueError: If ``num_classes`` is not a positive integer.

    Example:
        >>> space = MobileNetSpace(input_size=32, width_mult=0.25, num_classes=10)
        >>> _ = torch.manual_seed(0)
        >>> supernet = space.build_mixed_supernet(10)
        >>> supernet(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> len(supernet.arch_parameters()), supernet.arch_parameter_names()[0], supernet.edge_ops("path")[0]
        (21, 'layers.0.arch_alpha', ['k3e3', 'k3e6', 'k5e3', 'k5e6', 'k7e3', 'k7e6'])
        >>> with torch.no_grad():
        ...     for layer in supernet.layers:
        ...         _ = layer.arch_alpha.zero_()
        ...         layer.arch_alpha[-1] = 1.0  # the identity where a layer has one, else k7e6
        >>> str(supernet.genotype())[:30], supernet.genotype().num_identity
        ('k7e6-id-id-id-k7e6-id-id-id-k7', 15)
        >>> supernet.flops() == space.flops(supernet.genotype(), num_classes=10)
        True

    References:
        Liu, Simonyan & Yang, DARTS, ICLR 2019 (Eq. 2, the mixed op); Tu et al., Bi-level Data Pruning for DARTS
        (Section 4.3 and Table 6: DARTS and β-DARTS on this space); Cai et al., ProxylessNAS, ICLR 2019 (the space).
    """

    cell_types: ClassVar[tuple[str, ...]] = (CELL,)

    def __init__(self, space: MobileNetSpace, num_classes: int | None = None) -> None:
        super().__init__(space, num_classes, _MixedLayer)

    def edge_weights(self) -> list[Tensor]:
        """The mixing weights ``softmax(arch_alpha)`` of every layer, in layer order."""
        return [torch.softmax(layer.arch_alpha, dim=-1) for layer in self._mixed_layers()]

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of ``x`` (every layer the weighted sum of its candidates)."""
        if x.device.type == "cpu":  # the depthwise convolutions and their backward are twice as fast in it there
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.first_block(self.stem(x))
        for layer, weights in zip(self._mixed_layers(), self.edge_weights(), strict=True):
            h = layer(h, weights)
        return self._head(h)

    def genotype(self) -> MobileNetPath:
        """The argmax choice of every layer's ``arch_alpha`` (ties: the choice listed first), a legal path."""
        return MobileNetPath(
            tuple(layer.choices[int(layer.arch_alpha.detach().argmax())] for layer in self._mixed_layers())
        )

    def flops(self) -> int:
        """Multiply-accumulates of the derived path's network (:meth:`MobileNetSpace.flops`, analytic)."""
        return self.space.flops(self.genotype(), num_classes=self.num_classes)

    def params(self) -> int:
        """Parameters of the derived path's network (:meth:`MobileNetSpace.params`, analytic)."""
        return self.space.params(self.genotype(), num_classes=self.num_classes)

    # ------------------------------------------------------------------------------------------ plots' view
    def edge_labels(self, cell: str = CELL) -> tuple[str, ...]:
        """The 21 rows, ``"layer {i}"`` (the labels of :meth:`MobileNetPath.edges`)."""
        self._check_cell(cell)
        return tuple(f"layer {index}" for index in range(len(self.layers)))

    def edge_ops(self, cell: str = CELL) -> list[list[str]]:
        """The legal choices of every layer, in the order of its ``arch_alpha`` row."""
        self._check_cell(cell)
        return [list(layer.choices) for layer in self._mixed_layers()]

    def op_weights(self, cell: str = CELL) -> Tensor:
        """``softmax(arch_alpha)`` of every layer as a ``[21, max choices]`` matrix, short rows padded with zeros."""
        self._check_cell(cell)
        rows = self.edge_weights()
        return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)

    def _check_cell(self, cell: str) -> None:
        if cell != CELL:
            raise ValueError(
                f"`{type(self).__name__}`: the chain has the one cell {CELL!r} (its rows are the layers). "
                f"Got {cell!r} instead."
            )

    def _mixed_layers(self) -> list[_MixedLayer]:
        return [layer for layer in self.layers if isinstance(layer, _MixedLayer)]
