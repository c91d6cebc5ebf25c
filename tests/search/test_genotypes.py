"""Random EcoNAS / DARTS / NAS-Bench-201 architectures, AmoebaNet mutations and the EcoNAS cell space."""

import random
from collections import Counter

import numpy as np
import pytest
import torch

from lightning_nas.search import mutate, random_genotype
from lightning_nas.search.genotypes import MUTABLE_SPACES
from lightning_nas.spaces import (
    DARTS_OPS,
    ECONAS_OPS,
    GENOTYPE_OPS,
    NB201_OPS,
    DARTSGenotype,
    EcoNASGenotype,
    EcoNASSpace,
    Genotype,
    NASBench201Genotype,
    get_search_space,
    list_search_spaces,
    loose_ends,
)

CELL = (
    ("none", 0),
    ("skip_connect", 1),
    ("sep_conv_3x3", 2),
    ("none", 0),
    ("max_pool_3x3", 1),
    ("dil_conv_3x3", 0),
    ("skip_connect", 4),
    ("none", 3),
)

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _check_cell(pairs, ops):
    assert len(pairs) == 8
    for index, (op, source) in enumerate(pairs):
        assert op in ops
        assert 0 <= source < index // 2 + 2


# ------------------------------------------------------------------------------------------------ loose ends
def test_loose_ends_are_the_nodes_no_node_reads():
    assert loose_ends(CELL) == (5,)  # node 2 feeds 3, node 3 feeds 5, node 4 feeds 5
    chain = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4
    assert loose_ends(chain) == (2, 3, 4, 5)  # nobody reads an intermediate node
    assert loose_ends([("skip_connect", node - 1) for node in (2, 2, 3, 3, 4, 4, 5, 5)]) == (5,)


# ----------------------------------------------------------------------------------------------- random draws
@pytest.mark.parametrize(
    "space,ops,cls", [("econas", ECONAS_OPS, EcoNASGenotype), ("darts", GENOTYPE_OPS, DARTSGenotype)]
)
def test_random_cell_genotypes_are_valid_with_loose_end_concats(space, ops, cls):
    rng = np.random.default_rng(0)
    for _ in range(300):
        g = random_genotype(space, rng)
        assert type(g) is cls and g.space == space
        for cell in ("normal", "reduce"):
            _check_cell(g.cell(cell), ops)
            assert g.concat(cell) == loose_ends(g.cell(cell))
            assert 5 in g.concat(cell) and not {0, 1} & set(g.concat(cell))
        assert type(g).from_string(str(g)) == g


def test_random_genotypes_are_reproducible_from_every_kind_of_generator():
    for space in MUTABLE_SPACES:
        a = [random_genotype(space, np.random.default_rng(3)) for _ in range(2)]
        assert a[0] == a[1] == random_genotype(space, 3)
        assert random_genotype(space, random.Random(3)) == random_genotype(space, random.Random(3))
    rng = np.random.default_rng(0)
    assert len({random_genotype("econas", rng) for _ in range(50)}) == 50


