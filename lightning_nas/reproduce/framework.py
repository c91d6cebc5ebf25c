"""The reproduction framework: scales, paper rows, a runner over rows and seeds, the printed lines, JSON and HTML.

A table (:class:`ReproductionTable`) lists :class:`Row` s, each a method on a data set with the paper's figures as
printed (:class:`PaperFigure`) and the paper's cost, and knows how to run one row for one seed at a :data:`Scale`
(:meth:`ReproductionTable.run`, giving a :class:`SeedRun`). :func:`run_table` runs every row for every seed, prints
one line per row with the paper's figure next to ours (mean ± std over seeds), and writes ``results.json`` and
``results.html`` into the output folder.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal, TextIO

__all__ = [
    "SCALES",
    "PaperFigure",
    "ReproductionTable",
    "Row",
    "RunContext",
    "Scale",
    "SeedRun",
    "format_figure",
    "run_table",
    "select_rows",
    "summarize",
    "write_html",
]

Scale = Literal["smoke", "cpu", "gpu", "paper"]
SCALES: tuple[Scale, ...] = ("smoke", "cpu", "gpu", "paper")
"""``smoke``: seconds (the tests); ``cpu``: about an hour on a 2-core laptop; ``gpu``: a fraction of the paper's
budget on one GPU; ``paper``: the paper's settings."""

_FIGURE = re.compile(r"^\s*(?P<mean>[-+]?\d+(?:\.\d+)?)\s*(?:±\s*(?P<std>\d+(?:\.\d+)?))?\s*$")


@dataclass(frozen=True)
class PaperFigure:
    """A figure as the paper prints it, e.g. ``"93.79±0.39"`` (mean ± std) or ``"94.37"`` (a single value).

    Args:
        text: the printed figure.

    Raises:
        ValueError: ``text`` is not ``MEAN`` or ``MEAN±STD``.

    Example:
        >>> figure = PaperFigure("93.79±0.39")
        >>> figure.mean, figure.std
        (93.79, 0.39)
        >>> PaperFigure("94.37").std is None
        True
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or _FIGURE.match(self.text) is None:
            raise ValueError(f"`PaperFigure(text={self.text!r})`: `text` must be 'MEAN' or 'MEAN±STD'.")

    @property
    def mean(self) -> float:
        """The mean (or the single value)."""
        return float(_FIGURE.match(self.text)["mean"])  # type: ignore[index]

    @property
    def std(self) -> float | None:
        """The standard deviation, ``None`` when the paper prints a single value."""
        std = _FIGURE.match(self.text)["std"]  # type: ignore[index]
        return None if std is None else float(std)


@dataclass(frozen=True)
class Row:
    """One row of a paper's table: a method searched on a data set, the paper's figures and cost.

    Attributes:
        method: the method as the paper names it, e.g. ``"DARTS w/ BDP"``.
        dataset: the data set the search runs on (a key the table understands, e.g. ``"cifar10"``).
        paper: the paper's figures by metric key (the table's :attr:`ReproductionTable.metrics`).
        paper_cost: the paper's cost as printed, e.g. ``"1.6 h, data 100⇒4 %"``.
        options: what the table's runner needs to run the row (method class, pruning preset, ...).
        note: a remark on how the row maps onto the paper, shown beside it.
    """

    method: str
    dataset: str
    paper: Mapping[str, PaperFigure]
    paper_cost: str
    options: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        """``method [dataset]``, the row's name in the printed lines and the files."""
        return f"{self.method} [{self.dataset}]"


