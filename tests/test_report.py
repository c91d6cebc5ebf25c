"""`lightning-nas report`: the page of a real (tiny) run references existing PNGs, looks up NAS-Bench-201, and renders
with every figure loaded in headless Chromium."""

import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from lightning import Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.callbacks import (
    CollapseMonitor,
    GenotypeExport,
    HessianMonitor,
    SearchCost,
    SearchPlots,
    VoEPruning,
)
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.report import ENV_NB201_TABLE, main, read_metrics, write_report

pytest.importorskip("matplotlib")
CHROMIUM = Path("/usr/bin/chromium")
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The image sources, the body's attributes and the text of an HTML page."""

    def __init__(self, text):
        super().__init__()
        self.images, self.body, self.text = [], {}, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "body":
            self.body = dict(attrs)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 2-epoch DARTS search on NAS-Bench-201 with the usual callbacks and a CSVLogger."""
    root = tmp_path_factory.mktemp("runs")
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    datamodule = ArraySearchDataModule(torch.rand(32, 3, 8, 8, generator=g), torch.arange(32) % 4, batch_size=8)
    model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, arch_lr=0.05)
    callbacks = [
        VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.25),
        HessianMonitor(num_iters=3),
        CollapseMonitor(),
        GenotypeExport(),
        SearchCost(),
        SearchPlots(every_n_epochs=2),
    ]
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        callbacks=callbacks,
        logger=CSVLogger(root, name="search"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        limit_val_batches=1,
        log_every_n_steps=1,
    )
    trainer.fit(model, datamodule)
    return Path(trainer.log_dir)


def _copy(run_dir, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("report*"))
    return target


def _table(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "CIFAR10TestAccuracy200Epochs",
                "CIFAR100TestAccuracy200Epochs",
                "ImageNetTestAccuracy200Epochs",
                "ArchitectureString",
            ]
        )
        writer.writerows([c10, c100, c120, arch] for arch, (c10, c100, c120) in rows.items())
    return path


def test_report_of_a_real_run_references_existing_pngs(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    path = write_report(run)
    assert path == run / "report.html"
    page = Page(path.read_text())
    figures = {Path(src).name for src in page.images}
    assert figures == {
        "run_plots_arch_weights.png",
        "run_plots_cell.png",
        "run_plots_remaining_samples.png",
        "genotype_history.png",
        "collapse.png",
        "training_curves.png",
        "hessian_eigenvalue.png",
        "nb201_accuracy.png",  # the ground truth from the built-in table
    }
    assert int(page.body["data-figures"]) == len(page.images)
    for src in page.images:
        assert not Path(src).is_absolute() and src.startswith("report_figures/")
        assert (run / src).read_bytes()[:8] == PNG
    text = "".join(page.text)
    genotype = json.loads((run / "genotype.json").read_text())["genotype"]
    assert genotype in text and "search_space: nasbench201" in text  # the genotype and the hparams
    assert "Search cost" in text and "data_fraction" in text
    assert "interval" in text and "pruning steps" in text  # the pruning settings
    assert "arch/hessian_eigenvalue" in text and "collapse/num_skip" in text  # final metrics
    assert "Ground truth (NAS-Bench-201)" in text


def test_nas_bench_201_ground_truth_from_the_built_in_table_by_default(run_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_NB201_TABLE, raising=False)
    run = _copy(run_dir, tmp_path)
    assert main([str(run)]) == 0
    text = "".join(Page((run / "report.html").read_text()).text).replace("\n", "")
    final = json.loads((run / "genotype.json").read_text())["genotype"]
    builtin = NASBench201Table.default()
    for dataset in ("cifar10", "cifar100", "imagenet16-120"):
        assert f"{dataset} test accuracy (200 epochs){builtin.test_accuracy(final, dataset):.2f} %" in text
    assert "best cell of the benchmark: 94.37 %" in text and "built-in (NATS-Bench" in text
    assert (run / "report_figures" / "nb201_accuracy.png").read_bytes()[:8] == PNG


def test_figures_the_run_did_not_save_are_drawn_from_its_files(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    shutil.rmtree(run / "plots")
    output = tmp_path / "elsewhere" / "page.html"
    assert main([str(run), "--output", str(output)]) == 0
    names = {Path(src).name for src in Page(output.read_text()).images}
    assert {"cell.png", "remaining_samples.png", "genotype_history.png"} <= names
    assert not any(name.startswith("run_") for name in names)  # the run saved no figure of its own
    assert all((output.parent / "report_figures" / name).is_file() for name in names)
    metrics = read_metrics(run / "metrics.csv")
    assert metrics["data/train_remaining"] == {0: 16.0, 1: 12.0}  # the curve the remaining-samples figure draws
    assert not (run / "report.html").exists()
    write_report(run)  # a report inside the run: its figures are not taken for the run's own in the next report
    assert main([str(run), "--output", str(output)]) == 0
    assert {Path(src).name for src in Page(output.read_text()).images} == names


def test_nas_bench_201_ground_truth_from_the_option_or_the_environment(run_dir, tmp_path, monkeypatch):
    run = _copy(run_dir, tmp_path)
    saved = json.loads((run / "genotype.json").read_text())
    rows = {arch: (50.0 + i, 20.0 + i, 10.0 + i) for i, arch in enumerate(dict.fromkeys(saved["history"]))}
    rows["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"] = (
        94.37,
        73.51,
        47.31,
    )
    table = _table(tmp_path / "nb201.csv", rows)
    write_report(run, nb201_table=table, dataset="cifar100")
    text = "".join(Page((run / "report.html").read_text()).text)
    c10, c100, _ = rows[saved["genotype"]]
    assert f"cifar10 test accuracy (200 epochs){c10:.2f} %" in text.replace("\n", "")
    assert f"{c100:.2f} %" in text and "best cell of the benchmark: 94.37 %" in text
    assert (run / "report_figures" / "nb201_accuracy.png").read_bytes()[:8] == PNG
    monkeypatch.setenv(ENV_NB201_TABLE, str(table))
    write_report(run)
    assert "nb201_accuracy.png" in (run / "report.html").read_text()
    monkeypatch.setenv(ENV_NB201_TABLE, str(tmp_path / "missing.csv"))
    with pytest.raises(FileNotFoundError, match=f"given by the environment variable {ENV_NB201_TABLE}"):
        write_report(run)


def test_a_table_with_a_non_nas_bench_201_genotype_only_adds_a_note(tmp_path):
    run = tmp_path / "darts"
    run.mkdir()
    text = (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=[2, 3, 4, 5])"
    )
    (run / "genotype.json").write_text(json.dumps({"genotype": text, "history": [text], "space": "darts"}))
    table = _table(tmp_path / "nb201.csv", {})
    page = write_report(run, nb201_table=table).read_text()
    assert "not a NAS-Bench-201 cell" in page and "cell.png" in page and "collapse.png" in page
    page = write_report(run).read_text()  # the built-in table is used only for NAS-Bench-201 cells, silently
    assert "not a NAS-Bench-201 cell" not in page and "Ground truth" not in page and "cell.png" in page


def test_command_line_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "holds none of the files of a run" in capsys.readouterr().err
    (tmp_path / "empty" / "hparams.yaml").write_text("a: 1\n")
    assert main([str(tmp_path / "empty"), "--nb201-table", str(tmp_path / "t.csv")]) == 2
    assert "given by `--nb201-table` does not exist" in capsys.readouterr().err
    assert main([str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "empty" / "report.html")
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        write_report(tmp_path / "empty", dataset="mnist")


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless check needs Chromium at /usr/bin/chromium (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium_with_every_figure_loaded(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    path = write_report(run)
    page = Page(path.read_text())
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--dump-dom",
        path.resolve().as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    loaded = re.search(r'data-images-loaded="(\d+)"', body)
    total = re.search(r'data-images-total="(\d+)"', body)
    assert loaded is not None, f"the page's load script did not run: {body}"
    assert int(loaded.group(1)) == int(total.group(1)) == int(page.body["data-figures"]) == len(page.images) == 8


def _toy_train(job):  # stand-in for train_child: "accuracy" = share of 3x3 convs, no training
    from lightning_nas.search import ChildResult

    accuracy = job.genotype.count("conv_3x3") / 6
    return ChildResult(job.child_id, (accuracy,) * (job.stop_epoch - job.start_epoch), "", job.stop_epoch, 0.0)


def test_report_of_an_evolution_work_directory_and_an_nsga2_result(tmp_path):
    from lightning_nas.search import HierarchicalEvolution, save_result
    from lightning_nas.spaces import get_search_space

    workdir = tmp_path / "evolution"
    search = HierarchicalEvolution(
        str(workdir),
        data={"class_path": "DigitsSearchDataModule"},
        search_space="nasbench201",
        setting="c4r4s0e3",
        stage_epochs=1,
        num_init=6,
        cycles=2,
        draws=(2, 1, 1),
        promote=(2, 1),
        train_fn=_toy_train,
        progress=False,
    )
    history = search.run()
    space = get_search_space("mobilenet", input_size=32, width_mult=0.25, num_classes=10)
    generator = torch.Generator().manual_seed(0)
    paths = [space.random_path(generator) for _ in range(6)]
    records = [{"path": str(p), "accuracy": i / 10, "flops": space.flops(p), "params": 0} for i, p in enumerate(paths)]
    result = {"best": paths[-1], "pareto": paths[-2:], "records": records, "space": "mobilenet", "constraints": {}}
    save_result(result, workdir / "nsga2_result.json")

    page = Page(write_report(workdir).read_text())
    assert {Path(src).name for src in page.images} == {"evolution.png", "pareto_front.png", "best_path.png"}
    for src in page.images:
        assert (workdir / src).read_bytes()[:8] == PNG
    text = "".join(page.text)
    assert "HierarchicalEvolution" in text and "networks trained" in text
    assert str(len(history)) in text and str(paths[-1]) in text
