"""The fused (per source node) NAS-Bench-201 search cells against the per-edge reference cells.

Every comparison runs the two implementations on the same weights: outputs, the gradients of all weights, of alpha
(and beta) and of explicit mixing weights, the BatchNorm running buffers, and, through the methods, the weights, alpha
and genotype after a few search steps. Float64 keeps the tolerances tight.
"""

from __future__ import annotations

import pytest
import torch
from lightning import seed_everything
from torch import Tensor, nn

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.hessian import hessian_vector_product
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, BetaDARTS
from lightning_nas.spaces import NASBench201Space, NASBench201Supernet, get_search_space
from lightning_nas.spaces.nasbench201 import _FusedSearchCell, _SearchCell, _WeightedSum

TOL = {"rtol": 1e-8, "atol": 1e-10}
CONV, SKIP, POOL, NONE, ONE = "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1"
SUBSETS = {
    # P-DARTS's later stages: a different op list per edge, in any order
    "two_ops": [[NONE, CONV], [SKIP, ONE], [CONV, POOL], [POOL, NONE], [ONE, CONV], [SKIP, NONE]],
    # edges whose only op is `none` (nodes 1 and 2 are fed by `none` only: zeros), and single ops
    "single_ops": [[NONE], [NONE], [NONE], [CONV], [ONE], [SKIP]],
    "no_conv": [[SKIP, POOL], [NONE, SKIP], [POOL, SKIP], [SKIP, NONE], [POOL, NONE], [NONE, POOL]],
    "no_3x3": [
        [ONE, SKIP, NONE],
        [SKIP, ONE, POOL],
        [POOL, NONE, ONE],
        [NONE, SKIP, POOL],
        [ONE, POOL, SKIP],
        [SKIP, ONE, NONE],
    ],
}


def _pair(**options) -> tuple[NASBench201Supernet, NASBench201Supernet]:
    """A reference and a fused supernet (float64) sharing one state dict, with non-uniform alpha and beta."""
    torch.manual_seed(0)
    reference = NASBench201Supernet(C=4, N=1, fused=False, **options).double()
    with torch.no_grad():
        for param in reference.arch_parameters():
            param.normal_()
    fused = NASBench201Supernet(C=4, N=1, **options).double()
    fused.load_state_dict(reference.state_dict(), strict=True)
    return reference, fused


def _run(net: nn.Module, x: Tensor, weights=None, seed: int | None = None, grad_seed: int = 1):
    """Forward (seeded if ``seed``), backward of a fixed random projection; returns (output, {name: grad})."""
    net.zero_grad(set_to_none=True)
    if seed is not None:
        torch.manual_seed(seed)
    args = () if weights is None else (weights,)
    out = net(x, *args)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype)
    (out * projection).sum().backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    return out.detach(), grads


def _assert_same(reference: nn.Module, fused: nn.Module, x: Tensor, **kwargs) -> None:
    out_ref, grads_ref = _run(reference, x, **kwargs)
    out_fused, grads_fused = _run(fused, x, **kwargs)
    torch.testing.assert_close(out_fused, out_ref, **TOL)
    assert grads_fused.keys() == grads_ref.keys()
    for name, grad in grads_ref.items():
        other = grads_fused[name]
        if grad is None or other is None:  # an unused parameter on one side must be unused (or zero) on the other
            assert (grad is None or not grad.any()) and (other is None or not other.any()), name
            continue
        torch.testing.assert_close(other, grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    for (name, buf_ref), (_, buf_fused) in zip(reference.named_buffers(), fused.named_buffers(), strict=True):
        torch.testing.assert_close(buf_fused, buf_ref, **TOL, msg=lambda m, name=name: f"{name}: {m}")


def _images(batch: int = 3, size: int = 8) -> Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


# ------------------------------------------------------------------------------------------- supernet equality
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"partial_channels": 2},
        {"partial_channels": 4},
        {"partial_channels": 2, "edge_normalization": True},
        {"partial_channels": 4, "edge_normalization": True},
        {"edge_normalization": True},
    ],
    ids=["plain", "pc2", "pc4", "pc2-en", "pc4-en", "en"],
)
def test_fused_equals_reference(options, train):
    reference, fused = _pair(**options)
    reference.train(train)
    fused.train(train)
    _assert_same(reference, fused, _images())


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("subset", sorted(SUBSETS))
@pytest.mark.parametrize("options", [{}, {"partial_channels": 2, "edge_normalization": True}], ids=["plain", "pc2-en"])
def test_fused_equals_reference_on_pdarts_op_subsets(subset, options, train):
    reference, fused = _pair(candidate_ops={"cell": SUBSETS[subset]}, **options)
    reference.train(train)
    fused.train(train)
    _assert_same(reference, fused, _images())


