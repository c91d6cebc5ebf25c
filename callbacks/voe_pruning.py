"""Bi-level Data Pruning (BDP): progressive Variance-of-Error pruning of both search splits, as a drop-in callback."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from typing_extensions import override

from lightning_nas.checks import check_bool, check_number, check_path
from lightning_nas.data import missing_search_data_members
from lightning_nas.selection.voe import class_balance_degree, class_limits, select_prune, voe

Criterion = Literal["low/high", "high/low", "low/low", "high/high"]
_CRITERIA: tuple[str, ...] = ("low/high", "high/low", "low/low", "high/high")
_SPLITS: tuple[str, ...] = ("train", "val")

#: Pruning ratios ``(train_ratio, val_ratio)`` reconstructed from the BDP paper's reported data shrinkage
#: (PAPERS-SPEC 8.4): ``"default"`` (NAS-Bench-201 CIFAR-10, "100⇒4"), ``"c100"`` (CIFAR-100, "100⇒14") and
#: ``"aggressive"`` ("100⇒1"), each with ``interval=2`` over 50 epochs.
BDP_PRESETS: dict[str, tuple[float, float]] = {"default": (0.1, 0.2), "c100": (0.05, 0.25), "aggressive": (0.15, 0.15)}

_CONTRACT = (
    "a dict with, for each split the step used, an entry 'train' and/or 'val' holding {'ids': <pool ids, (N,)>, "
    "'el2n': <per-sample errors, (N,)>}, e.g. `return {'loss': loss, 'train': {'ids': ids, 'el2n': el2n(logits, y)}}` "
    "(`lightning_nas.selection.el2n`; the DARTS-family modules of `lightning_nas.methods` return this)"
)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return repr(value) if value is None else f"a {type(value).__name__}"


def per_sample_records(outputs: Any, owner: str, module: LightningModule) -> dict[str, tuple[Tensor, Tensor]]:
    """The ``(ids, el2n)`` pairs of a ``training_step`` output that honours the per-sample contract.

    Args:
        outputs: what ``training_step`` returned.
        owner: the callback's name, for the error message.
        module: the LightningModule, for the error message.

    Returns:
        ``{split: (ids, errors)}`` for the splits present, both flattened.

    Raises:
        TypeError: ``outputs`` does not hold per-sample records (the message says what it must hold).

    Example:
        >>> out = {"loss": torch.tensor(0.5), "train": {"ids": torch.tensor([4, 7]), "el2n": torch.tensor([0.1, 0.9])}}
        >>> per_sample_records(out, "VoEPruning", LightningModule())
        {'train': (tensor([4, 7]), tensor([0.1000, 0.9000]))}
    """
    name = type(module).__name__
    if not isinstance(outputs, Mapping) or not any(split in outputs for split in _SPLITS):
        raise TypeError(
            f"`{owner}` reads per-sample errors from what `training_step` returns, but `{name}.training_step` returned "
            f"{_describe(outputs)}. It must return {_CONTRACT}."
        )
    records = {}
    for split in _SPLITS:
        if split not in outputs:
            continue
        entry = outputs[split]
        ok = (
            isinstance(entry, Mapping)
            and isinstance(entry.get("ids"), Tensor)
            and isinstance(entry.get("el2n"), Tensor)
        )
        if not ok or entry["ids"].numel() != entry["el2n"].numel():
            raise TypeError(
                f"`{owner}`: `{name}.training_step` returned {_describe(entry)} under {split!r}; it must be "
                f"{{'ids': <tensor (N,)>, 'el2n': <tensor (N,)>}} with one error per id. The whole output must be "
                f"{_CONTRACT}."
            )
        records[split] = (entry["ids"].detach().reshape(-1), entry["el2n"].detach().reshape(-1))
    return records


def prune_quota(ratio: float, size: int) -> int:
    """``round(ratio * size)`` (halves rounded up), the number of samples one pruning step aims to remove.

    Example:
        >>> prune_quota(0.1, 25), prune_quota(0.2, 1000)
        (3, 200)
    """
    return math.floor(round(ratio * size, 9) + 0.5)


class VoEPruning(Callback):
    """Bi-level Data Pruning (BDP, Algorithm 1): progressive Variance-of-Error pruning of both search splits.

    During the search, every sample's EL2N error ``||softmax(f(x)) - onehot(y)||_2`` is read from the outputs of
    ``training_step`` (no extra forward pass: the module returns the errors of the forward passes it made anyway, see
    the per-sample contract below). Every ``interval`` epochs (1-based epoch ``% interval == 0``) the callback
    computes each remaining sample's VoE, the population variance of its errors over the last ``interval`` epochs
    (:func:`~lightning_nas.selection.voe`), and removes from the data module

    * ``round(train_ratio * |train|)`` samples of the current weight split with the **lowest** VoE (stable, easy
      samples), and
    * ``round(val_ratio * |val|)`` samples of the current architecture split with the **highest** VoE (unstable ones),

    the paper's best "Low/High" criterion (its Table 3); ``criterion`` selects any of the four (``"train/val"``).
    With ``class_balance`` the automatic class-balance constraint caps each class: with ``b`` the balance degree of
    the split's current class counts, ``n = floor(max_epochs / interval)`` prunings in all and ``N = n(1 - b^2) + 1``,
    at most ``floor(n_i / N)`` samples of class ``i`` are removed
    (:func:`~lightning_nas.selection.class_limits`); the walk in criterion order skips capped classes and stops at the
    quota, which may therefore be under-filled. The last sample of a class is never removed (with or without the
    constraint), so pruning stops cleanly instead of emptying a class. Removals take effect from the next epoch.

    Recording: when a sample has several records in one epoch (DDP pads each rank's share by wrapping around; the
    architecture split is cycled when it is smaller than the weight split) the epoch's error is their **mean**. A
    sample with fewer than 2 records in the window (the architecture split in an epoch where the architecture is
    frozen, ``limit_train_batches``) gets the median VoE of its split, a neutral score. A split in which no sample has
    2 records in the window has no VoE to rank by and is not pruned at that step (logged): e.g. the architecture split
    in the window right after an architecture warm-up that ends mid-window (PC-DARTS's 15 frozen epochs with
    ``interval=2``), or with no record at all. The window is ``interval`` consecutive epochs and starts afresh after
    each pruning.

    Supernet resets: a module that rebuilds its supernet with fresh weights during the fit (P-DARTS at each stage)
    exposes an int attribute or property ``search_stage`` that changes when it does. The callback reads it at the end of
    every epoch (after the module's own epoch-start hooks, so it is the stage the epoch's records were made in); when
    it differs from the previous epoch's, the records of the earlier epochs of the window are dropped and the window
    restarts at this epoch, so a VoE never mixes errors of two supernets (it would measure the reset, not the sample).
    The next pruning then comes ``interval`` epochs after the stage start; an incomplete window at the end of a stage
    is dropped unpruned (with ``interval=2`` and P-DARTS's 25-epoch stages: 12 prunings per stage, at stage epochs 1,
    3, ..., 23). Modules without ``search_stage`` prune every ``interval`` epochs from epoch 0 (1-based
    ``epoch % interval == 0``). ``num_prunings=None`` still counts ``floor(max_epochs / interval)`` prunings for the
    class-balance constraint; pass ``num_prunings`` to count the restarts' lost ones.

    Per-sample contract: ``training_step`` returns a dict with, for each split it used, ``"train"``/``"val"`` =
    ``{"ids": <pool ids (N,)>, "el2n": <errors (N,)>}`` (``"loss"`` beside them as usual). The DARTS family
    (``DARTS`` first and second order, ``PCDARTS``, ``BetaDARTS``, ``PDARTS``) does; any LightningModule can. The data
    module must offer ``active_ids(split)``, ``remove_ids(split, ids)`` and ``labels`` (every
    :class:`~lightning_nas.datamodules.SearchDataModule` does).

    DDP: every rank records its own share; at the epoch end the ``(ids, errors)`` of all ranks are gathered, every
    rank computes the same decision from the same gathered records, rank 0's is broadcast, and every rank removes the
    same ids. State (error window and its first epoch, the last ``search_stage``, pruning history) is saved in
    checkpoints (``weights_only``-loadable), so a run resumed from an end-of-epoch checkpoint prunes exactly as the
    uninterrupted run; the records of a partly finished epoch are not saved.

    Logged every epoch (after pruning, i.e. what the next epoch uses): ``data/train_remaining``,
    ``data/val_remaining``, ``data/{split}_balance`` (``b``) and, with ``log_class_counts``,
    ``data/{split}_class_{c}``. At the end of fit global rank 0 writes ``pruning_history.json`` (settings and one
    entry per split and pruning: ``epoch`` (0-based, as Lightning counts), ``split``, ``removed`` ids, ``quota``,
    ``balance``, ``remaining``) into ``dirpath`` or the log directory.

    Defaults: the paper does not state ``T`` and ``(p_t, p_v)`` (they are in its unavailable supplementary); ``T = 2``
    and ``(10 %, 20 %)`` of the current split sizes are reconstructed from its reported data shrinkage ("100⇒4" on
    NAS-Bench-201 CIFAR-10 over 50 epochs; PAPERS-SPEC 8.4). :data:`BDP_PRESETS` lists that and the CIFAR-100 (5 %,
    25 %) and aggressive (15 %, 15 %) settings (:meth:`from_preset`).

    Args:
        interval: ``T``, the pruning interval and VoE window in epochs (>= 2: one epoch has variance 0).
        train_ratio: ``p_t``, fraction of the current weight split removed at each pruning, in [0, 1).
        val_ratio: ``p_v``, fraction of the current architecture split removed at each pruning, in [0, 1).
        class_balance: apply the automatic class-balance constraint.
        criterion: ``"train/val"`` order: ``"low"`` removes the lowest VoE first, ``"high"`` the highest.
        num_prunings: ``n`` of the constraint; ``None`` uses ``floor(Trainer(max_epochs) / interval)``.
        log_class_counts: log each split's per-class counts every epoch.
        filename: name of the JSON pruning history.
        dirpath: folder of the history; ``None`` uses ``trainer.log_dir`` (or ``default_root_dir``).

    Raises:
        TypeError: an argument of the wrong type (e.g. a number given as a string).
        ValueError: an argument is out of range.
        TypeError: (during fit) the module does not return per-sample records, its ``search_stage`` is not an int, or
            the data module cannot remove ids.

    Example:
        >>> from lightning import Trainer
        >>> pruning = VoEPruning(interval=2, train_ratio=0.1, val_ratio=0.2)
        >>> trainer = Trainer(callbacks=[pruning], max_epochs=50, logger=False, enable_progress_bar=False)
        >>> VoEPruning.from_preset("c100").val_ratio
        0.25

    References:
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Algorithm 1, Eq. (3)-(6), Table 3; PAPERS-SPEC 8 and
        ambiguities 13-16.
    """

    def __init__(
        self,
        interval: int = 2,
        train_ratio: float = 0.1,
        val_ratio: float = 0.2,
        class_balance: bool = True,
        criterion: Criterion = "low/high",
        num_prunings: int | None = None,
        log_class_counts: bool = True,
        filename: str = "pruning_history.json",
        dirpath: str | None = None,
    ) -> None:
        name = type(self).__name__
        check_number(name, "interval", interval, integer=True)
        if interval < 2:
            raise ValueError(
                f"`{name}(interval={interval!r})`: `interval` must be an integer >= 2 (the VoE of a 1-epoch window is "
                f"always 0). Got {interval!r} instead."
            )
        for arg, value in (("train_ratio", train_ratio), ("val_ratio", val_ratio)):
            check_number(name, arg, value, low=0, high=1, high_open=True)
        check_bool(name, "class_balance", class_balance)
        if criterion not in _CRITERIA:
            raise ValueError(
                f"`VoEPruning(criterion={criterion!r})`: `criterion` must be one of {list(_CRITERIA)} (weight split / "
                f"architecture split). Got {criterion!r} instead."
            )
        check_number(name, "num_prunings", num_prunings, low=0, integer=True, optional=True)
        check_bool(name, "log_class_counts", log_class_counts)
        if not isinstance(filename, str) or not filename or os.sep in filename:
            raise ValueError(
                f"`VoEPruning(filename={filename!r})`: `filename` must be a plain file name. Got {filename!r} instead."
            )
        check_path(name, "dirpath", dirpath)
        self.interval = interval
        self.train_ratio = float(train_ratio)
        self.val_ratio = float(val_ratio)
        self.class_balance = class_balance
        self.criterion: Criterion = criterion
        self.num_prunings = num_prunings
        self.log_class_counts = log_class_counts
        self.filename = filename
        self.dirpath = dirpath
        self._window: dict[str, np.ndarray] | None = None
        self._pending: dict[str, list[tuple[Tensor, Tensor]]] = {split: [] for split in _SPLITS}
        self._history: list[dict[str, Any]] = []
        self._n_prunings = 0
        self._warned_nonfinite = False
        self._window_start: int | None = None  # first epoch of the current window (None: not started yet)
        self._stage: int | None = None  # the module's `search_stage` at the end of the last epoch (None: none seen)

    @classmethod
    def from_preset(cls, name: Literal["default", "c100", "aggressive"], **kwargs: Any) -> VoEPruning:
        """A ``VoEPruning`` with the ratios of a :data:`BDP_PRESETS` entry (other arguments as keywords).

        Raises:
            ValueError: an unknown preset name.
        """
        if name not in BDP_PRESETS:
            raise ValueError(
                f"`VoEPruning.from_preset(name={name!r})`: `name` must be one of {sorted(BDP_PRESETS)}. "
                f"Got {name!r} instead."
            )
        train_ratio, val_ratio = BDP_PRESETS[name]
        return cls(train_ratio=train_ratio, val_ratio=val_ratio, **kwargs)

    # ---------------------------------------------------------------------------------------------------------------
    # public results
    # ---------------------------------------------------------------------------------------------------------------
    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            interval=self.interval, train_ratio=self.train_ratio, val_ratio=self.val_ratio, criterion=self.criterion
        )

    @property
    def history(self) -> list[dict[str, Any]]:
        """One entry per split and pruning step.

        Each has ``epoch``, ``split``, ``removed`` (ids), ``quota``, ``balance`` and ``remaining``.
        """
        return [
            {**{k: v for k, v in entry.items() if k != "ids"}, "removed": entry["ids"].tolist()}
            for entry in self._history
        ]

    def pruned_ids(self, split: Literal["train", "val"]) -> np.ndarray:
        """All ids this callback removed from ``split`` so far (sorted int64)."""
        removed = [entry["ids"] for entry in self._history if entry["split"] == split]
        return np.sort(np.concatenate(removed)) if removed else np.zeros(0, dtype=np.int64)

    @property
    def criterion_order(self) -> dict[str, bool]:
        """Whether each split is walked from the highest VoE down (``True``) or from the lowest up."""
        train, val = self.criterion.split("/")
        return {"train": train == "high", "val": val == "high"}

    # ---------------------------------------------------------------------------------------------------------------
    # fit set-up
    # ---------------------------------------------------------------------------------------------------------------
    def _datamodule(self, trainer: Trainer) -> Any:
        datamodule = getattr(trainer, "datamodule", None)
        missing = missing_search_data_members(datamodule, ("active_ids", "remove_ids"))
        if datamodule is None or missing:
            what = "no data module" if datamodule is None else f"`{type(datamodule).__name__}`, which lacks {missing}"
            raise TypeError(
                f"`VoEPruning` prunes the data module's splits and needs one with `active_ids(split)` and "
                f"`remove_ids(split, ids)` (a `lightning_nas.datamodules.SearchDataModule`); the trainer has {what}. "
                "Pass it as `trainer.fit(model, datamodule=...)`."
            )
        return datamodule

    def _labels(self, datamodule: Any) -> np.ndarray | None:
        try:
            labels = getattr(datamodule, "labels", None)
        except RuntimeError:
            labels = None
        if labels is None:
            if self.class_balance:
                raise TypeError(
                    f"`VoEPruning(class_balance=True)` needs the class of every sample: `{type(datamodule).__name__}` "
                    "has no `labels` (int array indexed by pool id). Add it or pass `class_balance=False`."
                )
            return None
        return np.asarray(labels, dtype=np.int64).reshape(-1)

    def _pool_size(self, datamodule: Any, labels: np.ndarray | None) -> int:
        size = getattr(datamodule, "pool_size", None)
        if isinstance(size, (int, np.integer)):
            return int(size)
        if labels is not None:
            return len(labels)
        return int(max((int(datamodule.active_ids(s).max(initial=-1)) for s in _SPLITS), default=-1)) + 1

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self._datamodule(trainer)

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = self._datamodule(trainer)
        labels = self._labels(datamodule)
        pool = self._pool_size(datamodule, labels)
        if self.num_prunings is not None:
            self._n_prunings = self.num_prunings
        else:
            max_epochs = trainer.max_epochs
            if max_epochs is None or max_epochs < 0:
                raise ValueError(
                    "`VoEPruning(num_prunings=None)` takes the number of prunings as floor(max_epochs / interval), but "
                    f"`Trainer(max_epochs={max_epochs})` is unbounded. Set max_epochs or pass `num_prunings`."
                )
            self._n_prunings = max_epochs // self.interval
            if self._n_prunings == 0:
                rank_zero_warn(
                    f"`VoEPruning(interval={self.interval})` never prunes: `Trainer(max_epochs={max_epochs})` is "
                    "shorter than one interval."
                )
        if self._window is None:
            self._window = {split: np.full((self.interval, pool), np.nan, dtype=np.float32) for split in _SPLITS}
        else:
            for window in self._window.values():
                if window.shape != (self.interval, pool):
                    raise ValueError(
                        f"`VoEPruning.load_state_dict()`: the saved error window has shape {window.shape} (interval, "
                        f"pool size); this run has interval={self.interval} and a pool of {pool} samples."
                    )
        self._pending = {split: [] for split in _SPLITS}

    # ---------------------------------------------------------------------------------------------------------------
    # recording
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._pending = {split: [] for split in _SPLITS}

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        for split, record in per_sample_records(outputs, "VoEPruning", pl_module).items():
            self._pending[split].append(record)

    def _gather(self, pl_module: LightningModule, split: str) -> tuple[np.ndarray, np.ndarray]:
        """All ranks' records of this epoch for ``split`` (every rank gets the same arrays, in rank order)."""
        pending = self._pending[split]
        device = pl_module.device
        if pending:
            ids = torch.cat([i.to(device=device, dtype=torch.int64) for i, _ in pending])
            errors = torch.cat([e.to(device=device, dtype=torch.float32) for _, e in pending])
        else:
            ids = torch.zeros(0, dtype=torch.int64, device=device)
            errors = torch.zeros(0, dtype=torch.float32, device=device)
        world_size = pl_module.trainer.world_size
        if world_size > 1:
            sizes = pl_module.all_gather(torch.tensor([len(ids)], device=device)).reshape(-1)
            longest = int(sizes.max())
            if longest == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
            pad = longest - len(ids)
            ids = pl_module.all_gather(torch.cat([ids, ids.new_full((pad,), -1)]))
            errors = pl_module.all_gather(torch.cat([errors, errors.new_zeros(pad)]))
            keep = torch.arange(longest, device=ids.device)[None, :] < sizes.reshape(-1, 1).to(ids.device)
            ids, errors = ids[keep], errors[keep]
        return ids.cpu().numpy(), errors.cpu().numpy().astype(np.float64)

    def _record(self, split: str, slot: int, ids: np.ndarray, errors: np.ndarray) -> None:
        window = self._window[split]
        if len(ids) and (ids.min() < 0 or ids.max() >= window.shape[1]):
            raise ValueError(
                f"`VoEPruning`: the module returned {split!r} ids outside the pool [0, {window.shape[1]}) "
                f"(got [{ids.min()}, {ids.max()}]); 'ids' must be the samples' pool ids, as the data module yields "
                "them."
            )
        finite = np.isfinite(errors)
        if not finite.all():
            if not self._warned_nonfinite:
                self._warned_nonfinite = True
                rank_zero_warn("`VoEPruning`: non-finite per-sample errors were returned and are ignored (no record).")
            ids, errors = ids[finite], errors[finite]
        if len(ids) == 0:
            return
        unique, inverse = np.unique(ids, return_inverse=True)
        # the mean of a sample's records in this epoch (duplicates: DDP padding, a cycled architecture split)
        window[slot, unique] = np.bincount(inverse, weights=errors) / np.bincount(inverse)

    # ---------------------------------------------------------------------------------------------------------------
    # pruning
    # ---------------------------------------------------------------------------------------------------------------
    def _class_counts(self, datamodule: Any, labels: np.ndarray | None, ids: np.ndarray) -> np.ndarray | None:
        if labels is None:
            return None
        num_classes = getattr(datamodule, "num_classes", None)
        minlength = int(num_classes) if isinstance(num_classes, (int, np.integer)) else int(labels.max()) + 1
        return np.bincount(labels[ids], minlength=minlength)

    def _prune(self, trainer: Trainer, epoch: int) -> None:
        datamodule = self._datamodule(trainer)
        labels = self._labels(datamodule)
        for split in _SPLITS:
            active = np.asarray(datamodule.active_ids(split), dtype=np.int64)
            if len(active) == 0:
                continue
            counts = self._class_counts(datamodule, labels, active)
            rows = self._window[split][:, active].T  # (samples, epochs of the window)
            scores = voe(rows)
            if np.isnan(scores).any():  # no sample has 2 records: all nan, nothing to rank by (Algorithm 1 needs VoE)
                what = "sample has errors from 2 epochs" if not np.isnan(rows).all() else "errors were recorded"
                why = f"no {split!r} {what}"
                rank_zero_info(
                    f"VoEPruning: epoch {epoch}: {why} in the last {self.interval} epochs (e.g. the architecture was "
                    f"frozen for part of them), so the {split!r} split is not pruned this time."
                )
                continue
            ratio = self.train_ratio if split == "train" else self.val_ratio
            quota = min(prune_quota(ratio, len(active)), len(active) - 1)
            descending = self.criterion_order[split]
            if counts is None:  # no labels (only without the class-balance constraint): one class, no caps
                removed = select_prune(active, scores, np.zeros(len(active), dtype=np.int64), quota, None, descending)
            else:
                limits = class_limits(counts, self._n_prunings) if self.class_balance else np.maximum(counts - 1, 0)
                removed = select_prune(active, scores, labels[active], quota, limits, descending)
            # every rank decided the same from the same gathered records; rank 0's decision is authoritative
            removed = np.asarray(trainer.strategy.broadcast(removed, src=0), dtype=np.int64)
            if len(removed):
                datamodule.remove_ids(split, removed)
            balance = 1.0 if counts is None else class_balance_degree(counts)
            remaining = len(active) - len(removed)
            self._history.append(
                {
                    "epoch": epoch,
                    "split": split,
                    "ids": removed,
                    "quota": quota,
                    "balance": balance,
                    "remaining": remaining,
                }
            )
            rank_zero_info(
                f"VoEPruning: epoch {epoch}: removed {len(removed)} of {len(active)} {split!r} samples (quota {quota}, "
                f"balance b={balance:.3f}); {remaining} remain."
            )

    def _search_stage(self, pl_module: LightningModule) -> int | None:
        stage = getattr(pl_module, "search_stage", None)
        if stage is None:
            return None
        if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)):
            raise TypeError(
                f"`VoEPruning` reads `{type(pl_module).__name__}.search_stage` to restart its VoE window when the "
                f"supernet is rebuilt; it must be an int (or None). Got {stage!r} instead."
            )
        return int(stage)

    def _clear_window(self) -> None:
        for window in self._window.values():
            window.fill(np.nan)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if self._window_start is None or not 0 <= epoch - self._window_start < self.interval:
            # a fresh fit (or a checkpoint from before `window_start` was saved): windows aligned to epoch 0
            self._window_start = epoch - epoch % self.interval
        stage = self._search_stage(pl_module)
        if stage is not None and self._stage is not None and stage != self._stage:
            rank_zero_info(
                f"VoEPruning: epoch {epoch}: `search_stage` changed from {self._stage} to {stage} (the supernet was "
                f"rebuilt); the VoE window restarts at this epoch, dropping the records of epochs "
                f"[{self._window_start}, {epoch})."
            )
            self._clear_window()
            self._window_start = epoch
        if stage is not None:
            self._stage = stage
        slot = epoch - self._window_start
        for split in _SPLITS:
            ids, errors = self._gather(pl_module, split)
            self._record(split, slot, ids, errors)
        self._pending = {split: [] for split in _SPLITS}
        if slot == self.interval - 1:
            self._prune(trainer, epoch)
            self._clear_window()
            self._window_start = epoch + 1
        self._log(trainer, pl_module)

    def _log(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = self._datamodule(trainer)
        labels = self._labels(datamodule)

        def log(name: str, value: float) -> None:
            # the values are identical on every rank; `sync_dist` (a mean of equal values) keeps Lightning from warning
            pl_module.log(name, float(value), on_step=False, on_epoch=True, sync_dist=True)

        for split in _SPLITS:
            active = np.asarray(datamodule.active_ids(split), dtype=np.int64)
            log(f"data/{split}_remaining", len(active))
            counts = self._class_counts(datamodule, labels, active)
            if counts is None:
                continue
            log(f"data/{split}_balance", class_balance_degree(counts))
            if self.log_class_counts:
                for c, count in enumerate(counts.tolist()):
                    log(f"data/{split}_class_{c}", count)

    # ---------------------------------------------------------------------------------------------------------------
    # output and state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # `trainer.log_dir` is a collective (it broadcasts rank 0's): every rank resolves it, rank 0 writes
        dirpath = self.dirpath or trainer.log_dir or trainer.default_root_dir
        if not trainer.is_global_zero:
            return
        os.makedirs(dirpath, exist_ok=True)
        path = os.path.join(dirpath, self.filename)
        settings = {
            "interval": self.interval,
            "train_ratio": self.train_ratio,
            "val_ratio": self.val_ratio,
            "criterion": self.criterion,
            "class_balance": self.class_balance,
            "num_prunings": self._n_prunings,
        }
        with open(path, "w") as f:
            json.dump({**settings, "history": self.history}, f, indent=1)
        rank_zero_info(f"VoEPruning: pruning history written to {path}")

    @override
    def state_dict(self) -> dict[str, Any]:
        window = {} if self._window is None else {s: torch.from_numpy(w.copy()) for s, w in self._window.items()}
        history = [
            {**entry, "ids": torch.from_numpy(np.asarray(entry["ids"], dtype=np.int64))} for entry in self._history
        ]
        return {
            "window": window,
            "history": history,
            "num_prunings": self._n_prunings,
            "window_start": self._window_start,
            "search_stage": self._stage,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        window = state_dict.get("window") or {}
        self._window = {s: np.asarray(w, dtype=np.float32).copy() for s, w in window.items()} or None
        self._history = [
            {**entry, "ids": np.asarray(entry["ids"], dtype=np.int64)} for entry in state_dict.get("history", [])
        ]
        self._n_prunings = int(state_dict.get("num_prunings", self._n_prunings))
        # absent from older checkpoints: the window then follows the plain `epoch % interval` schedule
        window_start, stage = state_dict.get("window_start"), state_dict.get("search_stage")
        self._window_start = None if window_start is None else int(window_start)
        self._stage = None if stage is None else int(stage)
