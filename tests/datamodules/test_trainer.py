"""SearchDataModule inside a real Trainer: removals between epochs, exact resume, DDP with 2 CPU processes."""

import functools
import json

import pytest
import torch
from lightning import Callback, LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_nas.datamodules import ArraySearchDataModule


class Recorder(LightningModule):
    """Records what each epoch's batches hold: ids of both splits and a checksum of the augmented images."""

    def __init__(self, out=None):
        super().__init__()
        self.layer = torch.nn.Linear(3 * 8 * 8, 4)
        self.out = out
        self.seen = {}
        self.validated = []

    def training_step(self, batch, batch_idx):
        record = self.seen.setdefault(self.current_epoch, [])
        for split in ("train", "val"):
            x, y, ids = batch[split]
            record.append((split, ids.tolist(), y.tolist(), round(float(x.double().sum()), 6)))
        return self.layer(batch["train"][0].flatten(1)).logsumexp(1).mean()

    def validation_step(self, batch, batch_idx):
        self.validated.append((self.current_epoch, batch[2].tolist()))

    def on_train_end(self):
        if self.out is not None:
            with open(self.out / f"rank{self.global_rank}.json", "w") as f:
                json.dump({"seen": self.seen, "validated": self.validated}, f)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class RemoveAfterFirstEpoch(Callback):
    """Removes fixed ids at the end of epoch 0 (the same on every rank)."""

    def __init__(self, train_ids, val_ids):
        self.train_ids, self.val_ids = train_ids, val_ids

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 0:
            trainer.datamodule.remove_ids("train", self.train_ids)
            trainer.datamodule.remove_ids("val", self.val_ids)


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g), torch.arange(n) % 4


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py): three epochs, no sanity validation by default."""
    return functools.partial(tiny_trainer, max_epochs=3, num_sanity_val_steps=0)


def _ids(records, split):
    return [i for s, ids, _, _ in records if s == split for i in ids]


def test_removal_at_epoch_end_applies_from_the_next_epoch_in_a_real_fit(tiny_trainer):
    model = Recorder()
    dm = ArraySearchDataModule(*_data(), batch_size=8, split="contiguous", seed=0)
    remove = RemoveAfterFirstEpoch(list(range(0, 32, 2)), [33, 40, 63])
    trainer = tiny_trainer(callbacks=[remove])
    trainer.fit(model, dm)
    assert sorted(_ids(model.seen[0], "train")) == list(range(32))
    assert sorted(_ids(model.seen[0], "val")) == list(range(32, 64))
    for epoch in (1, 2):
        assert sorted(_ids(model.seen[epoch], "train")) == list(range(1, 32, 2))
        val = _ids(model.seen[epoch], "val")
        assert len(val) == 16 and not {33, 40, 63} & set(val)
    assert trainer.num_training_batches == 2
    assert trainer.reload_dataloaders_every_n_epochs == 1  # switched on by the removal, so Lightning recounts
    # validation (the architecture split, eval transform) ran at the end of every epoch, on the active ids
    validated = {e: sorted(i for epoch, ids in model.validated if epoch == e for i in ids) for e in range(3)}
    assert validated[0] == list(range(32, 64))
    assert validated[1] == validated[2] == sorted(set(range(32, 64)) - {33, 40, 63})
    assert dm.removed_ids("train").tolist() == list(range(0, 32, 2))


def test_removal_with_a_sparse_reload_interval_warns_and_removal_before_fit_changes_nothing(tiny_trainer):
    dm = ArraySearchDataModule(*_data(), batch_size=8, split="contiguous", seed=0)
    dm.setup()
    dm.remove_ids("train", [5])  # before fit: the loaders are built afterwards, nothing to recount
    trainer = tiny_trainer(
        callbacks=[RemoveAfterFirstEpoch([6], [40])], max_epochs=2, reload_dataloaders_every_n_epochs=2
    )
    assert trainer.reload_dataloaders_every_n_epochs == 2
    with pytest.warns(UserWarning, match="Lightning recounts the batches per epoch only when it reloads"):
        trainer.fit(Recorder(), dm)
    assert trainer.reload_dataloaders_every_n_epochs == 2
    assert dm.removed_ids("train").tolist() == [5, 6]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_from_a_checkpoint_repeats_the_uninterrupted_run(tmp_path, tiny_trainer, num_workers):
    def fit(root, max_epochs, ckpt_path=None):
        model = Recorder()
        dm = ArraySearchDataModule(*_data(), batch_size=8, split="contiguous", seed=0, num_workers=num_workers)
        checkpoint = ModelCheckpoint(dirpath=root, filename="{epoch}", save_top_k=-1)
        remove = RemoveAfterFirstEpoch([1, 2, 3, 30], [50])
        trainer = tiny_trainer(
            callbacks=[remove, checkpoint], default_root_dir=root, max_epochs=max_epochs, enable_checkpointing=True
        )
        trainer.fit(model, dm, ckpt_path=ckpt_path)
        return model, dm

    full, full_dm = fit(tmp_path / "full", 3)
    resumed, resumed_dm = fit(tmp_path / "resumed", 3, ckpt_path=str(tmp_path / "full" / "epoch=0.ckpt"))
    assert sorted(resumed.seen) == [1, 2]
    assert resumed.seen[1] == full.seen[1] and resumed.seen[2] == full.seen[2]
    assert resumed_dm.state_dict() == full_dm.state_dict()
    checkpoint = torch.load(tmp_path / "full" / "epoch=0.ckpt", weights_only=True)
    assert checkpoint["ArraySearchDataModule"]["removed"] == {"train": [1, 2, 3, 30], "val": [50]}


def test_ddp_two_processes_get_equal_disjoint_shares_and_the_same_removals(tmp_path, tiny_trainer):
    n = 50  # 25 weight ids: odd, so one rank gets a wrapped-around duplicate
    model = Recorder(out=tmp_path)
    dm = ArraySearchDataModule(*_data(n), batch_size=4, split="contiguous", seed=0)
    remove = RemoveAfterFirstEpoch([0, 1, 2], [49])
    trainer = tiny_trainer(callbacks=[remove], strategy="ddp_spawn", devices=2, max_epochs=2)
    trainer.fit(model, dm)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for epoch, train_ids in (("0", set(range(25))), ("1", set(range(3, 25)))):
        per_rank = [ranks[r]["seen"][epoch] for r in (0, 1)]
        assert len(per_rank[0]) == len(per_rank[1])  # same number of steps on both ranks
        train = [_ids(records, "train") for records in per_rank]
        assert len(train[0]) == len(train[1]) == -(-len(train_ids) // 2)
        assert set(train[0]) | set(train[1]) == train_ids
        assert len(set(train[0]) & set(train[1])) <= 1
        val = [i for records in per_rank for i in _ids(records, "val")]
        assert set(val) <= set(range(25, n)) - ({49} if epoch == "1" else set())
    validated = [i for r in (0, 1) for epoch, ids in ranks[r]["validated"] if epoch == 1 for i in ids]
    assert set(validated) == set(range(25, 49))
