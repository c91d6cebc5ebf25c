"""NSGA-II search over a supernet: hard constraint, pool initialisation, Pareto set, determinism, BN recalibration."""

import itertools
import json
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("pymoo")

from lightning_nas.search import NSGA2Search, load_result, save_result, supernet_accuracy  # noqa: E402
from lightning_nas.search.bn_recalibration import preserved_batch_norm, recalibrate_batch_norm  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------------
# a small fake chain space whose accuracy is a known function of the path
# ---------------------------------------------------------------------------------------------------------------------
CHOICES = ("a", "b", "c", "d")
FLOPS = {"a": 1, "b": 2, "c": 3, "d": 5}
PARAMS = {"a": 4, "b": 1, "c": 3, "d": 2}
BASE_FLOPS = 10
NUM_LAYERS = 5
# per-layer contribution of each choice to the score; not monotone in FLOPs, so some paths are dominated
VALUES = torch.rand(NUM_LAYERS, len(CHOICES), generator=torch.Generator().manual_seed(3)).tolist()
N_VAL = 400


@dataclass(frozen=True)
class FakePath:
    space: ClassVar[str] = "fake"
    choices: tuple

    @classmethod
    def from_string(cls, s):
        return cls(tuple(s.split("-")))

    def __str__(self):
        return "-".join(self.choices)


class FakeSpace:
    name = "fake"
    genotype_type = FakePath
    num_layers = NUM_LAYERS

    def choices(self, i):
        return ("a", "c") if i == 0 else CHOICES  # layer 0 has fewer (and different) legal choices

    def flops(self, path):
        return BASE_FLOPS + sum(FLOPS[c] for c in path.choices)

    def params(self, path):
        return sum(PARAMS[c] for c in path.choices)


def score(path):
    total = sum(VALUES[i][CHOICES.index(c)] for i, c in enumerate(path.choices))
    return total / NUM_LAYERS


def expected_accuracy(path):
    x = (torch.arange(N_VAL) + 0.5) / N_VAL
    return int((x < score(path)).sum()) / N_VAL