@pytest.mark.parametrize("options", [{}, {"partial_channels": 2}, {"candidate_ops": {"cell": SUBSETS["two_ops"]}}])
def test_fused_skip_dropout_draws_the_reference_masks(options):
    reference, fused = _pair(**options)
    reference.skip_dropout = fused.skip_dropout = 0.5
    x = _images()
    _assert_same(reference, fused, x, seed=7)
    reference.eval()  # no dropout in eval mode
    fused.eval()
    _assert_same(reference, fused, x, seed=9)
    # the masks do act: another seed gives another output
    fused.train()
    out_a, _ = _run(fused, x, seed=7)
    out_b, _ = _run(fused, x, seed=8)
    assert not torch.allclose(out_a, out_b)


@pytest.mark.parametrize("options", [{}, {"partial_channels": 2, "edge_normalization": True}])
def test_fused_with_explicit_weights(options):
    reference, fused = _pair(**options)
    x = _images()
    hard = torch.zeros(6, 5, dtype=torch.float64).index_fill_(1, torch.tensor([3]), 1.0)  # a one-hot path
    _assert_same(reference, fused, x, weights=hard)
    grads = []
    for net in (reference, fused):  # Gumbel-softmax-like weights that require grad: their gradients agree too
        logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        weights = torch.softmax(logits, -1).requires_grad_()
        _run(net, x, weights=weights)
        grads.append(weights.grad)
    torch.testing.assert_close(grads[1], grads[0], **TOL)


def test_fused_tracks_running_stats_like_the_reference():
    reference, fused = _pair(track_running_stats=True)
    x = _images()
    for step in range(3):  # train mode: the running buffers are updated alike
        _assert_same(reference, fused, x + step)
    cell_buffers = [name for name, _ in fused.named_buffers() if ".edges." in name]
    assert any(name.endswith("running_mean") for name in cell_buffers)
    assert all(int(buf) == 3 for name, buf in fused.named_buffers() if name.endswith("num_batches_tracked"))
    reference.eval()
    fused.eval()
    _assert_same(reference, fused, x)  # eval mode uses the running statistics


def test_fused_float32_default_layout_is_close_to_reference():
    torch.manual_seed(0)
    reference = NASBench201Supernet(C=8, N=2, fused=False)
    fused = NASBench201Supernet(C=8, N=2)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(4, 3, 16, 16)
    out_ref, grads_ref = _run(reference, x)
    out_fused, grads_fused = _run(fused, x)
    torch.testing.assert_close(out_fused, out_ref, rtol=1e-4, atol=1e-5)
    for name, grad in grads_ref.items():
        torch.testing.assert_close(grads_fused[name], grad, rtol=1e-3, atol=1e-4)


def test_fused_hessian_vector_product_equals_reference():
    """Second derivatives in alpha (HessianMonitor's double backward) go through the fused cells too."""
    for options in ({}, {"partial_channels": 2, "edge_normalization": True}):
        reference, fused = _pair(**options)
        x, y = _images(4), torch.tensor([0, 1, 2, 3])
        vector = [torch.randn(p.shape, dtype=torch.float64) for p in reference.arch_parameters()]
        products = []
        for net in (reference, fused):
            loss = nn.functional.cross_entropy(net(x), y)
            products.append(hessian_vector_product(loss, net.arch_parameters())(vector))
        for a, b in zip(*products, strict=True):
            torch.testing.assert_close(b, a, **TOL)


