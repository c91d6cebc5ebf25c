"""Lightning data modules for architecture search: indexed samples, weight/architecture splits, removable ids.

Every batch is ``(x, y, index)`` with ``index`` the sample's stable id in the full training pool; bi-level search
loaders yield ``{"train": (x, y, index), "val": (x, y, index)}``. See :class:`SearchDataModule`.
"""

from .arrays import ArraySearchDataModule, TensorImageTransform, TensorPool
from .digits import DigitsSearchDataModule
from .search import (
    CyclingSplitSampler,
    IndexedDataset,
    OrderedSplitSampler,
    SearchData,
    SearchDataModule,
    ShuffledSplitSampler,
    collate_indexed,
    derive_aug_seeds,
)
from .vision import (
    CIFAR10SearchDataModule,
    CIFAR100SearchDataModule,
    ImageFolderSearchDataModule,
    SVHNSearchDataModule,
)

__all__ = [
    "ArraySearchDataModule",
    "CIFAR10SearchDataModule",
    "CIFAR100SearchDataModule",
    "CyclingSplitSampler",
    "DigitsSearchDataModule",
    "ImageFolderSearchDataModule",
    "IndexedDataset",
    "OrderedSplitSampler",
    "SVHNSearchDataModule",
    "SearchData",
    "SearchDataModule",
    "ShuffledSplitSampler",
    "TensorImageTransform",
    "TensorPool",
    "collate_indexed",
    "derive_aug_seeds",
]
