import pytest
import torch

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.callbacks import BenchmarkAccuracy
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def _write_table(path, rows):
    lines = [
        "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,"
        "ArchitectureString,UniqueString"
    ]
    lines += [f"{c10},{c100},{im},{arch},x" for arch, (c10, c100, im) in rows.items()]
    path.write_text("\n".join(lines) + "\n")


def _fit(callback, tiny_trainer, cell=CELL):
    """Two epochs of a tiny DARTS search whose genotype stays ``cell``; returns the trainer."""
    model = DARTS(space_options={"C": 4, "N": 1}, num_classes=4, arch_warmup_epochs=10)  # alpha stays as set
    chosen = [OPS.index(part.split("~")[0]) for part in cell.split("|") if "~" in part]
    with torch.no_grad():
        alpha = model.arch_parameters()[0]
        alpha.zero_()
        alpha[torch.arange(6), torch.tensor(chosen)] = 1.0
    assert str(model.genotype()) == cell
    x, y = torch.rand(32, 3, 8, 8), torch.arange(32) % 4
    trainer = tiny_trainer(max_epochs=2, callbacks=[callback], limit_val_batches=0)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    return trainer


def test_logs_the_looked_up_accuracy_of_the_current_genotype(tmp_path, tiny_trainer):
    table = tmp_path / "table.csv"
    _write_table(table, {CELL: (94.37, 73.51, 47.31)})
    callback = BenchmarkAccuracy(str(table), datasets=("cifar10", "cifar100"))
    trainer = _fit(callback, tiny_trainer)
    assert callback.history == [{"cifar10": 94.37, "cifar100": 73.51}] * 2
    assert trainer.callback_metrics["search/benchmark_acc_cifar10"].item() == pytest.approx(94.37)
    assert trainer.callback_metrics["search/benchmark_acc_cifar100"].item() == pytest.approx(73.51)


def test_without_a_table_logs_the_built_in_ground_truth(tiny_trainer):
    callback = BenchmarkAccuracy(datasets=("cifar10", "imagenet16-120"))
    assert callback.table_path is None and callback.table is None  # nothing is read before setup
    trainer = _fit(callback, tiny_trainer)
    assert callback.table is NASBench201Table.default()
    # NATS-Bench's 200-epoch test accuracies of the best CIFAR-10 cell, bit for bit
    assert callback.history == [{"cifar10": 94.37333333333333, "imagenet16-120": 46.71111101277669}] * 2
    assert trainer.callback_metrics["search/benchmark_acc_cifar10"].item() == pytest.approx(94.37, abs=5e-3)
    assert trainer.callback_metrics["search/benchmark_acc_imagenet16-120"].item() == pytest.approx(46.71, abs=5e-3)


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="datasets=\\['mnist'\\]"):
        BenchmarkAccuracy("table.csv", datasets=("mnist",))
