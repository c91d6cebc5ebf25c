"""``lightning-nas reproduce proxy-table1``: proxy data Table 1 at smoke scale on the real CIFAR-10 pack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.reproduce.command import TABLES
from lightning_nas.reproduce.framework import SCALES
from lightning_nas.reproduce.proxy_table1 import SETTINGS, ProxyTable1

NUMBER = r"\d+\.\d\d(?:±\d+\.\d\d)?"
POOL = 200  # smoke: 20 images per class
# smoke selections of 20-100 images are not class-balanced: a class drawn once is in the weight split only
pytestmark = pytest.mark.filterwarnings("ignore:.*the selection holds the class:UserWarning")


@pytest.fixture(scope="module")
def smoke(run_smoke) -> tuple[int, str, Path]:
    return run_smoke("proxy-table1", "--seeds", "0")


def test_registered():
    assert TABLES["proxy-table1"] is ProxyTable1


def test_rows_are_the_papers_table_1():
    printed = [(row.method, row.paper["cifar10"].text) for row in ProxyTable1.rows]
    assert printed == [
        ("Random 5K (10%)", "3.21"),
        ("Random 10K (20%)", "2.95"),
        ("Random 15K (30%)", "2.99"),
        ("Random 20K (40%)", "2.72"),
        ("Random 25K (50%)", "3.22"),
        ("Proposed (P1) 5K (10%)", "2.94"),
        ("Proposed (P1) 10K (20%)", "2.92"),
        ("Proposed (P1) 15K (30%)", "2.88"),
        ("Proposed (P1) 20K (40%)", "2.78"),
        ("Proposed (P1) 25K (50%)", "2.76"),
    ]
    assert [row.options["fraction"] for row in ProxyTable1.rows] == [0.1, 0.2, 0.3, 0.4, 0.5] * 2
    assert {row.dataset for row in ProxyTable1.rows} == {"cifar10"}
    assert ProxyTable1.rows[5].paper_cost.startswith("0.03 GPU-days")  # Table 2: DARTS on the proposed 5K
    for row in ProxyTable1.rows:  # every row says that ours is a NAS-Bench-201 lookup, not the DARTS space retrained
        assert "NAS-Bench-201" in row.note and "retrained" in row.note
        assert ("baseline" in row.paper_cost) == (row.options["selection"] == "P1")


@pytest.mark.parametrize("scale", SCALES)
def test_settings_of_every_scale(scale):
    settings = ProxyTable1().settings(scale)
    assert settings is SETTINGS[scale]
    assert settings.C >= 1 and settings.N >= 1 and settings.epochs >= 1 and settings.baseline_epochs >= 1
    assert settings.batch_size >= 1 and len(settings.default_seeds) >= 1
    # the smallest selection (10 %) must fill both splits
    pool = 10 * (settings.pool_per_class or 5000)
    assert int(0.1 * pool) >= 2
    if scale == "paper":  # the paper's settings: the whole 50K, NAS-Bench-201 supernet, DARTS defaults, 3 seeds
        assert (settings.C, settings.N, settings.epochs, settings.batch_size) == (16, 5, 50, 64)
        assert settings.pool_per_class is None and settings.baseline_epochs == 200
        assert settings.default_seeds == (0, 1, 2)


def test_smoke_prints_the_papers_figure_next_to_ours(smoke):
    code, stdout, _ = smoke
    assert code == 0, stdout[-3000:]
    lines = stdout.splitlines()
    for row in ProxyTable1.rows:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        assert re.search(rf"C10 test error: paper {re.escape(row.paper['cifar10'].text)} \| ours {NUMBER}", line), line
        assert f"cost: paper {row.paper_cost} | ours " in line
        assert f"100⇒{round(100 * row.options['fraction'])} %" in line  # the selection, of the whole pool
        paid = re.search(r"\+ baseline \(paid once\) \d+\.\d s", line)
        assert bool(paid) == (row.options["selection"] == "P1"), line


def test_smoke_results_json(smoke):
    code, _, out = smoke
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["table"] == "proxy-table1" and results["scale"] == "smoke" and results["seeds"] == [0]
    assert results["settings"]["C"] == 4 and results["settings"]["pool_per_class"] == 20
    table = NASBench201Table.default()
    rows = {row["label"]: row for row in results["rows"]}
    assert list(rows) == [row.label for row in ProxyTable1.rows]
    baselines = set()
    for row in ProxyTable1.rows:
        entry = rows[row.label]
        assert entry["status"] == "ok"
        assert entry["paper"]["cifar10"]["text"] == row.paper["cifar10"].text
        [run] = entry["runs"]
        details, cost = run["details"], run["cost"]
        # ours is the test error of the derived NAS-Bench-201 cell: 100 - the table's accuracy
        error = 100.0 - table.test_accuracy(details["genotype"], dataset="cifar10")
        assert run["metrics"]["cifar10"] == pytest.approx(error) == entry["ours"]["cifar10"]["mean"]
        fraction = row.options["fraction"]
        assert details["pool_size"] == POOL and details["num_selected"] == int(fraction * POOL)
        assert details["num_train"] + details["num_val"] == details["num_selected"]
        # fractions of the whole pool: what the search drew per epoch (1 epoch here) and the selection ("100⇒r %")
        assert cost["data_fraction"] == pytest.approx(cost["samples"] / POOL)
        assert cost["final_data_fraction"] == pytest.approx(int(fraction * POOL) / POOL)
        assert cost["time_s"] > 0
        # 1 epoch of at most 2 paired batches of 16 from each split
        assert 0 < cost["samples"] <= 2 * 2 * 16
        assert cost["samples"] == cost["search_cost/train_samples"] + cost["search_cost/val_samples"]
        run_dir = Path(details["run_dir"])
        assert (run_dir / "search_cost.json").is_file() and (run_dir / "run.json").is_file()
        manifest = json.loads((run_dir / "selection_manifest.json").read_text())
        assert manifest["method"] == ("entropy" if row.options["selection"] == "P1" else "random")
        if row.options["selection"] == "P1":
            assert cost["baseline_time_s"] > 0
            assert any("paid once" in note for note in entry["notes"])
            baselines.add(json.dumps(details["baseline"], sort_keys=True))
            assert manifest["settings"]["weighting"] == "P1" and manifest["settings"]["bin_width"] == 0.5
        else:
            assert "baseline_time_s" not in cost and manifest["settings"]["class_balanced"] is False
    # one baseline for the whole table run, cached under OUT/cache
    [baseline] = [json.loads(text) for text in baselines]
    assert baseline["epochs"] == 1 and baseline["seed"] == 0 and baseline["pool"] == POOL
    assert len(list((out / "cache").glob("baseline-*.pt"))) == 1


def test_smoke_selections_differ(smoke):
    """P1 and random draw different subsets of the same pool (the P1 manifest is not a uniform draw's)."""
    _, _, out = smoke
    ids = {}
    for name in ("random-5k", "p1-5k"):
        manifest = json.loads((out / "runs" / name / "seed0" / "selection_manifest.json").read_text())
        ids[name] = np.sort(np.asarray(manifest["selected_ids"]))
    assert len(ids["random-5k"]) == len(ids["p1-5k"]) == 20
    assert not np.array_equal(ids["random-5k"], ids["p1-5k"])


def test_smoke_html_names_the_rows(smoke):
    _, _, out = smoke
    page = (out / "results.html").read_text(encoding="utf-8")
    assert ProxyTable1.title in page
    for row in ProxyTable1.rows:
        assert row.method in page
