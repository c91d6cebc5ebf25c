"""VoEPruning (BDP): exact pruned ids against a brute-force reference, class caps, DDP, resume, drop-in, bad input."""

import functools
import itertools
import json
import logging
import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
from lightning import Callback, LightningModule, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_nas.callbacks import SearchCost, VoEPruning, voe_pruning
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, BetaDARTS

TINY = {"C": 4, "N": 1}


# --------------------------------------------------------------------------------------------------------------------
# a module that emits scripted per-sample errors
# --------------------------------------------------------------------------------------------------------------------
class ScriptedErrors(LightningModule):
    """Returns ``el2n = table[epoch, id]`` for every sample of both splits; trains one weight (automatic opt.)."""

    def __init__(self, table, splits=("train", "val")):
        super().__init__()
        self.table = torch.as_tensor(table, dtype=torch.float32)
        self.splits = splits
        self.weight = nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        outputs = {"loss": (self.weight - batch["train"][0].mean()).pow(2)}
        for split in self.splits:
            ids = batch[split][2]
            outputs[split] = {"ids": ids, "el2n": self.table[self.current_epoch, ids.cpu()].to(ids.device)}
        return outputs

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class LossOnly(ScriptedErrors):
    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx)["loss"]


def _data(labels, batch_size=4):
    labels = torch.as_tensor(labels)
    x = torch.rand(len(labels), 1, 4, 4, generator=torch.Generator().manual_seed(0))
    # contiguous: the tests below rely on weight split = first half of the ids, architecture split = second half
    return ArraySearchDataModule(x, labels, batch_size=batch_size, augment=False, seed=0, split="contiguous")


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py): six epochs, no validation by default."""
    return functools.partial(tiny_trainer, max_epochs=6, limit_val_batches=0)


# --------------------------------------------------------------------------------------------------------------------
# brute-force reference of BDP Algorithm 1 with the class-balance constraint (full records every epoch)
# --------------------------------------------------------------------------------------------------------------------
def _balance(counts):
    pairs = list(itertools.combinations(counts, 2))
    if not pairs:
        return 1.0
    return sum(1.0 if max(a, b) == 0 else min(a, b) / max(a, b) for a, b in pairs) / len(pairs)


def _reference(table, labels, splits, epochs, interval, ratios, criterion="low/high", class_balance=True, n=None):
    labels = list(np.asarray(labels))
    num_classes = max(labels) + 1
    active = {split: sorted(ids) for split, ids in splits.items()}
    n = epochs // interval if n is None else n
    history = []
    for epoch in range(epochs):
        if (epoch + 1) % interval:
            continue
        window = np.asarray(table, dtype=np.float32)[epoch + 1 - interval : epoch + 1].astype(np.float64)
        for split, direction in zip(("train", "val"), criterion.split("/")):
            ids = active[split]
            scores = {i: float(np.var(window[:, i])) for i in ids}
            counts = [sum(labels[i] == c for i in ids) for c in range(num_classes)]
            big_n = n * (1 - _balance(counts) ** 2) + 1 if class_balance else 1.0
            caps = [min(math.floor(c / big_n + 1e-9), max(c - 1, 0)) for c in counts]
            quota = min(math.floor(ratios[split] * len(ids) + 0.5), len(ids) - 1)
            order = sorted(ids, key=lambda i: ((-scores[i] if direction == "high" else scores[i]), i))
            taken, per_class = [], [0] * num_classes
            for i in order:
                if len(taken) == quota:
                    break
                if per_class[labels[i]] < caps[labels[i]]:
                    taken.append(i)
                    per_class[labels[i]] += 1
            history.append((epoch, split, sorted(taken)))
            active[split] = [i for i in ids if i not in set(taken)]
    return history, active


def _observed(pruning):
    return [(entry["epoch"], entry["split"], entry["removed"]) for entry in pruning.history]


IMBALANCED = [0] * 24 + [1] * 10 + [2] * 6  # one split's labels: b = 0.44
LABELS = IMBALANCED * 2  # weight split ids 0-39, architecture split ids 40-79 (contiguous)
SPLITS = ("train", "val")


@pytest.mark.parametrize("criterion", ["low/high", "high/low", "low/low", "high/high"])
def test_pruned_ids_are_exactly_the_reference_ones_per_split_and_criterion(tmp_path, tiny_trainer, criterion):
    epochs, interval = 6, 2
    table = np.random.default_rng(3).random((epochs, len(LABELS)))
    pruning = VoEPruning(interval=interval, train_ratio=0.2, val_ratio=0.2, criterion=criterion, dirpath=str(tmp_path))
    datamodule = _data(LABELS)
    trainer = tiny_trainer(max_epochs=epochs, callbacks=[pruning])
    trainer.fit(ScriptedErrors(table), datamodule)
    splits = {"train": range(40), "val": range(40, 80)}
    expected, active = _reference(table, LABELS, splits, epochs, interval, {"train": 0.2, "val": 0.2}, criterion)
    assert _observed(pruning) == expected
    assert any(removed for _, _, removed in expected)
    for split in ("train", "val"):
        assert datamodule.active_ids(split).tolist() == active[split]
        assert trainer.callback_metrics[f"data/{split}_remaining"].item() == len(active[split])
    saved = json.loads((tmp_path / "pruning_history.json").read_text())
    assert saved["criterion"] == criterion and saved["interval"] == interval and saved["num_prunings"] == 3
    assert [(e["epoch"], e["split"], e["removed"]) for e in saved["history"]] == expected


def test_class_limits_hold_on_imbalanced_data(tiny_trainer):
    epochs = 8
    # class 0 samples have the lowest variance: without caps they would all go first
    rng = np.random.default_rng(5)
    labels = np.array(LABELS)
    table = rng.random((epochs, len(labels))) * np.where(labels == 0, 0.01, 1.0)
    pruning = VoEPruning(interval=2, train_ratio=0.3, val_ratio=0.0)
    datamodule = _data(labels)
    tiny_trainer(max_epochs=epochs, callbacks=[pruning]).fit(ScriptedErrors(table), datamodule)
    expected, _ = _reference(
        table, labels, {"train": range(40), "val": range(40, 80)}, epochs, 2, {"train": 0.3, "val": 0}
    )
    assert _observed(pruning) == expected
    active = set(range(40))
    for entry in pruning.history:
        if entry["split"] != "train":
            continue
        counts = np.bincount(labels[sorted(active)], minlength=3)
        b = _balance(counts.tolist())
        caps = np.floor(counts / (4 * (1 - b * b) + 1) + 1e-9)
        removed = np.bincount(labels[entry["removed"]], minlength=3)
        assert (removed <= caps).all()
        assert entry["balance"] == pytest.approx(b)
        active -= set(entry["removed"])
    # the caps bind: the quota was under-filled at least once
    assert any(len(e["removed"]) < e["quota"] for e in pruning.history if e["split"] == "train")
    # without the constraint the lowest-VoE class would be cut down to its last sample
    _, unconstrained = _reference(
        table,
        labels,
        {"train": range(40), "val": range(40, 80)},
        epochs,
        2,
        {"train": 0.3, "val": 0},
        class_balance=False,
    )
    assert np.bincount(labels[unconstrained["train"]], minlength=3)[0] == 1
    assert np.bincount(labels[sorted(active)], minlength=3)[0] == 9


@pytest.mark.parametrize(
    "class_balance,split_labels",
    [(True, [0, 1, 2] * 3), (False, [0, 1, 1, 2, 2, 2])],  # balanced: b = 1, the caps allow all but one per class
)
def test_pruning_stops_cleanly_when_a_class_would_vanish(tiny_trainer, class_balance, split_labels):
    labels = split_labels * 2  # the weight split first, then the architecture split
    table = np.random.default_rng(0).random((10, len(labels)))
    pruning = VoEPruning(interval=2, train_ratio=0.9, val_ratio=0.9, class_balance=class_balance)
    datamodule = _data(labels, batch_size=2)
    tiny_trainer(max_epochs=10, callbacks=[pruning]).fit(ScriptedErrors(table), datamodule)
    for split in ("train", "val"):
        remaining = np.asarray(labels)[datamodule.active_ids(split)]
        assert np.bincount(remaining, minlength=3).tolist() == [1, 1, 1]
        assert sum(len(e["removed"]) for e in pruning.history if e["split"] == split) == len(split_labels) - 3
    assert pruning.history[-1]["removed"] == []  # later prunings find nothing removable and stop, no error


def test_a_split_without_records_in_the_window_is_not_pruned(tiny_trainer):
    table = np.random.default_rng(1).random((4, len(LABELS)))
    pruning = VoEPruning(interval=2)
    datamodule = _data(LABELS)
    tiny_trainer(max_epochs=4, callbacks=[pruning]).fit(ScriptedErrors(table, splits=("train",)), datamodule)
    assert {e["split"] for e in pruning.history} == {"train"}
    assert len(datamodule.active_ids("val")) == 40 and len(datamodule.active_ids("train")) < 40


class ArchitectureWarmup(ScriptedErrors):
    """Returns no architecture-split errors during the first ``warmup`` epochs (the architecture is frozen)."""

    def __init__(self, table, warmup):
        super().__init__(table)
        self.warmup = warmup

    def training_step(self, batch, batch_idx):
        outputs = super().training_step(batch, batch_idx)
        if self.current_epoch < self.warmup:
            del outputs["val"]
        return outputs


def test_a_split_whose_samples_have_fewer_than_two_records_is_not_pruned(tiny_trainer, caplog):
    # a warm-up of 3 epochs with interval 2: the window of epochs 2-3 holds one 'val' record per sample, no VoE
    table = np.random.default_rng(6).random((6, len(LABELS)))
    # train_ratio=0: the weight split keeps its 40 samples, so the cycled architecture split is seen whole every epoch
    pruning = VoEPruning(interval=2, train_ratio=0.0, val_ratio=0.2)
    datamodule = _data(LABELS)
    with caplog.at_level(logging.INFO):
        tiny_trainer(max_epochs=6, callbacks=[pruning]).fit(ArchitectureWarmup(table, warmup=3), datamodule)
    assert [(e["epoch"], e["split"]) for e in pruning.history] == [(1, "train"), (3, "train"), (5, "train"), (5, "val")]
    assert "epoch 1: no 'val' errors were recorded" in caplog.text
    assert "epoch 3: no 'val' sample has errors from 2 epochs" in caplog.text
    # the one pruning of 'val' (epochs 4-5) is exactly the reference's, with the class caps of the full split
    splits = {"train": [], "val": range(40, 80)}
    expected, _ = _reference(table[4:], LABELS, splits, 2, 2, {"train": 0, "val": 0.2}, n=3)
    val_removed = expected[1][2]
    assert pruning.history[-1]["removed"] == val_removed and val_removed and pruning.history[-1]["quota"] == 8
    assert sorted(datamodule.active_ids("val").tolist() + val_removed) == list(range(40, 80))


def test_pcdarts_with_an_odd_architecture_warmup_does_not_prune_by_id_order(tiny_trainer):
    seed_everything(0)
    x, y = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 4
    model = PCDARTS(search_space="nasbench201", space_options=TINY, num_classes=4, arch_warmup_epochs=1)
    pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.25)
    datamodule = ArraySearchDataModule(x, y, batch_size=8)
    tiny_trainer(max_epochs=2, callbacks=[pruning]).fit(model, datamodule)
    assert [e["split"] for e in pruning.history] == ["train"]  # 'val' has one epoch of records: not pruned
    assert len(datamodule.active_ids("val")) == 16 and len(datamodule.active_ids("train")) == 12


def test_logs_remaining_per_class_counts_and_balance(tiny_trainer):
    table = np.random.default_rng(2).random((2, len(LABELS)))
    pruning = VoEPruning(interval=2, train_ratio=0.1, val_ratio=0.2)
    datamodule = _data(LABELS)
    trainer = tiny_trainer(max_epochs=2, callbacks=[pruning])
    trainer.fit(ScriptedErrors(table), datamodule)
    metrics = trainer.callback_metrics
    for split in ("train", "val"):
        counts = np.bincount(np.asarray(LABELS)[datamodule.active_ids(split)], minlength=3)
        assert [metrics[f"data/{split}_class_{c}"].item() for c in range(3)] == counts.tolist()
        assert metrics[f"data/{split}_balance"].item() == pytest.approx(_balance(counts.tolist()))
    assert metrics["data/train_remaining"].item() == 40 - len(pruning.pruned_ids("train"))


# --------------------------------------------------------------------------------------------------------------------
# DDP
# --------------------------------------------------------------------------------------------------------------------
class WriteRankResult(Callback):
    """Each rank writes its pruning history and active ids (ddp_spawn returns only rank 0's results)."""

    def __init__(self, path):
        self.path = path

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.world_size == 1:
            return
        datamodule = trainer.datamodule
        mine = [datamodule.active_ids(s).tolist() for s in ("train", "val")]
        everyone = [None] * trainer.world_size
        dist.all_gather_object(everyone, mine)
        if any(other != mine for other in everyone):
            raise AssertionError(f"ranks hold different active sets at epoch {trainer.current_epoch}")

    def on_fit_end(self, trainer, pl_module):
        (pruning,) = [c for c in trainer.callbacks if isinstance(c, VoEPruning)]
        datamodule = trainer.datamodule
        result = {"history": pruning.history, **{s: datamodule.active_ids(s).tolist() for s in ("train", "val")}}
        (self.path / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


def test_ddp_prunes_exactly_the_ids_a_single_process_prunes(tmp_path, tiny_trainer):
    labels = IMBALANCED[:-1] * 2  # 39 per split: each rank's share is padded with a repeated id
    table = np.random.default_rng(4).random((4, len(labels)))
    results = {}
    for devices, strategy in ((1, "auto"), (2, "ddp_spawn")):
        out = tmp_path / f"devices{devices}"
        out.mkdir()
        pruning = VoEPruning(interval=2, train_ratio=0.2, val_ratio=0.3)
        trainer = tiny_trainer(
            default_root_dir=out,
            max_epochs=4,
            devices=devices,
            strategy=strategy,
            callbacks=[pruning, WriteRankResult(out)],
        )
        trainer.fit(ScriptedErrors(table), _data(labels, batch_size=4))
        results[devices] = [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]
    single = results[1][0]
    assert sum(len(e["removed"]) for e in single["history"]) > 10
    assert results[2][0] == single and results[2][1] == single


def test_ddp_with_darts_keeps_identical_active_sets_on_every_rank(tmp_path, tiny_trainer):
    seed_everything(0)
    x = torch.rand(48, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(48) % 4
    pruning = VoEPruning(interval=2, train_ratio=0.2, val_ratio=0.3)
    trainer = tiny_trainer(
        max_epochs=3,
        devices=2,
        strategy="ddp_spawn",
        limit_val_batches=1,
        callbacks=[pruning, SearchCost(dirpath=str(tmp_path)), WriteRankResult(tmp_path)],
    )
    trainer.fit(DARTS(space_options=TINY, num_classes=4), ArraySearchDataModule(x, y, batch_size=4))
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert rank0 == rank1
    assert len(rank0["train"]) < 24 and len(rank0["val"]) < 24
    cost = json.loads((tmp_path / "search_cost.json").read_text())
    assert cost["epochs"] == 3 and 0 < cost["data_fraction"] < 1
    assert trainer.callback_metrics["cost/train_samples"].item() == cost["train_samples"]


# --------------------------------------------------------------------------------------------------------------------
# resume and state
# --------------------------------------------------------------------------------------------------------------------
class InterruptAfterEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


@pytest.mark.parametrize("interrupt_after", [0, 2])
def test_resume_mid_window_gives_the_same_pruned_ids_and_genotype(tmp_path, tiny_trainer, interrupt_after):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 3, 8, 8, generator=g), torch.arange(48) % 4

    def run(ckpt_path=None, callbacks=()):
        seed_everything(7)
        model = DARTS(space_options=TINY, num_classes=4)
        datamodule = ArraySearchDataModule(x, y, batch_size=8)
        pruning, cost = VoEPruning(interval=2, train_ratio=0.2, val_ratio=0.3), SearchCost()
        trainer = tiny_trainer(
            max_epochs=4,
            limit_val_batches=1,
            enable_checkpointing=True,
            callbacks=[pruning, cost, *callbacks],
        )
        trainer.fit(model, datamodule, ckpt_path=ckpt_path)
        return model, datamodule, pruning, cost

    full = run()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    run(callbacks=[checkpoint, InterruptAfterEpoch(interrupt_after)])
    last = tmp_path / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)  # the callbacks' state is plain types and tensors
    assert any(key.startswith("VoEPruning") for key in saved["callbacks"])
    seed_everything(123)  # a different global RNG state must not matter
    resumed = run(ckpt_path=str(last))
    assert resumed[2].history == full[2].history and len(full[2].history) == 4
    for split in ("train", "val"):
        assert resumed[1].active_ids(split).tolist() == full[1].active_ids(split).tolist()
    assert str(resumed[0].genotype()) == str(full[0].genotype())
    for a, b in zip(full[0].arch_parameters(), resumed[0].arch_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for key in ("cost/train_samples", "cost/val_samples", "cost/train_passes", "cost/epochs", "cost/data_fraction"):
        assert resumed[3].summary()[key] == full[3].summary()[key]


def test_two_pruning_callbacks_have_distinct_state_keys():
    assert VoEPruning().state_key != VoEPruning(train_ratio=0.05, val_ratio=0.25).state_key
    assert VoEPruning().state_key == VoEPruning().state_key


# --------------------------------------------------------------------------------------------------------------------
# drop-in with the DARTS family
# --------------------------------------------------------------------------------------------------------------------
METHODS = {
    "darts-1": lambda: DARTS(space_options=TINY, num_classes=4, order=1),
    "darts-2": lambda: DARTS(space_options=TINY, num_classes=4, order=2),
    "pcdarts": lambda: PCDARTS(search_space="nasbench201", space_options=TINY, num_classes=4, arch_warmup_epochs=0),
    "betadarts": lambda: BetaDARTS(search_space="nasbench201", space_options=TINY, num_classes=4, lambda_epochs=1),
    # one stage: a stage boundary restarts the VoE window (see the P-DARTS tests below)
    "pdarts": lambda: PDARTS(
        search_space="nasbench201",
        space_options={"C": 4},
        num_classes=4,
        stage_epochs=[2],
        stage_layers=[1],
        stage_ops=[5],
        skip_dropout=[0.1],
        arch_warmup_epochs=0,
    ),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_drop_in_with_every_darts_family_method(tiny_trainer, name):
    seed_everything(0)
    x, y = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 4
    pruning, cost = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.25), SearchCost()
    datamodule = ArraySearchDataModule(x, y, batch_size=8)
    tiny_trainer(max_epochs=2, callbacks=[pruning, cost]).fit(METHODS[name](), datamodule)
    assert [len(e["removed"]) for e in pruning.history] == [4, 4]
    assert len(datamodule.active_ids("train")) == len(datamodule.active_ids("val")) == 12
    passes = 4 if name == "darts-2" else 1
    summary = cost.summary()
    assert summary["cost/train_samples"] == summary["cost/val_samples"] == 2 * 16
    assert summary["cost/train_passes"] == passes * 32 and summary["cost/val_passes"] == 32


# --------------------------------------------------------------------------------------------------------------------
# supernet resets: the VoE window restarts at a P-DARTS stage boundary
# --------------------------------------------------------------------------------------------------------------------
def _pdarts_two_stages(stage_epochs=(3, 2)):
    return PDARTS(
        search_space="nasbench201",
        space_options={"C": 4},
        num_classes=4,
        stage_epochs=list(stage_epochs),
        stage_layers=[1, 1],
        stage_ops=[5, 3],
        skip_dropout=[0.1, 0.2],
        arch_warmup_epochs=0,
    )


class RecordErrors(Callback):
    """Every epoch's per-sample errors over the pool (nan where a sample has no record) and the module's stage."""

    def __init__(self, pool):
        self.pool = pool
        self.errors, self.stages = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.errors.append(np.full(self.pool, np.nan, dtype=np.float32))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for split in ("train", "val"):
            if split in outputs:
                ids = outputs[split]["ids"].cpu().numpy()
                self.errors[-1][ids] = outputs[split]["el2n"].cpu().numpy()

    def on_train_epoch_end(self, trainer, pl_module):
        self.stages.append(pl_module.search_stage)


def test_pdarts_stage_boundary_restarts_the_voe_window(tiny_trainer, monkeypatch):
    seed_everything(0)
    scored = []  # (active ids, window rows) of every VoE computed, in order (train then val at each pruning)
    datamodule = ArraySearchDataModule(
        torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 4, batch_size=8
    )

    real_voe = voe_pruning.voe

    def spy(rows):
        split = SPLITS[len(scored) % 2]
        scored.append((datamodule.active_ids(split).copy(), np.array(rows)))
        return real_voe(rows)

    monkeypatch.setattr(voe_pruning, "voe", spy)
    recorder = RecordErrors(pool=32)
    pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.25)
    tiny_trainer(max_epochs=5, callbacks=[pruning, recorder]).fit(_pdarts_two_stages((3, 2)), datamodule)
    assert recorder.stages == [0, 0, 0, 1, 1]
    # stage 0: windows {0, 1} (pruned) and {2} (cut short by the boundary); stage 1: {3, 4} (pruned)
    assert [(e["epoch"], e["split"]) for e in pruning.history] == [(1, "train"), (1, "val"), (4, "train"), (4, "val")]
    assert len(scored) == 4
    for (active, rows), epochs in zip(scored, ([0, 1], [0, 1], [3, 4], [3, 4])):
        # every window column is one epoch's records of the active samples, all from one stage
        expected = np.stack([recorder.errors[e][active] for e in epochs], axis=1)
        np.testing.assert_array_equal(np.sort(rows, axis=1), np.sort(expected, axis=1))
        assert not np.isnan(rows).any()


class StageFromTable(ScriptedErrors):
    """Scripted errors with a ``search_stage`` that changes at ``boundary`` (a supernet reset)."""

    def __init__(self, table, boundary):
        super().__init__(table)
        self.boundary = boundary

    @property
    def search_stage(self):
        return int(self.current_epoch >= self.boundary)


def test_a_search_stage_change_drops_the_earlier_records_of_the_window(tiny_trainer, caplog):
    table = np.random.default_rng(8).random((7, len(LABELS)))
    table[2] += 100.0  # epoch 2, the last of stage 0: in the window of epoch 3 it would dominate every VoE
    pruning = VoEPruning(interval=2, train_ratio=0.2, val_ratio=0.2)
    datamodule = _data(LABELS)
    with caplog.at_level(logging.INFO):
        tiny_trainer(max_epochs=7, callbacks=[pruning]).fit(StageFromTable(table, boundary=3), datamodule)
    # stage 0 prunes at epoch 1; stage 1 from epoch 3 on prunes at epochs 4 and 6, on its own epochs only
    ratios = {"train": 0.2, "val": 0.2}
    first, after = _reference(table[:2], LABELS, {"train": range(40), "val": range(40, 80)}, 2, 2, ratios, n=3)
    rest, _ = _reference(table[3:], LABELS, after, 4, 2, ratios, n=3)
    expected = first + [(epoch + 3, split, removed) for epoch, split, removed in rest]
    assert _observed(pruning) == expected
    assert "epoch 3: `search_stage` changed from 0 to 1" in caplog.text and "records of epochs [2, 3)" in caplog.text


@pytest.mark.parametrize("interrupt_after", [2, 3])
def test_resume_across_a_stage_boundary_prunes_as_the_uninterrupted_run(tmp_path, tiny_trainer, interrupt_after):
    # after epoch 2 the window holds stage 0's last epoch only; after epoch 3 it holds stage 1's first epoch only
    x, y = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 4

    def run(ckpt_path=None, callbacks=()):
        seed_everything(3)
        datamodule = ArraySearchDataModule(x, y, batch_size=8)
        pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.25)
        trainer = tiny_trainer(max_epochs=5, enable_checkpointing=True, callbacks=[pruning, *callbacks])
        trainer.fit(_pdarts_two_stages((3, 2)), datamodule, ckpt_path=ckpt_path)
        return datamodule, pruning

    full = run()
    run(callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True), InterruptAfterEpoch(interrupt_after)])
    last = tmp_path / "ckpt" / "last.ckpt"
    state = next(v for k, v in torch.load(last, weights_only=True)["callbacks"].items() if k.startswith("VoEPruning"))
    assert state["search_stage"] == (0 if interrupt_after == 2 else 1)
    assert state["window_start"] == (2 if interrupt_after == 2 else 3)
    resumed = run(ckpt_path=str(last))
    assert resumed[1].history == full[1].history and [e["epoch"] for e in full[1].history] == [1, 1, 4, 4]
    for split in SPLITS:
        assert resumed[0].active_ids(split).tolist() == full[0].active_ids(split).tolist()


