"""``compile=True``: the DARTS family with its supernet forward compiled by ``torch.compile`` (on CPU).

The tests compile with the ``aot_eager`` backend: Dynamo captures the supernet's graph and AOTAutograd traces its
forward and backward exactly as for inductor, without generating C++ kernels (inductor takes minutes per
supernet on 2 CPU cores; its kernels are torch's own, the capture is what this library's code must allow).
"""

import pytest
import torch
import torch._dynamo
from lightning import seed_everything

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PDARTS

BACKEND = {"backend": "aot_eager"}


def _datamodule():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 3, 8, 8, generator=g), torch.arange(16) % 4
    return ArraySearchDataModule(x, y, batch_size=8)


def _fit(tiny_trainer, model, **kwargs):
    tiny_trainer(limit_val_batches=0, **kwargs).fit(model, _datamodule())
    return model


@pytest.mark.parametrize("order", [1, 2])
def test_compiled_search_equals_the_eager_one(order, tiny_trainer):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    runs = {}
    for compile in (False, BACKEND):
        seed_everything(0)
        runs[bool(compile)] = _fit(
            tiny_trainer, DARTS(space_options={"C": 4, "N": 1}, num_classes=4, order=order, compile=compile)
        )
    compiled, eager = runs[True], runs[False]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the forward ran as a captured graph
    assert not torch._dynamo.utils.counters["graph_break"]  # in one piece
    assert set(compiled.state_dict()) == set(eager.state_dict())  # compiled in place: the same keys
    for a, b in zip(eager.arch_parameters(), compiled.arch_parameters(), strict=True):
        assert not torch.equal(a, torch.zeros_like(a))
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    assert str(compiled.genotype()) == str(eager.genotype())


def test_compiled_pdarts_compiles_every_stage_supernet(tiny_trainer):
    seed_everything(0)
    model = PDARTS(
        search_space="nasbench201",
        space_options={"C": 4},
        num_classes=4,
        stage_epochs=[1, 1],
        stage_layers=[1, 1],
        stage_ops=[5, 3],
        skip_dropout=[0.0, 0.3],
        arch_warmup_epochs=0,
        compile=BACKEND,
    )
    first = model.supernet
    _fit(tiny_trainer, model, max_epochs=2, limit_train_batches=1)
    assert model.supernet is not first and model.supernet._compiled_call_impl is not None
    assert len(str(model.genotype()).split("|")) > 1


@pytest.mark.parametrize(
    "compile,match",
    [
        ("yes", r"`DARTS\(compile='yes'\)`: `compile` must be True, False or a dict of `torch.compile` arguments"),
        ({"modee": "max-autotune"}, r"unknown `torch.compile` argument\(s\) \['modee'\]; allowed: .*mode"),
    ],
)
def test_compile_option_validated(compile, match):
    with pytest.raises(ValueError, match=match):
        DARTS(space_options={"C": 4, "N": 1}, num_classes=4, compile=compile)


def test_compile_off_by_default():
    assert DARTS(space_options={"C": 4, "N": 1}, num_classes=4).supernet._compiled_call_impl is None
