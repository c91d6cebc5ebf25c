"""The ``lightning-nas`` console script: a LightningCLI over every search method and data module.

Example:
    ``lightning-nas fit --model DARTS --data ImageFolderSearchDataModule --data.root DIR --trainer.max_epochs 1``

Every run also writes ``genotype.json`` (final genotype and per-epoch history) into its log directory
through the always-present :class:`~lightning_nas.callbacks.GenotypeExport` (options under ``--genotype_export``).
"""

from __future__ import annotations

from lightning import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import lightning_nas.datamodules  # noqa: F401  (registers the data modules as subclasses)
import lightning_nas.methods  # noqa: F401  (registers the search methods as subclasses)
from lightning_nas.callbacks import GenotypeExport


class NASCLI(LightningCLI):
    """LightningCLI with the genotype export always on."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(GenotypeExport, "genotype_export")


def main(args: list[str] | None = None) -> NASCLI:
    """Runs the command line (``args`` for programmatic use and tests; ``None`` reads ``sys.argv``)."""
    return NASCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
