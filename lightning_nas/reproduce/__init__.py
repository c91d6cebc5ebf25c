"""Reproduction commands: one per headline table of the papers, at four scales (smoke, cpu, gpu, paper).

``lightning-nas reproduce bdp-table4 --scale smoke --seeds 0 --data-root ../shared/data --out runs/t4`` (or
``python -m lightning_nas.reproduce ...``) runs every row of the table for every seed with a plain
``lightning.Trainer``, prints one line per row with the paper's figure next to ours (mean ± std over the seeds) and
the search cost (wall time, samples drawn, data fraction, from :class:`~lightning_nas.callbacks.SearchCost`), and
writes ``results.json`` and ``results.html`` into the output folder.

This is the top ("apps") layer: it may import any part of the library; nothing in the library imports it except
the command line.

Tables (one module each; a new table subclasses :class:`ReproductionTable` and joins ``command.TABLES``):
    ``bdp-table4``: :class:`BDPTable4`, BDP Table 4 (NAS-Bench-201: DARTS, DARTS w/ BDP, β-DARTS, β-DARTS w/ BDP on
    CIFAR-10 and CIFAR-100, looked up in the built-in NAS-Bench-201 table).
    ``proxy-table1``: :class:`ProxyTable1`, proxy data Table 1 (DARTS on 10-50 % of CIFAR-10, P1 entropy selection vs
    random).
    ``coreset-table2``: :class:`CoresetTable2`, core-set Table 2 (PC-DARTS on a k-center core-set vs a random subset
    at 2/5/10 %, random 50 %, all data).
    ``greedynas-table3``: :class:`GreedyNASTable3`, GreedyNAS Table 3 (rank correlation of paths by a small surrogate
    batch vs a large validation set: random, uniform and greedy supernets).
    ``econas-rank``: :class:`EcoNASRankConsistency`, EcoNAS Table 4's Spearman of reduced settings against the
    NAS-Bench-201 table.

:func:`search_nb201` is the step the NAS-Bench-201 tables share: fit a search module, look the derived cell up.
"""

from .bdp_table4 import SETTINGS as BDP_TABLE4_SETTINGS
from .bdp_table4 import BDPTable4, BDPTable4Settings
from .command import TABLES, build_parser, main
from .coreset_table2 import CoresetTable2
from .econas_rank import EcoNASRankConsistency
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
    select_rows,
    summarize,
    write_html,
)
from .greedynas_table3 import GreedyNASTable3
from .nb201_search import NB201Search, search_nb201
from .proxy_table1 import ProxyTable1

__all__ = [
    "BDP_TABLE4_SETTINGS",
    "SCALES",
    "TABLES",
    "BDPTable4",
    "BDPTable4Settings",
    "CoresetTable2",
    "EcoNASRankConsistency",
    "GreedyNASTable3",
    "NB201Search",
    "PaperFigure",
    "ProxyTable1",
    "ReproductionTable",
    "Row",
    "RunContext",
    "Scale",
    "SeedRun",
    "build_parser",
    "format_figure",
    "main",
    "run_table",
    "search_nb201",
    "select_rows",
    "summarize",
    "write_html",
]