# ----------------------------------------------------------------------------------------------- cells directly
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("partial_channels", [1, 2, 4])
def test_fused_cell_equals_reference_cell_in_both_layouts(partial_channels, channels_last):
    torch.manual_seed(0)
    reference = _SearchCell(8, False, partial_channels).double()
    fused = _FusedSearchCell(8, False, partial_channels).double()
    fused.load_state_dict(reference.state_dict(), strict=True)
    x0 = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    alpha = torch.randn(6, 5, dtype=torch.float64)
    beta = torch.rand(6, dtype=torch.float64)
    grad_out = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    results = []
    for cell in (reference, fused):
        # the reference sees contiguous inputs (its masks are drawn alike then); the fused cell either layout
        fmt = torch.channels_last if channels_last and cell is fused else torch.contiguous_format
        x = x0.contiguous(memory_format=fmt).requires_grad_()
        a, b = alpha.clone().requires_grad_(), beta.clone().requires_grad_()
        weights = torch.softmax(a, -1)
        torch.manual_seed(4)  # skip dropout 0.3: the same masks under the same seed
        if cell is reference:
            out = cell(x, [row.unbind(0) for row in weights.unbind(0)], b.unbind(0), 0.3)
        else:
            out = cell(x, weights, b, 0.3)
            assert out.is_contiguous(memory_format=fmt)
        grads = torch.autograd.grad(out, [x, a, b, *cell.parameters()], grad_out.contiguous(memory_format=fmt))
        results.append((out.detach(), grads))
    torch.testing.assert_close(results[1][0], results[0][0], **TOL)
    for g_fused, g_ref in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(g_fused, g_ref, **TOL)


