import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.search.children import ChildResult, child_checkpoint_path
from lightning_nas.search.evolution import (
    STATE_FILE,
    HierarchicalEvolution,
    InProcessExecutor,
    RegularizedEvolution,
    child_seed,
    tournament_rank,
)
from lightning_nas.spaces import EcoNASGenotype, NASBench201Genotype, loose_ends

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


# ---------------------------------------------------------------------------------------------------- fake training
def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") / 2**32


def fake_accuracy(genotype: str, epoch: int, seed: int) -> float:
    """Deterministic 'validation accuracy': a per-genotype quality, rising with the epoch, plus seeded noise."""
    return round(0.5 * _unit(genotype) + 0.4 * (1 - 0.7 ** (epoch + 1)) + 0.05 * _unit(f"{genotype}|{epoch}|{seed}"), 6)


class Killed(RuntimeError):
    pass


@dataclass(frozen=True)
class FakeTrain:
    """A picklable train_fn: writes a fake checkpoint per stop epoch, needs the one it resumes from, logs its jobs."""

    log: str | None = None  # a file that gets one JSON line per finished job (works across processes)
    fail_at_call: int | None = None  # raise at this (0-based) call, counted from the lines of `log`

    def __call__(self, job):
        if self.fail_at_call is not None and self.log is not None:
            done = len(Path(self.log).read_text().splitlines()) if os.path.exists(self.log) else 0
            if done >= self.fail_at_call:
                raise Killed(f"killed at call {done}")
        os.makedirs(job.workdir, exist_ok=True)
        if job.start_epoch > 0:
            previous = Path(child_checkpoint_path(job.workdir, job.start_epoch))
            assert previous.read_text() == job.genotype, "a continuation must resume from the child's checkpoint"
        checkpoint = Path(child_checkpoint_path(job.workdir, job.stop_epoch))
        checkpoint.write_text(job.genotype)
        accuracies = tuple(fake_accuracy(job.genotype, e, job.seed) for e in range(job.start_epoch, job.stop_epoch))
        if self.log is not None:
            entry = {k: getattr(job, k) for k in ("child_id", "genotype", "start_epoch", "stop_epoch", "seed")}
            with open(self.log, "a") as file:
                file.write(json.dumps({**entry, "setting": str(job.setting), "data": job.data}) + "\n")
        return ChildResult(
            child_id=job.child_id,
            val_accuracies=accuracies,
            checkpoint=str(checkpoint),
            epochs=job.stop_epoch - job.start_epoch,
            seconds=0.0,
        )


