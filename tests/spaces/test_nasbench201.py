from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch import nn

from lightning_nas.spaces import (
    NB201_EDGES,
    NB201_OPS,
    Genotype,
    NASBench201Genotype,
    NASBench201Network,
    NASBench201Space,
    NASBench201Supernet,
    Supernet,
)

BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ONE_CONV = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
DARTS_STRING = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


# --------------------------------------------------------------------------------------------------- genotype
def test_round_trip_all_cells():
    seen = set()
    for genotype in NASBench201Genotype.all():
        text = str(genotype)
        parsed = NASBench201Genotype.from_string(text)
        assert parsed == genotype
        assert str(parsed) == text
        assert NASBench201Genotype.from_ops(genotype.ops) == genotype
        seen.add(parsed)
    assert len(seen) == 5**6 == 15_625


def test_structure_and_ops():
    genotype = NASBench201Genotype.from_string(BEST_CIFAR10)
    assert genotype.nodes == (
        (("nor_conv_3x3", 0),),
        (("nor_conv_3x3", 0), ("nor_conv_3x3", 1)),
        (("skip_connect", 0), ("nor_conv_3x3", 1), ("nor_conv_1x1", 2)),
    )
    assert genotype.ops == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "nor_conv_1x1",
    )
    assert [source for node in genotype.nodes for _, source in node] == [j for _, j in NB201_EDGES]
    assert eval(repr(genotype), {"NASBench201Genotype": NASBench201Genotype}) == genotype


def test_constructor_normalises_lists_and_is_frozen_and_hashable():
    genotype = NASBench201Genotype(
        [[["skip_connect", 0]], [["none", 0], ["none", 1]], [["none", 0], ["none", 1], ["none", 2]]]
    )
    assert genotype == NASBench201Genotype.from_string("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert hash(genotype) == hash(NASBench201Genotype.from_string(str(genotype)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        genotype.nodes = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("nodes", "match"),
    [
        ((), "must hold 3 nodes"),
        (
            ((("none", 0),), (("none", 0),), (("none", 0), ("none", 1), ("none", 2))),
            r"node 2 must hold 2 \(op, input\)",
        ),
        (((("conv", 0),), (("none", 0), ("none", 1)), (("none", 0), ("none", 1), ("none", 2))), "unknown op 'conv'"),
        (((("none", 1),), (("none", 0), ("none", 1)), (("none", 0), ("none", 1), ("none", 2))), "must take input 0"),
        ((("none",), (("none", 0), ("none", 1)), (("none", 0), ("none", 1), ("none", 2))), r"\(op, input\) pairs"),
    ],
)
def test_constructor_validates(nodes, match):
    with pytest.raises(ValueError, match=match):
        NASBench201Genotype(nodes)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "expected 3 nodes separated by '\\+', got 1"),
        ("|none~0|+|none~0|none~1|", "expected 3 nodes separated by '\\+', got 2"),
        (ALL_NONE + "+|none~0|", "expected 3 nodes separated by '\\+', got 4"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 \\('none~0\\|'\\) must start and end with"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 .* must have 2 edge\\(s\\).*got 1"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "node 3 .* must have 3 edge\\(s\\).*got 4"),
        ("|none~0|+|none~0|none~1|+|none~0|none~2|none~1|", "edge 'none~2' of node 3 must take input 1"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none~1' of node 1 must take input 0"),
        ("|none~00|+|none~0|none~1|+|none~0|none~1|none~2|", "must take input 0 .*got '00'"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none' of node 1 must have the form 'op~input'"),
        ("|none~0~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must have the form 'op~input'"),
        ("|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'sep_conv_3x3' in node 1"),
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "with each op in \\['none', 'skip_connect', "),
        (" " + ALL_NONE, "node 1 .* must start and end with"),
        (ALL_NONE.replace("|+|", "| + |", 1), "must start and end with"),
    ],
)
def test_from_string_rejects_malformed(text, match):
    with pytest.raises(ValueError, match=match):
        NASBench201Genotype.from_string(text)


def test_from_string_rejects_darts_genotype():
    with pytest.raises(ValueError, match="looks like a DARTS-space genotype .* another search space"):
        NASBench201Genotype.from_string(DARTS_STRING)


