"""The saved state of an evolutionary search: its jobs, networks and sets as dataclasses, and their JSON files.

A search's state (:class:`SearchState`) holds every network trained (:class:`NetworkRecord`), the ids in each of
the policy's sets, the counters, the generator and the cycle in progress (:class:`PendingCycle`: its
:class:`EvolutionJob` values and the :class:`~lightning_nas.search.children.ChildResult` values received so far).
:class:`StateStore` writes it atomically to ``workdir/search_state.json`` and reads it back, refusing a state written
by a search with other arguments. Independently, every job records its result next to its child's checkpoint
(:func:`result_path`, :class:`RecordedTrain`), so a resumed search takes the jobs that finished unread from there.

Example:
    >>> import tempfile
    >>> store = StateStore(tempfile.mkdtemp(), owner="Search")
    >>> state = SearchState.new(config={"seed": 0}, num_sets=1, seed=0)
    >>> job = EvolutionJob(child_id=0, genotype="g", start_epoch=0, stop_epoch=2)
    >>> state.pending = PendingCycle(cycle=0, jobs=[job], results=[None])
    >>> store.save(state)
    >>> loaded = store.load({"seed": 0})
    >>> loaded.pending.jobs == [job], loaded.rng.random() == state.rng.random()
    (True, True)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightning_nas.search.children import ChildJob, ChildResult

__all__ = [
    "STATE_FILE",
    "EvolutionJob",
    "NetworkRecord",
    "PendingCycle",
    "RecordedTrain",
    "SearchState",
    "StateStore",
    "result_path",
]

#: Name of the state file written into ``workdir``.
STATE_FILE = "search_state.json"
_STATE_VERSION = 1


@dataclass(frozen=True)
class EvolutionJob:
    """One job a policy plans: a new network (``start_epoch == 0``) or the next stage of a trained one.

    Attributes:
        child_id: The network's id; ``None`` until the search numbers the jobs of a cycle.
        genotype: The architecture's canonical string.
        start_epoch: First epoch trained (0: from scratch; otherwise from the child's checkpoint).
        stop_epoch: Epochs the network has trained when the job ends.
        parent: Id of the mutated parent, ``None`` for random networks and continuations.
        mutation: ``"op"``, ``"hidden_state"`` or ``None``.
        target: Index of the policy's set the network joins when the job ends.
    """

    child_id: int | None
    genotype: str
    start_epoch: int
    stop_epoch: int
    parent: int | None = None
    mutation: str | None = None
    target: int = 0

    @property
    def epochs(self) -> int:
        """The epochs the job trains."""
        return self.stop_epoch - self.start_epoch


@dataclass
class NetworkRecord:
    """A network of the history (see :attr:`~lightning_nas.search.HierarchicalEvolution.history` for the fields)."""

    id: int
    genotype: str
    parent: int | None
    mutation: str | None
    seed: int
    created_cycle: int
    last_updated: int
    stage: int = 0
    epochs: int = 0
    stage_accuracies: list[float] = field(default_factory=list)
    stage_cycles: list[int] = field(default_factory=list)
    val_accuracies: list[float] = field(default_factory=list)
    fitness: float | None = None
    dead: bool = False
    died_cycle: int | None = None
    checkpoint: str = ""
    workdir: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The record as the dict the searches return (it shares no list with the state)."""
        return dataclasses.asdict(self)

    def rank_key(self) -> tuple[float, int]:
        """Sort key: higher fitness first (NaN and untrained last), then the older network (smaller id)."""
        fitness = self.fitness
        return (math.inf if fitness is None or math.isnan(fitness) else -fitness, self.id)


@dataclass
class PendingCycle:
    """The jobs of the cycle in progress (cycle 0: the initial population) and the results received so far."""

    cycle: int
    jobs: list[EvolutionJob]
    results: list[ChildResult | None]


@dataclass
class SearchState:
    """Everything a search needs to continue: written after every decision and every result.

    Attributes:
        config: The arguments a resumed search must share with the one that wrote the state.
        phase: ``"init"`` while the initial population trains, then ``"evolve"``.
        cycle: The last finished cycle.
        next_id: The id of the next new network.
        epochs_used: Epochs of all submitted jobs.
        children: Mutated children created so far.
        networks: The history, by id.
        sets: The ids in each of the policy's sets.
        pending: The cycle in progress, ``None`` between cycles.
        rng: The generator of every decision.
        run_id: Names this search's job results (an earlier search's result files in the same workdir are ignored).
    """

    config: dict[str, Any]
    rng: np.random.Generator
    sets: list[list[int]]
    phase: str = "init"
    cycle: int = 0
    next_id: int = 0
    epochs_used: int = 0
    children: int = 0
    networks: list[NetworkRecord] = field(default_factory=list)
    pending: PendingCycle | None = None
    run_id: str = ""

    @classmethod
    def new(cls, config: dict[str, Any], num_sets: int, seed: int) -> SearchState:
        """The state of a search that has not started: empty sets, a generator seeded with ``seed``, a new run id."""
        return cls(config, np.random.default_rng(seed), [[] for _ in range(num_sets)], run_id=uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        """The state as plain JSON values (the format of ``search_state.json``, version 1)."""
        pending = None
        if self.pending is not None:
            pending = {
                "cycle": self.pending.cycle,
                "jobs": [dataclasses.asdict(job) for job in self.pending.jobs],
                "results": [None if result is None else _result_json(result) for result in self.pending.results],
            }
        return {
            "version": _STATE_VERSION,
            "config": self.config,
            "phase": self.phase,
            "cycle": self.cycle,
            "next_id": self.next_id,
            "epochs_used": self.epochs_used,
            "children": self.children,
            "networks": [record.as_dict() for record in self.networks],
            "sets": self.sets,
            "pending": pending,
            "rng": self.rng.bit_generator.state,
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchState:
        """The state :meth:`to_json` wrote."""
        rng = np.random.default_rng()
        rng.bit_generator.state = data["rng"]
        pending = None
        if data["pending"] is not None:
            jobs = [EvolutionJob(**job) for job in data["pending"]["jobs"]]
            results = [
                None if result is None else _result_from_json(job, result)
                for job, result in zip(jobs, data["pending"]["results"])
            ]
            pending = PendingCycle(data["pending"]["cycle"], jobs, results)
        return cls(
            config=data["config"],
            rng=rng,
            sets=[list(ids) for ids in data["sets"]],
            phase=data["phase"],
            cycle=data["cycle"],
            next_id=data["next_id"],
            epochs_used=data["epochs_used"],
            children=data["children"],
            networks=[NetworkRecord(**record) for record in data["networks"]],
            pending=pending,
            run_id=data.get("run_id", ""),
        )


def _result_json(result: ChildResult) -> dict[str, Any]:
    return {"val_accuracies": list(result.val_accuracies), "checkpoint": result.checkpoint, "seconds": result.seconds}


def _result_from_json(job: EvolutionJob, data: Mapping[str, Any]) -> ChildResult:
    accuracies = tuple(float(a) for a in data["val_accuracies"])
    return ChildResult(job.child_id, accuracies, data["checkpoint"], job.stop_epoch, float(data["seconds"]))


class StateStore:
    """Reads and writes a search's :class:`SearchState` as ``workdir/search_state.json`` (atomically).

    Args:
        workdir: The search's folder.
        owner: The searcher's name, for error messages.
    """

    def __init__(self, workdir: str, owner: str) -> None:
        self.path = os.path.join(workdir, STATE_FILE)
        self.owner = owner

    def exists(self) -> bool:
        """Whether a state was saved."""
        return os.path.isfile(self.path)

    def save(self, state: SearchState) -> None:
        """Write ``state``, replacing the saved one."""
        _write_json(self.path, state.to_json())

    def load(self, config: Mapping[str, Any]) -> SearchState:
        """The saved state, if it was written by a search with the same ``config``.

        Raises:
            ValueError: If the file has another version or another config.
        """
        with open(self.path) as file:
            data = json.load(file)
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"`{self.owner}`: {self.path} has state version {data.get('version')!r}.")
        saved = data["config"]
        changed = [
            f"{key}: saved {saved.get(key)!r}, now {value!r}"
            for key, value in config.items()
            if saved.get(key) != value
        ]
        if changed:
            raise ValueError(
                f"`{self.owner}(workdir={os.path.dirname(self.path)!r})`: the workdir holds the state of a search "
                f"with other arguments ({'; '.join(changed)}). Use the same arguments to resume, another `workdir`, "
                "or `resume=False` to start afresh."
            )
        return SearchState.from_json(data)


def result_path(workdir: str, start_epoch: int, stop_epoch: int) -> str:
    """Where the job that trains a child's epochs ``[start_epoch, stop_epoch)`` records its result.

    Example:
        >>> result_path("runs/children/000007", 20, 40)
        'runs/children/000007/result_20_40.json'
    """
    return os.path.join(workdir, f"result_{start_epoch}_{stop_epoch}.json")


@dataclass(frozen=True)
class RecordedTrain:
    """What a worker runs for one job: ``train_fn`` unless the job already finished, and a record of its result.

    The search reads its results in submission order and saves the state after each one, so when it is stopped (a
    killed process, a failing job, a lost scheduler) the jobs that were still running on other workers finish
    without being read. Their result files (:func:`result_path`, in the child's ``workdir``, next to its checkpoint,
    tagged with the search's ``run_id`` and written atomically at the end of the job) let the resumed search take
    these results instead of training the jobs again. A record is used only if its run id, child, genotype and
    epochs match the job and the checkpoint it names still exists.
    """

    train_fn: Callable[[ChildJob], ChildResult]
    run_id: str

    def __call__(self, job: ChildJob) -> ChildResult:
        path = result_path(job.workdir, job.start_epoch, job.stop_epoch)
        key = {
            "run_id": self.run_id,
            "child_id": job.child_id,
            "genotype": job.genotype,
            "start_epoch": job.start_epoch,
            "stop_epoch": job.stop_epoch,
        }
        recorded = _read_record(path, key)
        if recorded is not None:
            return recorded
        result = self.train_fn(job)
        try:
            record = {
                **key,
                "val_accuracies": [float(a) for a in result.val_accuracies],
                "checkpoint": str(result.checkpoint),
                "epochs": int(result.epochs),
                "seconds": float(result.seconds),
            }
        except (AttributeError, TypeError, ValueError):
            return result  # not a ChildResult: the search refuses it with its own message
        _write_json(path, record)
        return result


def _read_record(path: str, key: Mapping[str, Any]) -> ChildResult | None:
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(record.get(name) != value for name, value in key.items()):
        return None
    checkpoint = record.get("checkpoint", "")
    if not isinstance(checkpoint, str) or (checkpoint and not os.path.isfile(checkpoint)):
        return None
    try:
        return ChildResult(
            child_id=int(record["child_id"]),
            val_accuracies=tuple(float(a) for a in record["val_accuracies"]),
            checkpoint=checkpoint,
            epochs=int(record["epochs"]),
            seconds=float(record["seconds"]),
        )
    except (KeyError, TypeError, ValueError):  # not a record this library wrote: train the job
        return None


def _write_json(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps(data))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