def read_log(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def strip(history):
    """History without the fields that name the workdir."""
    return [{k: v for k, v in record.items() if k not in ("checkpoint", "workdir")} for record in history]


SMALL = {
    "search_space": "nasbench201",
    "setting": "c4r4s0e6",
    "stage_epochs": 2,
    "num_init": 12,
    "cycles": 14,
    "draws": (3, 2, 2),
    "promote": (3, 2),
    "dead_age": 4,
    "progress": False,
    "data": {"class_path": "fake", "init_args": {}},
}


def hierarchical(workdir, **kwargs):
    return HierarchicalEvolution(str(workdir), **{**SMALL, "train_fn": FakeTrain(), **kwargs})


# ---------------------------------------------------------------------------------------- Hierarchical: algorithm
def members_at_start(history, level, cycle):
    """Brute force from the history: the networks of set `level` (0: P_E) at the start of `cycle`."""
    out = []
    for r in history:
        stages = r["stage_cycles"]
        alive = r["died_cycle"] is None or r["died_cycle"] >= cycle
        current = (
            len(stages) > level and stages[level] < cycle and (len(stages) == level + 1 or stages[level + 1] >= cycle)
        )
        if current and alive:
            out.append(r)
    return sorted(out, key=lambda r: (-r["stage_accuracies"][level], r["id"]))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("small")
    log = workdir / "jobs.jsonl"
    search = hierarchical(workdir / "search", train_fn=FakeTrain(log=str(log)))
    history = search.run()
    return search, history, read_log(log)


def test_promotion_takes_exactly_the_top_ranked_at_the_start_of_the_cycle(small_run):
    search, history, _ = small_run
    promoted_any = [0, 0]
    for cycle in range(1, SMALL["cycles"] + 1):
        for level, count in enumerate(SMALL["promote"]):
            ranked = members_at_start(history, level, cycle)
            promoted = {
                r["id"] for r in history if len(r["stage_cycles"]) > level + 1 and r["stage_cycles"][level + 1] == cycle
            }
            assert promoted == {r["id"] for r in ranked[:count]}, (cycle, level)
            promoted_any[level] += len(promoted)
    assert promoted_any == [SMALL["cycles"] * 3, (SMALL["cycles"] - 1) * 2]  # P_2E is empty in cycle 1 only


def test_parents_come_from_the_sets_with_the_redistributed_quotas(small_run):
    search, history, _ = small_run
    ranks = []
    for cycle in range(1, SMALL["cycles"] + 1):
        sets = [{r["id"] for r in members_at_start(history, level, cycle)} for level in range(3)]
        children = [r for r in history if r["created_cycle"] == cycle]
        assert len(children) == sum(SMALL["draws"])  # always 7, thanks to the redistribution
        counts = [sum(r["parent"] in members for r in children) for members in sets]
        assert tuple(counts) == search.quotas([len(s) for s in sets]), cycle
        for level in range(3):  # tournaments prefer the top of each set (uniform draws: mean relative rank ~0.5)
            ranked = [r["id"] for r in members_at_start(history, level, cycle)]
            ranks.extend(ranked.index(r["parent"]) / len(ranked) for r in children if r["parent"] in ranked)
    assert np.mean(ranks) < 0.25
    assert search.quotas([5, 0, 0]) == (7, 0, 0) and search.quotas([5, 3, 0]) == (4, 3, 0)


def test_children_are_valid_single_mutations_of_their_parent(small_run):
    _, history, _ = small_run
    children = [r for r in history if r["parent"] is not None]
    assert children
    for child in children:
        parent = NASBench201Genotype.from_string(history[child["parent"]]["genotype"])
        genotype = NASBench201Genotype.from_string(child["genotype"])
        assert sum(a != b for a, b in zip(parent.ops, genotype.ops)) == 1
        assert child["mutation"] == "op"
        assert (
            child["created_cycle"] > history[child["parent"]]["created_cycle"]
            or history[child["parent"]]["parent"] is None
        )


def test_econas_space_children_are_valid_and_record_the_mutation_kind(tmp_path):
    search = hierarchical(tmp_path, search_space="econas", num_init=6, cycles=4, draws=(4, 2, 2))
    history = search.run()
    kinds = set()
    for child in (r for r in history if r["parent"] is not None):
        parent = EcoNASGenotype.from_string(history[child["parent"]]["genotype"])
        genotype = EcoNASGenotype.from_string(child["genotype"])
        assert genotype != parent
        assert genotype.normal_concat == loose_ends(genotype.normal)
        changed = [
            (a, b) for cell in ("normal", "reduce") for a, b in zip(parent.cell(cell), genotype.cell(cell)) if a != b
        ]
        assert len(changed) == 1
        (op_a, in_a), (op_b, in_b) = changed[0]
        assert child["mutation"] == ("hidden_state" if in_a != in_b else "op")
        assert (op_a != op_b) != (in_a != in_b)
        kinds.add(child["mutation"])
    assert kinds == {"op", "hidden_state"}


def test_dead_removal_after_dead_age_cycles_without_training(small_run):
    search, history, _ = small_run
    dead = [r for r in history if r["dead"]]
    assert dead
    for r in dead:  # removed at the first cycle end with cycle - last_updated >= dead_age
        assert r["died_cycle"] - r["last_updated"] == SMALL["dead_age"]
    alive = {r["id"] for population in search.populations.values() for r in population}
    assert alive == {r["id"] for r in history if not r["dead"]}
    assert all(SMALL["cycles"] - history[i]["last_updated"] < SMALL["dead_age"] for i in alive)
    assert [len(p) for p in search.populations.values()] == [
        len(members_at_start(history, level, SMALL["cycles"] + 1)) for level in range(3)
    ]


def test_continuations_resume_from_the_previous_stop_epoch_with_one_cosine_schedule(small_run):
    _, history, jobs = small_run
    last_stop = {}
    for job in jobs:
        assert job["setting"] == "c4r4s0e6"  # the schedule of every stage spans 3E
        assert job["stop_epoch"] - job["start_epoch"] == SMALL["stage_epochs"]
        assert job["start_epoch"] == last_stop.get(job["child_id"], 0)
        last_stop[job["child_id"]] = job["stop_epoch"]
        assert job["seed"] == child_seed(0, job["child_id"])
        assert job["data"] == SMALL["data"]
    for r in history:
        assert r["epochs"] == last_stop[r["id"]] == SMALL["stage_epochs"] * r["stage"]
        assert len(r["val_accuracies"]) == r["epochs"] and len(r["stage_accuracies"]) == r["stage"]
        assert r["fitness"] == r["stage_accuracies"][-1] == r["val_accuracies"][-1]
        assert r["checkpoint"] == child_checkpoint_path(r["workdir"], r["epochs"])


def test_budget_accounting_counts_every_trained_epoch(small_run):
    search, history, jobs = small_run
    assert (
        search.epochs_used == sum(j["stop_epoch"] - j["start_epoch"] for j in jobs) == sum(r["epochs"] for r in history)
    )
    assert len(history) == SMALL["num_init"] + SMALL["cycles"] * sum(SMALL["draws"])


def test_result_is_the_top_of_every_network_that_completed_the_last_stage_dead_or_alive(small_run):
    search, history, _ = small_run
    top = search.top()
    completed = sorted((r for r in history if r["stage"] == 3), key=lambda r: (-r["stage_accuracies"][-1], r["id"]))
    assert len(completed) > 5 and len(top) == 5
    assert top == completed[:5]  # the paper's "top-5 cells from history", not the top of the living P_3E
    assert any(r["dead"] for r in top)  # this run's best network left P_3E (aging) before the end
    alive = {r["id"] for r in search.populations["P_3E"]}
    assert top[0]["id"] not in alive and top[0]["fitness"] > max(r["fitness"] for r in search.populations["P_3E"])
    everything = search.top(len(history))  # past the completed ones: the next best-trained (stage 2, then 1)
    assert search.best == top[0] and everything[: len(completed)] == completed
    assert [r["stage"] for r in everything] == sorted((r["stage"] for r in history), reverse=True)
    assert [r["fitness"] for r in top] == sorted((r["fitness"] for r in top), reverse=True)


def test_top_falls_back_to_the_best_trained_networks_before_p3e_exists(tmp_path):
    search = hierarchical(tmp_path, cycles=1)
    history = search.run()
    assert search.populations["P_3E"] == []
    top = search.top(4)
    stage2 = sorted((r for r in history if r["stage"] == 2), key=lambda r: (-r["fitness"], r["id"]))
    assert [r["id"] for r in top[:3]] == [r["id"] for r in stage2] and top[3]["stage"] == 1


def test_fitness_best_ranks_by_the_best_epoch(tmp_path):
    search = hierarchical(tmp_path, fitness="best", cycles=2)
    for r in search.run():
        assert r["fitness"] == max(r["val_accuracies"])


def test_quota_without_redistribution_is_the_official_one(tmp_path):
    search = hierarchical(tmp_path, redistribute=False, cycles=2)
    history = search.run()
    assert search.quotas([5, 0, 0]) == (3, 0, 0) and search.quotas([0, 0, 0]) == (0, 0, 0)
    assert [sum(r["created_cycle"] == c for r in history) for c in (1, 2)] == [3, 5]


def test_tournament_rank_matches_the_exact_distribution():
    rng = np.random.default_rng(0)
    size, draws = 10, 10_000
    counts = np.bincount([tournament_rank(size, rng) for _ in range(draws)], minlength=size) / draws
    s = size // 4 + 1
    exact = np.array([((size - i) / size) ** s - ((size - i - 1) / size) ** s for i in range(size)])
    assert np.allclose(counts, exact, atol=0.02)
    assert counts[0] > 0.25 > counts[-1]


# ---------------------------------------------------------------------------- determinism, executors, resume, budget
def test_same_seed_same_history_other_seed_other_history(tmp_path):
    first = hierarchical(tmp_path / "a", cycles=3).run()
    assert strip(first) == strip(hierarchical(tmp_path / "b", cycles=3).run())
    assert strip(first) != strip(hierarchical(tmp_path / "c", cycles=3, seed=1).run())


@pytest.mark.parametrize("fail_at_call", [5, 12, 12 + 7 + 3 + 2, 12 + 10 + 12])
def test_killed_search_resumes_to_the_uninterrupted_history(tmp_path, fail_at_call):
    expected = hierarchical(tmp_path / "full", train_fn=FakeTrain(log=str(tmp_path / "full.jsonl"))).run()
    log = str(tmp_path / "killed.jsonl")
    with pytest.raises(Killed):
        hierarchical(tmp_path / "killed", train_fn=FakeTrain(log=log, fail_at_call=fail_at_call)).run()
    assert len(read_log(log)) == fail_at_call
    state = json.loads((tmp_path / "killed" / STATE_FILE).read_text())
    assert len(state["networks"]) <= len(expected)
    resumed = hierarchical(tmp_path / "killed", train_fn=FakeTrain(log=log))
    assert strip(resumed.run()) == strip(expected)
    assert read_log(log) == read_log(tmp_path / "full.jsonl")  # no job trained twice, none skipped


def test_run_on_a_finished_workdir_trains_nothing_and_more_cycles_continue(tmp_path):
    log = str(tmp_path / "jobs.jsonl")
    first = hierarchical(tmp_path / "s", cycles=2, train_fn=FakeTrain(log=log)).run()
    calls = len(read_log(log))
    assert hierarchical(tmp_path / "s", cycles=2, train_fn=FakeTrain(log=log)).run() == first
    assert len(read_log(log)) == calls
    longer = hierarchical(tmp_path / "s", cycles=3, train_fn=FakeTrain(log=log)).run()
    assert strip(longer) == strip(hierarchical(tmp_path / "direct", cycles=3).run())
    assert (
        hierarchical(tmp_path / "s", cycles=3).best
        == HierarchicalEvolution(str(tmp_path / "s"), **{**SMALL, "cycles": 3}).best
    )  # results readable without running


def test_resume_false_starts_afresh_and_changed_arguments_are_refused(tmp_path):
    hierarchical(tmp_path, cycles=1).run()
    with pytest.raises(ValueError, match=r"other arguments \(dead_age: saved 4, now 5\)"):
        hierarchical(tmp_path, cycles=1, dead_age=5).run()
    history = hierarchical(tmp_path, cycles=1, dead_age=5, resume=False).run()
    assert len(history) == 12 + 7


def test_budget_stops_submitting_before_it_is_exceeded(tmp_path):
    budget = 12 * 2 + 7 * 2 + 3 * 2 + 5  # init, cycle 1 (7 children + 3 promotions), then 5 epochs: 2 more jobs
    log = str(tmp_path / "jobs.jsonl")
    search = hierarchical(tmp_path / "s", max_epochs_budget=budget, train_fn=FakeTrain(log=log))
    history = search.run()
    assert search.epochs_used == budget - 1 == sum(j["stop_epoch"] - j["start_epoch"] for j in read_log(log))
    assert [r["created_cycle"] for r in history].count(2) == 2 and max(r["stage"] for r in history) == 2
    more = hierarchical(tmp_path / "s", max_epochs_budget=budget + 40, train_fn=FakeTrain(log=log))
    more.run()
    assert budget + 40 - 2 < more.epochs_used <= budget + 40
    tiny = hierarchical(tmp_path / "tiny", max_epochs_budget=7)
    assert len(tiny.run()) == 3 and tiny.epochs_used == 6  # the budget ends the initial population


def test_a_wrong_result_is_refused(tmp_path):
    def wrong(job):
        return ChildResult(child_id=job.child_id, val_accuracies=(0.5,), checkpoint="", epochs=1, seconds=0.0)

    with pytest.raises(RuntimeError, match=r"one validation accuracy per trained epoch \(2"):
        hierarchical(tmp_path, train_fn=wrong).run()


def test_in_process_executor_runs_jobs_when_asked_and_keeps_their_errors():
    executor = InProcessExecutor()
    ran = []
    futures = [executor.submit(ran.append, i) for i in range(3)]
    failing = executor.submit(math.sqrt, -1)
    assert ran == []
    futures[1].result()
    assert ran == [1]
    assert isinstance(failing.exception(), ValueError)
    executor.shutdown(wait=True)
    assert ran == [1, 0, 2]
    with pytest.raises(RuntimeError, match="after `shutdown"):
        executor.submit(ran.append, 4)


def test_lookup_reads_the_nasbench201_table(small_run):
    search, _, _ = small_run
    top = search.top()
    table = NASBench201Table(
        {
            NASBench201Genotype.from_string(r["genotype"]): {
                "cifar10": 90.0 + i,
                "cifar100": 70.0,
                "imagenet16-120": 40.0,
            }
            for i, r in enumerate(top)
        }
    )
    found = search.lookup(table, k=2)
    assert [r["test_accuracy"] for r in found] == [90.0, 91.0] and found[0]["id"] == top[0]["id"]
    with pytest.raises(ValueError, match="only knows the 'nasbench201' space"):
        hierarchical("unused", search_space="econas").lookup(table)


# ---------------------------------------------------------------------------------------------- Regularized evolution
REGULARIZED = {
    "search_space": "nasbench201",
    "setting": "c4r4s0e3",
    "population_size": 10,
    "sample_size": 4,
    "cycles": 23,
    "batch_size": 5,
    "progress": False,
}


def regularized(workdir, **kwargs):
    return RegularizedEvolution(
        str(workdir), **{**REGULARIZED, "data": SMALL["data"], "train_fn": FakeTrain(), **kwargs}
    )


def test_regularized_evolution_ages_out_the_oldest(tmp_path):
    log = str(tmp_path / "jobs.jsonl")
    search = regularized(tmp_path / "s", train_fn=FakeTrain(log=log))
    history = search.run()
    assert len(history) == 10 + 23 and search.epochs_used == 33 * 3 == sum(j["stop_epoch"] for j in read_log(log))
    population = search.populations["population"]
    assert len(population) == 10 and {r["id"] for r in population} == set(range(23, 33))
    assert [r["id"] for r in history if r["dead"]] == list(range(23))  # FIFO: the oldest die first
    steps = [r["created_cycle"] for r in history]
    assert [steps.count(step) for step in range(6)] == [10, 5, 5, 5, 5, 3]  # ceil(23 / 5) steps
    for child in history[10:]:  # parents are drawn from the population at the start of the step
        parent = history[child["parent"]]
        assert parent["created_cycle"] < child["created_cycle"]
        assert parent["died_cycle"] is None or parent["died_cycle"] >= child["created_cycle"]
        assert (
            sum(a != b for a, b in zip(*(NASBench201Genotype.from_string(r["genotype"]).ops for r in (parent, child))))
            == 1
        )
    assert all(j["start_epoch"] == 0 and j["stop_epoch"] == 3 for j in read_log(log))
    assert search.top(3) == sorted(history, key=lambda r: (-r["fitness"], r["id"]))[:3]


def test_regularized_batch_one_is_sequential_and_tournaments_prefer_good_parents(tmp_path):
    search = regularized(tmp_path, batch_size=1, cycles=30)
    history = search.run()
    assert [r["created_cycle"] for r in history[10:]] == list(range(1, 31))
    ranks = []
    for child in history[10:]:
        alive = [r for r in history if r["created_cycle"] < child["created_cycle"]][-10:]
        ranked = sorted(alive, key=lambda r: (-r["fitness"], r["id"]))
        ranks.append([r["id"] for r in ranked].index(child["parent"]))
    assert np.mean(ranks) < 3.0  # a random parent would average rank 4.5


def test_regularized_equal_budget_and_resume(tmp_path):
    full = regularized(tmp_path / "full", max_epochs_budget=50).run()
    assert len(full) == 16  # 50 epochs = 16 jobs of 3
    log = str(tmp_path / "killed.jsonl")
    with pytest.raises(Killed):
        regularized(tmp_path / "killed", max_epochs_budget=50, train_fn=FakeTrain(log=log, fail_at_call=13)).run()
    assert strip(regularized(tmp_path / "killed", max_epochs_budget=50).run()) == strip(full)


# -------------------------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stage_epochs": 0}, ValueError, r"`stage_epochs` must be an integer >= 1. Got 0"),
        ({"stage_epochs": 3}, ValueError, r"epochs \(6\) must be 3 \* stage_epochs = 9"),
        ({"num_init": 0}, ValueError, r"`num_init` must be an integer >= 1"),
        ({"cycles": -1}, ValueError, r"`cycles` must be an integer >= 0"),
        ({"draws": (6, 5)}, ValueError, r"`draws` must be a list of 3 integers >= 0"),
        ({"promote": (8, -1)}, ValueError, r"`promote` must be a list of 2 integers >= 0"),
        ({"dead_age": 0}, ValueError, r"`dead_age` must be an integer >= 1"),
        ({"fitness": "max"}, ValueError, r"`fitness` must be one of \['last', 'best'\]"),
        ({"search_space": "mobilenet"}, ValueError, r"`search_space` must be one of"),
        ({"setting": "c9r0s0e6"}, ValueError, r"setting='c9r0s0e6'\)`: .*c subscript"),
        ({"setting": 3}, TypeError, r"`setting` must be a ReducedSetting"),
        ({"top_k": 0}, ValueError, r"`top_k` must be an integer >= 1"),
        ({"max_epochs_budget": 0}, ValueError, r"`max_epochs_budget` must be an integer >= 1"),
        ({"seed": -1}, ValueError, r"`seed` must be an integer >= 0"),
        ({"executor": "pool"}, TypeError, r"`executor` must be a concurrent.futures.Executor"),
        ({"train_fn": 3}, TypeError, r"`train_fn` must be callable"),
        ({"data": [1]}, TypeError, r"`data` must be a dict. Got list"),
        ({"data": {}}, ValueError, r"`data` must be \{\"class_path\""),
        ({"module": 3}, TypeError, r"`module` must be a dict or None"),
        ({"trainer": {"max_epochs": 3}}, ValueError, r"jobs would be invalid: .*must not set \['max_epochs'\]"),
    ],
)
def test_hierarchical_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        hierarchical("unused", **kwargs)


