"""The discrete NAS-Bench-201 network of a genotype (:class:`NASBench201Network`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import get_op
from lightning_nas.spaces.nasbench201.genotype import NASBench201Genotype
from lightning_nas.spaces.nasbench201.macro import _build_macro, _check_macro
from lightning_nas.spaces.nasbench201.ops import SPACE_NAME

__all__ = ["NASBench201Network"]


class _DiscreteCell(nn.Module):
    """A cell with one op per edge; ``none`` edges are dropped and a node with no other input is zeros."""

    def __init__(self, genotype: NASBench201Genotype, C: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        wiring: list[tuple[tuple[int, int], ...]] = []
        for node in genotype.nodes:
            inputs = []
            for op, source in node:
                if op != "none":
                    inputs.append((len(self.ops), source))
                    self.ops.append(get_op(op, space=SPACE_NAME)(C, affine=True, track_running_stats=True))
            wiring.append(tuple(inputs))
        self._wiring = tuple(wiring)

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for inputs in self._wiring:
            if not inputs:
                nodes.append(torch.zeros_like(x))
                continue
            index, source = inputs[0]
            total = self.ops[index](nodes[source])
            for index, source in inputs[1:]:
                total = total + self.ops[index](nodes[source])
            nodes.append(total)
        return nodes[3]


class NASBench201Network(nn.Module):
    """The discrete network of one NAS-Bench-201 cell: the supernet's macro skeleton with a fixed cell.

    Each edge holds its op with affine BatchNorm and running statistics; ``none`` edges hold nothing, and
    ``skip_connect`` and ``avg_pool_3x3`` have no parameters.

    Args:
        genotype: The cell, or its string.
        C: Channels of the first stage (then ``2C`` and ``4C``).
        N: Cells per stage.
        num_classes: Outputs of the classifier.
        in_channels: Channels of the input images.

    Example:
        >>> net = NASBench201Network("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|",
        ...                          C=4, N=1, num_classes=10)
        >>> net(torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, genotype: NASBench201Genotype | str, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        if isinstance(genotype, str):
            genotype = NASBench201Genotype.from_string(genotype)
        elif not isinstance(genotype, NASBench201Genotype):
            raise TypeError(
                f"`{type(self).__name__}`: `genotype` must be a NASBench201Genotype or its string. "
                f"Got {type(genotype).__name__} instead."
            )
        _check_macro(type(self).__name__, C, N, num_classes, in_channels)
        self.genotype = genotype
        self.stem, self.cells, self.head, self.classifier = _build_macro(
            C, N, num_classes, in_channels, lambda channels: _DiscreteCell(genotype, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.classifier(self.head(h))
