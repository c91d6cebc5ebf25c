"""Select before the search: the base of the data modules that restrict a search to a subset of the pool.

:class:`SubsetSelectionDataModule` wraps a :class:`~lightning_nas.datamodules.SearchDataModule` (CIFAR, SVHN, an
ImageFolder tree, your arrays, ...) and leaves a strategy only its selection logic (:meth:`~SubsetSelectionDataModule.
select`, and :meth:`~SubsetSelectionDataModule.compute_scores` when it needs embeddings or a baseline's logits). The
base selects the pool ids once (on global rank 0, then broadcast to every rank), splits the selection into the weight
and the architecture split, hands both to the wrapped module
(:meth:`~lightning_nas.datamodules.SearchDataModule.reassign`), logs it, writes a manifest
(:mod:`~lightning_nas.datamodules.manifest`) and saves it in checkpoints. Everything else of the search-data contract
is forwarded by :class:`~lightning_nas.datamodules.WrappedDataModule`, so a search method, a pruning callback (BDP on
top of a core-set) and checkpoint resume work unchanged.

The strategies: :class:`~lightning_nas.datamodules.RandomSubsetDataModule` (uniform),
:class:`~lightning_nas.datamodules.CoresetDataModule` (per-class greedy k-center) and
:class:`~lightning_nas.datamodules.EntropyProxyDataModule` (a baseline's prediction entropy).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from typing_extensions import override

from lightning_nas.checks import check_bool, check_choice, check_number, check_path
from lightning_nas.data import seeded_rng
from lightning_nas.embeddings import default_cache_dir

from .manifest import MANIFEST_NAME, build_manifest, ids_digest, read_manifest, write_manifest
from .search import SearchDataModule
from .splits import num_train, stratified_split
from .wrapped import WrappedDataModule

__all__ = ["AlphaSplit", "SubsetSelectionDataModule"]

AlphaSplit = Literal["darts", "heldout"]

_SPLIT_STREAM = 0x53504C4954  # mixed into the seed of the weight/architecture shuffle
_MAX_LISTED_CLASSES = 20


def _as_ids(values: Any) -> np.ndarray:
    ids = np.sort(np.asarray(values, dtype=np.int64).reshape(-1))
    ids.flags.writeable = False
    return ids


class SubsetSelectionDataModule(WrappedDataModule):
    """Base of the select-before-search data modules: select a subset of a wrapped module's pool once, in ``setup``.

    (The EcoNAS reduced setting, which resizes batches and keeps a fixed random fraction, is
    :class:`~lightning_nas.datamodules.ReducedDataModule`.)

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

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> class FirstIds(SubsetSelectionDataModule):  # a strategy is its selection logic only
        ...     method = "first"
        ...
        ...     def select(self, candidates, labels, scores, seed):
        ...         return candidates[: int(self.fraction * len(candidates))]
        >>> data = ArraySearchDataModule(torch.rand(20, 3, 4, 4), torch.arange(20) % 2)
        >>> dm = FirstIds(data, fraction=0.4, seed=0, save_manifest=False)
        >>> dm.setup("fit")
        >>> dm.selected_ids.tolist(), len(dm.active_ids("train")), len(dm.active_ids("val"))
        ([0, 1, 2, 3, 4, 5, 6, 7], 4, 4)
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
        super().__init__(datamodule)
        name = type(self).__name__
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
        rng = seeded_rng(seed, _SPLIT_STREAM)
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
        content = build_manifest(
            method=self.method,
            data_module=type(self.datamodule).__name__,
            pool_size=int(self.datamodule.pool_size),
            seed=self._summary.get("seed"),
            settings=self.settings(),
            summary=self._summary,
            selected=decision["selected"],
            train=decision["train"],
            val=decision["val"],
        )
        write_manifest(target, content)
        rank_zero_info(f"{type(self).__name__}: wrote the selection manifest to {target}")

    def _read_manifest(self, path: str) -> dict[str, Any]:
        name = f"`{type(self).__name__}(manifest={path!r})`"
        content = read_manifest(
            path, owner=name, pool_size=int(self.datamodule.pool_size), data_module=type(self.datamodule).__name__
        )
        if content.get("method") != self.method or content.get("settings") != self.settings():
            rank_zero_warn(
                f"{name}: the manifest was made by {content.get('method')!r} with settings {content.get('settings')}; "
                f"reusing its selection as is (this module's settings {self.settings()} are not applied)."
            )
        decision = {k: content[k] for k in ("selected", "train", "val")}
        return {**decision, "seed": content.get("seed"), "source": "manifest"}

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
    # the selection, read back
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

    # ---------------------------------------------------------------------------------------------------------------
    # helpers of the strategies
    # ---------------------------------------------------------------------------------------------------------------
    def _fraction_size(self, candidates: np.ndarray) -> int:
        """``floor(fraction * len(candidates))``, refused when it is 0."""
        size = math.floor(round(self.fraction * len(candidates), 6))
        if size < 1:
            raise ValueError(
                f"`{type(self).__name__}(fraction={self.fraction})`: selects 0 of {len(candidates)} samples."
            )
        return size

    def _pool_rows(self, arg: str, value: Any, candidates: np.ndarray, shape: str) -> np.ndarray:
        """The candidates' rows of a per-sample ``(N, ...)`` array given as ``arg`` (an array, tensor or ``.npy``)."""
        name, pool_size = type(self).__name__, int(self.datamodule.pool_size)
        if isinstance(value, (str, os.PathLike)):
            path = Path(value).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"`{name}({arg}={str(value)!r})`: no such file.")
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        elif isinstance(value, torch.Tensor):
            array = value.detach().cpu().numpy()
        else:
            array = np.asarray(value)
        if array.ndim != 2 or len(array) != pool_size:
            raise ValueError(
                f"`{name}({arg}=...)`: `{arg}` must be {shape} with one row per pool sample (N = {pool_size:,}). "
                f"Got shape {tuple(array.shape)} instead."
            )
        return np.asarray(array[candidates])

    def _check_finite(self, arg: str, values: np.ndarray, candidates: np.ndarray) -> None:
        """Refuses per-sample rows (features, logits) with NaN or infinite values, naming the first pool ids."""
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            rows = candidates[np.flatnonzero(bad)[:10]].tolist()
            raise ValueError(
                f"`{type(self).__name__}({arg}=...)`: the {arg} of {int(bad.sum())} sample(s) contain NaN or infinite "
                f"values (pool ids {rows}{', ...' if bad.sum() > 10 else ''})."
            )

    def _cache_folder(self, cache: bool, cache_dir: str | None) -> str | None:
        """The folder of the on-disk cache (embeddings, baseline, logits), or ``None`` without caching."""
        if not cache:
            return None
        return str(cache_dir) if cache_dir is not None else str(default_cache_dir())
