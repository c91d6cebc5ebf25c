"""The engine under the evolutionary searches: validation, the executor loop, the epoch budget and the results.

:class:`EvolutionEngine` runs any policy that says what to train (``_plan_cycle``) and what the results change
(``_apply_cycle``): it numbers the planned :class:`~lightning_nas.search.evolution_state.EvolutionJob` values, keeps
them within ``max_epochs_budget``, submits them as :class:`~lightning_nas.search.children.ChildJob` values to the
executor, reads the results in submission order, and saves the
:class:`~lightning_nas.search.evolution_state.SearchState` after every decision and every result, so ``run()``
resumes a stopped search. The policies are :class:`~lightning_nas.search.HierarchicalEvolution` (EcoNAS) and
:class:`~lightning_nas.search.RegularizedEvolution` (AmoebaNet).

Example:
    >>> child_seed(0, 3) == child_seed(0, 3), child_seed(0, 3) == child_seed(1, 3)
    (True, False)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from lightning.pytorch.utilities import rank_zero_info
from tqdm.auto import tqdm

from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table
from lightning_nas.checks import check_bool, check_number
from lightning_nas.search.children import ChildJob, ChildResult
from lightning_nas.search.evolution_state import (
    EvolutionJob,
    NetworkRecord,
    PendingCycle,
    RecordedTrain,
    SearchState,
    StateStore,
)
from lightning_nas.search.executors import InProcessExecutor
from lightning_nas.search.genotypes import MUTABLE_SPACES, mutate, random_genotype
from lightning_nas.search.reduced import ReducedSetting
from lightning_nas.spaces import Genotype, parse_genotype

__all__ = ["EvolutionEngine", "child_seed"]

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


def check_int(owner: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an int, checked to be an integer ``>= minimum`` (the error names ``owner`` and ``name``)."""
    check_number(owner, name, value, low=minimum, integer=True)
    return int(value)  # type: ignore[call-overload]


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


def setting_name(setting: ReducedSetting) -> str:
    """The setting's name (e.g. ``"c4r4s0e60"``), or its text when it has none."""
    name = getattr(setting, "name", None)
    return name if isinstance(name, str) else str(setting)


def _parse_genotype(search_space: str, genotype: str) -> Genotype:
    return parse_genotype(genotype, search_space)


def _mutation_kind(parent: Genotype, child: Genotype) -> str:
    """``"op"`` or ``"hidden_state"``: what changed on the one edge the mutation touched."""
    for a, b in zip(parent.edges(), child.edges()):
        if a.source != b.source:
            return "hidden_state"
        if a.op != b.op:
            return "op"
    return "op"