@dataclass
class SeedRun:
    """What one seed of one row gave.

    Attributes:
        seed: the seed.
        metrics: our figure per metric key (``None``: not available, with the reason in ``notes``).
        cost: the search cost: ``time_s`` (wall time of ``fit``), ``samples`` (samples drawn from both splits),
            ``data_fraction`` (samples drawn / (epochs x starting pool)), ``final_data_fraction`` (data left at the
            end / the starting pool) and the ``SearchCost`` summary keys.
        details: anything else worth keeping (derived genotype, run folder, ...).
        notes: remarks (a missing column, a diverged search).
    """

    seed: int
    metrics: dict[str, float | None]
    cost: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    """What a table's runner gets besides the row and the seed.

    Attributes:
        scale: the scale.
        settings: the table's settings at that scale (:meth:`ReproductionTable.settings`).
        data_root: the folder the data sets are looked up under.
        out: the output folder; every run writes under ``out / "runs"``.
        accelerator: the Lightning accelerator (``"auto"``, ``"cpu"``, ``"gpu"``).
    """

    scale: Scale
    settings: Any
    data_root: Path
    out: Path
    accelerator: str = "auto"


class ReproductionTable(ABC):
    """A headline table of a paper, runnable at every :data:`Scale`.

    Subclasses set the class attributes (``scale_settings`` among them) and implement :meth:`unavailable` and
    :meth:`run`.
    """

    name: ClassVar[str]
    """The command-line name, e.g. ``"bdp-table4"``."""
    title: ClassVar[str]
    """A one-line title."""
    reference: ClassVar[str]
    """The paper and table reproduced."""
    metrics: ClassVar[tuple[tuple[str, str], ...]]
    """``(key, label)`` of each metric compared with the paper, in display order."""
    rows: ClassVar[tuple[Row, ...]]
    cost_extras: ClassVar[tuple[tuple[str, str], ...]] = ()
    """``(key, label)`` of further cost keys (seconds) printed after the search's own, e.g.
    ``("selection_time_s", "selection")``: work a row pays besides the search (a baseline, an extractor)."""

    scale_settings: ClassVar[Mapping[str, Any]] = {}
    """The settings of each scale (frozen dataclasses, written into ``results.json``; a ``default_seeds`` field gives
    the seeds run when none are given)."""

    def settings(self, scale: Scale) -> Any:
        """The settings at ``scale`` (by default ``scale_settings[scale]``).

        Raises:
            ValueError: ``scale`` is not one of the table's scales.
        """
        if scale not in self.scale_settings:
            allowed = list(self.scale_settings)
            raise ValueError(f"`{type(self).__name__}.settings(scale={scale!r})`: `scale` must be one of {allowed}.")
        return self.scale_settings[scale]

    def default_seeds(self, scale: Scale) -> list[int]:
        """The seeds run when none are given: the settings' ``default_seeds``, else 0 at ``smoke`` and 0, 1, 2."""
        seeds = getattr(self.settings(scale), "default_seeds", None)
        return list(seeds) if seeds is not None else ([0] if scale == "smoke" else [0, 1, 2])

    @abstractmethod
    def unavailable(self, row: Row, context: RunContext) -> str | None:
        """Why ``row`` cannot run in ``context`` (e.g. its data is missing), or ``None`` when it can."""

    @abstractmethod
    def run(self, row: Row, seed: int, context: RunContext) -> SeedRun:
        """Run ``row`` once with ``seed``."""


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and population standard deviation (ddof 0, as NAS-Bench-201 papers report) of the available values.

    Example:
        >>> summarize([93.0, 94.0, None])
        {'mean': 93.5, 'std': 0.5, 'n': 2, 'values': [93.0, 94.0, None]}
        >>> summarize([None])["mean"] is None
        True
    """
    present = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not present:
        return {"mean": None, "std": None, "n": 0, "values": list(values)}
    mean = sum(present) / len(present)
    std = math.sqrt(sum((v - mean) ** 2 for v in present) / len(present))
    return {"mean": mean, "std": std, "n": len(present), "values": list(values)}


def format_figure(summary: Mapping[str, Any], digits: int = 2) -> str:
    """``"93.79±0.39"`` from a :func:`summarize` result; one value has no ``±`` (a single run, not a zero spread);
    ``"n/a"`` without values; ``" (n=2/3)"`` is added when some runs gave no value.

    Example:
        >>> format_figure(summarize([93.0, 94.0]))
        '93.50±0.50'
        >>> format_figure(summarize([93.0])), format_figure(summarize([93.0, None, 94.0]))
        ('93.00', '93.50±0.50 (n=2/3)')
    """
    if summary.get("mean") is None:
        return "n/a"
    text = f"{summary['mean']:.{digits}f}"
    if summary["n"] > 1:
        text += f"±{summary['std']:.{digits}f}"
    runs = len(summary.get("values", ()))
    return text + (f" (n={summary['n']}/{runs})" if summary["n"] < runs else "")


def _format_cost(cost: Mapping[str, Any], extras: Sequence[tuple[str, str]] = ()) -> str:
    time_s, samples = cost.get("time_s", {}), cost.get("samples", {})
    fraction, final = cost.get("data_fraction", {}), cost.get("final_data_fraction", {})
    parts = []
    if time_s.get("mean") is not None:
        parts.append(f"{time_s['mean']:.1f} s")
    if samples.get("mean") is not None:
        parts.append(f"{samples['mean']:,.0f} samples")
    if fraction.get("mean") is not None:
        parts.append(f"data {fraction['mean']:.3f}")
    if final.get("mean") is not None:
        parts.append(f"100⇒{100 * final['mean']:.0f} %")
    for key, label in extras:
        if cost.get(key, {}).get("mean") is not None:
            parts.append(f"+ {label} {cost[key]['mean']:.1f} s")
    return ", ".join(parts) or "n/a"


def _row_line(table: ReproductionTable, row: Row, result: Mapping[str, Any], width: int) -> str:
    head = f"{row.label:<{width}}"
    if result["status"] != "ok":
        paper = "; ".join(f"{label} {row.paper[key].text}" for key, label in table.metrics if key in row.paper)
        return f"{head}  skipped: {result['reason']} (paper: {paper})"
    parts = []
    for key, label in table.metrics:
        paper = row.paper[key].text if key in row.paper else "n/a"
        parts.append(f"{label}: paper {paper} | ours {format_figure(result['ours'][key])}")
    parts.append(f"cost: paper {row.paper_cost} | ours {_format_cost(result['cost'], table.cost_extras)}")
    return f"{head}  " + "   ".join(parts)


def _aggregate(row: Row, runs: list[SeedRun], metrics: Sequence[str]) -> dict[str, Any]:
    ours = {key: summarize([run.metrics.get(key) for run in runs]) for key in metrics}
    cost_keys = sorted({key for run in runs for key in run.cost})
    cost = {key: summarize([run.cost.get(key) for run in runs]) for key in cost_keys}
    notes = sorted({note for run in runs for note in run.notes})
    return {"status": "ok", "ours": ours, "cost": cost, "notes": notes, "runs": [asdict(run) for run in runs]}


def run_table(
    table: ReproductionTable,
    scale: Scale,
    seeds: Sequence[int],
    data_root: str | Path,
    out: str | Path,
    accelerator: str = "auto",
    stream: TextIO | None = None,
    rows: str | None = None,
) -> dict[str, Any]:
    """Run every row of ``table`` for every seed, print a line per row, write ``results.json`` and ``results.html``.

    A row whose data is missing (:meth:`ReproductionTable.unavailable`) is skipped, its line saying why. The files are
    rewritten after every row, so an interrupted run keeps the rows it finished. ``rows`` runs only the rows whose
    label contains one of its comma-separated parts (case-insensitive), e.g. ``"core-set 10%, full"``.

    Raises:
        ValueError: ``rows`` matches no row (the message lists the labels).

    Returns:
        The content of ``results.json``: the table, scale, seeds, settings, and per row the paper's figures, ours
        (mean ± std over seeds, with every seed's run) and the cost.
    """
    stream = sys.stdout if stream is None else stream
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = table.settings(scale)
    context = RunContext(scale=scale, settings=settings, data_root=Path(data_root), out=out, accelerator=accelerator)
    chosen = select_rows(table, rows)
    width = max(len(row.label) for row in chosen)
    print(f"{table.title} — scale {scale}, seeds {','.join(map(str, seeds))}", file=stream)
    print(f"  {table.reference}", file=stream)
    print(f"  settings: {_settings_text(settings)}", file=stream)
    stream.flush()
    started = time.perf_counter()
    entries: list[dict[str, Any]] = []
    results = {
        "table": table.name,
        "title": table.title,
        "reference": table.reference,
        "scale": scale,
        "seeds": list(seeds),
        "settings": _jsonable(settings),
        "data_root": str(context.data_root),
        "metrics": [{"key": key, "label": label} for key, label in table.metrics],
        "cost_extras": [{"key": key, "label": label} for key, label in table.cost_extras],
        "rows": entries,
    }
    for row in chosen:
        reason = table.unavailable(row, context)
        paper = {key: {"text": fig.text, "mean": fig.mean, "std": fig.std} for key, fig in row.paper.items()}
        entry: dict[str, Any] = {
            "method": row.method,
            "dataset": row.dataset,
            "label": row.label,
            "note": row.note,
            "paper": paper,
            "paper_cost": row.paper_cost,
        }
        if reason is not None:
            entry.update(status="skipped", reason=reason)
        else:
            runs = [table.run(row, seed, context) for seed in seeds]
            entry.update(_aggregate(row, runs, [key for key, _ in table.metrics]))
        entries.append(entry)
        print(_row_line(table, row, entry, width), file=stream)
        stream.flush()
        _write(results, out, time.perf_counter() - started)  # after every row: a stopped run keeps what it did
    print(f"results: {out / 'results.json'}, {out / 'results.html'}", file=stream)
    return results


def select_rows(table: ReproductionTable, rows: str | None) -> list[Row]:
    """The rows of ``table`` whose label contains one of the comma-separated parts of ``rows`` (all: ``None``).

    Raises:
        ValueError: ``rows`` matches no row.
    """
    if rows is None:
        return list(table.rows)
    parts = [part.strip().lower() for part in rows.split(",") if part.strip()]
    chosen = [row for row in table.rows if any(part in row.label.lower() for part in parts)]
    if not chosen:
        labels = ", ".join(repr(row.label) for row in table.rows)
        raise ValueError(f"`rows={rows!r}` matches none of the rows of {table.name}: {labels}.")
    return chosen


def _write(results: dict[str, Any], out: Path, elapsed: float) -> None:
    results["total_time_s"] = elapsed
    results["written"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    write_html(results, out / "results.html")


def _jsonable(settings: Any) -> Any:
    try:
        return asdict(settings)
    except TypeError:
        return settings


def _settings_text(settings: Any) -> str:
    values = _jsonable(settings)
    if isinstance(values, Mapping):
        return ", ".join(f"{key}={value}" for key, value in values.items())
    return str(values)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; border-bottom: 1px solid #ddd; margin-top: 2em; }}
table {{ border-collapse: collapse; font-size: .9em; }} td, th {{ border: 1px solid #ddd; padding: .25em .6em; }}
th {{ background: #f4f4f4; text-align: left; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
code {{ background: #f7f7f7; font-size: .85em; word-break: break-all; }} .note {{ color: #8a5a00; }}
tr.skipped td {{ color: #888; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{reference}<br>Scale <code>{scale}</code>, seeds <code>{seeds}</code>, data root <code>{data_root}</code>.
Written {written}; {total_time:.1f} s in all.</p>
<h2>Paper vs ours (mean ± std over seeds)</h2>
{summary}
<h2>Settings</h2>
{settings}
<h2>Runs</h2>
{runs}
</body>
</html>
"""


def _cell(value: Any, num: bool = False) -> str:
    klass = ' class="num"' if num else ""
    return f"<td{klass}>{html.escape(str(value))}</td>"


def _note_parts(row: Mapping[str, Any]) -> list[str]:
    """The remarks on a row of ``results.json``: its note (split at ``"; "``), the runs' notes or why it was skipped."""
    notes = [part for part in row.get("note", "").split("; ") if part]
    return notes + (row.get("notes", []) if row["status"] == "ok" else [row["reason"]])


def write_html(results: Mapping[str, Any], path: str | Path) -> Path:
    """A self-contained page of ``results`` (:func:`run_table`'s): the paper's figures beside ours, settings, runs."""
    metrics = [(m["key"], m["label"]) for m in results["metrics"]]
    extras = [(m["key"], m["label"]) for m in results.get("cost_extras", [])]
    # a remark every row makes is said once, above the table
    parts = [_note_parts(row) for row in results["rows"]]
    shared = [part for part in parts[0] if all(part in other for other in parts[1:])] if len(parts) > 1 else []
    head = "".join(f"<th>{html.escape(label)} (paper)</th><th>{html.escape(label)} (ours)</th>" for _, label in metrics)
    lines = [f"<table><tr><th>method</th><th>search data</th>{head}<th>cost (paper)</th><th>cost (ours)</th>"]
    lines[0] += "<th>notes</th></tr>"
    for row in results["rows"]:
        ok = row["status"] == "ok"
        cells = [_cell(row["method"]), _cell(row["dataset"])]
        for key, _ in metrics:
            paper = row["paper"].get(key, {}).get("text", "n/a")
            ours = format_figure(row["ours"][key]) if ok else "skipped"
            cells += [_cell(paper, num=True), _cell(ours, num=True)]
        cells += [_cell(row["paper_cost"]), _cell(_format_cost(row["cost"], extras) if ok else "—")]
        notes = [part for part in _note_parts(row) if part not in shared]
        cells.append(_cell("; ".join(notes)))
        lines.append(f"<tr{'' if ok else ' class=skipped'}>{''.join(cells)}</tr>")
    lines.append("</table>")
    if shared:
        lines.insert(0, f"<p class=note>Every row: {html.escape('; '.join(shared))}.</p>")
    settings = results.get("settings")
    if isinstance(settings, Mapping):
        body = "".join(f"<tr>{_cell(k)}{_cell(v)}</tr>" for k, v in settings.items())
        settings_html = f"<table>{body}</table>"
    else:
        settings_html = f"<p><code>{html.escape(str(settings))}</code></p>"
    run_lines = [f"<table><tr><th>row</th><th>seed</th>{''.join(f'<th>{html.escape(lb)}</th>' for _, lb in metrics)}"]
    run_lines[0] += "<th>time (s)</th><th>samples</th><th>data fraction</th><th>details</th></tr>"
    for row in results["rows"]:
        for run in row.get("runs", []):
            cells = [_cell(row["label"]), _cell(run["seed"], num=True)]
            for key, _ in metrics:
                value = run["metrics"].get(key)
                cells.append(_cell("n/a" if value is None else f"{value:.2f}", num=True))
            cost = run["cost"]
            cells += [
                _cell(f"{cost.get('time_s', float('nan')):.1f}", num=True),
                _cell(f"{cost.get('samples', float('nan')):,.0f}", num=True),
                _cell(f"{cost.get('data_fraction', float('nan')):.3f}", num=True),
            ]
            details = "; ".join(f"{k}: {v}" for k, v in run["details"].items())
            cells.append(f"<td><code>{html.escape(details)}</code></td>")
            run_lines.append(f"<tr>{''.join(cells)}</tr>")
    run_lines.append("</table>")
    page = _PAGE.format(
        title=html.escape(results["title"]),
        reference=html.escape(results["reference"]),
        scale=html.escape(str(results["scale"])),
        seeds=html.escape(",".join(map(str, results["seeds"]))),
        data_root=html.escape(str(results["data_root"])),
        written=html.escape(str(results["written"])),
        total_time=float(results["total_time_s"]),
        summary="\n".join(lines),
        settings=settings_html,
        runs="\n".join(run_lines),
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
