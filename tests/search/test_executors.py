"""Many-model searches on existing distributed engines (a process pool, Dask) and `lightning-nas evolve --executor`.

For the same seed every executor gives the in-process history, and a search stopped in the middle of a cycle (its
process gone while the workers still run the cycle's jobs, or one job failing) resumes on the same workdir with nothing
trained twice and nothing lost: the same trained jobs, checkpoints and history as an uninterrupted run.
"""

import collections
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import sys
import textwrap
import types
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lightning_nas.cli import evolve_main
from lightning_nas.search.children import ChildResult, child_checkpoint_path
from lightning_nas.search.evolution import (
    STATE_FILE,
    HierarchicalEvolution,
    InProcessExecutor,
    RegularizedEvolution,
    open_executor,
    result_path,
)

DATA = {"class_path": "fake", "init_args": {}}
HIERARCHICAL = {
    "search_space": "nasbench201",
    "setting": "c4r4s0e6",
    "stage_epochs": 2,
    "num_init": 8,
    "cycles": 5,
    "draws": (3, 2, 2),
    "promote": (3, 2),
    "dead_age": 3,
}  # 8 initial jobs, 7 + 3 in cycle 1, then 7 + 5 per cycle: 66 jobs
REGULARIZED = {"search_space": "nasbench201", "setting": "c4r4s0e2", "population_size": 6, "sample_size": 3}
REGULARIZED_RUN = {"cycles": 14, "batch_size": 4}  # 6 initial jobs, then steps of 4, 4, 4, 2 children
KILL_AT = {"hierarchical": 8 + 10 + 5, "regularized": 6 + 4 + 2}  # the submission that stops the search: mid-cycle 2


# ---------------------------------------------------------------------------------------------------- fake training
def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") / 2**32


def _log_path(job) -> Path:
    return Path(job.workdir).parents[1] / "jobs.jsonl"  # <search workdir>/children/<id> -> <search workdir>


def fake_train(job):
    """A stand-in for ``train_child``, importable by name (the command line's ``train_fn``) and picklable.

    Needs the checkpoint it resumes from, writes one per stop epoch, and appends ``[child_id, start, stop]`` to
    ``<search workdir>/jobs.jsonl`` when it ends: the log of every job trained, across processes, threads and runs.
    """
    os.makedirs(job.workdir, exist_ok=True)
    if job.start_epoch > 0:
        assert Path(child_checkpoint_path(job.workdir, job.start_epoch)).read_text() == job.genotype
    checkpoint = Path(child_checkpoint_path(job.workdir, job.stop_epoch))
    checkpoint.write_text(job.genotype)
    accuracies = tuple(
        round(0.5 * _unit(job.genotype) + 0.3 * epoch / job.setting.e + 0.05 * _unit(f"{job.genotype}|{epoch}"), 6)
        for epoch in range(job.start_epoch, job.stop_epoch)
    )
    with open(_log_path(job), "a") as file:
        file.write(json.dumps([job.child_id, job.start_epoch, job.stop_epoch]) + "\n")
    return ChildResult(job.child_id, accuracies, str(checkpoint), job.stop_epoch, 0.0)


class Killed(RuntimeError):
    pass


@dataclass(frozen=True)
class FailOnce:
    """``fake_train``, except that the first job of ``child_id`` fails (once per ``flag`` file)."""

    child_id: int
    flag: str

    def __call__(self, job):
        if job.child_id == self.child_id and not os.path.exists(self.flag):
            Path(self.flag).touch()
            raise Killed(f"job of child {job.child_id} failed")
        return fake_train(job)


class KillAfter(Executor):
    """Stops the search at its ``n + 1``-th submission, as if its process were killed there.

    The jobs already submitted keep running to their end on ``executor``'s workers (the search only gets proxies of
    their futures, which it can cancel without stopping the jobs), as the workers of a killed search process would.
    """

    def __init__(self, executor: Executor, n: int) -> None:
        self.executor, self.n, self.jobs = executor, n, []

    def submit(self, fn, /, *args, **kwargs):
        if len(self.jobs) >= self.n:
            raise Killed(f"killed at submission {len(self.jobs)}")
        job = self.executor.submit(fn, *args, **kwargs)
        self.jobs.append(job)
        proxy = Future()

        def forward(done: Future) -> None:
            if proxy.set_running_or_notify_cancel():
                error = done.exception()
                proxy.set_exception(error) if error is not None else proxy.set_result(done.result())

        job.add_done_callback(forward)
        return proxy

    def wait(self) -> None:
        concurrent.futures.wait(self.jobs)


