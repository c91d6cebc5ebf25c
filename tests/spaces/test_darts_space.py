from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

from lightning_nas.spaces import (
    DARTS_EDGES,
    DARTS_OPS,
    GENOTYPE_OPS,
    DARTSGenotype,
    DARTSNetwork,
    DARTSSpace,
    DARTSSupernet,
    Genotype,
    NASBench201Genotype,
    SearchSpace,
    Supernet,
    channel_shuffle,
    derive_genotype,
    get_op,
    get_search_space,
    list_ops,
    list_search_spaces,
)
from lightning_nas.spaces.darts import FactorizedReduce, SepConv, Zero

# Published genotypes, verbatim from the authors' repositories (quark0/darts cnn/genotypes.py,
# yuhuixu1993/PC-DARTS genotypes.py, chenxin061/pdarts genotypes.py, Sunshine-Ye/Beta-DARTS sota/cnn/genotypes.py).
DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
PC_DARTS_CIFAR = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)
PDARTS = (  # note the missing space after "0)," as published
    "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0),('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3',0), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
    "reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
    "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))"
)
BETA_DARTS = (  # the cell the beta-DARTS repository exports as `genotype` (`DARTS = genotype`)
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 3), ('skip_connect', 0)], normal_concat=range(2, 6), "
    "reduce=[('skip_connect', 1), ('max_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_5x5', 2), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('dil_conv_3x3', 4)], reduce_concat=range(2, 6))"
)
PUBLISHED = {
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "PC_DARTS_cifar": PC_DARTS_CIFAR,
    "PDARTS": PDARTS,
    "BETA_DARTS": BETA_DARTS,
}


def _canonical(text: str) -> str:
    return text.replace("range(2, 6)", "[2, 3, 4, 5]").replace("),(", "), (").replace("',0)", "', 0)")


def _count(module: nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if "auxiliary" not in name)


# --------------------------------------------------------------------------------------------------- genotype
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_genotypes_round_trip(name):
    text = PUBLISHED[name]
    genotype = DARTSGenotype.from_string(text)
    assert len(genotype.normal) == len(genotype.reduce) == 8
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)
    assert str(genotype) == _canonical(text)
    if "range" not in text and "),(" not in text:
        assert str(genotype) == text  # published in the canonical form: identical string
    again = DARTSGenotype.from_string(str(genotype))
    assert again == genotype and str(again) == str(genotype)
    assert hash(again) == hash(genotype)
    assert DARTSGenotype.from_json(genotype.to_json()) == genotype
    assert Genotype.from_json(genotype.to_json()) == genotype  # dispatch on the "space" key
    assert json.loads(genotype.to_json()) == {"space": "darts", "genotype": str(genotype)}
    assert repr(genotype) == f"DARTSGenotype.from_string({str(genotype)!r})"


def test_published_structure():
    genotype = DARTSGenotype.from_string(PC_DARTS_CIFAR)
    assert genotype.normal[:2] == (("sep_conv_3x3", 1), ("skip_connect", 0))
    assert genotype.cell("reduce") == genotype.reduce
    assert genotype.concat("normal") == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="`cell` must be 'normal' or 'reduce'. Got 'other' instead"):
        genotype.cell("other")  # type: ignore[arg-type]
    assert DARTSGenotype.from_string(DARTS_V1) != DARTSGenotype.from_string(DARTS_V2)


def test_constructor_normalises_and_is_frozen():
    pairs = [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]] * 4
    genotype = DARTSGenotype(normal=pairs, normal_concat=range(2, 6), reduce=pairs, reduce_concat=[2, 3, 4, 5])
    assert genotype.normal == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1)) * 4
    assert genotype.normal_concat == (2, 3, 4, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        genotype.normal = ()  # type: ignore[misc]
    assert len({genotype, DARTSGenotype.from_string(str(genotype))}) == 1
    subset = DARTSGenotype(normal=pairs, normal_concat=(2, 5), reduce=pairs, reduce_concat=(5, 3, 4))
    assert "normal_concat=[2, 5]" in str(subset) and "reduce_concat=[5, 3, 4]" in str(subset)


def _pairs(n: int = 8, op: str = "sep_conv_3x3") -> list[tuple[str, int]]:
    return [(op, 0)] * n


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"normal": _pairs(7)}, r"`DARTSGenotype\(normal=.*`normal` must hold 8 \(op, input\) pairs.*got 7"),
        ({"reduce": "sep_conv_3x3"}, r"`reduce` must be a list of \(op, input\) pairs"),
        ({"normal": _pairs(7) + [("sep_conv_3x3", 6)]}, r"pair 7 of `normal` feeds node 5, which takes inputs 0..4"),
        ({"normal": [("sep_conv_3x3", 2)] + _pairs(7)}, r"pair 0 of `normal` feeds node 2, which takes inputs 0..1"),
        ({"normal": [("sep_conv_3x3", True)] + _pairs(7)}, r"takes inputs 0..1, got True"),
        ({"normal": _pairs(7) + [("conv_7x1_1x7", 0)]}, r"unknown op 'conv_7x1_1x7' in pair 7 of `normal`"),
        ({"reduce": _pairs(7) + [("none", 0)]}, r"pair 7 of `reduce` uses 'none'"),
        ({"normal": _pairs(7) + ["sep_conv_3x3"]}, r"must hold \(op, input\) pairs, got 'sep_conv_3x3'"),
        ({"normal_concat": []}, r"`normal_concat` must be a non-empty list"),
        ({"normal_concat": [1, 2]}, r"`normal_concat` may only hold the intermediate nodes 2..5, got \[1, 2\]"),
        ({"reduce_concat": [2, 6]}, r"may only hold the intermediate nodes 2..5"),
        ({"reduce_concat": [2, 2]}, r"`reduce_concat` must not repeat a node"),
    ],
)
def test_constructor_validates(kwargs, match):
    fields = {"normal": _pairs(), "normal_concat": [2, 3, 4, 5], "reduce": _pairs(), "reduce_concat": [2, 3, 4, 5]}
    fields.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DARTSGenotype(**fields)


