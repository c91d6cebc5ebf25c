"""EcoNAS Table 4 ("Sp"): rank consistency of reduced settings, judged on the NAS-Bench-201 table.

EcoNAS (Zhou et al., CVPR 2020) judges a reduced setting ``c r s e`` (fewer channels, lower resolution, fewer
samples, fewer epochs; Section 3.1, Table 1) by the Spearman ρ between a model zoo's accuracies under the reduced
setting and under the original one (50 random cells of its DARTS-like space, original setting ``c0r0s0e600``).
Table 4 prints this "Sp" for the five settings of its ablation: AmoebaNet's ``c1r0s0e25`` (0.70), ``c4r4s0e35``
(0.74), NASNet's ``c0r0s0e20`` (0.65), ``c3r2s1e60`` (0.79) and EcoNAS's ``c4r4s0e60`` (0.85).

What this table does instead (each row one reduced setting, the paper's figure as printed):

* **Space and "original setting".** The zoo is NAS-Bench-201 cells, not EcoNAS's DARTS-like cells, and the original
  setting is the benchmark's 200-epoch CIFAR-10 test accuracy looked up in the built-in table
  (:func:`~lightning_nas.benchmarks.table_accuracies`, NATS-Bench's figures), not a retraining at ``c0r0s0e600``.
  The network trained under a reduced setting is NAS-Bench-201's skeleton (``N`` cells per stage, 5 in the
  benchmark) with the cell's genotype.
* **The zoo** (:func:`stratified_zoo`): ``K`` cells, one drawn uniformly at random from each of ``K`` equal-count
  strata of the table's cells sorted by their CIFAR-10 accuracy (the strata are quantiles of the table's accuracy
  distribution). The zoo so spreads over the whole range like a random sample does, but without gaps or clumps at
  small ``K``. The seed picks the cells, the held-out split and the training order / initialisation.
* **Channels.** EcoNAS's ladder 36 / 24 / 18 / 12 / 8 (``c0..c4``) starts at the DARTS network's width; the
  NAS-Bench-201 network's own width is 16, so ``c_a`` keeps the same ratio to it: ``C = round(16 x ladder[a] / 36)``
  = 16 / 11 / 8 / 5 / 4 (:data:`NB201_CHANNELS`). Resolution ``r`` (32 / 24 / 16 / 12 / 8) and sample ratio ``s``
  (1 / 0.5 / 0.25 / 0.125) are the paper's (:class:`~lightning_nas.search.ReducedSetting`: images resized after the
  crop, a fixed random fraction ``s`` of the training split, cosine over ``e`` epochs, no drop path, scaled cutout).
* **Epochs.** ``e`` is the paper's epoch count times the scale's ``epoch_scale`` (rounded half up, at least 1), so
  the ratios between rows stay as in the paper: ``cpu`` uses 1/5 (25 -> 5, 35 -> 7, 20 -> 4, 60 -> 12).
* **Data.** Real CIFAR-10 from the JPEG pack (:func:`~lightning_nas.reproduce.data.pack_arrays`), ``images_per_class``
  per class; a stratified ``val_fraction`` of it is held out and the children are scored on it (EcoNAS holds out
  5k of the 50k training images). Every model of the zoo (:func:`~lightning_nas.search.train_model_zoo`) is trained
  from scratch with a plain ``lightning.Trainer``; its accuracy is the one after its last epoch.
* **Metrics.** Spearman ρ (the paper's "Sp"), EcoNAS's tolerant ρ (b = 0.15 accuracy points, PAPERS-SPEC §7.5) and
  Kendall's τ-b, all from :func:`~lightning_nas.benchmarks.rank_consistency`, against the table's accuracies.
* **Cost** per seed run: ``time_s`` (wall time of training the zoo), ``samples`` (images seen in training, all
  models and epochs), ``data_fraction`` (the setting's ``s``).

Scales (:data:`SETTINGS`):

* ``smoke``: K=4, N=1, 30 images per class (60 held out), batch 16, epochs x 1/20 (1 to 3) of at most 4 batches,
  1 seed. Seconds (with fewer steps every model of a setting can score the same, and ρ is undefined).
* ``cpu``: K=20, N=1, 100 images per class (1,000; 200 held out), batch 64, epochs x 1/5 (5 / 7 / 4 / 12 / 12), 3
  seeds. Measured on one thread of a busy 2-core machine, one model: about 2.5 s per epoch at c0r0 / c1r0
  (32 x 32, C = 16 / 11), 0.4 s at c3r2s1, 0.2-0.5 s at c4r4, so about 33 s per model for the five rows and
  3 x 20 x 33 s = 33 min in all.
* ``gpu``: K=50 (the paper's zoo), N=5 (the benchmark's), 1,000 images per class, batch 128, epochs x 1/2, 3 seeds.
* ``paper``: K=50, N=5, the whole training set (5k held out), batch 128, lr 0.1, the paper's epochs, 3 seeds (the
  paper trains one zoo; its official search code uses batch 384 at lr 0.1, on its own network).

The held-out split is small at the small scales (200 images at ``cpu``: accuracies move in steps of 0.5 points),
so the tolerant ρ's b = 0.15 only ties models with equal accuracy there; the table's accuracies themselves are
averages over NAS-Bench-201's seeds.

Nothing here retrains the original setting: a figure near the paper's says that the reduced setting ranks
NAS-Bench-201 cells as their 200-epoch training does, not that EcoNAS's own zoo was reproduced.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from lightning import Callback, LightningModule, Trainer

from lightning_nas.benchmarks import NASBench201Table, rank_consistency, table_accuracies
from lightning_nas.search import ReducedSetting, train_model_zoo
from lightning_nas.search.reduced import CHANNELS
from lightning_nas.spaces import NASBench201Genotype

from .data import TITLES, find_data, missing_data, pack_arrays
from .framework import PaperFigure, ReproductionTable, Row, RunContext, SeedRun

__all__ = ["NB201_CHANNELS", "SETTINGS", "EcoNASRankConsistency", "EcoNASRankSettings", "nb201_setting",
           "stratified_zoo"]  # fmt: skip

NB201_WIDTH = 16
"""NAS-Bench-201's own initial channels (the ``c0`` of this table)."""

