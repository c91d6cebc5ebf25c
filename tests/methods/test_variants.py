"""PC-DARTS, beta-DARTS and P-DARTS on both spaces, and training a discovered architecture."""

import functools
import json

import pytest
import torch
from lightning import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_nas.callbacks import GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, ArchitectureTraining, BetaDARTS, beta_decay_loss, cutout
from lightning_nas.methods.pdarts import keep_strongest_ops
from lightning_nas.spaces import DARTSGenotype, NASBench201Genotype

SPACES = {
    "nasbench201": ({"C": 8, "N": 1}, NASBench201Genotype),
    "darts": ({"C": 8, "layers": 3}, DARTSGenotype),
}
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _data(n=48, size=16, classes=4, **kwargs):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / classes
    return ArraySearchDataModule(x, y, batch_size=16, **kwargs)


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py): two epochs, one validation batch by default."""
    return functools.partial(tiny_trainer, max_epochs=2, limit_val_batches=1)


class InterruptAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


# ---------------------------------------------------------------------------------------------------------- PC-DARTS
@pytest.mark.parametrize("space", sorted(SPACES))
def test_pcdarts_short_search_gives_a_valid_genotype(tmp_path, tiny_trainer, space):
    options, genotype_type = SPACES[space]
    seed_everything(0)
    model = PCDARTS(search_space=space, space_options=options, num_classes=4, partial_channels=4, arch_warmup_epochs=1)
    names = sorted(n for n, _ in model.supernet.named_parameters() if n.startswith("arch_"))
    assert any("beta" in n for n in names)
    before = [p.detach().clone() for p in model.arch_parameters()]
    export = GenotypeExport(dirpath=str(tmp_path))
    tiny_trainer(callbacks=[export]).fit(model, _data())
    genotype = model.genotype()
    assert isinstance(genotype, genotype_type)
    assert genotype_type.from_string(str(genotype)) == genotype
    assert json.loads((tmp_path / "genotype.json").read_text())["genotype"] == str(genotype)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.arch_parameters()))  # alpha and beta learn


def test_pcdarts_rejects_conflicting_space_options():
    with pytest.raises(ValueError, match="partial_channels"):
        PCDARTS(search_space="nasbench201", space_options={"C": 8, "N": 1, "partial_channels": 2})
    with pytest.raises(ValueError, match="`partial_channels` must be an integer >= 1"):
        PCDARTS(search_space="nasbench201", space_options={"C": 8, "N": 1}, partial_channels=0)


# -------------------------------------------------------------------------------------------------------- beta-DARTS
def test_beta_decay_gradient_is_the_softmax_over_edges():
    alphas = [torch.randn(3, 5, requires_grad=True), torch.randn(2, 5, requires_grad=True)]
    beta_decay_loss(alphas).backward()
    for a in alphas:
        torch.testing.assert_close(a.grad, a.detach().softmax(-1) / 5)


@pytest.mark.parametrize("space", sorted(SPACES))
def test_beta_darts_regularizes_the_architecture_step(tiny_trainer, space):
    options, genotype_type = SPACES[space]

    def search(model_cls, **kwargs):
        seed_everything(3)
        model = model_cls(search_space=space, space_options=options, num_classes=4, **kwargs)
        tiny_trainer(max_epochs=2).fit(model, _data())
        return model

    plain = search(DARTS)
    beta = search(BetaDARTS, lambda_max=1000.0, lambda_epochs=1)  # lambda = 0 in epoch 0, 1000 in epoch 1
    assert isinstance(beta.genotype(), genotype_type)
    assert beta.beta_lambda(epoch=1) == 1000.0
    spread = lambda m: torch.cat([a.detach().softmax(-1).std(-1) for a in m.alpha_parameters()]).mean()  # noqa: E731
    spread_plain = torch.cat([a.detach().softmax(-1).std(-1) for a in BetaDARTS.alpha_parameters(plain)]).mean()
    assert spread(beta) < spread_plain  # beta-decay keeps the mixing weights closer to uniform


def test_beta_darts_lambda_schedule_follows_the_official_ramp():
    model = BetaDARTS(search_space="nasbench201", space_options={"C": 4, "N": 1})
    assert [model.beta_lambda(e) for e in (0, 1, 49)] == [0.0, 0.5, 24.5]
    with pytest.raises(ValueError, match="`lambda_max`"):
        BetaDARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, lambda_max=-1.0)


# ----------------------------------------------------------------------------------------------------------- P-DARTS
def test_keep_strongest_ops_keeps_the_largest_weights_in_order():
    w = torch.tensor([[0.1, 0.3, 0.2, 0.4], [0.4, 0.3, 0.2, 0.1]])
    assert keep_strongest_ops(w, [list("abcd"), list("abcd")], 2) == [["b", "d"], ["a", "b"]]


def _pdarts(space, **kwargs):
    options, _ = SPACES[space]
    options = {k: v for k, v in options.items() if k not in ("N", "layers")}
    layers = [1, 2, 3] if space == "nasbench201" else [3, 4, 5]
    kwargs.setdefault("arch_warmup_epochs", 0)
    return PDARTS(
        search_space=space, space_options=options, num_classes=4, stage_epochs=[1, 1, 1], stage_layers=layers, **kwargs
    )


class RecordStages(Callback):
    def __init__(self):
        self.stages = []

    def on_train_epoch_end(self, trainer, pl_module):
        cell = pl_module.supernet.cell_types[0]
        ops = pl_module.supernet.edge_ops(cell)
        cells = sum(1 for m in pl_module.supernet.modules() if type(m).__name__.endswith("SearchCell"))
        self.stages.append((pl_module.stage, len(ops[0]), cells))


@pytest.mark.parametrize("space", sorted(SPACES))
def test_pdarts_drops_operations_and_deepens_at_stage_boundaries(tiny_trainer, space):
    seed_everything(0)
    model = _pdarts(space)
    recorder = RecordStages()
    tiny_trainer(max_epochs=3, callbacks=[recorder]).fit(model, _data())
    expected_ops = [8, 5, 3] if space == "darts" else [5, 4, 3]
    assert [(s, k) for s, k, _ in recorder.stages] == list(zip([0, 1, 2], expected_ops))
    assert recorder.stages[0][2] < recorder.stages[1][2] < recorder.stages[2][2]
    _, genotype_type = SPACES[space]
    genotype = model.genotype()
    assert isinstance(genotype, genotype_type)
    kept = model.candidate_ops[model.supernet.cell_types[0]]
    if space == "darts":
        for slot, (op, source) in enumerate(genotype.normal):  # every chosen op survived on its own edge
            node = slot // 2
            assert op in kept[sum(2 + k for k in range(node)) + source]
    else:
        assert all(op in kept[e] for e, op in enumerate(genotype.ops))


def test_pdarts_respects_the_skip_connect_limit():
    seed_everything(0)
    model = _pdarts("darts", max_skip_connects=1)
    model.stage = 2  # pretend the last stage: skip connections dominate every edge of the normal cell
    with torch.no_grad():
        for name, p in model.supernet.named_parameters():
            if name.endswith("arch_alpha_normal"):
                ops = model.supernet.edge_ops("normal")
                p.zero_()
                for e, names in enumerate(ops):
                    p[e, names.index("skip_connect")] = 5.0 + 0.1 * e
    plain = model.supernet.genotype()
    assert sum(op == "skip_connect" for op, _ in plain.normal) > 1
    limited = model.genotype()
    assert sum(op == "skip_connect" for op, _ in limited.normal) <= 1
    assert limited.reduce == plain.reduce


def test_pdarts_skip_dropout_schedule():
    model = _pdarts("nasbench201", skip_dropout=[0.1, 0.4, 0.7], arch_warmup_epochs=0)
    assert model.skip_dropout_rate() == pytest.approx(0.1)  # p * exp(0) once alpha is trained
    with pytest.raises(ValueError, match="one entry per stage"):
        _pdarts("nasbench201", skip_dropout=[0.1, 0.4])


def test_pdarts_needs_max_epochs_equal_to_the_stages(tiny_trainer):
    with pytest.raises(ValueError, match="max_epochs=3"):
        tiny_trainer(max_epochs=2).fit(_pdarts("nasbench201"), _data())


@pytest.mark.parametrize("space", sorted(SPACES))
def test_pdarts_resume_between_stages_gives_the_same_genotype(tmp_path, tiny_trainer, space):
    def run(ckpt_path=None, callbacks=()):
        seed_everything(5)
        model = _pdarts(space)
        tiny_trainer(max_epochs=3, callbacks=list(callbacks), enable_checkpointing=True).fit(
            model, _data(), ckpt_path=ckpt_path
        )
        return model

    full = run()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    run(callbacks=[ckpt, InterruptAfter(epoch=0)])  # stops at the end of stage 0
    seed_everything(99)
    resumed = run(ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert resumed.stage == full.stage == 2
    assert str(resumed.genotype()) == str(full.genotype())
    for a, b in zip(full.arch_parameters(), resumed.arch_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------- ArchitectureTraining
def test_cutout_zeroes_one_square_per_image():
    out = cutout(torch.ones(4, 2, 32, 32), 16, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(dim=1).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 256)).all()
    assert torch.equal((out[:, 0] == 0), (out[:, 1] == 0))  # the same square in every channel


@pytest.mark.parametrize(
    "space,genotype,options",
    [
        (
            "nasbench201",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
            {"C": 8, "N": 1},
        ),
        ("darts", DARTS_V2, {"C": 8, "layers": 3, "auxiliary": True}),
    ],
)
def test_architecture_training_trains_the_discrete_network(tiny_trainer, space, genotype, options):
    seed_everything(0)
    model = ArchitectureTraining(
        genotype=genotype, search_space=space, space_options=options, num_classes=4, cutout=4, drop_path_prob=0.2
    )
    w0 = [p.detach().clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(40, 3, 16, 16, generator=g), torch.arange(40) % 4
    datamodule = ArraySearchDataModule(x, y, x_test=x[:8], y_test=y[:8], batch_size=8, retrain=True)
    trainer = tiny_trainer(max_epochs=2)
    trainer.fit(model, datamodule)
    assert str(model.genotype()) == genotype
    assert trainer.num_training_batches == 5  # the whole pool (both splits), unpaired
    assert any(not torch.equal(a, b) for a, b in zip(w0, model.parameters()))
    assert "val/acc" in trainer.callback_metrics
    if space == "darts":
        assert model.network.drop_path_prob == pytest.approx(0.1)  # 0.2 * epoch 1 / 2 epochs


def test_architecture_training_rejects_a_genotype_of_another_space():
    with pytest.raises(ValueError):
        ArchitectureTraining(genotype=DARTS_V2, search_space="nasbench201", space_options={"C": 4, "N": 1})
