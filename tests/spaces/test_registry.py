from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_nas.registry import Registry
from lightning_nas.spaces import (
    DARTSGenotype,
    DifferentiableSearchSpace,
    EcoNASGenotype,
    Genotype,
    GenotypeEdge,
    MobileNetPath,
    NASBench201Genotype,
    NASBench201Space,
    PathSupernet,
    SearchSpace,
    SinglePathSearchSpace,
    get_op,
    get_search_space,
    get_search_space_class,
    list_ops,
    list_search_spaces,
    loose_ends,
    parse_genotype,
    register_op,
    register_search_space,
    unregister_search_space,
)

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def test_register_get_names_contains():
    registry: Registry[int] = Registry("number")
    registry.register("two")(2)
    registry.register("one")(1)
    assert registry.get("two") == 2
    assert registry.names() == ["one", "two"]
    assert list(registry) == ["one", "two"]
    assert "one" in registry and "three" not in registry and [] not in registry
    assert len(registry) == 2


def test_register_returns_object_unchanged():
    registry: Registry[type] = Registry("class")

    @registry.register("thing")
    class Thing:
        pass

    assert registry.get("thing") is Thing


def test_duplicate_name_raises():
    registry: Registry[int] = Registry("number")
    registry.register("x")(1)
    with pytest.raises(ValueError, match="`name` 'x' is already registered"):
        registry.register("x")


def test_unknown_name_lists_sorted_names():
    registry: Registry[int] = Registry("number")
    for name in ("b", "c", "a"):
        registry.register(name)(0)
    with pytest.raises(ValueError, match=r"Unknown number 'z'\. Registered number names: \['a', 'b', 'c'\]"):
        registry.get("z")


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_name_raises(name):
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        Registry("number").register(name)


def test_bad_kind_raises():
    with pytest.raises(ValueError, match="`kind` must be a non-empty string"):
        Registry("")


def test_search_space_registry():
    assert "nasbench201" in list_search_spaces()
    assert list_search_spaces() == sorted(list_search_spaces())
    assert get_search_space_class("nasbench201") is NASBench201Space
    space = get_search_space("nasbench201", C=8, N=2)
    assert isinstance(space, NASBench201Space)
    assert (space.C, space.N, space.in_channels) == (8, 2, 3)


def test_unknown_search_space_lists_names():
    with pytest.raises(ValueError, match=r"Unknown search space 'nasbench301'\. .*'nasbench201'"):
        get_search_space("nasbench301")


def test_unknown_search_space_option_is_named():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['channels'\]"):
        get_search_space("nasbench201", channels=16)


def test_bad_search_space_option_value():
    with pytest.raises(
        ValueError, match=r"`NASBench201Space\(C=0\)`: `C` must be a positive integer\. Got 0 instead\."
    ):
        get_search_space("nasbench201", C=0)


def test_duplicate_search_space_raises():
    with pytest.raises(ValueError, match="`name` 'nasbench201' is already registered"):
        register_search_space("nasbench201")


def test_register_search_space_checks_class():
    with pytest.raises(TypeError, match="decorates SearchSpace subclasses"):
        register_search_space("_test_not_a_space")(int)


def test_register_search_space_name_mismatch():
    class Named(SearchSpace):
        name = "something_else"

    with pytest.raises(ValueError, match="declares `name` 'something_else'"):
        register_search_space("_test_mismatch")(Named)


