"""GreedyNAS's candidate pool: the best paths seen so far, as a fixed-capacity heap keyed by their loss."""

from __future__ import annotations

import heapq
import math
import numbers
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import torch

__all__ = ["CandidatePool"]

P = TypeVar("P", bound=Hashable)


class _Entry:
    """One pool entry; ``a < b`` means "a is worse than b", so a ``heapq`` min-heap keeps the worst at its root."""

    __slots__ = ("key", "loss", "path")

    def __init__(self, loss: float, key: str, path: Any) -> None:
        self.loss = loss
        self.key = key
        self.path = path

    def rank(self) -> tuple[float, str]:
        return self.loss, self.key

    def __lt__(self, other: _Entry) -> bool:
        return self.rank() > other.rank()


class CandidatePool(Generic[P]):
    """The ``capacity`` best paths seen so far (lowest loss first), GreedyNAS's candidate pool ``P``.

    The pool is a heap whose root is the **worst** path (highest loss): the paper's "min-heap with priority ``l``"
    read as a min-heap on ``-l`` (PAPERS-SPEC 6.2, ambiguity 9.4). :meth:`update` offers paths with their losses:

    * a path already in the pool has its stored loss replaced by the new one (the pool holds each path once);
    * otherwise, while the pool is not full the path enters; once full it enters only if it ranks better than the
      root, which it then evicts; else it is rejected.

    The losses of paths that are not offered again stay as they were (stale), as in the paper: the pool is never
    re-evaluated as a whole (mmrazor re-evaluates every candidate each round, a costly deviation).

    Ties: paths rank by ``(loss, str(path))``, so of two paths with the same loss the one with the lexicographically
    smaller canonical string ranks better (and the other is evicted first). The order therefore depends only on the
    pool's content, not on the order of the updates: it is the same on every DDP rank and after a checkpoint resume,
    and :meth:`sample` draws from this best-first order.

    Paths are any hashable values whose ``str()`` is canonical (e.g.
    :class:`~lightning_nas.spaces.MobileNetPath`); :meth:`state_dict` stores them as strings and
    :meth:`load_state_dict` turns them back with ``parse`` (``None`` keeps the strings).

    Args:
        capacity: the maximum number of paths, ``|P|`` (1000 in the paper: about the number of paths one ImageNet
            epoch trains).
        parse: turns a path's string back into a path when a state dict is loaded; ``None`` keeps strings.

    Raises:
        ValueError: ``capacity`` is not an int >= 1.

    Example:
        >>> pool = CandidatePool(capacity=2)
        >>> pool.update(["a", "b", "c"], [0.5, 0.2, 0.9])  # "c" is worse than the full pool's root "a"
        2
        >>> pool.items()
        [(0.2, 'b'), (0.5, 'a')]
        >>> pool.update(["d", "b"], [0.1, 0.7])  # "d" evicts the root "a"; "b" gets its new loss
        1
        >>> pool.items(), pool.worst, pool.is_full
        ([(0.1, 'd'), (0.7, 'b')], (0.7, 'b'), True)

    References:
        You et al., "GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet", CVPR 2020, Sec. 4.1.1 and
        Algorithm 2 (line 6); PAPERS-SPEC 6.2 and ambiguity 9.4.
    """

    def __init__(self, capacity: int = 1000, parse: Callable[[str], P] | None = None) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, numbers.Integral) or capacity < 1:
            raise ValueError(
                f"`CandidatePool(capacity={capacity!r})`: `capacity` must be an int >= 1. Got {capacity!r} instead."
            )
        if parse is not None and not callable(parse):
            raise ValueError(f"`CandidatePool(parse={parse!r})`: `parse` must be callable or None.")
        self.capacity = int(capacity)
        self.parse = parse
        self._heap: list[_Entry] = []
        self._entries: dict[str, _Entry] = {}
        self._sorted: list[_Entry] | None = None

    # ---------------------------------------------------------------------------------------------------------------
    # queries
    # ---------------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._heap)

    def __contains__(self, path: object) -> bool:
        return str(path) in self._entries

    def __iter__(self) -> Iterator[P]:
        """The paths, best first."""
        return iter([entry.path for entry in self._best_first()])

    def __repr__(self) -> str:
        return f"CandidatePool(capacity={self.capacity}, size={len(self)})"

    @property
    def is_full(self) -> bool:
        """Whether the pool holds ``capacity`` paths."""
        return len(self._heap) >= self.capacity

    @property
    def worst(self) -> tuple[float, P] | None:
        """``(loss, path)`` of the root (the worst path, the next to be evicted); ``None`` when empty."""
        return (self._heap[0].loss, self._heap[0].path) if self._heap else None

    @property
    def best(self) -> tuple[float, P] | None:
        """``(loss, path)`` of the best path; ``None`` when empty."""
        entries = self._best_first()
        return (entries[0].loss, entries[0].path) if entries else None

    def loss(self, path: P) -> float:
        """The stored loss of ``path``.

        Raises:
            KeyError: the path is not in the pool.
        """
        entry = self._entries.get(str(path))
        if entry is None:
            raise KeyError(f"`CandidatePool.loss()`: the path {str(path)!r} is not in the pool.")
        return entry.loss

    def items(self) -> list[tuple[float, P]]:
        """``(loss, path)`` pairs, best (lowest loss) first."""
        return [(entry.loss, entry.path) for entry in self._best_first()]

    def snapshot(self) -> list[tuple[float, P]]:
        """An independent copy of the pool's content, ``(loss, path)`` best first (same as :meth:`items`)."""
        return self.items()

    def paths(self) -> list[P]:
        """The paths, best first."""
        return [entry.path for entry in self._best_first()]

    def _best_first(self) -> list[_Entry]:
        if self._sorted is None:
            self._sorted = sorted(self._heap, key=_Entry.rank)
        return self._sorted

    # ---------------------------------------------------------------------------------------------------------------
    # updates and sampling
    # ---------------------------------------------------------------------------------------------------------------
    def update(self, paths: Sequence[P], losses: Sequence[float] | torch.Tensor) -> int:
        """Offers paths with their losses (Algorithm 2, line 6); returns how many of them entered the pool.

        Offered in order: a path in the pool gets the new loss, a new path enters if the pool is not full or if it
        ranks better than the root (which it evicts). A path that enters and is evicted again within the same call
        still counts as having entered.

        Args:
            paths: the paths, e.g. the ``k`` kept paths of a filtering round.
            losses: their losses, lower is better (not NaN).

        Raises:
            ValueError: ``paths`` and ``losses`` differ in length, or a loss is NaN or not a real number.
        """
        if isinstance(losses, torch.Tensor):
            losses = losses.detach().double().cpu().reshape(-1).tolist()
        paths, losses = list(paths), list(losses)
        if len(paths) != len(losses):
            raise ValueError(
                f"`CandidatePool.update()`: `paths` and `losses` must have the same length. Got {len(paths)} paths "
                f"and {len(losses)} losses instead."
            )
        for loss in losses:
            if isinstance(loss, bool) or not isinstance(loss, numbers.Real) or math.isnan(loss):
                raise ValueError(f"`CandidatePool.update()`: every loss must be a real number, not NaN. Got {loss!r}.")
        entered = 0
        for path, loss in zip(paths, losses):
            key, loss = str(path), float(loss)
            entry = self._entries.get(key)
            if entry is not None:  # dedupe: the re-evaluated path keeps one entry, with its fresh loss
                entry.loss = loss
                heapq.heapify(self._heap)
            elif len(self._heap) < self.capacity:
                entry = _Entry(loss, key, path)
                heapq.heappush(self._heap, entry)
                self._entries[key] = entry
                entered += 1
            elif (loss, key) < self._heap[0].rank():
                entry = _Entry(loss, key, path)
                evicted = heapq.heapreplace(self._heap, entry)
                del self._entries[evicted.key]
                self._entries[key] = entry
                entered += 1
            else:
                continue
            self._sorted = None
        return entered

    def sample(self, generator: torch.Generator | None = None) -> P:
        """A path drawn uniformly from the pool (``U(P)`` of Eq. 8), by its position in the best-first order.

        Args:
            generator: the source of randomness (a CPU ``torch.Generator``); ``None`` uses the global RNG.

        Raises:
            RuntimeError: the pool is empty.
        """
        entries = self._best_first()
        if not entries:
            raise RuntimeError("`CandidatePool.sample()`: the pool is empty; offer paths with `update()` first.")
        index = int(torch.randint(len(entries), (1,), generator=generator).item())
        return entries[index].path

    def clear(self) -> None:
        """Removes every path."""
        self._heap, self._entries, self._sorted = [], {}, None

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"capacity": int, "paths": [str, ...], "losses": [float, ...]}``, best first (plain types)."""
        entries = self._best_first()
        return {
            "capacity": self.capacity,
            "paths": [entry.key for entry in entries],
            "losses": [entry.loss for entry in entries],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the content saved by :meth:`state_dict` (paths parsed with ``parse``).

        Raises:
            ValueError: the state was saved with another capacity, or is malformed.
        """
        capacity = int(state_dict.get("capacity", self.capacity))
        if capacity != self.capacity:
            raise ValueError(
                f"`CandidatePool.load_state_dict()`: the state was saved with capacity={capacity}, this pool has "
                f"capacity={self.capacity}."
            )
        keys, losses = list(state_dict.get("paths", [])), list(state_dict.get("losses", []))
        if len(keys) != len(losses) or len(keys) > self.capacity or len(set(keys)) != len(keys):
            raise ValueError(
                "`CandidatePool.load_state_dict()`: `paths` and `losses` must have the same length, at most the "
                f"capacity, without repeats. Got {len(keys)} paths and {len(losses)} losses."
            )
        self.clear()
        for key, loss in zip(keys, losses):
            entry = _Entry(float(loss), str(key), str(key) if self.parse is None else self.parse(str(key)))
            self._heap.append(entry)
            self._entries[entry.key] = entry
        heapq.heapify(self._heap)
