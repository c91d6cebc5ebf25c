"""Reduction data modules: select a subset of any search data module's pool once, before the search.

:class:`CoresetDataModule` (Shim et al., 2021: per-class greedy k-center on Inception-v3 embeddings),
:class:`EntropyProxyDataModule` (Na et al., IJCAI 2021: histogram-weighted sampling of a baseline's entropies) and
:class:`RandomSubsetDataModule` (the uniform baseline of both papers) wrap a
:class:`~lightning_nas.datamodules.SearchDataModule` (CIFAR, SVHN, an ImageFolder tree, your arrays, ...). In ``setup``
they select pool ids (on global rank 0, then broadcast to every rank), split the selection into the weight and the
architecture split, and hand both to the wrapped module (:meth:`~lightning_nas.datamodules.SearchDataModule.reassign`):
its loaders, augmentation, paired batches and id removal then run on the selection only. Everything else of the
search data module contract (``active_ids``, ``remove_ids``, ``labels``, ``pool_dataloader``, ...) is delegated, so a
search method, a pruning callback (BDP on top of a core-set) and checkpoint resume work unchanged.

Each selection is written to a JSON manifest (the ids, both splits, the settings and a content hash; by default into
the Trainer's log directory) that ``manifest=path`` reuses exactly in a later run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn
from typing_extensions import override

import lightning_nas.selection as selection
from lightning_nas.checks import check_bool, check_choice, check_number, check_path

from .search import SearchDataModule
from .splits import num_train, stratified_split

AlphaSplit = Literal["darts", "heldout"]
Weighting = Literal["P1", "P2", "P3", "beta"]

MANIFEST_FORMAT = "lightning_nas.selection/1"
MANIFEST_NAME = "selection_manifest.json"
_SPLIT_STREAM = 0x53504C4954  # mixed into the seed of the weight/architecture shuffle
_MAX_LISTED_CLASSES = 20

# data module class name -> key of lightning_nas.selection.DEFAULT_BIN_WIDTHS
_DATASET_NAMES = {
    "CIFAR10SearchDataModule": "cifar10",
    "CIFAR100SearchDataModule": "cifar100",
    "SVHNSearchDataModule": "svhn",
    "ImageFolderSearchDataModule": "imagenet",
}


def ids_digest(selected: np.ndarray, train: np.ndarray, val: np.ndarray) -> str:
    """SHA-256 of the selected ids and both splits (sorted int64, little-endian): the manifest's content hash.

    Example:
        >>> a = ids_digest(np.array([1, 2]), np.array([1]), np.array([2]))
        >>> a == ids_digest(np.array([2, 1]), np.array([1]), np.array([2])), a == ids_digest([1, 2], [2], [1]), len(a)
        (True, False, 64)
    """
    h = hashlib.sha256()
    for part in (selected, train, val):
        values = np.sort(np.asarray(part, dtype="<i8").reshape(-1))
        h.update(len(values).to_bytes(8, "little"))
        h.update(values.tobytes())
    return h.hexdigest()


def _as_ids(values: Any) -> np.ndarray:
    ids = np.asarray(values, dtype=np.int64).reshape(-1)
    ids = np.sort(ids)
    ids.flags.writeable = False
    return ids


def _load_array(name: str, owner: str, value: Any) -> np.ndarray:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"`{owner}({name}={str(value)!r})`: no such file.")
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# --------------------------------------------------------------------------------------------------------------------
# base
# --------------------------------------------------------------------------------------------------------------------
class ReductionDataModule(LightningDataModule):
    """Base of the data modules that reduce a wrapped search data module's pool before the search.

    Subclasses implement :meth:`select` (and, when the selection needs expensive scores such as embeddings or a
    baseline's logits, :meth:`compute_scores`). The base runs the selection once in ``setup`` and applies it:

    1. **Where.** Under a Trainer, the scores are computed in ``prepare_data`` on global rank 0 (Lightning waits
       there without a timeout), the selection is made in ``setup`` on global rank 0 and broadcast with
       ``trainer.strategy.broadcast``, so every rank searches the same ids. Without a Trainer, everything runs in
       ``setup``; the seed makes it identical in every process.
    2. **Split.** ``alpha_split="darts"`` (default) gives ``floor((1 - val_fraction) k)`` of the ``k`` selected ids
       to the weight split and the rest to the architecture split (proxy data's ``train_portion=0.5``, spec 5.4), at
       random with the seed and within every class
       (:func:`~lightning_nas.datamodules.splits.stratified_split`), so both splits hold every selected class.
       ``"heldout"`` selects among the wrapped module's weight split only and keeps its architecture split whole
       for the architecture updates (the core-set paper's use of a separate validation set, spec ambiguity 18;
       e.g. wrap a module whose architecture split is the held-out data).
    3. **Apply.** The splits go to the wrapped module
       (:meth:`~lightning_nas.datamodules.SearchDataModule.reassign`), whose loaders then iterate the selection only.
    4. **Record.** The per-class counts are logged (``rank_zero_info``; metrics ``data/num_selected``,
       ``data/selected_fraction``, ``data/class_count_min``, ``data/class_count_max`` and a ``selection``
       hyperparameter group on every attached logger), and a manifest (ids, splits, settings, content hash) is
       written on global rank 0 to ``save_manifest`` (default: ``selection_manifest.json`` in the Trainer's log
       directory). ``manifest=path`` reuses a manifest's selection and splits exactly instead of selecting.

    The selection is saved in :meth:`state_dict` (with the wrapped module's state: assignment and removals), so a
    resumed run continues on the same ids. Lightning calls ``setup`` before it restores a checkpoint, so a resumed
    run computes a selection and then replaces it by the saved one (cheap when the scores are cached; pass the run's
    manifest to skip it).

    Args:
        datamodule: the search data module to reduce.
        fraction: fraction of the pool to select, in (0, 1].
        seed: seeds the selection and the split shuffle; ``None`` uses the wrapped module's resolved seed (its
            ``seed``, else ``lightning.seed_everything``'s).
        manifest: a manifest written by an earlier run to reuse (its ids and splits, exactly).
        save_manifest: where to write the manifest: ``True`` for the Trainer's log directory (nothing without a
            Trainer), a path, or ``False``.
        alpha_split: ``"darts"`` splits the selection into weight/architecture parts; ``"heldout"`` selects within the
            wrapped module's weight split and keeps its architecture split whole.
        val_fraction: fraction of the selection in the architecture split (``"darts"`` only), in (0, 1).
        progress: show progress bars while scoring the pool.

    Raises:
        TypeError: ``datamodule`` is not a :class:`~lightning_nas.datamodules.SearchDataModule`, or an argument is of
            the wrong type (e.g. a number given as a string).
        ValueError: an argument is out of range.
    """

    method = "subset"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        *,
        seed: int | None = None,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
        progress: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(datamodule, SearchDataModule):
            raise TypeError(
                f"`{name}(datamodule=...)`: `datamodule` must be a `SearchDataModule` (e.g. "
                f"`CIFAR10SearchDataModule`). Got {type(datamodule).__name__} instead."
            )
        if fraction is not None:  # None: a subclass that selects by count
            check_number(name, "fraction", fraction, low=0, high=1, low_open=True)
        check_number(name, "seed", seed, integer=True, optional=True)
        check_path(name, "manifest", manifest)
        if not isinstance(save_manifest, (bool, str, os.PathLike)):
            raise TypeError(
                f"`{name}(save_manifest={save_manifest!r})`: `save_manifest` must be a bool or a path. "
                f"Got {type(save_manifest).__name__} instead."
            )
        check_choice(name, "alpha_split", alpha_split, ("darts", "heldout"))
        check_number(name, "val_fraction", val_fraction, low=0, high=1, low_open=True, high_open=True)
        check_bool(name, "progress", progress)
        self.datamodule = datamodule
        self.fraction = None if fraction is None else float(fraction)
        self.seed = None if seed is None else int(seed)
        self.manifest = None if manifest is None else str(manifest)
        self.save_manifest = save_manifest
        self.alpha_split = alpha_split
        self.val_fraction = float(val_fraction)
        self.progress = progress
        self._selected: np.ndarray | None = None
        self._pending_state: dict[str, Any] | None = None
        self._scores: Any = None
        self._summary: dict[str, Any] = {}
        self.manifest_path: str | None = None

    # ---------------------------------------------------------------------------------------------------------------
    # validation helpers
    # ---------------------------------------------------------------------------------------------------------------
    def _msg(self, name: str, value: Any, requirement: str) -> str:
        return f"`{type(self).__name__}({name}={value!r})`: `{name}` {requirement}. Got {value!r} instead."

    def _require_selection(self, what: str) -> np.ndarray:
        if self._selected is None:
            raise RuntimeError(f"`{type(self).__name__}.{what}` needs the selection: call `setup('fit')` first.")
        return self._selected

    # ---------------------------------------------------------------------------------------------------------------
    # trainer propagation: the wrapped module shards and counts epochs with the trainer it sees
    # ---------------------------------------------------------------------------------------------------------------
    @property
    def trainer(self) -> Any:
        """The attached Trainer (shared with the wrapped module)."""
        return self.__dict__.get("_trainer")

    @trainer.setter
    def trainer(self, trainer: Any) -> None:
        self.__dict__["_trainer"] = trainer
        inner = self.__dict__.get("datamodule")
        if inner is not None:
            inner.trainer = trainer

    # ---------------------------------------------------------------------------------------------------------------
    # subclass hooks
    # ---------------------------------------------------------------------------------------------------------------
    def compute_scores(self, candidates: np.ndarray) -> Any:
        """Computes what :meth:`select` needs for the candidate ids (embeddings, logits); ``None`` if nothing.

        Called once, on global rank 0 (in ``prepare_data`` under a Trainer), never when a manifest is reused.
        """
        return None

    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        """Returns the selected pool ids among ``candidates`` (sorted int64 ids).

        Args:
            candidates: the candidate pool ids (sorted).
            labels: their labels.
            scores: what :meth:`compute_scores` returned.
            seed: the selection seed.
        """
        raise NotImplementedError(f"`{type(self).__name__}` must implement `select()`.")

    def settings(self) -> dict[str, Any]:
        """The settings recorded in the manifest (JSON-serialisable)."""
        return {
            "fraction": self.fraction,
            "alpha_split": self.alpha_split,
            "val_fraction": self.val_fraction,
        }

    def selection_stats(self, selected: np.ndarray) -> dict[str, Any]:
        """Extra statistics of a selection to log and record (e.g. an entropy histogram); JSON-serialisable."""
        return {}

    # ---------------------------------------------------------------------------------------------------------------
    # the selection
    # ---------------------------------------------------------------------------------------------------------------
    def _resolved_seed(self) -> int:
        return self.seed if self.seed is not None else int(self.datamodule.resolved_seed)

    def _candidates(self) -> np.ndarray:
        inner = self.datamodule
        if self.alpha_split == "heldout":
            return np.asarray(inner.active_ids("train"), dtype=np.int64)
        return np.arange(inner.pool_size, dtype=np.int64)

    def _device(self) -> torch.device | None:
        trainer = self.trainer
        return None if trainer is None else trainer.strategy.root_device

    def _is_global_zero(self) -> bool:
        trainer = self.trainer
        return trainer is None or trainer.global_rank == 0

    def _ensure_scores(self) -> Any:
        if self._scores is None:
            self._scores = self.compute_scores(self._candidates())
        return self._scores

    def _split(self, selected: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.alpha_split == "heldout":
            return selected, np.asarray(self.datamodule.active_ids("val"), dtype=np.int64)
        k = len(selected)
        n_train = num_train(k, self.val_fraction)
        if n_train < 1 or k - n_train < 1:
            raise ValueError(
                f"`{type(self).__name__}(val_fraction={self.val_fraction})`: the selection of {k} samples leaves "
                f"{n_train} for the weight split and {k - n_train} for the architecture split; each needs at least 1. "
                "Select more samples."
            )
        selected = np.sort(selected)
        labels = np.asarray(self.datamodule.labels)[selected]
        rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _SPLIT_STREAM])
        lone = [int(c) for c, count in zip(*np.unique(labels, return_counts=True)) if count == 1]
        if lone:
            rank_zero_warn(
                f"{type(self).__name__}: the selection holds the class(es) {lone} once; they are in the weight split "
                "only (a class needs two selected samples to be in both splits)."
            )
        return stratified_split(selected, labels, self.val_fraction, rng, owner=type(self).__name__, singletons="train")

    def _decide(self) -> dict[str, Any]:
        """Selects (or reads the manifest) and splits; runs on global rank 0 only under a Trainer."""
        if self.manifest is not None:
            return self._read_manifest(self.manifest)
        seed = self._resolved_seed()
        candidates = self._candidates()
        labels = np.asarray(self.datamodule.labels)[candidates]
        selected = _as_ids(self.select(candidates, labels, self._ensure_scores(), seed))
        if len(selected) == 0 or len(np.unique(selected)) != len(selected) or not np.isin(selected, candidates).all():
            raise RuntimeError(f"`{type(self).__name__}.select()` returned invalid ids (empty, repeated or foreign).")
        train, val = self._split(selected, seed)
        return {"selected": selected, "train": train, "val": val, "seed": seed, "source": "selected"}

    def _broadcast_decision(self) -> dict[str, Any]:
        trainer = self.trainer
        distributed = trainer is not None and trainer.world_size > 1
        if not distributed:
            return self._decide()
        payload: dict[str, Any] | None = None
        if trainer.global_rank == 0:
            try:
                payload = self._decide()
            except Exception as err:  # tell the other ranks instead of leaving them waiting in the broadcast
                trainer.strategy.broadcast({"error": f"{type(err).__name__}: {err}"}, src=0)
                raise
        payload = trainer.strategy.broadcast(payload, src=0)
        if "error" in payload:
            raise RuntimeError(
                f"`{type(self).__name__}.setup()`: the selection failed on global rank 0: {payload['error']}"
            )
        return payload

    # ---------------------------------------------------------------------------------------------------------------
    # Lightning hooks
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def prepare_data(self) -> None:
        """Prepares the wrapped module (downloads) and, on global rank 0, computes the selection's scores.

        Lightning calls this on one process per node and waits there without a timeout, so the expensive part
        (embedding the pool, training the entropy baseline) cannot trip the distributed timeout of ``setup``.
        """
        self.datamodule.prepare_data()
        if self.manifest is None and self._selected is None and self._is_global_zero():
            self.datamodule.setup("fit")
            self._ensure_scores()

    @override
    def setup(self, stage: str | None = None) -> None:
        """Sets up the wrapped module, then selects, splits and applies the subset (once; test/predict skip it)."""
        self.datamodule.trainer = self.trainer
        self.datamodule.setup(stage)
        if self._selected is not None or stage in ("test", "predict"):
            return
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            self.load_state_dict(pending)
            return
        decision = self._broadcast_decision()
        self._apply(decision)
        self._scores = None  # embeddings can be large; the selection is made

    def _apply(self, decision: dict[str, Any]) -> None:
        selected, train, val = (_as_ids(decision[k]) for k in ("selected", "train", "val"))
        candidates = self._candidates()  # before the reassignment ("heldout" reads the wrapped module's split)
        self.datamodule.reassign(train, val)
        self._selected = selected
        self._summary = self._summarise(selected, train, val, decision, candidates)
        self._report()
        self._write_manifest(decision)

    def _summarise(
        self, selected: np.ndarray, train: np.ndarray, val: np.ndarray, decision: dict, candidates: np.ndarray
    ) -> dict[str, Any]:
        labels = np.asarray(self.datamodule.labels)
        num_classes = int(self.datamodule.num_classes)
        pool_counts = np.bincount(labels[candidates], minlength=num_classes)
        counts = np.bincount(labels[selected], minlength=num_classes)
        summary = {
            "method": self.method,
            "source": decision.get("source", "selected"),
            "seed": int(decision["seed"]) if decision.get("seed") is not None else None,
            "pool_size": int(self.datamodule.pool_size),
            "num_candidates": int(pool_counts.sum()),
            "num_selected": len(selected),
            "num_train": len(train),
            "num_val": len(val),
            "class_counts": counts.tolist(),
            "pool_class_counts": pool_counts.tolist(),
        }
        try:
            summary.update(self.selection_stats(selected))
        except Exception as err:  # statistics must never break a run
            rank_zero_warn(f"{type(self).__name__}: could not compute the selection statistics: {err}")
        return summary

    def _report(self) -> None:
        s, name = self._summary, type(self).__name__
        counts, pool = s["class_counts"], s["pool_class_counts"]
        listed = ", ".join(f"{c}: {n}/{p}" for c, (n, p) in enumerate(zip(counts, pool)) if c < _MAX_LISTED_CLASSES)
        if len(counts) > _MAX_LISTED_CLASSES:
            listed += f", ... (per class min {min(counts)}, max {max(counts)})"
        rank_zero_info(
            f"{name}: {s['source']} {s['num_selected']:,} of {s['num_candidates']:,} samples "
            f"({s['num_selected'] / max(1, s['num_candidates']):.1%}); {s['num_train']:,} weight / {s['num_val']:,} "
            f"architecture; per class selected/pool: {listed}"
        )
        histogram = s.get("entropy_histogram")
        if histogram:
            rows = "\n".join(
                f"  [{lo:7.2f}, {hi:7.2f}) {p:8d} {q:8d}"
                for lo, hi, p, q in zip(
                    histogram["edges"][:-1], histogram["edges"][1:], histogram["pool"], histogram["selected"]
                )
                if p or q
            )
            rank_zero_info(f"{name}: log10 entropy histogram   pool selected\n{rows}")
        trainer = self.trainer
        if trainer is None:
            return
        metrics = {
            "data/num_selected": float(s["num_selected"]),
            "data/selected_fraction": s["num_selected"] / max(1, s["num_candidates"]),
            "data/class_count_min": float(min(counts)),
            "data/class_count_max": float(max(counts)),
        }
        for logger in trainer.loggers:
            logger.log_hyperparams({"selection": {**self.settings(), **s}})
            logger.log_metrics(metrics, step=0)

    # ---------------------------------------------------------------------------------------------------------------
    # manifest
    # ---------------------------------------------------------------------------------------------------------------
    def _manifest_target(self) -> Path | None:
        if self.save_manifest is False:
            return None
        if not isinstance(self.save_manifest, bool):
            return Path(self.save_manifest).expanduser()
        trainer = self.trainer
        if trainer is None:
            return None
        return Path(trainer.log_dir or trainer.default_root_dir) / MANIFEST_NAME  # log_dir is collective under DDP

    def _write_manifest(self, decision: dict[str, Any]) -> None:
        target = self._manifest_target()
        if target is None:
            return
        self.manifest_path = str(target)
        if not self._is_global_zero():
            return
        selected, train, val = (np.asarray(decision[k], dtype=np.int64) for k in ("selected", "train", "val"))
        content = {
            "format": MANIFEST_FORMAT,
            "method": self.method,
            "data_module": type(self.datamodule).__name__,
            "pool_size": int(self.datamodule.pool_size),
            "seed": self._summary.get("seed"),
            "settings": self.settings(),
            "sha256": ids_digest(selected, train, val),
            "summary": {k: v for k, v in self._summary.items() if k not in ("method",)},
            "selected_ids": selected.tolist(),
            "train_ids": train.tolist(),
            "val_ids": val.tolist(),
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(content, indent=1))
        os.replace(tmp, target)
        rank_zero_info(f"{type(self).__name__}: wrote the selection manifest to {target}")

    def _read_manifest(self, path: str) -> dict[str, Any]:
        name = f"`{type(self).__name__}(manifest={path!r})`"
        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"{name}: no such file.")
        try:
            content = json.loads(file.read_text())
            selected, train, val = (
                np.asarray(content[k], dtype=np.int64) for k in ("selected_ids", "train_ids", "val_ids")
            )
            pool_size, digest = int(content["pool_size"]), str(content["sha256"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{name}: not a selection manifest ({type(err).__name__}: {err}).") from err
        if content.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{name}: unknown format {content.get('format')!r}; expected {MANIFEST_FORMAT!r}.")
        current = int(self.datamodule.pool_size)
        if pool_size != current:
            raise ValueError(
                f"{name}: the manifest was made for a pool of {pool_size:,} samples, but this "
                f"{type(self.datamodule).__name__} has {current:,}; it belongs to other data."
            )
        if ids_digest(selected, train, val) != digest:
            raise ValueError(f"{name}: the ids do not match the manifest's sha256 (the file was edited or corrupted).")
        for ids in (selected, train, val):
            if len(ids) and (ids.min() < 0 or ids.max() >= current):
                raise ValueError(f"{name}: ids outside [0, {current}).")
        if content.get("method") != self.method or content.get("settings") != self.settings():
            rank_zero_warn(
                f"{name}: the manifest was made by {content.get('method')!r} with settings {content.get('settings')}; "
                f"reusing its selection as is (this module's settings {self.settings()} are not applied)."
            )
        return {"selected": selected, "train": train, "val": val, "seed": content.get("seed"), "source": "manifest"}

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        """The selection (ids and content hash) and the wrapped module's state (splits and removals)."""
        if self._selected is None:
            return dict(self._pending_state) if self._pending_state is not None else {}
        inner = self.datamodule.state_dict()
        assignment = inner.get("assignment", {})
        return {
            "method": self.method,
            "selected_ids": self._selected.tolist(),
            "sha256": ids_digest(self._selected, assignment.get("train", []), assignment.get("val", [])),
            "data": inner,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the selection and the wrapped module's state (before ``setup``: kept and applied by ``setup``).

        Raises:
            ValueError: the saved ids do not match their hash.
        """
        if not state_dict:
            return
        if self._selected is None and not self._inner_ready():
            self._pending_state = dict(state_dict)
            return
        inner_state = state_dict.get("data", {})
        assignment = inner_state.get("assignment", {})
        selected = _as_ids(state_dict["selected_ids"])
        if ids_digest(selected, assignment.get("train", []), assignment.get("val", [])) != state_dict.get("sha256"):
            raise ValueError(f"`{type(self).__name__}.load_state_dict()`: the saved ids do not match their hash.")
        changed = self._selected is not None and not np.array_equal(self._selected, selected)
        self.datamodule.load_state_dict(inner_state)
        self._selected = selected
        train, val = (np.asarray(assignment[k], dtype=np.int64) for k in ("train", "val"))
        decision = {"selected": selected, "train": train, "val": val, "source": "checkpoint"}
        # "heldout" selected within the weight split, i.e. outside the (kept) architecture split
        candidates = np.setdiff1d(np.arange(self.pool_size), val) if self.alpha_split == "heldout" else None
        candidates = np.arange(self.pool_size) if candidates is None else candidates
        self._summary = self._summarise(selected, train, val, decision, candidates)
        if changed:
            rank_zero_warn(
                f"{type(self).__name__}: the checkpoint's selection differs from the one computed in `setup`; "
                "continuing with the checkpoint's."
            )
            if self.manifest_path is not None:
                self._write_manifest(decision)

    def _inner_ready(self) -> bool:
        try:
            self.datamodule.active_ids("train")
        except RuntimeError:
            return False
        return True

    # ---------------------------------------------------------------------------------------------------------------
    # the search data module contract, delegated
    # ---------------------------------------------------------------------------------------------------------------
    @property
    def selected_ids(self) -> np.ndarray:
        """The selected pool ids (sorted, read-only int64 array); with ``alpha_split="heldout"`` the weight split."""
        return self._require_selection("selected_ids")

    @property
    def summary(self) -> dict[str, Any]:
        """What was logged about the selection: counts per class (selected and pool), split sizes, statistics."""
        self._require_selection("summary")
        return dict(self._summary)

    @property
    def num_classes(self) -> int:
        """Number of classes of the wrapped module."""
        return self.datamodule.num_classes

    @property
    def labels(self) -> np.ndarray:
        """Labels of the full pool (indexed by id)."""
        return self.datamodule.labels

    @property
    def pool_size(self) -> int:
        """Number of samples in the full, unreduced pool."""
        return self.datamodule.pool_size

    @property
    def pool(self) -> Any:
        """The raw training pool of the wrapped module."""
        return self.datamodule.pool

    @property
    def resolved_seed(self) -> int:
        """The wrapped module's seed (order and augmentation)."""
        return self.datamodule.resolved_seed

    @property
    def train_transform(self) -> Any:
        """The wrapped module's training augmentation."""
        return self.datamodule.train_transform

    @property
    def eval_transform(self) -> Any:
        """The wrapped module's evaluation transform."""
        return self.datamodule.eval_transform

    def active_ids(self, split: Literal["train", "val"]) -> np.ndarray:
        """The active ids of a split (see :meth:`~lightning_nas.datamodules.SearchDataModule.active_ids`)."""
        return self.datamodule.active_ids(split)

    def removed_ids(self, split: Literal["train", "val"]) -> np.ndarray:
        """The ids removed from a split so far."""
        return self.datamodule.removed_ids(split)

    def remove_ids(self, split: Literal["train", "val"], ids: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        """Removes selected ids from a split, from the next epoch on (e.g. BDP pruning on top of the selection)."""
        self.datamodule.remove_ids(split, ids)

    def pool_dataloader(self, ids: Sequence[int] | np.ndarray | None = None) -> Any:
        """Iterates pool samples with the eval transform (the whole pool by default, whatever the selection)."""
        return self.datamodule.pool_dataloader(ids)

    @override
    def train_dataloader(self) -> Any:
        """The wrapped module's search loader, over the selection."""
        return self.datamodule.train_dataloader()

    @override
    def val_dataloader(self) -> Any:
        """The wrapped module's validation loader, over the selection's architecture split."""
        return self.datamodule.val_dataloader()

    @override
    def test_dataloader(self) -> Any:
        """The wrapped module's test loader (the test set is never reduced)."""
        return self.datamodule.test_dataloader()

    @override
    def teardown(self, stage: str) -> None:
        self.datamodule.teardown(stage)

    @override
    def on_exception(self, exception: BaseException) -> None:
        self.datamodule.on_exception(exception)

    @override
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return self.datamodule.transfer_batch_to_device(batch, device, dataloader_idx)

    @override
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.datamodule.on_before_batch_transfer(batch, dataloader_idx)

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.datamodule.on_after_batch_transfer(batch, dataloader_idx)


# --------------------------------------------------------------------------------------------------------------------
# random subset
# --------------------------------------------------------------------------------------------------------------------
class RandomSubsetDataModule(ReductionDataModule):
    """A uniformly random subset of the pool: the baseline of the core-set and proxy-data papers.

    Selects ``floor(fraction * N)`` ids uniformly without replacement (``class_balanced=True``: the same fraction of
    every class), then splits them as :class:`ReductionDataModule` describes.

    Args:
        datamodule: the search data module to reduce.
        fraction: fraction of the pool to select, in (0, 1].
        seed: seeds the selection and the split; ``None`` uses the wrapped module's resolved seed.
        class_balanced: select the same fraction of every class.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` or ``"heldout"`` (see :class:`ReductionDataModule`).
        val_fraction: fraction of the selection in the architecture split.

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range; (in ``setup``) the selection would be empty.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> dm = RandomSubsetDataModule(data, fraction=0.25, seed=0)
        >>> dm.setup("fit")
        >>> len(dm.selected_ids), len(dm.active_ids("train")), len(dm.active_ids("val"))
        (10, 5, 5)
        >>> RandomSubsetDataModule(data, fraction=1.5)
        Traceback (most recent call last):
        ...
        ValueError: `RandomSubsetDataModule(fraction=1.5)`: `fraction` must be a number in (0, 1]. Got 1.5 instead.

    References:
        Na et al., "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021 (random selection);
        Shim et al., "Core-set Sampling for Efficient Neural Architecture Search", ICML 2021 workshop (Table 2).
    """

    method = "random"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        seed: int | None = None,
        class_balanced: bool = False,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
    ) -> None:
        super().__init__(
            datamodule,
            fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=False,
        )
        check_bool(type(self).__name__, "class_balanced", class_balanced)
        self.class_balanced = class_balanced

    @override
    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "class_balanced": self.class_balanced}

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        size = math.floor(round(self.fraction * len(candidates), 6))
        if size < 1:
            raise ValueError(
                f"`{type(self).__name__}(fraction={self.fraction})`: selects 0 of {len(candidates)} samples."
            )
        rows = selection.random_selection(
            len(candidates), size, seed=seed, labels=labels if self.class_balanced else None
        )
        return candidates[np.asarray(rows, dtype=np.int64)]


# --------------------------------------------------------------------------------------------------------------------
# core-set
# --------------------------------------------------------------------------------------------------------------------
class CoresetDataModule(ReductionDataModule):
    """Core-set selection for NAS (Shim et al., 2021): per-class greedy k-center on image embeddings.

    For every class ``c`` with samples ``X_c`` (spec 4.2, Algorithm 1): ``initial_per_class`` random samples form
    ``s0``; greedy k-center (minimax facility location, Euclidean distance on the raw embeddings) then adds
    ``k_c = round(fraction * |X_c|)`` samples (at least 1), or ``count`` samples; the selection of the class is what
    was added, **without** ``s0``. The core-set is the union over the classes (class-balanced, ``|Q| ~ fraction * N``).
    A class whose budget equals its size is taken whole.

    The embeddings are the 2048-d pool features of an ImageNet-pretrained Inception-v3 at 299x299 (spec 4.1; the
    paper's ablation found it better than ResNet-50), computed once over the pool with the wrapped module's eval
    transform (undone and replaced by ImageNet's normalisation inside the extractor), on the Trainer's device, and
    cached on disk (``cache_dir``), so the next run with the same data and extractor loads them. Or pass them:
    ``features`` (an ``(N, D)`` array or ``.npy`` file, row ``i`` for pool id ``i``).

    The paper updates the architecture on the data set's validation split while the weights use the core-set
    (``alpha_split="heldout"``); the default here is the DARTS-style 50/50 split of the core-set
    (``alpha_split="darts"``), which needs no held-out data (spec ambiguity 18). The core-set is for the search only:
    retrain the discovered architecture on the full training set.

    Args:
        datamodule: the search data module to reduce.
        fraction: per-class selection ratio, in (0, 1].
        count: samples to select per class instead of ``fraction`` (when given, ``fraction`` is not used).
        extractor: ``"inception_v3"``, ``"resnet50"`` (or another torchvision name with an ``fc`` head), or an
            ``nn.Module`` mapping the wrapped module's eval-transformed images to features.
        weights: the torchvision weights of a named extractor: ``"DEFAULT"``, a weights file path, or ``None`` (random,
            for tests). Without internet access, pass the downloaded file.
        image_size: input side of a named extractor (``None``: 299 for Inception-v3, 224 otherwise).
        features: precomputed ``(N, D)`` features (array or ``.npy`` path); skips the extractor.
        initial_per_class: size of the random initial set ``s0`` of each class (unspecified by the paper; 1).
        cache_dir: folder of the embedding cache; ``None`` uses ``$LIGHTNING_NAS_CACHE`` or ``~/.cache/lightning_nas``.
        cache: cache the embeddings on disk.
        seed: seeds ``s0`` and the split; ``None`` uses the wrapped module's resolved seed.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` (50/50 split of the core-set) or ``"heldout"`` (core-set of the weight split for the
            weights, the wrapped module's architecture split for alpha).
        val_fraction: fraction of the core-set in the architecture split (``"darts"``).
        progress: show a progress bar while embedding.

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range; (in ``setup``) a class smaller than its budget plus
            ``initial_per_class``, features with NaN or infinite values, or features whose length is not the pool's.
        RuntimeError: (in ``setup``) the pretrained weights cannot be downloaded (the message says how to pass them).

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> dm = CoresetDataModule(data, fraction=0.2, features=torch.rand(40, 8).numpy(), seed=0)
        >>> dm.setup("fit")
        >>> np.bincount(dm.labels[dm.selected_ids]).tolist()
        [2, 2, 2, 2]

    References:
        Shim, Kong & Kang, "Core-set Sampling for Efficient Neural Architecture Search", ICML 2021 workshop,
        Algorithm 1; Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
        ICLR 2018 (greedy k-center).
    """

    method = "coreset"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        count: int | None = None,
        extractor: str | nn.Module = "inception_v3",
        weights: str | None = "DEFAULT",
        image_size: int | None = None,
        features: Any = None,
        initial_per_class: int = 1,
        cache_dir: str | None = None,
        cache: bool = True,
        seed: int | None = None,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
        progress: bool = True,
    ) -> None:
        super().__init__(
            datamodule,
            None if count is not None else fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=progress,
        )
        name = type(self).__name__
        check_number(name, "count", count, low=1, integer=True, optional=True)
        if not isinstance(extractor, (str, nn.Module)):
            raise ValueError(self._msg("extractor", extractor, "must be a torchvision model name or an nn.Module"))
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise ValueError(self._msg("weights", weights, "must be 'DEFAULT', a weights name, a path or None"))
        check_number(name, "image_size", image_size, low=1, integer=True, optional=True)
        check_number(name, "initial_per_class", initial_per_class, low=1, integer=True)
        check_path(name, "cache_dir", cache_dir)
        check_bool(name, "cache", cache)
        self.count = None if count is None else int(count)
        self.extractor = extractor
        self.weights = None if weights is None else str(weights)
        self.image_size = image_size
        self.features = features
        self.initial_per_class = initial_per_class
        self.cache_dir = cache_dir
        self.cache = cache

    @override
    def settings(self) -> dict[str, Any]:
        extractor = self.extractor if isinstance(self.extractor, str) else type(self.extractor).__name__
        return {
            **super().settings(),
            "count": self.count,
            "extractor": "features" if self.features is not None else extractor,
            "weights": None if self.features is not None else self.weights,
            "image_size": self.image_size,
            "initial_per_class": self.initial_per_class,
        }

    def _cache_dir(self) -> str | None:
        from lightning_nas.embeddings import default_cache_dir

        if not self.cache:
            return None
        return str(self.cache_dir) if self.cache_dir is not None else str(default_cache_dir())

    def _build_extractor(self) -> nn.Module:
        from lightning_nas.embeddings import feature_extractor, normalization_of

        if isinstance(self.extractor, nn.Module):
            return self.extractor
        net = feature_extractor(self.extractor, self.weights, image_size=self.image_size, progress=self.progress)
        found = normalization_of(self.datamodule.eval_transform)
        if found is None:
            rank_zero_warn(
                f"{type(self).__name__}: could not read the normalisation of "
                f"{type(self.datamodule).__name__}'s eval transform; assuming images in [0, 1]."
            )
        else:
            net.set_input_normalization(*found)
        return net

    @override
    def compute_scores(self, candidates: np.ndarray) -> np.ndarray:
        from lightning_nas.embeddings import extract_features

        name, pool_size = type(self).__name__, int(self.datamodule.pool_size)
        if self.features is not None:
            features = _load_array("features", name, self.features)
            if features.ndim != 2 or len(features) != pool_size:
                raise ValueError(
                    f"`{name}(features=...)`: `features` must be (N, D) with one row per pool sample (N = "
                    f"{pool_size:,}). Got shape {tuple(features.shape)} instead."
                )
            features = np.asarray(features[candidates], dtype=np.float32)
        else:
            loader = self.datamodule.pool_dataloader(candidates)
            features = extract_features(
                self._build_extractor(),
                loader,
                device=self._device(),
                cache_dir=self._cache_dir(),
                progress=self.progress,
            )
        bad = ~np.isfinite(features).all(axis=1)
        if bad.any():
            rows = candidates[np.flatnonzero(bad)[:10]].tolist()
            raise ValueError(
                f"`{name}(features=...)`: the features of {int(bad.sum())} sample(s) contain NaN or infinite values "
                f"(pool ids {rows}{', ...' if bad.sum() > 10 else ''})."
            )
        return features

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        name = type(self).__name__
        sizes = np.bincount(labels)
        present = np.flatnonzero(sizes)
        if self.count is not None and self.count > sizes[present].min():
            small = int(present[np.argmin(sizes[present])])
            raise ValueError(
                f"`{name}(count={self.count})`: `count` is larger than a class: class {small} has "
                f"{int(sizes[small])} sample(s)."
            )
        budgets = selection.per_class_budgets(labels, fraction=self.fraction, count=self.count)
        chosen = []
        for c, k in sorted(budgets.items()):
            rows = np.flatnonzero(labels == c)
            n_c, k = len(rows), int(k)
            if k == n_c:
                chosen.append(candidates[rows])
                continue
            if k + self.initial_per_class > n_c:
                given = f"count={self.count}" if self.count is not None else f"fraction={self.fraction}"
                raise ValueError(
                    f"`{name}({given})`: class {c} has {n_c} sample(s), fewer than its budget {k} plus the "
                    f"{self.initial_per_class} initial sample(s) excluded from the core-set."
                )
            rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, int(c)])
            initial = np.sort(rng.choice(n_c, size=self.initial_per_class, replace=False))
            picks = selection.k_center_greedy(
                scores[rows], k, initial=initial, seed=seed, progress=self.progress, desc=f"k-center, class {c}"
            )
            chosen.append(candidates[rows[np.asarray(picks, dtype=np.int64)]])
        return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------------------------------