def test_regularized_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`sample_size` must be at most `population_size` \(10\). Got 11"):
        regularized("unused", sample_size=11)
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 1"):
        regularized("unused", batch_size=0)
    with pytest.raises(RuntimeError, match=r"no search state yet"):
        regularized("unused").top()


# ------------------------------------------------------------------------------------------------------------ YAML
@pytest.mark.parametrize(
    "name", ["econas_nb201_tiny.yaml", "econas_cifar10.yaml", "regularized_evolution_nb201_tiny.yaml"]
)
def test_example_configs_instantiate(name):
    from lightning_nas.cli import evolve_parser

    parser = evolve_parser()
    config = parser.parse_path(str(CONFIGS / name))
    assert config.executor == "inprocess" and config.max_workers is None
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    searcher = instantiate(config).searcher
    assert isinstance(searcher, (HierarchicalEvolution, RegularizedEvolution))
    assert searcher.data["class_path"].startswith("lightning_nas.datamodules.")
    if name == "econas_cifar10.yaml":
        assert (searcher.search_space, str(searcher.setting), searcher.stage_epochs) == ("econas", "c4r4s0e60", 20)
        assert searcher.module["lr_min"] == 0.001
        assert (searcher.num_init, searcher.cycles, searcher.draws, searcher.promote) == (50, 100, (6, 5, 5), (8, 4))