def test_random_econas_draws_are_uniform_over_ops_and_inputs():
    rng = np.random.default_rng(1)
    ops, inputs_of_node_5, repeated = Counter(), Counter(), 0
    n = 1500
    for _ in range(n):
        g = random_genotype("econas", rng)
        for cell in ("normal", "reduce"):
            pairs = g.cell(cell)
            ops.update(op for op, _ in pairs)
            inputs_of_node_5.update(source for _, source in pairs[6:])
            repeated += sum(pairs[2 * i][1] == pairs[2 * i + 1][1] for i in range(4))
    total = sum(ops.values())
    assert set(ops) == set(ECONAS_OPS)  # 'none' included
    assert all(abs(count / total - 1 / 8) < 0.01 for count in ops.values())
    total = sum(inputs_of_node_5.values())
    assert sorted(inputs_of_node_5) == [0, 1, 2, 3, 4]
    assert all(abs(count / total - 1 / 5) < 0.02 for count in inputs_of_node_5.values())
    # both inputs of node i coincide with probability 1 / i (i = 2..5 inputs): mean (1/2 + 1/3 + 1/4 + 1/5) / 4
    assert abs(repeated / (8 * n) - (1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 4) < 0.02


def test_random_nasbench201_cells_are_uniform():
    rng = np.random.default_rng(2)
    cells = [random_genotype("nasbench201", rng) for _ in range(2000)]
    assert all(isinstance(g, NASBench201Genotype) for g in cells)
    counts = Counter(op for g in cells for op in g.ops)
    assert set(counts) == set(NB201_OPS)
    assert all(abs(count / 12000 - 1 / 5) < 0.02 for count in counts.values())


def test_random_genotype_rejects_unknown_spaces_and_generators():
    with pytest.raises(ValueError, match="`search_space` must be one of"):
        random_genotype("mobilenet", 0)
    with pytest.raises(TypeError, match="`rng` must be a numpy.random.Generator"):
        random_genotype("econas", torch.Generator())
    with pytest.raises(TypeError, match="`rng` must be"):
        random_genotype("econas", True)


# ---------------------------------------------------------------------------------------------------- mutation
def _diff(parent, child):
    return [
        (cell, slot, a, b)
        for cell in ("normal", "reduce")
        for slot, (a, b) in enumerate(zip(parent.cell(cell), child.cell(cell)))
        if a != b
    ]


@pytest.mark.parametrize("space,ops", [("econas", ECONAS_OPS), ("darts", GENOTYPE_OPS)])
def test_cell_mutations_change_exactly_one_slot_and_stay_valid(space, ops):
    rng = np.random.default_rng(0)
    kinds, cells, new_ops = Counter(), Counter(), Counter()
    n = 2000
    parent = random_genotype(space, rng)
    for _ in range(n):
        child = mutate(parent, rng)
        assert type(child) is type(parent) and child != parent
        (cell, slot, (op_a, in_a), (op_b, in_b)), *rest = _diff(parent, child)
        assert not rest  # exactly one (op, input) slot changed
        other = "reduce" if cell == "normal" else "normal"
        assert child.cell(other) == parent.cell(other) and child.concat(other) == parent.concat(other)
        assert child.concat(cell) == loose_ends(child.cell(cell))
        _check_cell(child.cell(cell), ops)
        if op_a == op_b:
            kinds["hidden"] += 1
            assert in_a != in_b and 0 <= in_b < slot // 2 + 2  # acyclic: an earlier state
        else:
            kinds["op"] += 1
            assert in_a == in_b and op_b in ops
            new_ops[op_b] += 1
        cells[cell] += 1
        parent = child
    assert abs(kinds["hidden"] / n - 0.5) < 0.04 and abs(cells["normal"] / n - 0.5) < 0.04
    assert set(new_ops) == set(ops)  # every op is reachable, 'none' too for EcoNAS


def test_hidden_state_mutation_recomputes_the_loose_ends():
    parent = EcoNASGenotype.from_cells(CELL, CELL)
    seen = set()
    for seed in range(200):
        child = mutate(parent, np.random.default_rng(seed))
        for cell in ("normal", "reduce"):
            assert child.concat(cell) == loose_ends(child.cell(cell))
        seen.add(child.normal_concat)
        seen.add(child.reduce_concat)
    assert len(seen) > 1  # rewiring a slot changes which nodes are loose ends


def test_darts_mutation_keeps_a_full_concat():
    parent = DARTSGenotype.from_string(DARTS_V2)  # its concats are [2, 3, 4, 5], its loose ends (3, 4, 5)
    rng = np.random.default_rng(0)
    for _ in range(100):
        child = mutate(parent, rng)
        assert child.normal_concat == child.reduce_concat == (2, 3, 4, 5)
        assert all(op != "none" for cell in ("normal", "reduce") for op, _ in child.cell(cell))


def test_nasbench201_mutation_changes_one_edge():
    rng = np.random.default_rng(0)
    parent = random_genotype("nasbench201", rng)
    edges = Counter()
    for _ in range(600):
        child = mutate(parent, rng)
        changed = [i for i, (a, b) in enumerate(zip(parent.ops, child.ops)) if a != b]
        assert len(changed) == 1
        edges[changed[0]] += 1
        parent = child
    assert sorted(edges) == list(range(6))


def test_mutate_reads_strings_and_is_reproducible():
    parent = random_genotype("econas", 0)
    assert mutate(str(parent), random.Random(5), search_space="econas") == mutate(parent, random.Random(5))
    assert mutate(parent, np.random.default_rng(5)) == mutate(parent, 5)


def test_mutate_rejects_what_it_cannot_mutate():
    with pytest.raises(ValueError, match="`search_space` must be one of"):
        mutate(str(random_genotype("econas", 0)), 0)
    with pytest.raises(TypeError, match="expected a genotype"):
        mutate(42, 0)

    class Other(Genotype):
        space = "other"

        @classmethod
        def from_string(cls, s):
            return cls()

        def __str__(self):
            return "other"

    with pytest.raises(ValueError, match="only genotypes of the spaces"):
        mutate(Other(), 0)


# ---------------------------------------------------------------------------------------------- the econas space
def test_econas_genotype_accepts_none_and_round_trips():
    g = EcoNASGenotype.from_cells(CELL, CELL)
    assert g.normal_concat == (5,) and g.space == "econas"
    assert EcoNASGenotype.from_string(str(g)) == g
    assert Genotype.from_json(g.to_json()) == g
    no_none = [("skip_connect" if op == "none" else op, source) for op, source in CELL]
    fields = {"normal": no_none, "normal_concat": [5], "reduce": no_none, "reduce_concat": [5]}
    assert EcoNASGenotype(**fields) != DARTSGenotype(**fields)  # another space
    with pytest.raises(ValueError, match="uses 'none'"):
        DARTSGenotype.from_string(str(g))  # the DARTS space rejects it
    assert EcoNASGenotype.from_string(str(g).replace("[5]", "range(5, 6)")) == g


@pytest.mark.parametrize(
    "text,match",
    [
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "NAS-Bench-201"),
        ("Genotype(normal=[], normal_concat=[2], reduce=[], reduce_concat=[2])", "must hold 8"),
        ("not a genotype", "not a `Genotype"),
        ("Genotype(normal=[('conv', 0)] * 8)", "keyword arguments"),
    ],
)
def test_econas_genotype_strings_are_checked(text, match):
    with pytest.raises(ValueError, match=match):
        EcoNASGenotype.from_string(text)