class FakeSupernet(nn.Module):
    """Predicts class 0 iff x < score(path); a BatchNorm layer whose running mean is recorded at each eval forward."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(1)
        self.weight = nn.Parameter(torch.zeros(()))
        self.calls = Counter()
        self.eval_means = []

    def forward(self, x, path):
        self.bn(x)
        if not self.training:
            self.calls[str(path)] += 1
            self.eval_means.append(float(self.bn.running_mean[0]))
        s = score(path)
        x = x[:, 0]
        return torch.stack([s - x, x - s], dim=1) + self.weight


class FakeModule(nn.Module):
    def __init__(self, pool=()):
        super().__init__()
        self.space = FakeSpace()
        self.supernet = FakeSupernet()
        self.candidate_pool = list(pool)


class FakeData:
    """``val_dataloader``: N_VAL points on a grid in (0, 1), all of class 0; ``train_dataloader``: points around 5."""

    def __init__(self, batch_size=100):
        self.batch_size = batch_size
        self.setup_calls = 0

    def setup(self, stage=None):
        self.setup_calls += 1

    def val_dataloader(self):
        x = ((torch.arange(N_VAL) + 0.5) / N_VAL).unsqueeze(1)
        y = torch.zeros(N_VAL, dtype=torch.long)
        return [(x[i : i + self.batch_size], y[i : i + self.batch_size]) for i in range(0, N_VAL, self.batch_size)]

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        return [(5 + torch.randn(50, 1, generator=g), torch.zeros(50, dtype=torch.long)) for _ in range(4)]


def all_paths():
    space = FakeSpace()
    return [FakePath(c) for c in itertools.product(*(space.choices(i) for i in range(NUM_LAYERS)))]


def search(**kwargs):
    defaults = dict(
        population_size=8, generations=4, num_mutations=4, num_crossovers=4, init="random", seed=0, progress=False
    )
    return NSGA2Search(**{**defaults, **kwargs})


MIN_FLOPS = BASE_FLOPS + NUM_LAYERS * FLOPS["a"]


def dominates(a, b, cost="flops"):
    return (
        a["accuracy"] >= b["accuracy"] and a[cost] <= b[cost] and (a["accuracy"] > b["accuracy"] or a[cost] < b[cost])
    )


# ---------------------------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_flops", [MIN_FLOPS + 1, MIN_FLOPS + 4, 22, None])
def test_never_returns_a_path_that_violates_the_constraint(max_flops):
    space = FakeSpace()
    if max_flops == MIN_FLOPS + 1:  # only 5 paths are feasible: a short population, then no new child
        with pytest.warns(UserWarning) as caught:
            result = search(max_flops=max_flops, init="random").run(FakeModule(), FakeData())
        messages = " ".join(str(w.message) for w in caught)
        assert "only 5 distinct paths" in messages and "stopped after 0 of 4 generations" in messages
    else:
        result = search(max_flops=max_flops, init="random").run(FakeModule(), FakeData())
    limit = max_flops if max_flops is not None else float("inf")
    assert all(r["flops"] <= limit for r in result["records"])
    assert all(space.flops(p) <= limit for p in [result["best"], *result["pareto"]])
    assert len({r["path"] for r in result["records"]}) == len(result["records"])  # each path evaluated once
    if max_flops == MIN_FLOPS + 1:  # only 5 paths are feasible: all 'a' and one 'b' at a layer >= 1
        assert len(result["records"]) <= 5


def test_tightest_constraint_yields_the_single_feasible_path():
    with pytest.warns(UserWarning) as caught:
        result = search(max_flops=MIN_FLOPS).run(FakeModule(), FakeData())
    assert any("only 1 distinct paths" in str(w.message) for w in caught)
    assert str(result["best"]) == "a-a-a-a-a"
    assert [str(p) for p in result["pareto"]] == ["a-a-a-a-a"]


def test_accuracy_is_the_supernet_top1_on_the_full_val_split():
    result = search(max_flops=24).run(FakeModule(), FakeData())
    for r in result["records"]:
        assert r["accuracy"] == pytest.approx(expected_accuracy(FakePath.from_string(r["path"])))
        assert r["flops"] == FakeSpace().flops(FakePath.from_string(r["path"]))
        assert r["params"] == FakeSpace().params(FakePath.from_string(r["path"]))


def test_pool_initialisation_takes_the_best_pool_paths_that_satisfy_the_constraint():
    rng = np.random.default_rng(1)
    space = FakeSpace()
    pool_paths = [all_paths()[i] for i in rng.permutation(len(all_paths()))[:30]]
    pool = [(float(i), p) for i, p in enumerate(pool_paths)]  # best (lowest loss) first
    max_flops = 22
    feasible = [p for p in pool_paths if space.flops(p) <= max_flops]
    assert 6 < len(feasible) < 30  # the pool mixes feasible and violating paths
    result = search(max_flops=max_flops, population_size=6, generations=0, init="pool").run(
        FakeModule(pool), FakeData()
    )
    initial = [r["path"] for r in result["records"] if r["generation"] == 0]
    assert initial == [str(p) for p in feasible[:6]]


def test_pool_shortfall_is_filled_with_random_feasible_paths():
    pool = [
        (0.1, FakePath(("a",) * 5)),
        (0.2, FakePath(("c", "d", "d", "d", "d"))),
        (0.3, FakePath(("a", "b") * 2 + ("c",))),
    ]
    result = search(max_flops=22, population_size=6, generations=0, init="pool").run(FakeModule(pool), FakeData())
    initial = [r["path"] for r in result["records"] if r["generation"] == 0]
    assert len(initial) == 6 and len(set(initial)) == 6
    assert initial[:2] == ["a-a-a-a-a", "a-b-a-b-c"]  # the pool's feasible paths first, in pool order
    assert all(r["flops"] <= 22 for r in result["records"])


def test_random_initialisation_ignores_the_pool():
    pool = [(0.1, FakePath(("a",) * 5)), (0.2, FakePath(("a", "b") * 2 + ("c",)))]
    result = search(max_flops=26, population_size=6, generations=0, init="random").run(FakeModule(pool), FakeData())
    initial = [r["path"] for r in result["records"] if r["generation"] == 0]
    assert len(initial) == 6 and initial[:2] != ["a-a-a-a-a", "a-b-a-b-c"]


def test_an_empty_pool_warns_and_falls_back_to_random_paths():
    with pytest.warns(UserWarning, match="holds no path that satisfies"):
        result = search(max_flops=26, generations=0, init="pool").run(FakeModule(), FakeData())
    assert len(result["records"]) == 8


def test_pareto_set_is_the_non_dominated_set_of_the_evaluated_paths():
    result = search(max_flops=26, population_size=10, generations=6).run(FakeModule(), FakeData())
    records = {r["path"]: r for r in result["records"]}
    front = [records[str(p)] for p in result["pareto"]]
    assert front, "the Pareto set is never empty"
    for p in front:  # non-dominated
        assert not any(dominates(r, p) for r in records.values())
    for r in records.values():  # complete: every other evaluated path is dominated by (or equal to) a front member
        if str(r["path"]) not in {q["path"] for q in front}:
            assert any(dominates(p, r) or (p["accuracy"], p["flops"]) == (r["accuracy"], r["flops"]) for p in front)
    assert [p["flops"] for p in front] == sorted(p["flops"] for p in front)


def test_search_finds_the_best_feasible_path_more_often_than_random_search():
    # the whole space has 2 * 4**4 = 512 paths, 351 of them within 24 FLOPs: brute force the best feasible accuracy
    max_flops = 24
    feasible = [p for p in all_paths() if FakeSpace().flops(p) <= max_flops]
    best_possible = max(expected_accuracy(p) for p in feasible)
    found, random_found = [], []
    for seed in range(4):
        kwargs = dict(population_size=12, generations=10, num_mutations=6, num_crossovers=6, seed=seed)
        result = search(max_flops=max_flops, **kwargs).run(FakeModule(), FakeData())
        assert result["history"][-1]["best_accuracy"] >= result["history"][0]["best_accuracy"]  # elitist
        found.append(max(r["accuracy"] for r in result["records"]) == best_possible)
        # random search with as many evaluations
        picks = np.random.default_rng(seed).choice(len(feasible), size=len(result["records"]), replace=False)
        random_found.append(max(expected_accuracy(feasible[i]) for i in picks) == best_possible)
    assert sum(found) >= 3 and sum(found) > sum(random_found)


def test_best_is_the_most_accurate_evaluated_path():
    result = search(max_flops=26, objective="params").run(FakeModule(), FakeData())
    records = result["records"]
    top = max(r["accuracy"] for r in records)
    cheapest_top = min((r["params"], i) for i, r in enumerate(records) if r["accuracy"] == top)
    assert str(result["best"]) == records[cheapest_top[1]]["path"]
    assert isinstance(result["best"], FakePath)
    params = [FakeSpace().params(p) for p in result["pareto"]]
    assert params == sorted(params)  # sorted by the cost objective


def test_history_and_variation_counts():
    result = search(max_flops=30, generations=3, num_mutations=3, num_crossovers=2).run(FakeModule(), FakeData())
    history = result["history"]
    assert [h["generation"] for h in history] == [0, 1, 2, 3]
    assert history[0]["children"] == 8 and all(h["children"] <= 5 for h in history[1:])
    assert all(h["population"] == 8 for h in history)
    assert history[-1]["evaluated"] == len(result["records"])
    assert all(h["mean_accuracy"] <= h["best_accuracy"] for h in history)
    assert [h["best_accuracy"] for h in history] == sorted(h["best_accuracy"] for h in history)
    assert {r["generation"] for r in result["records"]} <= {0, 1, 2, 3}


@pytest.mark.parametrize(("num_mutations", "num_crossovers"), [(6, 0), (0, 6)])
def test_mutation_only_and_crossover_only(num_mutations, num_crossovers):
    result = search(max_flops=28, num_mutations=num_mutations, num_crossovers=num_crossovers).run(
        FakeModule(), FakeData()
    )
    assert len(result["records"]) > 8
    assert all(r["flops"] <= 28 for r in result["records"])


def test_each_distinct_path_is_evaluated_once_and_max_val_batches_caps_the_evaluation():
    module = FakeModule()
    result = search(max_flops=26, max_val_batches=2).run(module, FakeData(batch_size=100))
    calls = module.supernet.calls
    assert set(calls) == {r["path"] for r in result["records"]}
    assert set(calls.values()) == {2}  # 2 batches per path, each path once
    x = (torch.arange(200) + 0.5) / N_VAL  # the first 2 batches
    for r in result["records"]:
        assert r["accuracy"] == pytest.approx(float((x < score(FakePath.from_string(r["path"]))).float().mean()))


def test_cached_batches_give_the_same_result():
    a = search(max_flops=26).run(FakeModule(), FakeData())
    b = search(max_flops=26, cache_batches=True).run(FakeModule(), FakeData())
    assert a["records"] == b["records"]


def test_seeded_search_is_deterministic():
    a = search(max_flops=26, seed=5).run(FakeModule(), FakeData())
    b = search(max_flops=26, seed=5).run(FakeModule(), FakeData())
    c = search(max_flops=26, seed=6).run(FakeModule(), FakeData())
    assert a["records"] == b["records"] and a["history"] == b["history"]
    assert a["best"] == b["best"] and a["pareto"] == b["pareto"]
    assert [r["path"] for r in a["records"]] != [r["path"] for r in c["records"]]


def test_seed_none_reads_the_global_seed(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "5")
    a = search(max_flops=26, seed=None).run(FakeModule(), FakeData())
    b = search(max_flops=26, seed=5).run(FakeModule(), FakeData())
    assert a["records"] == b["records"]


def test_bn_recalibration_is_used_and_leaves_the_module_unchanged():
    module = FakeModule()
    module.supernet.bn.running_mean.fill_(-3.0)
    module.supernet.bn.num_batches_tracked.fill_(7)
    module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    search(max_flops=26, bn_batches=2).run(module, FakeData())
    # every evaluation saw the statistics of the first 2 training batches (mean about 5), not the stored -3
    train_x = torch.cat([x for x, _ in FakeData().train_dataloader()[:2]])
    assert module.supernet.eval_means and all(
        m == pytest.approx(float(train_x.mean()), abs=1e-5) for m in module.supernet.eval_means
    )
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert module.training and module.supernet.training and module.supernet.bn.training
    assert module.supernet.bn.momentum == 0.1


def test_without_recalibration_the_stored_statistics_are_used():
    module = FakeModule()
    module.supernet.bn.running_mean.fill_(-3.0)
    search(max_flops=26, generations=0).run(module, FakeData())
    assert set(module.supernet.eval_means) == {-3.0}
    assert module.training  # flags restored


def test_paired_loaders_feed_recalibration_from_the_weight_split():
    from lightning_nas.datamodules import ArraySearchDataModule

    x = torch.rand(40, 1, 4, 4)
    dm = ArraySearchDataModule(x, torch.zeros(40, dtype=torch.long), batch_size=10, paired=True, seed=0)

    class Net(FakeSupernet):
        def forward(self, x, path):
            return super().forward(x.mean(dim=(2, 3)), path)

    module = FakeModule()
    module.supernet = Net()
    result = search(max_flops=26, generations=0, bn_batches=1).run(module, dm)
    assert len(result["records"]) == 8 and len(set(module.supernet.eval_means)) == 1


def test_save_and_load_result(tmp_path):
    out = tmp_path / "sub" / "nsga2.json"
    result = search(max_flops=26, output_path=str(out)).run(FakeModule(), FakeData())
    payload = json.loads(out.read_text())
    assert payload["best"] == str(result["best"])
    assert payload["pareto"] == [str(p) for p in result["pareto"]]
    assert payload["records"] == result["records"]
    assert payload["space"] == "fake" and payload["constraints"] == {"max_flops": 26, "max_params": None}
    save_result(result, tmp_path / "again.json")
    assert load_result(tmp_path / "again.json") == payload  # unregistered space: paths stay strings


def test_impossible_constraint_fails_early():
    with pytest.raises(ValueError, match=r"`NSGA2Search\(max_flops=14\)`: .*must be >= 15"):
        search(max_flops=MIN_FLOPS - 1).run(FakeModule(), FakeData())
    with pytest.raises(ValueError, match=r"`max_params` must be >= 7, the params of the cheapest path 'c-b-b-b-b'"):
        search(max_params=6).run(FakeModule(), FakeData())


def test_jointly_impossible_constraints_fail_clearly():
    # min FLOPs needs 'a' everywhere (params 20); min params needs 'c' at layer 0 and 'b' elsewhere (flops 21)
    with pytest.raises(ValueError, match="no path that satisfies both constraints"):
        search(max_flops=15, max_params=19, max_tries=3).run(FakeModule(), FakeData())


def test_pool_path_from_another_space_fails():
    with pytest.raises(ValueError, match="uses the choice 'z'"):
        search(max_flops=26, init="pool").run(FakeModule([(0.1, FakePath(("z",) * 5))]), FakeData())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population_size": 1}, "`population_size` must be an int >= 2. Got 1"),
        ({"population_size": 5.0}, "`population_size` must be an int"),
        ({"generations": -1}, "`generations` must be an int >= 0"),
        ({"max_flops": 0}, "`max_flops` must be a number > 0 or None"),
        ({"max_params": -5}, "`max_params` must be a number > 0 or None"),
        ({"objective": "latency"}, "`objective` must be 'flops', 'params' or None"),
        ({"num_mutations": 0, "num_crossovers": 0}, r"`num_mutations \+ num_crossovers` must be >= 1"),
        ({"mutation_prob": 0.0}, "`mutation_prob` must be a number > 0"),
        ({"mutation_prob": 1.5}, r"`mutation_prob` must be in \(0, 1\]"),
        ({"init": "best"}, "`init` must be 'pool' or 'random'"),
        ({"max_val_batches": 0}, "`max_val_batches` must be an int >= 1 or None"),
        ({"bn_batches": -1}, "`bn_batches` must be an int >= 0"),
        ({"max_tries": 0}, "`max_tries` must be an int >= 1"),
        ({"seed": 1.5}, "`seed` must be an int or None"),
        ({"progress": 1}, "`progress` must be a bool"),
        ({"output_path": 3}, "`output_path` must be a file path or None"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NSGA2Search(**kwargs)


def test_zero_generations_without_variation_is_allowed():
    result = search(max_flops=26, generations=0, num_mutations=0, num_crossovers=0).run(FakeModule(), FakeData())
    assert len(result["records"]) == 8 and len(result["history"]) == 1


def test_objective_defaults():
    assert NSGA2Search(max_params=10).objective == "params"
    assert NSGA2Search(max_flops=10, max_params=10).objective == "flops"
    assert NSGA2Search().objective == "flops"


# ---------------------------------------------------------------------------------------------------------------------
# the functional parts
# ---------------------------------------------------------------------------------------------------------------------
def test_supernet_accuracy_counts_top1_and_caps_batches():
    net = FakeSupernet().eval()
    path = FakePath(("a",) * 5)
    batches = FakeData().val_dataloader()
    assert supernet_accuracy(net, path, batches) == pytest.approx(expected_accuracy(path))
    x = (torch.arange(100) + 0.5) / N_VAL
    assert supernet_accuracy(net, path, batches, max_batches=1) == pytest.approx(
        float((x < score(path)).float().mean())
    )
    with pytest.raises(ValueError, match="at least one sample"):
        supernet_accuracy(net, path, [])


def test_recalibration_restores_state_on_error():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def boom(x):
        net(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), preserved_batch_norm(net):
        recalibrate_batch_norm(net, boom, [torch.randn(4, 2)])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net.training
    with pytest.raises(ValueError, match="at least one sample"):
        recalibrate_batch_norm(net, net, [])


# ---------------------------------------------------------------------------------------------------------------------
# integration: the real MobileNet space and a briefly trained GreedyNAS supernet
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def greedynas(tmp_path_factory):
    from lightning import Trainer

    from lightning_nas.datamodules import ArraySearchDataModule
    from lightning_nas.methods import GreedyNAS

    torch.manual_seed(0)  # the supernet's initial weights: the pool size asserted below depends on them
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 4
    x = torch.rand(64, 3, 16, 16, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / 4
    dm = ArraySearchDataModule(x, y, batch_size=16, paired=False, seed=0)
    module = GreedyNAS(
        space_options={"input_size": 16, "width_mult": 0.25, "head_channels": 32},
        num_classes=4,
        num_paths=6,
        keep_paths=3,
        pool_size=24,
        warmup_steps=2,
        surrogate_size=8,
        seed=0,
    )
    trainer = Trainer(
        accelerator="cpu",
        max_steps=12,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path_factory.mktemp("greedynas"),
    )
    trainer.fit(module, datamodule=dm)
    ckpt = tmp_path_factory.mktemp("ckpt") / "greedynas.ckpt"
    trainer.save_checkpoint(ckpt)
    return module, dm, ckpt


def test_greedynas_supernet_search(greedynas, tmp_path):
    from lightning_nas.spaces import MobileNetPath

    module, dm, _ = greedynas
    space = module.space
    pool = [path for _, path in module.candidate_pool]
    assert len(pool) >= 8
    max_flops = int(np.median([space.flops(p) for p in pool]))
    feasible_pool = [str(p) for p in pool if space.flops(p) <= max_flops]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    nsga = NSGA2Search(
        max_flops=max_flops,
        population_size=4,
        generations=2,
        num_mutations=2,
        num_crossovers=2,
        bn_batches=1,
        seed=0,
        progress=False,
        output_path=str(tmp_path / "nsga2.json"),
    )
    result = nsga.run(module, dm)
    assert [r["path"] for r in result["records"] if r["generation"] == 0] == feasible_pool[:4]
    assert all(r["flops"] <= max_flops for r in result["records"])
    assert isinstance(result["best"], MobileNetPath) and space.flops(result["best"]) <= max_flops
    assert all(isinstance(p, MobileNetPath) and space.flops(p) <= max_flops for p in result["pareto"])
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result["records"])
    assert all(r["params"] == space.params(MobileNetPath.from_string(r["path"])) for r in result["records"])
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN recalibration left no trace
    loaded = load_result(tmp_path / "nsga2.json")
    assert loaded["best"] == result["best"] and loaded["pareto"] == result["pareto"]
    assert nsga.result_ is result


def test_search_from_a_checkpoint_matches_the_in_memory_module(greedynas):
    module, dm, ckpt = greedynas
    max_flops = int(np.median([module.space.flops(p) for _, p in module.candidate_pool]))
    kwargs = dict(max_flops=max_flops, population_size=3, generations=1, num_mutations=1, num_crossovers=1, seed=1)
    a = NSGA2Search(progress=False, **kwargs).run(module, dm)
    b = NSGA2Search(progress=False, **kwargs).run_from_checkpoint(str(ckpt), dm, module_class="GreedyNAS")
    assert a["records"] == b["records"]


def test_impossible_flops_on_the_mobilenet_space(greedynas):
    module, dm, _ = greedynas
    with pytest.raises(ValueError, match=r"`max_flops` must be >= \d+, the flops of the cheapest path 'k3e3-id-id"):
        NSGA2Search(max_flops=1000, progress=False).run(module, dm)


def test_load_module_rejects_unknown_classes(greedynas):
    from lightning_nas.search import load_module

    with pytest.raises(ValueError, match="`module_class` must name a LightningModule class"):
        load_module(str(greedynas[2]), module_class="NoSuchMethod")