# ------------------------------------------------------------------------------------------------ real training
def test_hierarchical_evolution_with_train_child_on_digits(tmp_path):
    pytest.importorskip("sklearn")
    search = HierarchicalEvolution(
        str(tmp_path),
        data={"class_path": "lightning_nas.datamodules.DigitsSearchDataModule", "init_args": {"batch_size": 32}},
        search_space="nasbench201",
        setting="c4r4s0e3",
        module={"space_options": {"N": 1, "in_channels": 1}, "num_classes": 10},
        trainer={"accelerator": "cpu", "limit_train_batches": 2, "limit_val_batches": 1, "logger": False},
        stage_epochs=1,
        num_init=3,
        cycles=2,
        draws=(1, 1, 0),
        promote=(1, 1),
        progress=False,
    )
    history = search.run()
    assert len(history) == 3 + 2 * 2 and search.epochs_used == 3 + (2 + 1) + (2 + 2)
    best = search.best
    assert best["stage"] == 3 and best["epochs"] == 3 and len(best["val_accuracies"]) == 3
    assert all(0.0 <= acc <= 100.0 for r in history for acc in r["val_accuracies"])
    assert os.path.isfile(best["checkpoint"]) and best["checkpoint"].endswith("epoch_3.ckpt")
    assert all(r["seconds"] > 0 for r in history)


def test_returned_records_are_copies(small_run):
    search, _, _ = small_run
    record = search.history[0]
    record["val_accuracies"].append(-1.0)
    search.top()[0]["stage_accuracies"].clear()
    assert search.history[0]["val_accuracies"][-1] != -1.0 and search.top()[0]["stage_accuracies"]