def test_from_string_rejects_non_string():
    with pytest.raises(TypeError, match="expected a string. Got int instead"):
        NASBench201Genotype.from_string(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("ops", [["none"] * 5, ["none"] * 7, "skip_connect", ["none"] * 5 + ["max_pool_3x3"]])
def test_from_ops_validates(ops):
    with pytest.raises(ValueError, match="`ops` must hold 6 op names|unknown op 'max_pool_3x3'"):
        NASBench201Genotype.from_ops(ops)


def test_json_round_trip():
    genotype = NASBench201Genotype.from_string(BEST_CIFAR10)
    text = genotype.to_json()
    assert json.loads(text) == {"space": "nasbench201", "genotype": BEST_CIFAR10}
    assert NASBench201Genotype.from_json(text) == genotype
    assert Genotype.from_json(text) == genotype  # dispatch on the "space" key


def test_from_json_rejects_other_space_and_garbage():
    with pytest.raises(ValueError, match="belongs to the search space 'darts', not to 'nasbench201'"):
        NASBench201Genotype.from_json(json.dumps({"space": "darts", "genotype": DARTS_STRING}))
    with pytest.raises(ValueError, match="Unknown search space 'nasbench301'"):
        Genotype.from_json(json.dumps({"space": "nasbench301", "genotype": DARTS_STRING}))
    with pytest.raises(ValueError, match="expected a JSON string"):
        NASBench201Genotype.from_json("{not json")
    with pytest.raises(ValueError, match='the keys "space" and "genotype"'):
        NASBench201Genotype.from_json(json.dumps({"genotype": ALL_SKIP}))
    with pytest.raises(ValueError, match='"genotype" must be a string'):
        NASBench201Genotype.from_json(json.dumps({"space": "nasbench201", "genotype": 3}))


# ---------------------------------------------------------------------------------------------------- supernet
@pytest.fixture
def supernet() -> NASBench201Supernet:
    torch.manual_seed(0)
    return NASBench201Space(C=4, N=1).build_supernet(num_classes=10)


def test_supernet_forward_shape(supernet):
    assert supernet(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert isinstance(supernet, Supernet)
    # 3 stages of N=1 cells plus 2 reduction blocks
    assert len(supernet.cells) == 5


def test_supernet_grey_scale_and_odd_sizes():
    torch.manual_seed(0)
    net = NASBench201Space(C=4, N=1, in_channels=1).build_supernet(num_classes=3)
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 3)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 3)  # 28 -> 14 -> 7 (odd)
    assert net(torch.randn(2, 1, 15, 15)).shape == (2, 3)


def test_alpha_and_parameter_partition(supernet):
    arch = supernet.arch_parameters()
    assert len(arch) == 1
    assert arch[0] is supernet.arch_alpha
    assert arch[0].shape == (6, 5) == (len(NB201_EDGES), len(NB201_OPS))
    assert supernet.arch_parameter_names() == ["arch_alpha"]
    assert arch[0].abs().max() < 0.01  # 1e-3 * N(0, 1)
    weights = supernet.weight_parameters()
    named = list(supernet.named_parameters())
    assert [p for _, p in named if p is not supernet.arch_alpha] == weights
    assert len(arch) + len(weights) == len(named) == len(list(supernet.parameters()))
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    assert dict(named)["arch_alpha"] is supernet.arch_alpha


def test_search_cells_use_non_affine_batch_statistics(supernet):
    search_bns = [
        m for cell in supernet.cells if hasattr(cell, "edges") for m in cell.modules() if isinstance(m, nn.BatchNorm2d)
    ]
    assert len(search_bns) == 3 * 6 * 2  # 3 cells x 6 edges x 2 convs
    assert all(not bn.affine and not bn.track_running_stats for bn in search_bns)
    convs = [m for cell in supernet.cells for m in cell.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.bias is None for conv in convs)
    tracked = NASBench201Space(C=4, N=1, track_running_stats=True).build_supernet(10)
    assert all(m.track_running_stats for m in tracked.modules() if isinstance(m, nn.BatchNorm2d))


