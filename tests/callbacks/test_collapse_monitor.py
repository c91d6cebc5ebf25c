"""CollapseMonitor: counts equal the genotype's, the stop fires at the threshold (>=), logging, resume, bad input."""

import json
from dataclasses import dataclass

import pytest
import torch
from lightning import LightningModule, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_nas.callbacks import CollapseMonitor, GenotypeExport
from lightning_nas.callbacks.collapse_monitor import (
    PARAMETER_FREE_OPS,
    count_ops,
    genotype_ops,
)
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.spaces import DARTSGenotype, NASBench201Genotype

DARTS_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('avg_pool_3x3', 1), ('skip_connect', 0), ('max_pool_3x3', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def nb201(num_skip):
    """A NAS-Bench-201 cell with `num_skip` skip connections, the other edges nor_conv_3x3."""
    return NASBench201Genotype.from_ops(["skip_connect"] * num_skip + ["nor_conv_3x3"] * (6 - num_skip))


@dataclass(frozen=True)
class Path:
    choices: tuple
    space = "mobilenet"


class Scripted(LightningModule):
    """Trains one weight; `genotype()` returns the scripted genotype of the current epoch."""

    def __init__(self, genotypes, arch_from=0):
        super().__init__()
        self.genotypes = genotypes
        self.arch_from = arch_from
        self.weight = nn.Parameter(torch.zeros(1))

    def genotype(self):
        return self.genotypes[self.current_epoch]

    def arch_update_enabled(self):
        return self.current_epoch >= self.arch_from

    def training_step(self, batch, batch_idx):
        return (self.weight - batch[0].mean()).pow(2)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.rand(4, 1)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# ------------------------------------------------------------------------------------------------------- counting
def test_counts_match_the_genotype_in_every_space():
    darts = DARTSGenotype.from_string(DARTS_TEXT)
    assert count_ops(darts, cell="normal") == 2
    assert count_ops(darts, cell="reduce") == 3
    assert count_ops(darts) == 5
    assert count_ops(darts, PARAMETER_FREE_OPS["darts"], cell="normal") == 4  # 2 skip + avg + max
    assert count_ops(darts, PARAMETER_FREE_OPS["darts"], cell="reduce") == 8
    assert genotype_ops(darts, "normal") == [op for op, _ in darts.normal]
    g = NASBench201Genotype.from_ops(["skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none"])
    assert count_ops(g) == 2
    assert count_ops(g, PARAMETER_FREE_OPS["nasbench201"]) == 5
    assert count_ops(g, ["nor_conv_1x1", "nor_conv_3x3"], cell="normal") == 1  # one cell: `cell` does not apply
    path = Path(("k3e3", "id", "k5e6", "id"))
    assert count_ops(path) == 2 and count_ops(path, ["k5e6"]) == 1


def test_counting_errors():
    g = nb201(2)
    with pytest.raises(ValueError, match=r"\['skip'\] are not operations of the 'nasbench201' space"):
        count_ops(g, ["skip"])
    with pytest.raises(ValueError, match="non-empty sequence"):
        count_ops(g, [])
    with pytest.raises(ValueError, match="non-empty sequence"):
        count_ops(g, "skip_connect")
    with pytest.raises(TypeError, match="expected a genotype"):
        count_ops("|skip_connect~0|+...")
    with pytest.raises(ValueError, match="`cell` must be 'normal', 'reduce' or None"):
        genotype_ops(DARTSGenotype.from_string(DARTS_TEXT), "other")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ops": []}, "`ops` must be a non-empty sequence"),
        ({"ops": "skip_connect"}, "`ops` must be a non-empty sequence"),
        ({"ops": ["skip_connect"], "parameter_free": True}, "either `ops` or `parameter_free=True`"),
        ({"threshold": 0}, "`threshold` must be an integer >= 1 or None"),
        ({"threshold": 1.5}, "`threshold` must be an integer >= 1 or None"),
        ({"cell": ""}, "`cell` must be a cell's name"),
        ({"cell": 3}, "`cell` must be a cell's name"),
        ({"stop": "yes"}, "`stop` must be a bool"),
        ({"start_epoch": -1}, "`start_epoch` must be an integer >= 0"),
        ({"parameter_free": 1}, "`parameter_free` must be a bool"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CollapseMonitor(**kwargs)


def test_module_without_genotype_fails_at_setup(tiny_trainer):
    class NoGenotype(Scripted):
        genotype = None

    with pytest.raises(TypeError, match="has no `genotype\\(\\)` method"):
        tiny_trainer(callbacks=[CollapseMonitor()], max_epochs=1).fit(NoGenotype([]))


class DownUpGenotype(DARTSGenotype):
    """A DARTS genotype whose cells are named as a user's two-cell space might name them: "down" and "up"."""

    def edges(self):
        return tuple(edge._replace(cell={"normal": "down", "reduce": "up"}[edge.cell]) for edge in super().edges())


def test_a_space_with_its_own_cell_names_is_counted_per_cell(tiny_trainer):
    genotype = DownUpGenotype.from_string(DARTS_TEXT)  # 2 skips in "down" (the normal cell), 3 in "up"
    assert genotype.cells() == ("down", "up")
    assert count_ops(genotype, cell="down") == 2 and count_ops(genotype, cell="up") == 3
    up = CollapseMonitor(threshold=3, cell="up")
    trainer = tiny_trainer(callbacks=[up], max_epochs=2)
    trainer.fit(Scripted([genotype, genotype]))
    assert up.history == {0: 3} and up.stopped_epoch == 0
    down = CollapseMonitor(threshold=3, cell="down")
    tiny_trainer(callbacks=[down], max_epochs=2).fit(Scripted([genotype, genotype]))
    assert down.history == {0: 2, 1: 2} and down.stopped_epoch is None


def test_a_cell_the_genotype_lacks_stops_the_fit_before_the_first_step(tiny_trainer):
    genotype = DownUpGenotype.from_string(DARTS_TEXT)
    monitor = CollapseMonitor(cell="normal")  # the default, but this space names its cells "down" and "up"
    trainer = tiny_trainer(callbacks=[monitor], max_epochs=1)
    with pytest.raises(
        ValueError,
        match=r"`CollapseMonitor\(cell='normal'\)`: the searched genotype has the cells "
        r"'down', 'up'; `cell` must be one of them or None",
    ):
        trainer.fit(Scripted([genotype]))
    assert trainer.global_step == 0 and monitor.history == {}
    one_cell = CollapseMonitor(cell="up")  # a one-cell space counts in its cell whatever `cell` says
    tiny_trainer(callbacks=[one_cell], max_epochs=1).fit(Scripted([nb201(2)]))
    assert one_cell.history == {0: 2}


# ---------------------------------------------------------------------------------------------------- early stop
@pytest.mark.parametrize(("threshold", "stop_epoch"), [(2, 2), (3, 4), (4, None)])
def test_stop_fires_at_the_first_epoch_whose_count_reaches_the_threshold(tiny_trainer, threshold, stop_epoch):
    counts = [0, 1, 2, 2, 3, 1]
    monitor = CollapseMonitor(threshold=threshold)
    trainer = tiny_trainer(callbacks=[monitor], max_epochs=len(counts))
    trainer.fit(Scripted([nb201(c) for c in counts]))
    last = len(counts) - 1 if stop_epoch is None else stop_epoch
    assert monitor.history == {e: counts[e] for e in range(last + 1)}
    assert monitor.stopped_epoch == stop_epoch == monitor.reached_epoch
    assert trainer.current_epoch == last + 1  # the epochs that ran
    assert trainer.callback_metrics["collapse/count"] == counts[last]
    assert trainer.callback_metrics["collapse/num_skip"] == counts[last]
    assert trainer.callback_metrics["collapse/num_param_free"] == counts[last]


def test_darts_plus_rule_on_the_normal_cell_and_parameter_free_counts(tiny_trainer):
    one_skip = DARTSGenotype.from_string(
        DARTS_TEXT.replace("('skip_connect', 0), ('max_pool", "('sep_conv_5x5', 0), ('max_pool")
    )
    two_skips = DARTSGenotype.from_string(DARTS_TEXT)
    assert count_ops(one_skip, cell="normal") == 1 and count_ops(one_skip, cell="reduce") == 3
    monitor = CollapseMonitor(threshold=2, cell="normal")  # DARTS+
    trainer = tiny_trainer(callbacks=[monitor], max_epochs=4)
    trainer.fit(Scripted([one_skip, one_skip, two_skips, two_skips]))
    assert monitor.history == {0: 1, 1: 1, 2: 2} and monitor.stopped_epoch == 2
    both = CollapseMonitor(threshold=4, cell=None)  # 1 + 3 skips in both cells at epoch 0
    tiny_trainer(callbacks=[both], max_epochs=4).fit(Scripted([one_skip] * 4))
    assert both.stopped_epoch == 0
    free = CollapseMonitor(parameter_free=True, cell="normal")
    trainer = tiny_trainer(callbacks=[free], max_epochs=1)
    trainer.fit(Scripted([two_skips]))
    assert free.history == {0: 4} and trainer.callback_metrics["collapse/num_skip"] == 2


def test_stop_false_start_epoch_and_frozen_architecture_only_record(tiny_trainer):
    counts = [3, 3, 3, 3]
    record = CollapseMonitor(threshold=2, stop=False)
    trainer = tiny_trainer(callbacks=[record], max_epochs=4)
    trainer.fit(Scripted([nb201(c) for c in counts]))
    assert trainer.current_epoch == 4 and record.reached_epoch == 0 and record.stopped_epoch is None
    late = CollapseMonitor(threshold=2, start_epoch=2)
    tiny_trainer(callbacks=[late], max_epochs=4).fit(Scripted([nb201(c) for c in counts]))
    assert late.stopped_epoch == 2
    warmup = CollapseMonitor(threshold=2)
    tiny_trainer(callbacks=[warmup], max_epochs=4).fit(Scripted([nb201(c) for c in counts], arch_from=3))
    assert warmup.stopped_epoch == 3 and warmup.history == {0: 3, 1: 3, 2: 3, 3: 3}


def test_resume_continues_the_history_and_stops_as_the_uninterrupted_run(tmp_path, tiny_trainer):
    counts = [0, 1, 1, 2, 0]
    genotypes = [nb201(c) for c in counts]
    full = CollapseMonitor(threshold=2)
    tiny_trainer(callbacks=[full], max_epochs=5, default_root_dir=tmp_path / "full").fit(Scripted(genotypes))
    first = CollapseMonitor(threshold=2)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    tiny_trainer(callbacks=[first, checkpoint], max_epochs=2, enable_checkpointing=True).fit(Scripted(genotypes))
    resumed = CollapseMonitor(threshold=2)
    trainer = tiny_trainer(callbacks=[resumed], max_epochs=5)
    trainer.fit(Scripted(genotypes), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert resumed.history == full.history == {0: 0, 1: 1, 2: 1, 3: 2}
    assert resumed.stopped_epoch == full.stopped_epoch == 3
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["callbacks"]
    assert any(key.startswith("CollapseMonitor") for key in state)


def test_count_of_a_real_darts_search_matches_the_exported_genotypes(tmp_path, tiny_trainer):
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    datamodule = ArraySearchDataModule(torch.rand(32, 3, 8, 8, generator=g), torch.arange(32) % 4, batch_size=8)
    model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, arch_lr=0.05)
    monitor = CollapseMonitor(parameter_free=True)
    export = GenotypeExport(dirpath=str(tmp_path))
    trainer = tiny_trainer(callbacks=[monitor, export], max_epochs=2, limit_val_batches=0)
    trainer.fit(model, datamodule)
    history = json.loads((tmp_path / "genotype.json").read_text())["history"]
    expected = [count_ops(NASBench201Genotype.from_string(s), PARAMETER_FREE_OPS["nasbench201"]) for s in history]
    assert list(monitor.history.values()) == expected
    assert trainer.callback_metrics["collapse/count"] == expected[-1]


class RankScripted(Scripted):
    """Rank 1 reaches the threshold one epoch before rank 0 (not possible for DARTS, whose ranks are in sync)."""

    def genotype(self):
        return self.genotypes[self.global_rank][self.current_epoch]


def test_ddp_a_stop_on_any_rank_stops_every_rank_and_plots_are_drawn_once(tmp_path, tiny_trainer):
    from lightning_nas.callbacks import SearchPlots

    seed_everything(0)
    counts = {0: [0, 0, 3, 3], 1: [0, 2, 3, 3]}
    model = RankScripted({rank: [nb201(c) for c in cs] for rank, cs in counts.items()})
    datamodule = ArraySearchDataModule(torch.rand(16, 1, 4, 4), torch.arange(16) % 2, batch_size=4, paired=False)
    trainer = tiny_trainer(
        strategy="ddp_spawn",
        devices=2,
        max_epochs=4,
        callbacks=[CollapseMonitor(threshold=2), SearchPlots(arch_weights=False)],
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule)
    # both ranks stopped after epoch 1 (the logged count is the ranks' mean there: (0 + 2) / 2)
    assert trainer.callback_metrics["collapse/count"] == 1.0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["cell.png", "remaining_samples.png"]
