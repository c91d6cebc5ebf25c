"""DARTS-family cells: the checks and the string parser that the DARTS-space and EcoNAS genotypes share.

A cell has two inputs (nodes 0 and 1: ``c_{k-2}``, ``c_{k-1}``) and :data:`CELL_STEPS` intermediate nodes
``2..5``; node ``i`` adds two ``(op, input)`` pairs whose inputs are earlier nodes, and the cell's output
concatenates some intermediate nodes (its ``concat``). A genotype holds a normal and a reduction cell, written
``Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=[...], reduce_concat=[...])``
(:data:`CELL_FIELDS`). The spaces differ only in the ops a pair may hold: DARTS refuses ``none``, EcoNAS allows it.

Example:
    >>> cell = [("skip_connect", 0), ("sep_conv_3x3", 1)] * 4
    >>> fields = parse_cell_genotype(
    ...     f"Genotype(normal={cell}, normal_concat=range(2, 6), reduce={cell}, reduce_concat=[5])",
    ...     ops=("skip_connect", "sep_conv_3x3"), kind="toy")
    >>> fields["normal_concat"], fields["reduce"][1]
    ((2, 3, 4, 5), ('sep_conv_3x3', 1))
    >>> loose_ends(cell)
    (2, 3, 4, 5)
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, cast

__all__ = [
    "CELL_FIELDS",
    "CELL_STEPS",
    "InvalidCellError",
    "check_cell_field",
    "literal_range",
    "loose_ends",
    "parse_cell_genotype",
]

CELL_STEPS = 4
"""Intermediate nodes of a cell (nodes 2..5)."""

CELL_FIELDS: tuple[str, ...] = ("normal", "normal_concat", "reduce", "reduce_concat")
"""The fields of a two-cell genotype, in the order of its canonical string."""


class InvalidCellError(ValueError):
    """A reason why a cell is invalid, worded for both a genotype's constructor and its string parser."""


