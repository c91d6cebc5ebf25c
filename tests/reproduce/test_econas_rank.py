"""``lightning-nas reproduce econas-rank``: EcoNAS Table 4's Sp at smoke scale on the real CIFAR-10 pack; settings."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from lightning_nas.benchmarks import NASBench201Table, rank_consistency
from lightning_nas.reproduce.command import TABLES
from lightning_nas.reproduce.econas_rank import (
    NB201_CHANNELS,
    SETTINGS,
    EcoNASRankConsistency,
    EcoNASRankSettings,
    nb201_setting,
    stratified_zoo,
)
from lightning_nas.reproduce.framework import SCALES, RunContext
from lightning_nas.search import ReducedSetting

NUMBER = r"-?\d+\.\d\d(?:±\d+\.\d\d)?"
# Table 4 of the paper, as printed: the reduced setting and its Spearman coefficient "Sp"
PAPER_SP = [("c1r0s0e25", "0.70"), ("c4r4s0e35", "0.74"), ("c0r0s0e20", "0.65"), ("c3r2s1e60", "0.79"),
            ("c4r4s0e60", "0.85")]  # fmt: skip


@pytest.fixture(scope="module")
def smoke(run_smoke) -> tuple[int, str, Path]:
    return run_smoke("econas-rank")


def test_registered():
    # by name: a doctest run that imports the module by path makes a second class object
    assert TABLES["econas-rank"].__qualname__ == "EcoNASRankConsistency"
    assert TABLES["econas-rank"].name == EcoNASRankConsistency.name == "econas-rank"


def test_smoke_prints_the_papers_figure_next_to_ours(smoke):
    code, text, _ = smoke
    assert code == 0, text[-3000:]
    lines = text.splitlines()
    for row in EcoNASRankConsistency.rows:
        [line] = [line for line in lines if line.startswith(row.label + " ")]
        assert re.search(rf"Sp: paper {re.escape(row.paper['spearman'].text)} \| ours {NUMBER}", line), line
        assert re.search(rf"Sp \(b=0\.15\): paper n/a \| ours {NUMBER}", line), line
        assert re.search(rf"Kendall τ: paper n/a \| ours {NUMBER}", line), line
        s = ReducedSetting.parse(row.options["setting"]).s
        assert re.search(
            rf"cost: paper {re.escape(row.paper_cost)} \| ours [\d.]+ s, [\d,]+ samples, data {s:.3f}", line
        )


def test_smoke_results_json(smoke):
    code, _, out = smoke
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["table"] == "econas-rank" and results["scale"] == "smoke" and results["seeds"] == [0]
    assert results["settings"]["zoo_size"] == 4
    assert [row["label"] for row in results["rows"]] == [row.label for row in EcoNASRankConsistency.rows]
    table = NASBench201Table.default()
    zoos = set()
    for row, entry in zip(EcoNASRankConsistency.rows, results["rows"]):
        assert entry["status"] == "ok"
        assert entry["paper"]["spearman"]["text"] == row.paper["spearman"].text
        assert set(entry["cost"]) == {"time_s", "samples", "data_fraction"}
        [run] = entry["runs"]
        details, cost = run["details"], run["cost"]
        setting = nb201_setting(row.options["setting"], SETTINGS["smoke"].epoch_scale)
        assert details["setting"] == {"paper": row.options["setting"], "c": setting.c, "r": setting.r, "s": setting.s,
                                      "e": setting.e}  # fmt: skip
        assert cost["data_fraction"] == setting.s and cost["time_s"] > 0
        # images seen: every model, every epoch, at most 4 batches of 16
        assert 0 < cost["samples"] <= 4 * setting.e * 4 * 16
        assert details["table_accuracies"] == [table.test_accuracy(cell) for cell in details["zoo"]]
        assert all(0 <= accuracy <= 100 for accuracy in details["accuracies"])
        # ours is the rank consistency of the zoo's accuracies with the table's
        expected = rank_consistency(details["table_accuracies"], details["accuracies"])
        assert math.isclose(run["metrics"]["spearman"], expected["spearman"])
        assert math.isclose(run["metrics"]["kendall"], expected["kendall"])
        tolerant = rank_consistency(details["table_accuracies"], details["accuracies"], tolerance=0.15)["spearman"]
        assert math.isclose(run["metrics"]["spearman_tolerant"], tolerant)
        assert entry["ours"]["spearman"]["n"] == 1
        assert (Path(details["run_dir"]) / "run.json").is_file()
        zoos.add(tuple(details["zoo"]))
    assert len(zoos) == 1  # one seed: the same zoo under every setting


def test_smoke_html_names_the_rows(smoke):
    _, _, out = smoke
    page = (out / "results.html").read_text(encoding="utf-8")
    for row in EcoNASRankConsistency.rows:
        assert html.escape(row.method) in page and row.paper["spearman"].text in page


def test_rows_are_table_4_as_printed():
    rows = EcoNASRankConsistency.rows
    assert [(row.options["setting"], row.paper["spearman"].text) for row in rows] == PAPER_SP
    assert all(row.dataset == "cifar10" and row.note for row in rows)
    assert len({row.label for row in rows}) == len(rows)


@pytest.mark.parametrize("scale", SCALES)
def test_settings_of_every_scale(scale):
    settings = EcoNASRankConsistency().settings(scale)
    assert isinstance(settings, EcoNASRankSettings) and {f.name for f in fields(settings)} >= {"zoo_size", "N"}
    assert 2 <= settings.zoo_size <= 50 and settings.N in (1, 5) and 0 < settings.val_fraction < 1
    assert 0 < settings.epoch_scale <= 1 and settings.default_seeds
    assert EcoNASRankConsistency().default_seeds(scale) == list(settings.default_seeds)
    for row in EcoNASRankConsistency.rows:
        paper, ours = (
            ReducedSetting.parse(row.options["setting"]),
            nb201_setting(row.options["setting"], settings.epoch_scale),
        )
        assert (ours.r, ours.s) == (paper.r, paper.s) and 1 <= ours.e <= paper.e
        assert ours.c == NB201_CHANNELS[[36, 24, 18, 12, 8].index(paper.c)]
    if scale == "paper":  # the paper's zoo size and epochs, NAS-Bench-201's own network, all the data
        assert settings.zoo_size == 50 and settings.N == 5 and settings.images_per_class is None
        assert all(nb201_setting(name, settings.epoch_scale).e == int(name.split("e")[1]) for name, _ in PAPER_SP)


def test_channels_keep_econas_ratios():
    assert NB201_CHANNELS == (16, 11, 8, 5, 4)
    assert nb201_setting("c1r0s0e25", 0.2) == ReducedSetting(c=11, r=32, s=1.0, e=5)


def test_stratified_zoo_spreads_over_the_table():
    table = NASBench201Table.default()
    zoo = stratified_zoo(table, 10, seed=0)
    accuracies = [table.test_accuracy(cell) for cell in zoo]
    assert len(set(zoo)) == 10 and accuracies == sorted(accuracies)  # one cell per accuracy stratum, in order
    everything = np.sort([table.test_accuracy(cell) for cell in table])
    bins = np.array_split(everything, 10)
    assert all(b[0] <= a <= b[-1] for a, b in zip(accuracies, bins))
    assert stratified_zoo(table, 10, seed=1) != zoo
    with pytest.raises(ValueError, match="`k` must be"):
        stratified_zoo(table, 1, seed=0)


def test_unavailable_without_the_pack(tmp_path):
    table = EcoNASRankConsistency()
    context = RunContext(scale="smoke", settings=SETTINGS["smoke"], data_root=tmp_path, out=tmp_path)
    reason = table.unavailable(table.rows[0], context)
    assert reason is not None and "CIFAR-10 JPEG pack not found" in reason
