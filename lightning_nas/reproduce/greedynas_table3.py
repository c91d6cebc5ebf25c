"""GreedyNAS Table 3: how well a small surrogate batch ranks the paths of a random, a uniform and a greedy supernet.

The paper (You et al., CVPR 2020, Sec. 5.3.1, Table 3) draws 1000 random paths of the MobileNet chain space and ranks
them twice: by the loss (or, in parentheses, the accuracy) on 1000 validation images (the surrogate batch ``D̂_val``,
1 per ImageNet class) and by the accuracy on the whole 50K-image validation split ``D_val`` (50 images per class held
out of ImageNet's training set). Spearman ρ and Kendall τ between the two rankings, for three supernets:

* **random supernet**: randomly initialised, not trained;
* **uniform sampling**: trained by uniform single-path sampling (SPOS); the paper also ranks by the surrogate
  *accuracy* (the figures in parentheses: our row "uniform sampling (ACC)", the same supernet);
* **greedy sampling**: trained by GreedyNAS (uniform warm-up, then multi-path sampling with rejection on the
  surrogate loss, and the candidate pool).

What runs here, per seed: one random-init supernet, one SPOS and one GreedyNAS supernet built from the same seeded
initialisation and trained for the same number of steps (``steps``) on the same data; then
:func:`~lightning_nas.methods.surrogate_rank_consistency` ranks the same ``rank_paths`` random paths of each supernet
by the surrogate loss (accuracy) on ``surrogate_size`` class-balanced images of the architecture split against the
accuracy on the whole architecture split (the held-out ``D_val``; GreedyNAS's own surrogate batch is those same
images, drawn with the same seed). The coefficients are the library's
:func:`~lightning_nas.benchmarks.rank_consistency` (Spearman ρ, Kendall τ-b; equal to scipy's ``spearmanr`` /
``kendalltau``).

Cost per seed run: ``time_s`` is the wall time of the supernet's training (``Trainer.fit``; 0 for the random
supernet) plus the ranking evaluation; ``samples`` the training images drawn (``SearchCost``'s ``train_samples``;
SPOS and GreedyNAS draw from the weight split only, one batch per step); ``data_fraction`` is ``SearchCost``'s
(samples / (epochs x the pool of both splits)). GreedyNAS's filtering forwards are not training samples: they are
kept as ``surrogate_images`` (the paper's "#evaluation"). The "uniform sampling (ACC)" row is the uniform row's
supernet ranked by accuracy: it is trained once per seed and its cost is repeated.

Scales (``SETTINGS``):

* ``smoke`` (seconds): CIFAR-10 pack, 30 images per class (150 weight / 150 architecture split), MobileNet width
  0.25, head 64, 32 px with the ImageNet stride pattern, 20 steps of batch 32 (warm-up 6), lr 0.2, m=4, k=2,
  pool 8, surrogate 20 images, 5 paths, 1 seed (the supernets barely learn: a ranking may be undefined, "n/a").
* ``cpu`` (about 35-50 min on 2 cores, 3 seeds): 500 images per class (2,500 weight / 2,500 architecture split),
  width 0.25, head 64, 32 px with the ImageNet stride pattern (32 -> 1 px; the CIFAR pattern at 32 px is ~9x slower
  on a CPU), 2,500 steps of batch 64 (64 epochs of the weight split), lr 0.05, GreedyNAS warm-up 1,500 steps,
  m=10, k=5, pool 100, surrogate 100 images (10 per class) vs 2,500, 50 paths. Measured (2 seeds, 41 min): both
  trained supernets stayed at chance (mean path accuracy 0.10), so their rankings are mostly undefined: the budget
  is too small for a uniformly sampled supernet of this space; informative from ``gpu`` scale on.
* ``gpu``: the whole CIFAR-10 training set (40,000 weight / 10,000 architecture split), width 1.0, head 1280, 32 px
  with the CIFAR stride pattern, 6,000 steps of batch 256 (about 38 epochs), lr 0.1, warm-up 2,000, m=10, k=5,
  pool 1,000, surrogate 1,000 images (100 per class) vs 10,000, 1,000 paths (the paper's number).
* ``paper``: ImageNet as the paper: an ImageFolder tree ``DATA_ROOT/imagenet/train/<1000 classes>/*`` (not
  downloadable here: without it every row is skipped, saying why), 224 px, width 1.0, 50,000 images held out
  (``val_fraction`` 50,000 / 1,281,167), batch 1024, lr 0.12, 144,000 steps for both supernets (120 epochs, mmrazor's
  schedule), warm-up 10,000 iterations, m=10, k=5, pool 1,000, surrogate 1,000 images (1 per class) vs 50,000, 1,000
  paths.

How it maps onto the paper, honestly:

* below ``paper`` scale the data is CIFAR-10 (the paper: ImageNet), the supernet is narrow and the runs are short, so
  the absolute coefficients are not the paper's; what is compared is the ordering random < uniform <= greedy and
  loss-ranking > accuracy-ranking;
* the paper stops GreedyNAS's training with the candidate-pool criterion (α = 0.08) and trains the uniform supernet
  120 epochs; here both get the same step budget (the table's question is the ranking quality at equal training);
* the warm-up: the paper's 10K iterations are where its uniform supernet's rank correlation levels off (Fig. 4
  right), about 7 % of its training. A uniformly sampled supernet of this space stays at chance for the first
  ~1,300 steps on CIFAR-10 (the README's "slow start"), so on the short runs of the smaller scales 7 % would start
  filtering from an untrained supernet, which the paper warns against: the warm-up is 1,500 of 2,500 steps
  (``cpu``) and 2,000 of 6,000 (``gpu``), and the ``cpu`` run is only just long enough to leave that plateau;
* the ratio surrogate : split is 1 : 25 (``cpu``) and 1 : 10 (``gpu``) against the paper's 1 : 50;
* ε ramps from 0 to 0.8 over the steps after warm-up (the paper: linearly, over training);
* the random supernet: with its initial BatchNorm running statistics (mean 0, variance 1) an untrained supernet's
  activations shrink layer after layer in eval mode, to logits of ~1e-9, so every path has the surrogate loss ln 10
  and there is no ranking at all. Its BatchNorm statistics are therefore estimated first on ``random_bn_batches``
  training batches, each through a uniformly drawn path, without any gradient step (the weights stay the random
  initialisation; ``bn_samples`` in its cost). The paper does not say how it evaluated its random supernet;
* a ranking is undefined (printed "n/a", with a note) when every path gets the same score on one side, e.g. a
  supernet that predicts one class for every image (accuracy exactly 1/10 on the balanced split).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from lightning import Trainer, seed_everything

from lightning_nas.callbacks import SearchCost
from lightning_nas.datamodules import (
    ImageFolderSearchDataModule,
)
from lightning_nas.methods import SPOS, DivergenceError, GreedyNAS, surrogate_rank_consistency
from lightning_nas.search import recalibrate_batch_norm

from .data import find_data, missing_data, search_datamodule
from .framework import PaperFigure, ReproductionTable, Row, RunContext, SeedRun

__all__ = ["SETTINGS", "GreedyNASTable3", "GreedyNASTable3Settings"]


@dataclass(frozen=True)
class GreedyNASTable3Settings:
    """The settings of one scale of :class:`GreedyNASTable3`.

    Attributes:
        dataset: ``"cifar10"`` (the pack, torchvision's batches or an ImageFolder tree) or ``"imagenet"``
            (``DATA_ROOT/imagenet/train/<class>/*``).
        images_per_class: training images per class in the pool (``None``: all).
        val_fraction: fraction of the pool held out as the architecture split ``D_val``.
        image_size: ``None`` keeps the native size (CIFAR), an int resizes ImageNet-style.
        width_mult: MobileNet width multiplier.
        head_channels: channels of the head's Conv1x1 at width 1 (the paper: 1280).
        variant: the MobileNet stride pattern, ``"imagenet"`` or ``"cifar"``.
        batch_size: training batch size.
        eval_batch_size: batch size of the evaluations (surrogate and split).
        steps: training steps of each supernet (uniform and greedy alike).
        lr: initial SGD learning rate (cosine to 0 over ``steps``).
        warmup_steps: GreedyNAS's uniform warm-up.
        num_paths: GreedyNAS's ``m``.
        keep_paths: GreedyNAS's ``k``.
        pool_size: GreedyNAS's candidate pool size.
        surrogate_size: images of the surrogate batch ``D̂_val`` (the paper: 1,000).
        rank_paths: random paths ranked (the paper: 1,000).
        random_bn_batches: training batches through which the random supernet's BatchNorm statistics are estimated
            (uniformly drawn paths, no gradient step; see the module docstring).
        default_seeds: the seeds run when `--seeds` is not given.
    """

    dataset: str
    images_per_class: int | None
    val_fraction: float
    image_size: int | None
    width_mult: float
    head_channels: int
    variant: str
    batch_size: int
    eval_batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    num_paths: int
    keep_paths: int
    pool_size: int
    surrogate_size: int
    rank_paths: int
    random_bn_batches: int
    default_seeds: tuple[int, ...]


SETTINGS: dict[str, GreedyNASTable3Settings] = {
    "smoke": GreedyNASTable3Settings(
        dataset="cifar10", images_per_class=30, val_fraction=0.5, image_size=None, width_mult=0.25, head_channels=64,
        variant="imagenet", batch_size=32, eval_batch_size=256, steps=20, lr=0.2, warmup_steps=6, num_paths=4,
        keep_paths=2, pool_size=8, surrogate_size=20, rank_paths=5, random_bn_batches=4,
        default_seeds=(0,)),
    "cpu": GreedyNASTable3Settings(
        dataset="cifar10", images_per_class=500, val_fraction=0.5, image_size=None, width_mult=0.25, head_channels=64,
        variant="imagenet", batch_size=64, eval_batch_size=256, steps=2500, lr=0.05, warmup_steps=1500, num_paths=10,
        keep_paths=5, pool_size=100, surrogate_size=100, rank_paths=50,
        random_bn_batches=50, default_seeds=(0, 1, 2)),
    "gpu": GreedyNASTable3Settings(
        dataset="cifar10", images_per_class=None, val_fraction=0.2, image_size=None, width_mult=1.0,
        head_channels=1280, variant="cifar", batch_size=256, eval_batch_size=1000, steps=6000, lr=0.1,
        warmup_steps=2000, num_paths=10, keep_paths=5, pool_size=1000, surrogate_size=1000, rank_paths=1000,
        random_bn_batches=100, default_seeds=(0, 1, 2)),
    "paper": GreedyNASTable3Settings(
        dataset="imagenet", images_per_class=None, val_fraction=50_000 / 1_281_167, image_size=224, width_mult=1.0,
        head_channels=1280, variant="imagenet", batch_size=1024, eval_batch_size=500, steps=144_000, lr=0.12,
        warmup_steps=10_000, num_paths=10, keep_paths=5, pool_size=1000, surrogate_size=1000, rank_paths=1000,
        random_bn_batches=100, default_seeds=(0,)),
}  # fmt: skip

_SUPERNET_NOTE = {
    "random": "randomly initialised supernet (same seeded initialisation as the trained ones), not trained",
    "uniform": "SPOS supernet (uniform single-path sampling), same steps as the greedy one; ranked by surrogate loss",
    "uniform-acc": "the uniform sampling row's supernet (trained once per seed, cost repeated), ranked by surrogate "
    "accuracy: the paper's figures in parentheses",
    "greedy": "GreedyNAS supernet: uniform warm-up then m-to-k filtering on the surrogate loss with the candidate "
    "pool; same step budget as uniform (the paper stops it by the pool criterion)",
}
_DATA_NOTE = "; CIFAR-10 below paper scale (the paper: ImageNet, 1K vs 50K images, 1000 paths)"


def _row(method: str, supernet: str, rho: str, tau: str) -> Row:
    return Row(
        method=method,
        dataset="cifar10",
        paper={"spearman": PaperFigure(rho), "kendall": PaperFigure(tau)},
        paper_cost="ImageNet, 1000 paths, 1K vs 50K val images",
        options={"supernet": supernet},
        note=_SUPERNET_NOTE[supernet] + _DATA_NOTE,
    )


_ROWS: tuple[Row, ...] = (
    _row("random supernet", "random", "0.155", "0.113"),
    _row("uniform sampling", "uniform", "0.968", "0.851"),
    _row("uniform sampling (ACC)", "uniform-acc", "0.869", "0.699"),
    _row("greedy sampling", "greedy", "0.997", "0.961"),
)


def _imagenet_root(data_root: Path) -> Path | None:
    """``DATA_ROOT/imagenet`` when it holds ``train/`` with 1000 class folders."""
    folder = data_root / "imagenet"
    try:
        classes = sum(1 for entry in os.scandir(folder / "train") if entry.is_dir())
    except OSError:
        return None
    return folder if classes == 1000 else None


def _datamodule(settings: GreedyNASTable3Settings, data_root: Path, seed: int, cache_dir: Path) -> Any:
    """An unpaired search data module (weight split / held-out architecture split) of the scale's data set."""
    common = {
        "batch_size": settings.batch_size,
        "eval_batch_size": settings.eval_batch_size,
        "val_fraction": settings.val_fraction,
        "paired": False,
        "seed": seed,
    }
    if settings.dataset == "imagenet":
        root = _imagenet_root(data_root)
        if root is None:
            raise FileNotFoundError(f"ImageNet not found at {data_root / 'imagenet'}")
        # 1.28M JPEG files decoded per epoch: loader workers (the CIFAR sources are decoded once and kept in memory)
        return ImageFolderSearchDataModule(root=str(root), image_size=settings.image_size, num_workers=8, **common)
    source = find_data("cifar10", data_root)
    if source is None:
        raise FileNotFoundError(f"CIFAR-10 not found at {data_root}")
    return search_datamodule(source, per_class=settings.images_per_class, cache_dir=cache_dir, **common)


def _estimate_batch_norm(
    model: SPOS, datamodule: Any, settings: GreedyNASTable3Settings, seed: int, device: Any
) -> int:
    """BatchNorm statistics of the untrained supernet from training batches, each through a uniform path (no update).

    With the initial running statistics (mean 0, variance 1) an untrained supernet's activations shrink layer after
    layer in eval mode, to logits of ~1e-9: every path then has the same surrogate loss (ln 10) and no ranking.

    Returns:
        The number of images forwarded.
    """
    datamodule.setup("fit")
    generator = torch.Generator().manual_seed(20_000 + seed)
    batches = []
    for i, batch in enumerate(datamodule.train_dataloader()):
        if i >= settings.random_bn_batches:
            break
        batches.append(batch[0].to(device))
    return recalibrate_batch_norm(
        model.supernet, lambda x: model.supernet(x, model.space.random_path(generator)), batches
    )


class GreedyNASTable3(ReproductionTable):
    """GreedyNAS Table 3: surrogate-batch rank correlation of random, uniform and greedy supernets (see the module)."""

    name: ClassVar[str] = "greedynas-table3"
    title: ClassVar[str] = "GreedyNAS Table 3: rank correlation of paths, surrogate batch vs whole validation split"
    reference: ClassVar[str] = (
        "You et al., GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet (CVPR 2020), Table 3; ours: Spearman ρ "
        "and Kendall τ between the ranking of random paths by the loss (ACC row: accuracy) on the surrogate batch and "
        "by the accuracy on the whole held-out architecture split"
    )
    metrics: ClassVar[tuple[tuple[str, str], ...]] = (("spearman", "Spearman ρ"), ("kendall", "Kendall τ"))
    rows: ClassVar[tuple[Row, ...]] = _ROWS
    scale_settings: ClassVar[Mapping[str, Any]] = SETTINGS

    def __init__(self) -> None:
        self._done: dict[tuple[str, int, str], tuple[dict[str, float], dict[str, float], dict[str, Any]]] = {}

    def unavailable(self, row: Row, context: RunContext) -> str | None:
        settings: GreedyNASTable3Settings = context.settings
        if settings.dataset == "imagenet":
            if _imagenet_root(context.data_root) is None:
                return (
                    f"ImageNet not found at {context.data_root / 'imagenet'} (paper scale needs an ImageFolder tree "
                    "imagenet/train/<1000 classes>/*; it cannot be downloaded here): run a smaller scale on CIFAR-10"
                )
            return None
        return missing_data("cifar10", context.data_root)

    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        supernet = row.options["supernet"]
        kind = "uniform" if supernet == "uniform-acc" else supernet
        key = (kind, seed, str(context.out))
        if key not in self._done:
            self._done[key] = self._train_and_rank(kind, seed, context)
        result, cost, details = self._done[key]
        suffix = "_acc" if supernet == "uniform-acc" else ""
        metrics: dict[str, float | None] = {}
        notes: list[str] = []
        # a constant scoring (e.g. every path predicting one class: the same accuracy) has no ranking; torchmetrics
        # then gives ρ = 0 and τ = NaN, scipy NaN for both: reported as undefined, not as 0
        defined = all(math.isfinite(result[metric + suffix]) for metric in ("spearman", "kendall"))
        for metric in ("spearman", "kendall"):
            metrics[metric] = result[metric + suffix] if defined else None
        if "diverged" in details:
            notes.append(f"seed {seed}: the supernet's training diverged: {details['diverged']}")
        elif not defined:
            notes.append(f"seed {seed}: no ranking (every path got the same score on one side): ρ and τ undefined")
        if supernet == "uniform-acc":
            notes.append("same supernet and cost as the uniform sampling row")
        return SeedRun(seed=seed, metrics=metrics, cost=dict(cost), details=dict(details), notes=notes)

    def _train_and_rank(
        self, kind: str, seed: int, context: RunContext
    ) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
        """Build (and train, unless ``kind == "random"``) one supernet, rank the paths; write ``run.json``."""
        settings: GreedyNASTable3Settings = context.settings
        run_dir = context.out / "runs" / f"{kind}-{settings.dataset}" / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        datamodule = _datamodule(settings, context.data_root, seed, context.out / "data")
        input_size = settings.image_size if settings.image_size is not None else 32
        common: dict[str, Any] = {
            "space_options": {"input_size": input_size, "width_mult": settings.width_mult,
                              "head_channels": settings.head_channels, "variant": settings.variant},
            "num_classes": 1000 if settings.dataset == "imagenet" else 10,
            "lr": settings.lr,
            "seed": seed,
        }  # fmt: skip
        seed_everything(seed, workers=True, verbose=False)  # the same initialisation for the three supernets
        if kind == "greedy":
            model: SPOS = GreedyNAS(
                **common,
                num_paths=settings.num_paths,
                keep_paths=settings.keep_paths,
                pool_size=settings.pool_size,
                warmup_steps=settings.warmup_steps,
                surrogate_size=settings.surrogate_size,
                surrogate_batch_size=settings.eval_batch_size,
            )
        else:
            model = SPOS(**common)
        cost_values: dict[str, float] = {"time_s": 0.0, "samples": 0.0, "data_fraction": 0.0}
        train_time = 0.0
        if kind != "random":
            cost = SearchCost(dirpath=str(run_dir))
            trainer = Trainer(
                accelerator=context.accelerator,
                devices=1,
                max_steps=settings.steps,
                max_epochs=-1,
                limit_val_batches=0,  # the supernet's validation loop plays no part here
                num_sanity_val_steps=0,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                callbacks=[cost],
                default_root_dir=str(run_dir),
            )
            started = time.perf_counter()
            try:
                trainer.fit(model, datamodule)
            except DivergenceError as err:  # a result of the row (no ranking), not the end of the table
                diverged = {key: math.nan for key in ("spearman", "kendall", "spearman_acc", "kendall_acc")}
                details = {"supernet": kind, "diverged": str(err), "run_dir": str(run_dir)}
                cost_values["time_s"] = time.perf_counter() - started
                (run_dir / "run.json").write_text(json.dumps({"cost": cost_values, **details}, indent=1))
                return diverged, cost_values, details
            train_time = time.perf_counter() - started
            summary = {k.removeprefix("cost/"): v for k, v in cost.summary().items()}
            cost_values.update(
                samples=summary["train_samples"] + summary["val_samples"],
                data_fraction=summary["data_fraction"],
                **{f"search_cost/{k}": float(v) for k, v in summary.items()},
            )
            if isinstance(model, GreedyNAS):
                cost_values["surrogate_images"] = float(model.counters["surrogate_images"])
        device = torch.device("cuda" if context.accelerator in ("gpu", "cuda") else "cpu")
        if context.accelerator == "auto" and torch.cuda.is_available():
            device = torch.device("cuda")
        model.to(device)
        started = time.perf_counter()
        if kind == "random":
            cost_values["bn_samples"] = float(_estimate_batch_norm(model, datamodule, settings, seed, device))
        result = surrogate_rank_consistency(
            model,
            datamodule,
            num_paths=settings.rank_paths,
            generator=torch.Generator().manual_seed(10_000 + seed),  # the same paths for the three supernets
            surrogate_size=settings.surrogate_size,
            batch_size=settings.eval_batch_size,
            progress=False,
        )
        rank_time = time.perf_counter() - started
        cost_values["time_s"] = train_time + rank_time
        cost_values["train_time_s"] = train_time
        cost_values["rank_time_s"] = rank_time
        details: dict[str, Any] = {
            "supernet": kind,
            "consistency": result,
            "train_size": len(datamodule.active_ids("train")),
            "val_size": len(datamodule.active_ids("val")),
            "run_dir": str(run_dir),
        }
        if isinstance(model, GreedyNAS):
            details["counters"] = model.counters
            details["pool_size"] = len(model.candidate_pool)
        (run_dir / "run.json").write_text(json.dumps({"cost": cost_values, **details}, indent=1))
        return result, cost_values, details
