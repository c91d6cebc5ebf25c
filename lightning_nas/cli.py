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

Each subcommand takes ``--help``; ``nsga2`` and ``evolve`` also read ``--config`` YAML files (jsonargparse).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser
from lightning import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import lightning_nas.datamodules  # noqa: F401  (registers the data modules as subclasses)
import lightning_nas.methods  # noqa: F401  (registers the search methods as subclasses)
from lightning_nas.callbacks import GenotypeExport

__all__ = ["NASCLI", "evolve_main", "evolve_parser", "main", "nsga2_main", "nsga2_parser"]

_USAGE = """\
usage: lightning-nas {fit,validate,test,nsga2,evolve,report} ...

  fit, validate, test   one-shot search or training with a Lightning Trainer (LightningCLI; see `fit --help`)
  nsga2                 NSGA-II search over a trained single-path supernet (GreedyNAS)
  evolve                EcoNAS hierarchical evolution or regularized evolution of many trained children
  report RUN_DIR        write RUN_DIR/report.html summarising a run
"""


class NASCLI(LightningCLI):
    """LightningCLI with the genotype export always on."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(GenotypeExport, "genotype_export")


def _fit_cli(args: list[str] | None) -> NASCLI:
    return NASCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


def _instantiate(parser: ArgumentParser, cfg: Any) -> Any:
    # `instantiate` replaced `instantiate_classes` in jsonargparse 4.4x; older releases only have the latter
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    return instantiate(cfg)


def nsga2_parser() -> ArgumentParser:
    """The argument parser of ``lightning-nas nsga2`` (a checkpoint, a data module and the search's arguments)."""
    from lightning_nas.search import NSGA2Search

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
    from lightning_nas.search import save_result

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
    """The argument parser of ``lightning-nas evolve`` (``searcher``: a hierarchical or regularized evolution)."""
    from lightning_nas.search import HierarchicalEvolution, RegularizedEvolution

    parser = ArgumentParser(
        prog="lightning-nas evolve",
        description="Evolutionary search that trains every child with a Lightning Trainer (EcoNAS, AmoebaNet).",
    )
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_subclass_arguments((HierarchicalEvolution, RegularizedEvolution), "searcher", required=True)
    return parser


def evolve_main(args: list[str]) -> list[dict[str, Any]]:
    """``lightning-nas evolve``: run :class:`HierarchicalEvolution` or :class:`RegularizedEvolution`.

    Returns:
        The search history (one record per trained network); the top networks are printed.
    """
    parser = evolve_parser()
    searcher = _instantiate(parser, parser.parse_args(args)).searcher
    history = searcher.run()
    for record in searcher.top():
        print(json.dumps({k: record[k] for k in ("id", "genotype", "accuracy") if k in record}))
    return history


def main(args: list[str] | None = None) -> object:
    """Runs the command line (``args`` for programmatic use and tests; ``None`` reads ``sys.argv``)."""
    argv = sys.argv[1:] if args is None else list(args)
    command = argv[0] if argv else None
    if command == "report":
        from lightning_nas.report import main as report_main

        status = report_main(argv[1:])
        if args is None:
            sys.exit(status)
        return status
    if command == "nsga2":
        return nsga2_main(argv[1:])
    if command == "evolve":
        return evolve_main(argv[1:])
    if command in (None, "-h", "--help"):
        print(_USAGE)
    return _fit_cli(args)


if __name__ == "__main__":  # pragma: no cover
    main()
