"""Shared by the reproduction tests: where the real data is, and one in-process smoke run of a table."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from lightning_nas.reproduce.command import main

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PACK = SHARED_DATA / "cifar10" / "cifar10-jpeg.bin"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips the test when the real CIFAR-10 pack is not there."""
    if not PACK.is_file():
        pytest.skip(f"the real CIFAR-10 pack is not available: {PACK} is missing (../shared is absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def run_smoke(tmp_path_factory, shared_data) -> Callable[..., tuple[int, str, Path]]:
    """``run_smoke("proxy-table1", *more)``: ``lightning-nas reproduce TABLE --scale smoke`` in-process on the real
    pack, on the CPU, into a fresh folder; gives the exit status, what it printed and the folder.

    (``capsys`` is function-scoped: a module-scoped run redirects stdout by hand.)
    """

    def run(table: str, *more: str) -> tuple[int, str, Path]:
        out = tmp_path_factory.mktemp(f"{table}-smoke")
        stream = io.StringIO()
        with contextlib.redirect_stdout(stream):
            code = main([table, "--scale", "smoke", "--data-root", str(shared_data), "--out", str(out),
                         "--accelerator", "cpu", *more])  # fmt: skip
        return code, stream.getvalue(), out

    return run