NB201_CHANNELS: tuple[int, ...] = tuple(round(NB201_WIDTH * c / CHANNELS[0]) for c in CHANNELS)
"""EcoNAS's channel ladder 36 / 24 / 18 / 12 / 8 at NAS-Bench-201's width: the same ratios to 16: 16, 11, 8, 5, 4."""

TOLERANCE = 0.15
"""EcoNAS's ``b`` of the tolerant Spearman ρ (accuracy points)."""


@dataclass(frozen=True)
class EcoNASRankSettings:
    """The settings of one scale of :class:`EcoNASRankConsistency`.

    Attributes:
        zoo_size: ``K``, the cells of the model zoo (the paper: 50).
        N: NAS-Bench-201 cells per stage of the trained network (the benchmark: 5).
        images_per_class: CIFAR-10 training images per class (``None``: all 5,000).
        val_fraction: the share of them held out, stratified by class, that the models are scored on.
        batch_size: training batch size.
        lr: the cosine's starting learning rate (SGD, momentum 0.9; ends at EcoNAS's 0.001).
        epoch_scale: the paper's epochs are multiplied by it (rounded half up, at least 1).
        limit_train_batches: batches per epoch (``None``: all).
        default_seeds: the seeds run when `--seeds` is not given.
    """

    zoo_size: int
    N: int
    images_per_class: int | None
    val_fraction: float
    batch_size: int
    lr: float
    epoch_scale: float
    limit_train_batches: int | None
    default_seeds: tuple[int, ...]


SETTINGS: dict[str, EcoNASRankSettings] = {
    "smoke": EcoNASRankSettings(zoo_size=4, N=1, images_per_class=30, val_fraction=0.2, batch_size=16, lr=0.05,
                                epoch_scale=0.05, limit_train_batches=4, default_seeds=(0,)),
    "cpu": EcoNASRankSettings(zoo_size=20, N=1, images_per_class=100, val_fraction=0.2, batch_size=64, lr=0.05,
                              epoch_scale=0.2, limit_train_batches=None, default_seeds=(0, 1, 2)),
    "gpu": EcoNASRankSettings(zoo_size=50, N=5, images_per_class=1000, val_fraction=0.1, batch_size=128, lr=0.1,
                              epoch_scale=0.5, limit_train_batches=None, default_seeds=(0, 1, 2)),
    "paper": EcoNASRankSettings(zoo_size=50, N=5, images_per_class=None, val_fraction=0.1, batch_size=128, lr=0.1,
                                epoch_scale=1.0, limit_train_batches=None, default_seeds=(0, 1, 2)),
}  # fmt: skip


