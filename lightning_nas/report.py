"""``lightning-nas report RUN_DIR``: one HTML page that summarises a search run, with its figures.

The report reads what a run leaves in its log directory and writes ``RUN_DIR/report.html`` with the figures as PNG
files in ``RUN_DIR/report_figures/``, referenced by relative paths: the page and that folder together are
self-contained (copy both to move the report; nothing is fetched from the network). Files read, all optional:

=========================  =============================================================================================
``config.yaml``            the LightningCLI configuration (settings)
``hparams.yaml``           the module's hyperparameters, written by the logger (settings)
``metrics.csv``            :class:`~lightning.pytorch.loggers.CSVLogger`'s metrics: loss and accuracy curves, remaining
                           samples (``data/*``), the Hessian's dominant eigenvalue (``arch/hessian_eigenvalue``),
                           collapse counts, search cost (``cost/*``) and the last value of every metric
``genotype.json``          :class:`~lightning_nas.callbacks.GenotypeExport`: the final genotype (cell diagram) and the
                           genotype of every epoch (history grid, skip connections per epoch, ground truth per epoch)
``search_cost.json``       :class:`~lightning_nas.callbacks.SearchCost`'s summary
``pruning_history.json``   :class:`~lightning_nas.callbacks.VoEPruning`'s settings and pruning steps
``search_state.json``      the work directory of :class:`~lightning_nas.search.HierarchicalEvolution` or
                           :class:`~lightning_nas.search.RegularizedEvolution`: evolution progress and the top networks
``nsga2_result.json``      :class:`~lightning_nas.search.NSGA2Search`'s result (``output_path``): the Pareto front and
                           the best path (MobileNet path diagram)
``**/*.png``               figures the run saved itself (e.g. :class:`~lightning_nas.callbacks.SearchPlots`' in
                           ``plots/``); a figure the report would draw is not drawn again when the run saved one
                           under the same name (``cell.png``, ``remaining_samples.png``)
=========================  =============================================================================================

When the final genotype is a NAS-Bench-201 genotype, the report looks up its 200-epoch test accuracy on the three
data sets, the best cell of the benchmark, and the accuracy of every epoch's genotype (as BDP's Fig. 3a), in the table
given by ``--nb201-table PATH`` or the environment variable ``LIGHTNING_NAS_NB201_TABLE`` (a CSV read by
:meth:`~lightning_nas.benchmarks.NASBench201Table.from_csv`), or else in the table that ships with the package
(:meth:`~lightning_nas.benchmarks.NASBench201Table.default`, NATS-Bench's figures). The page is rendered with the
standard library (``string.Template``, every value escaped with ``html.escape``); a small inline script records, once
the page has loaded, how many of its images were decoded (``data-images-loaded`` on ``<body>``, next to
``data-figures``), for checks in a headless browser. Needs matplotlib (``pip install 'lightning-nas[plots]'``).
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Any

__all__ = ["ENV_NB201_TABLE", "FIGURES_DIR", "main", "read_metrics", "write_report"]

ENV_NB201_TABLE = "LIGHTNING_NAS_NB201_TABLE"
"""Environment variable naming the NAS-Bench-201 CSV used when ``--nb201-table`` is not given (else: the built-in
table)."""

_BUILTIN_TABLE = "built-in (NATS-Bench, 200 epochs: NASBench201Table.default())"

FIGURES_DIR = "report_figures"
"""Folder (next to the HTML page) that receives the report's PNG files."""

_DATASETS = ("cifar10", "cifar100", "imagenet16-120")
_RUN_FILES = (
    "config.yaml",
    "hparams.yaml",
    "metrics.csv",
    "genotype.json",
    "search_cost.json",
    "pruning_history.json",
    "search_state.json",
    "nsga2_result.json",
)


