import json
from pathlib import Path

import pytest

from lightning_nas.cli import evolve_parser, main, nsga2_main
from lightning_nas.spaces import NASBench201Genotype


def test_fit_from_the_command_line_writes_genotype_json(cifar10_small_root, tmp_path):
    status = main(
        [
            "fit",
            "--model",
            "DARTS",
            "--data",
            "ImageFolderSearchDataModule",
            "--data.root",
            str(cifar10_small_root),
            "--data.batch_size",
            "32",
            "--model.space_options",
            '{"C": 8, "N": 1}',
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
            "--seed_everything",
            "0",
        ]
    )
    assert status == 0
    (path,) = Path(tmp_path).rglob("genotype.json")
    saved = json.loads(path.read_text())
    assert NASBench201Genotype.from_string(saved["genotype"])
    assert saved["history"] == [saved["genotype"]]
    assert (path.parent / "config.yaml").exists()  # written into the run's log directory


def test_help_documents_every_argument(capsys):
    assert main(["fit", "--model.help", "DARTS"]) == 0
    text = capsys.readouterr().out
    for arg in ("space_options", "order", "weight_lr", "arch_lr", "arch_warmup_epochs", "step_order"):
        assert f"--model.{arg}" in text
    assert "finite-difference" in text  # the Args: docstring text is the help


def test_example_configs_parse(tmp_path):
    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    for config in sorted(root.glob("*.yaml")):
        if "searcher:" in config.read_text():  # a `lightning-nas evolve` config
            parser = evolve_parser()
            searcher = parser.parse_path(str(config)).searcher
            assert searcher.class_path.rsplit(".", 1)[-1] in ("HierarchicalEvolution", "RegularizedEvolution"), config
            continue
        assert main(["fit", "--config", str(config), "--print_config"]) == 0, config


def test_searcher_subcommands_are_dispatched(tmp_path, capsys):
    config = Path(__file__).resolve().parents[1] / "examples" / "configs" / "econas_nb201_tiny.yaml"
    assert main(["evolve", "--config", str(config), "--print_config"]) == 0
    assert "HierarchicalEvolution" in capsys.readouterr().out
    assert main(["nsga2", "--help"]) == 0
    assert "--search.max_flops" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_nsga2_subcommand_searches_a_trained_checkpoint(tmp_path):
    pytest.importorskip("pymoo")
    pytest.importorskip("sklearn")
    from lightning import Trainer

    from lightning_nas.datamodules import DigitsSearchDataModule
    from lightning_nas.methods import GreedyNAS

    options = {"input_size": 8, "width_mult": 0.25, "head_channels": 32, "in_channels": 1}
    model = GreedyNAS(
        space_options=options, num_paths=4, keep_paths=2, pool_size=4, warmup_steps=2, surrogate_size=50, seed=0
    )
    data = DigitsSearchDataModule(batch_size=32, val_fraction=0.1, split="random", paired=False, seed=0)
    trainer = Trainer(
        max_steps=6, logger=False, enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=1
    )
    trainer.fit(model, data)
    ckpt = tmp_path / "supernet.ckpt"
    trainer.save_checkpoint(ckpt)
    max_flops = sorted(model.space.flops(path) for _, path in model.candidate_pool)[-1]
    output = tmp_path / "result.json"
    result = nsga2_main(
        [
            "--ckpt_path", str(ckpt),
            "--data", "DigitsSearchDataModule",
            "--data.batch_size", "64", "--data.val_fraction", "0.1", "--data.split", "random",
            "--data.paired", "false", "--data.seed", "0",
            "--search.max_flops", str(max_flops),
            "--search.population_size", "4", "--search.generations", "1",
            "--search.num_mutations", "2", "--search.num_crossovers", "2",
            "--search.progress", "false", "--search.output_path", str(output),
        ]
    )  # fmt: skip
    assert all(model.space.flops(path) <= max_flops for path in [result["best"], *result["pareto"]])
    saved = json.loads(output.read_text())
    assert saved["best"] == str(result["best"])