class EvolutionEngine:
    """Runs an evolution policy: validation, jobs, the executor loop, budget accounting, state and results.

    A policy subclasses the engine, calls its constructor with the common arguments (documented on the policies)
    and implements the hooks: ``_set_names`` (its sets; set 0 receives the initial population), ``_config``,
    ``_init_target``, ``_init_epochs``, ``_plan_cycle``, ``_apply_cycle``, ``_cycles_done``, ``_progress_total``,
    ``_summary`` and :meth:`top`.
    """

    _set_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        workdir: str,
        *,
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
            check_int(owner, "max_epochs_budget", max_epochs_budget, 1)
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
        self.top_k = check_int(owner, "top_k", top_k, 1)
        self.max_epochs_budget = None if max_epochs_budget is None else int(max_epochs_budget)
        self.seed = check_int(owner, "seed", seed, 0)
        self.executor = executor
        self.train_fn = train_fn
        check_bool(owner, "resume", resume)
        check_bool(owner, "progress", progress)
        self.resume = bool(resume)
        self.progress = bool(progress)
        self._store = StateStore(self.workdir, owner)
        self._state: SearchState | None = None
        if "class_path" not in self.data:
            raise ValueError(
                f'`{owner}(data={self.data!r})`: `data` must be {{"class_path": ..., "init_args": {{...}}}}, the '
                "search data module of the children."
            )
        probe = EvolutionJob(child_id=0, genotype="", start_epoch=0, stop_epoch=self.setting.e)
        try:  # the job's own checks (reserved module/trainer keys) fail here rather than in the first cycle
            self._child_job(probe)
        except ValueError as err:
            raise ValueError(f"`{owner}`: the children's jobs would be invalid: {err}") from None

    @staticmethod
    def common_arguments(values: Mapping[str, Any]) -> dict[str, Any]:
        """The engine's constructor arguments among a policy constructor's ``locals()``."""
        return {name: values[name] for name in _ENGINE_ARGUMENTS}

    # ------------------------------------------------------------------ policy hooks
    def _config(self) -> dict[str, Any]:
        """The arguments a resumed search must share with the search that wrote the state."""
        return {
            "searcher": type(self).__name__,
            "search_space": self.search_space,
            "setting": setting_name(self.setting),
            "fitness": self.fitness,
            "seed": self.seed,
        }

    def _init_target(self) -> int:
        """The size of the initial population."""
        raise NotImplementedError

    def _init_epochs(self) -> int:
        """The epochs an initial network trains."""
        raise NotImplementedError

    def _plan_cycle(self, cycle: int) -> list[EvolutionJob]:
        """The jobs of ``cycle`` (children with ``child_id=None``); none ends the search."""
        raise NotImplementedError

    def _apply_cycle(self, cycle: int, jobs: list[EvolutionJob], results: list[ChildResult]) -> None:
        """Record the results of ``cycle`` (:meth:`_apply_result`) and update the sets."""
        raise NotImplementedError

    def _cycles_done(self) -> bool:
        raise NotImplementedError

    def _summary(self, cycle: int, jobs: list[EvolutionJob]) -> str:
        raise NotImplementedError

    def _progress_total(self) -> tuple[int, int, str]:
        """The progress bar's total, position and unit."""
        raise NotImplementedError

    def top(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` (default ``top_k``) best networks of the result, best first, as history records."""
        raise NotImplementedError

    # ------------------------------------------------------------------ results
    @property
    def state_path(self) -> str:
        """``workdir/search_state.json``."""
        return self._store.path

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
        return [record.as_dict() for record in self._loaded().networks]

    @property
    def epochs_used(self) -> int:
        """Training epochs submitted so far: the sum over jobs of ``stop_epoch - start_epoch``."""
        return int(self._loaded().epochs_used)

    @property
    def populations(self) -> dict[str, list[dict[str, Any]]]:
        """The current sets, each ranked by fitness (best first), as history records."""
        state = self._loaded()
        return {
            name: [state.networks[i].as_dict() for i in self._ranked(ids)]
            for name, ids in zip(self._set_names, state.sets)
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
            f"setting={setting_name(self.setting)!r}, seed={self.seed})"
        )

    def _top_count(self, k: int | None) -> int:
        return self.top_k if k is None else check_int(f"{type(self).__name__}.top", "k", k, 1)

    def _ranked(self, ids: Sequence[int]) -> list[int]:
        networks = self._loaded().networks
        return sorted(ids, key=lambda i: networks[i].rank_key())

    def _best_fitness(self, ids: Sequence[int]) -> str:
        if not ids:
            return "-"
        return f"{self._loaded().networks[self._ranked(ids)[0]].fitness:.4g}"

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
            if state.phase == "init":
                if state.pending is None and not self._plan_init():
                    return self.history
                self._execute_pending(executor)
                self._finish_pending()
                if len(state.networks) < self._init_target():
                    return self.history  # the budget ran out during the initial population
                state.phase = "evolve"
                self._save()
                rank_zero_info(
                    f"{type(self).__name__}: initial population of {len(state.networks)} networks trained; best "
                    f"{self._best_fitness(state.sets[0])}; {state.epochs_used} epochs trained"
                )
            total, initial, unit = self._progress_total()
            with tqdm(
                total=total, initial=initial, desc=type(self).__name__, unit=unit, disable=not self.progress
            ) as bar:
                while True:
                    if state.pending is None:
                        if self._cycles_done():
                            break
                        jobs = self._plan_cycle(state.cycle + 1)
                        if not jobs:
                            break
                        self._set_pending(state.cycle + 1, jobs)
                    self._execute_pending(executor)
                    before = self._progress_total()[1]
                    jobs = self._finish_pending()
                    bar.update(self._progress_total()[1] - before)
                    rank_zero_info(self._summary(state.cycle, jobs))
        finally:
            if self.executor is None:
                executor.shutdown(wait=False, cancel_futures=True)
        return self.history

    def _start(self) -> None:
        """Load the state from ``workdir`` (``resume``) or make the empty one."""
        if self.resume and self._store.exists():
            self._state = self._store.load(self._config())
            return
        self._state = SearchState.new(self._config(), len(self._set_names), self.seed)

    def _loaded(self) -> SearchState:
        if self._state is None:
            if not self._store.exists():
                raise RuntimeError(
                    f"`{type(self).__name__}`: no search state yet (no {self.state_path}); call `run()` first."
                )
            self._state = self._store.load(self._config())
        return self._state

    def _save(self) -> None:
        self._store.save(self._loaded())

    # ------------------------------------------------------------------ jobs
    def _within_budget(self, jobs: list[EvolutionJob]) -> list[EvolutionJob]:
        """The longest prefix of ``jobs`` whose epochs fit into the budget left."""
        if self.max_epochs_budget is None:
            return jobs
        left = self.max_epochs_budget - self._loaded().epochs_used
        kept = []
        for job in jobs:
            if job.epochs > left:
                break
            left -= job.epochs
            kept.append(job)
        return kept

    def _mutated_child(self, parent: int, epochs: int) -> EvolutionJob:
        """A job that trains, from scratch for ``epochs``, a mutation of network ``parent``."""
        state = self._loaded()
        genotype = _parse_genotype(self.search_space, state.networks[parent].genotype)
        child = mutate(genotype, state.rng)
        return EvolutionJob(None, str(child), 0, epochs, parent, _mutation_kind(genotype, child))

    def _plan_init(self) -> bool:
        state = self._loaded()
        missing = self._init_target() - len(state.networks)
        epochs = self._init_epochs()
        jobs = [
            EvolutionJob(None, str(random_genotype(self.search_space, state.rng)), 0, epochs) for _ in range(missing)
        ]
        jobs = self._within_budget(jobs)
        if not jobs:
            return False
        self._set_pending(0, jobs)
        return True

    def _set_pending(self, cycle: int, jobs: list[EvolutionJob]) -> None:
        """Number the new networks of ``jobs``, count their epochs and save them as the cycle in progress."""
        state = self._loaded()
        numbered = []
        for job in jobs:
            if job.child_id is None:
                job = replace(job, child_id=state.next_id)
                state.next_id += 1
            numbered.append(job)
        state.epochs_used += sum(job.epochs for job in numbered)
        state.pending = PendingCycle(cycle, numbered, [None] * len(numbered))
        self._save()

    def _child_workdir(self, child_id: int) -> str:
        return os.path.join(self.workdir, "children", f"{child_id:06d}")

    def _child_job(self, job: EvolutionJob) -> ChildJob:
        assert job.child_id is not None
        return ChildJob(
            child_id=job.child_id,
            genotype=job.genotype,
            search_space=self.search_space,
            setting=self.setting,
            start_epoch=job.start_epoch,
            stop_epoch=job.stop_epoch,
            workdir=self._child_workdir(job.child_id),
            seed=child_seed(self.seed, job.child_id),
            data=dict(self.data),
            module=dict(self.module),
            trainer=dict(self.trainer),
        )

    def _execute_pending(self, executor: Executor) -> None:
        """Submit the pending jobs without a result, then read the results in submission order.

        Each job runs as :class:`~lightning_nas.search.evolution_state.RecordedTrain`: a job whose result file
        exists (it finished, but the search was stopped before reading it) is not trained again.
        """
        state = self._loaded()
        pending = state.pending
        assert pending is not None
        train = RecordedTrain(self.train_fn, state.run_id)
        futures: list[tuple[int, Future]] = []
        try:
            for index, (job, result) in enumerate(zip(pending.jobs, pending.results)):
                if result is None:
                    futures.append((index, executor.submit(train, self._child_job(job))))
            for index, future in futures:
                pending.results[index] = self._check_result(pending.jobs[index], future.result())
                self._save()
        except BaseException:
            for _, future in futures:
                future.cancel()
            raise

    def _check_result(self, job: EvolutionJob, result: ChildResult) -> ChildResult:
        """``result`` with plain values, checked to be the job's."""
        accuracies = getattr(result, "val_accuracies", None)
        if getattr(result, "child_id", None) != job.child_id or accuracies is None or len(accuracies) != job.epochs:
            raise RuntimeError(
                f"`{type(self).__name__}`: `train_fn` must return a ChildResult with the job's `child_id` "
                f"({job.child_id}) and one validation accuracy per trained epoch ({job.epochs}, epochs "
                f"{job.start_epoch}..{job.stop_epoch - 1}). Got {result!r} instead."
            )
        return ChildResult(
            child_id=job.child_id,
            val_accuracies=tuple(float(a) for a in accuracies),
            checkpoint=str(getattr(result, "checkpoint", "")),
            epochs=job.stop_epoch,
            seconds=float(getattr(result, "seconds", 0.0)),
        )

    def _finish_pending(self) -> list[EvolutionJob]:
        """Apply the finished pending jobs, advance the cycle counter and save."""
        state = self._loaded()
        pending = state.pending
        assert pending is not None and all(result is not None for result in pending.results)
        results: list[ChildResult] = pending.results  # type: ignore[assignment]
        if pending.cycle == 0:
            for job, result in zip(pending.jobs, results):
                self._apply_result(job, result, 0)
                state.sets[0].append(job.child_id)  # type: ignore[arg-type]
        else:
            self._apply_cycle(pending.cycle, pending.jobs, results)
            state.cycle = pending.cycle
        state.pending = None
        self._save()
        return pending.jobs

    def _apply_result(self, job: EvolutionJob, result: ChildResult, cycle: int) -> NetworkRecord:
        """Create (job from scratch) or extend (continuation) the network's record with the job's result."""
        networks = self._loaded().networks
        child_id = job.child_id
        assert child_id is not None
        if job.start_epoch == 0:
            if child_id != len(networks):
                raise RuntimeError(f"`{type(self).__name__}`: internal error, child {child_id} created out of order.")
            networks.append(
                NetworkRecord(
                    id=child_id,
                    genotype=job.genotype,
                    parent=job.parent,
                    mutation=job.mutation,
                    seed=child_seed(self.seed, child_id),
                    created_cycle=cycle,
                    last_updated=cycle,
                    workdir=self._child_workdir(child_id),
                )
            )
        record = networks[child_id]
        if record.epochs != job.start_epoch:
            raise RuntimeError(
                f"`{type(self).__name__}`: internal error, network {child_id} has {record.epochs} epochs, "
                f"the job starts at {job.start_epoch}."
            )
        record.val_accuracies.extend(result.val_accuracies)
        record.stage_accuracies.append(result.val_accuracies[-1])
        record.stage_cycles.append(cycle)
        record.stage += 1
        record.epochs = job.stop_epoch
        record.last_updated = cycle
        record.checkpoint = result.checkpoint
        record.seconds += result.seconds
        record.fitness = record.stage_accuracies[-1] if self.fitness == "last" else max(record.val_accuracies)
        return record

    def _kill(self, child_id: int, cycle: int) -> None:
        record = self._loaded().networks[child_id]
        record.dead = True
        record.died_cycle = cycle


_ENGINE_ARGUMENTS: tuple[str, ...] = tuple(inspect.signature(EvolutionEngine.__init__).parameters)[1:]
