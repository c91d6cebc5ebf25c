"""``lightning-nas reproduce greedynas-table3``: GreedyNAS Table 3 at smoke scale on the real CIFAR-10 pack."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from lightning_nas.reproduce.command import TABLES, main
from lightning_nas.reproduce.framework import SCALES
from lightning_nas.reproduce.greedynas_table3 import SETTINGS, GreedyNASTable3, GreedyNASTable3Settings

NUMBER = r"-?\d+\.\d\d(?:±\d+\.\d\d)?"
UNDEFINED = "no ranking (every path got the same score on one side)"


@pytest.fixture(scope="module")
def smoke(run_smoke) -> tuple[int, str, Path]:
    return run_smoke("greedynas-table3")


def test_registered():
    assert TABLES["greedynas-table3"] is GreedyNASTable3


def test_rows_match_the_papers_table_3():
    printed = {row.method: (row.paper["spearman"].text, row.paper["kendall"].text) for row in GreedyNASTable3.rows}
    assert printed == {
        "random supernet": ("0.155", "0.113"),
        "uniform sampling": ("0.968", "0.851"),
        "uniform sampling (ACC)": ("0.869", "0.699"),
        "greedy sampling": ("0.997", "0.961"),
    }
    for row in GreedyNASTable3.rows:
        assert set(row.paper) == {key for key, _ in GreedyNASTable3.metrics} and row.note


@pytest.mark.parametrize("scale", SCALES)
def test_settings_of_every_scale_are_valid(scale):
    settings = GreedyNASTable3().settings(scale)
    assert isinstance(settings, GreedyNASTable3Settings) and settings is SETTINGS[scale]
    assert settings.dataset in ("cifar10", "imagenet") and settings.variant in ("cifar", "imagenet")
    assert 0 < settings.val_fraction < 1 and settings.default_seeds
    assert 0 <= settings.warmup_steps < settings.steps
    assert 1 <= settings.keep_paths <= settings.num_paths <= settings.pool_size * 10
    assert settings.rank_paths >= 2 and settings.surrogate_size >= 10 and settings.random_bn_batches >= 1
    if settings.images_per_class is not None:  # the surrogate batch fits in the architecture split
        assert settings.surrogate_size <= settings.images_per_class * 10 * settings.val_fraction
    json.dumps(asdict(settings))
    if scale == "paper":  # the paper's own settings
        assert (settings.rank_paths, settings.surrogate_size, settings.warmup_steps) == (1000, 1000, 10_000)
        assert round(settings.val_fraction * 1_281_167) == 50_000 and settings.batch_size == 1024
        assert (settings.num_paths, settings.keep_paths, settings.pool_size, settings.lr) == (10, 5, 1000, 0.12)


def test_paper_scale_without_imagenet_skips_every_row_saying_why(tmp_path, capsys):
    assert (
        main(["greedynas-table3", "--scale", "paper", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    )
    out = capsys.readouterr().out
    for row in GreedyNASTable3.rows:
        [line] = [line for line in out.splitlines() if line.startswith(row.label + " ")]
        assert f"skipped: ImageNet not found at {tmp_path / 'imagenet'}" in line


def test_smoke_prints_the_papers_figure_next_to_ours(smoke):
    code, out, _ = smoke
    assert code == 0, out[-3000:]
    lines = out.splitlines()
    for row in GreedyNASTable3.rows:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        for key, label in GreedyNASTable3.metrics:
            # a ranking can be undefined at smoke scale (a barely trained supernet giving every path one accuracy)
            pattern = rf"{label}: paper {re.escape(row.paper[key].text)} \| ours ({NUMBER}|n/a)"
            assert re.search(pattern, line), line
        assert f"cost: paper {row.paper_cost} | ours " in line and " s, " in line


def test_smoke_results_json(smoke):
    code, out, path = smoke
    assert code == 0, out[-3000:]
    results = json.loads((path / "results.json").read_text(encoding="utf-8"))
    assert results["table"] == "greedynas-table3" and results["scale"] == "smoke" and results["seeds"] == [0]
    assert results["settings"] == json.loads(json.dumps(asdict(SETTINGS["smoke"])))
    rows = {row["method"]: row for row in results["rows"]}
    assert list(rows) == [row.method for row in GreedyNASTable3.rows]
    smoke_settings = SETTINGS["smoke"]
    for row in GreedyNASTable3.rows:
        entry = rows[row.method]
        assert entry["status"] == "ok"
        assert entry["paper"]["spearman"]["text"] == row.paper["spearman"].text
        [run] = entry["runs"]
        consistency = run["details"]["consistency"]
        assert consistency["num_paths"] == smoke_settings.rank_paths
        assert consistency["surrogate_size"] == smoke_settings.surrogate_size
        assert consistency["val_size"] == run["details"]["val_size"] == 150  # 30 per class, half held out
        suffix = "_acc" if row.method.endswith("(ACC)") else ""
        for key in ("spearman", "kendall"):
            ours = run["metrics"][key]
            if ours is None:
                assert any(UNDEFINED in note for note in run["notes"])
            else:
                assert ours == consistency[key + suffix] and -1 <= ours <= 1 and math.isfinite(ours)
                assert entry["ours"][key]["mean"] == ours and entry["ours"][key]["std"] == 0.0
        cost = run["cost"]
        assert {"time_s", "samples", "data_fraction"} <= set(cost) and cost["time_s"] > 0
        if row.method == "random supernet":
            assert cost["samples"] == 0 and cost["data_fraction"] == 0 and cost["train_time_s"] == 0
        else:  # one batch of the weight split per step: 20 steps of 32 over epochs of 150 images (5 batches)
            assert cost["samples"] == cost["search_cost/train_samples"] == 150 * 4
            assert cost["data_fraction"] == pytest.approx(0.5)  # the weight split is half the pool
            assert (Path(run["details"]["run_dir"]) / "search_cost.json").is_file()
        if row.method == "greedy sampling":  # <= m=4 paths x 20 images per round, a round per k=2 steps after warm-up
            assert 0 < cost["surrogate_images"] <= (20 - 6) // 2 * 4 * 20
    # the ACC row is the uniform row's supernet, trained once
    assert rows["uniform sampling (ACC)"]["runs"][0]["cost"] == rows["uniform sampling"]["runs"][0]["cost"]
    # every supernet's paths were scored on both sides: the two loss rankings are always defined (losses differ
    # between paths even when a barely trained supernet gives every path the same accuracy)
    for method in ("random supernet", "uniform sampling", "greedy sampling"):
        consistency = rows[method]["runs"][0]["details"]["consistency"]
        assert -1 <= consistency["spearman_loss"] <= 1 and -1 <= consistency["kendall_loss"] <= 1, consistency


def test_smoke_html(smoke):
    code, out, path = smoke
    assert code == 0, out[-3000:]
    page = (path / "results.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for row in GreedyNASTable3.rows:
        assert row.method in page
    assert "0.997" in page and "0.699" in page and "<script" not in page