def nb201_setting(name: str, epoch_scale: float = 1.0) -> ReducedSetting:
    """The NAS-Bench-201 version of an EcoNAS setting name: channels on :data:`NB201_CHANNELS`, epochs scaled.

    Example:
        >>> nb201_setting("c4r4s0e60"), nb201_setting("c1r0s0e25", epoch_scale=0.1)
        (ReducedSetting(c=4, r=8, s=1.0, e=60), ReducedSetting(c=11, r=32, s=1.0, e=3))
    """
    paper = ReducedSetting.parse(name)
    epochs = max(1, math.floor(paper.e * epoch_scale + 0.5))
    return ReducedSetting(c=NB201_CHANNELS[CHANNELS.index(paper.c)], r=paper.r, s=paper.s, e=epochs)


def stratified_zoo(table: NASBench201Table, k: int, seed: int, dataset: str = "cifar10") -> list[str]:
    """``k`` cells of ``table``, one drawn uniformly from each of ``k`` equal-count accuracy strata.

    The table's cells are sorted by their ``dataset`` accuracy and cut into ``k`` consecutive groups of (nearly) equal
    size (quantiles of the accuracy distribution); one cell is drawn from each with ``numpy.random.default_rng(seed)``.

    Example:
        >>> zoo = stratified_zoo(NASBench201Table.default(), 4, seed=0)
        >>> len(set(zoo)), zoo == stratified_zoo(NASBench201Table.default(), 4, seed=0)
        (4, True)
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= len(table):
        raise ValueError(f"`stratified_zoo(k={k!r})`: `k` must be an int in 2..{len(table)}.")
    cells = _cells_by_accuracy(table, dataset)
    rng = np.random.default_rng(seed)
    return [str(cells[int(rng.choice(stratum))]) for stratum in np.array_split(np.arange(len(cells)), k)]


@functools.lru_cache(maxsize=4)
def _cells_by_accuracy(table: NASBench201Table, dataset: str) -> tuple[NASBench201Genotype, ...]:
    """The table's cells sorted by their ``dataset`` accuracy (stable; a second each, so kept per table)."""
    cells = list(table)
    accuracies = np.array([table.test_accuracy(cell, dataset) for cell in cells])
    return tuple(cells[int(i)] for i in np.argsort(accuracies, kind="stable"))


class _SeenSamples(Callback):
    """Counts the training images seen by every model trained with it."""

    def __init__(self) -> None:
        self.samples = 0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.samples += len(batch[1])


def _row(method: str, setting: str, sp: str, cost: str, note: str) -> Row:
    return Row(method=f"{method} {setting}", dataset="cifar10", paper={"spearman": PaperFigure(sp)},
               paper_cost=cost, options={"setting": setting}, note=note)  # fmt: skip


_NOTE = "NAS-Bench-201 zoo vs the table's 200-epoch accuracies (paper: 50 DARTS-like cells vs c0r0s0e600)"
_ROWS: tuple[Row, ...] = (
    _row("AmoebaNet's", "c1r0s0e25", "0.70", "3150 GPU-days (search, without H.P.)", _NOTE),
    _row("EcoNAS's", "c4r4s0e35", "0.74", "12 GPU-days (search, without H.P.)", _NOTE),
    _row("NASNet's", "c0r0s0e20", "0.65", "21 GPU-days (search, with H.P.)", _NOTE),
    _row("reduced", "c3r2s1e60", "0.79", "12 GPU-days (search, with H.P.)", _NOTE),
    _row("EcoNAS's", "c4r4s0e60", "0.85", "8 GPU-days (search, with H.P.)", _NOTE),
)