def _check_pairs(field: str, value: object, ops: Sequence[str], refused: Sequence[str]) -> tuple[tuple[str, int], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidCellError(f"`{field}` must be a list of (op, input) pairs, got {value!r}")
    if len(value) != 2 * CELL_STEPS:
        raise InvalidCellError(
            f"`{field}` must hold {2 * CELL_STEPS} (op, input) pairs, two per intermediate node, got {len(value)}"
        )
    pairs = []
    for index, pair in enumerate(value):
        node = index // 2 + 2
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidCellError(f"`{field}` must hold (op, input) pairs, got {pair!r} at position {index}")
        op, source = pair
        if op in refused:
            raise InvalidCellError(
                f"pair {index} of `{field}` uses {op!r}, which a discrete cell cannot hold (it means no edge); "
                f"allowed ops: {list(ops)}"
            )
        if op not in ops:
            raise InvalidCellError(f"unknown op {op!r} in pair {index} of `{field}`; allowed ops: {list(ops)}")
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node:
            raise InvalidCellError(
                f"pair {index} of `{field}` feeds node {node}, which takes inputs 0..{node - 1}, got {source!r}"
            )
        pairs.append((op, source))
    return tuple(pairs)


def _check_concat(field: str, value: object) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise InvalidCellError(f"`{field}` must be a non-empty list of intermediate nodes, got {value!r}")
    nodes = tuple(value)
    for node in nodes:
        if isinstance(node, bool) or not isinstance(node, int) or not 2 <= node < 2 + CELL_STEPS:
            raise InvalidCellError(
                f"`{field}` may only hold the intermediate nodes 2..{1 + CELL_STEPS}, got {list(nodes)!r}"
            )
    if len(set(nodes)) != len(nodes):
        raise InvalidCellError(f"`{field}` must not repeat a node, got {list(nodes)!r}")
    return nodes


def check_cell_field(field: str, value: object, ops: Sequence[str], refused: Sequence[str] = ()) -> tuple[Any, ...]:
    """Check one field of :data:`CELL_FIELDS` and return it as a tuple (of pairs, or of nodes for a concat).

    Args:
        field: The field's name; names ending in ``_concat`` are concats.
        value: The pairs or the nodes.
        ops: The ops a pair may hold.
        refused: Ops refused with the explanation that a discrete cell cannot hold them (DARTS: ``none``).

    Raises:
        InvalidCellError: If the value is invalid; the message names the bad part.
    """
    return _check_concat(field, value) if field.endswith("_concat") else _check_pairs(field, value, ops, refused)


def literal_range(node: ast.expr) -> tuple[int, ...] | None:
    """``range(a, b)`` (1 to 3 integer literals) as a tuple, else ``None``."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        return None
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
    except (ValueError, TypeError, SyntaxError):
        return None
    if not all(isinstance(arg, int) and not isinstance(arg, bool) for arg in args):
        return None
    return tuple(range(*args))


def parse_cell_genotype(
    s: str, *, ops: Sequence[str], kind: str, refused: Sequence[str] = (), form: str | None = None
) -> dict[str, tuple[Any, ...]]:
    """Read ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` into checked fields.

    The keyword values are read with :func:`ast.literal_eval` (never ``eval``); a concat may also be written
    ``range(a, b)``. Whitespace between tokens is free.

    Args:
        s: The string.
        ops: The ops a pair may hold.
        kind: The genotype's kind in messages, e.g. ``"DARTS"``.
        refused: Ops refused with an explanation (see :func:`check_cell_field`).
        form: The expected form in messages (default: the generic form with 8 pairs per cell).

    Raises:
        ValueError: If ``s`` is malformed or invalid, or is a NAS-Bench-201 genotype; the message names the bad
            part and the allowed ops.
    """
    form = form or (
        "Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=[(op, input), ...], reduce_concat=[...]) "
        f"with {2 * CELL_STEPS} pairs per cell"
    )

    def malformed(reason: str) -> ValueError:
        return ValueError(
            f"Invalid {kind} genotype string {s!r}: {reason}. Expected the form {form!r} with each op in {list(ops)}."
        )

    if s.lstrip().startswith("|") or "~" in s:
        article = "an" if kind[:1].upper() in "AEIOU" else "a"
        raise ValueError(
            f"{s!r} looks like a NAS-Bench-201 genotype (`|op~0|+|op~0|op~1|+...`), which belongs to another "
            f"search space; {article} {kind} genotype has the form {form!r}."
        )
    try:
        call = ast.parse(s.strip(), mode="eval").body
    except SyntaxError:
        raise malformed("it is not a `Genotype(...)` expression") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise malformed("it is not a `Genotype(...)` expression")
    names = [keyword.arg for keyword in call.keywords]
    if call.args or sorted(names, key=str) != sorted(CELL_FIELDS):
        raise malformed(
            f"`Genotype(...)` takes the keyword arguments {list(CELL_FIELDS)} once each, got {names} and "
            f"{len(call.args)} positional argument(s)"
        )
    values: dict[str, Any] = {}
    for keyword in call.keywords:
        name = cast(str, keyword.arg)
        as_range = literal_range(keyword.value) if name.endswith("_concat") else None
        try:
            values[name] = as_range if as_range is not None else ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError):
            raise malformed(f"`{name}` is not a literal list") from None
    try:
        return {field: check_cell_field(field, values[field], ops, refused) for field in CELL_FIELDS}
    except InvalidCellError as err:
        raise malformed(str(err)) from None


def loose_ends(pairs: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """The intermediate nodes (2..5) of a cell that no node reads: the cell's output nodes (EcoNAS, NASNet).

    Args:
        pairs: The cell's 8 ``(op, input)`` pairs, two per node 2..5.

    Example:
        >>> loose_ends([("none", 0), ("skip_connect", 1), ("sep_conv_3x3", 2), ("none", 0),
        ...             ("max_pool_3x3", 1), ("dil_conv_3x3", 0), ("skip_connect", 4), ("none", 3)])
        (5,)
    """
    used = {source for _, source in pairs}
    return tuple(node for node in range(2, 2 + CELL_STEPS) if node not in used)