def test_mixed_op_is_softmax_weighted_sum(supernet):
    edge = supernet.cells[0].edges[2]
    x = torch.randn(2, 4, 8, 8)
    weights = torch.softmax(torch.randn(5), dim=0)
    expected = sum(w * op(x) for w, op in zip(weights, edge.ops, strict=True))  # `none` included, contributes zeros
    torch.testing.assert_close(edge(x, weights.unbind(0)), expected)


def test_forward_with_explicit_weights(supernet):
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(supernet(x, torch.softmax(supernet.arch_alpha, -1)), supernet(x))
    one_hot = torch.zeros(6, 5).index_fill_(1, torch.tensor([3]), 1.0)
    assert supernet(x, one_hot).shape == (2, 10)
    with pytest.raises(ValueError, match=r"`weights` must have shape \(6, 5\)\. Got \(5, 6\) instead"):
        supernet(x, torch.zeros(5, 6))


def test_gradients_reach_alpha_and_weights(supernet):
    supernet(torch.randn(2, 3, 16, 16)).sum().backward()
    assert supernet.arch_alpha.grad is not None and supernet.arch_alpha.grad.abs().sum() > 0
    assert supernet.stem[0].weight.grad is not None


def test_functional_call_with_arch_parameter_names(supernet):
    x = torch.randn(2, 3, 16, 16)
    alpha = torch.zeros(6, 5, requires_grad=True)
    out = torch.func.functional_call(supernet, {supernet.arch_parameter_names()[0]: alpha}, (x,))
    out.sum().backward()
    assert alpha.grad is not None and alpha.grad.shape == (6, 5)


@pytest.mark.parametrize("text", [BEST_CIFAR10, ALL_SKIP, ALL_NONE, ONE_CONV])
def test_genotype_follows_alpha(supernet, text):
    genotype = NASBench201Genotype.from_string(text)
    alpha = torch.randn(6, 5)
    for edge, op in enumerate(genotype.ops):
        alpha[edge, NB201_OPS.index(op)] = 10.0  # argmax, `none` included
    with torch.no_grad():
        supernet.arch_alpha.copy_(alpha)
    assert supernet.genotype() == genotype
    assert str(supernet.genotype()) == text


def test_genotype_ties_go_to_first_op(supernet):
    with torch.no_grad():
        supernet.arch_alpha.zero_()
    assert supernet.genotype() == NASBench201Genotype.from_string(ALL_NONE)


def test_supernet_is_deterministic_under_seed():
    torch.manual_seed(3)
    a = NASBench201Space(C=4, N=1).build_supernet(10)
    torch.manual_seed(3)
    b = NASBench201Space(C=4, N=1).build_supernet(10)
    for (name_a, p_a), (name_b, p_b) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert name_a == name_b
        assert torch.equal(p_a, p_b)
    assert a.genotype() == b.genotype()


# -------------------------------------------------------------------------------------------- discrete network
@pytest.mark.parametrize("text", [BEST_CIFAR10, ALL_SKIP, ALL_NONE, ONE_CONV])
def test_network_forward(text):
    torch.manual_seed(0)
    net = NASBench201Space(C=4, N=1).build_network(text, num_classes=10)
    assert isinstance(net, NASBench201Network)
    assert str(net.genotype) == text
    out = net(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    out.sum().backward()
    net.eval()
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 10)


def test_network_grey_scale():
    net = NASBench201Space(C=4, N=1, in_channels=1).build_network(NASBench201Genotype.from_string(ONE_CONV), 5)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 5)


