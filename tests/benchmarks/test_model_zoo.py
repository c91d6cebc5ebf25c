"""The NAS-Bench-201 ground truth of a model zoo, and the deprecated model-zoo names of the benchmarks."""

import importlib
import subprocess
import sys

import pytest

import lightning_nas.search.model_zoo
from lightning_nas.benchmarks import NASBench201Table, table_accuracies
from lightning_nas.search import random_architectures
from lightning_nas.spaces import NASBench201Genotype


def test_table_accuracies_are_the_original_setting():
    zoo = random_architectures("nasbench201", 3, seed=0)
    table = NASBench201Table(
        {
            NASBench201Genotype.from_string(g): {"cifar10": 90.0 + i, "cifar100": 70.0 - i, "imagenet16-120": 40.0}
            for i, g in enumerate(zoo)
        }
    )
    assert table_accuracies(zoo, table) == [90.0, 91.0, 92.0]
    assert table_accuracies(zoo, table, "cifar100") == [70.0, 69.0, 68.0]
    with pytest.raises(KeyError):
        table_accuracies(random_architectures("nasbench201", 4, seed=9)[3:], table)


@pytest.mark.parametrize("module", ["lightning_nas.benchmarks", "lightning_nas.benchmarks.model_zoo"])
@pytest.mark.parametrize("name", ["random_architectures", "train_model_zoo"])
def test_the_moved_names_still_import_from_the_benchmarks_with_a_warning(module, name):
    with pytest.warns(DeprecationWarning, match=rf"`{module}.{name}` moved to `lightning_nas.search.{name}`"):
        moved = getattr(importlib.import_module(module), name)
    assert moved is getattr(lightning_nas.search.model_zoo, name)


def test_importing_the_benchmarks_imports_no_searcher():
    code = "import sys, lightning_nas.benchmarks; print(any(m.startswith('lightning_nas.search') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_unknown_name_is_still_an_attribute_error():
    import lightning_nas.benchmarks

    with pytest.raises(AttributeError, match="has no attribute 'zoo'"):
        lightning_nas.benchmarks.zoo  # noqa: B018