def read_metrics(path: str | os.PathLike) -> dict[str, dict[int, float]]:
    r"""Reads a CSVLogger ``metrics.csv`` into ``{metric: {epoch: value}}``, the last value logged in each epoch.

    Rows without an epoch and empty or non-numeric cells are skipped; the ``epoch`` and ``step`` columns are not
    metrics.

    Example:
        >>> import tempfile
        >>> lines = ["epoch,step,val/acc,train/loss", "0,3,0.5,", "0,3,,1.2", "1,7,0.6,0.9"]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = Path(d, "metrics.csv").write_text("\n".join(lines))
        ...     read_metrics(Path(d, "metrics.csv"))
        {'val/acc': {0: 0.5, 1: 0.6}, 'train/loss': {0: 1.2, 1: 0.9}}
    """
    metrics: dict[str, dict[int, float]] = {}
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            try:
                epoch = int(float(row.get("epoch") or ""))
            except ValueError:
                continue
            for key, cell in row.items():
                if key in ("epoch", "step") or key is None or cell in (None, ""):
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    continue
                metrics.setdefault(key, {})[epoch] = value
    return metrics


def _series(metrics: Mapping[str, Mapping[int, float]], key: str) -> tuple[list[int], list[float]] | None:
    values = metrics.get(key)
    if not values:
        return None
    epochs = sorted(e for e, v in values.items() if math.isfinite(v))
    return (epochs, [values[e] for e in epochs]) if epochs else None


@dataclass
class _Figure:
    path: Path  # the PNG, inside the figures folder
    caption: str
    section: str


@dataclass
class _Report:
    run_dir: Path
    out_dir: Path
    dpi: int
    figures: list[_Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def figures_dir(self) -> Path:
        return self.out_dir / FIGURES_DIR

    def add(self, name: str, fig: Any, caption: str, section: str) -> None:
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=self.dpi)
        self.figures.append(_Figure(path, caption, section))


# ------------------------------------------------------------------------------------------------ collecting
def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"`write_report`: could not read {path}: {err}") from None


def _parse_genotype(text: str, space: str | None) -> Any:
    """The genotype of a string, by its space's genotype type when the space is registered; ``None`` if unparseable."""
    from lightning_nas.plots import _as_genotype
    from lightning_nas.spaces import parse_genotype

    if space:
        try:
            return parse_genotype(text, space)
        except ValueError:  # an unregistered space, or a string of another space
            pass
    try:
        return _as_genotype("write_report", text)
    except (ValueError, TypeError):
        return None


def _run_pngs(run_dir: Path, out_dir: Path) -> list[Path]:
    """The run's own PNG files: every ``*.png`` under ``run_dir`` outside the report folders (of any report)."""
    skip = (out_dir / FIGURES_DIR).resolve()
    return [
        path
        for path in sorted(run_dir.rglob("*.png"))
        if FIGURES_DIR not in path.relative_to(run_dir).parts[:-1] and skip not in path.resolve().parents
    ]


def _genotype_figures(report: _Report, genotype_file: dict[str, Any], run_stems: set[str]) -> tuple[Any, list[Any]]:
    from lightning_nas import plots
    from lightning_nas.callbacks.collapse_monitor import count_ops
    from lightning_nas.spaces import Genotype

    space = genotype_file.get("space")
    final = _parse_genotype(str(genotype_file.get("genotype", "")), space)
    history = [_parse_genotype(str(g), space) for g in genotype_file.get("history", [])]
    history = [g for g in history if g is not None]
    if final is not None and "cell" not in run_stems:
        report.add("cell", plots.plot_cell(final, title="final genotype"), "The final genotype.", "Genotype")
    if history:
        report.add(
            "genotype_history",
            plots.plot_genotype_history(history),
            "The genotype of every epoch (rows: edges or layers, colour: operation; DARTS space: the input node of "
            "each kept edge written in its square).",
            "Genotype",
        )
        # the space's facts; the first cell of a space with several (the DARTS space's normal cell)
        first = history[0]
        space = first.space_class() if isinstance(first, Genotype) else None
        if space is not None and space.skip_op is not None:
            cells = first.cells()
            cell = cells[0] if len(cells) > 1 else None
            where = f" in the {cell} cell" if cell else ""
            epochs = list(range(len(history)))
            counts = {"skip connections": (space.skip_op,), "parameter-free": space.parameter_free_ops}
            report.add(
                "collapse",
                plots.plot_curves(
                    {
                        f"operations{where}": {
                            label: (epochs, [count_ops(g, ops, cell=cell) for g in history])
                            for label, ops in counts.items()
                            if ops
                        }
                    }
                ),
                f"Skip connections and parameter-free operations{where} of every epoch's genotype (the collapse of "
                "differentiable search shows as a rising count).",
                "Genotype",
            )
    return final, history