class EcoNASRankConsistency(ReproductionTable):
    """EcoNAS Table 4's "Sp": each reduced setting's rank consistency on a NAS-Bench-201 zoo (see the module)."""

    name: ClassVar[str] = "econas-rank"
    title: ClassVar[str] = "EcoNAS Table 4: rank consistency (Spearman) of reduced settings, on NAS-Bench-201"
    reference: ClassVar[str] = (
        "Zhou et al., EcoNAS: Finding Proxies for Economical Neural Architecture Search (CVPR 2020), Table 4 'Sp'; "
        "ours: Spearman ρ between a NAS-Bench-201 zoo trained under the reduced setting and the zoo's 200-epoch "
        "CIFAR-10 test accuracy in the NAS-Bench-201 table"
    )
    metrics: ClassVar[tuple[tuple[str, str], ...]] = (
        ("spearman", "Sp"),
        ("spearman_tolerant", "Sp (b=0.15)"),
        ("kendall", "Kendall τ"),
    )
    rows: ClassVar[tuple[Row, ...]] = _ROWS
    scale_settings: ClassVar[Mapping[str, Any]] = SETTINGS

    def unavailable(self, row: Row, context: RunContext) -> str | None:
        return missing_data(row.dataset, context.data_root, pack=True)

    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        settings: EcoNASRankSettings = context.settings
        source = find_data(row.dataset, context.data_root)
        if source is None or source.kind != "pack":  # checked by `unavailable`; a folder removed meanwhile
            raise FileNotFoundError(f"the {TITLES[row.dataset]} JPEG pack not found at {context.data_root}")
        paper_name = row.options["setting"]
        setting = nb201_setting(paper_name, settings.epoch_scale)
        run_dir = context.out / "runs" / paper_name / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)

        table = NASBench201Table.default()
        zoo = stratified_zoo(table, settings.zoo_size, seed)
        reference = table_accuracies(zoo, table, "cifar10")
        x, y = pack_arrays(source, settings.images_per_class, context.out / "data")
        data = {
            "class_path": "lightning_nas.datamodules.ArraySearchDataModule",
            "init_args": {"x_train": x, "y_train": y, "batch_size": settings.batch_size,
                          "val_fraction": settings.val_fraction, "crop_padding": 4, "seed": seed},
        }  # fmt: skip
        seen = _SeenSamples()
        trainer: dict[str, Any] = {"accelerator": context.accelerator, "devices": 1, "callbacks": [seen]}
        if settings.limit_train_batches is not None:
            trainer["limit_train_batches"] = settings.limit_train_batches
        started = time.perf_counter()
        accuracies = train_model_zoo(
            zoo,
            setting,
            search_space="nasbench201",
            data=data,
            workdir=str(run_dir),
            module={"space_options": {"N": settings.N}, "lr": settings.lr},
            trainer=trainer,
            seed=seed,
            progress=False,
        )
        wall = time.perf_counter() - started

        notes: list[str] = []
        diverged = [i for i, accuracy in enumerate(accuracies) if not math.isfinite(accuracy)]
        if diverged:
            notes.append(f"seed {seed}: {len(diverged)} model(s) diverged; ranked last (accuracy 0)")
        scores = [accuracy if math.isfinite(accuracy) else 0.0 for accuracy in accuracies]
        metrics: dict[str, float | None] = dict.fromkeys(key for key, _ in self.metrics)
        if len(set(scores)) < 2:
            notes.append(f"seed {seed}: every model has the same accuracy; no ranking")
        else:
            plain = rank_consistency(reference, scores)
            tolerant = rank_consistency(reference, scores, tolerance=TOLERANCE)
            metrics = {"spearman": plain["spearman"], "spearman_tolerant": tolerant["spearman"],
                       "kendall": plain["kendall"]}  # fmt: skip
        cost = {"time_s": wall, "samples": float(seen.samples), "data_fraction": setting.s}
        details = {
            "setting": {"paper": paper_name, "c": setting.c, "r": setting.r, "s": setting.s, "e": setting.e},
            "zoo": zoo,
            "table_accuracies": reference,
            "accuracies": accuracies,
            "run_dir": str(run_dir),
        }
        (run_dir / "run.json").write_text(json.dumps({"metrics": metrics, "cost": cost, **details}, indent=1))
        return SeedRun(seed=seed, metrics=metrics, cost=cost, details=details, notes=notes)
