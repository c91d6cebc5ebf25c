"""PC-DARTS options of the NAS-Bench-201 supernet: partial channels and edge normalization."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_nas.spaces import (
    NB201_OPS,
    NASBench201Genotype,
    NASBench201Space,
    NASBench201Supernet,
    get_search_space,
)


def _edge_params(net: NASBench201Supernet) -> int:
    return sum(p.numel() for cell in net.cells if hasattr(cell, "edges") for p in cell.edges.parameters())


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("partial_channels", [1, 2, 4])
@pytest.mark.parametrize("edge_normalization", [False, True])
def test_forward_shapes_and_arch_parameters(partial_channels, edge_normalization):
    torch.manual_seed(0)
    space = NASBench201Space(C=8, N=1, partial_channels=partial_channels, edge_normalization=edge_normalization)
    net = space.build_supernet(num_classes=10)
    assert (net.partial_channels, net.edge_normalization) == (partial_channels, edge_normalization)
    out = net(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 10)
    out.sum().backward()
    expected = ["arch_alpha", "arch_beta"] if edge_normalization else ["arch_alpha"]
    assert net.arch_parameter_names() == expected
    assert [tuple(p.shape) for p in net.arch_parameters()] == [(6, 5), (6,)][: len(expected)]
    assert all(p.grad is not None for p in net.arch_parameters())
    assert len(net.arch_parameters()) + len(net.weight_parameters()) == len(list(net.parameters()))


def test_partial_channels_build_ops_on_a_fraction_of_the_channels():
    full = NASBench201Space(C=8, N=1).build_supernet(10)
    # the per-edge reference cells call each op module (the fused cells, equal to them, call none)
    partial = NASBench201Space(C=8, N=1, partial_channels=4, fused=False).build_supernet(10)
    search_cells = [cell for cell in partial.cells if hasattr(cell, "edges")]
    for cell, width in zip(search_cells, (8, 16, 32), strict=True):
        for edge in cell.edges:
            conv3 = edge.ops[NB201_OPS.index("nor_conv_3x3")][1]
            assert conv3.weight.shape == (width // 4, width // 4, 3, 3)
    # a conv's weights scale with (C / K)^2
    assert _edge_params(partial) * 16 == _edge_params(full)
    assert _count(full) - _count(partial) == _edge_params(full) - _edge_params(partial)  # the rest is unchanged

    seen: list[int] = []
    hooks = [
        op.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
        for cell in search_cells
        for edge in cell.edges
        for op in edge.ops
    ]
    partial(torch.randn(2, 3, 16, 16))
    for hook in hooks:
        hook.remove()
    assert sorted(set(seen)) == [2, 4, 8]  # C / K at widths 8, 16, 32
    assert len(seen) == 3 * 6 * 4  # 3 cells x 6 edges x 4 evaluated ops (`none` is skipped)


def test_partial_channel_edge_bypasses_and_shuffles():
    torch.manual_seed(0)
    net = NASBench201Space(C=8, N=1, partial_channels=2).build_supernet(10)
    edge = net.cells[0].edges[2]
    x = torch.randn(2, 8, 6, 6)
    weights = torch.softmax(torch.randn(5), 0)
    out = edge(x, weights.unbind(0))
    expected_mixed = sum(w * op(x[:, :4]) for w, op in zip(weights, edge.ops, strict=True))
    # channel shuffle with 2 groups interleaves the mixed half (even positions) and the bypass (odd positions)
    torch.testing.assert_close(out[:, 0::2], expected_mixed)
    torch.testing.assert_close(out[:, 1::2], x[:, 4:])


def test_normalized_betas_sum_to_one_per_node():
    torch.manual_seed(0)
    net = NASBench201Supernet(C=4, N=1, edge_normalization=True)
    with torch.no_grad():
        net.arch_beta.copy_(torch.tensor([3.0, -1.0, 2.0, 0.5, 0.0, 4.0]))
    betas = net.normalized_betas()
    assert betas.shape == (6,)
    torch.testing.assert_close(betas[0], torch.tensor(1.0))  # node 1 has one incoming edge
    torch.testing.assert_close(betas[1:3], torch.softmax(torch.tensor([-1.0, 2.0]), 0))
    torch.testing.assert_close(betas[3:], torch.softmax(torch.tensor([0.5, 0.0, 4.0]), 0))
    with pytest.raises(RuntimeError, match="build it with edge_normalization=True"):
        NASBench201Supernet(C=4, N=1).normalized_betas()


def test_edge_normalization_weighs_node_inputs():
    torch.manual_seed(0)
    net = NASBench201Supernet(C=4, N=1, partial_channels=2, edge_normalization=True)
    with torch.no_grad():
        net.arch_beta.copy_(torch.randn(6))
    cell = net.cells[0]
    x = torch.randn(2, 4, 8, 8)
    weights = [row.unbind(0) for row in net.edge_weights().unbind(0)]
    betas = net.normalized_betas()
    node1 = betas[0] * cell.edges[0](x, weights[0])
    node2 = betas[1] * cell.edges[1](x, weights[1]) + betas[2] * cell.edges[2](node1, weights[2])
    node3 = (
        betas[3] * cell.edges[3](x, weights[3])
        + betas[4] * cell.edges[4](node1, weights[4])
        + betas[5] * cell.edges[5](node2, weights[5])
    )
    torch.testing.assert_close(cell(x, weights, betas.unbind(0)), node3)
    # the supernet's forward uses the normalized betas
    z = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        before = net(z)
        net.arch_beta.add_(torch.tensor([0.0, 5.0, -5.0, 5.0, 0.0, -5.0]))
        assert not torch.allclose(net(z), before)


def test_beta_does_not_change_the_genotype():
    torch.manual_seed(0)
    net = NASBench201Supernet(C=4, N=1, edge_normalization=True)
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    genotype = NASBench201Genotype.from_string(text)
    with torch.no_grad():
        for edge, op in enumerate(genotype.ops):
            net.arch_alpha[edge, NB201_OPS.index(op)] = 1.0
        net.arch_beta.copy_(torch.tensor([0.0, -9.0, 9.0, 9.0, -9.0, 0.0]))
    assert net.genotype() == genotype


def test_functional_call_and_gradients_reach_beta():
    torch.manual_seed(0)
    net = NASBench201Supernet(C=4, N=1, edge_normalization=True)
    x = torch.randn(2, 3, 8, 8)
    params = {"arch_alpha": torch.zeros(6, 5, requires_grad=True), "arch_beta": torch.zeros(6, requires_grad=True)}
    torch.func.functional_call(net, params, (x,)).square().sum().backward()
    grad = params["arch_beta"].grad
    assert grad is not None and grad.shape == (6,)
    assert grad[0] == 0  # a softmax over one edge is constant
    assert grad[1:].abs().sum() > 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"partial_channels": 0}, r"`NASBench201Space\(partial_channels=0\)`: `partial_channels` must be a positive"),
        (
            {"partial_channels": 3},
            r"`NASBench201Space\(partial_channels=3\)`: `partial_channels` must divide the channels of every cell, "
            r"\[16, 32, 64\] for C=16\. Got 3 instead\.",
        ),
        ({"C": 6, "partial_channels": 4}, r"\[6, 12, 24\] for C=6\. Got 4 instead"),
        ({"edge_normalization": 1}, r"`NASBench201Space\(edge_normalization=1\)`: `edge_normalization` must be a bool"),
    ],
)
def test_space_validates_pcdarts_options(options, match):
    with pytest.raises(ValueError, match=match):
        NASBench201Space(**options)


def test_supernet_validates_pcdarts_options():
    with pytest.raises(ValueError, match=r"`NASBench201Supernet\(partial_channels=3\)`"):
        NASBench201Supernet(C=4, N=1, partial_channels=3)


def test_space_options_and_repr():
    space = get_search_space("nasbench201", C=8, N=1, partial_channels=2, edge_normalization=True)
    assert repr(space) == (
        "NASBench201Space(C=8, N=1, in_channels=3, track_running_stats=False, partial_channels=2, "
        "edge_normalization=True)"
    )
    assert repr(NASBench201Space(C=8, N=1)).endswith("track_running_stats=False)")
    # the discrete network does not depend on the search options
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    plain = NASBench201Space(C=8, N=1).build_network(text, 10)
    assert _count(space.build_network(text, 10)) == _count(plain)