def _metric_figures(report: _Report, metrics: dict[str, dict[int, float]], run_stems: set[str]) -> None:
    from lightning_nas import plots

    def panel(keys: Sequence[tuple[str, str]]) -> dict[str, tuple[list[int], list[float]]]:
        return {label: s for key, label in keys if (s := _series(metrics, key)) is not None}

    train_loss = "train/loss_epoch" if "train/loss_epoch" in metrics else "train/loss"
    panels = {
        "loss": panel([(train_loss, "train (weights)"), ("arch/loss", "arch step (val split)"), ("val/loss", "val")]),
        "accuracy": panel(
            [("train/acc", "train (weights)"), ("arch/acc", "arch step (val split)"), ("val/acc", "val")]
        ),
        "weight learning rate": panel([("search/weight_lr", "lr")]),
    }
    if any(panels.values()):
        report.add(
            "training_curves", plots.plot_curves(panels), "Losses, accuracies and learning rate per epoch.", "Training"
        )
    remaining = {s: _series(metrics, f"data/{s}_remaining") for s in ("train", "val")}
    remaining = {s: v for s, v in remaining.items() if v is not None}
    if remaining and "remaining_samples" not in run_stems:
        epochs = next(iter(remaining.values()))[0]
        if all(v[0] == epochs for v in remaining.values()):
            class_counts: dict[str, dict[int, list[float]]] = {}
            for key in metrics:
                for split in remaining:
                    prefix = f"data/{split}_class_"
                    if key.startswith(prefix) and key[len(prefix) :].isdigit():
                        series = _series(metrics, key)
                        if series is not None and series[0] == epochs:
                            class_counts.setdefault(split, {})[int(key[len(prefix) :])] = series[1]
            class_counts = {s: dict(sorted(c.items())) for s, c in class_counts.items()}
            report.add(
                "remaining_samples",
                plots.plot_remaining_samples(
                    {s: v[1] for s, v in remaining.items()}, epochs=epochs, class_counts=class_counts or None
                ),
                "Samples remaining in each split after each epoch (BDP's Fig. 3b), in all and per class.",
                "Data",
            )
    eigen = _series(metrics, "arch/hessian_eigenvalue")
    if eigen is not None:
        report.add(
            "hessian_eigenvalue",
            plots.plot_curves({"dominant eigenvalue of the architecture Hessian": {"λ_max": eigen}}),
            "The dominant eigenvalue of the Hessian of the validation loss with respect to the architecture "
            "parameters (BDP's Fig. 3c); a steady rise goes with the collapse of DARTS.",
            "Training",
        )


def _search_figures(report: _Report, run: Path, present: set[str]) -> list[tuple[str, Any]]:
    """Figures and summary rows of the searchers' own result files (evolution state, NSGA-II result)."""
    from lightning_nas import plots

    rows: list[tuple[str, Any]] = []
    if "search_state.json" in present:
        state = _load_json(run / "search_state.json")
        config = state.get("config", {})
        networks = [n for n in state.get("networks", []) if n.get("fitness") is not None]
        rows += [(key, value) for key, value in config.items()]
        rows += [
            ("networks trained", len(networks)),
            ("epochs trained", state.get("epochs_used")),
            ("cycles done", state.get("cycle")),
        ]
        if networks:
            history = [
                {"id": n["id"], "cycle": n["created_cycle"], "accuracy": n["fitness"], "stage": n.get("stage")}
                for n in networks
            ]
            report.add(
                "evolution",
                plots.plot_evolution(history),
                "Evolution progress: every network's fitness at its creation cycle (colour: stages trained) and the "
                "best so far.",
                "Search",
            )
            best = max(networks, key=lambda n: (n.get("stage", 0), n["fitness"]))
            rows.append(("best network (most stages, then fitness)", f"{best['genotype']} ({best['fitness']:.2f})"))
    if "nsga2_result.json" in present:
        result = _load_json(run / "nsga2_result.json")
        records = result.get("records", [])
        pareto = set(result.get("pareto", []))
        constraints = result.get("constraints") or {}
        if records:
            report.add(
                "pareto_front",
                plots.plot_pareto_front(
                    records, [r for r in records if r["path"] in pareto], max_flops=constraints.get("max_flops")
                ),
                "NSGA-II: supernet accuracy against FLOPs of every evaluated path, with the Pareto front.",
                "Search",
            )
        if result.get("best"):
            rows.append(("NSGA-II best path", result["best"]))
            try:
                diagram = plots.plot_cell(_parse_genotype(result["best"], result.get("space")))
                report.add("best_path", diagram, "The best path found by NSGA-II.", "Search")
            except (TypeError, ValueError) as err:
                report.notes.append(f"No diagram of the best path: {err}")
        rows.append(("paths evaluated", len(records)))
    return rows


