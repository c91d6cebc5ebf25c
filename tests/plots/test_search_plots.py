"""SearchPlots: PNG files and TensorBoard figures from a tiny search, sample counts that follow the pruning, state."""

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning import seed_everything
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from lightning_nas.callbacks import SearchPlots, VoEPruning
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def _search(tiny_trainer, callbacks, logger, max_epochs=3):
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 3
    datamodule = ArraySearchDataModule(torch.rand(48, 3, 8, 8, generator=g), y, batch_size=8, seed=0)
    model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=3, arch_lr=0.05)
    trainer = tiny_trainer(max_epochs=max_epochs, callbacks=callbacks, logger=logger, limit_val_batches=0)
    trainer.fit(model, datamodule)
    return trainer, datamodule


def test_plots_are_written_as_png_and_to_tensorboard_and_follow_the_pruning(tmp_path, tiny_trainer):
    pytest.importorskip("tensorboardX")
    pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.5)
    plots = SearchPlots(every_n_epochs=2, keep_epochs=True)
    logger = TensorBoardLogger(tmp_path, name="tb")
    trainer, datamodule = _search(tiny_trainer, [pruning, plots], logger)
    folder = Path(trainer.log_dir) / "plots"
    names = ("arch_weights", "cell", "remaining_samples")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{n}.png" for n in names] + [f"{n}_epoch{e:03d}.png" for n in names for e in (1, 2)]
    )
    assert all((folder / f"{n}.png").read_bytes()[:8] == PNG for n in names)
    assert plots.files == {n: str(folder / f"{n}.png") for n in names}
    # the figures were sent to TensorBoard at epochs 1 (every 2nd epoch) and 2 (end of fit)
    events = b"".join(p.read_bytes() for p in Path(trainer.log_dir).glob("events.out.tfevents.*"))
    assert all(f"search/{n}".encode() in events for n in names)
    # counts per epoch: what each epoch trained on, the pruning after epoch 1 showing from epoch 2
    counts = plots.sample_counts
    assert sorted(counts) == [0, 1, 2]
    assert counts[0]["train"] == counts[1]["train"] == [24] and counts[0]["val"] == [24]
    assert counts[2]["train"] == [len(datamodule.active_ids("train"))] == [24 - 6]
    assert counts[2]["val"] == [len(datamodule.active_ids("val"))] == [12]
    labels = datamodule.labels
    assert counts[2]["val_classes"] == np.bincount(labels[datamodule.active_ids("val")], minlength=3).tolist()
    assert all(sum(entry[f"{s}_classes"]) == entry[s][0] for entry in counts.values() for s in ("train", "val"))


def test_csv_logger_gets_png_files_only_and_the_counts_survive_a_state_round_trip(tmp_path, tiny_trainer):
    plots = SearchPlots(every_n_epochs=5, arch_weights=False, cell=False)
    trainer, _ = _search(tiny_trainer, [plots], CSVLogger(tmp_path, name="csv"), max_epochs=2)
    folder = Path(trainer.log_dir) / "plots"
    assert [p.name for p in folder.iterdir()] == ["remaining_samples.png"]  # drawn once, at the end of fit
    restored = SearchPlots()
    restored.load_state_dict(plots.state_dict())
    assert restored.sample_counts == plots.sample_counts and sorted(plots.sample_counts) == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every_n_epochs": 0}, "`every_n_epochs` must be an int >= 1"),
        ({"dpi": 0}, "`dpi` must be an int >= 1"),
        ({"cell": "yes"}, "`cell` must be a bool"),
        ({"keep_epochs": 1}, "`keep_epochs` must be a bool"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SearchPlots(**kwargs)


def test_greedynas_search_draws_the_candidate_pool_and_the_mobilenet_path(tmp_path, tiny_trainer):
    from lightning_nas.methods import GreedyNAS

    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    datamodule = ArraySearchDataModule(
        torch.rand(32, 3, 16, 16, generator=g), torch.arange(32) % 4, batch_size=4, paired=False, seed=0
    )
    model = GreedyNAS(
        space_options={"input_size": 16, "width_mult": 0.25, "head_channels": 32},
        num_classes=4,
        num_paths=4,
        keep_paths=2,
        pool_size=6,
        warmup_steps=2,
        surrogate_size=8,
        seed=0,
    )
    plots = SearchPlots(dirpath=str(tmp_path / "plots"))
    trainer = tiny_trainer(callbacks=[plots], limit_val_batches=1)
    with pytest.warns(UserWarning, match="no architecture-weight heatmap"):
        trainer.fit(model, datamodule)
    assert model.candidate_pool
    assert sorted(plots.files) == ["candidate_pool", "cell", "remaining_samples"]
    for path in plots.files.values():
        assert Path(path).read_bytes()[:8] == PNG
