"""The discrete NAS-Bench-201 cell (:class:`NASBench201Genotype`) and its ``|op~0|+...`` string form."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lightning_nas.spaces.base import Genotype, GenotypeEdge
from lightning_nas.spaces.nasbench201.ops import _FORMAT, NB201_EDGES, NB201_OPS, SPACE_NAME

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["NASBench201Genotype"]


@dataclass(frozen=True, repr=False)
class NASBench201Genotype(Genotype):
    """A NAS-Bench-201 cell: for each node 1..3, its ``(op, input)`` pairs over inputs ``0..node-1``.

    The canonical string is NAS-Bench-201's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, the key of the benchmark's
    tables. The genotype is immutable and hashable.

    Args:
        nodes: Three tuples, node ``i``'s holding ``i`` pairs ``(op, j)`` for ``j = 0..i-1`` in order.

    Raises:
        ValueError: If the nodes do not have that structure or an op is not in :data:`NB201_OPS`.

    Example:
        >>> g = NASBench201Genotype.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|"
        ...                                     "nor_conv_1x1~1|skip_connect~2|")
        >>> g.nodes[1]
        (('none', 0), ('skip_connect', 1))
        >>> g.ops
        ('nor_conv_3x3', 'none', 'skip_connect', 'avg_pool_3x3', 'nor_conv_1x1', 'skip_connect')
        >>> NASBench201Genotype.from_ops(g.ops) == g
        True
        >>> str(NASBench201Genotype.from_ops(["skip_connect"] * 6))
        '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
        >>> sum(1 for _ in NASBench201Genotype.all())
        15625
        >>> NASBench201Genotype.from_json(g.to_json()) == g
        True

    References:
        Dong and Yang, NAS-Bench-201, ICLR 2020 (Section 2.1: the cell and its string form).
    """

    space: ClassVar[str] = SPACE_NAME
    nodes: tuple[tuple[tuple[str, int], ...], ...]

    def __post_init__(self) -> None:
        nodes = self.nodes
        if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence) or len(nodes) != 3:
            raise ValueError(f"`NASBench201Genotype(nodes={nodes!r})`: `nodes` must hold 3 nodes.")
        normalised = []
        for i, node in enumerate(nodes, start=1):
            if isinstance(node, (str, bytes)) or not isinstance(node, Sequence) or len(node) != i:
                raise ValueError(
                    f"`NASBench201Genotype(nodes={nodes!r})`: node {i} must hold {i} (op, input) pairs. "
                    f"Got {node!r} instead."
                )
            pairs = []
            for j, pair in enumerate(node):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: node {i} must hold (op, input) pairs. "
                        f"Got {pair!r} instead."
                    )
                op, source = pair
                if op not in NB201_OPS:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: unknown op {op!r} at node {i}. "
                        f"Allowed ops: {list(NB201_OPS)}."
                    )
                if isinstance(source, bool) or not isinstance(source, int) or source != j:
                    raise ValueError(
                        f"`NASBench201Genotype(nodes={nodes!r})`: edge {len(pairs) + 1} of node {i} must take "
                        f"input {j} (node {i} takes inputs 0..{i - 1} in order). Got {source!r} instead."
                    )
                pairs.append((op, j))
            normalised.append(tuple(pairs))
        object.__setattr__(self, "nodes", tuple(normalised))

    @classmethod
    def from_string(cls, s: str) -> Self:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` strictly (no extra whitespace or separators).

        Raises:
            ValueError: If ``s`` is malformed (node or edge count, input index, unknown op) or is a DARTS-space
                genotype; the message names the bad part and the allowed ops.
            TypeError: If ``s`` is not a string.
        """
        if not isinstance(s, str):
            raise TypeError(f"`{cls.__name__}.from_string`: expected a string. Got {type(s).__name__} instead.")
        if s.lstrip().startswith("Genotype(") or "normal=" in s or "reduce=" in s:
            raise ValueError(
                f"{s!r} looks like a DARTS-space genotype (`Genotype(normal=..., reduce=...)`), which belongs to "
                f"another search space; a NAS-Bench-201 genotype has the form {_FORMAT!r}."
            )
        parts = s.split("+")
        if len(parts) != 3:
            raise _malformed(s, f"expected 3 nodes separated by '+', got {len(parts)}")
        nodes = []
        for i, part in enumerate(parts, start=1):
            if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
                raise _malformed(s, f"node {i} ({part!r}) must start and end with '|'")
            tokens = part[1:-1].split("|")
            if len(tokens) != i:
                raise _malformed(
                    s,
                    f"node {i} ({part!r}) must have {i} edge(s), one from each of the nodes "
                    f"0..{i - 1}, got {len(tokens)}",
                )
            pairs = []
            for j, token in enumerate(tokens):
                op, sep, source = token.partition("~")
                if not sep or "~" in source:
                    raise _malformed(s, f"edge {token!r} of node {i} must have the form 'op~input'")
                if op not in NB201_OPS:
                    raise _malformed(s, f"unknown op {op!r} in node {i}")
                if source != str(j):
                    raise _malformed(
                        s,
                        f"edge {token!r} of node {i} must take input {j} (node {i} takes inputs "
                        f"0..{i - 1} in order), got {source!r}",
                    )
                pairs.append((op, j))
            nodes.append(tuple(pairs))
        return cls(tuple(nodes))

    @classmethod
    def from_ops(cls, ops: Sequence[str]) -> Self:
        """Build a genotype from its 6 op names in edge order (:data:`NB201_EDGES`).

        Raises:
            ValueError: If there are not 6 names or one is not in :data:`NB201_OPS`.
        """
        if isinstance(ops, str) or len(ops) != len(NB201_EDGES):
            raise ValueError(
                f"`{cls.__name__}.from_ops`: `ops` must hold {len(NB201_EDGES)} op names, one per edge "
                f"{[f'{node}<-{source}' for node, source in NB201_EDGES]}. Got {ops!r} instead."
            )
        nodes: list[list[tuple[str, int]]] = [[], [], []]
        for (node, source), op in zip(NB201_EDGES, ops, strict=True):
            nodes[node - 1].append((op, source))
        return cls(tuple(tuple(node) for node in nodes))

    @classmethod
    def all(cls) -> Iterator[Self]:
        """Yield all 5**6 = 15,625 cells, the last edge's op varying fastest (in :data:`NB201_OPS` order)."""
        for ops in itertools.product(NB201_OPS, repeat=len(NB201_EDGES)):
            yield cls.from_ops(ops)

    @property
    def ops(self) -> tuple[str, ...]:
        """The 6 op names in edge order (:data:`NB201_EDGES`)."""
        return tuple(op for node in self.nodes for op, _ in node)

    def edges(self) -> tuple[GenotypeEdge, ...]:
        """The 6 edges of the cell, ``"node<-input"`` in the order of :data:`NB201_EDGES`."""
        return tuple(
            GenotypeEdge("cell", f"{node}<-{source}", op, source, node)
            for (node, source), op in zip(NB201_EDGES, self.ops, strict=True)
        )

    def __str__(self) -> str:
        return "+".join("|" + "|".join(f"{op}~{source}" for op, source in node) + "|" for node in self.nodes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.from_string({str(self)!r})"


def _malformed(s: str, reason: str) -> ValueError:
    return ValueError(
        f"Invalid NAS-Bench-201 genotype string {s!r}: {reason}. Expected the form {_FORMAT!r} with each op in "
        f"{list(NB201_OPS)}."
    )
