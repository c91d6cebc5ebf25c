"""The reproduction framework on a toy table: no training, so every branch of the printing and the page is checked."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import ClassVar

import pytest

from lightning_nas.reproduce import PaperFigure, ReproductionTable, Row, RunContext, SeedRun, run_table


@dataclass(frozen=True)
class _Settings:
    offset: float


class _Toy(ReproductionTable):
    name: ClassVar[str] = "toy"
    title: ClassVar[str] = "A toy table"
    reference: ClassVar[str] = "nobody, Table 0"
    metrics: ClassVar[tuple[tuple[str, str], ...]] = (("acc", "accuracy"),)
    rows: ClassVar[tuple[Row, ...]] = (
        Row("A", "d1", {"acc": PaperFigure("90.0±1.0")}, "1 h", {"extra": 2.0}, note="shared remark; about A"),
        Row("B", "d1", {"acc": PaperFigure("80.0")}, "2 h", {}, note="shared remark"),
        Row("C", "d2", {"acc": PaperFigure("70.0")}, "3 h", {}, note="shared remark"),
    )
    cost_extras: ClassVar[tuple[tuple[str, str], ...]] = (("extra_time_s", "selection"),)

    def settings(self, scale):
        return _Settings(offset=1.0)

    def unavailable(self, row, context):
        return "no d2 here" if row.dataset == "d2" else None

    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        cost = {"time_s": 10.0 + seed, "samples": 100.0, "data_fraction": 0.5}
        if "extra" in row.options:
            cost["extra_time_s"] = row.options["extra"] + seed
        return SeedRun(seed, {"acc": context.settings.offset + 50.0 + seed}, cost)


def test_lines_results_and_page(tmp_path):
    stream = io.StringIO()
    results = run_table(_Toy(), "smoke", [0, 2], tmp_path, tmp_path, stream=stream)
    lines = {line.split()[0]: line for line in stream.getvalue().splitlines() if line[:1] in "ABC"}
    # the paper's figure beside ours (mean ± population std over the seeds) and the cost with the extra key
    assert "accuracy: paper 90.0±1.0 | ours 52.00±1.00" in lines["A"]
    assert "cost: paper 1 h | ours 11.0 s, 100 samples, data 0.500, + selection 3.0 s" in lines["A"]
    assert "+ selection" not in lines["B"]  # a row without the key does not print it
    assert "skipped: no d2 here (paper: accuracy 70.0)" in lines["C"]
    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["cost_extras"] == [{"key": "extra_time_s", "label": "selection"}]
    assert [row["status"] for row in written["rows"]] == ["ok", "ok", "skipped"]
    assert written["rows"] == json.loads(json.dumps(results["rows"]))
    page = (tmp_path / "results.html").read_text(encoding="utf-8")
    # a remark every row makes is said once above the table, the others stay in their row
    assert page.count("shared remark") == 1 and "Every row: shared remark." in page
    assert "<td>about A</td>" in page and "<td>no d2 here</td>" in page and "+ selection 3.0 s" in page


class _OneSeedMissing(_Toy):
    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        if row.method == "B":
            raise RuntimeError("row B broke")
        run = super().run(row, seed, context)
        if seed == 1:
            run.metrics["acc"] = None  # e.g. a diverged search: no figure for this seed
        return run


def test_a_missing_seed_is_counted_and_finished_rows_survive_a_failure(tmp_path):
    stream = io.StringIO()
    try:
        run_table(_OneSeedMissing(), "smoke", [0, 1, 2], tmp_path, tmp_path, stream=stream)
    except RuntimeError as err:
        assert str(err) == "row B broke"
    else:
        raise AssertionError("the failing row should have raised")
    # row A was printed with the count of seeds that gave a figure, and written before row B failed
    assert "accuracy: paper 90.0±1.0 | ours 52.00±1.00 (n=2/3)" in stream.getvalue()
    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [row["method"] for row in written["rows"]] == ["A"] and (tmp_path / "results.html").is_file()
    # a single seed has no spread to show
    single = io.StringIO()
    run_table(_Toy(), "smoke", [0], tmp_path / "one", tmp_path / "one", stream=single)
    assert "ours 51.00   cost" in single.getvalue()


def test_rows_picks_rows_by_label_and_refuses_a_pattern_matching_none(tmp_path):
    stream = io.StringIO()
    results = run_table(_Toy(), "smoke", [0], tmp_path, tmp_path, stream=stream, rows=" b , [D2]")
    assert [row["method"] for row in results["rows"]] == ["B", "C"]
    assert [line[:6] for line in stream.getvalue().splitlines() if line[1:3] == " ["] == ["B [d1]", "C [d2]"]
    with pytest.raises(ValueError, match=r"`rows='x'` matches none of the rows of toy: 'A \[d1\]', 'B \[d1\]'"):
        run_table(_Toy(), "smoke", [0], tmp_path, tmp_path, stream=stream, rows="x")
