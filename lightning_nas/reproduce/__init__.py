"""Reproduction commands: one per headline table of the papers, at four scales (smoke, cpu, gpu, paper).

``lightning-nas reproduce bdp-table4 --scale smoke --seeds 0 --data-root ../shared/data --out runs/t4`` (or
``python -m lightning_nas.reproduce ...``) runs every row of the table for every seed with a plain
``lightning.Trainer``, prints one line per row with the paper's figure next to ours (mean ± std over the seeds) and
the search cost (wall time, samples drawn, data fraction, from :class:`~lightning_nas.callbacks.SearchCost`), and
writes ``results.json`` and ``results.html`` into the output folder.

This is the top ("apps") layer: it may import any part of the library; nothing in the library imports it except
the command line.

Tables:
    ``bdp-table4``: :class:`BDPTable4`, BDP Table 4 (NAS-Bench-201: DARTS, DARTS w/ BDP, β-DARTS, β-DARTS w/ BDP on
    CIFAR-10 and CIFAR-100, looked up in the built-in NAS-Bench-201 table).
"""

from .bdp_table4 import SETTINGS as BDP_TABLE4_SETTINGS
from .bdp_table4 import BDPTable4, BDPTable4Settings
from .command import TABLES, build_parser, main
from .framework import (
    SCALES,
    PaperFigure,
    ReproductionTable,
    Row,
    RunContext,
    Scale,
    SeedRun,
    format_figure,
    run_table,
    summarize,
    write_html,
)

__all__ = [
    "BDP_TABLE4_SETTINGS",
    "SCALES",
    "TABLES",
    "BDPTable4",
    "BDPTable4Settings",
    "PaperFigure",
    "ReproductionTable",
    "Row",
    "RunContext",
    "Scale",
    "SeedRun",
    "build_parser",
    "format_figure",
    "main",
    "run_table",
    "summarize",
    "write_html",
]