def test_fused_cell_shares_work_per_source_node(monkeypatch):
    """Per cell: 3 poolings (one per source node) instead of 6, 6 conv calls instead of 12, no op module called."""
    calls = {"avg_pool2d": 0, "conv2d": 0, "relu": 0}
    for name in calls:
        original = getattr(nn.functional, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(nn.functional, name, counted)
    torch.manual_seed(0)
    fused = _FusedSearchCell(4, False)
    modules_called = []
    hooks = [op.register_forward_hook(lambda m, *_: modules_called.append(m)) for e in fused.edges for op in e.ops]
    fused(torch.randn(2, 4, 6, 6), torch.softmax(torch.randn(6, 5), -1))
    for hook in hooks:
        hook.remove()
    assert calls == {"avg_pool2d": 3, "conv2d": 6, "relu": 3}
    assert modules_called == []


def test_weighted_sum_gradients():
    tensors = [torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    coefficients = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, *t: _WeightedSum.apply(c, 2, *t), (coefficients, *tensors))
    assert torch.autograd.gradgradcheck(lambda c, *t: _WeightedSum.apply(c, 2, *t), (coefficients, *tensors))
    assert torch.autograd.gradcheck(lambda c, *t: _WeightedSum.apply(c, 0, *t), (coefficients, *tensors[:2]))
    assert torch.autograd.gradcheck(lambda c, *t: _WeightedSum.apply(c, 1, *t), (coefficients, *tensors[:3]))
    assert torch.autograd.gradcheck(lambda *t: _WeightedSum.apply(None, 3, *t), tuple(tensors[:3]))


# ------------------------------------------------------------------------------------- layout, options, checkpoints
def test_state_dict_and_modules_are_the_reference_ones():
    reference, fused = _pair(partial_channels=2, edge_normalization=True, track_running_stats=True)
    assert list(fused.state_dict()) == list(reference.state_dict())
    assert [n for n, _ in fused.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert [n for n, _ in fused.named_buffers()] == [n for n, _ in reference.named_buffers()]
    assert [n for n, _ in fused.named_modules()] == [n for n, _ in reference.named_modules()]
    assert fused.arch_parameter_names() == reference.arch_parameter_names()
    # checkpoints load both ways, strictly
    other = NASBench201Supernet(C=4, N=1, partial_channels=2, edge_normalization=True, track_running_stats=True)
    other.double().load_state_dict(reference.state_dict(), strict=True)
    back = NASBench201Supernet(
        C=4, N=1, partial_channels=2, edge_normalization=True, track_running_stats=True, fused=False
    ).double()
    back.load_state_dict(fused.state_dict(), strict=True)
    x = _images()
    torch.testing.assert_close(other(x), reference(x), **TOL)
    torch.testing.assert_close(back(x), fused(x), **TOL)


def test_fused_option_selects_the_cells():
    assert all(type(c) is _FusedSearchCell for c in NASBench201Supernet(C=4, N=1).cells if hasattr(c, "edges"))
    reference = NASBench201Supernet(C=4, N=1, fused=False)
    assert all(type(c) is _SearchCell for c in reference.cells if hasattr(c, "edges"))
    assert NASBench201Space(C=4, N=1).build_supernet(10).fused
    assert not NASBench201Space(C=4, N=1, fused=False).build_supernet(10).fused
    assert not get_search_space("nasbench201", C=4, N=1, fused=False).build_supernet(10).fused
    assert repr(NASBench201Space(C=4, N=1, fused=False)).endswith("track_running_stats=False, fused=False)")
    assert "fused" not in repr(NASBench201Space(C=4, N=1))


def test_fused_option_is_validated():
    with pytest.raises(ValueError, match=r"`NASBench201Space\(fused=1\)`: `fused` must be a bool\. Got 1 instead\."):
        NASBench201Space(fused=1)
    with pytest.raises(ValueError, match=r"`NASBench201Supernet\(fused='no'\)`: `fused` must be a bool"):
        NASBench201Supernet(C=4, N=1, fused="no")


def test_methods_build_fused_supernets_by_default():
    for method, kwargs in ((DARTS, {}), (PCDARTS, {"partial_channels": 2}), (BetaDARTS, {})):
        assert method(search_space="nasbench201", space_options={"C": 4, "N": 1}, **kwargs).supernet.fused
        off = method(search_space="nasbench201", space_options={"C": 4, "N": 1, "fused": False}, **kwargs)
        assert not off.supernet.fused
    assert PDARTS(search_space="nasbench201", space_options={"C": 4}, stage_epochs=[1, 1, 1]).supernet.fused


# ----------------------------------------------------------------------------------------------- through methods
def _data() -> ArraySearchDataModule:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    x = torch.rand(32, 3, 8, 8, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / 4
    return ArraySearchDataModule(x, y, batch_size=8, augment=False)


@pytest.fixture
def float64():
    """Float64 by default: P-DARTS builds each stage's supernet during the fit, outside ``precision="64-true"``."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(default)


def _search(method, fused: bool, tiny_trainer, max_epochs: int = 2, space_options=None, **kwargs):
    seed_everything(0)
    options = {"C": 4, "N": 1} if space_options is None else dict(space_options)
    model = method(search_space="nasbench201", space_options={**options, "fused": fused}, num_classes=4, **kwargs)
    trainer = tiny_trainer(max_epochs=max_epochs, precision="64-true", limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(model, _data())
    return model


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        (DARTS, {"order": 1}),
        (DARTS, {"order": 2}),
        (PCDARTS, {"partial_channels": 2}),
        (BetaDARTS, {}),
        (PDARTS, {"stage_epochs": [1, 1, 1], "stage_layers": [1, 1, 1], "arch_warmup_epochs": 0}),
    ],
    ids=["darts-1", "darts-2", "pcdarts", "betadarts", "pdarts"],
)
def test_search_with_fused_supernet_equals_reference(tiny_trainer, float64, method, kwargs):
    extra = {"max_epochs": 3, "space_options": {"C": 4}} if method is PDARTS else {}
    reference = _search(method, False, tiny_trainer, **extra, **kwargs)
    fused = _search(method, True, tiny_trainer, **extra, **kwargs)
    assert fused.supernet.fused and not reference.supernet.fused
    state_ref, state_fused = reference.state_dict(), fused.state_dict()
    assert list(state_fused) == list(state_ref)
    for name, value in state_ref.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(state_fused[name], value, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    assert fused.trainer.global_step == reference.trainer.global_step > 0
    assert str(fused.genotype()) == str(reference.genotype())
    if method is PDARTS:
        assert fused.candidate_ops == reference.candidate_ops and fused.stage == 2
        assert len(fused.supernet.edge_ops()[0]) == 3
