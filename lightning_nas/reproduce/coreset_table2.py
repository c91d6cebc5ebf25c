"""Core-set sampling for NAS, Table 2: PC-DARTS searched on a core-set, a random subset or the whole pool.

The paper (Shim, Kong & Kang, ICML 2021 workshop) searches PC-DARTS in the DARTS space on Tiny-ImageNet (200
classes, 500 training images each), on a per-class greedy k-center core-set of the training set (Inception-v3
ImageNet embeddings) or on a random subset, at selection ratios 2 / 5 / 10 % (random also 50 %) and on the full
training set, then retrains each searched cell on the whole of Tiny-ImageNet (top-1 / top-5 test accuracy) and
reports the search cost in GPU-hours (selection + search). What this table does instead, and why:

* **No Tiny-ImageNet and no retraining** (neither is possible here, nor on a CPU): every row searches the
  NAS-Bench-201 supernet with :class:`~lightning_nas.methods.PCDARTS` on a pool of CIFAR-10 training images (the
  pack under ``--data-root``) and looks the derived cell up in the built-in NAS-Bench-201 table. The paper's top-1
  is compared with the cell's 200-epoch **ImageNet16-120** test accuracy (downsampled ImageNet, 120 classes: the
  table's nearest thing to Tiny-ImageNet); the cell's CIFAR-10 test accuracy is a second column (the paper has
  none); the paper's top-5 is shown with ``n/a`` for ours (NAS-Bench-201 has no top-5).
* **Pool**: ``images_per_class`` CIFAR-10 images per class (500 at ``cpu`` scale, as Tiny-ImageNet has 500 per
  class); the selection ratios are of this pool, per class.
* **Core-set rows**: :class:`~lightning_nas.datamodules.CoresetDataModule` (greedy k-center per class, Euclidean
  distance, one random initial sample per class excluded from the selection, ``k_c = round(r * 500)``). Extractor:
  at ``gpu`` / ``paper`` scale the paper's ImageNet-pretrained Inception-v3 (``extractor="inception_v3",
  weights="DEFAULT"``; torchvision must be able to download the weights or find them in its cache, or name a
  weights file in ``$LIGHTNING_NAS_INCEPTION_V3_WEIGHTS``; otherwise the core-set rows are skipped with the data
  module's message). No pretrained weights can be downloaded on the machines the ``smoke`` / ``cpu`` scales are
  meant for, so there the embedding is the 64-d global-pooled feature of a CIFAR ResNet-20
  (:func:`~lightning_nas.baseline.train_baseline`) trained on the pool once per table run (seed 0, cached under
  ``OUT/cache``) — a weaker, in-domain embedding, not the paper's. Its training and embedding time is charged to
  every core-set row's ``selection_time_s`` (the paper's "core-set selection" column), plus that seed's k-center.
* **Random rows**: :class:`~lightning_nas.datamodules.RandomSubsetDataModule` with ``class_balanced=True`` (the
  core-set is class-balanced, so the comparison differs only in how the images of a class are chosen; the paper
  does not say whether its random subsets were balanced). **Full row**: the whole pool, no wrapper.
* **Split**: the selection is split 50/50 into the weight and the architecture split (``alpha_split="darts"``, the
  library's default; the paper updates α on Tiny-ImageNet's separate validation set: spec ambiguity 18).
* **Search**: PC-DARTS with the paper's Tiny-ImageNet settings (``partial_channels=2``, SGD 0.1 cosine, weight
  decay 3e-5, Adam 6e-3, batch 64, architecture frozen for the first 35 of 50 epochs), on the NAS-Bench-201 space
  (C, N per scale) instead of the DARTS space. At the smaller scales the warm-up is shrunk in proportion
  (``round(0.7 * epochs)``).
* **Cost** per run: ``time_s`` (wall time of the search's ``fit``), ``samples`` (drawn from both splits),
  ``data_fraction`` (samples drawn / (epochs x the whole pool): about the selection ratio),
  ``final_data_fraction`` (the selection / the whole pool), ``selection_time_s`` (core-set rows) and
  ``total_time_s`` (selection + search), with the ``SearchCost`` summary. With Inception-v3 the embedding is cached
  by :class:`~lightning_nas.datamodules.CoresetDataModule` (under ``OUT/cache``), so only the first core-set run of
  an output folder pays for it in ``selection_time_s``; the later ones load it (the ResNet-20 path charges its
  training and embedding to every core-set row).

Scales (:data:`SETTINGS`):

* ``smoke``: 100 images per class (1,000: the smallest round pool whose 2 % gives 2 images per class, one for
  each split; 1 per class leaves the architecture split empty), C=4, N=1, batch 16, 2 epochs (warm-up 1) of at
  most 2 paired batches, ResNet-20 extractor trained 2 batches, 1 seed. Seconds; used by the tests.
* ``cpu``: 500 per class (5,000), C=8, N=1, batch 64, 20 epochs (warm-up 14), ResNet-20 extractor trained 20
  epochs, 3 seeds. Measured: 26 min on a 2-core machine beside another run (the extractor 9 min of it).
* ``gpu``: 2,500 per class (25,000), C=16, N=5, batch 64, 50 epochs (warm-up 35), Inception-v3, 3 seeds.
* ``paper``: the whole CIFAR-10 training set (5,000 per class), C=16, N=5, batch 64, 50 epochs (warm-up 35),
  Inception-v3, 3 seeds (the paper reports one run per row).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lightning import seed_everything
from torch import nn

from lightning_nas.baseline import train_baseline
from lightning_nas.datamodules import CoresetDataModule, RandomSubsetDataModule
from lightning_nas.embeddings import extract_features, feature_extractor
from lightning_nas.methods import PCDARTS

from .data import find_data, missing_data, search_datamodule
from .framework import PaperFigure, ReproductionTable, Row, RunContext, SeedRun
from .nb201_search import search_nb201

__all__ = ["SETTINGS", "CoresetTable2", "CoresetTable2Settings"]

WEIGHTS_ENV = "LIGHTNING_NAS_INCEPTION_V3_WEIGHTS"
"""Environment variable naming an Inception-v3 weights file for the ``gpu`` / ``paper`` scales (else "DEFAULT")."""


@dataclass(frozen=True)
class CoresetTable2Settings:
    """The settings of one scale of :class:`CoresetTable2`.

    Attributes:
        C: channels of the NAS-Bench-201 supernet's first stage.
        N: cells per stage.
        epochs: search epochs.
        arch_warmup_epochs: epochs during which only the weights are trained (the paper: 35 of 50).
        partial_channels: PC-DARTS's ``K`` (the paper's Tiny-ImageNet setting: 2).
        weight_decay: SGD weight decay of the supernet weights (the paper: 3e-5).
        arch_lr: Adam learning rate of α and β (the paper: 6e-3).
        images_per_class: CIFAR-10 training images per class in the pool (``None``: all 5,000).
        batch_size: batch size of each split.
        limit_train_batches: paired batches per epoch (``None``: all).
        extractor: ``"resnet20-trained-on-pool"`` (a CIFAR ResNet-20 trained on the pool) or ``"inception_v3"``
            (ImageNet weights).
        extractor_epochs: training epochs of the ResNet-20 extractor (0 for Inception-v3).
        extractor_batches: batches per epoch of the ResNet-20 extractor's training (``None``: all).
        default_seeds: the seeds run when ``--seeds`` is not given.
    """

    C: int
    N: int
    epochs: int
    arch_warmup_epochs: int
    partial_channels: int
    weight_decay: float
    arch_lr: float
    images_per_class: int | None
    batch_size: int
    limit_train_batches: int | None
    extractor: str
    extractor_epochs: int
    extractor_batches: int | None
    default_seeds: tuple[int, ...]


_PAPER_SEARCH = {"partial_channels": 2, "weight_decay": 3e-5, "arch_lr": 6e-3}
SETTINGS: dict[str, CoresetTable2Settings] = {
    "smoke": CoresetTable2Settings(C=4, N=1, epochs=2, arch_warmup_epochs=1, **_PAPER_SEARCH, images_per_class=100,
                                   batch_size=16, limit_train_batches=2, extractor="resnet20-trained-on-pool",
                                   extractor_epochs=1, extractor_batches=2, default_seeds=(0,)),
    "cpu": CoresetTable2Settings(C=8, N=1, epochs=20, arch_warmup_epochs=14, **_PAPER_SEARCH, images_per_class=500,
                                 batch_size=64, limit_train_batches=None, extractor="resnet20-trained-on-pool",
                                 extractor_epochs=20, extractor_batches=None, default_seeds=(0, 1, 2)),
    "gpu": CoresetTable2Settings(C=16, N=5, epochs=50, arch_warmup_epochs=35, **_PAPER_SEARCH, images_per_class=2500,
                                 batch_size=64, limit_train_batches=None, extractor="inception_v3",
                                 extractor_epochs=0, extractor_batches=None, default_seeds=(0, 1, 2)),
    "paper": CoresetTable2Settings(C=16, N=5, epochs=50, arch_warmup_epochs=35, **_PAPER_SEARCH,
                                   images_per_class=None, batch_size=64, limit_train_batches=None,
                                   extractor="inception_v3", extractor_epochs=0, extractor_batches=None,
                                   default_seeds=(0, 1, 2)),
}  # fmt: skip

_EXTRACTOR_NAMES = {
    "resnet20-trained-on-pool": (
        "64-d pooled features of a CIFAR ResNet-20 trained on the pool (not the paper's Inception-v3)"
    ),
    "inception_v3": "ImageNet Inception-v3, 2048-d pooled features (the paper's)",
}


def _row(selection: str, ratio: int, top1: str, top5: str, cost: str) -> Row:
    paper = {"imagenet16-120": PaperFigure(top1), "top5": PaperFigure(top5)}
    method = {"coreset": f"Core-set {ratio}%", "random": f"Random {ratio}%", "full": "Full dataset 100%"}[selection]
    notes = {
        "coreset": "per-class greedy k-center; extractor: a CIFAR ResNet-20 trained on the pool at scales smoke/cpu "
        "(no pretrained weights offline), ImageNet Inception-v3 (the paper's) at gpu/paper",
        "random": "class-balanced random subset of the pool",
        "full": "the whole pool, no selection",
    }
    options = {"selection": selection, "fraction": ratio / 100}
    return Row(method=method, dataset="cifar10", paper=paper, paper_cost=cost, options=options, note=notes[selection])


_ROWS: tuple[Row, ...] = (
    _row("coreset", 2, "58.8", "77.9", "0.1+0.7 = 0.8 GPU-h"),
    _row("coreset", 5, "61.1", "79.5", "0.2+1.6 = 1.8 GPU-h"),
    _row("coreset", 10, "61.4", "79.4", "0.4+3.1 = 3.5 GPU-h"),
    _row("random", 2, "57.6", "76.8", "0.7 GPU-h"),
    _row("random", 5, "59.6", "78.5", "1.6 GPU-h"),
    _row("random", 10, "59.3", "78.9", "3.1 GPU-h"),
    _row("random", 50, "61.2", "79.5", "15.3 GPU-h"),
    _row("full", 100, "61.4", "79.9", "30.8 GPU-h"),
)


def _pooled_features(net: nn.Module) -> nn.Module:
    """The CIFAR ResNet's global-pooled features (its input to ``fc``)."""
    return nn.Sequential(net.stem, net.layers, net.pool, nn.Flatten())


