"""The installed ``lightning-nas`` console script and the examples, run as a user runs them: as subprocesses.

Each test checks the exit status and the lines a person reads. (Calling ``main(args)`` in-process missed that every
successful ``fit`` exited with status 1.)
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lightning_nas.cli import NASCLI, _fit_cli, evolve_parser

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "examples" / "configs"
SCRIPT = Path(sys.executable).with_name("lightning-nas")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def run(*args, cwd, timeout=300):
    """Runs the console script (or ``python FILE``) the way a shell does; returns the completed process."""
    if not SCRIPT.is_file():
        pytest.skip(f"the console script is not installed next to {sys.executable} (pip install -e .)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, *map(str, args[1:])] if args[:1] == ("python",) else [str(SCRIPT), *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_fit_of_an_example_config_exits_0_and_writes_the_genotype(tmp_path):
    pytest.importorskip("sklearn")
    done = run(
        "fit", "--config", CONFIGS / "darts_nb201_digits.yaml",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.default_root_dir", tmp_path, *QUIET,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "object at 0x" not in done.stdout + done.stderr
    assert "Tip:" not in done.stderr and "LeafSpec" not in done.stderr  # nothing the user did not ask for
    assert "Final genotype: |" in done.stdout + done.stderr
    (path,) = tmp_path.rglob("genotype.json")
    assert json.loads(path.read_text())["genotype"].startswith("|")


def test_fit_help_exits_0_and_lists_the_options(tmp_path):
    done = run("fit", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--config" in done.stdout and "--model" in done.stdout and "--genotype_export" in done.stdout


@pytest.mark.parametrize("args, code", [([], 2), (["--help"], 0), (["nonsense"], 2)])
def test_usage_lists_every_subcommand(tmp_path, args, code):
    done = run(*args, cwd=tmp_path)
    assert done.returncode == code
    usage = done.stdout if code == 0 else done.stderr
    for command in ("fit", "validate", "test", "nsga2", "evolve", "report"):
        assert command in usage.splitlines()[0]
    if code:
        assert "lightning-nas: error:" in done.stderr


def test_a_bad_argument_value_fails_with_one_line_and_status_1(tmp_path):
    pytest.importorskip("sklearn")
    done = run(
        "fit", "--config", CONFIGS / "darts_nb201_digits.yaml", "--model.space_options", '{"C": 8, "bogus": 1}',
        "--trainer.max_epochs", "1", "--trainer.default_root_dir", tmp_path, *QUIET,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("lightning-nas fit: error:") and "bogus" in errors[0]
    assert "unknown option(s) ['bogus']" in errors[0] and "Union" not in errors[0]  # the constructor's own words
    assert "Traceback" not in done.stderr


def test_a_diverging_search_stops_with_one_line_naming_the_learning_rate_and_no_genotype(tmp_path):
    pytest.importorskip("sklearn")
    done = run(
        "fit", "--config", CONFIGS / "darts_nb201_digits.yaml", "--model.weight_lr", "1e6",
        "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "8", "--trainer.limit_val_batches", "1",
        "--trainer.default_root_dir", tmp_path, *QUIET,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("lightning-nas fit: error: DivergenceError:"), errors
    assert "weight_lr=1000000.0" in errors[0] and "Traceback" not in done.stderr
    assert not list(tmp_path.rglob("genotype.json"))


def test_a_command_line_that_does_not_parse_exits_2(tmp_path):
    done = run("fit", "--config", tmp_path / "missing.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "missing.yaml" in done.stderr and "Traceback" not in done.stderr


def test_report_exits_0_on_a_run_and_2_on_a_missing_directory(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    (run_dir / "genotype.json").write_text(json.dumps({"genotype": genotype, "history": [genotype]}))
    done = run("report", run_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run_dir / "report.html") and (run_dir / "report.html").is_file()
    missing = run("report", tmp_path / "nope", cwd=tmp_path)
    assert missing.returncode == 2
    assert [line for line in missing.stderr.splitlines() if line] == [
        line for line in missing.stderr.splitlines() if line.startswith("lightning-nas report: error:")
    ]


def _fit_configs():
    return sorted(c for c in CONFIGS.glob("*.yaml") if "searcher:" not in c.read_text())


@pytest.mark.parametrize("config", _fit_configs(), ids=lambda c: c.stem)
def test_every_fit_config_parses_and_instantiates(config, tmp_path, monkeypatch):
    """Model, data module, callbacks and Trainer of every ``fit`` YAML are built (nothing is searched)."""
    monkeypatch.chdir(tmp_path)
    cli = _fit_cli(["--config", str(config), "--trainer.logger", "false"], run=False)
    assert isinstance(cli, NASCLI)
    assert cli.model is not None and cli.datamodule is not None and cli.trainer is not None
    settings = yaml.safe_load(config.read_text())
    assert type(cli.model).__name__ == settings["model"]["class_path"].rsplit(".", 1)[-1]
    assert type(cli.datamodule).__name__ == settings["data"]["class_path"].rsplit(".", 1)[-1]
    for key, value in settings["model"].get("init_args", {}).items():
        if isinstance(value, (int, float, str, bool)):
            assert cli.model.hparams[key] == value, (config.name, key)


@pytest.mark.parametrize(
    "config", sorted(c for c in CONFIGS.glob("*.yaml") if "searcher:" in c.read_text()), ids=lambda c: c.stem
)
def test_every_evolve_config_parses_and_instantiates(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = evolve_parser()
    searcher = parser.instantiate_classes(parser.parse_path(str(config))).searcher
    expected = yaml.safe_load(config.read_text())["searcher"]["class_path"].rsplit(".", 1)[-1]
    assert type(searcher).__name__ == expected


def test_print_config_of_an_example_runs_nothing(tmp_path):
    done = run("fit", "--config", CONFIGS / "darts_nb201_cifar10.yaml", "--print_config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "class_path: lightning_nas.methods.DARTS" in done.stdout
    assert not (tmp_path / "lightning_logs").exists()


def test_quickstart_prints_the_cell_and_its_ground_truth(tmp_path):
    """The README's quick start (one epoch), from another directory: the built-in table answers the look-up."""
    pytest.importorskip("sklearn")
    done = run("python", REPO / "examples" / "quickstart.py", "--epochs", "1", "--out", tmp_path / "qs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if ":" in line}
    genotype = lines["Genotype"]
    from lightning_nas.benchmarks import NASBench201Table

    expected = NASBench201Table.default().test_accuracy(genotype, "cifar10")
    assert lines["NAS-Bench-201 CIFAR-10 test accuracy of this cell"] == f"{expected:.2f} %"
    assert "object at 0x" not in done.stdout


def test_nsga2_searches_a_trained_checkpoint_and_exits_0(tmp_path):
    pytest.importorskip("pymoo")
    pytest.importorskip("sklearn")
    from lightning import Trainer

    from lightning_nas.datamodules import DigitsSearchDataModule
    from lightning_nas.methods import GreedyNAS

    options = {"input_size": 8, "width_mult": 0.25, "head_channels": 32, "in_channels": 1}
    model = GreedyNAS(
        space_options=options, num_paths=4, keep_paths=2, pool_size=4, warmup_steps=2, surrogate_size=50, seed=0
    )
    data = DigitsSearchDataModule(batch_size=32, val_fraction=0.1, paired=False, seed=0)
    trainer = Trainer(
        max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=1
    )
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "supernet.ckpt")
    max_flops = max(model.space.flops(path) for _, path in model.candidate_pool)
    done = run(
        "nsga2", "--ckpt_path", tmp_path / "supernet.ckpt",
        "--data", "DigitsSearchDataModule", "--data.val_fraction", "0.1", "--data.paired", "false",
        "--data.seed", "0", "--search.max_flops", max_flops, "--search.population_size", "4",
        "--search.generations", "1", "--search.num_mutations", "2", "--search.num_crossovers", "2",
        "--search.progress", "false",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["best"] and all(record["flops"] <= max_flops for record in summary["pareto"])
    assert json.loads((tmp_path / "nsga2_result.json").read_text())["best"] == summary["best"]
    missing = run("nsga2", "--ckpt_path", tmp_path / "nope.ckpt", "--data", "DigitsSearchDataModule",
                  "--search.max_flops", max_flops, cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 1 and "nope.ckpt" in missing.stderr and "Traceback" not in missing.stderr


def test_evolve_of_the_tiny_example_exits_0_and_prints_the_top_networks(tmp_path):
    """The README's EcoNAS command, shrunk: every top network on one JSON line with its fitness."""
    pytest.importorskip("sklearn")
    done = run(
        "evolve", "--config", CONFIGS / "econas_nb201_tiny.yaml",
        "--searcher.init_args.workdir", tmp_path / "work", "--searcher.init_args.num_init", "4",
        "--searcher.init_args.cycles", "1", "--searcher.init_args.draws", "[2, 1, 1]",
        "--searcher.init_args.promote", "[1, 1]", "--searcher.init_args.top_k", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert records and len(records) <= 2
    for record in records:
        assert {"id", "genotype", "fitness", "stage_accuracies"} <= set(record)
        assert isinstance(record["fitness"], float) and record["genotype"].startswith("|")
    assert [r["fitness"] for r in records] == sorted((r["fitness"] for r in records), reverse=True)
    assert "object at 0x" not in done.stdout + done.stderr and "Tip:" not in done.stderr
