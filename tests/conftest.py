"""Shared fixtures: a small real CIFAR-10 subset unpacked from ../shared/data."""

import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UNPACK = SHARED / "data" / "cifar10" / "unpack.py"


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
