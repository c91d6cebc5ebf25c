"""The macro skeleton the NAS-Bench-201 supernet and discrete network share, and their option checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from torch import nn

from lightning_nas.spaces.base import _check_positive_int
from lightning_nas.spaces.nasbench201.ops import NB201_EDGES, NB201_OPS, ResidualReductionBlock


def _build_macro(
    C: int, N: int, num_classes: int, in_channels: int, make_cell: Callable[[int], nn.Module]
) -> tuple[nn.Module, nn.ModuleList, nn.Module, nn.Linear]:
    stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    cells = nn.ModuleList()
    channels = C
    for stage in range(3):
        if stage > 0:
            cells.append(ResidualReductionBlock(channels, 2 * channels))
            channels *= 2
        cells.extend(make_cell(channels) for _ in range(N))
    head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return stem, cells, head, nn.Linear(channels, num_classes)


def _check_macro(owner: str, C: int, N: int, num_classes: int, in_channels: int) -> None:
    for name, value in (("C", C), ("N", N), ("num_classes", num_classes), ("in_channels", in_channels)):
        _check_positive_int(owner, name, value)


def _check_pcdarts(owner: str, C: int, partial_channels: object, edge_normalization: object) -> None:
    _check_positive_int(owner, "partial_channels", partial_channels)
    widths = [C, 2 * C, 4 * C]
    if any(width % cast(int, partial_channels) for width in widths):
        raise ValueError(
            f"`{owner}(partial_channels={partial_channels!r})`: `partial_channels` must divide the channels of every "
            f"cell, {widths} for C={C}. Got {partial_channels!r} instead."
        )
    if not isinstance(edge_normalization, bool):
        raise ValueError(
            f"`{owner}(edge_normalization={edge_normalization!r})`: `edge_normalization` must be a bool. "
            f"Got {edge_normalization!r} instead."
        )


def _check_cell_type(owner: str, cell: str) -> None:
    if cell != "cell":
        raise ValueError(f"`{owner}`: NAS-Bench-201 has one cell type, 'cell'. Got {cell!r} instead.")


def _check_candidate_ops(owner: str, candidate_ops: object) -> tuple[tuple[str, ...], ...]:
    """Validates ``{"cell": [ops of edge 0, ..., ops of edge 5]}`` (P-DARTS's reduced op sets)."""
    if candidate_ops is None:
        return (NB201_OPS,) * len(NB201_EDGES)
    edges = candidate_ops.get("cell") if isinstance(candidate_ops, dict) else None
    if (
        not isinstance(edges, (list, tuple))
        or set(candidate_ops) != {"cell"}
        or len(edges) != len(NB201_EDGES)
        or any(not isinstance(ops, (list, tuple)) or not ops for ops in edges)
        or len({len(ops) for ops in edges}) != 1
        or any(op not in NB201_OPS for ops in edges for op in ops)
        or any(len(set(ops)) != len(ops) for ops in edges)
    ):
        raise ValueError(
            f"`{owner}(candidate_ops={candidate_ops!r})`: `candidate_ops` must be {{'cell': [6 lists]}} with the "
            f"same number of distinct ops per edge, each op one of {list(NB201_OPS)}."
        )
    return tuple(tuple(ops) for ops in edges)