def _ground_truth(
    report: _Report, table_path: str | None, dataset: str, final: Any, history: list[Any]
) -> list[tuple[str, str]]:
    """Looks the genotypes up in a NAS-Bench-201 table; returns rows for the ground-truth table."""
    from lightning_nas import plots
    from lightning_nas.benchmarks import NASBench201Table

    if getattr(final, "space", None) != NASBench201Table.space:
        if table_path is not None:
            report.notes.append("A NAS-Bench-201 table was given, but the final genotype is not a NAS-Bench-201 cell.")
        return []
    table = NASBench201Table.default() if table_path is None else NASBench201Table.from_csv(table_path)
    rows = []
    for name in _DATASETS:
        try:
            accuracy = f"{table.test_accuracy(final, name):.2f} %"
        except KeyError:
            accuracy = "not in the table"
        best_genotype, best = table.best(name)
        rows.append((f"{name} test accuracy (200 epochs)", f"{accuracy}   (best cell of the benchmark: {best:.2f} %)"))
    rows.append(("table", str(table_path) if table_path is not None else _BUILTIN_TABLE))
    looked_up = [
        (epoch, table.test_accuracy(g, dataset))
        for epoch, g in enumerate(history)
        if getattr(g, "space", None) == NASBench201Table.space and g in table
    ]
    if looked_up:
        epochs, values = [e for e, _ in looked_up], [v for _, v in looked_up]
        report.add(
            "nb201_accuracy",
            plots.plot_curves(
                {f"NAS-Bench-201 {dataset} test accuracy (%)": {"genotype of the epoch": (epochs, values)}}
            ),
            f"Ground-truth {dataset} test accuracy of every epoch's genotype, looked up in NAS-Bench-201 "
            "(BDP's Fig. 3a).",
            "Ground truth",
        )
    return rows


