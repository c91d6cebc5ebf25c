"""``lightning-nas reproduce``: BDP Table 4 at smoke scale on the real CIFAR-10 pack; bad arguments."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.reproduce import BDPTable4, PaperFigure, main, summarize

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PACK = SHARED_DATA / "cifar10" / "cifar10-jpeg.bin"
CIFAR10_ROWS = [row for row in BDPTable4.rows if row.dataset == "cifar10"]
NUMBER = r"\d+\.\d\d(?:±\d+\.\d\d)?"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``lightning-nas reproduce bdp-table4 --scale smoke`` (the console script) on the real CIFAR-10 pack, run once."""
    if not PACK.is_file():
        pytest.skip(f"the real CIFAR-10 pack is not available: {PACK} is missing (../shared is absent)")
    out = tmp_path_factory.mktemp("bdp_table4_smoke")
    script = Path(sys.executable).with_name("lightning-nas")
    command = [str(script), "reproduce", "bdp-table4", "--scale", "smoke", "--seeds", "0"]
    command += ["--data-root", str(SHARED_DATA), "--out", str(out), "--accelerator", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    return result, out


def test_smoke_prints_the_papers_figure_next_to_ours(smoke):
    result, _ = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for row in CIFAR10_ROWS:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        for key, label in BDPTable4.metrics:
            assert re.search(rf"{label}: paper {re.escape(row.paper[key].text)} \| ours {NUMBER}", line), line
        assert f"cost: paper {row.paper_cost} | ours " in line
    # CIFAR-100 cannot be downloaded here: its rows say so instead of inventing figures
    for row in BDPTable4.rows:
        if row.dataset == "cifar100":
            [line] = [line for line in lines if line.startswith(row.label + " ")]
            assert f"skipped: CIFAR-100 not found at {SHARED_DATA}: pass --data-root" in line


def test_smoke_results_json(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["table"] == "bdp-table4" and results["scale"] == "smoke" and results["seeds"] == [0]
    assert results["settings"]["C"] == 4 and results["settings"]["N"] == 1
    table = NASBench201Table.default()
    rows = {row["label"]: row for row in results["rows"]}
    for row in CIFAR10_ROWS:
        entry = rows[row.label]
        assert entry["status"] == "ok"
        assert entry["paper"]["cifar10"] == {"text": row.paper["cifar10"].text, "mean": row.paper["cifar10"].mean,
                                             "std": row.paper["cifar10"].std}  # fmt: skip
        [run] = entry["runs"]
        genotype = run["details"]["genotype"]
        assert genotype.startswith("|") and genotype.count("~") == 6
        for dataset in ("cifar10", "cifar100", "imagenet16-120"):
            accuracy = table.test_accuracy(genotype, dataset=dataset)
            assert run["metrics"][dataset] == accuracy
            assert entry["ours"][dataset]["mean"] == accuracy and entry["ours"][dataset]["std"] == 0.0
        cost = run["cost"]
        assert cost["time_s"] > 0
        # 2 epochs x 2 paired batches of 16 from each split
        assert cost["samples"] == 2 * 2 * 2 * 16 == cost["search_cost/train_samples"] + cost["search_cost/val_samples"]
        assert cost["data_fraction"] == pytest.approx(cost["samples"] / (2 * 200))
        assert run["details"]["start_pool"] == 200
        assert (Path(run["details"]["run_dir"]) / "search_cost.json").is_file()
        if row.options["bdp"]:  # one pruning, at the end of epoch 2
            assert 0 < cost["final_data_fraction"] < 1
            assert (Path(run["details"]["run_dir"]) / "pruning_history.json").is_file()
        else:
            assert cost["final_data_fraction"] == 1.0
    assert all(row["status"] == "skipped" for row in results["rows"] if row["dataset"] == "cifar100")


def test_smoke_html(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    page = (out / "results.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "93.79±0.39" in page and "β-DARTS w/ BDP" in page and "CIFAR-100 not found" in page
    assert "<script" not in page and "src=" not in page  # self-contained


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["no-such-table"], "argument table: invalid choice: 'no-such-table'"),
        (["bdp-table4", "--scale", "huge"], "argument --scale: invalid choice: 'huge'"),
        (["bdp-table4", "--seeds", "0,x"], "argument --seeds: must be comma-separated non-negative integers"),
        (["bdp-table4", "--seeds=-1"], "argument --seeds: must be distinct non-negative integers"),
        (["bdp-table4", "--seeds", "1,1"], "argument --seeds: must be distinct non-negative integers"),
        ([], "the following arguments are required: table"),
        (["bdp-table4", "--accelerator", "gpus"], "argument --accelerator: invalid choice: 'gpus'"),
        (
            ["bdp-table4", "--rows", "nas"],
            "argument --rows: `rows='nas'` matches none of the rows of bdp-table4: 'DARTS (1st) [cifar10]', ",
        ),
    ],
)
def test_bad_arguments_name_the_argument(argv, argument, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert argument in capsys.readouterr().err


def test_no_data_found_exits_1_and_says_where(tmp_path, capsys):
    assert main(["bdp-table4", "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert f"CIFAR-10 not found at {tmp_path / 'empty'}: pass --data-root" in captured.out
    assert "no row of bdp-table4 could run" in captured.err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["rows"][0]["status"] == "skipped"


def test_help_lists_tables_and_scales(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "bdp-table4" in text and "smoke" in text and "--data-root" in text


def test_paper_figures_and_summary():
    assert (PaperFigure("71.64±1.30").mean, PaperFigure("71.64±1.30").std) == (71.64, 1.3)
    with pytest.raises(ValueError, match=r"`PaperFigure\(text='high'\)`: `text` must be"):
        PaperFigure("high")
    assert summarize([1.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 2, "values": [1.0, 3.0]}
    # every row of the table carries the paper's figure for every metric it compares
    for row in BDPTable4.rows:
        assert set(row.paper) == {key for key, _ in BDPTable4.metrics}
    # BDP Table 4's upper block as printed (C10, C100, IN16; cost), by search data set
    printed = {
        ("DARTS (1st)", "cifar10"): ("54.30±0.00", "15.61±0.00", "16.32±0.00", "3.2 h, data 100 %"),
        ("DARTS w/ BDP", "cifar10"): ("93.79±0.39", "71.74±2.17", "44.67±1.33", "1.6 h, data 100⇒4 %"),
        ("DARTS w/ BDP", "cifar100"): ("93.76±0.28", "71.64±1.30", "45.12±0.39", "1.9 h, data 100⇒14 %"),
        ("β-DARTS", "cifar100"): ("94.36±0.00", "73.51±0.00", "46.34±0.00", "3.2 h, data 100 %"),
        ("β-DARTS w/ BDP", "cifar10"): ("94.36±0.01", "73.41±0.17", "46.46±0.21", "1.6 h, data 100⇒4 %"),
        ("β-DARTS w/ BDP", "cifar100"): ("94.36±0.00", "73.51±0.00", "46.34±0.00", "1.9 h, data 100⇒14 %"),
    }
    rows = {(row.method, row.dataset): row for row in BDPTable4.rows}
    assert len(rows) == 8
    for key, (c10, c100, in16, cost) in printed.items():
        row = rows[key]
        figures = tuple(row.paper[key].text for key in ("cifar10", "cifar100", "imagenet16-120"))
        assert figures == (c10, c100, in16) and row.paper_cost == cost
