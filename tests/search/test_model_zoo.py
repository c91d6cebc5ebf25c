"""EcoNAS model zoo: random architectures trained under reduced settings, compared with each other or NAS-Bench-201."""

from concurrent.futures import Executor, Future

import pytest
import torch

from lightning_nas.benchmarks import NASBench201Table, rank_consistency, table_accuracies
from lightning_nas.search import ChildResult, random_architectures, train_model_zoo
from lightning_nas.spaces import EcoNASGenotype, NASBench201Genotype


def _data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.rand(60, 3, 16, 16, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / 3
    return {"class_path": "ArraySearchDataModule", "init_args": {"x_train": x, "y_train": y, "batch_size": 12}}


class _RecordingExecutor(Executor):
    """Runs each job at submission, and remembers what it ran."""

    def __init__(self):
        self.jobs = []

    def submit(self, fn, /, *args, **kwargs):
        self.jobs.append(args[0])
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_random_architectures_are_distinct_and_seeded():
    zoo = random_architectures("nasbench201", 20, seed=1)
    assert len(set(zoo)) == 20 and zoo == random_architectures("nasbench201", 20, seed=1)
    assert zoo != random_architectures("nasbench201", 20, seed=2)
    assert all(NASBench201Genotype.from_string(g) for g in zoo)
    econas = random_architectures("econas", 5, seed=0)
    assert all(EcoNASGenotype.from_string(g).space == "econas" for g in econas)
    for kwargs, match in [
        ({"search_space": "nasbench201", "k": 0}, "`k` must be a positive int"),
        ({"search_space": "nasbench201", "k": 15626}, "NAS-Bench-201 holds 15,625 cells"),
        ({"search_space": "mobilenet", "k": 2}, "`search_space` must be one of"),
    ]:
        with pytest.raises(ValueError, match=match):
            random_architectures(**kwargs)


def test_model_zoo_trains_every_architecture_and_ranks_against_the_table(tmp_path):
    zoo = random_architectures("nasbench201", 2, seed=0)
    kwargs = dict(
        search_space="nasbench201",
        data=_data(),
        module={"space_options": {"N": 1}, "lr": 0.05},
        trainer={"accelerator": "cpu"},
        progress=False,
    )
    executor = _RecordingExecutor()
    accuracies = train_model_zoo(zoo, "c4r4s0e2", workdir=str(tmp_path / "a"), executor=executor, **kwargs)
    assert len(accuracies) == 2 and all(0 <= acc <= 100 for acc in accuracies)
    assert [job.genotype for job in executor.jobs] == zoo
    assert {(job.start_epoch, job.stop_epoch, job.seed) for job in executor.jobs} == {(0, 2, 0)}
    assert executor.jobs[1].workdir == str(tmp_path / "a" / "c4r4s0e2" / "model_0001")
    # the in-process default gives the same accuracies (the same jobs)
    assert train_model_zoo(zoo, "c4r4s0e2", workdir=str(tmp_path / "b"), **kwargs) == accuracies
    genotypes = [NASBench201Genotype.from_string(g) for g in zoo]
    table = NASBench201Table(
        {g: {"cifar10": acc, "cifar100": 0.0, "imagenet16-120": 0.0} for g, acc in zip(genotypes, [93.0, 80.0])}
    )
    result = rank_consistency(table_accuracies(zoo, table), accuracies, tolerance=0.15)
    assert set(result) == {"spearman", "spearman_plain", "kendall", "num_models"} and result["num_models"] == 2


def test_a_model_scores_its_last_or_its_best_epoch(tmp_path):
    class Fake(Executor):
        def submit(self, fn, /, job):
            future = Future()
            curve = (50.0, 70.0 + job.child_id, 60.0)
            future.set_result(ChildResult(job.child_id, curve, "", job.stop_epoch, 0.0))
            return future

    zoo = random_architectures("nasbench201", 2, seed=0)
    kwargs = dict(search_space="nasbench201", data=_data(), workdir=str(tmp_path), executor=Fake(), progress=False)
    assert train_model_zoo(zoo, "c4r4s0e3", **kwargs) == [60.0, 60.0]
    assert train_model_zoo(zoo, "c4r4s0e3", reduction="best", **kwargs) == [70.0, 71.0]


def test_model_zoo_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least one architecture"):
        train_model_zoo([], "c4r4s0e2", search_space="nasbench201", data=_data(), workdir=str(tmp_path))
    with pytest.raises(ValueError, match="must be 'last' or 'best'"):
        train_model_zoo(
            ["x"], "c4r4s0e2", search_space="nasbench201", data=_data(), workdir=str(tmp_path), reduction="mean"
        )
