"""SearchCost: samples and passes per split, evaluation samples, times, data fraction, summary and state."""

import functools
import io
import json

import pytest
import torch
from lightning import LightningModule, seed_everything
from torch import nn

from lightning_nas.callbacks import SearchCost, VoEPruning
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS

TINY = {"C": 4, "N": 1}


def _data(n=64, batch_size=16):
    x = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return ArraySearchDataModule(x, torch.arange(n) % 4, batch_size=batch_size, seed=0)


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py), two epochs by default."""
    return functools.partial(tiny_trainer, max_epochs=2)


class Reporting(LightningModule):
    """Returns per-sample records of both splits and its own pass counts; automatic optimization."""

    def __init__(self, passes=None, records=True):
        super().__init__()
        self.passes = passes
        self.records = records
        self.weight = nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        loss = (self.weight - batch["train"][0].mean()).pow(2)
        if not self.records:
            return loss
        outputs = {"loss": loss}
        for split in ("train", "val"):
            ids = batch[split][2]
            outputs[split] = {"ids": ids, "el2n": torch.zeros(len(ids))}
        if self.passes is not None:
            outputs["passes"] = self.passes
        return outputs

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_first_order_darts_counts_each_sample_once_per_split(tmp_path, tiny_trainer):
    seed_everything(0)
    cost = SearchCost()
    trainer = tiny_trainer(callbacks=[cost])
    trainer.fit(DARTS(space_options=TINY, num_classes=4), _data())
    metrics = trainer.callback_metrics
    expected = {
        "cost/train_samples": 64.0,  # 2 epochs x the 32 samples of the weight split
        "cost/val_samples": 64.0,
        "cost/train_passes": 64.0,
        "cost/val_passes": 64.0,
        "cost/optimization": 128.0,
        "cost/eval_samples": 64.0,  # the validation loop over the 32 architecture samples, twice
        "cost/evaluation": 64.0,
        "cost/data_fraction": 1.0,  # 128 samples drawn / (2 epochs x 64)
        "cost/epoch_data_fraction": 1.0,
        "cost/epochs": 2.0,
    }
    for key, value in expected.items():
        assert metrics[key].item() == value, key
    assert metrics["cost/total_time_s"] >= metrics["cost/train_time_s"] + metrics["cost/val_time_s"] > 0
    saved = json.loads((tmp_path / "search_cost.json").read_text())
    assert saved == pytest.approx({key.removeprefix("cost/"): value for key, value in cost.summary().items()}, rel=0.1)
    assert saved["train_samples"] == 64 and saved["data_fraction"] == 1.0


def test_second_order_darts_counts_four_passes_of_the_weight_batch_when_the_architecture_moves(tiny_trainer):
    seed_everything(0)
    cost = SearchCost()
    trainer = tiny_trainer(callbacks=[cost], limit_val_batches=0)
    trainer.fit(DARTS(space_options=TINY, num_classes=4, order=2, arch_warmup_epochs=1), _data())
    summary = cost.summary()
    # epoch 0 (architecture frozen, no val records): 32 x 1; epoch 1 (unrolled step): 32 x 4
    assert summary["cost/train_samples"] == 64 and summary["cost/train_passes"] == 32 + 4 * 32
    assert summary["cost/val_samples"] == summary["cost/val_passes"] == 32
    assert summary["cost/data_fraction"] == 96 / 128


def test_a_module_can_report_its_own_pass_counts(tiny_trainer):
    cost = SearchCost()
    tiny_trainer(callbacks=[cost], limit_val_batches=0).fit(Reporting(passes={"train": 3, "val": 2}), _data())
    summary = cost.summary()
    assert summary["cost/train_passes"] == 3 * 64 and summary["cost/val_passes"] == 2 * 64


def test_a_module_without_per_sample_records_counts_the_weight_batch(tiny_trainer):
    cost = SearchCost()
    tiny_trainer(callbacks=[cost], limit_val_batches=0).fit(Reporting(records=False), _data())
    summary = cost.summary()
    assert summary["cost/train_samples"] == summary["cost/train_passes"] == 64
    assert summary["cost/val_samples"] == 0 and summary["cost/data_fraction"] == 0.5


def test_pruning_lowers_the_effective_data_fraction(tiny_trainer):
    seed_everything(0)
    cost = SearchCost()
    datamodule = _data()
    pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.5)
    tiny_trainer(max_epochs=3, callbacks=[pruning, cost], limit_val_batches=0).fit(
        DARTS(space_options=TINY, num_classes=4), datamodule
    )
    summary = cost.summary()
    # epochs 0-1 on 32 + 32 samples; epoch 2 on 24 weight samples and as many (cycled) architecture samples
    assert len(datamodule.active_ids("train")) == 24 and len(datamodule.active_ids("val")) == 16
    assert summary["cost/epoch_data_fraction"] == 48 / 64
    assert summary["cost/data_fraction"] == (64 + 64 + 48) / (3 * 64)


def test_state_round_trips_through_a_weights_only_load(tiny_trainer):
    cost = SearchCost()
    tiny_trainer(max_epochs=1, callbacks=[cost], limit_val_batches=0).fit(Reporting(), _data())
    buffer = io.BytesIO()
    torch.save(cost.state_dict(), buffer)
    buffer.seek(0)
    restored = SearchCost()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.summary() == cost.summary()


def test_bad_filename_is_rejected():
    with pytest.raises(ValueError, match="`SearchCost\\(filename='a/b.json'\\)`: `filename` must be a plain file name"):
        SearchCost(filename="a/b.json")
