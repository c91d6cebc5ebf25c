"""The search data module contract: a training pool with stable ids, split into a weight and an architecture split.

Every sample is ``(x, y, index)``, ``index`` being the sample's id in the full, unreduced training pool. The pool is
split into the weight split ``"train"`` (trains the supernet weights w) and the architecture split ``"val"`` (updates
the architecture parameters alpha). Ids can be removed from either split while a search runs (data pruning); the
samplers read the active ids each time they are iterated, so a removal takes effect from the next epoch without
rebuilding the Trainer. (Lightning counts the batches per epoch when it requests the loaders, so a removal during
``fit`` turns on ``trainer.reload_dataloaders_every_n_epochs = 1``: the cheap loaders are re-requested each epoch and
the progress bar, ``val_check_interval`` and end-of-epoch validation follow the shrinking epochs.)

Augmentation is deterministic: the training samplers (:mod:`lightning_nas.data`) yield keys ``(id, aug_seed)`` whose
seed derives from (seed, epoch, stream, position, id), and :class:`~lightning_nas.data.IndexedDataset` applies the
transform under that seed. The same epoch
therefore always yields the same tensors, whatever the worker layout or the global RNG state, and a run resumed from
a checkpoint repeats the uninterrupted run bit for bit.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import CombinedLoader, rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from typing_extensions import override

from lightning_nas.checks import check_bool, check_choice, check_number
from lightning_nas.data import (
    ARCH_STREAM,
    WEIGHT_STREAM,
    CyclingSplitSampler,
    FixedIds,
    IndexedDataset,
    OrderedSplitSampler,
    ShuffledSplitSampler,
    Split,
    collate_indexed,
    seeded_rng,
)

from .splits import check_class_coverage, num_train, stratified_split

_SPLITS: tuple[str, ...] = ("train", "val")
_MAX_LISTED = 10
_STRATIFIED = 3  # mixed into the seed of the stratified split


# --------------------------------------------------------------------------------------------------------------------
# split state
# --------------------------------------------------------------------------------------------------------------------
class _SplitState:
    """Which split each pool id belongs to and whether it is still active. Samplers read it when iterated."""

    def __init__(self, pool_size: int, train_ids: np.ndarray, val_ids: np.ndarray) -> None:
        self.pool_size = pool_size
        self.reset(train_ids, val_ids)

    def reset(self, train_ids: np.ndarray, val_ids: np.ndarray) -> None:
        self.split_of = np.full(self.pool_size, -1, dtype=np.int8)
        self.split_of[train_ids] = 0
        self.split_of[val_ids] = 1
        self.active = np.ones(self.pool_size, dtype=bool)
        self._cache: dict[str, np.ndarray] = {}

    def active_ids(self, split: str) -> np.ndarray:
        ids = self._cache.get(split)
        if ids is None:
            ids = np.flatnonzero(self.active & (self.split_of == _SPLITS.index(split))).astype(np.int64)
            ids.flags.writeable = False
            self._cache[split] = ids
        return ids

    def removed_ids(self, split: str) -> np.ndarray:
        return np.flatnonzero(~self.active & (self.split_of == _SPLITS.index(split))).astype(np.int64)

    def deactivate(self, ids: np.ndarray) -> None:
        self.active[ids] = False
        self._cache.clear()


@dataclass
class SearchData:
    """What a :class:`SearchDataModule` subclass provides in :meth:`SearchDataModule.build_data`.

    Attributes:
        train: the full, unreduced training pool; ``train[i]`` returns ``(image, label)`` without transform.
        labels: the pool's labels, int64, ``labels[i]`` being the label of ``train[i]``.
        num_classes: number of classes.
        train_transform: augmentation applied to both search splits (DARTS augments the architecture split too).
        eval_transform: deterministic transform for validation, test and :meth:`SearchDataModule.pool_dataloader`.
        test: the test set (same format as ``train``), or ``None``.
    """

    train: Any
    labels: np.ndarray
    num_classes: int
    train_transform: Callable[[Any], Any] | None
    eval_transform: Callable[[Any], Any] | None
    test: Any | None = None


# --------------------------------------------------------------------------------------------------------------------
# data module
# --------------------------------------------------------------------------------------------------------------------
class SearchDataModule(LightningDataModule):
    """Base data module for architecture search: a weight split, an architecture split and removable ids.

    The training pool (ids ``0 .. N-1``) is split into the weight split ``"train"`` (``n_w = floor((1 - val_fraction)
    * N)`` ids) and the architecture split ``"val"`` (the rest). By default (``split="stratified"``) every class is
    split at random in that proportion, with the seed, so both splits hold every class
    (:func:`~lightning_nas.datamodules.splits.stratified_split`). ``split="contiguous"`` is DARTS's split, ids
    ``[0, n_w)`` for the weights and the rest for the architecture: right for pools stored in random order
    (torchvision's CIFAR), wrong for pools sorted by class (an image folder), where it would give each split
    different classes; ``split="random"`` permutes the ids with the seed first. Whatever the mode, a split that leaves
    a class of the pool out of either split is refused with an error naming the classes.

    Batches are ``(x, y, index)`` with ``index`` the int64 pool ids. ``train_dataloader()`` yields, when ``paired``,
    dicts ``{"train": (x, y, index), "val": (x, y, index)}`` (a ``CombinedLoader`` in ``"min_size"`` mode): the weight
    split shuffled once per epoch, and an architecture-split stream with exactly as many batches, cycling reshuffled
    passes over the active architecture ids. Both use the training augmentation, as DARTS does. ``val_dataloader()``
    iterates the architecture split in order with the eval transform; ``test_dataloader()`` the test set (index =
    position in the test set).

    Ids removed with :meth:`remove_ids` disappear from the next epoch on (the samplers read the active ids when they
    are iterated), without rebuilding the Trainer; the removals are saved in checkpoints (:meth:`state_dict`). Under
    DDP every rank must remove the same ids; each rank gets an equal share of every split (padded by wrapping
    around), and the order and augmentation depend only on (seed, epoch, position), so the ranks stay in step and a
    resumed run repeats the uninterrupted one.

    Subclasses implement :meth:`build_data` (called once, in :meth:`setup`).

    Args:
        batch_size: batch size of both search splits (per process under DDP).
        eval_batch_size: batch size of the validation, test and pool loaders; ``None`` uses ``batch_size``.
        val_fraction: fraction of the pool in the architecture split, in (0, 1). 0.5 as DARTS (``train_portion``).
        split: ``"stratified"`` (default: seeded random split within every class), ``"contiguous"`` (DARTS: first
            part weights, rest architecture; for pools in random order) or ``"random"`` (seeded permutation).
        paired: ``train_dataloader()`` yields ``{"train": ..., "val": ...}`` batches for bi-level search; ``False``
            yields the weight split alone.
        num_workers: DataLoader worker processes (persistent when > 0).
        seed: seeds the random split, the order and the augmentation. ``None`` reads ``PL_GLOBAL_SEED`` (set by
            ``lightning.seed_everything``) at setup, 0 if unset.
        retrain: the "train the discovered architecture" mode: ``train_dataloader()`` yields unpaired batches of
            the whole active pool (both splits) and ``val_dataloader()`` the test set.

    Raises:
        TypeError: an argument of the wrong type (e.g. a number given as a string).
        ValueError: an argument is out of range.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> dm = ArraySearchDataModule(torch.rand(10, 3, 8, 8), torch.arange(10) % 2, batch_size=4, seed=0)
        >>> dm.setup("fit")
        >>> train, val = dm.active_ids("train"), dm.active_ids("val")
        >>> len(train), len(val), sorted(set((train % 2).tolist())), sorted(set((val % 2).tolist()))  # both classes
        (5, 5, [0, 1], [0, 1])
        >>> dm.remove_ids("val", val[:2])
        >>> batch, batch_idx, _ = next(iter(dm.train_dataloader()))  # a CombinedLoader also yields the batch index
        >>> sorted(batch), batch["train"][0].shape, batch["val"][2].dtype
        (['train', 'val'], torch.Size([4, 3, 8, 8]), torch.int64)
    """

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.5,
        split: Literal["stratified", "contiguous", "random"] = "stratified",
        paired: bool = True,
        num_workers: int = 0,
        seed: int | None = None,
        retrain: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self._check_int("batch_size", batch_size, minimum=1)
        if eval_batch_size is not None:
            self._check_int("eval_batch_size", eval_batch_size, minimum=1)
        check_number(name, "val_fraction", val_fraction, low=0, high=1, low_open=True, high_open=True)
        check_choice(name, "split", split, ("stratified", "contiguous", "random"))
        check_bool(name, "paired", paired)
        check_bool(name, "retrain", retrain)
        self._check_int("num_workers", num_workers, minimum=0)
        if seed is not None:
            self._check_int("seed", seed, minimum=None)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_fraction = float(val_fraction)
        self.split = split
        self.paired = paired
        self.retrain = retrain
        self.num_workers = num_workers
        self.seed = seed
        self._data: SearchData | None = None
        self._state: _SplitState | None = None
        self._seed: int = 0
        self._pending_state: dict[str, Any] | None = None
        self._warned_stale_lengths = False
        self._assignment: tuple[np.ndarray, np.ndarray] | None = None  # set by `reassign`

    # ---------------------------------------------------------------------------------------------------------------
    # validation helpers
    # ---------------------------------------------------------------------------------------------------------------
    def _msg(self, name: str, value: Any, requirement: str) -> str:
        return f"`{type(self).__name__}({name}={value!r})`: `{name}` {requirement}. Got {value!r} instead."

    def _check_int(self, name: str, value: Any, minimum: int | None) -> None:
        check_number(type(self).__name__, name, value, low=minimum, integer=True)

    def _check_split(self, method: str, split: Any) -> str:
        if split not in _SPLITS:
            raise ValueError(
                f"`{type(self).__name__}.{method}(split={split!r})`: `split` must be 'train' or 'val'. "
                f"Got {split!r} instead."
            )
        return split

    def _require_setup(self, method: str) -> _SplitState:
        if self._state is None:
            raise RuntimeError(f"`{type(self).__name__}.{method}()` needs the data: call `setup()` first.")
        return self._state

    # ---------------------------------------------------------------------------------------------------------------
    # subclass hook
    # ---------------------------------------------------------------------------------------------------------------
    def build_data(self) -> SearchData:
        """Loads the raw training pool, its labels, the test set and the transforms (called once, by ``setup``).

        Returns:
            The :class:`SearchData` of this data module.
        """
        raise NotImplementedError(f"`{type(self).__name__}` must implement `build_data()`.")

    def _known_num_classes(self) -> int | None:
        """The number of classes before ``setup`` if it is known without loading data (for LightningCLI links)."""
        return None

    # ---------------------------------------------------------------------------------------------------------------
    # setup and state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def setup(self, stage: str | None = None) -> None:
        """Loads the data and builds the splits (once; later calls keep the splits and the removals)."""
        if self._state is not None:
            return
        data = self.build_data()
        labels = np.array(data.labels, dtype=np.int64, copy=True).reshape(-1)
        if len(labels) != len(data.train):
            raise ValueError(
                f"`{type(self).__name__}.build_data()`: the pool has {len(data.train)} samples but "
                f"{len(labels)} labels."
            )
        labels.flags.writeable = False
        data.labels = labels
        self._seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        self._data = data
        state = _SplitState(len(labels), *self._assign(len(labels), self.split, self.val_fraction, self._seed))
        self._train_set = IndexedDataset(data.train, data.train_transform)
        self._eval_set = IndexedDataset(data.train, data.eval_transform)
        self._test_set = None if data.test is None else IndexedDataset(data.test, data.eval_transform)
        self._state = state
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            self.load_state_dict(pending)

    def _assign(self, n: int, split: str, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        n_train = num_train(n, val_fraction)
        if n_train < 1 or n - n_train < 1:
            raise ValueError(
                f"`{name}(val_fraction={val_fraction!r})`: a pool of {n} samples leaves "
                f"{n_train} for the weight split and {n - n_train} for the architecture split; each needs at least 1."
            )
        labels = self.labels
        ids = np.arange(n, dtype=np.int64)
        if split == "stratified":
            return stratified_split(ids, labels, val_fraction, seeded_rng(seed, _STRATIFIED), owner=name)
        if split == "random":
            ids = seeded_rng(seed).permutation(n).astype(np.int64)
        train, val = np.sort(ids[:n_train]), np.sort(ids[n_train:])
        check_class_coverage(
            labels,
            train,
            val,
            owner=f"{name}(split={split!r})",
            hint="The pool is probably sorted by class: use split='stratified' (the default)."
            if split == "contiguous"
            else "Use split='stratified' (the default).",
        )
        return train, val

    @override
    def state_dict(self) -> dict[str, Any]:
        """The removed ids per split (plain lists) and what defines the split, saved in Lightning checkpoints.

        After :meth:`reassign`, also the assigned ids of each split (key ``"assignment"``).
        """
        if self._state is None:
            return dict(self._pending_state) if self._pending_state is not None else {}
        state = {
            "removed": {split: self._state.removed_ids(split).tolist() for split in _SPLITS},
            "seed": self._seed,
            "split": self.split,
            "val_fraction": self.val_fraction,
            "pool_size": self._state.pool_size,
        }
        if self._assignment is not None:
            state["assignment"] = {split: ids.tolist() for split, ids in zip(_SPLITS, self._assignment)}
        return state

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the removals (before ``setup`` they are kept and applied by ``setup``).

        The seed is taken from the state, so the random split, the order and the augmentation continue as saved; a
        split set by :meth:`reassign` is restored from the state.

        Raises:
            ValueError: the state was saved with another pool size, ``split`` or ``val_fraction``.
        """
        if not state_dict:
            return
        if self._state is None:
            self._pending_state = dict(state_dict)
            return
        name, state = type(self).__name__, self._state
        expected = {"pool_size": state.pool_size, "split": self.split, "val_fraction": self.val_fraction}
        for key, current in expected.items():
            if key in state_dict and state_dict[key] != current:
                raise ValueError(
                    f"`{name}.load_state_dict()`: the state was saved with {key}={state_dict[key]!r}, "
                    f"this data module has {key}={current!r}."
                )
        seed = int(state_dict.get("seed", self._seed))
        if seed != self._seed:
            rank_zero_info(f"{name}: resuming with the saved seed {seed} (this run resolved seed {self._seed}).")
            self._seed = seed
        assignment = state_dict.get("assignment")
        if assignment is not None:
            self._assignment = self._check_assignment("load_state_dict", assignment["train"], assignment["val"])
            state.reset(*self._assignment)
        else:
            self._assignment = None
            state.reset(*self._assign(state.pool_size, self.split, self.val_fraction, self._seed))
        for split in _SPLITS:
            removed = state_dict.get("removed", {}).get(split, [])
            if len(removed):
                self.remove_ids(split, removed)

    # ---------------------------------------------------------------------------------------------------------------
    # public queries and removal
    # ---------------------------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes (known before ``setup`` where the data set fixes it)."""
        if self._data is not None:
            return self._data.num_classes
        known = self._known_num_classes()
        if known is None:
            raise RuntimeError(f"`{type(self).__name__}.num_classes` needs the data: call `setup()` first.")
        return known

    @property
    def labels(self) -> np.ndarray:
        """Labels of the full pool (read-only int64 array indexed by id)."""
        if self._data is None:
            raise RuntimeError(f"`{type(self).__name__}.labels` needs the data: call `setup()` first.")
        return self._data.labels

    @property
    def pool_size(self) -> int:
        """Number of samples in the full, unreduced training pool."""
        return self._require_setup("pool_size").pool_size

    @property
    def pool(self) -> Any:
        """The raw training pool (``pool[i]`` is ``(image, label)`` without transform)."""
        self._require_setup("pool")
        return self._data.train  # type: ignore[union-attr]

    @property
    def train_transform(self) -> Callable[[Any], Any] | None:
        """The pool's training augmentation (for loaders built outside the splits, e.g. a baseline classifier)."""
        self._require_setup("train_transform")
        return self._data.train_transform  # type: ignore[union-attr]

    @property
    def eval_transform(self) -> Callable[[Any], Any] | None:
        """The pool's deterministic evaluation transform (the one :meth:`pool_dataloader` applies)."""
        self._require_setup("eval_transform")
        return self._data.eval_transform  # type: ignore[union-attr]

    @property
    def resolved_seed(self) -> int:
        """The seed in use (``seed`` or ``PL_GLOBAL_SEED`` as read by ``setup``)."""
        self._require_setup("resolved_seed")
        return self._seed

    def active_ids(self, split: Split) -> np.ndarray:
        """The active ids of a split (sorted, read-only int64 array).

        Args:
            split: ``"train"`` (weight split) or ``"val"`` (architecture split).
        """
        return self._require_setup("active_ids").active_ids(self._check_split("active_ids", split))

    def removed_ids(self, split: Split) -> np.ndarray:
        """The ids removed from a split so far (sorted int64 array).

        Args:
            split: ``"train"`` or ``"val"``.
        """
        return self._require_setup("removed_ids").removed_ids(self._check_split("removed_ids", split))

    def remove_ids(self, split: Split, ids: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        """Removes ids from a split, from the next epoch on.

        The samplers read the active ids when they are iterated, at the start of each epoch: the current epoch's
        iterators are unaffected. Under DDP every rank must pass the same ids (decide on rank 0 and broadcast, or
        decide identically everywhere), otherwise the ranks iterate different data and may hang.

        Lightning counts the batches per epoch (``trainer.num_training_batches``, used by the progress bar and by
        ``val_check_interval``, hence by end-of-epoch validation) when it requests the loaders. A removal during
        ``fit`` therefore sets ``trainer.reload_dataloaders_every_n_epochs = 1`` if it was 0 (the default), so
        Lightning re-requests the (cheap) loaders and recounts at every epoch start.

        Args:
            split: ``"train"`` or ``"val"``.
            ids: pool ids currently active in ``split``; duplicates count once; empty is a no-op.

        Raises:
            ValueError: an id is not active in ``split`` (removed already, in the other split, out of range, not an
                integer), or the removal would leave the split empty.
        """
        state = self._require_setup("remove_ids")
        split = self._check_split("remove_ids", split)
        name = f"`{type(self).__name__}.remove_ids({split!r}, ...)`"
        values = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if values.size == 0:
            return
        if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name}: `ids` must be integers. Got dtype {values.dtype} instead.")
        values = np.unique(values.reshape(-1).astype(np.int64))
        in_range = (values >= 0) & (values < state.pool_size)
        ok = np.zeros(len(values), dtype=bool)
        ok[in_range] = state.active[values[in_range]] & (state.split_of[values[in_range]] == _SPLITS.index(split))
        if not ok.all():
            bad = values[~ok]
            listed = ", ".join(str(v) for v in bad[:_MAX_LISTED].tolist()) + (", ..." if len(bad) > _MAX_LISTED else "")
            raise ValueError(
                f"{name}: {len(bad)} id(s) are not active in split {split!r} (removed already, in the other split "
                f"or outside [0, {state.pool_size})): [{listed}]."
            )
        if len(values) >= len(state.active_ids(split)):
            raise ValueError(
                f"{name}: removing {len(values)} id(s) would leave split {split!r} empty; a split must keep at least "
                "1 sample."
            )
        state.deactivate(values)
        self._follow_removals()

    def reassign(
        self, train_ids: Sequence[int] | np.ndarray | torch.Tensor, val_ids: Sequence[int] | np.ndarray | torch.Tensor
    ) -> None:
        """Replaces both splits: ``train_ids`` form the weight split, ``val_ids`` the architecture split.

        Pool ids in neither take no part in the search (they are in no split, so they are neither active nor
        removed). Earlier removals are cleared. This is the hook of the subset selections
        (:class:`~lightning_nas.datamodules.CoresetDataModule`, ...), which select a subset of the pool and split it
        themselves in ``setup``; the assignment is saved by :meth:`state_dict` and restored by :meth:`load_state_dict`.
        Under DDP every rank must pass the same ids. Call it before the Trainer requests the loaders (in ``setup``):
        Lightning counts the batches per epoch when it does.

        Args:
            train_ids: pool ids of the weight split.
            val_ids: pool ids of the architecture split, disjoint from ``train_ids``.

        Raises:
            ValueError: a split is empty, an id is repeated, outside ``[0, pool_size)``, not an integer, or in both
                splits.

        Example:
            >>> import torch
            >>> from lightning_nas.datamodules import ArraySearchDataModule
            >>> dm = ArraySearchDataModule(torch.rand(10, 3, 4, 4), torch.arange(10) % 2)
            >>> dm.setup("fit")
            >>> dm.reassign([7, 1], [4])
            >>> dm.active_ids("train").tolist(), dm.active_ids("val").tolist(), dm.removed_ids("train").tolist()
            ([1, 7], [4], [])
        """
        state = self._require_setup("reassign")
        self._assignment = self._check_assignment("reassign", train_ids, val_ids)
        state.reset(*self._assignment)

    def _check_assignment(self, method: str, train_ids: Any, val_ids: Any) -> tuple[np.ndarray, np.ndarray]:
        name, pool_size = f"`{type(self).__name__}.{method}()`", self._require_setup(method).pool_size
        splits = []
        for split, ids in zip(_SPLITS, (train_ids, val_ids)):
            values = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
            values = values.reshape(-1)
            if values.size == 0:
                raise ValueError(f"{name}: split {split!r} must keep at least 1 sample. Got 0 ids instead.")
            if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"{name}: the ids of split {split!r} must be integers. Got {values.dtype} instead.")
            values = np.sort(values.astype(np.int64))
            if values[0] < 0 or values[-1] >= pool_size:
                raise ValueError(f"{name}: the ids of split {split!r} must be in [0, {pool_size}).")
            if (np.diff(values) == 0).any():
                raise ValueError(f"{name}: the ids of split {split!r} must be unique.")
            splits.append(values)
        if np.intersect1d(splits[0], splits[1]).size:
            raise ValueError(f"{name}: an id cannot be in both splits.")
        return splits[0], splits[1]

    def _follow_removals(self) -> None:
        """Makes a fitting Trainer re-request the loaders each epoch, so its cached batch counts follow removals."""
        trainer = self.trainer
        if trainer is None or getattr(trainer.state, "fn", None) != TrainerFn.FITTING:
            return
        if trainer.reload_dataloaders_every_n_epochs == 0:
            trainer.reload_dataloaders_every_n_epochs = 1
            rank_zero_info(
                f"{type(self).__name__}: ids were removed during fit, so the number of batches per epoch changes; "
                "set `trainer.reload_dataloaders_every_n_epochs = 1` so that Lightning recounts them each epoch "
                "(progress bar, `val_check_interval`, end-of-epoch validation)."
            )
        elif trainer.reload_dataloaders_every_n_epochs > 1 and not self._warned_stale_lengths:
            self._warned_stale_lengths = True
            rank_zero_warn(
                f"{type(self).__name__}: ids were removed during fit with `reload_dataloaders_every_n_epochs="
                f"{trainer.reload_dataloaders_every_n_epochs}`; Lightning recounts the batches per epoch only when it "
                "reloads, so end-of-epoch validation may be skipped in between."
            )

    # ---------------------------------------------------------------------------------------------------------------
    # dataloaders
    # ---------------------------------------------------------------------------------------------------------------
    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _current_epoch(self) -> int:
        # Lightning creates the first iterator of a resumed fit before it calls `set_epoch`, and worker processes
        # prefetch (hence iterate the sampler) at creation: start the samplers at the trainer's epoch.
        # The epoch Lightning passes to `set_epoch` is the fit loop's processed-epoch count, which on a resume from an
        # end-of-epoch checkpoint is one ahead of `trainer.current_epoch`.
        trainer = self.trainer
        if trainer is None:
            return 0
        progress = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_progress", None), "current", None)
        return int(getattr(progress, "processed", trainer.current_epoch))

    def _loader(self, dataset: Dataset, sampler: DistributedSampler, batch_size: int) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_indexed,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def _ids_fn(self, split: str) -> Callable[[], np.ndarray]:
        return functools.partial(self._require_setup("dataloader").active_ids, split)

    @override
    def train_dataloader(self) -> CombinedLoader | DataLoader:
        """The search loader: paired ``{"train": (x, y, index), "val": (x, y, index)}`` batches, or the weight split.

        Both streams use the training augmentation and yield the same number of batches per epoch.
        """
        state = self._require_setup("train_dataloader")
        num_replicas, rank = self._replicas()
        if self.retrain:
            ids = functools.partial(lambda st: np.union1d(st.active_ids("train"), st.active_ids("val")), state)
        else:
            ids = self._ids_fn("train")
        weights = ShuffledSplitSampler(ids, num_replicas=num_replicas, rank=rank, seed=self._seed, stream=WEIGHT_STREAM)
        weights.set_epoch(self._current_epoch())
        loader_w = self._loader(self._train_set, weights, self.batch_size)
        if not self.paired or self.retrain:
            return loader_w
        arch = CyclingSplitSampler(
            self._ids_fn("val"), weights, num_replicas=num_replicas, rank=rank, seed=self._seed, stream=ARCH_STREAM
        )
        arch.set_epoch(self._current_epoch())
        loader_a = self._loader(self._train_set, arch, self.batch_size)
        return CombinedLoader({"train": loader_w, "val": loader_a}, mode="min_size")

    @override
    def val_dataloader(self) -> DataLoader:
        """The active architecture split in id order, with the eval transform (supernet validation).

        With ``retrain=True``, the test set (the retrained network is validated on it, as DARTS does).
        """
        self._require_setup("val_dataloader")
        if self.retrain:
            return self.test_dataloader()
        num_replicas, rank = self._replicas()
        sampler = OrderedSplitSampler(self._ids_fn("val"), num_replicas=num_replicas, rank=rank)
        return self._loader(self._eval_set, sampler, self.eval_batch_size or self.batch_size)

    @override
    def test_dataloader(self) -> DataLoader:
        """The test set in order, with the eval transform; ``index`` is the position in the test set.

        Raises:
            RuntimeError: the data module has no test set.
        """
        self._require_setup("test_dataloader")
        if self._test_set is None:
            raise RuntimeError(
                f"`{type(self).__name__}` has no test set: the search splits come from the training pool only."
            )
        ids = np.arange(len(self._test_set), dtype=np.int64)
        num_replicas, rank = self._replicas()
        sampler = OrderedSplitSampler(FixedIds(ids), num_replicas=num_replicas, rank=rank)
        return self._loader(self._test_set, sampler, self.eval_batch_size or self.batch_size)

    def pool_dataloader(self, ids: Sequence[int] | np.ndarray | None = None) -> DataLoader:
        """Iterates pool samples with the eval transform, in the given order, on this process only (not sharded).

        For embedding or scoring the pool (core-set, entropy proxy), whatever the splits and removals.

        Args:
            ids: pool ids to iterate; ``None`` iterates the whole pool.
        """
        state = self._require_setup("pool_dataloader")
        order = np.arange(state.pool_size, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= state.pool_size)):
            raise ValueError(
                f"`{type(self).__name__}.pool_dataloader(ids=...)`: `ids` must be a 1-d sequence of ids in "
                f"[0, {state.pool_size})."
            )
        sampler = OrderedSplitSampler(FixedIds(order))
        return self._loader(self._eval_set, sampler, self.eval_batch_size or self.batch_size)
