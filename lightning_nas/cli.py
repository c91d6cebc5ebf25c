"""The ``lightning-nas`` console script: a LightningCLI over every method and data module, plus three searchers.

Examples:
    ``lightning-nas fit --model DARTS --data ImageFolderSearchDataModule --data.root DIR --trainer.max_epochs 1``
    trains a one-shot search (``fit``/``validate``/``test``: Lightning's own subcommands). Every such run also writes
    ``genotype.json`` (final genotype and per-epoch history) into its log directory through the always-present
    :class:`~lightning_nas.callbacks.GenotypeExport` (options under ``--genotype_export``).

    ``lightning-nas nsga2 --ckpt_path supernet.ckpt --data CIFAR10SearchDataModule --data.root data
    --search.max_flops 3e7`` runs the NSGA-II search of GreedyNAS over a trained single-path supernet
    (:class:`~lightning_nas.search.NSGA2Search`).

    ``lightning-nas evolve --config examples/configs/econas_nb201_tiny.yaml`` runs EcoNAS's hierarchical evolution
    or regularized evolution (:class:`~lightning_nas.search.HierarchicalEvolution`,
    :class:`~lightning_nas.search.RegularizedEvolution`); a killed search resumes from its work directory.

    ``lightning-nas report RUN_DIR`` writes ``RUN_DIR/report.html`` and its figures (:mod:`lightning_nas.report`).

    ``lightning-nas reproduce bdp-table4 --scale smoke`` runs a paper's headline table (:mod:`lightning_nas.reproduce`).

Each subcommand takes ``--help``; ``nsga2`` and ``evolve`` also read ``--config`` YAML files (jsonargparse).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
import warnings
from typing import Any

import lightning_utilities.core.rank_zero as rank_zero
from jsonargparse import ActionConfigFile, ArgumentParser
from jsonargparse.typing import PositiveInt
from lightning import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import lightning_nas.datamodules  # noqa: F401  (registers the data modules as subclasses)
import lightning_nas.methods  # noqa: F401  (registers the search methods as subclasses)
from lightning_nas.callbacks import GenotypeExport
from lightning_nas.methods.divergence import DivergenceError
from lightning_nas.report import main as report_main
from lightning_nas.reproduce import main as reproduce_main
from lightning_nas.search import HierarchicalEvolution, NSGA2Search, RegularizedEvolution, save_result
from lightning_nas.search.executors import ExecutorKind, open_executor

__all__ = ["NASCLI", "evolve_main", "evolve_parser", "main", "nsga2_main", "nsga2_parser"]

_USAGE = """\
usage: lightning-nas {fit,validate,test,predict,nsga2,evolve,report,reproduce} ...

  fit, validate,        one-shot search or training with a Lightning Trainer (LightningCLI; see `fit --help`)
  test, predict
  nsga2                 NSGA-II search over a trained single-path supernet (GreedyNAS)
  evolve                EcoNAS hierarchical evolution or regularized evolution of many trained children
  report RUN_DIR        write RUN_DIR/report.html summarising a run
  reproduce TABLE       run a paper's headline table (bdp-table4) at a scale: smoke, cpu, gpu, paper

Each command takes --help."""
_COMMANDS = ("fit", "validate", "test", "predict", "nsga2", "evolve", "report", "reproduce")
ENV_TRACEBACK = "LIGHTNING_NAS_TRACEBACK"


class NASCLI(LightningCLI):
    """LightningCLI with the genotype export always on."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(GenotypeExport, "genotype_export")


def _fit_cli(args: list[str] | None, run: bool = True) -> NASCLI:
    return NASCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


def _instantiate(parser: ArgumentParser, cfg: Any) -> Any:
    # `instantiate` replaced `instantiate_classes` in jsonargparse 4.4x; older releases only have the latter
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    return instantiate(cfg)


