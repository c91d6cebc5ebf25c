"""The uniform subset: the baseline of the core-set and proxy-data papers (select before the search)."""

from __future__ import annotations

from typing import Any

import numpy as np
from typing_extensions import override

import lightning_nas.selection as selection
from lightning_nas.checks import check_bool

from .search import SearchDataModule
from .subset_selection import AlphaSplit, SubsetSelectionDataModule

__all__ = ["RandomSubsetDataModule"]


class RandomSubsetDataModule(SubsetSelectionDataModule):
    """A uniformly random subset of the pool: the baseline of the core-set and proxy-data papers.

    Selects ``floor(fraction * N)`` ids uniformly without replacement (``class_balanced=True``: the same fraction of
    every class), then splits them as :class:`~lightning_nas.datamodules.SubsetSelectionDataModule` describes.

    Args:
        datamodule: the search data module to reduce.
        fraction: fraction of the pool to select, in (0, 1].
        seed: seeds the selection and the split; ``None`` uses the wrapped module's resolved seed.
        class_balanced: select the same fraction of every class.
        manifest: a manifest of an earlier run to reuse exactly.
        save_manifest: ``True`` (the Trainer's log directory), a path, or ``False``.
        alpha_split: ``"darts"`` or ``"heldout"`` (see :class:`~lightning_nas.datamodules.SubsetSelectionDataModule`).
        val_fraction: fraction of the selection in the architecture split.

    Raises:
        TypeError: ``datamodule`` is not a search data module.
        ValueError: an argument is out of range; (in ``setup``) the selection would be empty.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 4, 4), torch.arange(40) % 4)
        >>> dm = RandomSubsetDataModule(data, fraction=0.25, seed=0)
        >>> dm.setup("fit")
        >>> len(dm.selected_ids), len(dm.active_ids("train")), len(dm.active_ids("val"))
        (10, 5, 5)
        >>> RandomSubsetDataModule(data, fraction=1.5)
        Traceback (most recent call last):
        ...
        ValueError: `RandomSubsetDataModule(fraction=1.5)`: `fraction` must be a number in (0, 1]. Got 1.5 instead.

    References:
        Na et al., "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021 (random selection);
        Shim et al., "Core-set Sampling for Efficient Neural Architecture Search", ICML 2021 workshop (Table 2).
    """

    method = "random"

    def __init__(
        self,
        datamodule: SearchDataModule,
        fraction: float = 0.1,
        seed: int | None = None,
        class_balanced: bool = False,
        manifest: str | None = None,
        save_manifest: bool | str = True,
        alpha_split: AlphaSplit = "darts",
        val_fraction: float = 0.5,
    ) -> None:
        super().__init__(
            datamodule,
            fraction,
            seed=seed,
            manifest=manifest,
            save_manifest=save_manifest,
            alpha_split=alpha_split,
            val_fraction=val_fraction,
            progress=False,
        )
        check_bool(type(self).__name__, "class_balanced", class_balanced)
        self.class_balanced = class_balanced

    @override
    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "class_balanced": self.class_balanced}

    @override
    def select(self, candidates: np.ndarray, labels: np.ndarray, scores: Any, seed: int) -> np.ndarray:
        size = self._fraction_size(candidates)
        rows = selection.random_selection(
            len(candidates), size, seed=seed, labels=labels if self.class_balanced else None
        )
        return candidates[np.asarray(rows, dtype=np.int64)]
