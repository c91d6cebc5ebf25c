"""BDP Table 4: DARTS (first order), DARTS w/ BDP, β-DARTS and β-DARTS w/ BDP on NAS-Bench-201, CIFAR-10 and -100.

Each row searches the NAS-Bench-201 supernet with a plain ``lightning.Trainer`` (first-order DARTS or β-DARTS;
with BDP, the :class:`~lightning_nas.callbacks.VoEPruning` callback), derives the cell and looks its 200-epoch test
accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 up in the built-in NAS-Bench-201 table (no retraining, as the
paper does). :class:`~lightning_nas.callbacks.SearchCost` accounts for the cost. The paper's figures are Table 4's
upper block ("Our reported results are averaged on 4 independent runs"); the markers that say which data set a row
searched on are lost in the text of the seed, and are read from §4.1's text: "100⇒4 %" / 1.6 h rows searched on
CIFAR-10, "100⇒14 %" / 1.9 h rows on CIFAR-100. DARTS(1st) and β-DARTS have one row in the paper; it is shown for
both search data sets. BDP's pruning ratios are the library's reconstructed presets (PAPERS-SPEC §8.4; the
supplementary that holds them was unavailable): CIFAR-10 ``(p_t, p_v) = (10 %, 20 %)`` ("100⇒4"), CIFAR-100
``(5 %, 25 %)`` ("100⇒14"), both with ``T = 2``, Low/High and the class-balance constraint.

Scales (:data:`SETTINGS`):

* ``smoke``: C=4, N=1, 20 images per class (200), batch 16, 2 epochs of 2 paired batches, T=2 (one pruning, at the
  end of epoch 2, so the callback's whole path runs; 1 epoch would never prune), 1 seed. Seconds; used by the tests.
* ``cpu``: C=8, N=1, 200 images per class (2,000: 1,000 weight / 1,000 architecture), batch 64, 50 epochs and T=2
  as the paper (25 prunings: the CIFAR-10 preset leaves 0.9^25 = 7 % of the weight and 0.8^25 = 0.4 % of the
  architecture split before the class-balance caps: the paper's "100⇒4"), 3 seeds. Measured: a DARTS epoch takes
  about 6.5 s on one core of a busy 2-core machine, so a DARTS or β-DARTS run takes about 5.5 min and a BDP run
  about 2.5 min (it trains on ever less data): about 50 min for the four CIFAR-10 rows x 3 seeds. The counts are per
  class, so the CIFAR-100 rows (when CIFAR-100 is under ``--data-root``) search 20,000 images, about 10x longer.
* ``gpu``: C=16, N=5 (the paper's supernet), 1,000 images per class (10,000; CIFAR-100: its whole 50,000), batch 64,
  30 epochs, T=2, 3 seeds.
* ``paper``: C=16, N=5, the whole training set (25,000 / 25,000), batch 64, 50 epochs, T=2, 4 seeds (the paper's
  4 runs).

β-DARTS's λ ramp ``λ = lambda_max · epoch / lambda_epochs`` uses ``lambda_epochs = 2 x epochs`` so that λ ends near
25 at every scale, as with the official 100 over 50 epochs (the paper scale is exactly the official setting).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from lightning import Callback, seed_everything

from lightning_nas.callbacks import BDP_PRESETS, VoEPruning
from lightning_nas.methods import DARTS, BetaDARTS

from .data import CLASSES, TITLES, find_data, missing_data, search_datamodule
from .framework import PaperFigure, ReproductionTable, Row, RunContext, SeedRun
from .nb201_search import search_nb201

__all__ = ["SETTINGS", "BDPTable4", "BDPTable4Settings"]


@dataclass(frozen=True)
class BDPTable4Settings:
    """The settings of one scale of :class:`BDPTable4`.

    Attributes:
        C: channels of the NAS-Bench-201 supernet's first stage.
        N: cells per stage.
        epochs: search epochs.
        images_per_class: training images per class the search starts from (``None``: all 5,000 / 500).
        batch_size: batch size of each split (weight and architecture).
        limit_train_batches: paired batches per epoch (``None``: all).
        interval: BDP's ``T``, the pruning interval and VoE window (epochs).
        default_seeds: the seeds run when `--seeds` is not given.
    """

    C: int
    N: int
    epochs: int
    images_per_class: int | None
    batch_size: int
    limit_train_batches: int | None
    interval: int
    default_seeds: tuple[int, ...]


SETTINGS: dict[str, BDPTable4Settings] = {
    "smoke": BDPTable4Settings(C=4, N=1, epochs=2, images_per_class=20, batch_size=16, limit_train_batches=2,
                               interval=2, default_seeds=(0,)),
    "cpu": BDPTable4Settings(C=8, N=1, epochs=50, images_per_class=200, batch_size=64, limit_train_batches=None,
                             interval=2, default_seeds=(0, 1, 2)),
    "gpu": BDPTable4Settings(C=16, N=5, epochs=30, images_per_class=1000, batch_size=64, limit_train_batches=None,
                             interval=2, default_seeds=(0, 1, 2)),
    "paper": BDPTable4Settings(C=16, N=5, epochs=50, images_per_class=None, batch_size=64, limit_train_batches=None,
                               interval=2, default_seeds=(0, 1, 2, 3)),
}  # fmt: skip

_PRESET = {"cifar10": "default", "cifar100": "c100"}
_SINGLE_ROW = "the paper prints one row for this method, without naming its search data set"


def _row(method: str, dataset: str, c10: str, c100: str, in16: str, cost: str, **options: Any) -> Row:
    paper = {"cifar10": PaperFigure(c10), "cifar100": PaperFigure(c100), "imagenet16-120": PaperFigure(in16)}
    note = _SINGLE_ROW if not options.get("bdp") else ""
    return Row(method=method, dataset=dataset, paper=paper, paper_cost=cost, options=options, note=note)


_ROWS: tuple[Row, ...] = tuple(
    row
    for dataset in ("cifar10", "cifar100")
    for row in (
        _row("DARTS (1st)", dataset, "54.30±0.00", "15.61±0.00", "16.32±0.00", "3.2 h, data 100 %",
             algorithm="darts", bdp=False),
        _row("DARTS w/ BDP", dataset, *(("93.79±0.39", "71.74±2.17", "44.67±1.33", "1.6 h, data 100⇒4 %")
                                         if dataset == "cifar10" else
                                         ("93.76±0.28", "71.64±1.30", "45.12±0.39", "1.9 h, data 100⇒14 %")),
             algorithm="darts", bdp=True),
        _row("β-DARTS", dataset, "94.36±0.00", "73.51±0.00", "46.34±0.00", "3.2 h, data 100 %",
             algorithm="beta-darts", bdp=False),
        _row("β-DARTS w/ BDP", dataset, *(("94.36±0.01", "73.41±0.17", "46.46±0.21", "1.6 h, data 100⇒4 %")
                                           if dataset == "cifar10" else
                                           ("94.36±0.00", "73.51±0.00", "46.34±0.00", "1.9 h, data 100⇒14 %")),
             algorithm="beta-darts", bdp=True),
    )
)  # fmt: skip


class BDPTable4(ReproductionTable):
    """BDP Table 4 (upper block): the four DARTS rows, searched on CIFAR-10 and on CIFAR-100 (see the module)."""

    name: ClassVar[str] = "bdp-table4"
    title: ClassVar[str] = "BDP Table 4: NAS-Bench-201, DARTS / β-DARTS with and without BDP"
    reference: ClassVar[str] = (
        "Tu et al., Bi-level Data Pruning for Efficient Neural Architecture Search (BDP), Table 4, upper block; "
        "ours: 200-epoch test accuracy (%) of the derived cell in the built-in NAS-Bench-201 table (NATS-Bench)"
    )
    metrics: ClassVar[tuple[tuple[str, str], ...]] = (
        ("cifar10", "C10 test"),
        ("cifar100", "C100 test"),
        ("imagenet16-120", "IN16 test"),
    )
    rows: ClassVar[tuple[Row, ...]] = _ROWS
    scale_settings: ClassVar[Mapping[str, Any]] = SETTINGS

    def unavailable(self, row: Row, context: RunContext) -> str | None:
        return missing_data(row.dataset, context.data_root)

    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        settings: BDPTable4Settings = context.settings
        source = find_data(row.dataset, context.data_root)
        if source is None:  # checked by `unavailable`; a folder removed meanwhile
            raise FileNotFoundError(f"{TITLES[row.dataset]} not found at {context.data_root}")
        slug = f"{row.options['algorithm']}{'-bdp' if row.options['bdp'] else ''}-{row.dataset}"
        run_dir = context.out / "runs" / slug / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)

        seed_everything(seed, workers=True, verbose=False)
        datamodule = search_datamodule(
            source,
            per_class=settings.images_per_class,
            batch_size=settings.batch_size,
            seed=seed,
            cache_dir=context.out / "data",
        )
        space = {"search_space": "nasbench201", "space_options": {"C": settings.C, "N": settings.N}}
        if row.options["algorithm"] == "beta-darts":
            model: DARTS = BetaDARTS(**space, num_classes=CLASSES[row.dataset], lambda_epochs=2 * settings.epochs)
        else:
            model = DARTS(**space, num_classes=CLASSES[row.dataset], order=1)
        callbacks: list[Callback] = []
        pruning: dict[str, Any] = {}
        if row.options["bdp"]:
            train_ratio, val_ratio = BDP_PRESETS[_PRESET[row.dataset]]
            pruning = {"interval": settings.interval, "train_ratio": train_ratio, "val_ratio": val_ratio}
            callbacks.append(VoEPruning(**pruning, dirpath=str(run_dir)))
        search = search_nb201(
            model,
            datamodule,
            epochs=settings.epochs,
            run_dir=run_dir,
            limit_train_batches=settings.limit_train_batches,
            accelerator=context.accelerator,
            callbacks=callbacks,
            datasets=[key for key, _ in self.metrics],
            label=f"seed {seed}",
        )
        genotype, metrics, cost_values, notes = search.genotype, search.metrics, search.cost, search.notes
        details = {
            "genotype": genotype,
            "data": str(source),
            "start_pool": search.start_pool,
            "end_pool": search.end_pool,
            "run_dir": str(run_dir),
            **({"bdp": pruning} if pruning else {}),
        }
        (run_dir / "run.json").write_text(json.dumps({"metrics": metrics, "cost": cost_values, **details}, indent=1))
        return SeedRun(seed=seed, metrics=metrics, cost=cost_values, details=details, notes=notes)