def test_a_search_stage_that_is_not_an_int_is_rejected(tiny_trainer):
    class BadStage(ScriptedErrors):
        search_stage = "first"

    with pytest.raises(TypeError, match="`BadStage.search_stage`.*must be an int \\(or None\\). Got 'first'"):
        tiny_trainer(callbacks=[VoEPruning()]).fit(BadStage(np.zeros((6, 80))), _data(LABELS))


# --------------------------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            {"train_ratio": 1.5},
            "`VoEPruning\\(train_ratio=1.5\\)`: `train_ratio` must be a number in \\[0, 1\\). Got 1.5 instead.",
        ),
        ({"val_ratio": -0.1}, "`val_ratio` must be a number in \\[0, 1\\). Got -0.1"),
        ({"val_ratio": 1.0}, "`val_ratio` must be a number in \\[0, 1\\)"),
        ({"train_ratio": True}, "`train_ratio` must be a number in \\[0, 1\\)"),
        ({"interval": 1}, "`interval` must be an integer >= 2"),
        ({"interval": 2.5}, "`interval` must be an integer"),
        ({"criterion": "low"}, "`criterion` must be one of"),
        ({"class_balance": "yes"}, "`class_balance` must be a bool"),
        ({"num_prunings": -1}, "`num_prunings` must be an integer >= 0"),
        ({"filename": "a/b.json"}, "`filename` must be a plain file name"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        VoEPruning(**kwargs)


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="`name` must be one of"):
        VoEPruning.from_preset("fast")


