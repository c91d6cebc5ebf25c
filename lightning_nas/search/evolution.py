"""Evolutionary searches that train many independent children: EcoNAS's hierarchical proxy evolution and
AmoebaNet's regularized evolution.

Both searchers make every decision (random architectures, parent selection, mutation, promotion, removal) in the
calling process from one seeded generator, and hand the training of the children to any
:class:`concurrent.futures.Executor`: the default :class:`InProcessExecutor` (one job after another in this
process), a :class:`~concurrent.futures.ProcessPoolExecutor`, Dask's ``client.get_executor()`` or an executor
backed by Ray (:func:`open_executor` builds the first three by name; the recipe for Ray is in
:class:`HierarchicalEvolution`). Only ``submit``, ``Future.result`` and ``Future.cancel`` are used, and results are
read in submission order, so the outcome does not depend on which job finishes first. Each job is a
:class:`~lightning_nas.search.children.ChildJob` trained by ``train_fn`` (default
:func:`~lightning_nas.search.children.train_child`, a Lightning ``Trainer`` run); its seed is :func:`child_seed`
``(seed, child_id)``, so a run on a process pool gives the same history as a run in process.

State: the complete search state (sets, history, cycle counter, generator state, epochs trained, next child id,
and the jobs of the cycle in progress with the results already received) is written atomically to
``workdir/search_state.json`` after the initial population, when a cycle's jobs are decided, after every result
and after every cycle. ``run()`` on a workdir that holds a state resumes from it: a killed search continues where it
stopped and ends with the same history as an uninterrupted one. No finished job is trained again: besides the results
in the state, every job records its result in its child's folder when it ends (:func:`result_path`), so the jobs
that were still running on other workers when the search stopped, and finished without being read, are taken from
there. A continuation resumes from the checkpoint its child wrote at the end of the previous stage
(:func:`~lightning_nas.search.children.child_checkpoint_path`, one file per stage), so repeating an interrupted
continuation is safe. The workers must see ``workdir`` (one machine, or a file system shared by the machines).

Both searchers count the epochs they train (the sum over jobs of ``stop_epoch - start_epoch``) and accept
``max_epochs_budget``, so they can be compared at an equal training budget.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from lightning.pytorch.utilities import rank_zero_info
from tqdm.auto import tqdm

from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table
from lightning_nas.checks import check_bool, check_number, check_numbers
from lightning_nas.search.children import ChildJob, ChildResult, train_child
from lightning_nas.search.genotypes import MUTABLE_SPACES, MutableSpace, mutate, random_genotype
from lightning_nas.search.reduced import ReducedSetting
from lightning_nas.spaces import DARTSGenotype, Genotype, get_search_space_class

__all__ = [
    "STATE_FILE",
    "ExecutorKind",
    "Fitness",
    "HierarchicalEvolution",
    "InProcessExecutor",
    "RegularizedEvolution",
    "child_seed",
    "open_executor",
    "result_path",
    "tournament_rank",
]

T = TypeVar("T")

Fitness = Literal["last", "best"]
"""How a network's accuracies become its fitness: the accuracy after its latest stage (``"last"``, the paper) or
the best epoch over all its stages (``"best"``, the official code)."""

#: Name of the state file written into ``workdir``.
STATE_FILE = "search_state.json"
_STATE_VERSION = 1
_FITNESSES: tuple[str, ...] = ("last", "best")


def child_seed(seed: int, child_id: int) -> int:
    """The training seed of child ``child_id`` in a search seeded with ``seed``, in ``[0, 2**32)``.

    Derived with :class:`numpy.random.SeedSequence` from both numbers, so it depends on nothing else (not on the
    executor, the order of completion or a resume). Every stage of a network trains with its child's seed.

    Example:
        >>> child_seed(0, 3) == child_seed(0, 3), child_seed(0, 3) == child_seed(1, 3)
        (True, False)
    """
    return int(np.random.SeedSequence([seed, child_id]).generate_state(1)[0])


def tournament_rank(size: int, rng: np.random.Generator) -> int:
    """One EcoNAS tournament draw from a set of ``size`` networks ranked best first: the rank (0 = best) it picks.

    ``S = floor(size / 4) + 1`` ranks are sampled uniformly with replacement and the best (smallest) is kept, as the
    official ``sample``; rank ``i`` is picked with probability ``((size - i) / size)^S - ((size - i - 1) / size)^S``.

    Raises:
        ValueError: If ``size`` is not a positive integer.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sorted({tournament_rank(1, rng) for _ in range(5)}), tournament_rank(40, rng) < 40
        ([0], True)
    """
    size = _check_int("tournament_rank", "size", size, 1)
    return int(rng.integers(0, size, size=size // 4 + 1).min())


class _DeferredFuture(Future):
    """A future that runs its call in the calling thread when its result (or exception) is first asked for."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self._call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = (fn, args, kwargs)

    def run(self) -> None:
        if self._call is None:
            return
        fn, args, kwargs = self._call
        self._call = None
        if not self.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # a KeyboardInterrupt propagates at once
            self.set_exception(err)
        else:
            self.set_result(result)

    def result(self, timeout: float | None = None) -> Any:
        self.run()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self.run()
        return super().exception(timeout)


class InProcessExecutor(Executor):
    """The default executor of the searches: runs each job in the calling process, when its result is asked for.

    Jobs therefore run one after another in the order the search reads them (submission order), and a failing job
    stops the search before the jobs after it run. ``shutdown(wait=True)`` runs the jobs nobody asked for yet.

    Example:
        >>> executor = InProcessExecutor()
        >>> future = executor.submit(pow, 2, 10)
        >>> future.done(), future.result(), future.done()
        (False, 1024, True)
    """

    def __init__(self) -> None:
        self._pending: list[_DeferredFuture] = []
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; it runs when the returned future's result is first asked for.

        Raises:
            RuntimeError: If the executor was shut down.
        """
        if self._shutdown:
            raise RuntimeError("`InProcessExecutor.submit`: cannot schedule new jobs after `shutdown()`.")
        future = _DeferredFuture(fn, args, kwargs)
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new jobs; cancel (``cancel_futures``) or, with ``wait``, run the jobs not run yet."""
        self._shutdown = True
        pending, self._pending = self._pending, []
        for future in pending:
            if cancel_futures:
                future.cancel()
            elif wait:
                future.run()


ExecutorKind = Literal["inprocess", "processes", "dask"]
"""The executors :func:`open_executor` builds by name (``lightning-nas evolve --executor``)."""
_EXECUTOR_KINDS: tuple[str, ...] = ("inprocess", "processes", "dask")


