"""Shared fixtures: small CPU Trainers, and a small real CIFAR-10 subset unpacked from ../shared/data."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# pytest-xdist's workers (`-n auto` in pyproject) share the cores: each gets cores // workers threads, passed on to
# the processes it spawns (DDP ranks, console scripts), unless OMP_NUM_THREADS is set already (CI sets 1)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _WORKERS))

import pytest  # noqa: E402
import torch  # noqa: E402
from lightning import Trainer  # noqa: E402

if "OMP_NUM_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UNPACK = SHARED / "data" / "cifar10" / "unpack.py"

TINY_TRAINER = {
    "accelerator": "cpu",
    "devices": 1,
    "max_epochs": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


@pytest.fixture
def tiny_trainer(tmp_path) -> Callable[..., Trainer]:
    """A factory of small quiet Trainers: ``tiny_trainer(**overrides) -> Trainer``.

    Defaults: ``TINY_TRAINER`` (one CPU device, one epoch, no logger, no checkpointing, no progress bar or model
    summary) with ``default_root_dir`` the test's ``tmp_path``; every keyword replaces its default. A test file with
    other defaults overrides the fixture with ``functools.partial(tiny_trainer, max_epochs=..., ...)``.

    Example:
        ``tiny_trainer(max_epochs=2, limit_val_batches=0).fit(model, datamodule)``;
        ``tiny_trainer(strategy="ddp_spawn", devices=2)``; ``tiny_trainer(logger=CSVLogger(tmp_path))``.
    """

    def make(**overrides: Any) -> Trainer:
        return Trainer(**{**TINY_TRAINER, "default_root_dir": tmp_path, **overrides})

    return make


@pytest.fixture(scope="session")
def cifar10_small_root(tmp_path_factory):
    """An ImageFolder tree of real CIFAR-10 images: 20 train and 5 test images per class (200 + 50, 32x32 JPEG)."""
    if not UNPACK.is_file():
        pytest.skip(f"the real CIFAR-10 pack is not available: {UNPACK} is missing (../shared is absent)")
    root = tmp_path_factory.mktemp("cifar10_small")
    subprocess.run(
        [sys.executable, str(UNPACK), "--root", str(root), "--train-per-class", "20", "--test-per-class", "5"],
        check=True,
        capture_output=True,
    )
    return root
