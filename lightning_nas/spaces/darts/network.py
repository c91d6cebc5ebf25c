"""The discrete DARTS evaluation network of a genotype (:class:`DARTSNetwork`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from lightning_nas.spaces.base import _check_bool, _check_positive_int, get_op
from lightning_nas.spaces.darts.genotype import DARTSGenotype
from lightning_nas.spaces.darts.macro import _check_macro, _make_stem, _preprocess, _reduction_layers
from lightning_nas.spaces.darts.ops import _STEPS, SPACE_NAME, CellType, StemType, _drop_path

__all__ = ["DARTSNetwork"]


class _DiscreteCell(nn.Module):
    """A cell of the evaluation network: node ``i`` = ``op_a(h_a) + op_b(h_b)``, with drop-path on non-identities."""

    def __init__(
        self,
        pairs: Sequence[tuple[str, int]],
        concat: Sequence[int],
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(C_pp, C_p, C, reduction_prev, affine=True)
        self.ops = nn.ModuleList(
            get_op(name, space=SPACE_NAME)(C, 2 if reduction and source < 2 else 1, True) for name, source in pairs
        )
        self._sources = tuple(source for _, source in pairs)
        self._concat = tuple(concat)
        self.multiplier = len(self._concat)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(_STEPS):
            total: Tensor | None = None
            for edge in (2 * node, 2 * node + 1):
                op = self.ops[edge]
                h = op(states[self._sources[edge]])
                if drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = _drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(cast(Tensor, total))
        return torch.cat([states[index] for index in self._concat], dim=1)


class _AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier on the output of cell ``2 * layers // 3``.

    CIFAR (8 x 8 input): ReLU, AvgPool 5 (stride 3), Conv1x1 to 128, BN, ReLU, Conv2x2 to 768, BN, ReLU, Linear.
    ImageNet (7 x 7 input): AvgPool stride 2, and no BatchNorm after the 2 x 2 conv (DARTS leaves it out to match
    its paper's experiments). Two deviations let other input sizes through where DARTS would fail, and change
    nothing on DARTS's sizes: a global average pool before the classifier (e.g. 16 x 16 inputs for 64 x 64
    Tiny-ImageNet with the CIFAR stem), and an adaptive 2 x 2 average pool instead of the 5 x 5 one on inputs too
    small for it (under 8 x 8, or 7 x 7 for the ImageNet head, e.g. from 16 x 16 images).
    """

    def __init__(self, C: int, num_classes: int, imagenet: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False)
        self._min_size = 7 if imagenet else 8  # the smallest input the pool maps to at least 2 x 2
        layers: list[nn.Module] = [
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers += [nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        x = self.pool(x) if min(x.shape[-2:]) >= self._min_size else nn.functional.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x))


class DARTSNetwork(nn.Module):
    """The discrete network of a DARTS genotype: DARTS's evaluation ``NetworkCIFAR`` or ``NetworkImageNet``.

    The supernet's macro skeleton (stem, ``layers`` cells with reductions at ``layers // 3`` and
    ``2 * layers // 3``, global pool, linear classifier) with the genotype's cells, affine BatchNorms, and an
    optional auxiliary head on the output of cell ``2 * layers // 3``.

    Set ``drop_path_prob`` (default 0, in [0, 1)) every epoch, e.g. to ``0.2 * epoch / epochs`` as in DARTS:
    in training mode, each non-identity op's output is zeroed per sample with that probability and the kept
    ones are scaled by ``1 / (1 - p)``. It is not part of the state dict.

    Args:
        genotype: The cells, or their string.
        C: Channels of the first cells (DARTS CIFAR evaluation: 36; ImageNet: 48).
        layers: Number of cells (DARTS CIFAR evaluation: 20; ImageNet: 14).
        num_classes: Outputs of the classifier.
        stem: ``"cifar"`` or ``"imagenet"`` (see :class:`DARTSSupernet`); the auxiliary head follows it.
        in_channels: Channels of the input images.
        auxiliary: Whether to add the auxiliary head.

    Raises:
        ValueError: If an option is invalid or ``genotype`` a malformed string.
        TypeError: If ``genotype`` is neither a :class:`DARTSGenotype` nor a string.

    Example:
        >>> import torch
        >>> from lightning_nas.spaces import DARTS_OPS, derive_genotype
        >>> g = derive_genotype(torch.rand(14, 8), [DARTS_OPS] * 14, torch.rand(14, 8), [DARTS_OPS] * 14)
        >>> net = DARTSNetwork(g, C=4, layers=3, num_classes=10, auxiliary=True)
        >>> logits, aux_logits = net(torch.randn(2, 3, 32, 32))  # training mode
        >>> logits.shape, aux_logits.shape
        (torch.Size([2, 10]), torch.Size([2, 10]))
        >>> net.eval()(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])

    References:
        Liu et al., DARTS, ICLR 2019 (Section 3.3 and Appendix A.2: evaluation networks, auxiliary towers,
        path dropout).
    """

    def __init__(
        self,
        genotype: DARTSGenotype | str,
        C: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        stem: StemType = "cifar",
        in_channels: int = 3,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(genotype, str):
            genotype = DARTSGenotype.from_string(genotype)
        elif not isinstance(genotype, DARTSGenotype):
            raise TypeError(
                f"`{owner}`: `genotype` must be a DARTSGenotype or its string. Got {type(genotype).__name__} instead."
            )
        _check_macro(owner, C, layers, stem, in_channels)
        _check_positive_int(owner, "num_classes", num_classes)
        _check_bool(owner, "auxiliary", auxiliary)
        self.genotype = genotype
        self.stem, C_pp, C_p, reduction_prev = _make_stem(stem, in_channels, C)
        self.cells = nn.ModuleList()
        self._auxiliary_layer = 2 * layers // 3
        C_curr, C_auxiliary = C, C_p
        reductions = _reduction_layers(layers)
        for layer in range(layers):
            reduction = layer in reductions
            if reduction:
                C_curr *= 2
            cell_type: CellType = "reduce" if reduction else "normal"
            cell = _DiscreteCell(
                genotype.cell(cell_type), genotype.concat(cell_type), C_pp, C_p, C_curr, reduction, reduction_prev
            )
            self.cells.append(cell)
            C_pp, C_p, reduction_prev = C_p, cell.multiplier * C_curr, reduction
            if layer == self._auxiliary_layer:
                C_auxiliary = C_p
        self.auxiliary_head = _AuxiliaryHead(C_auxiliary, num_classes, stem == "imagenet") if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        self._drop_path_prob = 0.0

    @property
    def drop_path_prob(self) -> float:
        """Drop-path probability of the non-identity ops in training mode, in [0, 1)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(
                f"`{type(self).__name__}.drop_path_prob`: `drop_path_prob` must be in [0, 1). Got {value!r} instead."
            )
        self._drop_path_prob = float(value)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Return the logits, or ``(logits, aux_logits)`` in training mode with the auxiliary head."""
        drop_prob = self._drop_path_prob if self.training else 0.0
        aux_logits = None
        s0, s1 = self.stem(x)
        for layer, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob)
            if layer == self._auxiliary_layer and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits if aux_logits is None else (logits, aux_logits)
