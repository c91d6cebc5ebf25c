"""``lightning-nas reproduce coreset-table2``: core-set Table 2 at smoke scale on the real CIFAR-10 pack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.reproduce.command import TABLES, main
from lightning_nas.reproduce.coreset_table2 import SETTINGS, CoresetTable2
from lightning_nas.reproduce.framework import SCALES

NUMBER = r"\d+\.\d\d(?:±\d+\.\d\d)?"
RATIOS = {"Core-set 2%": 0.02, "Core-set 5%": 0.05, "Core-set 10%": 0.1, "Random 2%": 0.02, "Random 5%": 0.05,
          "Random 10%": 0.1, "Random 50%": 0.5, "Full dataset 100%": 1.0}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(run_smoke) -> tuple[int, str, Path]:
    return run_smoke("coreset-table2", "--seeds", "0")


def test_registered():
    assert TABLES["coreset-table2"] is CoresetTable2


def test_rows_are_the_papers_table_2():
    printed = [(row.method, row.paper["imagenet16-120"].text, row.paper["top5"].text, row.paper_cost)
               for row in CoresetTable2.rows]  # fmt: skip
    assert printed == [
        ("Core-set 2%", "58.8", "77.9", "0.1+0.7 = 0.8 GPU-h"),
        ("Core-set 5%", "61.1", "79.5", "0.2+1.6 = 1.8 GPU-h"),
        ("Core-set 10%", "61.4", "79.4", "0.4+3.1 = 3.5 GPU-h"),
        ("Random 2%", "57.6", "76.8", "0.7 GPU-h"),
        ("Random 5%", "59.6", "78.5", "1.6 GPU-h"),
        ("Random 10%", "59.3", "78.9", "3.1 GPU-h"),
        ("Random 50%", "61.2", "79.5", "15.3 GPU-h"),
        ("Full dataset 100%", "61.4", "79.9", "30.8 GPU-h"),
    ]
    assert [row.options["fraction"] for row in CoresetTable2.rows] == list(RATIOS.values())
    assert all("cifar10" not in row.paper for row in CoresetTable2.rows)  # the paper has no CIFAR-10 column


def test_settings_of_every_scale():
    for scale in SCALES:
        s = CoresetTable2().settings(scale)
        assert s.partial_channels == 2 and s.weight_decay == 3e-5 and s.arch_lr == 6e-3 and s.batch_size in (16, 64)
        assert 0 < s.arch_warmup_epochs < s.epochs and s.arch_warmup_epochs == round(0.7 * s.epochs)
        assert s.default_seeds == ((0,) if scale == "smoke" else (0, 1, 2))
        per_class = 5000 if s.images_per_class is None else s.images_per_class
        assert round(0.02 * per_class) >= 2  # both splits of the smallest core-set hold every class
        if s.extractor == "inception_v3":
            assert s.extractor_epochs == 0
        else:
            assert s.extractor == "resnet20-trained-on-pool" and s.extractor_epochs >= 1
    assert SETTINGS["paper"].epochs == 50 and SETTINGS["paper"].arch_warmup_epochs == 35
    assert SETTINGS["paper"].images_per_class is None and (SETTINGS["paper"].C, SETTINGS["paper"].N) == (16, 5)
    assert SETTINGS["cpu"].images_per_class == 500 and SETTINGS["gpu"].extractor == "inception_v3"


def test_smoke_prints_the_papers_figure_next_to_ours(smoke):
    code, stdout, _ = smoke
    assert code == 0, stdout[-3000:]
    lines = stdout.splitlines()
    assert "extractor=resnet20-trained-on-pool" in lines[2]
    for row in CoresetTable2.rows:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        assert re.search(rf"top-1 \(ours: IN16-120 test\): paper {re.escape(row.paper['imagenet16-120'].text)} "
                         rf"\| ours {NUMBER}", line), line  # fmt: skip
        assert f"top-5 (ours: n/a): paper {row.paper['top5'].text} | ours n/a" in line
        assert re.search(rf"C10 test: paper n/a \| ours {NUMBER}", line), line
        assert f"cost: paper {row.paper_cost} | ours " in line
        assert f"100⇒{round(100 * row.options['fraction'])} %" in line
        # the core-set rows pay the extractor and the k-center besides the search; the others do not
        assert bool(re.search(r"\+ selection \d+\.\d s", line)) == (row.options["selection"] == "coreset"), line


def test_smoke_results_json_and_page(smoke):
    code, _, out = smoke
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["table"] == "coreset-table2" and results["scale"] == "smoke" and results["seeds"] == [0]
    assert results["settings"]["images_per_class"] == 100 and results["settings"]["C"] == 4
    table = NASBench201Table.default()
    assert [row["method"] for row in results["rows"]] == list(RATIOS)
    for row in results["rows"]:
        assert row["status"] == "ok"
        [run] = row["runs"]
        genotype = run["details"]["genotype"]
        assert run["metrics"]["imagenet16-120"] == pytest.approx(table.test_accuracy(genotype, "imagenet16-120"))
        assert run["metrics"]["cifar10"] == pytest.approx(table.test_accuracy(genotype, "cifar10"))
        assert run["metrics"]["top5"] is None and row["ours"]["top5"]["mean"] is None
        assert row["paper"]["imagenet16-120"]["mean"] > 50
        cost = run["cost"]
        assert cost["time_s"] > 0 and cost["samples"] > 0 and 0 < cost["data_fraction"] <= 1
        assert run["details"]["pool"] == 1000
        assert run["details"]["selected"] == round(RATIOS[row["method"]] * 1000)
        assert cost["final_data_fraction"] == pytest.approx(RATIOS[row["method"]])
        if row["method"].startswith("Core-set"):
            # details round to 0.01 s; the cost keeps the exact sum (extractor + k-center)
            assert cost["selection_time_s"] >= run["details"]["extractor_time_s"] - 0.005
            assert run["details"]["extractor_time_s"] > 0
            assert cost["total_time_s"] == pytest.approx(cost["selection_time_s"] + cost["time_s"])
            assert any("ResNet-20 trained on the pool" in note for note in row["notes"])
            assert (Path(run["details"]["run_dir"]) / "selection.json").is_file()
        else:
            assert "selection_time_s" not in cost
    # the extractor is trained once per table run, cached under OUT/cache
    assert len(list((out / "cache").glob("baseline-*.pt"))) == 1
    page = (out / "results.html").read_text(encoding="utf-8")
    assert all(method in page for method in RATIOS) and "IN16-120" in page


def test_rows_say_why_without_data(tmp_path, capsys):
    assert main(["coreset-table2", "--scale", "smoke", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    lines = capsys.readouterr().out.splitlines()
    for row in CoresetTable2.rows:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        assert f"skipped: CIFAR-10 not found at {tmp_path}: pass --data-root" in line