# ------------------------------------------------------------------------------------------------- rendering
_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre, code { background: #f7f7f7; font-size: .85em; } pre { padding: .8em; overflow-x: auto; max-height: 30em; }
code.genotype { display: block; padding: .6em; word-break: break-all; white-space: pre-wrap; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; } .note { color: #8a5a00; }
</style>
</head>
<body data-figures="$num_figures">
<h1>$title</h1>
<p>Run directory: <code>$run_dir</code><br>Report written $date.</p>
$body
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded));
});
</script>
</body>
</html>
"""
)


def _table(rows: Sequence[tuple[str, Any]], header: tuple[str, str] = ("", "")) -> str:
    head = f"<tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th></tr>" if any(header) else ""
    body = "".join(
        f'<tr><td>{html.escape(str(k))}</td><td class="num">{html.escape(_fmt(v))}</td></tr>' for k, v in rows
    )
    return f"<table>{head}{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _figure_html(figure: _Figure, out_dir: Path) -> str:
    src = figure.path.relative_to(out_dir).as_posix()
    return (
        f'<figure><img src="{html.escape(src, quote=True)}" alt="{html.escape(figure.caption, quote=True)}">'
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
    )


def write_report(
    run_dir: str | os.PathLike,
    *,
    nb201_table: str | os.PathLike | None = None,
    dataset: str = "cifar10",
    output: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Writes the HTML report of a run and its PNG figures (see the module docstring for what is read).

    Args:
        run_dir: the run's log directory (e.g. ``lightning_logs/version_0``).
        nb201_table: a NAS-Bench-201 CSV table for the ground truth; ``None`` reads the environment variable
            ``LIGHTNING_NAS_NB201_TABLE``, and when it is unset too, uses the built-in table
            (:meth:`~lightning_nas.benchmarks.NASBench201Table.default`).
        dataset: the NAS-Bench-201 data set of the per-epoch ground-truth curve: ``"cifar10"``, ``"cifar100"`` or
            ``"imagenet16-120"`` (the final genotype's table shows all three).
        output: the HTML file; ``None`` writes ``RUN_DIR/report.html``. The figures go into ``report_figures/``
            next to it (the run's own PNGs are copied there under ``run_<path>.png``).
        title: the page title; ``None`` uses the run directory's name.
        dpi: resolution of the figures.

    Returns:
        The path of the HTML file.

    Raises:
        FileNotFoundError: if ``run_dir`` or the NAS-Bench-201 table does not exist.
        ValueError: if ``run_dir`` holds none of the files of a run, a JSON file is unreadable or ``dataset`` is
            unknown.
        ImportError: without matplotlib.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"`write_report`: the run directory '{run}' does not exist.")
    if dataset not in _DATASETS:
        raise ValueError(f"`write_report(dataset={dataset!r})`: `dataset` must be one of {list(_DATASETS)}.")
    table_path: str | None = None
    if nb201_table is not None:
        table_path = str(nb201_table)
        source = "`--nb201-table`"
    elif os.environ.get(ENV_NB201_TABLE):
        table_path = os.environ[ENV_NB201_TABLE]
        source = f"the environment variable {ENV_NB201_TABLE}"
    if table_path is not None and not Path(table_path).is_file():
        raise FileNotFoundError(
            f"`write_report`: the NAS-Bench-201 table '{table_path}' given by {source} does not exist."
        )
    present = {name for name in _RUN_FILES if (run / name).is_file()}
    out_file = Path(output) if output is not None else run / "report.html"
    out_dir = out_file.parent
    run_pngs = _run_pngs(run, out_dir)
    if not present and not run_pngs:
        raise ValueError(
            f"`write_report`: '{run}' holds none of the files of a run ({', '.join(_RUN_FILES)}, *.png). Pass the "
            "log directory of the run, e.g. lightning_logs/version_0."
        )
    report = _Report(run, out_dir, dpi)
    if report.figures_dir.exists():
        shutil.rmtree(report.figures_dir)
    report.figures_dir.mkdir(parents=True)

    run_stems = {p.stem for p in run_pngs}
    metrics = read_metrics(run / "metrics.csv") if "metrics.csv" in present else {}
    genotype_file = _load_json(run / "genotype.json") if "genotype.json" in present else {}
    final, history = _genotype_figures(report, genotype_file, run_stems) if genotype_file else (None, [])
    for png in run_pngs:
        relative = png.relative_to(run)
        target = report.figures_dir / ("run_" + "_".join(relative.with_suffix("").parts) + ".png")
        shutil.copyfile(png, target)
        section = "Genotype" if png.stem in ("arch_weights", "cell") else "Figures saved by the run"
        if png.stem == "remaining_samples":
            section = "Data"
        report.figures.append(_Figure(target, f"{relative.as_posix()} (saved by the run)", section))
    _metric_figures(report, metrics, run_stems)
    truth_rows = _ground_truth(report, table_path, dataset, final, history)
    search_rows = _search_figures(report, run, present)

    # ----------------------------------------------------------------- sections
    parts: list[str] = []
    settings = []
    for name in ("config.yaml", "hparams.yaml"):
        if name in present:
            settings.append(f"<h3>{name}</h3><pre>{html.escape((run / name).read_text())}</pre>")
    if "pruning_history.json" in present:
        pruning = _load_json(run / "pruning_history.json")
        rows = [(k, v) for k, v in pruning.items() if k != "history"]
        steps = pruning.get("history", [])
        rows.append(("pruning steps", len(steps)))
        for split in ("train", "val"):
            last = [s for s in steps if s.get("split") == split]
            if last:
                rows.append((f"{split} samples remaining at the end", last[-1].get("remaining")))
        settings.append("<h3>data pruning (pruning_history.json)</h3>" + _table(rows))
    if settings:
        parts.append("<h2>Settings</h2>" + "".join(settings))

    cost_rows: list[tuple[str, Any]] = []
    if "search_cost.json" in present:
        cost_rows = sorted(_load_json(run / "search_cost.json").items())
    else:
        cost_rows = sorted(
            (k.removeprefix("cost/"), v[max(v)]) for k, v in metrics.items() if k.startswith("cost/") and v
        )
    if cost_rows:
        parts.append("<h2>Search cost</h2>" + _table(cost_rows, ("quantity", "value")))

    order = ("cell", "run_plots_cell", "arch_weights", "run_plots_arch_weights", "genotype_history", "collapse")

    def rank(figure: _Figure) -> int:
        stem = figure.path.stem
        return order.index(stem) if stem in order else len(order)

    def figures_of(section: str) -> str:
        chosen = sorted((f for f in report.figures if f.section == section), key=rank)
        return "".join(_figure_html(f, out_dir) for f in chosen)

    if genotype_file or figures_of("Genotype"):
        text = genotype_file.get("genotype", "")
        space = genotype_file.get("space")
        block = "<h2>Genotype</h2>"
        if text:
            block += f"<p>Search space: <code>{html.escape(str(space))}</code></p>"
            block += f'<code class="genotype">{html.escape(str(text))}</code>'
        parts.append(block + figures_of("Genotype"))
    if search_rows or figures_of("Search"):
        parts.append("<h2>Search</h2>" + _table(search_rows) + figures_of("Search"))
    if truth_rows or figures_of("Ground truth"):
        parts.append("<h2>Ground truth (NAS-Bench-201)</h2>" + _table(truth_rows) + figures_of("Ground truth"))
    for section in ("Data", "Training", "Figures saved by the run"):
        if figures_of(section):
            parts.append(f"<h2>{section}</h2>" + figures_of(section))
    last = [
        (key, values[max(values)])
        for key, values in sorted(metrics.items())
        if values and not key.endswith("_step") and "_class_" not in key
    ]
    if last:
        parts.append("<h2>Final metrics</h2>" + _table(last, ("metric", "last value")))
    if report.notes:
        parts.append("".join(f'<p class="note">{html.escape(note)}</p>' for note in report.notes))

    page = _PAGE.substitute(
        title=html.escape(title or f"Search report: {run.resolve().name}"),
        run_dir=html.escape(str(run.resolve())),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        num_figures=len(report.figures),
        body="\n".join(parts),
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(page, encoding="utf-8")
    return out_file


def main(argv: list[str] | None = None) -> int:
    """The ``lightning-nas report`` command: ``lightning-nas report RUN_DIR [--nb201-table PATH] ...``.

    Returns:
        The exit status: 0 on success, 2 for a missing run directory or table or unusable files (the message goes to
        stderr).
    """
    parser = argparse.ArgumentParser(
        prog="lightning-nas report",
        description="Write RUN_DIR/report.html (and its PNG figures in RUN_DIR/report_figures/) summarising a search "
        "run: settings, search cost, genotype, plots and, for NAS-Bench-201, the ground truth.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's log directory, e.g. lightning_logs/version_0")
    parser.add_argument(
        "--nb201-table",
        default=None,
        metavar="PATH",
        help=f"NAS-Bench-201 CSV table for the ground truth (default: ${ENV_NB201_TABLE} if set, else the table "
        "that ships with the package: NATS-Bench's 200-epoch test accuracies)",
    )
    parser.add_argument(
        "--dataset",
        default="cifar10",
        choices=_DATASETS,
        help="NAS-Bench-201 data set of the per-epoch ground-truth curve (default: cifar10)",
    )
    parser.add_argument(
        "--output", default=None, metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)"
    )
    args = parser.parse_args(argv)
    try:
        path = write_report(args.run_dir, nb201_table=args.nb201_table, dataset=args.dataset, output=args.output)
    except (FileNotFoundError, ValueError) as err:
        print(f"lightning-nas report: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
