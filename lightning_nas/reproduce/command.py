"""``lightning-nas reproduce TABLE``: run a paper's headline table at a scale and compare with the paper's figures."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from .bdp_table4 import BDPTable4
from .coreset_table2 import CoresetTable2
from .econas_rank import EcoNASRankConsistency
from .framework import SCALES, ReproductionTable, run_table, select_rows
from .greedynas_table3 import GreedyNASTable3
from .proxy_table1 import ProxyTable1

__all__ = ["TABLES", "build_parser", "main"]

TABLES: dict[str, type[ReproductionTable]] = {
    BDPTable4.name: BDPTable4,
    CoresetTable2.name: CoresetTable2,
    EcoNASRankConsistency.name: EcoNASRankConsistency,
    GreedyNASTable3.name: GreedyNASTable3,
    ProxyTable1.name: ProxyTable1,
}
"""The reproducible tables by command-line name."""

_EPILOG = """\
scales: smoke (seconds, the tests), cpu (about an hour per table on a 2-core laptop), gpu (a fraction of the
paper's budget on one GPU), paper (the paper's settings). Each table's module docstring lists its settings.

Every row prints the paper's figure next to ours (mean ± std over the seeds) and the search cost; the output folder
gets results.json, results.html and one folder per run (search_cost.json, pruning_history.json, run.json).

examples:
  lightning-nas reproduce bdp-table4 --scale smoke --data-root ../shared/data
  python -m lightning_nas.reproduce bdp-table4 --scale cpu --seeds 0,1,2 --data-root ../shared/data --out runs/t4
"""


def _seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated non-negative integers, e.g. 0,1,2. Got {text!r} instead."
        ) from None
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must be distinct non-negative integers, e.g. 0,1,2. Got {text!r} instead.")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``lightning-nas reproduce``."""
    parser = argparse.ArgumentParser(
        prog="lightning-nas reproduce",
        description="Reproduce a paper's headline table: the paper's figures next to ours, with the search cost.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table", choices=sorted(TABLES), help="the table to reproduce")
    parser.add_argument("--scale", choices=SCALES, default="smoke", help="how big a run (default: smoke)")
    parser.add_argument("--seeds", type=_seeds, default=None, help="comma-separated seeds (default: the scale's)")
    parser.add_argument(
        "--data-root", type=Path, default=Path("data"),
        help="folder holding the data sets (e.g. ../shared/data: the CIFAR-10 pack; torchvision's "
        "cifar-10-batches-py / cifar-100-python; or ImageFolder trees cifar10/, cifar100/). Default: data",
    )  # fmt: skip
    parser.add_argument(
        "--rows", default=None,
        help="run only the rows whose label contains one of these comma-separated parts, e.g. 'core-set 10%%,full'",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/reproduce/TABLE-SCALE)")
    parser.add_argument(
        "--accelerator", default="auto", choices=("auto", "cpu", "gpu", "cuda", "mps"),
        help="Lightning accelerator (default: auto)",
    )  # fmt: skip
    return parser


def _quiet() -> None:
    """Keep the rows readable: Lightning's info lines and its data-loader advice are not what this command reports."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")  # Lightning vs newer torch


def _one_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """``  UserWarning: MESSAGE`` between the rows, without the source line."""
    return f"  {category.__name__}: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lightning-nas reproduce`` and return its exit status.

    0 when at least one row ran; 1 when none could (e.g. no data set found: each row says why); 2 for a command line
    that does not parse (argparse's message names the argument).

    Example:
        >>> main(["no-such-table"])  # stderr: "... error: argument table: invalid choice: 'no-such-table' ..."
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    table = TABLES[args.table]()
    try:
        select_rows(table, args.rows)
    except ValueError as err:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: argument --rows: {err}", file=sys.stderr)
        return 2
    seeds = args.seeds if args.seeds is not None else table.default_seeds(args.scale)
    out = args.out if args.out is not None else Path("runs") / "reproduce" / f"{args.table}-{args.scale}"
    formatwarning = warnings.formatwarning
    with warnings.catch_warnings():
        _quiet()
        warnings.formatwarning = _one_line  # the library's own warnings (a class selected once) stay, on one line
        try:
            results = run_table(
                table, args.scale, seeds, args.data_root, out, accelerator=args.accelerator, rows=args.rows
            )
        finally:
            warnings.formatwarning = formatwarning
    if not any(row["status"] == "ok" for row in results["rows"]):
        print(f"lightning-nas reproduce: error: no row of {args.table} could run (see the lines above).",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