NASNET = (  # quark0's NASNet: 5 nodes and ops outside the DARTS space
    "Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0), "
    "('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 1)], normal_concat=[2, 3, 4, 5, 6], reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
    "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), "
    "('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], reduce_concat=[4, 5, 6])"
)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (DARTS_V2.replace("('dil_conv_3x3', 2)], normal", "], normal"), r"`normal` must hold 8 .* got 7"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), r"pair 7 of `normal` feeds node 5"),
        (DARTS_V2.replace("('max_pool_3x3', 0)", "('max_pool_3x3', -1)", 1), r"pair 0 of `reduce` feeds node 2"),
        (DARTS_V2.replace("dil_conv_3x3", "sep_conv_7x7"), r"unknown op 'sep_conv_7x7' in pair 7 of `normal`"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"), r"pair 7 of `normal` uses 'none'"),
        (NASNET, r"`normal` must hold 8 \(op, input\) pairs"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(0, 6)"), r"nodes 2..5, got \[0, 1"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, x)"), r"`normal_concat` is not a"),
        (DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), r"takes the keyword arguments .* once each"),
        (DARTS_V2.replace("reduce_concat=", "normal_concat="), r"takes the keyword arguments"),
        (DARTS_V2.replace("Genotype(normal=", "Genotype([], normal="), r"1 positional argument"),
        (DARTS_V2.replace("Genotype(", "Cell("), r"it is not a `Genotype\(\.\.\.\)` expression"),
        (DARTS_V2[:-1], r"it is not a `Genotype\(\.\.\.\)` expression"),
        ("", r"it is not a `Genotype"),
        (
            "Genotype(normal=__import__('os').getcwd(), normal_concat=[2], reduce=[], reduce_concat=[2])",
            r"not a literal",
        ),
    ],
)
def test_from_string_rejects_malformed(text, match):
    with pytest.raises(ValueError, match=r"Invalid DARTS genotype string .*" + match) as info:
        DARTSGenotype.from_string(text)
    assert "'sep_conv_3x3'" in str(info.value) and "'none'" not in str(info.value).split("with each op in")[-1]