def make_search(kind: str, workdir: Path, **kwargs):
    common = {"data": DATA, "train_fn": fake_train, "progress": False}
    if kind == "hierarchical":
        return HierarchicalEvolution(str(workdir), **{**common, **HIERARCHICAL, **kwargs})
    return RegularizedEvolution(str(workdir), **{**common, **REGULARIZED, **REGULARIZED_RUN, **kwargs})


def strip(history):
    """History without the fields that name the workdir."""
    return [{k: v for k, v in record.items() if k not in ("checkpoint", "workdir")} for record in history]


def trained(workdir: Path) -> list[tuple[int, int, int]]:
    return [tuple(json.loads(line)) for line in (workdir / "jobs.jsonl").read_text().splitlines()]


def checkpoints(workdir: Path) -> set[str]:
    return {str(path.relative_to(workdir)) for path in (workdir / "children").rglob("epoch_*.ckpt")}


# ---------------------------------------------------------------------------------------------------------- engines
@pytest.fixture
def dask_client():
    """A Dask client of a local cluster of 2 single-threaded workers (threads: no process start-up in the tests).

    One per test and closed after it: the process pools of the other tests fork this process, and a fork while
    Dask's event loop thread holds a lock (e.g. of a log handler) can leave the forked worker hanging on it.
    """
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(params=["processes", "dask"])
def engine(request):
    """A function that opens a fresh executor of the engine (a 2-process pool, or Dask's ``client.get_executor``)."""
    if request.param == "processes":
        pools = []

        def open_pool(**_):
            pools.append(ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")))
            return pools[-1]

        yield open_pool
        for pool in pools:
            pool.shutdown(wait=True)
    else:
        client = request.getfixturevalue("dask_client")
        yield lambda **kwargs: client.get_executor(**kwargs)


# ---------------------------------------------------------------------------------------------- same history
@pytest.mark.parametrize("searcher", ["hierarchical", "regularized"])
def test_engines_give_the_in_process_history(tmp_path, engine, searcher):
    expected = make_search(searcher, tmp_path / "local").run()
    executor = engine()
    history = make_search(searcher, tmp_path / "engine", executor=executor).run()
    assert strip(history) == strip(expected)
    assert sorted(trained(tmp_path / "engine")) == sorted(trained(tmp_path / "local"))
    assert checkpoints(tmp_path / "engine") == checkpoints(tmp_path / "local")
    assert all(r["checkpoint"].startswith(str(tmp_path / "engine")) for r in history)
    assert executor.submit(pow, 2, 3).result() == 8  # the search does not shut down the executor it was given


# ----------------------------------------------------------------------------------------------- stopped mid-cycle
def _recorded(workdir: Path) -> int:
    """How many job results the saved search state holds."""
    state = json.loads((workdir / STATE_FILE).read_text())
    pending = state["pending"]["results"] if state["pending"] else []
    return sum(r["stage"] for r in state["networks"]) + sum(result is not None for result in pending)


@pytest.mark.parametrize("searcher", ["hierarchical", "regularized"])
def test_a_search_killed_mid_cycle_resumes_without_training_anything_twice(tmp_path, engine, searcher):
    expected = make_search(searcher, tmp_path / "full").run()
    workdir = tmp_path / "killed"
    kill = KillAfter(engine(pure=False), KILL_AT[searcher])
    with pytest.raises(Killed):
        make_search(searcher, workdir, executor=kill).run()
    kill.wait()  # the workers finish the jobs of the dead search
    assert len(trained(workdir)) == KILL_AT[searcher] > _recorded(workdir)  # finished jobs the search never read

    history = make_search(searcher, workdir, executor=engine(pure=False)).run()
    assert strip(history) == strip(expected)
    jobs = trained(workdir)
    assert collections.Counter(jobs).most_common(1)[0][1] == 1  # nothing trained twice
    assert sorted(jobs) == sorted(trained(tmp_path / "full"))  # nothing lost
    assert checkpoints(workdir) == checkpoints(tmp_path / "full")


def test_a_failing_job_stops_the_search_and_the_jobs_running_beside_it_are_not_lost(tmp_path):
    expected = make_search("hierarchical", tmp_path / "full").run()
    workdir = tmp_path / "failed"
    flag = str(tmp_path / "failed_once")
    with (
        ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool,
        pytest.raises(Killed, match="job of child 20 failed"),  # a child of cycle 2
    ):
        make_search("hierarchical", workdir, executor=pool, train_fn=FailOnce(20, flag)).run()
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        history = make_search("hierarchical", workdir, executor=pool, train_fn=FailOnce(20, flag)).run()
    assert strip(history) == strip(expected)
    assert sorted(trained(workdir)) == sorted(trained(tmp_path / "full"))  # each job once, none lost


def test_a_new_search_does_not_take_the_results_of_an_earlier_one(tmp_path):
    first = make_search("regularized", tmp_path, cycles=4).run()
    assert os.path.isfile(result_path(first[0]["workdir"], 0, 2))
    again = make_search("regularized", tmp_path, cycles=4, resume=False).run()
    assert strip(again) == strip(first)
    assert collections.Counter(trained(tmp_path)) == {job: 2 for job in trained(tmp_path)}  # all trained again


# ------------------------------------------------------------------------------------------------- open_executor
def test_open_executor_checks_its_arguments(monkeypatch):
    with pytest.raises(ValueError, match=r"`kind` must be one of \['inprocess', 'processes', 'dask'\]. Got 'threads'"):
        open_executor("threads").__enter__()
    with pytest.raises(ValueError, match=r"`max_workers` must be an integer >= 1. Got 0"):
        open_executor("processes", max_workers=0).__enter__()
    with pytest.raises(ValueError, match=r"`max_workers` applies to .* Got kind='inprocess' instead"):
        open_executor("inprocess", max_workers=2).__enter__()
    with pytest.raises(ValueError, match=r"has its own workers. Got kind='dask', scheduler_address='tcp://h:1'"):
        open_executor("dask", max_workers=2, scheduler_address="tcp://h:1").__enter__()
    with pytest.raises(ValueError, match=r"`scheduler_address` needs kind='dask'. Got kind='processes'"):
        open_executor("processes", scheduler_address="tcp://h:1").__enter__()
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'lightning-nas\[dask\]'"):
        open_executor("dask").__enter__()
    with open_executor() as executor:
        assert isinstance(executor, InProcessExecutor)


# ---------------------------------------------------------------------------------------------- the command line
def _evolve_config(tmp_path: Path, searcher: str = "hierarchical") -> Path:
    """A `lightning-nas evolve` YAML config of a tiny search trained by `fake_train`."""
    if searcher == "hierarchical":
        init_args = {**HIERARCHICAL, "draws": list(HIERARCHICAL["draws"]), "promote": list(HIERARCHICAL["promote"])}
        class_path = "lightning_nas.search.HierarchicalEvolution"
    else:
        init_args, class_path = {**REGULARIZED, **REGULARIZED_RUN}, "lightning_nas.search.RegularizedEvolution"
    init_args.update(
        data=DATA, top_k=3, progress=False, train_fn=f"{fake_train.__module__}.fake_train", workdir=str(tmp_path)
    )
    config = tmp_path.parent / f"{tmp_path.name}.yaml"
    config.write_text(json.dumps({"searcher": {"class_path": class_path, "init_args": init_args}}))  # JSON is YAML
    return config


@pytest.mark.parametrize("searcher", ["hierarchical", "regularized"])
def test_evolve_prints_each_top_network_with_its_fitness(tmp_path, capsys, searcher):
    history = evolve_main(["--config", str(_evolve_config(tmp_path / "run", searcher)), "--executor", "inprocess"])
    lines = capsys.readouterr().out.strip().splitlines()
    top = make_search(searcher, tmp_path / "run").top(3)  # read from the saved state
    assert [json.loads(line) for line in lines] == [
        {"id": r["id"], "genotype": r["genotype"], "fitness": r["fitness"], "stage_accuracies": r["stage_accuracies"]}
        for r in top
    ]
    assert all(isinstance(json.loads(line)["fitness"], float) for line in lines) and len(history) > len(lines)


def test_evolve_trains_on_a_process_pool(tmp_path, monkeypatch):
    import lightning_nas.search.executors as executors

    methods = []

    def fork_instead(method):  # the command asks for `spawn`; `fork` spares the test the workers' imports
        methods.append(method)
        return multiprocessing.get_context("fork")

    monkeypatch.setattr(executors, "multiprocessing", types.SimpleNamespace(get_context=fork_instead))
    expected = evolve_main(["--config", str(_evolve_config(tmp_path / "local"))])
    history = evolve_main(
        ["--config", str(_evolve_config(tmp_path / "pool")), "--executor", "processes", "--max_workers", "2"]
    )
    assert methods == ["spawn"] and strip(history) == strip(expected)
    assert sorted(trained(tmp_path / "pool")) == sorted(trained(tmp_path / "local"))


def test_evolve_trains_on_a_dask_scheduler_and_closes_its_client(tmp_path, dask_client):
    scheduler = dask_client.cluster.scheduler
    clients = set(scheduler.clients)
    expected = evolve_main(["--config", str(_evolve_config(tmp_path / "local"))])
    address = dask_client.cluster.scheduler_address
    args = ["--config", str(_evolve_config(tmp_path / "dask")), "--executor", "dask", "--scheduler_address", address]
    assert strip(evolve_main(args)) == strip(expected)
    assert set(scheduler.clients) == clients  # the command's client is gone


def test_evolve_starts_and_closes_a_local_dask_cluster(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import dask

    started, requested, daemon = [], [], []
    real = distributed.LocalCluster

    def threaded_cluster(**kwargs):  # the same cluster with threads for workers (no process start-up in the test)
        requested.append(kwargs)
        daemon.append(dask.config.get("distributed.worker.daemon"))
        started.append(real(**{**kwargs, "processes": False, "dashboard_address": ":0"}))
        return started[-1]

    monkeypatch.setattr(distributed, "LocalCluster", threaded_cluster)
    expected = evolve_main(["--config", str(_evolve_config(tmp_path / "local", "regularized"))])
    args = [
        "--config",
        str(_evolve_config(tmp_path / "dask", "regularized")),
        "--executor",
        "dask",
        "--max_workers",
        "2",
    ]
    assert strip(evolve_main(args)) == strip(expected)
    (cluster,) = started
    assert requested == [{"n_workers": 2, "threads_per_worker": 1, "processes": True}]
    assert daemon == [False] and dask.config.get("distributed.worker.daemon") is True  # data loaders may fork
    assert cluster.status.name == "closed"


def test_evolve_reads_the_executor_from_the_yaml_config(tmp_path, dask_client):
    config = _evolve_config(tmp_path / "run")
    saved = json.loads(config.read_text())
    address = dask_client.cluster.scheduler_address
    config.write_text(json.dumps({**saved, "executor": "dask", "scheduler_address": address}))
    expected = evolve_main(["--config", str(_evolve_config(tmp_path / "local"))])
    assert strip(evolve_main(["--config", str(config)])) == strip(expected)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--max_workers", "2"], r"--max_workers needs --executor \(processes or dask\)"),
        (["--scheduler_address", "tcp://h:1"], r"--scheduler_address needs --executor"),
        (["--executor", "inprocess", "--max_workers", "2"], r"`max_workers` applies to"),
        (["--executor", "processes", "--scheduler_address", "tcp://h:1"], r"`scheduler_address` needs kind='dask'"),
        (
            ["--executor", "processes", "--searcher.init_args.executor", "lightning_nas.search.InProcessExecutor"],
            r"give the executor once, with --executor or as `searcher.init_args.executor`. Got --executor processes "
            r"and a InProcessExecutor",
        ),
    ],
)
def test_evolve_refuses_executor_options_that_do_not_apply(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        evolve_main(["--config", str(_evolve_config(tmp_path / "run")), *args])
    assert not (tmp_path / "run").exists()  # refused before anything was trained


@pytest.mark.parametrize("args", [["--executor", "threads"], ["--executor", "processes", "--max_workers", "0"]])
def test_evolve_parser_refuses_unknown_executors(tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exc:
        evolve_main(["--config", str(_evolve_config(tmp_path / "run")), *args])
    assert exc.value.code == 2
    assert args[-2] in capsys.readouterr().err  # the parser names the option


# ------------------------------------------------------------------------------------------- the Ray recipe
def test_the_ray_recipe_is_an_executor_the_searches_can_use(tmp_path, monkeypatch):
    """The adapter of :class:`HierarchicalEvolution`'s docstring, run against a stand-in for Ray's task API."""
    doc = HierarchicalEvolution.__doc__
    start = doc.rindex("\n", 0, doc.index("import concurrent.futures")) + 1
    code = textwrap.dedent(doc[start : doc.rindex("\n", 0, doc.index("ray.init()"))])
    options_seen = []

    class Task:  # `ray.remote(fn)`: `.options(**o).remote(*args)` runs fn; the ObjectRef's `.future()` holds it
        def __init__(self, fn, options=None):
            self.fn, self.opts = fn, options or {}

        def options(self, **options):
            return Task(self.fn, options)

        def remote(self, *args, **kwargs):
            options_seen.append(self.opts)
            future = Future()
            future.set_result(self.fn(*args, **kwargs))
            return types.SimpleNamespace(future=lambda: future)

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(remote=Task))
    namespace = {}
    exec(compile(code, "ray_recipe", "exec"), namespace)
    executor = namespace["RayExecutor"](num_cpus=4, num_gpus=1)
    expected = make_search("regularized", tmp_path / "local").run()
    assert strip(make_search("regularized", tmp_path / "ray", executor=executor).run()) == strip(expected)
    assert options_seen and all(o == {"num_cpus": 4, "num_gpus": 1} for o in options_seen)
