"""Logs the ground-truth accuracy of the current genotype, looked up in a benchmark table."""

from __future__ import annotations

from lightning import Callback, LightningModule, Trainer
from typing_extensions import override

from lightning_nas.benchmarks import NASBench201Dataset, NASBench201Table
from lightning_nas.benchmarks.nasbench201_table import DATASETS


class BenchmarkAccuracy(Callback):
    """Every epoch, looks ``pl_module.genotype()`` up in a NAS-Bench-201 table and logs its test accuracy.

    A search on NAS-Bench-201 is judged this way, without retraining. The value is logged as
    ``search/benchmark_acc_<dataset>`` (one key per dataset) and kept in :attr:`history`. The table is read in
    ``setup``.

    Args:
        table: path of a NATS-Bench / NAS-Bench-201 result CSV (see :meth:`NASBench201Table.from_csv`); ``None``
            uses the table that ships with the package (:meth:`NASBench201Table.default`, NATS-Bench's 200-epoch
            test accuracies of all 15,625 cells).
        datasets: the data sets whose accuracy is logged.

    Raises:
        ValueError: for an unknown data set name.

    Example:
        >>> callback = BenchmarkAccuracy()  # the built-in table
        >>> callback = BenchmarkAccuracy("nats-tss-200epoch-test-accuracy.csv", datasets=("cifar10", "cifar100"))
    """

    def __init__(
        self,
        table: str | None = None,
        datasets: tuple[NASBench201Dataset, ...] | list[NASBench201Dataset] = ("cifar10",),
    ) -> None:
        allowed = DATASETS
        bad = [d for d in datasets if d not in allowed]
        if bad or not datasets:
            raise ValueError(
                f"`BenchmarkAccuracy(datasets={list(datasets)!r})`: each data set must be one of {list(allowed)}."
            )
        self.table_path = table
        self.datasets = tuple(datasets)
        self.table: NASBench201Table | None = None
        self.history: list[dict[str, float]] = []

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.table is None:
            if self.table_path is None:
                self.table = NASBench201Table.default()
            else:
                self.table = NASBench201Table.from_csv(self.table_path)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        genotype = pl_module.genotype()
        scores = {d: self.table.test_accuracy(genotype, dataset=d) for d in self.datasets}
        self.history.append(scores)
        for dataset, accuracy in scores.items():
            pl_module.log(f"search/benchmark_acc_{dataset}", accuracy, on_step=False, on_epoch=True)