def test_from_string_rejects_nasbench201_and_non_strings():
    nb201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    with pytest.raises(ValueError, match="looks like a NAS-Bench-201 genotype .* belongs to another search space"):
        DARTSGenotype.from_string(nb201)
    with pytest.raises(TypeError, match="expected a string. Got list instead"):
        DARTSGenotype.from_string([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="belongs to the search space 'darts', not to 'nasbench201'"):
        NASBench201Genotype.from_json(DARTSGenotype.from_string(DARTS_V2).to_json())
    with pytest.raises(ValueError, match="DARTS-space genotype"):
        NASBench201Genotype.from_string(DARTS_V2)


# ---------------------------------------------------------------------------------------------------- supernet
@pytest.fixture
def supernet() -> DARTSSupernet:
    torch.manual_seed(0)
    return DARTSSpace(C=4, layers=3).build_supernet(num_classes=10)


def test_supernet_forward_cifar_and_imagenet_stems(supernet):
    assert isinstance(supernet, Supernet)
    assert supernet(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    torch.manual_seed(0)
    imagenet = DARTSSpace(C=4, layers=3, stem="imagenet", in_channels=1).build_supernet(num_classes=5)
    assert imagenet(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    assert [cell.preprocess0.__class__ for cell in imagenet.cells][0] is FactorizedReduce  # stem0 has 2x resolution
    assert imagenet.stem.stem0[0].stride == (2, 2) and imagenet.stem.stem1[1].stride == (2, 2)


def test_supernet_macro_structure():
    net = DARTSSupernet(C=4, layers=5, num_classes=10)
    assert [cell.reduction for cell in net.cells] == [False, True, False, True, False]  # layers // 3, 2 * layers // 3
    assert net.stem.conv.out_channels == 12  # 3C
    for index, cell in enumerate(net.cells):
        assert len(cell.edges) == len(DARTS_EDGES) == 14
        strides = [edge.stride for edge in cell.edges]
        expected = [2 if cell.reduction and source < 2 else 1 for _, source in DARTS_EDGES]
        assert strides == expected
        after_reduction = index > 0 and net.cells[index - 1].reduction
        assert isinstance(cell.preprocess0, FactorizedReduce) == after_reduction
        assert [len(edge.ops) for edge in cell.edges] == [8] * 14
    assert net.classifier.in_features == 4 * 16
    bns = [m for cell in net.cells for m in cell.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not bn.affine for bn in bns)
    edge = net.cells[0].edges[0]
    for name, op in zip(DARTS_OPS, edge.ops, strict=True):
        if "pool" in name:
            assert isinstance(op, nn.Sequential) and isinstance(op[1], nn.BatchNorm2d) and not op[1].affine


def test_arch_parameters_and_partition(supernet):
    assert supernet.arch_parameter_names() == ["arch_alpha_normal", "arch_alpha_reduce"]
    arch = supernet.arch_parameters()
    assert [tuple(p.shape) for p in arch] == [(14, 8), (14, 8)]
    assert all(p.abs().max() < 0.01 for p in arch)
    weights = supernet.weight_parameters()
    named = list(supernet.named_parameters())
    assert len(arch) + len(weights) == len(named)
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    torch.manual_seed(0)
    normalized = DARTSSupernet(C=4, layers=3, edge_normalization=True)
    assert normalized.arch_parameter_names() == [
        "arch_alpha_normal",
        "arch_alpha_reduce",
        "arch_beta_normal",
        "arch_beta_reduce",
    ]
    assert normalized.arch_beta_normal.shape == normalized.arch_beta_reduce.shape == (14,)


def test_mixed_op_is_softmax_weighted_sum(supernet):
    edge = supernet.cells[0].edges[3]
    x = torch.randn(2, 4, 8, 8)
    weights = torch.softmax(torch.randn(8), dim=0)
    expected = sum(w * op(x) for w, op in zip(weights, edge.ops, strict=True))  # `none` contributes zeros
    torch.testing.assert_close(edge(x, weights.unbind(0)), expected)
    reduce_edge = supernet.cells[1].edges[0]
    assert reduce_edge(torch.randn(2, 8, 8, 8), weights.unbind(0)).shape == (2, 8, 4, 4)


def test_gradients_and_functional_call(supernet):
    x = torch.randn(2, 3, 8, 8)
    supernet(x).sum().backward()
    assert supernet.arch_alpha_normal.grad.abs().sum() > 0 and supernet.arch_alpha_reduce.grad.abs().sum() > 0
    assert supernet.stem.conv.weight.grad is not None
    alphas = {name: torch.zeros(14, 8, requires_grad=True) for name in supernet.arch_parameter_names()}
    torch.func.functional_call(supernet, alphas, (x,)).sum().backward()
    assert all(alpha.grad is not None and alpha.grad.abs().sum() > 0 for alpha in alphas.values())


def _hand_alpha() -> torch.Tensor:
    """Rows with one raised op (p = e^v / (e^v + 7), increasing in v), one row dominated by `none`."""
    col = {name: index for index, name in enumerate(DARTS_OPS)}
    alpha = torch.zeros(14, 8)
    # node 2 (edges 0, 1): `none` dominates edge 2<-0, whose best other op is weaker than edge 2<-1's
    alpha[0, col["none"]], alpha[0, col["sep_conv_3x3"]] = 5.0, 3.0
    alpha[1, col["dil_conv_5x5"]] = 1.0
    # node 3 (edges 2, 3, 4 from inputs 0, 1, 2)
    alpha[2, col["avg_pool_3x3"]] = 0.5
    alpha[3, col["max_pool_3x3"]] = 2.0
    alpha[4, col["skip_connect"]] = 3.0
    # node 4 (edges 5..8 from inputs 0..3): input 3 strongest, a three-way tie among inputs 0, 1, 2
    alpha[5:8, col["dil_conv_3x3"]] = 1.0
    alpha[8, col["sep_conv_5x5"]] = 4.0
    # node 5 (edges 9..13): all zero, ties everywhere
    return alpha


def test_genotype_derivation_on_hand_set_alphas(supernet):
    with torch.no_grad():
        supernet.arch_alpha_normal.copy_(_hand_alpha())
        supernet.arch_alpha_reduce.zero_()
    genotype = supernet.genotype()
    assert genotype.normal == (
        ("dil_conv_5x5", 1),  # strongest first
        ("sep_conv_3x3", 0),  # `none` ignored, both edges of node 2 are kept
        ("skip_connect", 2),
        ("max_pool_3x3", 1),  # top-2 of 3 edges
        ("sep_conv_5x5", 3),
        ("dil_conv_3x3", 0),  # tie among inputs 0, 1, 2: lowest input
        ("max_pool_3x3", 0),  # uniform row: first op other than `none`, lowest inputs
        ("max_pool_3x3", 1),
    )
    assert genotype.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)
    assert (
        derive_genotype(_hand_alpha().softmax(-1), [DARTS_OPS] * 14, torch.zeros(14, 8), [DARTS_OPS] * 14) == genotype
    )
    nested = _hand_alpha().softmax(-1).tolist()
    assert derive_genotype(nested, [list(DARTS_OPS)] * 14, nested, [list(DARTS_OPS)] * 14).normal == genotype.normal


def test_derive_genotype_validates():
    ops = [DARTS_OPS] * 14
    with pytest.raises(ValueError, match=r"`normal_weights` and `normal_ops` must have 14 rows.*Got 13 and 14"):
        derive_genotype(torch.zeros(13, 8), ops, torch.zeros(14, 8), ops)
    with pytest.raises(ValueError, match=r"edge 0 of `reduce_weights` must hold one weight per op of `reduce_ops`"):
        derive_genotype(torch.zeros(14, 8), ops, torch.zeros(14, 7), ops)
    only_none = [("none",)] + [DARTS_OPS] * 13
    with pytest.raises(ValueError, match=r"edge 0 of `normal_ops` has no op other than 'none'"):
        derive_genotype([[0.0]] + [[0.0] * 8] * 13, only_none, torch.zeros(14, 8), ops)


def test_edge_normalization_changes_chosen_edges():
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3, edge_normalization=True)
    with torch.no_grad():
        net.arch_alpha_normal.zero_()
        net.arch_alpha_normal[:, DARTS_OPS.index("sep_conv_3x3")] = 1.0  # every edge equally strong
        net.arch_alpha_reduce.zero_()
        net.arch_beta_normal.zero_()
        net.arch_beta_reduce.zero_()
    plain = (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert net.genotype().normal[:4] == plain * 2  # ties: lowest inputs
    with torch.no_grad():
        net.arch_beta_normal[4] = 2.0  # edge 3 <- 2
        net.arch_beta_normal[13] = 1.0  # edge 5 <- 4
        net.arch_beta_normal[12] = 3.0  # edge 5 <- 3
    genotype = net.genotype()
    assert genotype.normal[2:4] == (("sep_conv_3x3", 2), ("sep_conv_3x3", 0))
    assert genotype.normal[6:] == (("sep_conv_3x3", 3), ("sep_conv_3x3", 4))
    expected = torch.softmax(net.arch_alpha_normal, -1) * net.normalized_betas("normal").unsqueeze(-1)
    torch.testing.assert_close(net.op_weights("normal"), expected)
    assert net.op_weights("normal").requires_grad


def test_normalized_betas_sum_to_one_per_node():
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3, edge_normalization=True)
    with torch.no_grad():
        net.arch_beta_reduce.copy_(torch.randn(14))
    for cell in ("normal", "reduce"):
        betas = net.normalized_betas(cell)
        assert betas.shape == (14,)
        sums = torch.stack([group.sum() for group in betas.split([2, 3, 4, 5])])
        torch.testing.assert_close(sums, torch.ones(4))
    with pytest.raises(RuntimeError, match="build it with edge_normalization=True"):
        DARTSSupernet(C=4, layers=3).normalized_betas("normal")
    with pytest.raises(ValueError, match="`cell` must be 'normal' or 'reduce'. Got 'both' instead"):
        net.op_weights("both")  # type: ignore[arg-type]


def test_edge_normalization_weighs_node_inputs():
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3, edge_normalization=True)
    with torch.no_grad():
        net.arch_beta_normal.copy_(torch.randn(14))
    cell = net.cells[0]
    s0, s1 = torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8)
    weights = [row.unbind(0) for row in torch.softmax(net.arch_alpha_normal, -1).unbind(0)]
    betas = net.normalized_betas("normal")
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    edge = 0
    for _ in range(4):
        total = 0
        for state in list(states):
            total = total + betas[edge] * cell.edges[edge](state, weights[edge])
            edge += 1
        states.append(total)
    expected = torch.cat(states[2:], dim=1)
    torch.testing.assert_close(cell(s0, s1, weights, betas.unbind(0), 0.0), expected)