def test_all_none_cell_outputs_zeros():
    net = NASBench201Space(C=4, N=1).build_network(ALL_NONE, num_classes=10)
    cell = net.cells[0]
    assert len(list(cell.parameters())) == 0
    assert torch.equal(cell(torch.randn(2, 4, 8, 8)), torch.zeros(2, 4, 8, 8))


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_network_parameter_count_by_hand():
    C, classes = 4, 10
    net = NASBench201Space(C=C, N=1).build_network(ONE_CONV, num_classes=classes)
    # only the nor_conv_3x3 edge has parameters: a 3x3 conv without bias and an affine BN, at c = 4, 8, 16
    cells = sum(9 * c * c + 2 * c for c in (4, 8, 16))
    stem = 3 * C * 9 + 2 * C
    block_1 = (C * 2 * C * 9 + 2 * 2 * C) + (2 * C * 2 * C * 9 + 2 * 2 * C) + C * 2 * C
    block_2 = (2 * C * 4 * C * 9 + 2 * 4 * C) + (4 * C * 4 * C * 9 + 2 * 4 * C) + 2 * C * 4 * C
    head = 2 * 4 * C + 4 * C * classes + classes
    assert cells == 3080
    assert _count(net) == stem + block_1 + block_2 + head + cells == 7974
    for index in (0, 2, 4):  # the three cells
        assert len(net.cells[index].ops) == 4  # 6 edges minus 2 `none`
    all_skip = NASBench201Space(C=C, N=1).build_network(ALL_SKIP, num_classes=classes)
    assert _count(all_skip) == 7974 - 3080
    all_pool = NASBench201Space(C=C, N=1).build_network(NASBench201Genotype.from_ops(["avg_pool_3x3"] * 6), classes)
    assert _count(all_pool) == 7974 - 3080


def test_network_bn_is_affine_with_running_stats():
    net = NASBench201Space(C=4, N=1).build_network(BEST_CIFAR10, num_classes=10)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.affine and bn.track_running_stats for bn in bns)


def test_network_rejects_bad_genotype():
    with pytest.raises(TypeError, match="`genotype` must be a NASBench201Genotype or its string. Got int"):
        NASBench201Network(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`NASBench201Network\\(C=0\\)`: `C` must be a positive integer"):
        NASBench201Network(ALL_SKIP, C=0)


# ------------------------------------------------------------------------------------------------------- space
def test_space_class_variables():
    assert NASBench201Space.name == "nasbench201"
    assert NASBench201Space.genotype_type is NASBench201Genotype
    assert NASBench201Space.default_step_order == "weights_first"
    assert repr(NASBench201Space()) == "NASBench201Space(C=16, N=5, in_channels=3, track_running_stats=False)"


def test_default_supernet_matches_nasbench201():
    net = NASBench201Space().build_supernet(num_classes=10)
    assert len(net.cells) == 17
    assert net.stem[0].out_channels == 16 and net.classifier.in_features == 64


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"C": 0}, r"`NASBench201Space\(C=0\)`: `C` must be a positive integer\. Got 0 instead\."),
        ({"N": -1}, r"`NASBench201Space\(N=-1\)`: `N` must be a positive integer\. Got -1 instead\."),
        ({"C": 2.0}, r"`C` must be a positive integer\. Got 2\.0 instead\."),
        ({"in_channels": True}, r"`in_channels` must be a positive integer\. Got True instead\."),
        ({"track_running_stats": 1}, r"`track_running_stats` must be a bool\. Got 1 instead\."),
    ],
)
def test_space_validates_options(options, match):
    with pytest.raises(ValueError, match=match):
        NASBench201Space(**options)


def test_build_rejects_bad_num_classes():
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer. Got 0 instead."):
        NASBench201Space(C=4, N=1).build_supernet(num_classes=0)
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer. Got 0 instead."):
        NASBench201Space(C=4, N=1).build_network(ALL_SKIP, num_classes=0)


@dataclass(frozen=True)
class _OtherGenotype(Genotype):
    space: ClassVar[str] = "other"

    @classmethod
    def from_string(cls, s: str) -> _OtherGenotype:
        return cls()

    def __str__(self) -> str:
        return "other"


def test_parse_genotype():
    space = NASBench201Space(C=4, N=1)
    genotype = NASBench201Genotype.from_string(ALL_SKIP)
    assert space.parse_genotype(genotype) is genotype
    assert space.parse_genotype(ALL_SKIP) == genotype
    with pytest.raises(ValueError, match="DARTS-space genotype"):
        space.parse_genotype(DARTS_STRING)
    with pytest.raises(ValueError, match="DARTS-space genotype"):
        space.build_network(DARTS_STRING, num_classes=10)
    with pytest.raises(ValueError, match="belongs to the search space 'other', not to 'nasbench201'"):
        space.parse_genotype(_OtherGenotype())
    with pytest.raises(TypeError, match="`genotype` must be a string or a NASBench201Genotype. Got list instead"):
        space.parse_genotype(["skip_connect"] * 6)  # type: ignore[arg-type]
