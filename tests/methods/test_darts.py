import csv
import functools
import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from lightning import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lightning_nas.callbacks import GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule, ImageFolderSearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.methods import darts as darts_module
from lightning_nas.methods.darts import optimizer_implementation
from lightning_nas.spaces import NASBench201Genotype

TINY = {"C": 4, "N": 1}


def _arrays(n=96, size=16, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / classes  # a learnable signal
    return x, y


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py), two epochs by default."""
    return functools.partial(tiny_trainer, max_epochs=2)


class RecordOutputs(Callback):
    def __init__(self):
        self.outputs = []
        self.batches = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.outputs.append(outputs)
        self.batches.append(batch)


class InterruptAfterFirstEpoch(Callback):
    """Stops the run after epoch 0, as a killed job would (the schedule still spans max_epochs)."""

    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


def test_two_epoch_search_on_real_cifar10_subset_gives_a_valid_genotype(cifar10_small_root, tmp_path, tiny_trainer):
    seed_everything(2)
    datamodule = ImageFolderSearchDataModule(root=str(cifar10_small_root), batch_size=32)
    model = DARTS(search_space="nasbench201", space_options={"C": 8, "N": 1}, num_classes=10)
    export = GenotypeExport(dirpath=str(tmp_path))
    trainer = tiny_trainer(callbacks=[export], limit_val_batches=2)
    trainer.fit(model, datamodule)
    genotype = model.genotype()
    assert isinstance(genotype, NASBench201Genotype)
    assert NASBench201Genotype.from_string(str(genotype)) == genotype
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved["genotype"] == str(genotype)
    assert len(saved["history"]) == 2
    assert all(NASBench201Genotype.from_string(s) for s in saved["history"])
    # val/acc and val/loss: the final supernet in eval mode over the two validation batches, recomputed by hand
    batches = list(itertools.islice(datamodule.val_dataloader(), 2))
    model.eval()
    with torch.no_grad():
        logits = [model.supernet(x) for x, *_ in batches]
    labels = torch.cat([b[1] for b in batches])
    correct = (torch.cat(logits).argmax(1) == labels).float().mean()
    assert float(trainer.callback_metrics["val/acc"]) == pytest.approx(float(correct), abs=1e-6)
    loss = torch.nn.functional.cross_entropy(torch.cat(logits), labels)
    assert float(trainer.callback_metrics["val/loss"]) == pytest.approx(float(loss), rel=1e-5)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("step_order", ["arch_first", "weights_first"])
def test_both_levels_are_updated_and_per_sample_errors_are_returned(tiny_trainer, order, step_order):
    seed_everything(0)
    x, y = _arrays()
    datamodule = ArraySearchDataModule(x, y, batch_size=16)
    model = DARTS(space_options=TINY, num_classes=4, order=order, step_order=step_order)
    alpha0 = [a.detach().clone() for a in model.arch_parameters()]
    w0 = [w.detach().clone() for w in model.weight_parameters()]
    recorder = RecordOutputs()
    trainer = tiny_trainer(max_epochs=1, callbacks=[recorder], limit_val_batches=0)
    trainer.fit(model, datamodule)
    assert not any(torch.equal(a, b) for a, b in zip(alpha0, model.arch_parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(w0, model.weight_parameters()))
    assert trainer.global_step == 2 * len(recorder.outputs)  # two optimizer steps per iteration
    for outputs, batch in zip(recorder.outputs, recorder.batches):
        for split in ("train", "val"):
            assert torch.equal(outputs[split]["ids"], batch[split][2])
            errors = outputs[split]["el2n"]
            assert errors.shape == batch[split][1].shape
            assert ((errors >= 0) & (errors <= math.sqrt(2) + 1e-6)).all()


def test_el2n_output_matches_the_weight_step_forward(tiny_trainer):
    seed_everything(0)
    x, y = _arrays(n=32)
    datamodule = ArraySearchDataModule(x, y, batch_size=16, augment=False)
    model = DARTS(space_options=TINY, num_classes=4, step_order="weights_first", arch_warmup_epochs=5)
    recorder = RecordOutputs()

    class Expected(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            with torch.no_grad():
                logits = pl_module.supernet(batch["train"][0])
            probs = logits.softmax(1)
            probs[torch.arange(len(probs)), batch["train"][1]] -= 1
            self.expected = probs.norm(dim=1)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            torch.testing.assert_close(outputs["train"]["el2n"], self.expected)
            assert "val" not in outputs  # architecture frozen during warm-up: no val forward pass

    trainer = tiny_trainer(max_epochs=1, callbacks=[recorder, Expected()], limit_val_batches=0)
    trainer.fit(model, datamodule)
    assert len(recorder.outputs) == 1


def test_arch_warmup_freezes_the_architecture(tiny_trainer):
    seed_everything(0)
    x, y = _arrays(n=64)
    model = DARTS(space_options=TINY, num_classes=4, arch_warmup_epochs=1)
    alpha0 = model.arch_parameters()[0].detach().clone()
    trainer = tiny_trainer(max_epochs=1, limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    assert torch.equal(alpha0, model.arch_parameters()[0])


def test_cosine_schedule_per_epoch(tiny_trainer):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4, weight_lr=0.1, weight_lr_min=0.0)
    trainer = tiny_trainer(max_epochs=2, limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    lr = model.optimizers()[0].param_groups[0]["lr"]
    assert lr == pytest.approx(0.0, abs=1e-12)  # cos(pi) after 2 of 2 epochs


def test_resume_from_mid_search_checkpoint_gives_the_same_search(tmp_path, tiny_trainer):
    x, y = _arrays(n=64)

    def run(max_epochs, ckpt_path=None, callbacks=()):
        seed_everything(7)
        model = DARTS(space_options=TINY, num_classes=4, order=2)
        datamodule = ArraySearchDataModule(x, y, batch_size=16)
        trainer = tiny_trainer(
            max_epochs=max_epochs, callbacks=list(callbacks), enable_checkpointing=True, limit_val_batches=1
        )
        trainer.fit(model, datamodule, ckpt_path=ckpt_path)
        return model

    full = run(3)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    run(3, callbacks=[checkpoint, InterruptAfterFirstEpoch()])
    seed_everything(123)  # a different global RNG state must not matter
    resumed = run(3, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert str(resumed.genotype()) == str(full.genotype())
    for a, b in zip(full.arch_parameters(), resumed.arch_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(full.weight_parameters(), resumed.weight_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"order": 3}, "`order` must be 1 or 2"),
        ({"search_space": "nope"}, "nope"),
        ({"num_classes": 1}, "`num_classes`"),
        ({"weight_lr": 0.0}, r"`weight_lr` must be a number > 0. Got 0.0 instead"),
        ({"arch_weight_decay": -1.0}, "`arch_weight_decay` must be a number >= 0"),
        ({"weight_momentum": 1.5}, r"`DARTS\(weight_momentum=1.5\)`: `weight_momentum` must be a number in \[0, 1\]"),
        ({"arch_betas": (1.5, 0.999)}, r"`arch_betas` must be two numbers in \[0, 1\)"),
        ({"arch_warmup_epochs": 1.5}, "`arch_warmup_epochs` must be an integer >= 0"),
        ({"step_order": "both"}, "`step_order`"),
        ({"lr_interval": "week"}, "`lr_interval`"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DARTS(**{"space_options": TINY, **kwargs})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"weight_lr": "0.1"}, r"`DARTS\(weight_lr='0.1'\)`: `weight_lr` must be a number > 0. Got str instead"),
        ({"space_options": "C=4"}, r"`space_options` must be a dict, e.g. \{'C': 16\}. Got str instead"),
        ({"grad_clip": "5"}, "`grad_clip` must be a number >= 0 or None. Got str instead"),
        ({"weight_nesterov": "yes"}, "`weight_nesterov` must be True or False"),
    ],
)
def test_arguments_of_the_wrong_type_are_rejected(kwargs, match):
    with pytest.raises(TypeError, match=match):
        DARTS(**{"space_options": TINY, **kwargs})


def test_bad_space_option_is_rejected():
    with pytest.raises((ValueError, TypeError), match="C"):
        DARTS(space_options={"C": 0, "N": 1})


def test_fewer_model_classes_than_data_classes_is_rejected(tiny_trainer):
    x, y = _arrays(n=32, classes=4)
    model = DARTS(space_options=TINY, num_classes=3)
    with pytest.raises(ValueError, match="num_classes=3"):
        tiny_trainer(max_epochs=1).fit(model, ArraySearchDataModule(x, y, batch_size=16))


def test_unpaired_batches_are_rejected(tiny_trainer):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4)
    with pytest.raises(ValueError, match="paired"):
        tiny_trainer(max_epochs=1).fit(model, ArraySearchDataModule(x, y, batch_size=16, paired=False))


def test_genotype_export_history_survives_resume(tmp_path, tiny_trainer):
    x, y = _arrays(n=32)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "c", save_last=True)
    seed_everything(0)
    tiny_trainer(
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[GenotypeExport(dirpath=str(tmp_path)), ckpt],
        limit_val_batches=1,
    ).fit(DARTS(space_options=TINY, num_classes=4), ArraySearchDataModule(x, y, batch_size=16))
    export = GenotypeExport(dirpath=str(tmp_path / "resumed"))
    model = DARTS(space_options=TINY, num_classes=4)
    tiny_trainer(max_epochs=2, callbacks=[export], limit_val_batches=1).fit(
        model, ArraySearchDataModule(x, y, batch_size=16), ckpt_path=str(Path(tmp_path) / "c" / "last.ckpt")
    )
    saved = json.loads((tmp_path / "resumed" / "genotype.json").read_text())
    assert len(saved["history"]) == 2 and saved["space"] == "nasbench201"


# ---------------------------------------------------------------------------------------------------- optimizers
def _fit_with_implementation(tiny_trainer, monkeypatch, implementation, order):
    """A 2-epoch search whose optimizers take ``implementation`` (``None``: the module's choice)."""
    if implementation is not None:
        monkeypatch.setattr(darts_module, "optimizer_implementation", lambda device, precision=None: implementation)
    x, y = _arrays(n=64)
    seed_everything(3)
    model = DARTS(space_options=TINY, num_classes=4, order=order, weight_nesterov=order == 2)
    tiny_trainer(max_epochs=2, limit_val_batches=0).fit(model, ArraySearchDataModule(x, y, batch_size=16))
    monkeypatch.undo()
    return model


@pytest.mark.parametrize("order", [1, 2])
def test_fused_and_foreach_optimizers_give_the_weights_of_the_plain_ones(tiny_trainer, monkeypatch, order):
    plain = _fit_with_implementation(tiny_trainer, monkeypatch, {"foreach": False}, order)
    fused = _fit_with_implementation(tiny_trainer, monkeypatch, None, order)  # the default on a CPU: fused
    foreach = _fit_with_implementation(tiny_trainer, monkeypatch, {"foreach": True}, order)  # CUDA under 16-mixed
    for opt in fused.optimizers():
        assert opt.param_groups[0]["fused"] is True
    assert plain.optimizers()[0].param_groups[0]["foreach"] is False
    for a, b, c in zip(plain.parameters(), fused.parameters(), foreach.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)  # float rounding
        torch.testing.assert_close(c, a, rtol=0, atol=0)  # the same operations in the same order
    assert str(fused.genotype()) == str(plain.genotype())


@pytest.mark.parametrize(
    "device,precision,expected",
    [
        ("cpu", "32-true", {"fused": True}),
        ("cpu", "bf16-mixed", {}),
        ("cuda", "32-true", {"fused": True}),
        ("cuda", "bf16-true", {"fused": True}),
        ("cuda", "16-mixed", {"foreach": True}),  # Lightning cannot clip the gradients of fused optimizers under AMP
        ("cuda", "bf16-mixed", {"foreach": True}),
        ("meta", "32-true", {}),
    ],
)
def test_optimizer_implementation_by_device_and_precision(device, precision, expected):
    assert optimizer_implementation(device, precision) == expected
    assert optimizer_implementation(torch.device(device), precision) == expected


def test_build_optimizers_takes_the_implementation_of_the_module_device():
    model = DARTS(space_options=TINY, num_classes=4)
    weight_opt, arch_opt = model.build_optimizers()
    assert isinstance(weight_opt, torch.optim.SGD) and isinstance(arch_opt, torch.optim.Adam)
    assert weight_opt.param_groups[0]["fused"] is True and arch_opt.param_groups[0]["fused"] is True
    assert {id(p) for p in weight_opt.param_groups[0]["params"]} == {id(p) for p in model.weight_parameters()}
    assert {id(p) for p in arch_opt.param_groups[0]["params"]} == {id(p) for p in model.arch_parameters()}
    assert not model.build_optimizers("bf16-mixed")[0].param_groups[0]["fused"]


def test_bf16_mixed_search_clips_gradients_with_its_optimizers(tiny_trainer):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4, grad_clip=5.0, arch_grad_clip=1.0)
    trainer = tiny_trainer(max_epochs=1, limit_val_batches=0, precision="bf16-mixed")
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    assert trainer.global_step == 2 and not model.optimizers()[0].param_groups[0]["fused"]  # one iteration