# ------------------------------------------------------------------------------------------------- PC-DARTS
def _conv_inputs(net: nn.Module, x: torch.Tensor) -> tuple[list[int], int]:
    """Input channels seen by the candidate ops, and the multiply-accumulates of the convs on the cells' edges."""
    seen: list[int] = []
    macs = [0]

    def record_input(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        seen.append(args[0].shape[1])

    def count_macs(module: nn.Conv2d, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        kh, kw = module.kernel_size
        macs[0] += out.numel() * module.in_channels // module.groups * kh * kw

    edges = [edge for cell in net.cells for edge in cell.edges]
    handles = [op.register_forward_pre_hook(record_input) for edge in edges for op in edge.ops]
    handles += [
        m.register_forward_hook(count_macs) for edge in edges for m in edge.modules() if isinstance(m, nn.Conv2d)
    ]
    net(x)
    for handle in handles:
        handle.remove()
    return seen, macs[0]


def test_partial_channels_compute_a_fraction_of_the_channels():
    # the per-edge reference cells: the hooks count calls of the edges' own modules, which the fused cells bypass
    torch.manual_seed(0)
    full = DARTSSupernet(C=8, layers=3, fused=False)
    torch.manual_seed(0)
    partial = DARTSSupernet(C=8, layers=3, partial_channels=4, fused=False)
    x = torch.randn(2, 3, 8, 8)
    seen_full, macs_full = _conv_inputs(full, x)
    seen_partial, macs_partial = _conv_inputs(partial, x)
    widths = [8, 16, 32]  # cells 0, 1 (reduction), 2 (reduction)
    assert sorted(set(seen_full)) == widths
    assert sorted(set(seen_partial)) == [w // 4 for w in widths]
    assert len(seen_full) == len(seen_partial) == 3 * 14 * 7  # every op but `none` runs
    assert macs_partial <= macs_full / 4  # depthwise convs scale with C / K, pointwise ones with (C / K)^2
    sep = partial.cells[0].edges[0].ops[DARTS_OPS.index("sep_conv_3x3")]
    assert isinstance(sep, SepConv) and sep[1].weight.shape == (2, 1, 3, 3) and sep[2].weight.shape == (2, 2, 1, 1)

    def edge_params(net: DARTSSupernet) -> int:
        return sum(p.numel() for cell in net.cells for p in cell.edges.parameters())

    assert edge_params(partial) < edge_params(full) / 4
    assert _count(partial) < _count(full)
    assert partial(x).shape == (2, 10)


@pytest.mark.parametrize("reduction", [False, True])
def test_partial_channel_edge_bypasses_and_shuffles(reduction):
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3, partial_channels=2)
    cell = net.cells[1 if reduction else 0]
    assert cell.reduction == reduction
    edge = cell.edges[0]
    channels = 8 if reduction else 4
    x = torch.randn(2, channels, 8, 8)
    weights = torch.softmax(torch.randn(8), 0).unbind(0)
    out = edge(x, weights)
    # undo the shuffle: position i * K + g holds channel g * (C / K) + i
    unshuffled = out.view(2, channels // 2, 2, *out.shape[2:]).transpose(1, 2).reshape(out.shape)
    head, rest = x[:, : channels // 2], x[:, channels // 2 :]
    mixed = sum(w * op(head) for w, op in zip(weights, edge.ops, strict=True))
    torch.testing.assert_close(unshuffled[:, : channels // 2], mixed)
    expected_rest = nn.functional.max_pool2d(rest, 2, 2) if reduction else rest
    torch.testing.assert_close(unshuffled[:, channels // 2 :], expected_rest)


def test_channel_shuffle_by_hand():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    assert channel_shuffle(x, 2).flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert torch.equal(channel_shuffle(x, 1), x)
    y = torch.randn(2, 8, 3, 3)
    assert torch.equal(channel_shuffle(channel_shuffle(y, 2), 4), y)  # shuffling by G then C / G restores
    with pytest.raises(ValueError, match=r"`channel_shuffle\(groups=4\)`: `groups` must divide the 6 channels"):
        channel_shuffle(x, 4)
    with pytest.raises(ValueError, match="`groups` must be a positive integer. Got 0 instead"):
        channel_shuffle(x, 0)


# ------------------------------------------------------------------------------------------------- P-DARTS
def _subsets() -> dict[str, list[list[str]]]:
    normal = [
        ["none", "skip_connect", "sep_conv_3x3"] if edge % 2 else ["max_pool_3x3", "sep_conv_5x5", "dil_conv_3x3"]
        for edge in range(14)
    ]
    reduce = [["avg_pool_3x3", "skip_connect", "dil_conv_5x5"]] * 14
    return {"normal": normal, "reduce": reduce}


def test_candidate_ops_subsets():
    torch.manual_seed(0)
    space = DARTSSpace(C=4, layers=3, candidate_ops=_subsets())
    net = space.build_supernet(num_classes=10)
    assert [tuple(p.shape) for p in net.arch_parameters()] == [(14, 3), (14, 3)]
    assert net.edge_ops("normal") == _subsets()["normal"]
    assert [len(edge.ops) for cell in net.cells for edge in cell.edges] == [3] * 42
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    with torch.no_grad():
        net.arch_alpha_normal.zero_()
        net.arch_alpha_normal[:, 0] = 5.0  # `none` on odd edges, max_pool_3x3 on even ones
        net.arch_alpha_normal[:, 2] = 1.0
        net.arch_alpha_reduce.zero_()
        net.arch_alpha_reduce[:, 2] = 1.0
    genotype = net.genotype()
    # node 2: edge 0 (max_pool, strong) and edge 1 (`none` ignored -> sep_conv_3x3, weak)
    assert genotype.normal[:2] == (("max_pool_3x3", 0), ("sep_conv_3x3", 1))
    assert {op for op, _ in genotype.normal} == {"max_pool_3x3", "sep_conv_3x3"}
    assert {op for op, _ in genotype.reduce} == {"dil_conv_5x5"}
    assert space.candidate_ops == _subsets()


@pytest.mark.parametrize(
    ("candidate_ops", "match"),
    [
        ({"normal": []}, r"`candidate_ops` must be None or a dict with the keys 'normal' and 'reduce'"),
        (
            {"normal": [["skip_connect"]] * 13, "reduce": [["skip_connect"]] * 14},
            r"`candidate_ops\['normal'\]` must be a list of 14 op lists",
        ),
        (
            {"normal": [["skip_connect"]] * 14, "reduce": [["conv"]] * 14},
            r"`candidate_ops\['reduce'\]\[0\]` holds unknown op\(s\) \['conv'\]",
        ),
        ({"normal": [[]] * 14, "reduce": [["skip_connect"]] * 14}, r"must be a non-empty list of op names"),
        ({"normal": ["skip_connect"] * 14, "reduce": [["skip_connect"]] * 14}, r"must be a non-empty list of op names"),
        ({"normal": [["none"]] * 14, "reduce": [["skip_connect"]] * 14}, r"must hold an op other than 'none'"),
        ({"normal": [["none", "none"]] * 14, "reduce": [["skip_connect"]] * 14}, r"must not repeat an op"),
        (
            {"normal": [["none", "skip_connect"]] * 13 + [["skip_connect"]], "reduce": [["skip_connect"]] * 14},
            r"every edge of the 'normal' cell must have the same number of ops \(edge 0 has 2\)",
        ),
    ],
)
def test_candidate_ops_validated(candidate_ops, match):
    with pytest.raises(ValueError, match=r"`DARTSSpace\(candidate_ops=.*" + match):
        DARTSSpace(C=4, layers=3, candidate_ops=candidate_ops)


def test_skip_dropout_only_in_training_mode():
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3)
    assert net.skip_dropout == 0.0
    x = torch.randn(2, 3, 8, 8)
    net.train()
    reference = net(x)
    torch.testing.assert_close(net(x), reference)  # no randomness without skip dropout
    net.skip_dropout = 0.7
    assert not torch.allclose(net(x), reference)
    net.eval()
    net.skip_dropout = 0.0
    evaluated = net(x)
    net.skip_dropout = 0.7
    torch.testing.assert_close(net(x), evaluated)
    with pytest.raises(ValueError, match=r"`skip_dropout` must be in \[0, 1\]. Got 1.5 instead"):
        net.skip_dropout = 1.5
    with pytest.raises(ValueError, match="Got True instead"):
        net.skip_dropout = True


def test_skip_dropout_spares_factorized_reduce():
    torch.manual_seed(0)
    only_skip = {"normal": [["skip_connect"]] * 14, "reduce": [["skip_connect"]] * 14}
    net = DARTSSupernet(C=4, layers=3, candidate_ops=only_skip).train()
    one = (torch.ones(()),)
    strided, identity = net.cells[1].edges[0], net.cells[1].edges[4]  # edges 2 <- 0 and 3 <- 2
    assert isinstance(strided.ops[0], FactorizedReduce) and isinstance(identity.ops[0], nn.Identity)
    x = torch.randn(2, 8, 8, 8)
    torch.testing.assert_close(strided(x, one, 0.9), strided(x, one, 0.0))
    dropped = identity(x, one, 0.9)
    assert (dropped == 0).float().mean() > 0.5
    assert torch.equal(identity.eval()(x, one, 0.9), x)


def test_supernet_is_deterministic_under_seed():
    torch.manual_seed(3)
    a = DARTSSupernet(C=4, layers=3, partial_channels=2, edge_normalization=True)
    torch.manual_seed(3)
    b = DARTSSupernet(C=4, layers=3, partial_channels=2, edge_normalization=True)
    for (name_a, p_a), (name_b, p_b) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert name_a == name_b and torch.equal(p_a, p_b)
    assert a.genotype() == b.genotype()


def test_default_supernet_matches_darts():
    net = DARTSSpace().build_supernet(num_classes=10)
    assert len(net.cells) == 8 and [i for i, cell in enumerate(net.cells) if cell.reduction] == [2, 5]
    assert net.classifier.in_features == 256
    assert _count(net) - 2 * 14 * 8 == 1_930_618  # the weight count DARTS's train_search.py logs (1.930618 MB)


# ------------------------------------------------------------------------------------------- discrete network
def test_network_forward_with_and_without_auxiliary():
    torch.manual_seed(0)
    space = DARTSSpace(C=4, layers=5)
    net = space.build_network(DARTS_V2, num_classes=10)
    assert isinstance(net, DARTSNetwork) and net.auxiliary_head is None
    out = net(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    out.sum().backward()
    aux_net = DARTSSpace(C=4, layers=5, auxiliary=True).build_network(DARTS_V2, num_classes=10)
    logits, aux_logits = aux_net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux_logits.shape == (2, 10)
    (logits.sum() + 0.4 * aux_logits.sum()).backward()
    assert aux_net.auxiliary_head.classifier.weight.grad is not None
    assert aux_net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    tiny_imagenet = DARTSSpace(C=4, layers=5, auxiliary=True).build_network(PC_DARTS_CIFAR, num_classes=200)
    assert [t.shape for t in tiny_imagenet(torch.randn(2, 3, 64, 64))] == [(2, 200), (2, 200)]  # 16x16 at the head
    assert [t.shape for t in tiny_imagenet(torch.randn(2, 3, 16, 16))] == [(2, 200), (2, 200)]  # 4x4 at the head


def test_auxiliary_head_follows_darts_on_its_input_sizes():
    torch.manual_seed(0)
    head = DARTSNetwork(DARTS_V2, C=4, layers=3, num_classes=10, auxiliary=True).auxiliary_head
    x = torch.randn(2, 64, 8, 8)  # CIFAR: 32x32 images give 8x8 at cell 2 * layers // 3
    expected = head.classifier(head.features(nn.functional.avg_pool2d(x.relu(), 5, stride=3)))
    torch.testing.assert_close(head(x), expected)
    assert isinstance(head.features[4], nn.BatchNorm2d)
    imagenet = DARTSNetwork(DARTS_V2, C=4, layers=3, stem="imagenet", auxiliary=True).auxiliary_head
    assert imagenet.pool.stride == 2 and not any(
        isinstance(m, nn.BatchNorm2d) and m.num_features == 768 for m in imagenet.modules()
    )


def test_network_imagenet_stem():
    torch.manual_seed(0)
    net = DARTSSpace(C=4, layers=3, stem="imagenet", auxiliary=True).build_network(PDARTS, num_classes=7)
    assert isinstance(net.cells[0].preprocess0, FactorizedReduce)
    logits, aux_logits = net(torch.randn(2, 3, 224, 224))  # the ImageNet head needs 7x7 at cell 2
    assert logits.shape == aux_logits.shape == (2, 7)
    assert net.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_network_parameter_counts_match_darts():
    genotype = DARTSGenotype.from_string(DARTS_V2)
    cifar = DARTSSpace(C=36, layers=20, auxiliary=True).build_network(genotype, num_classes=10)
    assert _count(cifar) == 3_349_342  # DARTS (2nd order): 3.3M, as its train.py logs (3.349342 MB)
    imagenet = DARTSSpace(C=48, layers=14, stem="imagenet", auxiliary=True).build_network(genotype, num_classes=1000)
    assert _count(imagenet) == 4_718_752  # DARTS on ImageNet: 4.7M (4.718752 MB)
    bns = [m for m in cifar.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.affine for bn in bns)


def test_network_concat_subset():
    text = DARTS_V1.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 5]")
    net = DARTSNetwork(text, C=4, layers=3, num_classes=10)
    assert net.cells[0].multiplier == 2 and net.cells[1].multiplier == 4
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_drop_path_changes_training_outputs_only():
    torch.manual_seed(0)
    net = DARTSNetwork(DARTS_V2, C=4, layers=3, num_classes=10)
    x = torch.randn(4, 3, 16, 16)
    reference = net(x)
    torch.testing.assert_close(net(x), reference)  # no drop-path by default
    net.drop_path_prob = 0.5
    assert not torch.allclose(net(x), reference)
    net.eval()
    net.drop_path_prob = 0.0
    evaluated = net(x)
    net.drop_path_prob = 0.5
    torch.testing.assert_close(net(x), evaluated)
    with pytest.raises(ValueError, match=r"`drop_path_prob` must be in \[0, 1\). Got 1.0 instead"):
        net.drop_path_prob = 1.0


def test_drop_path_spares_identity_ops():
    all_skip = "Genotype(normal=[" + ", ".join(["('skip_connect', 0)"] * 8) + "], normal_concat=[2, 3, 4, 5], "
    all_skip += "reduce=[" + ", ".join(["('max_pool_3x3', 0)"] * 8) + "], reduce_concat=[2, 3, 4, 5])"
    net = DARTSNetwork(all_skip, C=4, layers=3, num_classes=10)
    cell = net.cells[0]
    assert all(isinstance(op, nn.Identity) for op in cell.ops)
    s0, s1 = torch.randn(2, 12, 8, 8), torch.randn(2, 12, 8, 8)
    torch.testing.assert_close(cell(s0, s1, 0.9), cell(s0, s1, 0.0))


def test_network_rejects_bad_input():
    with pytest.raises(TypeError, match="`genotype` must be a DARTSGenotype or its string. Got int instead"):
        DARTSNetwork(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid DARTS genotype string"):
        DARTSNetwork("Genotype()")
    with pytest.raises(ValueError, match=r"`DARTSNetwork\(layers=0\)`: `layers` must be a positive integer"):
        DARTSNetwork(DARTS_V2, layers=0)
    with pytest.raises(ValueError, match=r"`DARTSNetwork\(auxiliary=1\)`: `auxiliary` must be a bool"):
        DARTSNetwork(DARTS_V2, auxiliary=1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------- ops
@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_registered_ops_shapes(name, stride):
    op = get_op(name, space="darts")(4, stride, False)
    assert op(torch.randn(2, 4, 8, 8)).shape == (2, 4, 8 // stride, 8 // stride)


def test_op_registry_and_building_blocks():
    assert list_ops("darts") == sorted(DARTS_OPS)
    assert DARTS_OPS[1:] == GENOTYPE_OPS
    assert isinstance(get_op("skip_connect", space="darts")(4, 1, True), nn.Identity)
    assert isinstance(get_op("skip_connect", space="darts")(4, 2, True), FactorizedReduce)
    assert torch.equal(Zero(2)(torch.ones(1, 2, 6, 6)), torch.zeros(1, 2, 3, 3))
    sep = get_op("sep_conv_5x5", space="darts")(4, 1, True)
    assert _count(sep) == 2 * (4 * 25 + 16 + 8)  # two (depthwise 5x5, pointwise, affine BN) blocks
    dil = get_op("dil_conv_3x3", space="darts")(4, 1, True)
    assert dil[1].dilation == (2, 2) and dil[1].padding == (2, 2) and _count(dil) == 4 * 9 + 16 + 8
    with pytest.raises(ValueError, match=r"`FactorizedReduce\(C_out=3\)`: `C_out` must be even. Got 3 instead"):
        FactorizedReduce(4, 3)
    with pytest.raises(ValueError, match=r"`Zero\(stride=0\)`: `stride` must be a positive integer"):
        Zero(0)


# ------------------------------------------------------------------------------------------------------- space
def test_space_registration_and_options():
    assert "darts" in list_search_spaces()
    assert DARTSSpace.name == "darts" and DARTSSpace.genotype_type is DARTSGenotype
    assert DARTSSpace.default_step_order == "arch_first"
    space = get_search_space("darts", C=8, layers=5, partial_channels=2, edge_normalization=True)
    assert isinstance(space, DARTSSpace) and isinstance(space, SearchSpace)
    net = space.build_supernet(num_classes=3)
    assert (net.C, net.layers, net.partial_channels, net.edge_normalization) == (8, 5, 2, True)
    assert repr(DARTSSpace()) == (
        "DARTSSpace(C=16, layers=8, stem='cifar', in_channels=3, partial_channels=1, edge_normalization=False, "
        "candidate_ops=None, auxiliary=False)"
    )
    evaluation = get_search_space("darts", C=36, layers=20, auxiliary=True).build_network(DARTS_V2, 10)
    assert len(evaluation.cells) == 20 and evaluation.auxiliary_head is not None
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['N'\]"):
        get_search_space("darts", N=5)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"C": 0}, r"`DARTSSpace\(C=0\)`: `C` must be a positive integer\. Got 0 instead\."),
        ({"layers": 2.0}, r"`DARTSSpace\(layers=2\.0\)`: `layers` must be a positive integer\. Got 2\.0 instead\."),
        ({"in_channels": True}, r"`in_channels` must be a positive integer\. Got True instead\."),
        ({"stem": "mnist"}, r"`DARTSSpace\(stem='mnist'\)`: `stem` must be 'cifar' or 'imagenet'\. Got 'mnist'"),
        ({"stem": "imagenet", "C": 5}, r"`DARTSSpace\(C=5\)`: with stem='imagenet', `C` must be even"),
        ({"partial_channels": 0}, r"`partial_channels` must be a positive integer\. Got 0 instead\."),
        (
            {"partial_channels": 3},
            r"`DARTSSpace\(partial_channels=3\)`: `partial_channels` must divide the "
            r"channels of every cell, \[16, 32, 64\] for C=16\. Got 3 instead\.",
        ),
        ({"C": 6, "partial_channels": 4}, r"\[6, 12, 24\] for C=6\. Got 4 instead"),
        ({"edge_normalization": 1}, r"`edge_normalization` must be a bool\. Got 1 instead\."),
        ({"auxiliary": "yes"}, r"`auxiliary` must be a bool\. Got 'yes' instead\."),
    ],
)
def test_space_validates_options(options, match):
    with pytest.raises(ValueError, match=match):
        DARTSSpace(**options)


def test_build_and_parse_genotype():
    space = DARTSSpace(C=4, layers=3)
    with pytest.raises(ValueError, match=r"`num_classes` must be a positive integer\. Got 0 instead\."):
        space.build_supernet(num_classes=0)
    with pytest.raises(ValueError, match=r"`num_classes` must be a positive integer\. Got 0 instead\."):
        space.build_network(DARTS_V2, num_classes=0)
    genotype = DARTSGenotype.from_string(DARTS_V2)
    assert space.parse_genotype(genotype) is genotype
    assert space.parse_genotype(DARTS_V2) == genotype
    nb201 = NASBench201Genotype.from_string("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="belongs to the search space 'nasbench201', not to 'darts'"):
        space.parse_genotype(nb201)
    with pytest.raises(ValueError, match="NAS-Bench-201 genotype"):
        space.build_network(str(nb201), num_classes=10)
    with pytest.raises(TypeError, match="`genotype` must be a string or a DARTSGenotype. Got dict instead"):
        space.parse_genotype({})  # type: ignore[arg-type]
