"""What a search cost: samples forwarded and back-propagated per split, wall time per phase, effective data fraction."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from typing_extensions import override

from lightning_nas.checks import check_path

_SPLITS: tuple[str, ...] = ("train", "val")
# the counters summed over ranks, in this order
_COUNTS: tuple[str, ...] = ("train_samples", "val_samples", "train_passes", "val_passes", "eval_samples")
# the times, the slowest rank's
_TIMES: tuple[str, ...] = ("train_time_s", "val_time_s")
# DARTS's unrolled (second-order) step passes the weight split's batch forward and backward 4 times: the weight step,
# the virtual step and the two finite-difference passes of the Hessian-vector product
_UNROLLED_TRAIN_PASSES = 4


def _length(batch: Any) -> int:
    """The number of samples of a batch: the length of its first tensor."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, Mapping):
        batch = next(iter(batch.values()), None)
        return _length(batch)
    if isinstance(batch, (list, tuple)) and batch:
        return _length(batch[0])
    return 0


class SearchCost(Callback):
    """Accounts for what a search cost: samples, forward/backward passes, wall time and the effective data fraction.

    Counted in every training step, from the per-sample records the module returns (``outputs[split]["ids"]``, the
    contract :class:`~lightning_nas.callbacks.VoEPruning` reads; without them the ``"train"`` entry of a paired batch,
    or the whole batch, counts as the weight split):

    * ``cost/{split}_samples``: samples of the weight (``train``) and architecture (``val``) split drawn;
    * ``cost/{split}_passes``: sample passes forward **and** backward, the "#optimization" of GreedyNAS's Table 1.
      First-order DARTS passes each sample once. A module may report its own count per sample and step by returning
      ``"passes": {"train": k_t, "val": k_v}``; otherwise a module with ``hparams.order == 2`` (the DARTS family's
      unrolled step) counts 4 passes per weight-split sample in the steps that update the architecture (weight step,
      virtual step, two finite-difference passes; an approximation: the two finite-difference passes are skipped when
      the validation gradient is exactly 0). Passes count samples, not FLOPs (PC-DARTS's partial channels pass the
      same samples at a fraction of the cost);
    * ``cost/eval_samples``: samples forwarded (without backward) by the validation loop during fit, the
      "#evaluation";
    * ``cost/optimization`` (all passes) and ``cost/evaluation`` (= ``eval_samples``);
    * ``cost/train_time_s`` (training steps, validation excluded), ``cost/val_time_s`` (validation loop, the sanity
      check excluded), ``cost/epoch_time_s`` (the last epoch's training phase);
    * ``cost/data_fraction``: samples drawn from both splits / (epochs x the full pool), 1.0 for DARTS on all its
      data and less when the data is pruned or reduced (the pool is the data module's ``pool_size``, else both
      splits' active ids at the start of fit); ``cost/epoch_data_fraction`` is the last epoch's.

    All are cumulative over the fit (resumes included: the totals are in the callback's state), summed over DDP ranks
    (times: the slowest rank), logged at every epoch end, and at the end of fit set in ``trainer.callback_metrics``
    together with ``cost/epochs`` and ``cost/total_time_s`` (the wall time of ``fit``), and written as
    ``search_cost.json`` into ``dirpath`` or the log directory by global rank 0.

    Args:
        filename: name of the JSON summary.
        dirpath: folder of the summary; ``None`` uses ``trainer.log_dir`` (or ``default_root_dir``).

    Raises:
        ValueError: ``filename`` is not a plain file name.

    Example:
        >>> from lightning import Trainer
        >>> cost = SearchCost()
        >>> trainer = Trainer(callbacks=[cost], logger=False, enable_progress_bar=False)
        >>> cost.summary()["cost/train_samples"]
        0.0

    References:
        You et al., "GreedyNAS", CVPR 2020, Table 1 (#optimization / #evaluation accounting).
    """

    def __init__(self, filename: str = "search_cost.json", dirpath: str | None = None) -> None:
        if not isinstance(filename, str) or not filename or os.sep in filename:
            raise ValueError(
                f"`SearchCost(filename={filename!r})`: `filename` must be a plain file name. Got {filename!r} instead."
            )
        check_path("SearchCost", "dirpath", dirpath)
        self.filename = filename
        self.dirpath = dirpath
        self._totals: dict[str, float] = dict.fromkeys((*_COUNTS, *_TIMES, "epochs", "fit_time_s", "pool"), 0.0)
        self._epoch: dict[str, float] = dict.fromkeys((*_COUNTS, *_TIMES), 0.0)
        self._last: dict[str, float] = {"epoch_time_s": 0.0, "epoch_data_fraction": 0.0}
        self._fit_start: float | None = None
        self._epoch_start: float | None = None
        self._val_start: float | None = None

    # ---------------------------------------------------------------------------------------------------------------
    # results
    # ---------------------------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, float]:
        """The totals so far, keyed ``cost/...`` (the wall time of a fit in progress included)."""
        t = self._totals
        fit_time = t["fit_time_s"] + (time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0)
        drawn = t["train_samples"] + t["val_samples"]
        denominator = t["epochs"] * t["pool"]
        values = {
            **{key: t[key] for key in (*_COUNTS, *_TIMES)},
            "optimization": t["train_passes"] + t["val_passes"],
            "evaluation": t["eval_samples"],
            "data_fraction": drawn / denominator if denominator else 0.0,
            "epochs": t["epochs"],
            "total_time_s": fit_time,
            **self._last,
        }
        return {f"cost/{key}": float(value) for key, value in values.items()}

    # ---------------------------------------------------------------------------------------------------------------
    # hooks
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._fit_start = time.perf_counter()
        datamodule = getattr(trainer, "datamodule", None)
        pool = getattr(datamodule, "pool_size", None)
        if not isinstance(pool, int):
            active_ids = getattr(datamodule, "active_ids", None)
            pool = sum(len(active_ids(split)) for split in _SPLITS) if callable(active_ids) else 0
        if not self._totals["pool"]:
            self._totals["pool"] = float(pool)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._epoch = dict.fromkeys((*_COUNTS, *_TIMES), 0.0)
        self._epoch_start = time.perf_counter()

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        records = outputs if isinstance(outputs, Mapping) else {}
        reported = records.get("passes") if isinstance(records.get("passes"), Mapping) else None
        samples = {}
        for split in _SPLITS:
            entry = records.get(split)
            if isinstance(entry, Mapping) and isinstance(entry.get("ids"), Tensor):
                samples[split] = entry["ids"].numel()
        if not samples:  # no per-sample records: the weight split's batch was used once
            samples["train"] = _length(batch["train"] if isinstance(batch, Mapping) and "train" in batch else batch)
        unrolled = getattr(pl_module, "hparams", {}).get("order") == 2 and "val" in samples
        for split, count in samples.items():
            if reported is not None and split in reported:
                passes = float(reported[split])
            else:
                passes = float(_UNROLLED_TRAIN_PASSES if unrolled and split == "train" else 1)
            self._epoch[f"{split}_samples"] += count
            self._epoch[f"{split}_passes"] += count * passes

    @override
    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._val_start = None if trainer.sanity_checking else time.perf_counter()

    @override
    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._val_start is not None:
            self._epoch["eval_samples"] += _length(batch)

    @override
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._val_start is not None:
            self._epoch["val_time_s"] += time.perf_counter() - self._val_start
            self._val_start = None

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        start = self._epoch_start if self._epoch_start is not None else time.perf_counter()
        self._epoch["train_time_s"] = max(0.0, time.perf_counter() - start - self._epoch["val_time_s"])
        local = torch.tensor(
            [self._epoch[k] for k in (*_COUNTS, *_TIMES)], dtype=torch.float64, device=pl_module.device
        )
        if trainer.world_size > 1:
            gathered = pl_module.all_gather(local)
            local = torch.cat([gathered[:, : len(_COUNTS)].sum(0), gathered[:, len(_COUNTS) :].max(0).values])
        epoch = dict(zip((*_COUNTS, *_TIMES), local.cpu().tolist()))
        for key, value in epoch.items():
            self._totals[key] += value
        self._totals["epochs"] += 1
        pool = self._totals["pool"]
        self._last = {
            "epoch_time_s": epoch["train_time_s"],
            "epoch_data_fraction": (epoch["train_samples"] + epoch["val_samples"]) / pool if pool else 0.0,
        }
        for key, value in self.summary().items():
            if key != "cost/total_time_s":
                # identical on every rank (reduced above); `sync_dist` keeps Lightning from warning
                pl_module.log(key, value, on_step=False, on_epoch=True, sync_dist=True)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._fit_start is not None:
            self._totals["fit_time_s"] += time.perf_counter() - self._fit_start
            self._fit_start = None
        summary = self.summary()
        for key, value in summary.items():
            trainer.callback_metrics[key] = torch.tensor(value)
        # `trainer.log_dir` is a collective (it broadcasts rank 0's): every rank resolves it, rank 0 writes
        dirpath = self.dirpath or trainer.log_dir or trainer.default_root_dir
        if not trainer.is_global_zero:
            return
        os.makedirs(dirpath, exist_ok=True)
        path = os.path.join(dirpath, self.filename)
        with open(path, "w") as f:
            json.dump({key.removeprefix("cost/"): value for key, value in summary.items()}, f, indent=1)
        rank_zero_info(
            f"SearchCost: {summary['cost/epochs']:.0f} epochs, {summary['cost/optimization']:.0f} sample passes, "
            f"data fraction {summary['cost/data_fraction']:.3f}, {summary['cost/total_time_s']:.1f} s; "
            f"written to {path}"
        )

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        totals = dict(self._totals)
        if self._fit_start is not None:  # a checkpoint during fit: count the wall time so far
            totals["fit_time_s"] += time.perf_counter() - self._fit_start
        return {"totals": totals, "last": dict(self._last)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key, value in state_dict.get("totals", {}).items():
            self._totals[key] = float(value)
        self._last.update({k: float(v) for k, v in state_dict.get("last", {}).items()})
