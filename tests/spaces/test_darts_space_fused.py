"""The fused (per source node) DARTS search cells against the per-edge reference cells."""

from __future__ import annotations

import pytest
import torch
from lightning import seed_everything

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, BetaDARTS
from lightning_nas.spaces import DARTS_OPS, DARTSSpace, DARTSSupernet
from lightning_nas.spaces.darts import _FusedSearchCell, _SearchCell

TOL = {"rtol": 1e-9, "atol": 1e-10}


def _pair(**options):
    """A reference and a fused supernet (float64) sharing one state_dict."""
    torch.manual_seed(0)
    reference = DARTSSupernet(num_classes=3, fused=False, **options).double()
    fused = DARTSSupernet(num_classes=3, fused=True, **options).double()
    fused.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():  # larger, distinct alphas and betas than the 1e-3 init
        for p in reference.arch_parameters():
            p.copy_(torch.randn_like(p))
    fused.load_state_dict(reference.state_dict(), strict=True)
    return reference, fused


def _assert_same_step(reference, fused, x, *, train=True, skip_dropout=0.0, seed=1):
    """Forward and backward both; outputs, every gradient and every buffer must agree."""
    outputs = []
    for net in (reference, fused):
        net.train(train)
        net.skip_dropout = skip_dropout
        net.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        out = net(x)
        (out.square().sum() + out.sum()).backward()
        outputs.append(out)
    torch.testing.assert_close(outputs[1], outputs[0], **TOL)
    named_ref, named_fused = dict(reference.named_parameters()), dict(fused.named_parameters())
    assert list(named_ref) == list(named_fused)
    for name, p in named_ref.items():
        q = named_fused[name]
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    for (name, a), (_, b) in zip(reference.state_dict().items(), fused.state_dict().items(), strict=True):
        torch.testing.assert_close(b, a, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    return outputs


def _images(batch=3, size=16):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


# -------------------------------------------------------------------------------------------------- structure
def test_fused_is_the_default_and_shares_the_state_dict_layout():
    assert DARTSSupernet(C=4, layers=3).fused and DARTSSpace(C=4, layers=3).build_supernet(10).fused
    reference = DARTSSpace(C=4, layers=5, fused=False).build_supernet(10)
    fused = DARTSSpace(C=4, layers=5).build_supernet(10)
    assert all(isinstance(cell, _SearchCell) and not isinstance(cell, _FusedSearchCell) for cell in reference.cells)
    assert all(isinstance(cell, _FusedSearchCell) for cell in fused.cells)
    assert list(reference.state_dict()) == list(fused.state_dict())
    assert [(n, p.shape) for n, p in reference.named_parameters()] == [
        (n, p.shape) for n, p in fused.named_parameters()
    ]
    fused.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(fused.state_dict(), strict=True)
    assert "fused=False" in repr(DARTSSpace(fused=False)) and "fused" not in repr(DARTSSpace())


def test_fused_option_validated():
    with pytest.raises(ValueError, match=r"`DARTSSupernet\(fused=1\)`: `fused` must be a bool. Got 1 instead."):
        DARTSSupernet(C=4, layers=3, fused=1)
    with pytest.raises(ValueError, match=r"`DARTSSpace\(fused='yes'\)`: `fused` must be a bool"):
        DARTSSpace(fused="yes")


# --------------------------------------------------------------------------------------------------- equality
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"partial_channels": 2},
        {"partial_channels": 4},
        {"edge_normalization": True},
        {"partial_channels": 4, "edge_normalization": True},
    ],
    ids=["darts", "pc2", "pc4", "edge-norm", "pc4-edge-norm"],
)
def test_fused_equals_reference_train_then_eval(options):
    reference, fused = _pair(C=8, layers=5, **options)  # cells 1 and 3 reduce
    x = _images()
    for _ in range(2):  # the second step sees the running statistics the first one wrote
        _assert_same_step(reference, fused, x, train=True)
    _assert_same_step(reference, fused, x, train=False)


def test_fused_equals_reference_with_distinct_running_statistics():
    # edges whose BatchNorms hold different running statistics (e.g. a checkpoint from elsewhere), eval and train
    reference, fused = _pair(C=4, layers=5, partial_channels=2)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, buffer in reference.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype))
            elif name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=generator, dtype=buffer.dtype) + 0.5)
    fused.load_state_dict(reference.state_dict(), strict=True)
    x = _images(size=8)
    _assert_same_step(reference, fused, x, train=False)
    _assert_same_step(reference, fused, x, train=True)


def _subsets(k_ops_normal, k_ops_reduce):
    return {"normal": k_ops_normal, "reduce": k_ops_reduce}


