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

Layout: this module holds the two policies (what to train each cycle, what its results change); they run on one
engine (:class:`~lightning_nas.search.evolution_engine.EvolutionEngine`: validation, the executor loop, the budget,
the results), which keeps its state in dataclasses saved by :mod:`~lightning_nas.search.evolution_state`; the
executors are in :mod:`~lightning_nas.search.executors`. Their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, ClassVar, Literal

import numpy as np

from lightning_nas.checks import check_bool, check_numbers
from lightning_nas.search.children import ChildJob, ChildResult, train_child
from lightning_nas.search.evolution_engine import EvolutionEngine, check_int, child_seed, setting_name
from lightning_nas.search.evolution_state import STATE_FILE, EvolutionJob, result_path
from lightning_nas.search.executors import ExecutorKind, InProcessExecutor, open_executor
from lightning_nas.search.genotypes import MutableSpace
from lightning_nas.search.reduced import ReducedSetting

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

Fitness = Literal["last", "best"]
"""How a network's accuracies become its fitness: the accuracy after its latest stage (``"last"``, the paper) or
the best epoch over all its stages (``"best"``, the official code)."""


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
    size = check_int("tournament_rank", "size", size, 1)
    return int(rng.integers(0, size, size=size // 4 + 1).min())


def _check_ints(owner: str, name: str, value: object, length: int) -> tuple[int, ...]:
    return tuple(int(v) for v in check_numbers(owner, name, value, length=length, low=0, integer=True))


class HierarchicalEvolution(EvolutionEngine):
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
        super().__init__(**self.common_arguments(locals()))
        self.stage_epochs = check_int(owner, "stage_epochs", stage_epochs, 1)
        self.num_init = check_int(owner, "num_init", num_init, 1)
        self.cycles = check_int(owner, "cycles", cycles, 0)
        self.draws = _check_ints(owner, "draws", draws, 3)
        self.promote = _check_ints(owner, "promote", promote, 2)
        self.dead_age = check_int(owner, "dead_age", dead_age, 1)
        check_bool(owner, "redistribute", redistribute)
        self.redistribute = bool(redistribute)
        if self.setting.e != 3 * self.stage_epochs:
            raise ValueError(
                f"`{owner}(setting={setting_name(self.setting)!r}, stage_epochs={self.stage_epochs})`: the setting's "
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
        return self._loaded().cycle >= self.cycles

    def _progress_total(self) -> tuple[int, int, str]:
        return self.cycles, min(self._loaded().cycle, self.cycles), "cycle"

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

    def _plan_cycle(self, cycle: int) -> list[EvolutionJob]:
        state = self._loaded()
        epochs = self.stage_epochs
        ranked = [self._ranked(ids) for ids in state.sets]
        jobs = []
        for members, quota in zip(ranked, self.quotas([len(r) for r in ranked])):
            for _ in range(quota):
                parent = members[tournament_rank(len(members), state.rng)]
                jobs.append(self._mutated_child(parent, epochs))
        for level, count in enumerate(self.promote):
            for network in ranked[level][:count]:
                genotype = state.networks[network].genotype
                jobs.append(
                    EvolutionJob(network, genotype, (level + 1) * epochs, (level + 2) * epochs, target=level + 1)
                )
        return self._within_budget(jobs)

    def _apply_cycle(self, cycle: int, jobs: list[EvolutionJob], results: list[ChildResult]) -> None:
        state = self._loaded()
        for job, result in zip(jobs, results):
            self._apply_result(job, result, cycle)
            if job.start_epoch > 0:
                state.sets[job.target - 1].remove(job.child_id)
            state.sets[job.target].append(job.child_id)
        for members in state.sets:
            for network in [i for i in members if cycle - state.networks[i].last_updated >= self.dead_age]:
                members.remove(network)
                self._kill(network, cycle)

    def _summary(self, cycle: int, jobs: list[EvolutionJob]) -> str:
        state = self._loaded()
        children = sum(job.start_epoch == 0 for job in jobs)
        completed = [record.id for record in state.networks if record.stage == 3]
        sizes = ", ".join(f"|{name}|={len(ids)}" for name, ids in zip(self._set_names, state.sets))
        return (
            f"{type(self).__name__} cycle {cycle}/{self.cycles}: {children} children, {len(jobs) - children} "
            f"promotions; {sizes}; best after 3E {self._best_fitness(completed)}; {state.epochs_used} epochs trained"
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
        networks = self._loaded().networks
        ids = sorted(range(len(networks)), key=lambda i: (-networks[i].stage, *networks[i].rank_key()))
        return [networks[i].as_dict() for i in ids[: self._top_count(k)]]


class RegularizedEvolution(EvolutionEngine):
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
        super().__init__(**self.common_arguments(locals()))
        self.population_size = check_int(owner, "population_size", population_size, 1)
        self.sample_size = check_int(owner, "sample_size", sample_size, 1)
        if self.sample_size > self.population_size:
            raise ValueError(
                f"`{owner}(sample_size={sample_size!r})`: `sample_size` must be at most `population_size` "
                f"({self.population_size}). Got {sample_size!r} instead."
            )
        self.cycles = check_int(owner, "cycles", cycles, 0)
        self.batch_size = check_int(owner, "batch_size", batch_size, 1)

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
        return self._loaded().children >= self.cycles

    def _progress_total(self) -> tuple[int, int, str]:
        return self.cycles, min(self._loaded().children, self.cycles), "child"

    def _plan_cycle(self, cycle: int) -> list[EvolutionJob]:
        state = self._loaded()
        population = state.sets[0]
        jobs = []
        for _ in range(min(self.batch_size, self.cycles - state.children)):
            sample = state.rng.integers(0, len(population), size=self.sample_size)
            parent = min((population[int(i)] for i in sample), key=lambda i: state.networks[i].rank_key())
            jobs.append(self._mutated_child(parent, self.setting.e))
        return self._within_budget(jobs)

    def _apply_cycle(self, cycle: int, jobs: list[EvolutionJob], results: list[ChildResult]) -> None:
        state = self._loaded()
        population = state.sets[0]
        for job, result in zip(jobs, results):
            self._apply_result(job, result, cycle)
            population.append(job.child_id)
            self._kill(population.pop(0), cycle)
            state.children += 1

    def _summary(self, cycle: int, jobs: list[EvolutionJob]) -> str:
        state = self._loaded()
        return (
            f"{type(self).__name__} step {cycle}: {state.children}/{self.cycles} children; best of the population "
            f"{self._best_fitness(state.sets[0])}; {state.epochs_used} epochs trained"
        )

    def top(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` (default ``top_k``) best networks ever trained, best first, as history records."""
        networks = self._loaded().networks
        return [networks[i].as_dict() for i in self._ranked(range(len(networks)))[: self._top_count(k)]]
