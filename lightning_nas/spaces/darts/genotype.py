"""The discrete DARTS cell pair (:class:`DARTSGenotype`) and its derivation from architecture weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from torch import Tensor

from lightning_nas.spaces.base import Genotype, GenotypeEdge
from lightning_nas.spaces.cells import CELL_FIELDS, InvalidCellError, check_cell_field, parse_cell_genotype
from lightning_nas.spaces.darts.ops import _CELLS, _FORMAT, _NUM_EDGES, _STEPS, GENOTYPE_OPS, SPACE_NAME, CellType

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["DARTSGenotype", "derive_genotype"]


@dataclass(frozen=True, repr=False)
class DARTSGenotype(Genotype):
    """A discrete DARTS architecture: a normal and a reduction cell, two ``(op, input)`` pairs per node.

    Pairs ``2i`` and ``2i + 1`` of a cell are the two incoming edges of node ``i + 2``; their inputs are
    ``0`` (``c_{k-2}``), ``1`` (``c_{k-1}``) or an earlier intermediate node ``2..i + 1``, and their ops are among
    :data:`GENOTYPE_OPS`. The ``*_concat`` tuples name the nodes whose outputs are concatenated (DARTS: all
    four, ``(2, 3, 4, 5)``). The canonical string is the form in which DARTS-family genotypes are published,
    ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
    reduce_concat=[2, 3, 4, 5])``; :meth:`from_string` also reads ``range(2, 6)`` for a concat. The genotype is
    immutable and hashable; lists given to the constructor are stored as tuples.

    Args:
        normal: The normal cell's 8 pairs.
        normal_concat: The normal cell's output nodes.
        reduce: The reduction cell's 8 pairs.
        reduce_concat: The reduction cell's output nodes.

    Raises:
        ValueError: If a cell has not 8 pairs, an input index is out of range, an op is unknown or ``none``, or a
            concat is empty, repeats a node or names a node outside 2..5.

    Example:
        >>> text = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        ...         "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        ...         "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
        ...         "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        ...         "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")
        >>> g = DARTSGenotype.from_string(text)  # DARTS (2nd order), CIFAR-10
        >>> g.normal[7], g.normal_concat
        (('dil_conv_3x3', 2), (2, 3, 4, 5))
        >>> str(g) == text.replace("range(2, 6)", "[2, 3, 4, 5]")
        True
        >>> DARTSGenotype.from_json(g.to_json()) == g
        True

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.4 and Figure 4: the discrete cells and their string form).
    """

    space: ClassVar[str] = SPACE_NAME
    searched_inputs: ClassVar[bool] = True
    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for field in CELL_FIELDS:
            value = getattr(self, field)
            try:
                checked = check_cell_field(field, value, GENOTYPE_OPS, refused=("none",))
            except InvalidCellError as err:
                raise ValueError(f"`DARTSGenotype({field}={value!r})`: {err}.") from None
            object.__setattr__(self, field, checked)

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``.

        The keyword values are read with :func:`ast.literal_eval` (never ``eval``); a concat may also be written
        ``range(a, b)``. Whitespace between tokens is free.

        Raises:
            ValueError: If ``s`` is malformed or invalid (see the class) or is a NAS-Bench-201 genotype; the
                message names the bad part and the allowed ops.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        return cls(**parse_cell_genotype(s, ops=GENOTYPE_OPS, refused=("none",), kind="DARTS", form=_FORMAT))

    def cell(self, cell: CellType) -> tuple[tuple[str, int], ...]:
        """The 8 ``(op, input)`` pairs of the ``"normal"`` or ``"reduce"`` cell."""
        return self.normal if _check_cell_type("DARTSGenotype.cell", cell) == "normal" else self.reduce

    def concat(self, cell: CellType) -> tuple[int, ...]:
        """The output nodes of the ``"normal"`` or ``"reduce"`` cell."""
        return self.normal_concat if _check_cell_type("DARTSGenotype.concat", cell) == "normal" else self.reduce_concat

    def edges(self) -> tuple[GenotypeEdge, ...]:
        """The 8 kept edges of the normal, then the reduction cell; pair ``k`` is ``"node {k // 2} #{k % 2 + 1}"``.

        Nodes are numbered as the pairs' inputs: ``0`` and ``1`` the cell inputs, ``2..5`` the intermediate nodes.
        """
        return tuple(
            GenotypeEdge(cell, f"node {k // 2} #{k % 2 + 1}", op, source, k // 2 + 2)
            for cell in _CELLS
            for k, (op, source) in enumerate(self.cell(cell))
        )

    def cell_outputs(self, cell: str) -> tuple[int, ...]:
        """The concatenated nodes of the ``"normal"`` or ``"reduce"`` cell (:meth:`concat`)."""
        return self.concat(cast(CellType, cell))

    def __str__(self) -> str:
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}.from_string({str(self)!r})"


def _check_cell_type(owner: str, cell: object) -> CellType:
    if cell not in _CELLS:
        raise ValueError(f"`{owner}(cell={cell!r})`: `cell` must be 'normal' or 'reduce'. Got {cell!r} instead.")
    return cast(CellType, cell)


def _derive_cell(
    cell: str, weights: Tensor | Sequence[Sequence[float]], ops: Sequence[Sequence[str]]
) -> tuple[tuple[str, int], ...]:
    rows = weights.detach().cpu().tolist() if isinstance(weights, Tensor) else [list(row) for row in weights]
    if len(rows) != _NUM_EDGES or len(ops) != _NUM_EDGES:
        raise ValueError(
            f"`derive_genotype`: `{cell}_weights` and `{cell}_ops` must have {_NUM_EDGES} rows, one per edge. "
            f"Got {len(rows)} and {len(ops)} instead."
        )
    strengths: list[float] = []
    best_ops: list[str] = []
    for edge, (row, names) in enumerate(zip(rows, ops, strict=True)):
        if isinstance(row, float) or len(row) != len(names):
            raise ValueError(
                f"`derive_genotype`: edge {edge} of `{cell}_weights` must hold one weight per op of `{cell}_ops` "
                f"({list(names)}). Got {row!r} instead."
            )
        best = None
        for index, name in enumerate(names):
            if name != "none" and (best is None or row[index] > row[best]):
                best = index
        if best is None:
            raise ValueError(
                f"`derive_genotype`: edge {edge} of `{cell}_ops` has no op other than 'none'. "
                f"Got {list(names)} instead."
            )
        strengths.append(float(row[best]))
        best_ops.append(names[best])
    pairs = []
    first = 0
    for node in range(2, 2 + _STEPS):
        edges = range(first, first + node)
        strongest = sorted(edges, key=lambda edge: -strengths[edge])[:2]  # stable: ties keep the lower input
        pairs.extend((best_ops[edge], edge - first) for edge in strongest)
        first += node
    return tuple(pairs)


def derive_genotype(
    normal_weights: Tensor | Sequence[Sequence[float]],
    normal_ops: Sequence[Sequence[str]],
    reduce_weights: Tensor | Sequence[Sequence[float]],
    reduce_ops: Sequence[Sequence[str]],
) -> DARTSGenotype:
    """Derive the discrete cells from per-edge op weights (DARTS Section 2.4, PC-DARTS Section 3.3).

    For each intermediate node, an incoming edge's strength is its largest weight over the ops other than
    ``none``; the 2 strongest edges are kept, strongest first, and each gets its strongest op other than
    ``none``. Ties go to the lower input (edges) and the op listed first (ops). Both concats are ``(2, 3, 4, 5)``.

    Args:
        normal_weights: ``[14, k]`` weights of the normal cell, e.g. ``softmax(alpha)`` (times the normalized
            betas with PC-DARTS's edge normalization), rows in :data:`DARTS_EDGES` order.
        normal_ops: The ``k`` op names of each of the 14 edges (column ``o`` of row ``e`` weighs
            ``normal_ops[e][o]``); edges may have different op subsets (P-DARTS).
        reduce_weights: The same for the reduction cell.
        reduce_ops: The op names of the reduction cell's edges.

    Returns:
        The genotype.

    Raises:
        ValueError: If the shapes do not match (14 edges, one weight per op) or an edge has only ``none``.

    Example:
        >>> import torch
        >>> from lightning_nas.spaces import DARTS_OPS
        >>> weights = torch.zeros(14, 8)
        >>> weights[:, 4] = 1.0  # sep_conv_3x3 everywhere
        >>> weights[3, 0] = 9.0  # `none` is ignored
        >>> weights[4, 3] = 2.0  # the edge 3 <- 2 is the strongest into node 3, with skip_connect
        >>> g = derive_genotype(weights, [DARTS_OPS] * 14, weights, [DARTS_OPS] * 14)
        >>> g.normal[:4]
        (('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 0))

    References:
        Liu et al., DARTS, ICLR 2019 (Section 2.4); Xu et al., PC-DARTS, ICLR 2020 (Section 3.3).
    """
    return DARTSGenotype(
        normal=_derive_cell("normal", normal_weights, normal_ops),
        normal_concat=tuple(range(2, 2 + _STEPS)),
        reduce=_derive_cell("reduce", reduce_weights, reduce_ops),
        reduce_concat=tuple(range(2, 2 + _STEPS)),
    )