def nsga2_parser() -> ArgumentParser:
    """The argument parser of ``lightning-nas nsga2`` (a checkpoint, a data module and the search's arguments)."""
    parser = ArgumentParser(prog="lightning-nas nsga2", description=NSGA2Search.__doc__.split("\n\n")[0])
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--ckpt_path", type=str, required=True, help="checkpoint of the trained supernet module")
    parser.add_argument(
        "--module_class", type=str, default="GreedyNAS", help="module class: SPOS, GreedyNAS or a dotted path"
    )
    parser.add_argument("--map_location", type=str | None, default=None, help="e.g. cpu or cuda")
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    parser.add_class_arguments(NSGA2Search, "search")
    return parser


def nsga2_main(args: list[str]) -> dict[str, Any]:
    """``lightning-nas nsga2``: load a trained SPOS/GreedyNAS checkpoint and run :class:`NSGA2Search` on it.

    The result is written as JSON to ``--search.output_path`` (default ``nsga2_result.json``) and the best path and
    the Pareto set are printed.

    Returns:
        The search result (:meth:`NSGA2Search.run`).
    """
    parser = nsga2_parser()
    cfg = parser.parse_args(args)
    init = _instantiate(parser, cfg)
    result = init.search.run_from_checkpoint(
        cfg.ckpt_path, init.data, module_class=cfg.module_class, map_location=cfg.map_location
    )
    pareto = {str(path) for path in result["pareto"]}
    summary = {"best": str(result["best"]), "pareto": [r for r in result["records"] if r["path"] in pareto]}
    print(json.dumps(summary, indent=2))
    if cfg.search.output_path is None:
        save_result(result, "nsga2_result.json")
    return result


def evolve_parser() -> ArgumentParser:
    """The argument parser of ``lightning-nas evolve``: the searcher and where its children train.

    ``searcher`` is a hierarchical or regularized evolution; ``executor``, ``max_workers`` and ``scheduler_address``
    choose the executor (:func:`~lightning_nas.search.open_executor`), also as top-level YAML keys.
    """
    parser = ArgumentParser(
        prog="lightning-nas evolve",
        description="Evolutionary search that trains every child with a Lightning Trainer (EcoNAS, AmoebaNet).",
    )
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_subclass_arguments((HierarchicalEvolution, RegularizedEvolution), "searcher", required=True)
    parser.add_argument(
        "--executor",
        type=ExecutorKind | None,
        default=None,
        help="where the children train: 'inprocess' (one after another in this process), 'processes' (a local "
        "process pool of --max_workers) or 'dask' (a Dask cluster: the scheduler at --scheduler_address, or a local "
        "cluster of --max_workers single-threaded worker processes; pip install 'lightning-nas[dask]'). Closed at "
        "the end of the run. Default: the searcher's own `executor` (in-process unless the config sets one).",
    )
    parser.add_argument(
        "--max_workers",
        type=PositiveInt | None,
        default=None,
        help="worker processes of --executor processes or of a local Dask cluster (default: one per CPU)",
    )
    parser.add_argument(
        "--scheduler_address",
        type=str | None,
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786 (with --executor dask); start its "
        "workers with one thread each (dask worker ADDRESS --nthreads 1)",
    )
    return parser


def evolve_main(args: list[str]) -> list[dict[str, Any]]:
    """``lightning-nas evolve``: run :class:`HierarchicalEvolution` or :class:`RegularizedEvolution`.

    The children train on ``--executor`` (:func:`~lightning_nas.search.open_executor`), which is closed at
    the end, also when the search fails; a killed search resumes when the command is run again on the same
    ``workdir``. Each of the top networks (:meth:`~lightning_nas.search.HierarchicalEvolution.top`) is printed as
    one JSON line: ``id``, ``genotype``, ``fitness`` and ``stage_accuracies``.

    Returns:
        The search history (one record per trained network).

    Raises:
        ValueError: If ``--executor`` and the searcher's ``executor`` are both given, or ``--max_workers`` /
            ``--scheduler_address`` do not apply to the executor.
    """
    parser = evolve_parser()
    cfg = parser.parse_args(args)
    searcher = _instantiate(parser, cfg).searcher
    if cfg.executor is None and (cfg.max_workers is not None or cfg.scheduler_address is not None):
        given = "--max_workers" if cfg.max_workers is not None else "--scheduler_address"
        raise ValueError(
            f"`lightning-nas evolve`: {given} needs --executor (processes or dask). Got --executor None instead."
        )
    if cfg.executor is not None and searcher.executor is not None:
        raise ValueError(
            "`lightning-nas evolve`: give the executor once, with --executor or as `searcher.init_args.executor`. "
            f"Got --executor {cfg.executor} and a {type(searcher.executor).__name__}."
        )
    with contextlib.ExitStack() as stack:
        if cfg.executor is not None:
            searcher.executor = stack.enter_context(
                open_executor(cfg.executor, max_workers=cfg.max_workers, scheduler_address=cfg.scheduler_address)
            )
        history = searcher.run()
    for record in searcher.top():
        print(json.dumps({key: record[key] for key in ("id", "genotype", "fitness", "stage_accuracies")}))
    return history


