"""Lightning data modules for architecture search: indexed samples, weight/architecture splits, removable ids.

Every batch is ``(x, y, index)`` with ``index`` the sample's stable id in the full training pool; bi-level search
loaders yield ``{"train": (x, y, index), "val": (x, y, index)}``. See :class:`SearchDataModule`. The reduction data
modules (:class:`CoresetDataModule`, :class:`EntropyProxyDataModule`, :class:`RandomSubsetDataModule`) wrap any of
them and restrict the search to a subset of the pool selected before the search.
"""

from .arrays import ArraySearchDataModule, TensorImageTransform, TensorPool
from .digits import DigitsSearchDataModule
from .reduced import ReducedDataModule, resize_batch
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
from .subsets import (
    CoresetDataModule,
    EntropyProxyDataModule,
    RandomSubsetDataModule,
    ReductionDataModule,
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
    "CoresetDataModule",
    "CyclingSplitSampler",
    "DigitsSearchDataModule",
    "EntropyProxyDataModule",
    "ImageFolderSearchDataModule",
    "IndexedDataset",
    "OrderedSplitSampler",
    "RandomSubsetDataModule",
    "ReducedDataModule",
    "ReductionDataModule",
    "SVHNSearchDataModule",
    "SearchData",
    "SearchDataModule",
    "ShuffledSplitSampler",
    "TensorImageTransform",
    "TensorPool",
    "collate_indexed",
    "derive_aug_seeds",
    "resize_batch",
]
