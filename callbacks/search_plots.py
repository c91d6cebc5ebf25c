"""Draws a search as it runs: architecture-weight heatmaps, the derived cell and the remaining samples."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

__all__ = ["SearchPlots"]

_SPLITS = ("train", "val")


class SearchPlots(Callback):
    """Writes the plots of a search every few epochs as PNG files and to the Trainer's loggers.

    * ``arch_weights.png``: the architecture weights per edge and operation, one heatmap per cell type, the derived
      genotype's choices framed (:func:`~lightning_nas.plots.plot_arch_weights`, BDP's Fig. 4); for modules whose
      supernet has ``op_weights``/``edge_ops`` (the DARTS family);
    * ``cell.png``: the derived genotype as a diagram (:func:`~lightning_nas.plots.plot_cell`); for modules with
      ``genotype()``;
    * ``candidate_pool.png``: the loss distribution of the candidate pool
      (:func:`~lightning_nas.plots.plot_candidate_pool`); for modules with a non-empty ``candidate_pool`` (GreedyNAS);
    * ``remaining_samples.png``: the samples of each split, in all and per class, used by every epoch so far
      (:func:`~lightning_nas.plots.plot_remaining_samples`, BDP's Fig. 3b); for data modules with
      ``active_ids(split)`` (and ``labels`` for the per-class panels). The counts are read at the start of each
      training epoch, so data pruning (:class:`~lightning_nas.callbacks.VoEPruning`) shows from the epoch it affects.

    The files are (over)written at the end of every ``every_n_epochs``-th epoch and at the end of fit, into
    ``dirpath`` (default ``<log dir>/plots``); ``keep_epochs`` also keeps a copy per epoch
    (``arch_weights_epoch007.png``). Loggers whose ``experiment`` has ``add_figure`` (TensorBoard) also receive the
    figures, tagged ``search/arch_weights``, ``search/cell`` and ``search/remaining_samples`` with the epoch as step;
    other loggers get the PNG files only. Only global rank 0 draws and writes; the sample counts are the same on every
    rank (removals are identical on all ranks). The counts per epoch are part of the callback's state, so a resumed run
    draws the whole history. Needs matplotlib (``pip install 'lightning-nas[plots]'``).

    Args:
        every_n_epochs: draw at the end of epochs ``n - 1, 2n - 1, ...`` (0-based) and at the end of fit.
        dirpath: folder of the PNG files; ``None`` uses ``<trainer.log_dir>/plots`` (``default_root_dir`` without a
            logger).
        arch_weights: draw the heatmap.
        cell: draw the cell diagram.
        remaining_samples: draw the remaining samples.
        candidate_pool: draw the candidate pool's losses.
        keep_epochs: also keep every drawing under a per-epoch file name.
        dpi: resolution of the PNG files.

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> from lightning import Trainer
        >>> plots = SearchPlots(every_n_epochs=5)
        >>> trainer = Trainer(callbacks=[plots], logger=False, enable_progress_bar=False)
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        dirpath: str | None = None,
        arch_weights: bool = True,
        cell: bool = True,
        remaining_samples: bool = True,
        candidate_pool: bool = True,
        keep_epochs: bool = False,
        dpi: int = 100,
    ) -> None:
        for name, value in (("every_n_epochs", every_n_epochs), ("dpi", dpi)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`SearchPlots({name}={value!r})`: `{name}` must be an int >= 1. Got {value!r} instead."
                )
        for name, value in (
            ("arch_weights", arch_weights),
            ("cell", cell),
            ("remaining_samples", remaining_samples),
            ("candidate_pool", candidate_pool),
            ("keep_epochs", keep_epochs),
        ):
            if not isinstance(value, bool):
                raise ValueError(f"`SearchPlots({name}={value!r})`: `{name}` must be a bool. Got {value!r} instead.")
        self.every_n_epochs = every_n_epochs
        self.dirpath = dirpath
        self.arch_weights = arch_weights
        self.cell = cell
        self.remaining_samples = remaining_samples
        self.candidate_pool = candidate_pool
        self.keep_epochs = keep_epochs
        self.dpi = dpi
        self._counts: dict[int, dict[str, list[int]]] = {}
        self._drawn_epoch: int | None = None
        self._warned: set[str] = set()
        self.files: dict[str, str] = {}
        """The latest file written per plot name (``"arch_weights"``, ``"cell"``, ``"remaining_samples"``,
        ``"candidate_pool"``)."""

    @property
    def sample_counts(self) -> dict[int, dict[str, list[int]]]:
        """``{epoch: {"train": [total], "val": [total], "train_classes": [...], "val_classes": [...]}}``."""
        return {epoch: {k: list(v) for k, v in entry.items()} for epoch, entry in sorted(self._counts.items())}

    # ---------------------------------------------------------------------------------------------- recording
    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.remaining_samples:
            return
        datamodule = getattr(trainer, "datamodule", None)
        active_ids = getattr(datamodule, "active_ids", None)
        if not callable(active_ids):
            return
        try:
            labels = getattr(datamodule, "labels", None)
        except RuntimeError:
            labels = None
        entry: dict[str, list[int]] = {}
        for split in _SPLITS:
            ids = np.asarray(active_ids(split), dtype=np.int64)
            entry[split] = [len(ids)]
            if labels is not None:
                labels_ = np.asarray(labels, dtype=np.int64).reshape(-1)
                num_classes = getattr(datamodule, "num_classes", None)
                minlength = int(num_classes) if isinstance(num_classes, (int, np.integer)) else int(labels_.max()) + 1
                entry[f"{split}_classes"] = np.bincount(labels_[ids], minlength=minlength).tolist()
        self._counts[trainer.current_epoch] = entry

    # ------------------------------------------------------------------------------------------------ drawing
    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            rank_zero_warn(message)

    def _figures(self, pl_module: LightningModule, epoch: int) -> dict[str, Any]:
        from lightning_nas import plots

        figures: dict[str, Any] = {}
        genotype_fn = getattr(pl_module, "genotype", None)
        genotype = genotype_fn() if callable(genotype_fn) else None
        if self.arch_weights:
            supernet = getattr(pl_module, "supernet", pl_module)
            if callable(getattr(supernet, "op_weights", None)) and callable(getattr(supernet, "edge_ops", None)):
                figures["arch_weights"] = plots.plot_arch_weights(
                    plots.arch_weights(supernet), genotype=genotype, title=f"architecture weights, epoch {epoch}"
                )
            else:
                self._warn_once(
                    "arch_weights",
                    f"SearchPlots: `{type(pl_module).__name__}` has no supernet with `op_weights`/`edge_ops`; "
                    "no architecture-weight heatmap is drawn.",
                )
        if self.cell and genotype is not None:
            try:
                figures["cell"] = plots.plot_cell(genotype, title=f"derived genotype, epoch {epoch}")
            except TypeError:
                self._warn_once("cell", f"SearchPlots: no diagram for genotypes of type {type(genotype).__name__}.")
        pool = getattr(pl_module, "candidate_pool", None) if self.candidate_pool else None
        if pool:
            figures["candidate_pool"] = plots.plot_candidate_pool(pool, title=f"candidate pool, epoch {epoch}")
        if self.remaining_samples and self._counts:
            epochs = sorted(self._counts)
            remaining = {s: [self._counts[e][s][0] for e in epochs] for s in _SPLITS if s in self._counts[epochs[0]]}
            class_counts = None
            if all(f"{s}_classes" in self._counts[e] for s in _SPLITS for e in epochs):
                class_counts = {
                    s: {
                        c: [self._counts[e][f"{s}_classes"][c] for e in epochs]
                        for c in range(len(self._counts[epochs[0]][f"{s}_classes"]))
                    }
                    for s in _SPLITS
                }
            figures["remaining_samples"] = plots.plot_remaining_samples(
                remaining, epochs=epochs, class_counts=class_counts, title="remaining samples"
            )
        return figures

    def _draw(self, trainer: Trainer, pl_module: LightningModule, epoch: int) -> None:
        if self._drawn_epoch == epoch:
            return
        # `trainer.log_dir` is a collective under DDP (it broadcasts rank 0's): every rank asks, rank 0 draws
        dirpath = self.dirpath or os.path.join(trainer.log_dir or trainer.default_root_dir, "plots")
        self._drawn_epoch = epoch
        if not trainer.is_global_zero:
            return
        figures = self._figures(pl_module, epoch)
        os.makedirs(dirpath, exist_ok=True)
        for name, fig in figures.items():
            path = os.path.join(dirpath, f"{name}.png")
            fig.savefig(path, dpi=self.dpi)
            self.files[name] = path
            if self.keep_epochs:
                fig.savefig(os.path.join(dirpath, f"{name}_epoch{epoch:03d}.png"), dpi=self.dpi)
            for logger in trainer.loggers:
                add_figure = getattr(getattr(logger, "experiment", None), "add_figure", None)
                if callable(add_figure):
                    add_figure(f"search/{name}", fig, global_step=epoch, close=False)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._draw(trainer, pl_module, trainer.current_epoch)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # after fit, `current_epoch` counts the finished epochs: the last one is `current_epoch - 1`
        self._draw(trainer, pl_module, max(trainer.current_epoch - 1, 0))

    # ------------------------------------------------------------------------------------------------- state
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"counts": {int(e): {k: list(v) for k, v in entry.items()} for e, entry in self._counts.items()}}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        counts = state_dict.get("counts", {})
        self._counts = {int(e): {k: [int(x) for x in v] for k, v in entry.items()} for e, entry in counts.items()}