_USER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    ImportError,
    DivergenceError,  # a diverged search: what diverged and the likely cause, in one line
)


def _drop_tips(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip:")


def _quiet_lightning() -> None:
    """Keeps the console to what the user asked for.

    Lightning's product tips and a known torch/Lightning deprecation notice (internal to Lightning, nothing a user can
    act on) are dropped; everything else Lightning says is kept.
    """
    rank_zero.log.addFilter(_drop_tips)  # the logger Lightning's `rank_zero_info` writes to
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def _fail(command: str | None, err: BaseException) -> int:
    """Prints one line naming the command and the reason (no traceback) and returns the exit status 1."""
    if os.environ.get(ENV_TRACEBACK):
        traceback.print_exception(err)
    while isinstance(err.__cause__, _USER_ERRORS):  # jsonargparse wraps a constructor's own error: show that one
        err = err.__cause__
    reason = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    reason = " ".join(reason.split())  # one line
    prog = "lightning-nas" + (f" {command}" if command else "")
    print(f"{prog}: error: {type(err).__name__}: {reason}", file=sys.stderr)
    if not os.environ.get(ENV_TRACEBACK):
        print(f"(set {ENV_TRACEBACK}=1 for the traceback)", file=sys.stderr)
    return 1


def main(args: list[str] | None = None) -> int:
    """Runs the command line and returns its exit status (``args`` for programmatic use; ``None`` reads ``sys.argv``).

    0 on success; 2 for a command line that does not parse (the parser's usage and message on stderr); 1 when a
    run fails on a bad argument value or a missing file, with one line on stderr naming the reason (set
    ``LIGHTNING_NAS_TRACEBACK=1`` for the traceback). Other exceptions (bugs) propagate with their traceback.
    ``nsga2_main``, ``evolve_main`` and :class:`NASCLI` give the results themselves to Python callers.

    Example:
        >>> main(["--help"])  # doctest: +ELLIPSIS
        usage: lightning-nas {fit,validate,test,predict,nsga2,evolve,report,reproduce} ...
        ...
        0
    """
    argv = sys.argv[1:] if args is None else list(args)
    command = argv[0] if argv else None
    if command in ("-h", "--help"):
        print(_USAGE)
        return 0
    if command not in _COMMANDS:
        print(_USAGE, file=sys.stderr)
        what = f"unknown command {command!r}" if command else "a command is required"
        print(f"lightning-nas: error: {what}; choose from {', '.join(_COMMANDS)}.", file=sys.stderr)
        return 2
    _quiet_lightning()
    try:
        if command == "report":
            return report_main(argv[1:])
        if command == "reproduce":
            return reproduce_main(argv[1:])
        if command == "nsga2":
            nsga2_main(argv[1:])
        elif command == "evolve":
            evolve_main(argv[1:])
        else:
            _fit_cli(None if args is None else argv)  # None: LightningCLI reads sys.argv itself
    except SystemExit as exit_:  # the parsers exit on --help (0) and on a command line that does not parse (2)
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except _USER_ERRORS as err:
        return _fail(command, err)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
