import json
import math
from pathlib import Path

import pytest
import torch
from lightning import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_nas.callbacks import GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule, ImageFolderSearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.spaces import NASBench201Genotype

TINY = {"C": 4, "N": 1}


def _arrays(n=96, size=16, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / classes  # a learnable signal
    return x, y


def _trainer(tmp_path, **kwargs):
    defaults = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    defaults.update(kwargs)
    return Trainer(**defaults)


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


def test_two_epoch_search_on_real_cifar10_subset_gives_a_valid_genotype(cifar10_small_root, tmp_path):
    seed_everything(2)
    datamodule = ImageFolderSearchDataModule(root=str(cifar10_small_root), batch_size=32)
    model = DARTS(search_space="nasbench201", space_options={"C": 8, "N": 1}, num_classes=10)
    export = GenotypeExport(dirpath=str(tmp_path))
    trainer = _trainer(tmp_path, callbacks=[export], limit_val_batches=2)
    trainer.fit(model, datamodule)
    genotype = model.genotype()
    assert isinstance(genotype, NASBench201Genotype)
    assert NASBench201Genotype.from_string(str(genotype)) == genotype
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved["genotype"] == str(genotype)
    assert len(saved["history"]) == 2
    assert all(NASBench201Genotype.from_string(s) for s in saved["history"])
    assert 0.0 <= trainer.callback_metrics["val/acc"] <= 1.0


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("step_order", ["arch_first", "weights_first"])
def test_both_levels_are_updated_and_per_sample_errors_are_returned(tmp_path, order, step_order):
    seed_everything(0)
    x, y = _arrays()
    datamodule = ArraySearchDataModule(x, y, batch_size=16)
    model = DARTS(space_options=TINY, num_classes=4, order=order, step_order=step_order)
    alpha0 = [a.detach().clone() for a in model.arch_parameters()]
    w0 = [w.detach().clone() for w in model.weight_parameters()]
    recorder = RecordOutputs()
    trainer = _trainer(tmp_path, max_epochs=1, callbacks=[recorder], limit_val_batches=0)
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


def test_el2n_output_matches_the_weight_step_forward(tmp_path):
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

    trainer = _trainer(tmp_path, max_epochs=1, callbacks=[recorder, Expected()], limit_val_batches=0)
    trainer.fit(model, datamodule)
    assert len(recorder.outputs) == 1


def test_arch_warmup_freezes_the_architecture(tmp_path):
    seed_everything(0)
    x, y = _arrays(n=64)
    model = DARTS(space_options=TINY, num_classes=4, arch_warmup_epochs=1)
    alpha0 = model.arch_parameters()[0].detach().clone()
    trainer = _trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    assert torch.equal(alpha0, model.arch_parameters()[0])


def test_cosine_schedule_per_epoch(tmp_path):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4, weight_lr=0.1, weight_lr_min=0.0)
    trainer = _trainer(tmp_path, max_epochs=2, limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    lr = model.optimizers()[0].param_groups[0]["lr"]
    assert lr == pytest.approx(0.0, abs=1e-12)  # cos(pi) after 2 of 2 epochs


def test_resume_from_mid_search_checkpoint_gives_the_same_search(tmp_path):
    x, y = _arrays(n=64)

    def run(max_epochs, ckpt_path=None, callbacks=()):
        seed_everything(7)
        model = DARTS(space_options=TINY, num_classes=4, order=2)
        datamodule = ArraySearchDataModule(x, y, batch_size=16)
        trainer = _trainer(
            tmp_path, max_epochs=max_epochs, callbacks=list(callbacks), enable_checkpointing=True, limit_val_batches=1
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
        ({"weight_lr": 0.0}, "`weight_lr` must be positive"),
        ({"arch_weight_decay": -1.0}, "`arch_weight_decay` must be >= 0"),
        ({"step_order": "both"}, "`step_order`"),
        ({"lr_interval": "week"}, "`lr_interval`"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DARTS(**{"space_options": TINY, **kwargs})


def test_bad_space_option_is_rejected():
    with pytest.raises((ValueError, TypeError), match="C"):
        DARTS(space_options={"C": 0, "N": 1})


def test_fewer_model_classes_than_data_classes_is_rejected(tmp_path):
    x, y = _arrays(n=32, classes=4)
    model = DARTS(space_options=TINY, num_classes=3)
    with pytest.raises(ValueError, match="num_classes=3"):
        _trainer(tmp_path, max_epochs=1).fit(model, ArraySearchDataModule(x, y, batch_size=16))


def test_unpaired_batches_are_rejected(tmp_path):
    x, y = _arrays(n=32)
    model = DARTS(space_options=TINY, num_classes=4)
    with pytest.raises(ValueError, match="paired"):
        _trainer(tmp_path, max_epochs=1).fit(model, ArraySearchDataModule(x, y, batch_size=16, paired=False))


def test_genotype_export_history_survives_resume(tmp_path):
    x, y = _arrays(n=32)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "c", save_last=True)
    seed_everything(0)
    _trainer(
        tmp_path,
        max_epochs=1,
        enable_checkpointing=True,
        callbacks=[GenotypeExport(dirpath=str(tmp_path)), ckpt],
        limit_val_batches=1,
    ).fit(DARTS(space_options=TINY, num_classes=4), ArraySearchDataModule(x, y, batch_size=16))
    export = GenotypeExport(dirpath=str(tmp_path / "resumed"))
    model = DARTS(space_options=TINY, num_classes=4)
    _trainer(tmp_path, max_epochs=2, callbacks=[export], limit_val_batches=1).fit(
        model, ArraySearchDataModule(x, y, batch_size=16), ckpt_path=str(Path(tmp_path) / "c" / "last.ckpt")
    )
    saved = json.loads((tmp_path / "resumed" / "genotype.json").read_text())
    assert len(saved["history"]) == 2 and saved["space"] == "nasbench201"
