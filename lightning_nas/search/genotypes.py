"""Random architectures and AmoebaNet mutations for evolution: the EcoNAS cell space, the DARTS space and NAS-Bench-201.

Three spaces (``search_space``):

* ``"econas"`` (:class:`~lightning_nas.spaces.EcoNASGenotype`): EcoNAS's cells (paper A3, A5.1). Every intermediate
  node ``i`` (2..5) picks two inputs uniformly among the states ``0..i-1`` (the two cell inputs and the earlier
  nodes; both picks may coincide) and two ops uniformly among DARTS's 8, ``none`` included (paper A5.1 lists
  "Zeros", the official mutation draws among all 8); the output concatenates the loose ends
  (:func:`~lightning_nas.spaces.loose_ends`), never the cell inputs (spec 9.11). Normal and reduction cells are
  drawn independently.
* ``"darts"`` (:class:`~lightning_nas.spaces.DARTSGenotype`): the same rules with the 7 ops a DARTS genotype may hold
  (no ``none``), for searches that must stay in the DARTS space.
* ``"nasbench201"`` (:class:`~lightning_nas.spaces.NASBench201Genotype`): each of the 6 edges draws one of the 5 ops,
  ``none`` included (the benchmark's 15,625 cells, uniformly).

:func:`mutate` applies exactly one AmoebaNet mutation, without the identity mutation (EcoNAS Sec. 4.2, spec 7.4), so
the child always differs from its parent and is always valid.

Randomness comes from the generator you pass: a :class:`numpy.random.Generator` (recommended; its
``bit_generator.state`` is a plain dict for checkpoints) or a :class:`random.Random` (the official code's module), or
an int seed for a fresh ``numpy.random.default_rng(seed)``. Every draw is an integer in ``[0, n)``
(``Generator.integers(n)`` or ``Random.randrange(n)``), so a seeded generator repeats the same architectures.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal, cast

import numpy as np

from lightning_nas.spaces import (
    ECONAS_OPS,
    GENOTYPE_OPS,
    NB201_EDGES,
    NB201_OPS,
    DARTSGenotype,
    Genotype,
    NASBench201Genotype,
    get_search_space_class,
    loose_ends,
    parse_genotype,
)

__all__ = ["MUTABLE_SPACES", "MutableSpace", "RandomSource", "mutate", "random_genotype"]

MutableSpace = Literal["econas", "darts", "nasbench201"]
"""The spaces :func:`random_genotype` and :func:`mutate` handle."""

MUTABLE_SPACES: tuple[str, ...] = ("econas", "darts", "nasbench201")

RandomSource = np.random.Generator | random.Random | int
"""A ``numpy.random.Generator``, a ``random.Random`` or an int seed (for ``numpy.random.default_rng``)."""

_CELL_OPS: dict[str, tuple[str, ...]] = {"econas": ECONAS_OPS, "darts": GENOTYPE_OPS}
_STEPS = 4


def _draw(rng: RandomSource, owner: str) -> Callable[[int], int]:
    """A function ``n -> uniform int in [0, n)`` drawing from ``rng``."""
    if isinstance(rng, np.random.Generator):
        return lambda n: int(rng.integers(n))
    if isinstance(rng, random.Random):
        return rng.randrange
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        generator = np.random.default_rng(int(rng))
        return lambda n: int(generator.integers(n))
    raise TypeError(
        f"`{owner}(rng=...)`: `rng` must be a numpy.random.Generator, a random.Random or an int seed. "
        f"Got {type(rng).__name__} instead."
    )


def _check_space(owner: str, search_space: object) -> str:
    if search_space not in MUTABLE_SPACES:
        raise ValueError(
            f"`{owner}(search_space={search_space!r})`: `search_space` must be one of {list(MUTABLE_SPACES)}. "
            f"Got {search_space!r} instead."
        )
    return cast(str, search_space)


def _random_cell(ops: tuple[str, ...], draw: Callable[[int], int]) -> tuple[tuple[str, int], ...]:
    pairs = []
    for node in range(2, 2 + _STEPS):
        for _ in range(2):
            source = draw(node)  # the cell inputs 0, 1 and the earlier nodes 2..node-1
            pairs.append((ops[draw(len(ops))], source))
    return tuple(pairs)


def random_genotype(search_space: MutableSpace, rng: RandomSource) -> Genotype:
    """Draw a uniformly random architecture of ``search_space`` (see the module docstring for each space's rules).

    Args:
        search_space: ``"econas"``, ``"darts"`` or ``"nasbench201"``.
        rng: the source of randomness (a ``numpy.random.Generator``, a ``random.Random`` or an int seed).

    Returns:
        An :class:`~lightning_nas.spaces.EcoNASGenotype`, a :class:`~lightning_nas.spaces.DARTSGenotype` (both with
        loose-end concats) or a :class:`~lightning_nas.spaces.NASBench201Genotype`.

    Raises:
        ValueError: If ``search_space`` is not one of the three.
        TypeError: If ``rng`` is not a generator or an int.

    Example:
        >>> g = random_genotype("econas", np.random.default_rng(0))
        >>> g.space, len(g.normal), g.normal_concat == loose_ends(g.normal)
        ('econas', 8, True)
        >>> random_genotype("nasbench201", np.random.default_rng(0)) == random_genotype("nasbench201", 0)
        True

    References:
        Zhou et al., EcoNAS, CVPR 2020 (Appendix A3: the node sampling steps; A5.1: the ops and loose ends).
    """
    space = _check_space("random_genotype", search_space)
    draw = _draw(rng, "random_genotype")
    if space == "nasbench201":
        return NASBench201Genotype.from_ops([NB201_OPS[draw(len(NB201_OPS))] for _ in NB201_EDGES])
    ops = _CELL_OPS[space]
    normal, reduce = _random_cell(ops, draw), _random_cell(ops, draw)
    cls = cast(type[DARTSGenotype], get_search_space_class(space).genotype_type)
    return cls(normal=normal, normal_concat=loose_ends(normal), reduce=reduce, reduce_concat=loose_ends(reduce))


def _space_of(genotype: Genotype) -> str:
    if genotype.space in MUTABLE_SPACES:  # the genotype names its space (an EcoNAS genotype is a DARTS one too)
        return genotype.space
    raise ValueError(
        f"`mutate(genotype={genotype!r})`: only genotypes of the spaces {list(MUTABLE_SPACES)} can be mutated. "
        f"Got a genotype of {getattr(genotype, 'space', type(genotype).__name__)!r} instead."
    )


def _other(values: tuple, current: object, draw: Callable[[int], int]) -> object:
    """A uniform choice among ``values`` other than ``current``."""
    others = [value for value in values if value != current]
    return others[draw(len(others))]


def mutate(genotype: Genotype | str, rng: RandomSource, *, search_space: MutableSpace | None = None) -> Genotype:
    """Apply exactly one AmoebaNet mutation (no identity mutation): the child is valid and differs from the parent.

    Cell spaces (``"econas"``, ``"darts"``): the normal or the reduction cell with probability 1/2, one of its 8
    ``(op, input)`` slots uniformly, then with probability 1/2

    * a **hidden-state mutation**: the slot's input becomes another state available to its node, uniformly among
      ``{0, ..., i - 1} - {current}`` for node ``i`` (so the cell stays acyclic); the loose-end concat is recomputed;
    * an **op mutation**: the slot's op becomes another op of the space, uniformly among the others (7 for
      ``"econas"``, 6 for ``"darts"``).

    A DARTS genotype whose concat is not its loose ends (e.g. DARTS's ``[2, 3, 4, 5]``) keeps its concat.
    NAS-Bench-201: one of the 6 edges uniformly, its op replaced by one of the 4 others.

    Args:
        genotype: the parent (a genotype, or its string with ``search_space``).
        rng: the source of randomness (a ``numpy.random.Generator``, a ``random.Random`` or an int seed).
        search_space: the space of a string ``genotype`` (ignored for genotype objects, which know theirs).

    Returns:
        The child, of the parent's type.

    Raises:
        ValueError: If the genotype is not of one of the three spaces, or a string without a valid ``search_space``.
        TypeError: If ``rng`` is not a generator or an int.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> parent = random_genotype("nasbench201", rng)
        >>> child = mutate(parent, rng)
        >>> child != parent, sum(a != b for a, b in zip(parent.ops, child.ops))
        (True, 1)

    References:
        Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019 (Sec. 2.3: the
        mutations); Zhou et al., EcoNAS, CVPR 2020 (Sec. 4.2: no identity mutation).
    """
    if isinstance(genotype, str):
        space = _check_space("mutate", search_space)
        genotype = parse_genotype(genotype, space)
    elif not isinstance(genotype, Genotype):
        raise TypeError(f"`mutate(genotype=...)`: expected a genotype or its string. Got {type(genotype).__name__}.")
    space = _space_of(genotype)
    draw = _draw(rng, "mutate")
    if space == "nasbench201":
        nb201 = cast(NASBench201Genotype, genotype)
        ops = list(nb201.ops)
        edge = draw(len(ops))
        ops[edge] = cast(str, _other(NB201_OPS, ops[edge], draw))
        return NASBench201Genotype.from_ops(ops)
    parent = cast(DARTSGenotype, genotype)
    cell = ("normal", "reduce")[draw(2)]
    pairs, concat = list(parent.cell(cell)), parent.concat(cell)
    slot = draw(len(pairs))
    op, source = pairs[slot]
    if draw(2) == 0:  # hidden-state mutation
        node = slot // 2 + 2
        pairs[slot] = (op, cast(int, _other(tuple(range(node)), source, draw)))
    else:  # op mutation
        pairs[slot] = (cast(str, _other(_CELL_OPS[space], op, draw)), source)
    if space == "econas" or concat == loose_ends(parent.cell(cell)):
        concat = loose_ends(pairs)
    fields = {
        "normal": parent.normal,
        "normal_concat": parent.normal_concat,
        "reduce": parent.reduce,
        "reduce_concat": parent.reduce_concat,
    }
    fields[cell], fields[f"{cell}_concat"] = tuple(pairs), concat
    return type(parent)(**fields)