class CoresetTable2(ReproductionTable):
    """Core-set sampling for NAS, Table 2: core-set vs random selection vs the full pool (see the module)."""

    name: ClassVar[str] = "coreset-table2"
    title: ClassVar[str] = "Core-set sampling for NAS, Table 2: PC-DARTS on a core-set, a random subset, all data"
    reference: ClassVar[str] = (
        "Shim, Kong & Kang, Core-set Sampling for Efficient Neural Architecture Search (ICML 2021 workshop), "
        "Table 2 (Tiny-ImageNet, retrained top-1 / top-5); ours: PC-DARTS on NAS-Bench-201 searched on a CIFAR-10 "
        "pool, the derived cell's 200-epoch test accuracy (%) in the built-in NAS-Bench-201 table"
    )
    metrics: ClassVar[tuple[tuple[str, str], ...]] = (
        ("imagenet16-120", "top-1 (ours: IN16-120 test)"),
        ("top5", "top-5 (ours: n/a)"),
        ("cifar10", "C10 test"),
    )
    rows: ClassVar[tuple[Row, ...]] = _ROWS
    cost_extras: ClassVar[tuple[tuple[str, str], ...]] = (("selection_time_s", "selection"),)
    scale_settings: ClassVar[Mapping[str, Any]] = SETTINGS

    def __init__(self) -> None:
        self._features: dict[str, Any] = {}  # the ResNet-20 features of the pool, computed once per table run
        self._extractor_problem: dict[str, str | None] = {}

    # ------------------------------------------------------------------------------------------------------------
    def _pool(self, context: RunContext, seed: int) -> Any:
        settings: CoresetTable2Settings = context.settings
        source = find_data("cifar10", context.data_root)
        if source is None:  # checked by `unavailable`
            raise FileNotFoundError(f"CIFAR-10 not found at {context.data_root}")
        pool = search_datamodule(
            source,
            per_class=settings.images_per_class,
            batch_size=settings.batch_size,
            seed=seed,
            cache_dir=context.out / "data",
        )
        if isinstance(pool, RandomSubsetDataModule):  # a non-pack source reduced to the pool: cannot nest a selection
            raise ValueError("a pool smaller than the data set needs the CIFAR-10 pack")
        return pool

    def _weights(self) -> str:
        return os.environ.get(WEIGHTS_ENV) or "DEFAULT"

    def unavailable(self, row: Row, context: RunContext) -> str | None:
        settings: CoresetTable2Settings = context.settings
        problem = missing_data("cifar10", context.data_root, per_class=settings.images_per_class)
        if problem is not None:
            return problem
        if row.options["selection"] == "coreset" and settings.extractor == "inception_v3":
            weights = self._weights()
            if weights not in self._extractor_problem:
                try:
                    feature_extractor("inception_v3", weights, progress=False)
                    self._extractor_problem[weights] = None
                except (RuntimeError, OSError, ValueError) as err:
                    self._extractor_problem[weights] = (
                        f"no Inception-v3 weights (name a weights file in ${WEIGHTS_ENV}): {err}"
                    )
            return self._extractor_problem[weights]
        return None

    def _resnet_features(self, context: RunContext) -> dict[str, Any]:
        """The pool's ResNet-20 features and the time it took to train and embed (once per table run, seed 0)."""
        key = str(context.out)
        if key in self._features:
            return self._features[key]
        settings: CoresetTable2Settings = context.settings
        cache = context.out / "cache"
        record = cache / f"extractor-{context.scale}.json"
        pool = self._pool(context, seed=0)
        pool.setup("fit")
        started = time.perf_counter()
        seed_everything(0, workers=True, verbose=False)
        baseline = train_baseline(
            pool,
            epochs=settings.extractor_epochs,
            batch_size=128,
            seed=0,
            accelerator=context.accelerator,
            cache_dir=cache,
            progress=False,
            trainer_kwargs={"limit_train_batches": settings.extractor_batches},
        )
        features = extract_features(
            _pooled_features(baseline.model), pool.pool_dataloader(), cache_dir=cache, progress=False
        )
        elapsed = time.perf_counter() - started
        # a cache hit takes no time: report the time of the run that trained and embedded
        previous = json.loads(record.read_text()) if record.is_file() else None
        if previous is not None and previous.get("shape") == list(features.shape) and elapsed < previous["time_s"]:
            elapsed = float(previous["time_s"])
        else:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"time_s": elapsed, "shape": list(features.shape)}))
        self._features[key] = {"features": features, "time_s": elapsed}
        return self._features[key]

    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        settings: CoresetTable2Settings = context.settings
        selection, fraction = row.options["selection"], row.options["fraction"]
        slug = "full" if selection == "full" else f"{selection}-{round(100 * fraction)}"
        run_dir = context.out / "runs" / slug / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = str(run_dir / "selection.json")

        extractor_time = 0.0
        pool = self._pool(context, seed)
        pool.setup("fit")  # loading the images is neither selection nor search
        pool_size = int(pool.pool_size)
        details: dict[str, Any] = {}
        if selection == "coreset":
            if settings.extractor == "resnet20-trained-on-pool":
                shared = self._resnet_features(context)
                extractor_time = shared["time_s"]
                options: dict[str, Any] = {"features": shared["features"]}
            else:
                options = {
                    "extractor": "inception_v3",
                    "weights": self._weights(),
                    "cache_dir": str(context.out / "cache"),
                }
            datamodule: Any = CoresetDataModule(
                pool, fraction=fraction, seed=seed, save_manifest=manifest, progress=False, **options
            )
            details["extractor"] = _EXTRACTOR_NAMES[settings.extractor]
        elif selection == "random":
            datamodule = RandomSubsetDataModule(
                pool, fraction=fraction, seed=seed, class_balanced=True, save_manifest=manifest
            )
        else:
            datamodule = pool
        started = time.perf_counter()
        datamodule.setup("fit")  # the selection (k-center, or Inception-v3 embedding + k-center); the Trainer skips it
        select_time = time.perf_counter() - started
        selected = len(datamodule.selected_ids) if selection != "full" else pool_size

        seed_everything(seed, workers=True, verbose=False)
        model = PCDARTS(
            search_space="nasbench201",
            space_options={"C": settings.C, "N": settings.N},
            num_classes=10,
            partial_channels=settings.partial_channels,
            weight_decay=settings.weight_decay,
            arch_lr=settings.arch_lr,
            arch_warmup_epochs=settings.arch_warmup_epochs,
        )
        result = search_nb201(
            model,
            datamodule,
            epochs=settings.epochs,
            run_dir=run_dir,
            limit_train_batches=settings.limit_train_batches,
            accelerator=context.accelerator,
            datasets=("cifar10", "imagenet16-120"),
            label=f"seed {seed}",
            pool_size=pool_size,
        )
        metrics: dict[str, float | None] = {"imagenet16-120": result.metrics["imagenet16-120"], "top5": None}
        metrics["cifar10"] = result.metrics["cifar10"]
        cost = dict(result.cost)  # data fractions of the whole pool: "100⇒r %" is the selection
        if selection == "coreset":
            cost["selection_time_s"] = extractor_time + select_time
        cost["total_time_s"] = cost.get("selection_time_s", 0.0) + cost["time_s"]
        details.update(
            genotype=result.genotype,
            pool=pool_size,
            selected=selected,
            selection_time_s=round(cost.get("selection_time_s", 0.0), 2),
            run_dir=str(run_dir),
        )
        if selection == "coreset" and settings.extractor == "resnet20-trained-on-pool":
            details["extractor_time_s"] = round(extractor_time, 2)
        (run_dir / "run.json").write_text(json.dumps({"metrics": metrics, "cost": cost, **details}, indent=1))
        notes = list(result.notes)
        if selection == "coreset":
            notes.append(f"extractor: {details['extractor']}")
        return SeedRun(seed=seed, metrics=metrics, cost=cost, details=details, notes=notes)