# --------------------------------------------------------------------------------------------- Lightning's cost
class RecordSteps(DARTS):
    """Records the loss and the correct count of every weight and architecture step, and the `self.log` calls of
    every training step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.arch_records, self.train_records, self.log_calls = [], [], []

    def _arch_step(self, train, val, weight_opt, arch_opt):
        loss, logits = super()._arch_step(train, val, weight_opt, arch_opt)
        correct = (logits.argmax(1) == val[1]).sum().item()
        self.arch_records.append((self.current_epoch, loss.item(), correct, len(val[1])))
        return loss, logits

    def _weight_step(self, x, y, weight_opt):
        loss, logits = super()._weight_step(x, y, weight_opt)
        self.train_records.append((self.current_epoch, loss.item(), (logits.argmax(1) == y).sum().item(), len(y)))
        return loss, logits

    def training_step(self, batch, batch_idx):
        self.log_calls.append(0)
        self.in_step = True
        try:
            return super().training_step(batch, batch_idx)
        finally:
            self.in_step = False

    def log(self, *args, **kwargs):
        if getattr(self, "in_step", False):
            self.log_calls[-1] += 1
        return super().log(*args, **kwargs)


def _means(records):
    """The loss (weighted by batch size) and the accuracy over ``(epoch, loss, correct, n)`` records."""
    n = sum(r[3] for r in records)
    return sum(r[1] * r[3] for r in records) / n, sum(r[2] for r in records) / n


def test_epoch_metrics_are_the_means_of_their_epoch_and_step_losses_go_where_the_loggers_write(tmp_path, tiny_trainer):
    x, y = _arrays(n=80)
    seed_everything(0)
    model = RecordSteps(space_options=TINY, num_classes=4)
    logger = CSVLogger(tmp_path, name="csv")
    trainer = tiny_trainer(max_epochs=2, limit_val_batches=0, logger=logger, log_every_n_steps=2)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))  # 40 + 40 ids: 3 batches, the last of 8
    # the step loss is logged on global batches 1, 3, 5 only: the aggregates are logged once per epoch
    assert model.log_calls == [0, 1, 0, 1, 0, 1]
    rows = list(csv.DictReader((Path(logger.log_dir) / "metrics.csv").open()))
    steps = [(int(r["step"]), float(r["train/loss_step"])) for r in rows if r.get("train/loss_step")]
    assert steps == [(g, pytest.approx(model.train_records[g][1])) for g in (1, 3, 5)]
    for epoch in (0, 1):
        train = [r for r in model.train_records if r[0] == epoch]
        arch = [r for r in model.arch_records if r[0] == epoch]
        assert len(train) == len(arch) == 3 and arch[-1][3] == 8
        (row,) = [r for r in rows if r.get("train/loss_epoch") and int(r["epoch"]) == epoch]
        assert float(row["train/loss_epoch"]) == pytest.approx(_means(train)[0], rel=1e-5)
        assert float(row["train/acc"]) == pytest.approx(_means(train)[1], rel=1e-6)
        assert float(row["arch/loss"]) == pytest.approx(_means(arch)[0], rel=1e-5)
        assert float(row["arch/acc"]) == pytest.approx(_means(arch)[1], rel=1e-6)
    assert trainer.callback_metrics["train/loss"].item() == pytest.approx(_means(train)[0], rel=1e-5)
    assert "train/loss" not in rows[0]  # for callbacks only: the loggers get train/loss_epoch, as before


def test_no_arch_metrics_are_logged_during_the_arch_warmup(tiny_trainer):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4, arch_warmup_epochs=1)
    trainer = tiny_trainer(max_epochs=1, limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    assert {"train/loss_epoch", "train/acc"} <= set(trainer.logged_metrics)
    assert not {"arch/loss", "arch/acc"} & set(trainer.logged_metrics)


def test_fast_dev_run_logs_the_step_loss(tmp_path):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4)
    trainer = Trainer(accelerator="cpu", fast_dev_run=True, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    assert "train/loss_step" in trainer.callback_metrics