def test_fused_equals_reference_on_pdarts_subsets_and_skip_dropout():
    rotate = [list(DARTS_OPS[i % 8 :] + DARTS_OPS[: i % 8])[:3] for i in range(14)]
    candidate_ops = _subsets(
        [
            ["none", "max_pool_3x3", "skip_connect"],  # no conv on this edge
            ["none", "skip_connect", "avg_pool_3x3"],
            ["none", "dil_conv_3x3", "sep_conv_5x5"],
            *rotate[3:],
        ],
        [["none", "skip_connect", "sep_conv_3x3"]] * 7 + [["max_pool_3x3", "dil_conv_5x5", "none"]] * 7,
    )
    reference, fused = _pair(C=4, layers=5, candidate_ops=candidate_ops)
    x = _images(size=8)
    first = _assert_same_step(reference, fused, x, train=True, skip_dropout=0.5, seed=7)[0]
    _assert_same_step(reference, fused, x, train=True, skip_dropout=0.0)
    _assert_same_step(reference, fused, x, train=False, skip_dropout=0.5)
    again = _assert_same_step(reference, fused, x, train=True, skip_dropout=0.5, seed=8)[0]
    assert not torch.allclose(first, again)  # the dropout masks are drawn from the seed


def test_fused_equals_reference_with_pc_subsets_edge_norm_and_dropout():
    candidate_ops = _subsets(
        [["none", "skip_connect"]] * 7 + [["sep_conv_3x3", "skip_connect"]] * 7,
        [["skip_connect", "avg_pool_3x3"]] * 14,  # FactorizedReduce skips, no convs at all
    )
    reference, fused = _pair(C=8, layers=5, partial_channels=4, edge_normalization=True, candidate_ops=candidate_ops)
    x = _images(size=8)
    _assert_same_step(reference, fused, x, train=True, skip_dropout=0.3)
    _assert_same_step(reference, fused, x, train=False)


@pytest.mark.parametrize("reduction", [False, True])
@pytest.mark.parametrize("partial_channels", [1, 2])
def test_fused_cell_equals_reference_with_explicit_weights(reduction, partial_channels):
    torch.manual_seed(0)
    ops = [list(DARTS_OPS)] * 14  # every op on every edge
    args = (8, 8, 4, reduction, False, ops, partial_channels)
    reference = _SearchCell(*args).double()
    fused = _FusedSearchCell(*args).double()
    fused.load_state_dict(reference.state_dict(), strict=True)
    weights = torch.randn(14, 8, dtype=torch.float64, requires_grad=True)  # any weights, not a softmax
    betas = torch.randn(14, dtype=torch.float64, requires_grad=True)
    s0, s1 = (torch.randn(2, 8, 8, 8, dtype=torch.float64) for _ in range(2))
    results = []
    for cell, as_rows in ((reference, True), (fused, False)):
        w = [row.unbind(0) for row in weights.unbind(0)] if as_rows else weights
        b = betas.unbind(0) if as_rows else betas
        out = cell(s0, s1, w, b, 0.0)
        grads = torch.autograd.grad(out.square().sum(), [weights, betas, *cell.parameters()])
        results.append((out, grads))
    torch.testing.assert_close(results[1][0], results[0][0], **TOL)
    for got, expected in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(got, expected, **TOL)
    # the fused cell also takes the reference's per-edge scalar form
    torch.testing.assert_close(
        fused(s0, s1, [row.unbind(0) for row in weights.unbind(0)], betas.unbind(0), 0.0), results[1][0], **TOL
    )


def test_fused_equals_reference_imagenet_stem():
    reference, fused = _pair(C=4, layers=3, stem="imagenet", partial_channels=2)
    _assert_same_step(reference, fused, _images(batch=2, size=32), train=True)


# ----------------------------------------------------------------------------------------------------- methods
def _data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    x = torch.rand(32, 3, 8, 8, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / 4
    return ArraySearchDataModule(x, y, batch_size=8)


def _fit(tiny_trainer, method, fused, max_epochs=2, **kwargs):
    seed_everything(0)
    options = (
        {"C": 4, "fused": fused} if method is PDARTS else {"C": 4, "layers": 5, "fused": fused}
    )  # P-DARTS: per stage
    model = method(search_space="darts", space_options=options, num_classes=4, **kwargs)
    tiny_trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=0,
        deterministic=True,
        precision="64-true",  # float64: the second-order step's finite differences amplify float32 rounding
    ).fit(model, _data())
    return model


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        (DARTS, {"order": 1}),
        (DARTS, {"order": 2}),
        (PCDARTS, {"partial_channels": 2}),
        (BetaDARTS, {}),
        (
            PDARTS,
            {
                "stage_epochs": [1, 1],
                "stage_layers": [5, 5],
                "stage_ops": [8, 4],
                "skip_dropout": [0.3, 0.5],
                "arch_warmup_epochs": 0,
            },
        ),
    ],
    ids=["darts-1", "darts-2", "pcdarts", "betadarts", "pdarts"],
)
def test_methods_search_alike_fused_and_reference(method, kwargs, tiny_trainer):
    runs = [_fit(tiny_trainer, method, fused, **kwargs) for fused in (False, True)]
    names = runs[0].supernet.arch_parameter_names()
    assert runs[1].supernet.fused and not runs[0].supernet.fused
    for name in names:
        a, b = (dict(run.supernet.named_parameters())[name] for run in runs)
        assert not torch.equal(a, torch.zeros_like(a))
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-9)
    assert str(runs[1].genotype()) == str(runs[0].genotype())
