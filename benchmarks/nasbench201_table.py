"""The built-in NAS-Bench-201 table: rebuild it from the NATS-Bench CSV, and time its loading.

``build`` regenerates ``lightning_nas/benchmarks/data/nasbench201_test_accuracy.npz`` (the file
``NASBench201Table.default()`` reads) from the CSV export of NATS-Bench's topology search space (``hp="200"``), checks
that the written file gives back every value of the CSV bit for bit, and prints its size and SHA-256. The output is
the same bytes for the same CSV (fixed time stamps, fixed compression level), so a rebuilt file shows no diff unless
the figures changed.

``time`` prints, in this process, the time of the first ``NASBench201Table.default()`` (reading and checking the
file), of a cached call, and of one ``test_accuracy`` look-up; with ``--csv``, also of ``from_csv`` for comparison.

    python benchmarks/nasbench201_table.py build          # ../shared/data/... -> the package's data file
    python benchmarks/nasbench201_table.py build CSV OUT
    python benchmarks/nasbench201_table.py time [--csv CSV]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.benchmarks.nasbench201_table import DATASETS, DEFAULT_TABLE_FILE

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared/data/nasbench201/nats-tss-200epoch-test-accuracy.csv"
DEFAULT_OUT = ROOT / "lightning_nas/benchmarks" / DEFAULT_TABLE_FILE
BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def build(csv: Path, out: Path) -> Path:
    """Writes the table of ``csv`` to ``out`` in the built-in format and checks that it reads back identically."""
    source = NASBench201Table.from_csv(csv)
    source.to_npz(out)
    written = NASBench201Table.from_npz(out)
    mismatches = sum(
        written.test_accuracy(genotype, dataset) != source.test_accuracy(genotype, dataset)
        for genotype in source
        for dataset in DATASETS
    )
    if len(written) != len(source) or mismatches:
        raise SystemExit(f"{out} does not give back {csv}: {mismatches} value(s) differ")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out}: {len(written)} cells x {len(DATASETS)} data sets, {out.stat().st_size:,} bytes")
    print(f"sha256 {digest}; every value equals the CSV's bit for bit")
    return out


def timing(csv: Path | None, repeat: int) -> None:
    """Prints load and look-up times of the built-in table (and of the CSV when given)."""
    start = time.perf_counter()
    table = NASBench201Table.default()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeat):
        NASBench201Table.default()
    cached = (time.perf_counter() - start) / repeat
    start = time.perf_counter()
    for _ in range(repeat):
        table.test_accuracy(BEST_CIFAR10, "cifar10")
    lookup = (time.perf_counter() - start) / repeat
    print(f"NASBench201Table.default(): first call {first * 1e3:.1f} ms, cached call {cached * 1e6:.2f} us")
    print(f"test_accuracy(string): {lookup * 1e6:.1f} us per look-up ({len(table)} cells)")
    if csv is not None:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            NASBench201Table.from_csv(csv)
            times.append(time.perf_counter() - start)
        print(f"NASBench201Table.from_csv(): {np.median(times) * 1e3:.0f} ms (median of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="rebuild the built-in table from the NATS-Bench CSV")
    build_parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV, help=f"default: {DEFAULT_CSV}")
    build_parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    time_parser = commands.add_parser("time", help="time the loading of the built-in table")
    time_parser.add_argument("--csv", type=Path, default=None, help="also time from_csv on this CSV")
    time_parser.add_argument("--repeat", type=int, default=10_000)
    args = parser.parse_args()
    if args.command == "build":
        build(args.csv, args.out)
    else:
        timing(args.csv, args.repeat)


if __name__ == "__main__":
    main()
