"""Proxy data (Na et al., IJCAI 2021): select the pool by a baseline's prediction entropy, before the search."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
from torch import nn
from typing_extensions import override

import lightning_nas.selection as selection
from lightning_nas.baseline import load_baseline, predict_logits, train_baseline
from lightning_nas.checks import check_bool, check_choice, check_number, check_path

from .search import SearchDataModule
from .subset_selection import AlphaSplit, SubsetSelectionDataModule

__all__ = ["EntropyProxyDataModule", "Weighting"]

Weighting = Literal["P1", "P2", "P3", "beta"]

# data module class name -> key of lightning_nas.selection.DEFAULT_BIN_WIDTHS
_DATASET_NAMES = {
    "CIFAR10SearchDataModule": "cifar10",
    "CIFAR100SearchDataModule": "cifar100",
    "SVHNSearchDataModule": "svhn",
    "ImageFolderSearchDataModule": "imagenet",
}


class EntropyProxyDataModule(SubsetSelectionDataModule):
    """Proxy data (Na et al., IJCAI 2021): sample the pool by a baseline's prediction entropy.

    Every pool sample gets the entropy ``H(x) = -sum_y p(y|x) ln p(y|x)`` of a baseline classifier (float64, eval
    mode, no augmentation). ``weighting="P1"`` (the paper's method) draws ``k = floor(fraction * N)`` samples without
    replacement with probabilities from the histogram of ``log10 H`` (bin width ``bin_width``): rare entropies are
    favoured, so the tails (very easy and very hard samples) are kept and the crowded middle is thinned; ``"P2"`` and
    ``"P3"`` are the paper's alternatives; ``"beta"`` is the deterministic selection of the ``round(beta k)``
    lowest- and the rest highest-entropy samples. Not class-balanced (the per-class counts are logged). The selection
    is shuffled with the seed and split in halves: first half weights, second half architecture (spec 5.4).

    The baseline: ``logits`` (precomputed ``(N, K)``), else ``baseline`` (a trained ``nn.Module`` or a checkpoint
    path, see :func:`~lightning_nas.baseline.load_baseline`), else a CIFAR ResNet of ``baseline_depth`` (ResNet-20,
    the paper's CIFAR-10/SVHN baseline; the paper used ResNet-56 for CIFAR-100) trained by a nested
    ``lightning.Trainer`` for ``baseline_epochs`` on the whole pool with the wrapped module's augmentation, on the
    Trainer's device (:func:`~lightning_nas.baseline.train_baseline`). The trained weights and the logits are cached
    on disk (``cache_dir``). Under multi-process runs the baseline trains on global rank 0 in ``prepare_data``; to
    avoid repeating it per run, train it once with :func:`~lightning_nas.baseline.train_baseline` and pass
    ``baseline=`` or rely on the cache.

    Logged besides the per-class counts: the ``log10 H`` histogram of the pool against that of the selection
    (``summary["entropy_histogram"]``, the manifest and the ``selection`` hyperparameters).

    Args:
        datamodule: the search data module to reduce.
        fraction: fraction of the pool to select, in (0, 1] (0.1: 5,000 of CIFAR-10, the paper's main setting).
        weighting: ``"P1"``, ``"P2"``, ``"P3"`` or ``"beta"``.
        beta: the share of lowest-entropy samples of ``weighting="beta"``, in (0, 1) (0.9, the paper's best).
        bin_width: histogram bin width of ``log10 H``; ``None`` takes the paper's value for the data set (CIFAR-10
            0.5, CIFAR-100 0.25, SVHN 0.2, ImageNet/ImageFolder 0.25); required for other data modules.
        baseline: a trained classifier (``nn.Module``) or a checkpoint path; ``None`` trains one.
        logits: precomputed ``(N, K)`` logits (array or ``.npy`` path), row ``i`` for pool id ``i``.
        baseline_epochs: epochs of the trained baseline ([inferred] 200, the usual CIFAR ResNet schedule).
        baseline_depth: depth of the trained CIFAR ResNet (20).
        baseline_batch_size: batch size of the baseline training.
        cache_dir: folder of the baseline and logits cache; ``None`` uses ``$LIGHTNING_NAS_CACHE`` or
            ``~/.cache/lightning_nas``.
        cache: cache the trained baseline and the logits on disk.
        seed: seeds the baseline, the sampling and the split; ``None`` uses the wrapped module's resolved seed.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` (the paper's split of the selection) or ``"heldout"``.
        val_fraction: fraction of the selection in the architecture split.
        progress: show progress bars (baseline training and scoring).

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range, no default ``bin_width`` for this data module; (in ``setup``)
            logits whose length is not the pool's or with NaN, a selection of 0 samples.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> logits = torch.randn(40, 4).numpy() * 5
        >>> dm = EntropyProxyDataModule(data, fraction=0.25, logits=logits, bin_width=0.5, seed=0)
        >>> dm.setup("fit")
        >>> len(dm.selected_ids), sorted(dm.summary["entropy_histogram"])
        (10, ['bin_width', 'edges', 'pool', 'selected'])

    References:
        Na, Mok, Choe & Yoon, "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021, Sec. 4
        (probabilistic selection P1-P3, deterministic selection with beta).
    """

    method = "entropy"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        weighting: Weighting = "P1",
        beta: float = 0.9,
        bin_width: float | None = None,
        baseline: nn.Module | str | None = None,
        logits: Any = None,
        baseline_epochs: int = 200,
        baseline_depth: int = 20,
        baseline_batch_size: int = 128,
        cache_dir: str | None = None,
        cache: bool = True,
        seed: int | None = None,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
        progress: bool = True,
    ) -> None:
        super().__init__(
            datamodule,
            fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=progress,
        )
        name = type(self).__name__
        check_choice(name, "weighting", weighting, ("P1", "P2", "P3", "beta"))
        check_number(name, "beta", beta, low=0, high=1, low_open=True, high_open=True)
        check_number(name, "bin_width", bin_width, low=0, low_open=True, optional=True)
        if bin_width is None:
            dataset = _DATASET_NAMES.get(type(datamodule).__name__)
            defaults = getattr(selection, "DEFAULT_BIN_WIDTHS", {})
            if dataset is None or dataset not in defaults:
                raise ValueError(
                    f"`{type(self).__name__}(bin_width=None)`: no default bin width for "
                    f"{type(datamodule).__name__}; pass `bin_width` (the papers: CIFAR-10 0.5, CIFAR-100 0.25, "
                    "SVHN 0.2, ImageNet 0.25)."
                )
        if baseline is not None and not isinstance(baseline, (nn.Module, str, os.PathLike)):
            raise ValueError(self._msg("baseline", baseline, "must be an nn.Module, a checkpoint path or None"))
        for arg, value in (
            ("baseline_epochs", baseline_epochs),
            ("baseline_depth", baseline_depth),
            ("baseline_batch_size", baseline_batch_size),
        ):
            check_number(name, arg, value, low=1, integer=True)
        if (baseline_depth - 2) % 6 or baseline_depth < 8:
            raise ValueError(self._msg("baseline_depth", baseline_depth, "must be 6n + 2 (20, 32, 44, 56, 110)"))
        check_path(name, "cache_dir", cache_dir)
        check_bool(name, "cache", cache)
        self.weighting = weighting
        self.beta = float(beta)
        self.bin_width = None if bin_width is None else float(bin_width)
        self.baseline = baseline
        self.logits = logits
        self.baseline_epochs = baseline_epochs
        self.baseline_depth = baseline_depth
        self.baseline_batch_size = baseline_batch_size
        self.cache_dir = cache_dir
        self.cache = cache
        self._entropies: np.ndarray | None = None

    @property
    def resolved_bin_width(self) -> float:
        """``bin_width``, or the paper's value for the wrapped data set."""
        if self.bin_width is not None:
            return self.bin_width
        return float(selection.DEFAULT_BIN_WIDTHS[_DATASET_NAMES[type(self.datamodule).__name__]])

    @override
    def settings(self) -> dict[str, Any]:
        if self.logits is not None:
            source = "logits"
        elif self.baseline is None:
            source = f"resnet{self.baseline_depth} ({self.baseline_epochs} epochs)"
        else:
            source = (
                str(self.baseline) if isinstance(self.baseline, (str, os.PathLike)) else type(self.baseline).__name__
            )
        return {
            **super().settings(),
            "weighting": self.weighting,
            "beta": self.beta if self.weighting == "beta" else None,
            "bin_width": self.resolved_bin_width,
            "baseline": source,
        }

    def _baseline_model(self) -> nn.Module:
        if isinstance(self.baseline, nn.Module):
            return self.baseline
        if self.baseline is not None:
            return load_baseline(self.baseline, num_classes=self.num_classes, depth=self.baseline_depth)
        device = self._device()
        accelerator, devices = "cpu", 1
        if device is not None and device.type == "cuda":
            accelerator, devices = "gpu", [device.index or 0]
        elif device is None:
            accelerator = "auto"
        return train_baseline(
            self.datamodule,
            epochs=self.baseline_epochs,
            batch_size=self.baseline_batch_size,
            depth=self.baseline_depth,
            seed=self._resolved_seed(),
            accelerator=accelerator,
            devices=devices,
            cache_dir=self._cache_folder(self.cache, self.cache_dir),
            progress=self.progress,
        )

    @override
    def compute_scores(self, candidates: np.ndarray) -> np.ndarray:
        """The float64 entropies of the candidates (from ``logits`` or the baseline's logits)."""
        if self.logits is not None:
            logits = self._pool_rows("logits", self.logits, candidates, "(N, K)")
        else:
            logits = predict_logits(
                self._baseline_model(),
                self.datamodule.pool_dataloader(candidates),
                device=self._device(),
                cache_dir=self._cache_folder(self.cache, self.cache_dir),
                progress=self.progress,
            )
        self._check_finite("logits", logits, candidates)
        entropies = np.asarray(selection.entropy(logits), dtype=np.float64)
        self._entropies = np.full(int(self.datamodule.pool_size), np.nan)
        self._entropies[candidates] = entropies
        return entropies

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        size = self._fraction_size(candidates)
        if self.weighting == "beta":
            rows = selection.entropy_beta_selection(scores, size, beta=self.beta)
        else:
            rows = selection.entropy_proxy_selection(
                scores, size, bin_width=self.resolved_bin_width, weighting=self.weighting, seed=seed
            )
        return candidates[np.asarray(rows, dtype=np.int64)]

    @override
    def selection_stats(self, selected: np.ndarray) -> dict[str, Any]:
        if self._entropies is None:  # a reused manifest: nothing was scored
            return {}
        scored = np.flatnonzero(~np.isnan(self._entropies))
        hist = selection.entropy_histogram(self._entropies[scored], self.resolved_bin_width)
        rows = np.searchsorted(scored, selected)
        return {
            "entropy_histogram": {
                "bin_width": self.resolved_bin_width,
                "edges": [round(float(e), 6) for e in hist.edges],
                "pool": hist.counts.tolist(),
                "selected": np.bincount(hist.bins[rows], minlength=len(hist.counts)).tolist(),
            }
        }
