"""Core-set selection for NAS (Shim et al., 2021): per-class greedy k-center on image embeddings."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from typing_extensions import override

import lightning_nas.selection as selection
from lightning_nas.checks import check_bool, check_number, check_path
from lightning_nas.data import seeded_rng
from lightning_nas.embeddings import extract_features, feature_extractor, normalization_of

from .search import SearchDataModule
from .subset_selection import AlphaSplit, SubsetSelectionDataModule

__all__ = ["CoresetDataModule"]


class CoresetDataModule(SubsetSelectionDataModule):
    """Core-set selection for NAS (Shim et al., 2021): per-class greedy k-center on image embeddings.

    For every class ``c`` with samples ``X_c`` (spec 4.2, Algorithm 1): ``initial_per_class`` random samples form
    ``s0``; greedy k-center (minimax facility location, Euclidean distance on the raw embeddings) then adds
    ``k_c = round(fraction * |X_c|)`` samples (at least 1), or ``count`` samples; the selection of the class is what
    was added, **without** ``s0``. The core-set is the union over the classes (class-balanced, ``|Q| ~ fraction * N``).
    A class whose budget equals its size is taken whole.

    The embeddings are the 2048-d pool features of an ImageNet-pretrained Inception-v3 at 299x299 (spec 4.1; the
    paper's ablation found it better than ResNet-50), computed once over the pool with the wrapped module's eval
    transform (undone and replaced by ImageNet's normalisation inside the extractor), on the Trainer's device, and
    cached on disk (``cache_dir``), so the next run with the same data and extractor loads them. Or pass them:
    ``features`` (an ``(N, D)`` array or ``.npy`` file, row ``i`` for pool id ``i``).

    The paper updates the architecture on the data set's validation split while the weights use the core-set
    (``alpha_split="heldout"``); the default here is the DARTS-style 50/50 split of the core-set
    (``alpha_split="darts"``), which needs no held-out data (spec ambiguity 18). The core-set is for the search only:
    retrain the discovered architecture on the full training set.

    Args:
        datamodule: the search data module to reduce.
        fraction: per-class selection ratio, in (0, 1].
        count: samples to select per class instead of ``fraction`` (when given, ``fraction`` is not used).
        extractor: ``"inception_v3"``, ``"resnet50"`` (or another torchvision name with an ``fc`` head), or an
            ``nn.Module`` mapping the wrapped module's eval-transformed images to features.
        weights: the torchvision weights of a named extractor: ``"DEFAULT"``, a weights file path, or ``None`` (random,
            for tests). Without internet access, pass the downloaded file.
        image_size: input side of a named extractor (``None``: 299 for Inception-v3, 224 otherwise).
        features: precomputed ``(N, D)`` features (array or ``.npy`` path); skips the extractor.
        initial_per_class: size of the random initial set ``s0`` of each class (unspecified by the paper; 1).
        cache_dir: folder of the embedding cache; ``None`` uses ``$LIGHTNING_NAS_CACHE`` or ``~/.cache/lightning_nas``.
        cache: cache the embeddings on disk.
        seed: seeds ``s0`` and the split; ``None`` uses the wrapped module's resolved seed.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` (50/50 split of the core-set) or ``"heldout"`` (core-set of the weight split for the
            weights, the wrapped module's architecture split for alpha).
        val_fraction: fraction of the core-set in the architecture split (``"darts"``).
        progress: show a progress bar while embedding.

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range; (in ``setup``) a class smaller than its budget plus
            ``initial_per_class``, features with NaN or infinite values, or features whose length is not the pool's.
        RuntimeError: (in ``setup``) the pretrained weights cannot be downloaded (the message says how to pass them).

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> dm = CoresetDataModule(data, fraction=0.2, features=torch.rand(40, 8).numpy(), seed=0)
        >>> dm.setup("fit")
        >>> np.bincount(dm.labels[dm.selected_ids]).tolist()
        [2, 2, 2, 2]

    References:
        Shim, Kong & Kang, "Core-set Sampling for Efficient Neural Architecture Search", ICML 2021 workshop,
        Algorithm 1; Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
        ICLR 2018 (greedy k-center).
    """

    method = "coreset"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        count: int | None = None,
        extractor: str | nn.Module = "inception_v3",
        weights: str | None = "DEFAULT",
        image_size: int | None = None,
        features: Any = None,
        initial_per_class: int = 1,
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
            None if count is not None else fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=progress,
        )
        name = type(self).__name__
        check_number(name, "count", count, low=1, integer=True, optional=True)
        if not isinstance(extractor, (str, nn.Module)):
            raise ValueError(self._msg("extractor", extractor, "must be a torchvision model name or an nn.Module"))
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise ValueError(self._msg("weights", weights, "must be 'DEFAULT', a weights name, a path or None"))
        check_number(name, "image_size", image_size, low=1, integer=True, optional=True)
        check_number(name, "initial_per_class", initial_per_class, low=1, integer=True)
        check_path(name, "cache_dir", cache_dir)
        check_bool(name, "cache", cache)
        self.count = None if count is None else int(count)
        self.extractor = extractor
        self.weights = None if weights is None else str(weights)
        self.image_size = image_size
        self.features = features
        self.initial_per_class = initial_per_class
        self.cache_dir = cache_dir
        self.cache = cache

    @override
    def settings(self) -> dict[str, Any]:
        extractor = self.extractor if isinstance(self.extractor, str) else type(self.extractor).__name__
        return {
            **super().settings(),
            "count": self.count,
            "extractor": "features" if self.features is not None else extractor,
            "weights": None if self.features is not None else self.weights,
            "image_size": self.image_size,
            "initial_per_class": self.initial_per_class,
        }

    def _build_extractor(self) -> nn.Module:
        if isinstance(self.extractor, nn.Module):
            return self.extractor
        net = feature_extractor(self.extractor, self.weights, image_size=self.image_size, progress=self.progress)
        found = normalization_of(self.datamodule.eval_transform)
        if found is None:
            rank_zero_warn(
                f"{type(self).__name__}: could not read the normalisation of "
                f"{type(self.datamodule).__name__}'s eval transform; assuming images in [0, 1]."
            )
        else:
            net.set_input_normalization(*found)
        return net

    @override
    def compute_scores(self, candidates: np.ndarray) -> np.ndarray:
        if self.features is not None:
            features = self._pool_rows("features", self.features, candidates, "(N, D)").astype(np.float32, copy=False)
        else:
            loader = self.datamodule.pool_dataloader(candidates)
            features = extract_features(
                self._build_extractor(),
                loader,
                device=self._device(),
                cache_dir=self._cache_folder(self.cache, self.cache_dir),
                progress=self.progress,
            )
        self._check_finite("features", features, candidates)
        return features

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        name = type(self).__name__
        sizes = np.bincount(labels)
        present = np.flatnonzero(sizes)
        if self.count is not None and self.count > sizes[present].min():
            small = int(present[np.argmin(sizes[present])])
            raise ValueError(
                f"`{name}(count={self.count})`: `count` is larger than a class: class {small} has "
                f"{int(sizes[small])} sample(s)."
            )
        budgets = selection.per_class_budgets(labels, fraction=self.fraction, count=self.count)
        chosen = []
        for c, k in sorted(budgets.items()):
            rows = np.flatnonzero(labels == c)
            n_c, k = len(rows), int(k)
            if k == n_c:
                chosen.append(candidates[rows])
                continue
            if k + self.initial_per_class > n_c:
                given = f"count={self.count}" if self.count is not None else f"fraction={self.fraction}"
                raise ValueError(
                    f"`{name}({given})`: class {c} has {n_c} sample(s), fewer than its budget {k} plus the "
                    f"{self.initial_per_class} initial sample(s) excluded from the core-set."
                )
            rng = seeded_rng(seed, int(c))
            initial = np.sort(rng.choice(n_c, size=self.initial_per_class, replace=False))
            picks = selection.k_center_greedy(
                scores[rows], k, initial=initial, seed=seed, progress=self.progress, desc=f"k-center, class {c}"
            )
            chosen.append(candidates[rows[np.asarray(picks, dtype=np.int64)]])
        return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