def test_econas_genotype_fields_are_checked():
    with pytest.raises(ValueError, match="unknown op 'conv_7x7'"):
        EcoNASGenotype.from_cells([("conv_7x7", 0)] * 8, CELL)
    bad = list(CELL)
    bad[2] = ("skip_connect", 3)  # node 3 cannot read itself
    with pytest.raises(ValueError, match="takes inputs 0..2"):
        EcoNASGenotype.from_cells(bad, CELL)
    with pytest.raises(ValueError, match="intermediate nodes 2..5"):
        EcoNASGenotype(normal=CELL, normal_concat=[0, 5], reduce=CELL, reduce_concat=[5])
    with pytest.raises(TypeError, match="expected a string"):
        EcoNASGenotype.from_string(3)


def test_econas_space_builds_random_networks_with_strided_inputs_and_zero_ops():
    assert "econas" in list_search_spaces() and ECONAS_OPS == DARTS_OPS
    space = get_search_space("econas", C=4, layers=5, auxiliary=False)
    assert isinstance(space, EcoNASSpace)
    rng = np.random.default_rng(0)
    reduce = [("none", 0), ("none", 1), ("skip_connect", 0), ("max_pool_3x3", 1)] + [("none", 2), ("none", 3)] * 2
    genotypes = [EcoNASGenotype.from_cells(CELL, reduce)] + [random_genotype("econas", rng) for _ in range(6)]
    x = torch.randn(2, 3, 8, 8)
    for g in genotypes:
        net = space.build_network(str(g), num_classes=10).eval()
        assert net(x).shape == (2, 10)  # reductions: 8 -> 4 -> 2, whatever the loose ends
    default = EcoNASSpace()
    assert (default.C, default.layers, default.auxiliary) == (36, 20, True)
    with pytest.raises(NotImplementedError, match="no weight-sharing supernet"):
        space.build_supernet(10)
    with pytest.raises(ValueError, match="belongs to the search space 'darts'"):
        space.parse_genotype(random_genotype("darts", 0))
    with pytest.raises(ValueError, match="`C` must be a positive integer"):
        EcoNASSpace(C=0)
