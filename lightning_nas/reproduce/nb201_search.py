"""One search of the NAS-Bench-201 supernet on a search data module, the derived cell looked up in the table.

The shared step of the reproduction tables that search the NAS-Bench-201 space and read the derived cell's
200-epoch test accuracy from the built-in NAS-Bench-201 table instead of retraining it (proxy data Table 1, the
core-set tables): a plain ``lightning.Trainer`` fits the given search module on the given data module (the
supernet's validation loop off), :class:`~lightning_nas.callbacks.SearchCost` accounts for the cost, and the
genotype is looked up. A diverged search (a non-finite loss or α, :class:`~lightning_nas.methods.DivergenceError`
during the search or when deriving the genotype) gives no genotype and says why in the notes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.callbacks import SearchCost
from lightning_nas.methods import DivergenceError

__all__ = ["NB201_DATASETS", "NB201Search", "search_nb201"]

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
"""The data sets of the NAS-Bench-201 table."""


@dataclass
class NB201Search:
    """What :func:`search_nb201` gave.

    Attributes:
        genotype: the derived cell (its NAS-Bench-201 string), ``None`` when the search diverged.
        metrics: the 200-epoch test accuracy (%) of the cell per requested data set (``None``: not available).
        cost: ``time_s`` (wall time of ``fit``), ``samples`` (samples drawn from both splits), ``data_fraction``
            (samples drawn / (epochs x the pool)), ``final_data_fraction`` (active ids at the end / the pool) and the
            ``SearchCost`` summary as ``search_cost/<key>``; the pool is ``pool_size``, by default the active ids at
            the start of fit.
        notes: remarks (a diverged search, a cell missing from the table).
        start_pool: active ids of both splits at the start of fit.
        end_pool: active ids of both splits at the end of fit (fewer when a pruning callback ran).
    """

    genotype: str | None
    metrics: dict[str, float | None]
    cost: dict[str, float]
    notes: list[str] = field(default_factory=list)
    start_pool: int = 0
    end_pool: int = 0


def _active(datamodule: Any) -> int:
    """Active ids of both splits."""
    return sum(len(datamodule.active_ids(split)) for split in ("train", "val"))


class _ActivePool(Callback):
    """Active ids of both splits at the start of fit."""

    def __init__(self) -> None:
        self.start = 0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.start = _active(trainer.datamodule)


def search_nb201(
    model: LightningModule,
    datamodule: Any,
    *,
    epochs: int,
    run_dir: str | Path,
    limit_train_batches: int | float | None = None,
    accelerator: str = "auto",
    callbacks: Sequence[Callback] = (),
    datasets: Sequence[str] = NB201_DATASETS,
    label: str = "",
    pool_size: int | None = None,
) -> NB201Search:
    """Fit ``model`` (a NAS-Bench-201 search module, e.g. ``DARTS(search_space="nasbench201", order=1)``) on
    ``datamodule`` for ``epochs`` and look the derived cell up in ``NASBench201Table.default()``.

    Seed before calling (``lightning.seed_everything``): the function does not. ``SearchCost`` writes
    ``search_cost.json`` into ``run_dir``.

    Args:
        model: the search module; its ``genotype()`` must give a NAS-Bench-201 cell.
        datamodule: the search data module (a wrapper such as a subset selection is set up by the Trainer).
        epochs: search epochs.
        run_dir: the run's folder (created).
        limit_train_batches: paired batches per epoch (``None``: all).
        accelerator: the Lightning accelerator.
        callbacks: further callbacks (e.g. a pruning callback).
        datasets: the table's data sets to look up (:data:`NB201_DATASETS`).
        label: prefixes the notes (e.g. ``"seed 0"``).
        pool_size: the whole pool a selection was drawn from, the denominator of the data fractions (``None``: the
            active pool at the start of fit).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cost = SearchCost(dirpath=str(run_dir))
    pool = _ActivePool()
    trainer = Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=epochs,
        limit_train_batches=limit_train_batches,
        limit_val_batches=0,  # the supernet's validation loop plays no part in the search
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cost, pool, *callbacks],
        default_root_dir=str(run_dir),
    )
    prefix = f"{label}: " if label else ""
    notes: list[str] = []
    genotype: str | None = None
    started = time.perf_counter()
    try:  # a diverged search is a result of the row (no genotype), not the end of the table
        trainer.fit(model, datamodule)
        genotype = str(model.genotype())
    except DivergenceError as err:
        notes.append(f"{prefix}no genotype: {err}")
    wall = time.perf_counter() - started
    end = _active(datamodule) if pool.start else 0  # also after a divergence (no on_train_end then)
    metrics: dict[str, float | None] = dict.fromkeys(datasets)
    if genotype is not None:
        table = NASBench201Table.default()
        for key in datasets:
            try:
                metrics[key] = table.test_accuracy(genotype, dataset=key)
            except (KeyError, ValueError) as err:
                notes.append(f"{prefix}no {key} accuracy in the NAS-Bench-201 table: {err}")
    summary = {key.removeprefix("cost/"): value for key, value in cost.summary().items()}
    drawn = summary["train_samples"] + summary["val_samples"]
    done_epochs = summary["epochs"] or 1.0
    whole = pool.start if pool_size is None else pool_size
    cost_values = {
        "time_s": wall,
        "samples": drawn,
        "data_fraction": drawn / (done_epochs * whole) if whole else 0.0,
        "final_data_fraction": end / whole if whole else 0.0,
        **{f"search_cost/{key}": float(value) for key, value in summary.items()},
    }
    return NB201Search(genotype, metrics, cost_values, notes, start_pool=pool.start, end_pool=end)