def test_op_registry():
    assert list_ops("nasbench201") == sorted(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"])
    op = get_op("nor_conv_3x3", space="nasbench201")(8, affine=False, track_running_stats=False)
    assert isinstance(op, nn.Module)
    with pytest.raises(ValueError, match=r"Unknown nasbench201 op 'sep_conv_3x3'\. .*'avg_pool_3x3', 'none'"):
        get_op("sep_conv_3x3", space="nasbench201")
    with pytest.raises(ValueError, match="`name` 'skip_connect' is already registered"):
        register_op("skip_connect", space="nasbench201")
    with pytest.raises(ValueError, match="no ops are registered for 'unknown_space'"):
        get_op("none", space="unknown_space")
    with pytest.raises(ValueError, match="no ops are registered for 'unknown_space'"):
        list_ops("unknown_space")


# ------------------------------------------------------------------------------------ the spaces' own facts
def test_registry_unregister_returns_the_object_and_forgets_the_name():
    registry: Registry[int] = Registry("number")
    registry.register("two")(2)
    assert registry.unregister("two") == 2 and "two" not in registry
    with pytest.raises(ValueError, match="Unknown number 'two'"):
        registry.unregister("two")


def test_unregister_search_space_undoes_a_registration():
    class Temporary(SearchSpace):
        genotype_type = NASBench201Genotype

        def build_network(self, genotype, num_classes):
            return nn.Identity()

    register_search_space("_test_temporary")(Temporary)
    assert get_search_space_class("_test_temporary") is Temporary
    assert unregister_search_space("_test_temporary") is Temporary
    assert "_test_temporary" not in list_search_spaces()
    with pytest.raises(ValueError, match="Unknown search space '_test_temporary'"):
        unregister_search_space("_test_temporary")


@pytest.mark.parametrize(
    ("name", "kind", "skip", "parameter_free", "stages"),
    [
        ("darts", DifferentiableSearchSpace, "skip_connect", ("max_pool_3x3", "avg_pool_3x3", "skip_connect"), None),
        ("nasbench201", DifferentiableSearchSpace, "skip_connect", ("none", "skip_connect", "avg_pool_3x3"), None),
        ("mobilenet", SinglePathSearchSpace, "id", ("id",), (4, 4, 4, 4, 4, 1)),
        ("econas", SearchSpace, "skip_connect", ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"), None),
    ],
)
def test_each_space_states_its_facts_and_kind(name, kind, skip, parameter_free, stages):
    space = get_search_space_class(name)
    assert issubclass(space, kind) and space.name == name
    assert space.skip_op == skip and space.parameter_free_ops == parameter_free and space.stages == stages
    assert skip in space.ops and set(parameter_free) <= set(space.ops)
    assert space.genotype_type.space == name and space.genotype_type.space_class() is space
    assert name in list_search_spaces(kind) and name in list_search_spaces()
    if name == "econas":  # no supernet: searched by evolution over trained children
        assert not issubclass(space, (DifferentiableSearchSpace, SinglePathSearchSpace))
        with pytest.raises(NotImplementedError, match="no weight-sharing supernet"):
            space().build_supernet(10)


def test_genotypes_list_their_edges():
    darts = DARTSGenotype.from_string(DARTS_V2)
    edges = darts.edges()
    assert darts.cells() == ("normal", "reduce") and len(edges) == 16
    assert edges[7] == GenotypeEdge("normal", "node 3 #2", "dil_conv_3x3", 2, 5)
    assert darts.op_names("reduce") == [op for op, _ in darts.reduce]
    assert darts.cell_outputs("normal") == (2, 3, 4, 5) and darts.searched_inputs
    nb201 = NASBench201Genotype.from_ops(["skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "none", "none"])
    assert [(e.label, e.op) for e in nb201.edges()][:2] == [("1<-0", "skip_connect"), ("2<-0", "none")]
    assert nb201.cells() == ("cell",) and nb201.cell_outputs("cell") is None and not nb201.searched_inputs
    path = MobileNetPath(("k3e6",) * 4 + ("k5e3", "id", "id", "k7e6_se") + ("k3e3",) * 13)
    assert path.edges()[5] == GenotypeEdge("path", "layer 5", "id") and path.op_names() == list(path.choices)
    econas = EcoNASGenotype.from_cells(darts.normal, darts.reduce)
    assert econas.op_names() == darts.op_names() and econas.cell_outputs("normal") == loose_ends(darts.normal)
    with pytest.raises(ValueError, match=r"`cell` must be one of \['normal', 'reduce'\] or None"):
        darts.op_names("other")


def test_a_genotype_without_edges_says_so():
    class Bare(Genotype):
        space = "bare"

        @classmethod
        def from_string(cls, s):
            return cls()

        def __str__(self):
            return "bare"

    with pytest.raises(NotImplementedError, match=r"`Bare.edges\(\)`"):
        Bare().edges()


def test_genotypes_are_parsed_by_space_name():
    assert parse_genotype(DARTS_V2, "darts") == DARTSGenotype.from_string(DARTS_V2)
    with pytest.raises(ValueError, match="Unknown search space 'nope'"):
        parse_genotype(DARTS_V2, "nope")
    with pytest.raises(ValueError, match="looks like a NAS-Bench-201 genotype"):
        parse_genotype("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "econas")


def test_single_path_space_takes_any_path_form_and_refuses_other_spaces():
    space = get_search_space("mobilenet", input_size=32, width_mult=0.25, num_classes=10)
    path = space.random_path(torch.Generator().manual_seed(0))
    assert isinstance(space.build_supernet(), PathSupernet) and space.build_supernet().arch_parameters() == []
    assert space.build_network(list(path.choices)).path == path
    with pytest.raises(ValueError, match="belongs to the search space 'darts'"):
        space.build_network(DARTSGenotype.from_string(DARTS_V2))


def test_list_search_spaces_by_kind():
    assert list_search_spaces(DifferentiableSearchSpace) == ["darts", "mobilenet", "nasbench201"]
    assert list_search_spaces(SinglePathSearchSpace) == ["mobilenet"]
    with pytest.raises(TypeError, match="`kind` must be a SearchSpace subclass"):
        list_search_spaces(int)
