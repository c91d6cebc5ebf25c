"""The data contract of the search: indexed samples, their seeded samplers and the search-data protocol.

This is the lowest data layer: it imports nothing of the library above :mod:`lightning_nas.checks`, so the data
modules, the methods (e.g. :mod:`lightning_nas.baseline`) and the callbacks can all build on it.

* **Indexed samples.** Every search sample is ``(x, y, index)``, ``index`` being the sample's stable id in the full,
  unreduced training pool (:class:`IndexedDataset`, :func:`collate_indexed`). Selection results, pruning decisions
  and logs speak in these ids.
* **Deterministic streams.** The samplers (:class:`ShuffledSplitSampler`, :class:`CyclingSplitSampler`,
  :class:`OrderedSplitSampler`) read the active ids each time they are iterated and yield ``(id, aug_seed)`` keys
  whose seed is a pure function of (seed, epoch, stream, position, id) (:func:`derive_aug_seeds`): the same epoch
  yields the same tensors on every worker layout, and a resumed run repeats the uninterrupted one.
* **The search-data protocol.** :class:`SearchDataContract` is what methods and callbacks may call on
  ``trainer.datamodule``; :func:`missing_search_data_members` names what a data module lacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, default_collate
from typing_extensions import override

__all__ = [
    "ARCH_STREAM",
    "SEARCH_DATA_MEMBERS",
    "WEIGHT_STREAM",
    "CyclingSplitSampler",
    "FixedIds",
    "IndexedDataset",
    "OrderedSplitSampler",
    "SearchDataContract",
    "ShuffledSplitSampler",
    "Split",
    "collate_indexed",
    "derive_aug_seeds",
    "missing_search_data_members",
    "seeded_rng",
    "splitmix64",
]

Split = Literal["train", "val"]
"""The two search splits: ``"train"`` trains the weights w, ``"val"`` updates the architecture parameters alpha."""

# stream tags mixed into the augmentation seeds, so the weight and architecture streams never share a seed
WEIGHT_STREAM = 1
ARCH_STREAM = 2


# --------------------------------------------------------------------------------------------------------------------
# the search-data protocol
# --------------------------------------------------------------------------------------------------------------------
@runtime_checkable
class SearchDataContract(Protocol):
    """What a search method or a callback may use of ``trainer.datamodule`` (DESIGN, contract 2).

    A search data module splits the (possibly reduced) training pool, ids ``0 .. pool_size - 1``, into a weight split
    ``"train"`` and an architecture split ``"val"`` and keeps the test set apart:

    * **Paired loaders.** For bi-level methods ``train_dataloader()`` yields ``{"train": (x, y, index), "val": (x, y,
      index)}``; otherwise ``(x, y, index)`` batches of the weight split. ``val_dataloader()`` iterates the active
      architecture split with the eval transform.
    * **Active ids.** :meth:`active_ids` returns the ids of a split still in use (sorted int64), :meth:`removed_ids`
      those removed so far.
    * **Removal.** :meth:`remove_ids` drops ids from a split from the next epoch on, without rebuilding the Trainer;
      under DDP every rank passes the same ids.
    * **Labels.** ``labels[i]`` is the class of pool id ``i``; ``num_classes`` and ``pool_size`` describe the pool;
      :meth:`pool_dataloader` iterates any pool ids with the eval transform (scoring, surrogate batches).
    * **State.** ``state_dict()`` holds plain types (assignment, removals, seed) and ``load_state_dict()`` restores
      them, before or after ``setup``, so checkpoint resume continues on the same ids.

    :class:`~lightning_nas.datamodules.SearchDataModule` implements it, and so does every data module that wraps one
    (:class:`~lightning_nas.datamodules.WrappedDataModule`: the subset selections and the reduced setting).
    ``isinstance(obj, SearchDataContract)`` reads the members, and the properties need ``setup()`` first; before
    ``setup``, :func:`missing_search_data_members` checks the class (and the instance's own attributes) instead.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> dm = ArraySearchDataModule(torch.rand(8, 3, 4, 4), torch.arange(8) % 2)
        >>> missing_search_data_members(dm), missing_search_data_members(object())[:2]
        ([], ['num_classes', 'labels'])
        >>> dm.setup("fit")
        >>> isinstance(dm, SearchDataContract), len(dm.active_ids("train")) + len(dm.active_ids("val"))
        (True, 8)
    """

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        ...

    @property
    def labels(self) -> np.ndarray:
        """Labels of the full pool, int64, indexed by pool id."""
        ...

    @property
    def pool_size(self) -> int:
        """Number of samples in the full, unreduced pool."""
        ...

    def active_ids(self, split: Split) -> np.ndarray:
        """The active ids of a split (sorted, read-only int64 array)."""
        ...

    def removed_ids(self, split: Split) -> np.ndarray:
        """The ids removed from a split so far (sorted int64 array)."""
        ...

    def remove_ids(self, split: Split, ids: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        """Removes active ids from a split, from the next epoch on (identically on every DDP rank)."""
        ...

    def pool_dataloader(self, ids: Sequence[int] | np.ndarray | None = None) -> Iterable[Any]:
        """Iterates pool samples ``(x, y, index)`` with the eval transform, in the given order, unsharded."""
        ...

    def train_dataloader(self) -> Any:
        """The search loader: paired ``{"train": ..., "val": ...}`` batches, or the weight split alone."""
        ...

    def val_dataloader(self) -> Any:
        """The active architecture split in id order, with the eval transform."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Plain-typed state (assignment, removals, seed) for checkpoints."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` (kept and applied by ``setup`` when called before it)."""
        ...


SEARCH_DATA_MEMBERS: tuple[str, ...] = (
    "num_classes",
    "labels",
    "pool_size",
    "active_ids",
    "removed_ids",
    "remove_ids",
    "pool_dataloader",
    "train_dataloader",
    "val_dataloader",
    "state_dict",
    "load_state_dict",
)
"""The members of :class:`SearchDataContract`, in declaration order."""


def missing_search_data_members(datamodule: Any, members: Sequence[str] = SEARCH_DATA_MEMBERS) -> list[str]:
    """The members of the search-data contract that ``datamodule`` lacks (empty: it conforms).

    Reads the class and the instance's own attributes (``vars(datamodule)``, e.g. ``self.labels = ...`` set in
    ``__init__``), never ``getattr``, so it evaluates no property: safe before ``setup``.

    Args:
        datamodule: the object to check (usually ``trainer.datamodule``); ``None`` lacks everything.
        members: the members the caller needs, e.g. ``("active_ids", "remove_ids")``.

    Example:
        >>> missing_search_data_members(None, ("labels", "active_ids"))
        ['labels', 'active_ids']
    """
    own = getattr(datamodule, "__dict__", {})
    return [name for name in members if not hasattr(type(datamodule), name) and name not in own]


# --------------------------------------------------------------------------------------------------------------------
# deterministic seeds
# --------------------------------------------------------------------------------------------------------------------
def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic): a fast, well-mixed integer hash."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _as_u64(value: int) -> np.ndarray:
    return np.array([value & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)


def derive_aug_seeds(seed: int, epoch: int, stream: int, positions: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Augmentation seeds in ``[0, 2**63)``, a pure function of (seed, epoch, stream, position, id).

    Args:
        seed: the data module's seed.
        epoch: the epoch the stream belongs to.
        stream: a small integer telling the sample streams of one epoch apart.
        positions: each sample's position in the (global, unsharded) stream.
        ids: each sample's pool id.

    Returns:
        An int64 array shaped like ``ids``.

    Example:
        >>> a = derive_aug_seeds(0, 1, 1, np.arange(3), np.array([5, 9, 5]))
        >>> bool((a == derive_aug_seeds(0, 1, 1, np.arange(3), np.array([5, 9, 5]))).all()), len(set(a.tolist()))
        (True, 3)
    """
    head = splitmix64(splitmix64(splitmix64(_as_u64(seed)) ^ _as_u64(epoch)) ^ _as_u64(stream))
    mixed = splitmix64(head ^ np.asarray(positions, dtype=np.int64).astype(np.uint64))
    mixed = splitmix64(mixed ^ np.asarray(ids, dtype=np.int64).astype(np.uint64))
    return (mixed >> np.uint64(1)).astype(np.int64)


def seeded_rng(*words: int) -> np.random.Generator:
    """A NumPy generator seeded with integer words (each taken modulo 2**64): one stream per purpose and seed.

    Example:
        >>> int(seeded_rng(0, 3).integers(100)) == int(seeded_rng(0, 3).integers(100))
        True
    """
    return np.random.default_rng([w & 0xFFFFFFFFFFFFFFFF for w in words])


# --------------------------------------------------------------------------------------------------------------------
# indexed dataset
# --------------------------------------------------------------------------------------------------------------------
class _IndexedBatch(Sequence):
    """A batch built in one vectorised step, still readable sample by sample.

    :func:`collate_indexed` returns the stacked tensors as they are; any other collate function (e.g. PyTorch's
    ``default_collate``) sees an ordinary sequence of ``(x, y, index)`` samples.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor) -> None:
        self.collated = (x, y, ids)

    def __len__(self) -> int:
        return len(self.collated[2])

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        x, y, ids = self.collated
        return x[i], y[i], ids[i]


def collate_indexed(batch: Any) -> Any:
    """Collate function of the search data loaders: passes pre-collated batches through, else ``default_collate``.

    Args:
        batch: the list of samples (or the pre-collated batch) that the dataset returned.

    Returns:
        ``(x, y, index)`` with ``y`` and ``index`` as int64 tensors.
    """
    if isinstance(batch, _IndexedBatch):
        return batch.collated
    return default_collate(batch)


def _split_key(key: Any) -> tuple[int, int | None]:
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return int(key), None


class IndexedDataset(Dataset):
    """A data set that returns ``(x, y, index)`` and augments under a per-sample seed.

    Keys are either a plain id (no seed: the transform runs on the global RNG, fine for deterministic eval
    transforms) or a pair ``(id, aug_seed)``: then the transform runs under ``torch.random.fork_rng`` after
    ``torch.manual_seed(aug_seed)``, so the augmentation depends on the key alone, not on the global RNG state or on
    which worker loads the sample.

    When the pool can fetch whole batches (it has ``get_batch(ids: np.ndarray) -> (x, y)``) and the transform can
    augment whole batches (it has ``apply_batch(x, seeds) -> Tensor``, e.g.
    :class:`~lightning_nas.datamodules.arrays.TensorImageTransform`), a batch is fetched, augmented and normalised in
    a few tensor operations instead of sample by sample.

    Args:
        pool: the raw data set; ``pool[i]`` returns ``(image, label)`` without any transform.
        transform: applied to the image; ``None`` returns it unchanged.

    Example:
        >>> pool = [(torch.tensor([float(i)]), i % 2) for i in range(4)]
        >>> ds = IndexedDataset(pool)
        >>> ds[3]
        (tensor([3.]), 1, 3)
        >>> collate_indexed([ds[(0, 11)], ds[(2, 12)]])[2]
        tensor([0, 2])
    """

    def __init__(self, pool: Any, transform: Callable[[Any], Any] | None = None) -> None:
        self.pool = pool
        self.transform = transform
        self._batched = callable(getattr(pool, "get_batch", None)) and callable(getattr(transform, "apply_batch", None))

    def __len__(self) -> int:
        return len(self.pool)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, Any, int]:
        if self._batched:
            x, y, ids = self.__getitems__([key]).collated
            return x[0], int(y[0]), int(ids[0])
        index, aug_seed = _split_key(key)
        x, y = self.pool[index]
        if self.transform is not None:
            if aug_seed is None:
                x = self.transform(x)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(aug_seed)
                    x = self.transform(x)
        return x, y, index

    def __getitems__(self, keys: list[Any]) -> Sequence[tuple[Any, Any, Any]]:
        if not self._batched:
            return [self[key] for key in keys]
        if keys and isinstance(keys[0], tuple):
            pairs = np.array(keys, dtype=np.int64).reshape(len(keys), 2)
            ids, seeds = np.ascontiguousarray(pairs[:, 0]), pairs[:, 1]
        else:
            ids, seeds = np.array(keys, dtype=np.int64).reshape(-1), None
        x, y = self.pool.get_batch(ids)
        return _IndexedBatch(self.transform.apply_batch(x, seeds), torch.as_tensor(y), torch.from_numpy(ids))


# --------------------------------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------------------------------
class _StreamSampler(DistributedSampler):
    """Base of the search samplers: a ``DistributedSampler`` over ids that are read when it is iterated.

    Subclassing ``DistributedSampler`` keeps Lightning from replacing the sampler under DDP. ``DistributedSampler``'s
    own constructor is not called: it needs a data set length and fixes ``num_samples``, which here is live.
    """

    def __init__(
        self, ids: Callable[[], np.ndarray], *, num_replicas: int, rank: int, seed: int, shuffle: bool
    ) -> None:
        name = type(self).__name__
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(
                f"`{name}(num_replicas={num_replicas!r})`: `num_replicas` must be an int >= 1. "
                f"Got {num_replicas!r} instead."
            )
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"`{name}(rank={rank!r})`: `rank` must be in [0, {num_replicas - 1}]. Got {rank!r} instead."
            )
        self._ids = ids
        self.dataset = None
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = int(seed)
        self.shuffle = shuffle
        self.drop_last = False
        self.epoch = 0

    @override
    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch that seeds the order and the augmentation of the next iteration."""
        self.epoch = int(epoch)

    @property
    def num_samples(self) -> int:
        """Samples this rank yields per iteration (live: follows removals)."""
        return math.ceil(len(self._ids()) / self.num_replicas)

    @property
    def total_size(self) -> int:
        """Samples all ranks yield together per iteration, padding included."""
        return self.num_samples * self.num_replicas

    def __len__(self) -> int:
        return self.num_samples

    def _shard(self, stream: np.ndarray) -> np.ndarray:
        return stream[self.rank :: self.num_replicas]

    def _keys(self, order: np.ndarray, stream: int) -> Iterator[tuple[int, int]]:
        positions = np.arange(self.rank, len(order) * self.num_replicas, self.num_replicas)[: len(order)]
        seeds = derive_aug_seeds(self.seed, self.epoch, stream, positions, order)
        return zip(order.tolist(), seeds.tolist(), strict=True)


class ShuffledSplitSampler(_StreamSampler):
    """One shuffled pass over the active ids per epoch, yielding ``(id, aug_seed)`` keys.

    The order is a permutation seeded with (seed, epoch); the stream is padded by wrapping around to a multiple of
    ``num_replicas`` (like ``DistributedSampler(drop_last=False)``) and rank ``r`` takes positions ``r, r + R, ...``,
    so every rank yields the same number of samples. The active ids are read when the sampler is iterated.

    Args:
        ids: returns the current active ids (sorted int64 array).
        num_replicas: number of DDP processes.
        rank: this process's global rank.
        seed: seeds the order and the augmentation.
        stream: tag mixed into the augmentation seeds.

    Example:
        >>> s = ShuffledSplitSampler(lambda: np.arange(5), num_replicas=2, rank=1, seed=0)
        >>> len(s), len(list(s)), sorted(k for k, _ in ShuffledSplitSampler(lambda: np.arange(5), seed=0))
        (3, 3, [0, 1, 2, 3, 4])
    """

    def __init__(
        self,
        ids: Callable[[], np.ndarray],
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        stream: int = WEIGHT_STREAM,
    ) -> None:
        super().__init__(ids, num_replicas=num_replicas, rank=rank, seed=seed, shuffle=True)
        self.stream = stream

    def __iter__(self) -> Iterator[tuple[int, int]]:
        ids = self._ids()
        if len(ids) == 0:
            return iter(())
        order = seeded_rng(self.seed, self.epoch, self.stream).permutation(ids)
        order = np.resize(order, math.ceil(len(ids) / self.num_replicas) * self.num_replicas)
        return self._keys(self._shard(order), self.stream)


class CyclingSplitSampler(_StreamSampler):
    """A stream of ``len(pace)`` samples per rank that cycles reshuffled permutations of the active ids.

    Used for the architecture split of paired batches: with ``pace`` the weight split's sampler, it yields exactly as
    many samples (hence batches) as the weight split. The global stream concatenates independent permutations of the
    active ids (one per cycle, seeded with (seed, epoch)), so with equal splits it is one pass and with a smaller
    architecture split every active id is seen at least once per epoch.

    Args:
        ids: returns the current active ids (sorted int64 array).
        pace: its ``len()`` (read when iterated) is the number of samples per rank.
        num_replicas: number of DDP processes.
        rank: this process's global rank.
        seed: seeds the order and the augmentation.
        stream: tag mixed into the augmentation seeds.

    Example:
        >>> s = CyclingSplitSampler(lambda: np.arange(3), pace=range(7), seed=0)
        >>> keys = [k for k, _ in s]
        >>> len(keys), sorted(keys[:3]) == sorted(keys[3:6]) == [0, 1, 2]
        (7, True)
    """

    def __init__(
        self,
        ids: Callable[[], np.ndarray],
        pace: Sized,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        stream: int = ARCH_STREAM,
    ) -> None:
        super().__init__(ids, num_replicas=num_replicas, rank=rank, seed=seed, shuffle=True)
        self.pace = pace
        self.stream = stream

    @property
    def num_samples(self) -> int:
        """Samples this rank yields per iteration: ``len(pace)``."""
        return len(self.pace)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        ids, total = self._ids(), self.num_samples * self.num_replicas
        if len(ids) == 0 or total == 0:
            return iter(())
        cycles = math.ceil(total / len(ids))
        order = seeded_rng(self.seed, self.epoch, self.stream).permuted(np.tile(ids, (cycles, 1)), axis=1).reshape(-1)
        return self._keys(self._shard(order[:total]), self.stream)


class OrderedSplitSampler(_StreamSampler):
    """The active ids in increasing order, as plain ids (no augmentation seed): for evaluation.

    Padded by wrapping around to a multiple of ``num_replicas`` like ``DistributedSampler(shuffle=False)``, so under
    DDP a few samples may be evaluated twice.

    Args:
        ids: returns the current ids (sorted int64 array).
        num_replicas: number of DDP processes.
        rank: this process's global rank.

    Example:
        >>> list(OrderedSplitSampler(lambda: np.array([2, 5, 7]), num_replicas=2, rank=1))
        [5, 2]
    """

    def __init__(self, ids: Callable[[], np.ndarray], *, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(ids, num_replicas=num_replicas, rank=rank, seed=0, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        ids = self._ids()
        if len(ids) == 0:
            return iter(())
        order = np.resize(ids, math.ceil(len(ids) / self.num_replicas) * self.num_replicas)
        return iter(self._shard(order).tolist())


class FixedIds:
    """A picklable ``ids()`` callable that returns fixed ids."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids

    def __call__(self) -> np.ndarray:
        return self.ids