@contextlib.contextmanager
def open_executor(
    kind: ExecutorKind = "inprocess", *, max_workers: int | None = None, scheduler_address: str | None = None
) -> Iterator[Executor]:
    """An executor for the searches' jobs, by name; on exit it is shut down (Dask: its client and cluster closed).

    * ``"inprocess"``: :class:`InProcessExecutor` (one job after another in this process, the searches' default).
    * ``"processes"``: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``max_workers`` processes (default: one
      per CPU) started with ``spawn``: fresh interpreters, safe whatever threads (Dask's, a progress bar's) or CUDA
      state this process has, where a forked worker can hang on a lock another thread held at the fork; each worker
      imports the library once, and ``train_fn`` must be importable by name. On an error the jobs not started are
      cancelled and the running ones finish (except after Ctrl-C), so their results are recorded for the resumed
      search.
    * ``"dask"``: ``client.get_executor(pure=False)`` (training writes files: not a pure function) of a
      ``distributed.Client`` connected to the running scheduler at ``scheduler_address``, or, without an address, to a
      new ``LocalCluster(n_workers=max_workers, threads_per_worker=1)`` (one job per worker process: a job seeds its
      whole process) whose worker processes are not daemonic, so the children's data loaders can start worker
      processes. Needs ``pip install "lightning-nas[dask]"``.

    Args:
        kind: ``"inprocess"``, ``"processes"`` or ``"dask"``.
        max_workers: Processes of the pool or of the local Dask cluster; ``None`` for the library's default.
        scheduler_address: Address of a running Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``); only with
            ``kind="dask"``; its workers are the cluster's own (start them with ``--nthreads 1``).

    Raises:
        ValueError: If ``kind`` is unknown, ``max_workers`` is not a positive integer, or an option does not apply
            to ``kind``.
        ImportError: If ``kind="dask"`` and ``distributed`` is not installed.

    Example:
        >>> with open_executor("inprocess") as executor:  # "processes", max_workers=4: the same, in 4 processes
        ...     executor.submit(pow, 2, 10).result()
        1024
    """
    owner = "open_executor"
    if kind not in _EXECUTOR_KINDS:
        raise ValueError(f"`{owner}(kind={kind!r})`: `kind` must be one of {list(_EXECUTOR_KINDS)}. Got {kind!r}.")
    if max_workers is not None:
        _check_int(owner, "max_workers", max_workers, 1)
        if kind == "inprocess" or scheduler_address is not None:
            got = f"kind={kind!r}" + (f", scheduler_address={scheduler_address!r}" if scheduler_address else "")
            raise ValueError(
                f"`{owner}(max_workers={max_workers!r})`: `max_workers` applies to the 'processes' executor and to a "
                "local Dask cluster (kind='dask' without `scheduler_address`); a running Dask scheduler has its own "
                f"workers. Got {got} instead."
            )
    if scheduler_address is not None and kind != "dask":
        raise ValueError(
            f"`{owner}(scheduler_address={scheduler_address!r})`: `scheduler_address` needs kind='dask'. Got "
            f"kind={kind!r} instead."
        )
    if kind == "inprocess":
        executor = InProcessExecutor()
        try:
            yield executor
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
    elif kind == "processes":
        pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            yield pool
        except BaseException as err:  # on Ctrl-C the workers are interrupted too: do not wait for them
            pool.shutdown(wait=not isinstance(err, KeyboardInterrupt), cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    else:
        try:
            import dask
            import distributed
        except ImportError as err:
            raise ImportError(
                f"`{owner}(kind='dask')` needs Dask's distributed scheduler: pip install 'lightning-nas[dask]' ({err})."
            ) from err
        with contextlib.ExitStack() as stack:
            if scheduler_address is not None:
                client = stack.enter_context(distributed.Client(scheduler_address))
            else:
                stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
                cluster = stack.enter_context(
                    distributed.LocalCluster(n_workers=max_workers, threads_per_worker=1, processes=True)
                )
                client = stack.enter_context(distributed.Client(cluster))
            yield client.get_executor(pure=False)


def _check_int(owner: str, name: str, value: object, minimum: int) -> int:
    check_number(owner, name, value, low=minimum, integer=True)
    return int(value)  # type: ignore[call-overload]


def _check_ints(owner: str, name: str, value: object, length: int) -> tuple[int, ...]:
    return tuple(int(v) for v in check_numbers(owner, name, value, length=length, low=0, integer=True))


def _check_dict(owner: str, name: str, value: object) -> dict[str, Any]:
    if value is None and name != "data":
        return {}
    if not isinstance(value, Mapping):
        allowed = "a dict" if name == "data" else "a dict or None"
        raise TypeError(f"`{owner}({name}=...)`: `{name}` must be {allowed}. Got {type(value).__name__} instead.")
    return dict(value)


def _parse_setting(owner: str, setting: object) -> ReducedSetting:
    try:
        return ReducedSetting.coerce(setting)  # type: ignore[arg-type]
    except ValueError as err:
        raise ValueError(f"`{owner}(setting={setting!r})`: {err}") from None
    except TypeError as err:
        raise TypeError(
            f"`{owner}(setting={setting!r})`: `setting` must be a ReducedSetting, its name (e.g. 'c4r4s0e60') or its "
            f"fields {{c, r, s, e}} ({err})."
        ) from None


def _setting_name(setting: ReducedSetting) -> str:
    name = getattr(setting, "name", None)
    return name if isinstance(name, str) else str(setting)


def _parse_genotype(search_space: str, genotype: str) -> Genotype:
    return get_search_space_class(search_space).genotype_type.from_string(genotype)


def _mutation_kind(parent: Genotype, child: Genotype) -> str:
    """``"op"`` or ``"hidden_state"``: what changed in the one (op, input) pair the mutation touched."""
    if isinstance(parent, DARTSGenotype) and isinstance(child, DARTSGenotype):
        for cell in ("normal", "reduce"):
            for (op_a, input_a), (op_b, input_b) in zip(parent.cell(cell), child.cell(cell)):
                if input_a != input_b:
                    return "hidden_state"
                if op_a != op_b:
                    return "op"
    return "op"


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a history record that shares no list with the search state."""
    return {key: list(value) if isinstance(value, list) else value for key, value in record.items()}


def _fitness_key(record: Mapping[str, Any]) -> tuple[float, int]:
    """Sort key: higher fitness first (NaN last), then the older network (smaller id)."""
    fitness = record["fitness"]
    return (math.inf if fitness is None or math.isnan(fitness) else -fitness, record["id"])


def result_path(workdir: str, start_epoch: int, stop_epoch: int) -> str:
    """Where the job that trains a child's epochs ``[start_epoch, stop_epoch)`` records its result.

    Example:
        >>> result_path("runs/children/000007", 20, 40)
        'runs/children/000007/result_20_40.json'
    """
    return os.path.join(workdir, f"result_{start_epoch}_{stop_epoch}.json")


@dataclass(frozen=True)
class _RecordedTrain:
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


class _Evolution:
    """Shared machinery: validation, jobs, the executor loop, budget accounting, state and results."""

    _set_names: ClassVar[tuple[str, ...]]

    def _init_common(
        self,
        *,
        workdir: str,
        data: Mapping[str, Any],
        search_space: str,
        setting: ReducedSetting | str,
        module: Mapping[str, Any] | None,
        trainer: Mapping[str, Any] | None,
        fitness: str,
        top_k: int,
        max_epochs_budget: int | None,
        seed: int,
        executor: Executor | None,
        train_fn: Callable[[ChildJob], ChildResult],
        resume: bool,
        progress: bool,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(workdir, (str, os.PathLike)) or not str(workdir):
            raise ValueError(f"`{owner}(workdir={workdir!r})`: `workdir` must be a non-empty path. Got {workdir!r}.")
        if search_space not in MUTABLE_SPACES:
            raise ValueError(
                f"`{owner}(search_space={search_space!r})`: `search_space` must be one of {list(MUTABLE_SPACES)}. "
                f"Got {search_space!r} instead."
            )
        if fitness not in _FITNESSES:
            raise ValueError(
                f"`{owner}(fitness={fitness!r})`: `fitness` must be one of {list(_FITNESSES)}. Got {fitness!r} instead."
            )
        if max_epochs_budget is not None:
            _check_int(owner, "max_epochs_budget", max_epochs_budget, 1)
        if executor is not None and not callable(getattr(executor, "submit", None)):
            raise TypeError(
                f"`{owner}(executor=...)`: `executor` must be a concurrent.futures.Executor (or None for the "
                f"in-process default). Got {type(executor).__name__} instead."
            )
        if not callable(train_fn):
            raise TypeError(f"`{owner}(train_fn=...)`: `train_fn` must be callable. Got {type(train_fn).__name__}.")
        self.workdir = os.fspath(workdir)
        self.data = _check_dict(owner, "data", data)
        self.module = _check_dict(owner, "module", module)
        self.trainer = _check_dict(owner, "trainer", trainer)
        self.search_space = search_space
        self.setting = _parse_setting(owner, setting)
        self.fitness = fitness
        self.top_k = _check_int(owner, "top_k", top_k, 1)
        self.max_epochs_budget = None if max_epochs_budget is None else int(max_epochs_budget)
        self.seed = _check_int(owner, "seed", seed, 0)
        self.executor = executor
        self.train_fn = train_fn
        check_bool(owner, "resume", resume)
        check_bool(owner, "progress", progress)
        self.resume = bool(resume)
        self.progress = bool(progress)
        self._state: dict[str, Any] | None = None
        self._rng: np.random.Generator | None = None
        if "class_path" not in self.data:
            raise ValueError(
                f'`{owner}(data={self.data!r})`: `data` must be {{"class_path": ..., "init_args": {{...}}}}, the '
                "search data module of the children."
            )
        probe = {"child_id": 0, "genotype": "", "start_epoch": 0, "stop_epoch": self.setting.e}
        try:  # the job's own checks (reserved module/trainer keys) fail here rather than in the first cycle
            self._child_job(probe)
        except ValueError as err:
            raise ValueError(f"`{owner}`: the children's jobs would be invalid: {err}") from None

    # ------------------------------------------------------------------ subclass hooks
    def _config(self) -> dict[str, Any]:
        """The arguments a resumed search must share with the search that wrote the state."""
        return {
            "searcher": type(self).__name__,
            "search_space": self.search_space,
            "setting": _setting_name(self.setting),
            "fitness": self.fitness,
            "seed": self.seed,
        }

    def _init_target(self) -> int:
        raise NotImplementedError

    def _init_epochs(self) -> int:
        raise NotImplementedError

    def _plan_cycle(self, cycle: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _apply_cycle(self, cycle: int, jobs: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _cycles_done(self) -> bool:
        raise NotImplementedError

    def _summary(self, cycle: int, jobs: list[dict[str, Any]]) -> str:
        raise NotImplementedError

    def _progress_total(self) -> tuple[int, int, str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ results
    @property
    def state_path(self) -> str:
        """``workdir/search_state.json``."""
        return os.path.join(self.workdir, STATE_FILE)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every network trained so far, in creation (id) order, including the dead ones.

        Each record holds ``id``, ``genotype`` (canonical string), ``parent`` (id, ``None`` for random ones),
        ``mutation`` (``"op"``, ``"hidden_state"`` or ``None``), ``seed``, ``created_cycle``, ``last_updated``
        (cycle of its latest training), ``stage`` (stages trained), ``epochs`` (epochs trained),
        ``stage_accuracies`` (validation accuracy at the end of each stage), ``stage_cycles`` (the cycle each stage
        was trained in), ``val_accuracies`` (one per epoch),
        ``fitness``, ``dead``, ``died_cycle``, ``checkpoint``, ``workdir`` and ``seconds`` (training time).
        """
        return [_copy(record) for record in self._loaded()["networks"]]

    @property
    def epochs_used(self) -> int:
        """Training epochs submitted so far: the sum over jobs of ``stop_epoch - start_epoch``."""
        return int(self._loaded()["epochs_used"])

    @property
    def populations(self) -> dict[str, list[dict[str, Any]]]:
        """The current sets, each ranked by fitness (best first), as history records."""
        state = self._loaded()
        return {
            name: [_copy(state["networks"][i]) for i in self._ranked(ids)]
            for name, ids in zip(self._set_names, state["sets"])
        }

    @property
    def best(self) -> dict[str, Any]:
        """The first record of :meth:`top`.

        Raises:
            RuntimeError: If no network has been trained yet.
        """
        top = self.top(1)
        if not top:
            raise RuntimeError(f"`{type(self).__name__}.best`: no network has been trained yet; call `run()` first.")
        return top[0]

    def top(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` (default ``top_k``) best networks of the result, best first, as history records."""
        raise NotImplementedError

    def lookup(
        self, table: NASBench201Table, dataset: NASBench201Dataset = "cifar10", k: int | None = None
    ) -> list[dict[str, Any]]:
        """The NAS-Bench-201 ground truth of :meth:`top`: its records with ``test_accuracy`` (percent) added.

        Args:
            table: The benchmark's table (:meth:`NASBench201Table.from_csv`).
            dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16-120"``.
            k: How many networks (default ``top_k``).

        Raises:
            ValueError: If the search does not run on the ``"nasbench201"`` space.
        """
        if self.search_space != "nasbench201":
            raise ValueError(
                f"`{type(self).__name__}.lookup`: the NAS-Bench-201 table only knows the 'nasbench201' space; this "
                f"search runs on {self.search_space!r}."
            )
        return [{**record, "test_accuracy": table.test_accuracy(record["genotype"], dataset)} for record in self.top(k)]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(workdir={self.workdir!r}, search_space={self.search_space!r}, "
            f"setting={_setting_name(self.setting)!r}, seed={self.seed})"
        )

    # ------------------------------------------------------------------ the loop
    def run(self) -> list[dict[str, Any]]:
        """Run (or resume) the search until all cycles are done or the epoch budget is spent.

        Returns:
            :attr:`history`.

        Raises:
            ValueError: If ``workdir`` holds the state of a search with other arguments (and ``resume=True``).
            RuntimeError: If ``train_fn`` returns a result that does not match its job.
            Exception: Whatever a job raised; the state written so far lets ``run()`` resume.
        """
        self._start()
        state = self._loaded()
        executor = self.executor if self.executor is not None else InProcessExecutor()
        try:
            if state["phase"] == "init":
                if state["pending"] is None and not self._plan_init():
                    return self.history
                self._execute_pending(executor)
                self._finish_pending()
                if len(state["networks"]) < self._init_target():
                    return self.history  # the budget ran out during the initial population
                state["phase"] = "evolve"
                self._save()
                rank_zero_info(
                    f"{type(self).__name__}: initial population of {len(state['networks'])} networks trained; best "
                    f"{self._best_fitness(state['sets'][0])}; {state['epochs_used']} epochs trained"
                )
            total, initial, unit = self._progress_total()
            with tqdm(
                total=total, initial=initial, desc=type(self).__name__, unit=unit, disable=not self.progress
            ) as bar:
                while True:
                    if state["pending"] is None:
                        if self._cycles_done():
                            break
                        jobs = self._plan_cycle(state["cycle"] + 1)
                        if not jobs:
                            break
                        self._set_pending(state["cycle"] + 1, jobs)
                    self._execute_pending(executor)
                    before = self._progress_total()[1]
                    jobs = self._finish_pending()
                    bar.update(self._progress_total()[1] - before)
                    rank_zero_info(self._summary(state["cycle"], jobs))
        finally:
            if self.executor is None:
                executor.shutdown(wait=False, cancel_futures=True)
        return self.history

    def _start(self) -> None:
        """Load the state from ``workdir`` (``resume``) or make the empty one."""
        if self.resume and os.path.isfile(self.state_path):
            self._load()
            return
        self._state = {
            "version": _STATE_VERSION,
            "config": self._config(),
            "phase": "init",
            "cycle": 0,
            "next_id": 0,
            "epochs_used": 0,
            "children": 0,
            "networks": [],
            "sets": [[] for _ in self._set_names],
            "pending": None,
            "rng": None,
            # names this search's job results (result files of an earlier search in the same workdir are not reused)
            "run_id": uuid.uuid4().hex,
        }
        self._rng = np.random.default_rng(self.seed)

    def _load(self) -> None:
        with open(self.state_path) as file:
            state = json.load(file)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"`{type(self).__name__}`: {self.state_path} has state version {state.get('version')!r}.")
        config = self._config()
        saved = state["config"]
        changed = [
            f"{key}: saved {saved.get(key)!r}, now {value!r}"
            for key, value in config.items()
            if saved.get(key) != value
        ]
        if changed:
            raise ValueError(
                f"`{type(self).__name__}(workdir={self.workdir!r})`: the workdir holds the state of a search with "
                f"other arguments ({'; '.join(changed)}). Use the same arguments to resume, another `workdir`, or "
                "`resume=False` to start afresh."
            )
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        state.setdefault("run_id", "")
        self._state = state

    def _loaded(self) -> dict[str, Any]:
        if self._state is None:
            if not os.path.isfile(self.state_path):
                raise RuntimeError(
                    f"`{type(self).__name__}`: no search state yet (no {self.state_path}); call `run()` first."
                )
            self._load()
        assert self._state is not None
        return self._state

    def _save(self) -> None:
        state = self._loaded()
        assert self._rng is not None
        state["rng"] = self._rng.bit_generator.state
        _write_json(self.state_path, state)

    def _ranked(self, ids: Sequence[int]) -> list[int]:
        networks = self._loaded()["networks"]
        return sorted(ids, key=lambda i: _fitness_key(networks[i]))

    # ------------------------------------------------------------------ jobs
    def _budget_left(self) -> int | None:
        if self.max_epochs_budget is None:
            return None
        return self.max_epochs_budget - self._loaded()["epochs_used"]

    def _within_budget(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The longest prefix of ``jobs`` whose epochs fit into the budget left."""
        left = self._budget_left()
        if left is None:
            return jobs
        kept = []
        for job in jobs:
            epochs = job["stop_epoch"] - job["start_epoch"]
            if epochs > left:
                break
            left -= epochs
            kept.append(job)
        return kept

    def _new_job(self, genotype: Genotype, epochs: int, parent: int | None, mutation: str | None, target: int) -> dict:
        return {
            "child_id": None,
            "genotype": str(genotype),
            "start_epoch": 0,
            "stop_epoch": epochs,
            "parent": parent,
            "mutation": mutation,
            "target": target,
        }

    def _assign_ids(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = self._loaded()
        for job in jobs:
            if job["child_id"] is None:
                job["child_id"] = state["next_id"]
                state["next_id"] += 1
        return jobs

    def _plan_init(self) -> bool:
        state = self._loaded()
        assert self._rng is not None
        missing = self._init_target() - len(state["networks"])
        jobs = [
            self._new_job(random_genotype(self.search_space, self._rng), self._init_epochs(), None, None, 0)
            for _ in range(missing)
        ]
        jobs = self._within_budget(jobs)
        if not jobs:
            return False
        self._set_pending(0, self._assign_ids(jobs))
        return True

    def _set_pending(self, cycle: int, jobs: list[dict[str, Any]]) -> None:
        state = self._loaded()
        self._assign_ids(jobs)
        state["epochs_used"] += sum(job["stop_epoch"] - job["start_epoch"] for job in jobs)
        state["pending"] = {"cycle": cycle, "jobs": jobs, "results": [None] * len(jobs)}
        self._save()

    def _child_workdir(self, child_id: int) -> str:
        return os.path.join(self.workdir, "children", f"{child_id:06d}")

    def _child_job(self, job: Mapping[str, Any]) -> ChildJob:
        return ChildJob(
            child_id=job["child_id"],
            genotype=job["genotype"],
            search_space=self.search_space,
            setting=self.setting,
            start_epoch=job["start_epoch"],
            stop_epoch=job["stop_epoch"],
            workdir=self._child_workdir(job["child_id"]),
            seed=child_seed(self.seed, job["child_id"]),
            data=dict(self.data),
            module=dict(self.module),
            trainer=dict(self.trainer),
        )

    def _execute_pending(self, executor: Executor) -> None:
        """Submit the pending jobs without a result, then read the results in submission order.

        Each job runs as :class:`_RecordedTrain`: a job whose result file exists (it finished, but the search was
        stopped before reading it) is not trained again.
        """
        state = self._loaded()
        pending = state["pending"]
        train = _RecordedTrain(self.train_fn, state["run_id"])
        futures: list[tuple[int, Future]] = []
        try:
            for index, (job, result) in enumerate(zip(pending["jobs"], pending["results"])):
                if result is None:
                    futures.append((index, executor.submit(train, self._child_job(job))))
            for index, future in futures:
                pending["results"][index] = self._check_result(pending["jobs"][index], future.result())
                self._save()
        except BaseException:
            for _, future in futures:
                future.cancel()
            raise

    def _check_result(self, job: Mapping[str, Any], result: ChildResult) -> dict[str, Any]:
        epochs = job["stop_epoch"] - job["start_epoch"]
        accuracies = getattr(result, "val_accuracies", None)
        if getattr(result, "child_id", None) != job["child_id"] or accuracies is None or len(accuracies) != epochs:
            raise RuntimeError(
                f"`{type(self).__name__}`: `train_fn` must return a ChildResult with the job's `child_id` "
                f"({job['child_id']}) and one validation accuracy per trained epoch ({epochs}, epochs "
                f"{job['start_epoch']}..{job['stop_epoch'] - 1}). Got {result!r} instead."
            )
        return {
            "val_accuracies": [float(a) for a in accuracies],
            "checkpoint": str(getattr(result, "checkpoint", "")),
            "seconds": float(getattr(result, "seconds", 0.0)),
        }

    def _finish_pending(self) -> list[dict[str, Any]]:
        """Apply the finished pending jobs, advance the cycle counter and save."""
        state = self._loaded()
        pending = state["pending"]
        cycle, jobs, results = pending["cycle"], pending["jobs"], pending["results"]
        if cycle == 0:
            for job, result in zip(jobs, results):
                self._apply_result(job, result, 0)
                state["sets"][0].append(job["child_id"])
        else:
            self._apply_cycle(cycle, jobs, results)
            state["cycle"] = cycle
        state["pending"] = None
        self._save()
        return jobs

    def _apply_result(self, job: Mapping[str, Any], result: Mapping[str, Any], cycle: int) -> dict[str, Any]:
        """Create (job from scratch) or extend (continuation) the network's record with the job's result."""
        networks = self._loaded()["networks"]
        child_id = job["child_id"]
        if job["start_epoch"] == 0:
            if child_id != len(networks):
                raise RuntimeError(f"`{type(self).__name__}`: internal error, child {child_id} created out of order.")
            networks.append(
                {
                    "id": child_id,
                    "genotype": job["genotype"],
                    "parent": job["parent"],
                    "mutation": job["mutation"],
                    "seed": child_seed(self.seed, child_id),
                    "created_cycle": cycle,
                    "last_updated": cycle,
                    "stage": 0,
                    "epochs": 0,
                    "stage_accuracies": [],
                    "stage_cycles": [],
                    "val_accuracies": [],
                    "fitness": None,
                    "dead": False,
                    "died_cycle": None,
                    "checkpoint": "",
                    "workdir": self._child_workdir(child_id),
                    "seconds": 0.0,
                }
            )
        record = networks[child_id]
        if record["epochs"] != job["start_epoch"]:
            raise RuntimeError(
                f"`{type(self).__name__}`: internal error, network {child_id} has {record['epochs']} epochs, "
                f"the job starts at {job['start_epoch']}."
            )
        record["val_accuracies"].extend(result["val_accuracies"])
        record["stage_accuracies"].append(result["val_accuracies"][-1])
        record["stage_cycles"].append(cycle)
        record["stage"] += 1
        record["epochs"] = job["stop_epoch"]
        record["last_updated"] = cycle
        record["checkpoint"] = result["checkpoint"]
        record["seconds"] += result["seconds"]
        last = record["stage_accuracies"][-1]
        record["fitness"] = last if self.fitness == "last" else max(record["val_accuracies"])
        return record

    def _kill(self, child_id: int, cycle: int) -> None:
        record = self._loaded()["networks"][child_id]
        record["dead"] = True
        record["died_cycle"] = cycle

    def _best_fitness(self, ids: Sequence[int]) -> str:
        if not ids:
            return "-"
        return f"{self._loaded()['networks'][self._ranked(ids)[0]]['fitness']:.4g}"


class HierarchicalEvolution(_Evolution):
    """EcoNAS's hierarchical proxy evolution (Algorithm 1): cheap proxies weed out, longer training ranks the best.

    The sets ``P_E``, ``P_2E`` and ``P_3E`` hold networks trained for ``E``, ``2E`` and ``3E`` epochs
    (``E = stage_epochs``; the paper's ``P20/P40/P60``). First ``num_init`` random architectures are trained for
    ``E`` epochs into ``P_E``. Then each of the ``cycles`` cycles ``t = 1..C``

    1. **selects parents** by tournament: with each set ranked by fitness (best first; ties: older first),
       ``draws = (6, 5, 5)`` parents are drawn from ``P_E``, ``P_2E``, ``P_3E``; a draw samples
       ``S = floor(|set| / 4) + 1`` ranks uniformly (with replacement, as the official ``sample``) and keeps the best,
       so better networks are chosen more often and a network can be drawn twice;
    2. **mutates** each parent once (AmoebaNet's op or hidden-state mutation without identity,
       :func:`~lightning_nas.search.genotypes.mutate`) and trains the child from scratch for ``E`` epochs into
       ``P_E``;
    3. **promotes** the top ``promote[0] = 8`` of ``P_E`` to ``P_2E`` and the top ``promote[1] = 4`` of ``P_2E`` to
       ``P_3E``, each resuming from its checkpoint for ``E`` more epochs (jobs with ``start_epoch = kE``,
       ``stop_epoch = (k + 1)E``). As in the official code, both tops are ranked at the *start* of the cycle, so this
       cycle's children can be promoted from the next cycle on and a network climbs at most one stage per cycle;
       a set smaller than its count promotes all its networks. The children and the continuations of a cycle are
       submitted together and train in parallel;
    4. **removes dead networks**: every network of the three sets whose latest training (creation or promotion)
       was ``dead_age = 10`` or more cycles ago (``t - last_updated >= dead_age``). They stay in :attr:`history`.

    The result (:meth:`top`, :attr:`best`) is the ``top_k = 5`` of the *history* (the paper's "top-5 cells from
    history", Section 5.1; "top-5 models from P_60", Appendix A5.1), which the paper retrains in the full setting
    (c0r0s0e600): every network that completed the last stage, still in ``P_3E`` or removed by aging, ranked by its
    fitness. While fewer than ``top_k`` networks completed it (few cycles or a small budget), the best-trained
    networks (stage reached, then fitness) fill the result.

    Every stage uses the reduced ``setting``, whose epoch count is the *whole* schedule, ``3E``: the cosine learning
    rate spans one 60-epoch cycle and stage ``k`` trains its epochs ``[(k - 1)E, kE)`` (PAPERS-SPEC 7.3).

    Library choices where paper and official code differ (PAPERS-SPEC 9.7-9.10):

    * ``num_init = 50`` (paper; the official ``main.py`` starts from 16).
    * Fitness: the paper's "validation accuracy after the latest stage" (``fitness="last"``); ``fitness="best"``
      is the official code's best epoch over all the network's stages. The validation split is the data module's
      (the paper holds out 5k CIFAR-10 training images; the official code evaluates on the test set).
    * Empty sets: the official code draws nothing from an empty set, so early cycles mutate fewer than 16
      parents. With ``redistribute=True`` (default) the quota of the empty sets is split evenly over the non-empty
      ones (remainder to the sets with fewer epochs first), so every cycle mutates ``sum(draws)`` parents, e.g.
      ``(16, 0, 0)`` in cycle 1 and ``(9, 7, 0)`` in cycle 2; ``redistribute=False`` is the official behaviour.
    * Dead removal runs at the end of a cycle with ``t - last_updated >= dead_age`` (Algorithm 1, line 26); the
      initial population counts as trained in cycle 0.

    Budget: ``max_epochs_budget`` caps the trained epochs (sum over jobs of ``stop_epoch - start_epoch``, counted when
    a job is submitted). Jobs are considered in the order children, ``P_E -> P_2E``, ``P_2E -> P_3E``; the first job
    that would exceed the budget ends the search (that cycle is applied with the jobs submitted before it). Resuming
    with a larger budget (or more ``cycles``) continues the search.

    Resume: with ``resume=True`` (default), ``run()`` on a ``workdir`` holding ``search_state.json`` continues that
    search (its arguments, except ``cycles``, ``max_epochs_budget``, ``top_k``, the data/module/trainer options, the
    executor and ``train_fn``, must be unchanged); jobs that finished but were not read before the stop are taken from
    their result files, not trained again. ``resume=False`` starts afresh and overwrites the state and the children's
    checkpoints (the earlier search's result files are ignored).

    Executors: the jobs of a cycle (``sum(draws)`` children and up to ``sum(promote)`` continuations) are submitted
    together, so a cycle lasts about as long as its slowest job when there are that many workers. A job
    (:func:`~lightning_nas.search.children.train_child`) seeds its whole process: give every worker one job at a time
    (processes; Dask workers with one thread). The workers must see ``workdir`` (the checkpoints and result files).
    ``lightning-nas evolve --executor {inprocess,processes,dask} [--max_workers N] [--scheduler_address ADDRESS]``
    builds the first three (:func:`open_executor`).

    * Processes on this machine: ``executor=ProcessPoolExecutor(max_workers=4)``.
    * Dask (``pip install "lightning-nas[dask]"``): ``client = distributed.Client("tcp://scheduler:8786")`` (workers
      started with ``dask worker tcp://scheduler:8786 --nthreads 1``) or ``distributed.Client(LocalCluster(
      n_workers=4, threads_per_worker=1))``, then ``executor=client.get_executor(pure=False)``. Dask's worker
      processes are daemonic unless ``distributed.worker.daemon`` is ``False``, and daemonic processes cannot start
      data-loader workers: set it (as :func:`open_executor` does) or give the data module ``num_workers=0``.
    * Ray (not a dependency of the library): a Ray task's ``ObjectRef.future()`` is a
      :class:`concurrent.futures.Future`, so a small adapter makes an executor (``ray.util.multiprocessing.Pool``
      has the ``multiprocessing.Pool`` interface, without ``submit``). Its task options place the jobs, e.g. one GPU
      per child::

          import concurrent.futures
          import ray

          @ray.remote
          def _call(fn, *args, **kwargs):
              return fn(*args, **kwargs)

          class RayExecutor(concurrent.futures.Executor):
              def __init__(self, **options):  # Ray task options: num_cpus, num_gpus, resources, max_retries, ...
                  self.options = options

              def submit(self, fn, /, *args, **kwargs):
                  return _call.options(**self.options).remote(fn, *args, **kwargs).future()

          ray.init()  # ray.init(address="auto") on a running Ray cluster
          search = HierarchicalEvolution("runs/econas", data=..., executor=RayExecutor(num_cpus=4, num_gpus=1))

      Cancelling such a future does not stop its Ray task: after a failure the running jobs finish and their
      results are reused when the search resumes.

    Args:
        workdir: Folder of the search state (``search_state.json``) and of the children (``children/<id>/``, each
            child's checkpoints and logs).
        data: The search data module of the children, ``{"class_path": ..., "init_args": {...}}``, built in each
            job with EcoNAS's 10 % held-out validation split (see :class:`~lightning_nas.search.children.ChildJob`).
        search_space: ``"econas"`` (EcoNAS's cells: DARTS's 8 ops with ``none``, loose-end concat, PAPERS-SPEC
            7.2), ``"darts"`` (the same without ``none``) or ``"nasbench201"`` (results can be looked up in the
            benchmark's table with :meth:`lookup`).
        setting: The reduced setting of the children (a :class:`~lightning_nas.search.reduced.ReducedSetting` or its
            name); its epochs must be ``3 * stage_epochs``. EcoNAS: ``"c4r4s0e60"``.
        module: Options of the children's LightningModule, passed through to the jobs.
        trainer: Options of the children's ``Trainer``, passed through to the jobs.
        stage_epochs: ``E``, the epochs of one stage.
        num_init: ``N_init``, the random architectures of the initial ``P_E``.
        cycles: ``C``, the evolution cycles.
        draws: Parents drawn per cycle from ``P_E``, ``P_2E``, ``P_3E`` (16 children in all).
        promote: ``(N_1, N_2)``: how many of the top of ``P_E`` and of ``P_2E`` train one more stage.
        dead_age: Networks not trained for this many cycles are removed from the sets.
        fitness: ``"last"`` (accuracy after the latest stage, paper) or ``"best"`` (best epoch, official code).
        redistribute: Give the parent quota of empty sets to the non-empty ones (always ``sum(draws)`` children).
        top_k: Size of the result (:meth:`top`).
        max_epochs_budget: Maximum training epochs over all jobs; ``None`` for no limit.
        seed: Seed of the search's decisions and (with the child id, :func:`child_seed`) of every child's training.
        executor: Where the jobs run: any :class:`concurrent.futures.Executor` of processes (``train_child`` seeds
            the process, so threads would share one global seed), e.g. a process pool, Dask's
            ``client.get_executor(pure=False)`` or a Ray adapter (see Executors above; :func:`open_executor`);
            ``None`` runs them one after another in this process (:class:`InProcessExecutor`). The search never
            shuts down an executor it was given.
        train_fn: Trains one job and returns its result (picklable for process pools);
            default :func:`~lightning_nas.search.children.train_child`.
        resume: Continue the search saved in ``workdir`` if there is one.
        progress: Show a progress bar over the cycles.

    Raises:
        ValueError: If an argument is out of range (the message names it), or the setting's epochs are not
            ``3 * stage_epochs``.
        TypeError: If ``executor``, ``train_fn``, ``setting`` or a dict argument has the wrong type.

    Example:
        >>> import tempfile
        >>> from lightning_nas.search.children import ChildResult
        >>> def toy_train(job):  # stand-in for train_child: "accuracy" = share of 3x3 convs, no training
        ...     acc = job.genotype.count("conv_3x3") / 6
        ...     return ChildResult(job.child_id, (acc,) * (job.stop_epoch - job.start_epoch), "", 1, 0.0)
        >>> search = HierarchicalEvolution(
        ...     tempfile.mkdtemp(), data={"class_path": "DigitsSearchDataModule"}, search_space="nasbench201",
        ...     setting="c4r4s0e3", stage_epochs=1, num_init=8, cycles=3, draws=(2, 1, 1), promote=(2, 1),
        ...     train_fn=toy_train, progress=False)
        >>> history = search.run()
        >>> len(history), search.epochs_used  # 8 + 3 * 4 networks; 8 + 3 * 4 + (2 + 2 + 2) + (0 + 1 + 1) epochs
        (20, 28)
        >>> [len(p) for p in search.populations.values()]
        [14, 4, 2]
        >>> search.best["stage"], search.best["fitness"] >= search.top()[-1]["fitness"]
        (3, True)

    References:
        Zhou et al., "EcoNAS: Finding Proxies for Economical Neural Architecture Search", CVPR 2020 (Algorithm 1,
        Section 4.2); official code DongzhanZhou/EcoNAS (``search/main.py``).
    """

    _set_names: ClassVar[tuple[str, ...]] = ("P_E", "P_2E", "P_3E")

    def __init__(
        self,
        workdir: str,
        *,
        data: dict[str, Any],
        search_space: MutableSpace = "econas",
        setting: ReducedSetting | str = "c4r4s0e60",
        module: dict[str, Any] | None = None,
        trainer: dict[str, Any] | None = None,
        stage_epochs: int = 20,
        num_init: int = 50,
        cycles: int = 100,
        draws: tuple[int, int, int] = (6, 5, 5),
        promote: tuple[int, int] = (8, 4),
        dead_age: int = 10,
        fitness: Fitness = "last",
        redistribute: bool = True,
        top_k: int = 5,
        max_epochs_budget: int | None = None,
        seed: int = 0,
        executor: Executor | None = None,
        train_fn: Callable[[ChildJob], ChildResult] = train_child,
        resume: bool = True,
        progress: bool = True,
    ) -> None:
        owner = type(self).__name__
        self._init_common(
            workdir=workdir,
            data=data,
            search_space=search_space,
            setting=setting,
            module=module,
            trainer=trainer,
            fitness=fitness,
            top_k=top_k,
            max_epochs_budget=max_epochs_budget,
            seed=seed,
            executor=executor,
            train_fn=train_fn,
            resume=resume,
            progress=progress,
        )
        self.stage_epochs = _check_int(owner, "stage_epochs", stage_epochs, 1)
        self.num_init = _check_int(owner, "num_init", num_init, 1)
        self.cycles = _check_int(owner, "cycles", cycles, 0)
        self.draws = _check_ints(owner, "draws", draws, 3)
        self.promote = _check_ints(owner, "promote", promote, 2)
        self.dead_age = _check_int(owner, "dead_age", dead_age, 1)
        check_bool(owner, "redistribute", redistribute)
        self.redistribute = bool(redistribute)
        if self.setting.e != 3 * self.stage_epochs:
            raise ValueError(
                f"`{owner}(setting={_setting_name(self.setting)!r}, stage_epochs={self.stage_epochs})`: the setting's "
                f"epochs ({self.setting.e}) must be 3 * stage_epochs = {3 * self.stage_epochs}, the length of the "
                "cosine schedule the three stages share."
            )

    def _config(self) -> dict[str, Any]:
        return {
            **super()._config(),
            "stage_epochs": self.stage_epochs,
            "num_init": self.num_init,
            "draws": list(self.draws),
            "promote": list(self.promote),
            "dead_age": self.dead_age,
            "redistribute": self.redistribute,
        }

    def _init_target(self) -> int:
        return self.num_init

    def _init_epochs(self) -> int:
        return self.stage_epochs

    def _cycles_done(self) -> bool:
        return self._loaded()["cycle"] >= self.cycles

    def _progress_total(self) -> tuple[int, int, str]:
        return self.cycles, min(self._loaded()["cycle"], self.cycles), "cycle"

    def quotas(self, sizes: Sequence[int]) -> tuple[int, int, int]:
        """Parents drawn from ``P_E``, ``P_2E``, ``P_3E`` when they hold ``sizes`` networks.

        Example:
            >>> search = HierarchicalEvolution("unused", data={"class_path": "CIFAR10SearchDataModule"})
            >>> search.quotas([50, 0, 0]), search.quotas([58, 8, 0]), search.quotas([60, 9, 4]), search.quotas([0] * 3)
            ((16, 0, 0), (9, 7, 0), (6, 5, 5), (0, 0, 0))
        """
        quotas = [draw if size > 0 else 0 for draw, size in zip(self.draws, sizes)]
        nonempty = [i for i, size in enumerate(sizes) if size > 0]
        if self.redistribute and nonempty:
            spare = sum(draw for draw, size in zip(self.draws, sizes) if size == 0)
            share, extra = divmod(spare, len(nonempty))
            for rank, i in enumerate(nonempty):
                quotas[i] += share + (1 if rank < extra else 0)
        return (quotas[0], quotas[1], quotas[2])

    def _plan_cycle(self, cycle: int) -> list[dict[str, Any]]:
        state = self._loaded()
        assert self._rng is not None
        rng, networks, epochs = self._rng, state["networks"], self.stage_epochs
        ranked = [self._ranked(ids) for ids in state["sets"]]
        jobs = []
        for members, quota in zip(ranked, self.quotas([len(r) for r in ranked])):
            for _ in range(quota):
                parent = members[tournament_rank(len(members), rng)]
                genotype = _parse_genotype(self.search_space, networks[parent]["genotype"])
                child = mutate(genotype, rng)
                jobs.append(self._new_job(child, epochs, parent, _mutation_kind(genotype, child), 0))
        for level, count in enumerate(self.promote):
            for network in ranked[level][:count]:
                jobs.append(
                    {
                        "child_id": network,
                        "genotype": networks[network]["genotype"],
                        "start_epoch": (level + 1) * epochs,
                        "stop_epoch": (level + 2) * epochs,
                        "parent": None,
                        "mutation": None,
                        "target": level + 1,
                    }
                )
        return self._within_budget(jobs)

    def _apply_cycle(self, cycle: int, jobs: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        sets = self._loaded()["sets"]
        for job, result in zip(jobs, results):
            self._apply_result(job, result, cycle)
            if job["start_epoch"] > 0:
                sets[job["target"] - 1].remove(job["child_id"])
            sets[job["target"]].append(job["child_id"])
        networks = self._loaded()["networks"]
        for members in sets:
            for network in [i for i in members if cycle - networks[i]["last_updated"] >= self.dead_age]:
                members.remove(network)
                self._kill(network, cycle)

    def _summary(self, cycle: int, jobs: list[dict[str, Any]]) -> str:
        state = self._loaded()
        children = sum(job["start_epoch"] == 0 for job in jobs)
        completed = [record["id"] for record in state["networks"] if record["stage"] == 3]
        sizes = ", ".join(f"|{name}|={len(ids)}" for name, ids in zip(self._set_names, state["sets"]))
        return (
            f"{type(self).__name__} cycle {cycle}/{self.cycles}: {children} children, {len(jobs) - children} "
            f"promotions; {sizes}; best after 3E {self._best_fitness(completed)}; "
            f"{state['epochs_used']} epochs trained"
        )

    def top(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` (default ``top_k``) best networks of the history, best first, as history records.

        The paper's "top-5 cells from *history*": every network that completed the last stage (``3E`` epochs),
        whether it is still in ``P_3E`` or was removed by aging (``dead``), ranked by its fitness (with
        ``fitness="last"``: its accuracy at the end of that stage).
        Networks of ``P_3E`` are never trained again, so they all die ``dead_age`` cycles after their promotion;
        ranking only the living ``P_3E`` would drop the best networks of all but the last cycles. When fewer than
        ``k`` networks completed the last stage (few cycles or a small budget), the next best-trained ones follow:
        the history is ranked by stage reached, then fitness (ties: the older network first).
        """
        k = self.top_k if k is None else _check_int(f"{type(self).__name__}.top", "k", k, 1)
        networks = self._loaded()["networks"]
        ids = sorted(range(len(networks)), key=lambda i: (-networks[i]["stage"], *_fitness_key(networks[i])))
        return [_copy(networks[i]) for i in ids[:k]]


class RegularizedEvolution(_Evolution):
    """AmoebaNet's regularized (aging) evolution, on the same jobs, executors, state and budget as EcoNAS.

    A population of ``population_size`` (``P``) random architectures is trained; then each cycle samples
    ``sample_size`` (``S``) networks of the population uniformly (with replacement, as AmoebaNet's Algorithm 1),
    mutates the best of them once (:func:`~lightning_nas.search.genotypes.mutate`: op or hidden-state mutation, no
    identity), trains the child, adds it to the population and removes the *oldest* network (aging). Every network is
    trained once, from scratch, for the ``setting``'s epochs (one full cosine cycle). The result (:meth:`top`) is the
    ``top_k`` of the whole history, as AmoebaNet returns the best model ever trained.

    Batch-parallel variant: a step draws ``batch_size`` parents from the population as it is at the start of the
    step, trains their children in parallel on the executor, then adds them in order, each followed by the removal
    of the oldest network. ``batch_size=1`` is the sequential AmoebaNet; larger batches keep every worker busy
    (AmoebaNet itself ran many asynchronous workers). ``cycles`` counts children (AmoebaNet's ``C``), so the number
    of steps is ``ceil(cycles / batch_size)``; the ``created_cycle`` of a record is its step (0: initial population).

    Budget and resume as :class:`HierarchicalEvolution`: ``max_epochs_budget`` counts the epochs of submitted jobs,
    so the two searches can be compared at an equal epoch budget.

    Args:
        workdir: Folder of the search state and of the children.
        data: The search data module of the children (see :class:`~lightning_nas.search.children.ChildJob`).
        search_space: ``"econas"``, ``"darts"`` or ``"nasbench201"``.
        setting: The reduced setting every child is trained in; AmoebaNet's proxy is ``"c1r0s0e25"`` (EcoNAS
            Table 4).
        module: Options of the children's LightningModule.
        trainer: Options of the children's ``Trainer``.
        population_size: ``P`` (AmoebaNet: 100).
        sample_size: ``S``, the tournament size (AmoebaNet: 25); at most ``population_size``.
        cycles: ``C``, the mutated children (AmoebaNet trained 20,000 models).
        batch_size: Children trained in parallel per step (1 = sequential AmoebaNet).
        fitness: ``"last"`` or ``"best"`` (the best epoch) validation accuracy.
        top_k: Size of the result (:meth:`top`).
        max_epochs_budget: Maximum training epochs over all jobs; ``None`` for no limit.
        seed: Seed of the search's decisions and (with the child id) of every child's training.
        executor: Any :class:`concurrent.futures.Executor` of processes (process pool, Dask, Ray: see
            :class:`HierarchicalEvolution`); ``None``: :class:`InProcessExecutor`.
        train_fn: Trains one job; default :func:`~lightning_nas.search.children.train_child`.
        resume: Continue the search saved in ``workdir`` if there is one.
        progress: Show a progress bar over the children.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If ``executor``, ``train_fn``, ``setting`` or a dict argument has the wrong type.

    Example:
        >>> import tempfile
        >>> from lightning_nas.search.children import ChildResult
        >>> def toy_train(job):  # stand-in for train_child: "accuracy" = share of 3x3 convs, no training
        ...     acc = job.genotype.count("conv_3x3") / 6
        ...     return ChildResult(job.child_id, (acc,) * (job.stop_epoch - job.start_epoch), "", 1, 0.0)
        >>> search = RegularizedEvolution(
        ...     tempfile.mkdtemp(), data={"class_path": "DigitsSearchDataModule"}, search_space="nasbench201",
        ...     setting="c4r4s0e2", population_size=8, sample_size=3, cycles=10, batch_size=4, train_fn=toy_train,
        ...     progress=False)
        >>> history = search.run()
        >>> len(history), search.epochs_used, len(search.populations["population"])
        (18, 36, 8)
        >>> sum(record["dead"] for record in history)
        10

    References:
        Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019 (Algorithm 1).
    """

    _set_names: ClassVar[tuple[str, ...]] = ("population",)

    def __init__(
        self,
        workdir: str,
        *,
        data: dict[str, Any],
        search_space: MutableSpace = "econas",
        setting: ReducedSetting | str = "c1r0s0e25",
        module: dict[str, Any] | None = None,
        trainer: dict[str, Any] | None = None,
        population_size: int = 100,
        sample_size: int = 25,
        cycles: int = 20000,
        batch_size: int = 1,
        fitness: Fitness = "last",
        top_k: int = 5,
        max_epochs_budget: int | None = None,
        seed: int = 0,
        executor: Executor | None = None,
        train_fn: Callable[[ChildJob], ChildResult] = train_child,
        resume: bool = True,
        progress: bool = True,
    ) -> None:
        owner = type(self).__name__
        self._init_common(
            workdir=workdir,
            data=data,
            search_space=search_space,
            setting=setting,
            module=module,
            trainer=trainer,
            fitness=fitness,
            top_k=top_k,
            max_epochs_budget=max_epochs_budget,
            seed=seed,
            executor=executor,
            train_fn=train_fn,
            resume=resume,
            progress=progress,
        )
        self.population_size = _check_int(owner, "population_size", population_size, 1)
        self.sample_size = _check_int(owner, "sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(
                f"`{owner}(sample_size={sample_size!r})`: `sample_size` must be at most `population_size` "
                f"({self.population_size}). Got {sample_size!r} instead."
            )
        self.cycles = _check_int(owner, "cycles", cycles, 0)
        self.batch_size = _check_int(owner, "batch_size", batch_size, 1)

    def _config(self) -> dict[str, Any]:
        return {
            **super()._config(),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "batch_size": self.batch_size,
        }

    def _init_target(self) -> int:
        return self.population_size

    def _init_epochs(self) -> int:
        return self.setting.e

    def _cycles_done(self) -> bool:
        return self._loaded()["children"] >= self.cycles

    def _progress_total(self) -> tuple[int, int, str]:
        return self.cycles, min(self._loaded()["children"], self.cycles), "child"

    def _plan_cycle(self, cycle: int) -> list[dict[str, Any]]:
        state = self._loaded()
        assert self._rng is not None
        networks, population = state["networks"], state["sets"][0]
        jobs = []
        for _ in range(min(self.batch_size, self.cycles - state["children"])):
            sample = self._rng.integers(0, len(population), size=self.sample_size)
            parent = min((population[int(i)] for i in sample), key=lambda i: _fitness_key(networks[i]))
            genotype = _parse_genotype(self.search_space, networks[parent]["genotype"])
            child = mutate(genotype, self._rng)
            jobs.append(self._new_job(child, self.setting.e, parent, _mutation_kind(genotype, child), 0))
        return self._within_budget(jobs)

    def _apply_cycle(self, cycle: int, jobs: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        state = self._loaded()
        population = state["sets"][0]
        for job, result in zip(jobs, results):
            self._apply_result(job, result, cycle)
            population.append(job["child_id"])
            self._kill(population.pop(0), cycle)
            state["children"] += 1

    def _summary(self, cycle: int, jobs: list[dict[str, Any]]) -> str:
        state = self._loaded()
        return (
            f"{type(self).__name__} step {cycle}: {state['children']}/{self.cycles} children; best of the population "
            f"{self._best_fitness(state['sets'][0])}; {state['epochs_used']} epochs trained"
        )

    def top(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` (default ``top_k``) best networks ever trained, best first, as history records."""
        k = self.top_k if k is None else _check_int(f"{type(self).__name__}.top", "k", k, 1)
        networks = self._loaded()["networks"]
        return [_copy(networks[i]) for i in self._ranked(range(len(networks)))[:k]]
