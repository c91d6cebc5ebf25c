"""Lightning data modules for architecture search: indexed samples, weight/architecture splits, removable ids.

Every batch is ``(x, y, index)`` with ``index`` the sample's stable id in the full training pool; bi-level search
loaders yield ``{"train": (x, y, index), "val": (x, y, index)}``. What methods and callbacks may use of a search data
module is :class:`~lightning_nas.data.SearchDataContract`; :class:`SearchDataModule` implements it. Two kinds of
reduction wrap any search data module (:class:`WrappedDataModule`):

* **select before the search** (:class:`SubsetSelectionDataModule`): :class:`CoresetDataModule`,
  :class:`EntropyProxyDataModule`, :class:`RandomSubsetDataModule` restrict the search to a subset of the pool
  selected once, in ``setup``;
* **the reduced setting** (:class:`ReducedDataModule`, EcoNAS): a lower resolution and a fixed random sample ratio.
"""

from typing import Any

from lightning_nas.data import (
    CyclingSplitSampler,
    IndexedDataset,
    OrderedSplitSampler,
    SearchDataContract,
    ShuffledSplitSampler,
    collate_indexed,
    derive_aug_seeds,
)

from .arrays import ArraySearchDataModule, TensorImageTransform, TensorPool
from .coreset import CoresetDataModule
from .digits import DigitsSearchDataModule
from .entropy_proxy import EntropyProxyDataModule
from .random_subset import RandomSubsetDataModule
from .reduced import ReducedDataModule, resize_batch
from .search import SearchData, SearchDataModule
from .subset_selection import SubsetSelectionDataModule
from .subsets import renamed
from .vision import (
    CIFAR10SearchDataModule,
    CIFAR100SearchDataModule,
    ImageFolderSearchDataModule,
    SVHNSearchDataModule,
)
from .wrapped import WrappedDataModule

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
    "SVHNSearchDataModule",
    "SearchData",
    "SearchDataContract",
    "SearchDataModule",
    "ShuffledSplitSampler",
    "SubsetSelectionDataModule",
    "TensorImageTransform",
    "TensorPool",
    "WrappedDataModule",
    "collate_indexed",
    "derive_aug_seeds",
    "resize_batch",
]


def __getattr__(name: str) -> Any:
    """``ReductionDataModule``, the former name of :class:`SubsetSelectionDataModule` (a ``DeprecationWarning``)."""
    return renamed(__name__, name)
