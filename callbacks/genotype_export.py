"""Writes the final genotype of a search and its per-epoch history as JSON."""

from __future__ import annotations

import json
import os
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lightning_nas.checks import check_path


class GenotypeExport(Callback):
    """Records ``pl_module.genotype()`` every epoch and writes ``genotype.json`` at the end of fit.

    The file holds ``{"genotype": <final string>, "history": [<string of epoch 0>, ...], "space": <name>}``
    and lands in ``dirpath``, by default the run's log directory (``trainer.log_dir``). Modules without a
    ``genotype()`` method are ignored. The history is part of the callback's state, so a run resumed from a
    checkpoint writes the whole history. Only global rank 0 writes.

    Args:
        filename: name of the JSON file.
        dirpath: folder for the file; ``None`` uses ``trainer.log_dir``.

    Example:
        >>> from lightning import Trainer
        >>> trainer = Trainer(callbacks=[GenotypeExport()], logger=False, enable_progress_bar=False)
    """

    def __init__(self, filename: str = "genotype.json", dirpath: str | None = None) -> None:
        if not isinstance(filename, str) or not filename or os.sep in filename:
            raise ValueError(
                f"`GenotypeExport(filename={filename!r})`: `filename` must be a plain file name. "
                f"Got {filename!r} instead."
            )
        check_path("GenotypeExport", "dirpath", dirpath)
        self.filename = filename
        self.dirpath = dirpath
        self._history: dict[int, str] = {}
        self._space: str | None = None

    @property
    def history(self) -> list[str]:
        """The genotype string recorded for each finished epoch, in epoch order."""
        return [self._history[epoch] for epoch in sorted(self._history)]

    def _record(self, trainer: Trainer, pl_module: LightningModule) -> None:
        genotype_fn = getattr(pl_module, "genotype", None)
        if not callable(genotype_fn) or trainer.sanity_checking:
            return
        genotype = genotype_fn()
        self._space = getattr(genotype, "space", None)
        self._history[trainer.current_epoch] = str(genotype)

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # validation (and a ModelCheckpoint save) can come before on_train_epoch_end: record now as well
        if trainer.training or trainer.state.fn == "fit":
            self._record(trainer, pl_module)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, pl_module)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        genotype_fn = getattr(pl_module, "genotype", None)
        if not callable(genotype_fn):
            return
        final = str(genotype_fn())
        rank_zero_info(f"Final genotype: {final}")
        # `trainer.log_dir` broadcasts under DDP: every rank must ask for it, only rank 0 writes
        dirpath = self.dirpath or trainer.log_dir or trainer.default_root_dir
        if not trainer.is_global_zero:
            return
        os.makedirs(dirpath, exist_ok=True)
        path = os.path.join(dirpath, self.filename)
        with open(path, "w") as f:
            json.dump({"genotype": final, "history": self.history, "space": self._space}, f, indent=2)
        rank_zero_info(f"Genotype written to {path}")

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": {int(k): v for k, v in self._history.items()}, "space": self._space}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._history = {int(k): v for k, v in state_dict.get("history", {}).items()}
        self._space = state_dict.get("space")
