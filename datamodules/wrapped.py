"""One base for the data modules that wrap a search data module and change one thing about it.

A :class:`WrappedDataModule` holds a :class:`~lightning_nas.datamodules.SearchDataModule` and forwards everything of
the search-data contract (:class:`~lightning_nas.data.SearchDataContract`: loaders, active ids, removal, labels,
checkpoint state) and every Lightning data hook to it, and shares its Trainer with it (the wrapped module shards the
loaders and counts epochs with the Trainer it sees). A subclass overrides only what it changes:

* the subset selections (:class:`~lightning_nas.datamodules.SubsetSelectionDataModule`: core-set, entropy proxy,
  random) select pool ids once, before the search, and hand them to the wrapped module in ``setup``;
* the reduced setting (:class:`~lightning_nas.datamodules.ReducedDataModule`, EcoNAS) resizes batches on transfer
  and keeps a fixed fraction of the samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from typing_extensions import override

from lightning_nas.data import Split

from .search import SearchDataModule

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

__all__ = ["WrappedDataModule"]


class WrappedDataModule(LightningDataModule):
    """Base of the data modules that wrap a search data module: delegation and Trainer sharing, written once.

    Every query (``labels``, ``num_classes``, ``pool_size``, ``active_ids``, ``remove_ids``, ``pool_dataloader``,
    ...), loader, data hook and the checkpoint state go to :attr:`inner`: the wrapped module itself, or another
    wrapper around it that a subclass puts in between (the reduced setting wraps a random subset). Setting
    ``trainer`` (Lightning does when it attaches the data module) sets it on :attr:`inner` too.

    Args:
        datamodule: the search data module to wrap.

    Raises:
        TypeError: ``datamodule`` is not a :class:`~lightning_nas.datamodules.SearchDataModule`.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> base = ArraySearchDataModule(torch.rand(8, 3, 4, 4), torch.arange(8) % 2, seed=0)
        >>> wrapper = WrappedDataModule(base)
        >>> wrapper.setup("fit")
        >>> wrapper.trainer = "the trainer"  # Lightning attaches a Trainer; the wrapped module sees it too
        >>> base.trainer, wrapper.active_ids("val").tolist() == base.active_ids("val").tolist()
        ('the trainer', True)
    """

    _trainer: Trainer | None = None
    _inner: Any = None  # None only while LightningDataModule.__init__ sets `trainer`

    def __init__(self, datamodule: SearchDataModule) -> None:
        if not isinstance(datamodule, SearchDataModule):
            raise TypeError(
                f"`{type(self).__name__}(datamodule=...)`: `datamodule` must be a `SearchDataModule` (e.g. "
                f"`CIFAR10SearchDataModule`). Got {type(datamodule).__name__} instead."
            )
        super().__init__()
        self.datamodule = datamodule
        self._inner = datamodule

    @property
    def inner(self) -> LightningDataModule:
        """The module every call is delegated to: the wrapped search data module, or a wrapper around it."""
        return self._inner

    @inner.setter
    def inner(self, module: LightningDataModule) -> None:
        module.trainer = self._trainer
        self._inner = module

    @property
    def trainer(self) -> Trainer | None:
        """The attached Trainer, shared with :attr:`inner`."""
        return self._trainer

    @trainer.setter
    def trainer(self, trainer: Trainer | None) -> None:
        self._trainer = trainer
        if self._inner is not None:
            self._inner.trainer = trainer

    # ------------------------------------------------------------------------------------------------ Lightning hooks
    @override
    def prepare_data(self) -> None:
        self.inner.prepare_data()

    @override
    def setup(self, stage: str | None = None) -> None:
        """Sets up the wrapped module."""
        self.inner.setup(stage)

    @override
    def train_dataloader(self) -> Any:
        """The wrapped module's search loader."""
        return self.inner.train_dataloader()

    @override
    def val_dataloader(self) -> Any:
        """The wrapped module's validation loader (its active architecture split)."""
        return self.inner.val_dataloader()

    @override
    def test_dataloader(self) -> Any:
        """The wrapped module's test loader (the test set is never reduced)."""
        return self.inner.test_dataloader()

    @override
    def teardown(self, stage: str) -> None:
        self.inner.teardown(stage)

    @override
    def on_exception(self, exception: BaseException) -> None:
        self.inner.on_exception(exception)

    @override
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return self.inner.transfer_batch_to_device(batch, device, dataloader_idx)

    @override
    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.inner.on_before_batch_transfer(batch, dataloader_idx)

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.inner.on_after_batch_transfer(batch, dataloader_idx)

    @override
    def state_dict(self) -> dict[str, Any]:
        """The wrapped module's state (splits, assignment and removals)."""
        return self.inner.state_dict()

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the wrapped module's state."""
        self.inner.load_state_dict(state_dict)

    # ------------------------------------------------------------------------------ the search-data contract, forwarded
    @property
    def num_classes(self) -> int:
        """Number of classes of the wrapped module."""
        return self.datamodule.num_classes

    @property
    def labels(self) -> np.ndarray:
        """Labels of the full pool (indexed by id)."""
        return self.datamodule.labels

    @property
    def pool_size(self) -> int:
        """Number of samples in the full, unreduced pool."""
        return self.datamodule.pool_size

    @property
    def pool(self) -> Any:
        """The raw training pool of the wrapped module."""
        return self.datamodule.pool

    @property
    def resolved_seed(self) -> int:
        """The wrapped module's seed (split, order and augmentation)."""
        return self.datamodule.resolved_seed

    @property
    def train_transform(self) -> Any:
        """The wrapped module's training augmentation."""
        return self.datamodule.train_transform

    @property
    def eval_transform(self) -> Any:
        """The wrapped module's evaluation transform."""
        return self.datamodule.eval_transform

    def active_ids(self, split: Split) -> np.ndarray:
        """The active ids of a split (see :meth:`~lightning_nas.datamodules.SearchDataModule.active_ids`)."""
        return self.datamodule.active_ids(split)

    def removed_ids(self, split: Split) -> np.ndarray:
        """The ids removed from a split so far."""
        return self.datamodule.removed_ids(split)

    def remove_ids(self, split: Split, ids: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        """Removes active ids from a split, from the next epoch on (e.g. BDP pruning on top of a selection)."""
        self.datamodule.remove_ids(split, ids)

    def pool_dataloader(self, ids: Sequence[int] | np.ndarray | None = None) -> Any:
        """Iterates pool samples with the eval transform (the whole pool by default, whatever the reduction)."""
        return self.datamodule.pool_dataloader(ids)