# entropy proxy data
# --------------------------------------------------------------------------------------------------------------------
class EntropyProxyDataModule(ReductionDataModule):
    """Proxy data (Na et al., IJCAI 2021): sample the pool by a baseline's prediction entropy.

    Every pool sample gets the entropy ``H(x) = -sum_y p(y|x) ln p(y|x)`` of a baseline classifier (float64, eval
    mode, no augmentation). ``weighting="P1"`` (the paper's method) draws ``k = floor(fraction * N)`` samples without
    replacement with probabilities from the histogram of ``log10 H`` (bin width ``bin_width``): rare entropies are
    favoured, so the tails (very easy and very hard samples) are kept and the crowded middle is thinned; ``"P2"`` and
    ``"P3"`` are the paper's alternatives; ``"beta"`` is the deterministic selection of the ``round(beta k)``
    lowest- and the rest highest-entropy samples. Not class-balanced (the per-class counts are logged). The selection
    is shuffled with the seed and split in halves: first half weights, second half architecture (spec 5.4).

    The baseline: ``logits`` (precomputed ``(N, K)``), else ``baseline`` (a trained ``nn.Module`` or a checkpoint
    path, see :func:`~lightning_nas.baseline.load_baseline`), else a CIFAR ResNet of ``baseline_depth`` (ResNet-20,
    the paper's CIFAR-10/SVHN baseline; the paper used ResNet-56 for CIFAR-100) trained by a nested
    ``lightning.Trainer`` for ``baseline_epochs`` on the whole pool with the wrapped module's augmentation, on the
    Trainer's device (:func:`~lightning_nas.baseline.train_baseline`). The trained weights and the logits are cached
    on disk (``cache_dir``). Under multi-process runs the baseline trains on global rank 0 in ``prepare_data``; to
    avoid repeating it per run, train it once with :func:`~lightning_nas.baseline.train_baseline` and pass
    ``baseline=`` or rely on the cache.

    Logged besides the per-class counts: the ``log10 H`` histogram of the pool against that of the selection
    (``summary["entropy_histogram"]``, the manifest and the ``selection`` hyperparameters).

    Args:
        datamodule: the search data module to reduce.
        fraction: fraction of the pool to select, in (0, 1] (0.1: 5,000 of CIFAR-10, the paper's main setting).
        weighting: ``"P1"``, ``"P2"``, ``"P3"`` or ``"beta"``.
        beta: the share of lowest-entropy samples of ``weighting="beta"``, in (0, 1) (0.9, the paper's best).
        bin_width: histogram bin width of ``log10 H``; ``None`` takes the paper's value for the data set (CIFAR-10
            0.5, CIFAR-100 0.25, SVHN 0.2, ImageNet/ImageFolder 0.25); required for other data modules.
        baseline: a trained classifier (``nn.Module``) or a checkpoint path; ``None`` trains one.
        logits: precomputed ``(N, K)`` logits (array or ``.npy`` path), row ``i`` for pool id ``i``.
        baseline_epochs: epochs of the trained baseline ([inferred] 200, the usual CIFAR ResNet schedule).
        baseline_depth: depth of the trained CIFAR ResNet (20).
        baseline_batch_size: batch size of the baseline training.
        cache_dir: folder of the baseline and logits cache; ``None`` uses ``$LIGHTNING_NAS_CACHE`` or
            ``~/.cache/lightning_nas``.
        cache: cache the trained baseline and the logits on disk.
        seed: seeds the baseline, the sampling and the split; ``None`` uses the wrapped module's resolved seed.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` (the paper's split of the selection) or ``"heldout"``.
        val_fraction: fraction of the selection in the architecture split.
        progress: show progress bars (baseline training and scoring).

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range, no default ``bin_width`` for this data module; (in ``setup``)
            logits whose length is not the pool's or with NaN, a selection of 0 samples.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> logits = torch.randn(40, 4).numpy() * 5
        >>> dm = EntropyProxyDataModule(data, fraction=0.25, logits=logits, bin_width=0.5, seed=0)
        >>> dm.setup("fit")
        >>> len(dm.selected_ids), sorted(dm.summary["entropy_histogram"])
        (10, ['bin_width', 'edges', 'pool', 'selected'])

    References:
        Na, Mok, Choe & Yoon, "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021, Sec. 4
        (probabilistic selection P1-P3, deterministic selection with beta).
    """

    method = "entropy"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        weighting: Weighting = "P1",
        beta: float = 0.9,
        bin_width: float | None = None,
        baseline: nn.Module | str | None = None,
        logits: Any = None,
        baseline_epochs: int = 200,
        baseline_depth: int = 20,
        baseline_batch_size: int = 128,
        cache_dir: str | None = None,
        cache: bool = True,
        seed: int | None = None,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
        progress: bool = True,
    ) -> None:
        super().__init__(
            datamodule,
            fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=progress,
        )
        name = type(self).__name__
        check_choice(name, "weighting", weighting, ("P1", "P2", "P3", "beta"))
        check_number(name, "beta", beta, low=0, high=1, low_open=True, high_open=True)
        check_number(name, "bin_width", bin_width, low=0, low_open=True, optional=True)
        if bin_width is None:
            dataset = _DATASET_NAMES.get(type(datamodule).__name__)
            defaults = getattr(selection, "DEFAULT_BIN_WIDTHS", {})
            if dataset is None or dataset not in defaults:
                raise ValueError(
                    f"`{type(self).__name__}(bin_width=None)`: no default bin width for "
                    f"{type(datamodule).__name__}; pass `bin_width` (the papers: CIFAR-10 0.5, CIFAR-100 0.25, "
                    "SVHN 0.2, ImageNet 0.25)."
                )
        if baseline is not None and not isinstance(baseline, (nn.Module, str, os.PathLike)):
            raise ValueError(self._msg("baseline", baseline, "must be an nn.Module, a checkpoint path or None"))
        for arg, value in (
            ("baseline_epochs", baseline_epochs),
            ("baseline_depth", baseline_depth),
            ("baseline_batch_size", baseline_batch_size),
        ):
            check_number(name, arg, value, low=1, integer=True)
        if (baseline_depth - 2) % 6 or baseline_depth < 8:
            raise ValueError(self._msg("baseline_depth", baseline_depth, "must be 6n + 2 (20, 32, 44, 56, 110)"))
        check_path(name, "cache_dir", cache_dir)
        check_bool(name, "cache", cache)
        self.weighting = weighting
        self.beta = float(beta)
        self.bin_width = None if bin_width is None else float(bin_width)
        self.baseline = baseline
        self.logits = logits
        self.baseline_epochs = baseline_epochs
        self.baseline_depth = baseline_depth
        self.baseline_batch_size = baseline_batch_size
        self.cache_dir = cache_dir
        self.cache = cache
        self._entropies: np.ndarray | None = None

    @property
    def resolved_bin_width(self) -> float:
        """``bin_width``, or the paper's value for the wrapped data set."""
        if self.bin_width is not None:
            return self.bin_width
        return float(selection.DEFAULT_BIN_WIDTHS[_DATASET_NAMES[type(self.datamodule).__name__]])

    @override
    def settings(self) -> dict[str, Any]:
        if self.logits is not None:
            source = "logits"
        elif self.baseline is None:
            source = f"resnet{self.baseline_depth} ({self.baseline_epochs} epochs)"
        else:
            source = (
                str(self.baseline) if isinstance(self.baseline, (str, os.PathLike)) else type(self.baseline).__name__
            )
        return {
            **super().settings(),
            "weighting": self.weighting,
            "beta": self.beta if self.weighting == "beta" else None,
            "bin_width": self.resolved_bin_width,
            "baseline": source,
        }

    def _cache_dir(self) -> str | None:
        from lightning_nas.embeddings import default_cache_dir

        if not self.cache:
            return None
        return str(self.cache_dir) if self.cache_dir is not None else str(default_cache_dir())

    def _baseline_model(self) -> nn.Module:
        from lightning_nas.baseline import load_baseline, train_baseline

        if isinstance(self.baseline, nn.Module):
            return self.baseline
        if self.baseline is not None:
            return load_baseline(self.baseline, num_classes=self.num_classes, depth=self.baseline_depth)
        device = self._device()
        accelerator, devices = "cpu", 1
        if device is not None and device.type == "cuda":
            accelerator, devices = "gpu", [device.index or 0]
        elif device is None:
            accelerator = "auto"
        return train_baseline(
            self.datamodule,
            epochs=self.baseline_epochs,
            batch_size=self.baseline_batch_size,
            depth=self.baseline_depth,
            seed=self._resolved_seed(),
            accelerator=accelerator,
            devices=devices,
            cache_dir=self._cache_dir(),
            progress=self.progress,
        )

    @override
    def compute_scores(self, candidates: np.ndarray) -> np.ndarray:
        """The float64 entropies of the candidates (from ``logits`` or the baseline's logits)."""
        from lightning_nas.baseline import predict_logits

        name, pool_size = type(self).__name__, int(self.datamodule.pool_size)
        if self.logits is not None:
            logits = _load_array("logits", name, self.logits)
            if logits.ndim != 2 or len(logits) != pool_size:
                raise ValueError(
                    f"`{name}(logits=...)`: `logits` must be (N, K) with one row per pool sample (N = {pool_size:,}). "
                    f"Got shape {tuple(logits.shape)} instead."
                )
            logits = np.asarray(logits[candidates])
        else:
            logits = predict_logits(
                self._baseline_model(),
                self.datamodule.pool_dataloader(candidates),
                device=self._device(),
                cache_dir=self._cache_dir(),
                progress=self.progress,
            )
        bad = ~np.isfinite(logits).all(axis=1)
        if bad.any():
            raise ValueError(
                f"`{name}(logits=...)`: the logits of {int(bad.sum())} sample(s) contain NaN or infinite values "
                f"(pool ids {candidates[np.flatnonzero(bad)[:10]].tolist()})."
            )
        entropies = np.asarray(selection.entropy(logits), dtype=np.float64)
        self._entropies = np.full(pool_size, np.nan)
        self._entropies[candidates] = entropies
        return entropies

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        size = math.floor(round(self.fraction * len(candidates), 6))
        if size < 1:
            raise ValueError(
                f"`{type(self).__name__}(fraction={self.fraction})`: selects 0 of {len(candidates)} samples."
            )
        if self.weighting == "beta":
            rows = selection.entropy_beta_selection(scores, size, beta=self.beta)
        else:
            rows = selection.entropy_proxy_selection(
                scores, size, bin_width=self.resolved_bin_width, weighting=self.weighting, seed=seed
            )
        return candidates[np.asarray(rows, dtype=np.int64)]

    @override
    def selection_stats(self, selected: np.ndarray) -> dict[str, Any]:
        if self._entropies is None:  # a reused manifest: nothing was scored
            return {}
        scored = np.flatnonzero(~np.isnan(self._entropies))
        hist = selection.entropy_histogram(self._entropies[scored], self.resolved_bin_width)
        rows = np.searchsorted(scored, selected)
        return {
            "entropy_histogram": {
                "bin_width": self.resolved_bin_width,
                "edges": [round(float(e), 6) for e in hist.edges],
                "pool": hist.counts.tolist(),
                "selected": np.bincount(hist.bins[rows], minlength=len(hist.counts)).tolist(),
            }
        }