def test_a_module_without_per_sample_outputs_gets_a_clear_error(tiny_trainer):
    table = np.zeros((2, len(LABELS)))
    with pytest.raises(
        TypeError,
        match="`LossOnly.training_step` returned a dict with keys \\['loss'\\]. It must return a dict with.*'el2n'",
    ):
        tiny_trainer(max_epochs=2, callbacks=[VoEPruning()]).fit(LossOnly(table), _data(LABELS))


def test_malformed_per_sample_entries_get_a_clear_error(tiny_trainer):
    class NoErrors(ScriptedErrors):
        def training_step(self, batch, batch_idx):
            outputs = super().training_step(batch, batch_idx)
            outputs["train"] = {"ids": batch["train"][2]}
            return outputs

    with pytest.raises(TypeError, match="under 'train'.*'el2n'"):
        tiny_trainer(callbacks=[VoEPruning()]).fit(NoErrors(np.zeros((6, 80))), _data(LABELS))


def test_a_data_module_that_cannot_remove_ids_is_rejected(tiny_trainer):
    loader = DataLoader(TensorDataset(torch.rand(8, 1)), batch_size=4)
    with pytest.raises(TypeError, match="needs one with `active_ids\\(split\\)` and `remove_ids\\(split, ids\\)`"):
        tiny_trainer(callbacks=[VoEPruning()]).fit(ScriptedErrors(np.zeros((6, 8))), train_dataloaders=loader)


def test_ids_outside_the_pool_are_rejected(tiny_trainer):
    class WrongIds(ScriptedErrors):
        def training_step(self, batch, batch_idx):
            outputs = super().training_step(batch, batch_idx)
            outputs["train"]["ids"] = outputs["train"]["ids"] + 1000
            return outputs

    with pytest.raises(ValueError, match="ids outside the pool \\[0, 80\\)"):
        tiny_trainer(callbacks=[VoEPruning()]).fit(WrongIds(np.zeros((6, 80))), _data(LABELS))


def test_an_unbounded_search_needs_the_number_of_prunings(tiny_trainer):
    with pytest.raises(ValueError, match="Set max_epochs or pass `num_prunings`"):
        tiny_trainer(max_epochs=-1, max_steps=4, callbacks=[VoEPruning()]).fit(
            ScriptedErrors(np.zeros((6, 80))), _data(LABELS)
        )
