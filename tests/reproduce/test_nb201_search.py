"""The NAS-Bench-201 search step the reproduction tables share: a diverged search is a row's result, not a crash."""

from __future__ import annotations

import torch

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.reproduce import search_nb201


def _data():
    g = torch.Generator().manual_seed(0)
    return ArraySearchDataModule(torch.rand(32, 3, 8, 8, generator=g), torch.arange(32) % 4, batch_size=8, seed=0)


def test_a_search_gives_the_cell_its_table_accuracy_and_the_cost(tmp_path):
    model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, order=1)
    result = search_nb201(model, _data(), epochs=1, run_dir=tmp_path, accelerator="cpu", datasets=("cifar10",))
    assert result.genotype is not None and result.notes == []
    assert 10.0 < result.metrics["cifar10"] < 95.0  # a 200-epoch NAS-Bench-201 accuracy
    # 2 paired batches of 8 from each 16-sample split; nothing pruned
    assert result.cost["samples"] == 32 and result.start_pool == result.end_pool == 32
    assert result.cost["data_fraction"] == result.cost["final_data_fraction"] == 1.0
    assert (tmp_path / "search_cost.json").is_file()


def test_a_diverged_search_gives_no_genotype_and_says_why(tmp_path):
    model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, order=1,
                  weight_lr=1e12)  # fmt: skip
    result = search_nb201(model, _data(), epochs=2, run_dir=tmp_path, accelerator="cpu", label="seed 3",
                          pool_size=64)  # fmt: skip
    assert result.genotype is None and set(result.metrics.values()) == {None}
    [note] = result.notes
    assert note.startswith("seed 3: no genotype: ") and "diverged" in note and "weight_lr=1000000000000.0" in note
    assert result.cost["time_s"] > 0 and result.cost["final_data_fraction"] == 0.5  # of the given pool
