"""The macro skeleton the supernet and the discrete network share: option checks, cell widths, stems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from torch import Tensor, nn

from lightning_nas.spaces.base import _check_positive_int
from lightning_nas.spaces.darts.ops import _CELLS, _NUM_EDGES, DARTS_OPS, FactorizedReduce, ReLUConvBN


# ------------------------------------------------------------------------------------------- option checks
def _reduction_layers(layers: int) -> frozenset[int]:
    return frozenset((layers // 3, 2 * layers // 3))


def _cell_widths(C: int, layers: int) -> list[int]:
    widths, width = [], C
    for layer in range(layers):
        if layer in _reduction_layers(layers):
            width *= 2
        widths.append(width)
    return sorted(set(widths))


def _check_macro(owner: str, C: object, layers: object, stem: object, in_channels: object) -> None:
    for name, value in (("C", C), ("layers", layers), ("in_channels", in_channels)):
        _check_positive_int(owner, name, value)
    if stem not in ("cifar", "imagenet"):
        raise ValueError(f"`{owner}(stem={stem!r})`: `stem` must be 'cifar' or 'imagenet'. Got {stem!r} instead.")
    if stem == "imagenet" and cast(int, C) % 2:
        raise ValueError(
            f"`{owner}(C={C!r})`: with stem='imagenet', `C` must be even (the stem's first conv has C // 2 "
            f"channels and the first cell reduces its `c_{{k-2}}` input with a FactorizedReduce). Got {C!r} instead."
        )


def _check_partial_channels(owner: str, partial_channels: object, C: int, layers: int) -> None:
    _check_positive_int(owner, "partial_channels", partial_channels)
    widths = _cell_widths(C, layers)
    if any(width % cast(int, partial_channels) for width in widths):
        raise ValueError(
            f"`{owner}(partial_channels={partial_channels!r})`: `partial_channels` must divide the channels of every "
            f"cell, {widths} for C={C}. Got {partial_channels!r} instead."
        )


def _check_candidate_ops(owner: str, candidate_ops: object) -> dict[str, tuple[tuple[str, ...], ...]]:
    if candidate_ops is None:
        return {cell: (DARTS_OPS,) * _NUM_EDGES for cell in _CELLS}
    if not isinstance(candidate_ops, Mapping) or sorted(candidate_ops, key=str) != sorted(_CELLS):
        raise ValueError(
            f"`{owner}(candidate_ops={candidate_ops!r})`: `candidate_ops` must be None or a dict with the keys "
            f"'normal' and 'reduce'. Got {candidate_ops!r} instead."
        )
    checked = {}
    for cell in _CELLS:
        edges = candidate_ops[cell]
        if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence) or len(edges) != _NUM_EDGES:
            raise ValueError(
                f"`{owner}(candidate_ops=...)`: `candidate_ops[{cell!r}]` must be a list of {_NUM_EDGES} op lists, "
                f"one per edge. Got {edges!r} instead."
            )
        cell_ops = []
        for edge, names in enumerate(edges):
            where = f"`candidate_ops[{cell!r}][{edge}]`"
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or len(names) == 0:
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} must be a non-empty list of op names. "
                    f"Got {names!r} instead."
                )
            unknown = [name for name in names if name not in DARTS_OPS]
            if unknown:
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} holds unknown op(s) {unknown}; allowed ops: "
                    f"{list(DARTS_OPS)}. Got {names!r} instead."
                )
            if len(set(names)) != len(names):
                raise ValueError(f"`{owner}(candidate_ops=...)`: {where} must not repeat an op. Got {names!r} instead.")
            if all(name == "none" for name in names):
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: {where} must hold an op other than 'none' (a genotype needs one "
                    f"on every edge). Got {names!r} instead."
                )
            if cell_ops and len(names) != len(cell_ops[0]):
                raise ValueError(
                    f"`{owner}(candidate_ops=...)`: every edge of the {cell!r} cell must have the same number of ops "
                    f"(edge 0 has {len(cell_ops[0])}). Got {names!r} at edge {edge} instead."
                )
            cell_ops.append(tuple(names))
        checked[cell] = tuple(cell_ops)
    return checked


# ------------------------------------------------------------------------------------------------- macro parts
class _CIFARStem(nn.Module):
    """Conv3x3 (stride 1) + BN; both cell inputs of the first cell are its output."""

    def __init__(self, in_channels: int, C_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, C_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s = self.bn(self.conv(x))
        return s, s


class _ImageNetStem(nn.Module):
    """DARTS's ImageNet stems: ``stem0`` (two stride-2 convs, to ``C``) then ``stem1`` (one more stride-2 conv)."""

    def __init__(self, in_channels: int, C: int) -> None:
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


def _make_stem(stem: str, in_channels: int, C: int) -> tuple[nn.Module, int, int, bool]:
    """The stem and the channels of ``(s0, s1)`` it makes, and whether ``s0`` has twice the resolution of ``s1``."""
    if stem == "cifar":
        return _CIFARStem(in_channels, 3 * C), 3 * C, 3 * C, False
    return _ImageNetStem(in_channels, C), C, C, True


def _preprocess(C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool) -> tuple[nn.Module, nn.Module]:
    first = FactorizedReduce(C_pp, C, affine=affine) if reduction_prev else ReLUConvBN(C_pp, C, 1, affine=affine)
    return first, ReLUConvBN(C_p, C, 1, affine=affine)
