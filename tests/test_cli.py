import json
from pathlib import Path

import pytest

from lightning_nas.cli import main
from lightning_nas.spaces import NASBench201Genotype


def test_fit_from_the_command_line_writes_genotype_json(cifar10_small_root, tmp_path):
    main(
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
    (path,) = Path(tmp_path).rglob("genotype.json")
    saved = json.loads(path.read_text())
    assert NASBench201Genotype.from_string(saved["genotype"])
    assert saved["history"] == [saved["genotype"]]
    assert (path.parent / "config.yaml").exists()  # written into the run's log directory


def test_help_documents_every_argument(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--model.help", "DARTS"])
    text = capsys.readouterr().out
    for arg in ("space_options", "order", "weight_lr", "arch_lr", "arch_warmup_epochs", "step_order"):
        assert f"--model.{arg}" in text
    assert "finite-difference" in text  # the Args: docstring text is the help


def test_example_configs_parse(tmp_path):
    root = Path(__file__).resolve().parents[1] / "examples" / "configs"
    for config in sorted(root.glob("*.yaml")):
        with pytest.raises(SystemExit) as exc:
            main(["fit", "--config", str(config), "--print_config"])
        assert exc.value.code in (0, None), config
