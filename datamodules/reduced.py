"""EcoNAS's reduced data settings: a lower input resolution ``r`` and a fixed random fraction ``s`` of the samples.

:class:`ReducedDataModule` wraps any :class:`~lightning_nas.datamodules.SearchDataModule` (composition, like the
subset selections, through :class:`~lightning_nas.datamodules.WrappedDataModule`):

This is the *reduced setting* (a cheaper proxy of the same training), not a selection: the select-before-search
data modules (:class:`~lightning_nas.datamodules.SubsetSelectionDataModule`: core-set, entropy proxy, random) choose
*which* samples to search on.

* **Resolution.** Every batch is resized to ``resolution x resolution`` (bilinear, antialiased) after the wrapped
  module's augmentation, i.e. *after* padding and random cropping, as EcoNAS does (Appendix A5.2, item 3; the official
  code puts ``Resize(res)`` after ``RandomCrop(32, padding=4)`` and the flip); evaluation batches are resized too. The
  resize runs in :meth:`~ReducedDataModule.on_after_batch_transfer`, on the training device, on every batch a Trainer
  draws from this module (``(x, y, index)`` and paired ``{"train": ..., "val": ...}`` batches alike). Resizing after
  the per-channel normalisation equals resizing before it: the interpolation weights sum to 1.
* **Sample ratio.** A fixed, seeded, uniformly random fraction ``s`` of the weight split is kept
  (:class:`~lightning_nas.datamodules.RandomSubsetDataModule` with ``alpha_split="heldout"``: the official
  ``ReduceSampler`` draws ``int(N * s)`` ids once, uniformly); the architecture split, which children validate on,
  stays whole.
* **Held-out validation.** Nothing to add: EcoNAS validates on 5,000 images held out from the 50,000 CIFAR-10
  training images (Section 5), which is the wrapped module's architecture split with ``val_fraction=0.1``. With
  ``paired=False`` its ``train_dataloader()`` yields the weight split alone and its ``val_dataloader()`` the held-out
  split (eval transform): what a child (:class:`~lightning_nas.methods.
  ArchitectureTraining`) trains and validates on.

References:
    Dongzhan Zhou et al. EcoNAS: Finding Proxies for Economical Neural Architecture Search. CVPR 2020
    (Section 3.1: the reduction factors; Section 5: the 5k validation split; Appendix A5.2: reduced-setting training).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.nn import functional as F
from typing_extensions import override

from lightning_nas.checks import check_bool, check_number

from .random_subset import RandomSubsetDataModule
from .search import SearchDataModule
from .wrapped import WrappedDataModule

__all__ = ["ReducedDataModule", "resize_batch"]


def resize_batch(batch: Any, resolution: int, antialias: bool = True) -> Any:
    """Resize the images of a batch to ``resolution x resolution`` (bilinear), leaving labels and ids alone.

    Args:
        batch: ``(x, y, index, ...)`` with ``x`` a float ``(B, C, H, W)`` tensor, or a dict of such batches (paired
            search batches).
        resolution: the output side.
        antialias: low-pass filter when downsampling (as PIL's ``Resize``, which EcoNAS uses).

    Returns:
        The batch with resized images (the same object type); images already at the size are returned as they are.

    Example:
        >>> import torch
        >>> x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
        >>> out = resize_batch((x, y, torch.tensor([5, 7])), 8)
        >>> out[0].shape, out[1] is y
        (torch.Size([2, 3, 8, 8]), True)
        >>> resize_batch({"train": (x, y), "val": (x, y)}, 16)["val"][0].shape
        torch.Size([2, 3, 16, 16])
    """
    if isinstance(batch, dict):
        return {key: resize_batch(value, resolution, antialias) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return type(batch)([_resize(batch[0], resolution, antialias), *batch[1:]])
    raise TypeError(
        f"`resize_batch`: expected an `(x, y, index)` batch or a dict of them. Got {type(batch).__name__} instead."
    )


def _resize(x: Tensor, resolution: int, antialias: bool) -> Tensor:
    if x.ndim != 4:
        raise ValueError(f"`resize_batch`: images must be (B, C, H, W). Got shape {tuple(x.shape)} instead.")
    if tuple(x.shape[-2:]) == (resolution, resolution):
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=antialias)


class ReducedDataModule(WrappedDataModule):
    """A search data module at a reduced resolution ``r`` and sample ratio ``s`` (EcoNAS's data reductions).

    See the module docstring. Everything of the search data module contract (``active_ids``, ``remove_ids``,
    ``labels``, ``pool_dataloader``, checkpoint state, ...) is delegated to the wrapped module (through the
    :class:`~lightning_nas.datamodules.RandomSubsetDataModule` when ``fraction < 1``), so it works with any method and
    callback. Loaders requested outside a Trainer yield full-size images; :func:`resize_batch` resizes them.

    Args:
        datamodule: the search data module to reduce (for EcoNAS children: ``val_fraction=0.1, paired=False``).
        resolution: the side ``r`` the images are resized to; ``None`` keeps the native size.
        fraction: the sample ratio ``s`` of the weight split to keep, in (0, 1]; 1 keeps every sample.
        seed: seeds the subset; ``None`` uses the wrapped module's resolved seed.
        antialias: low-pass filter when downsampling (as PIL's ``Resize``).

    Raises:
        TypeError: ``datamodule`` is not a search data module, or an argument is of the wrong type (e.g. a number
            given as a string).
        ValueError: an argument is out of range.

    Example:
        >>> import torch
        >>> from lightning_nas.datamodules import ArraySearchDataModule
        >>> data = ArraySearchDataModule(torch.rand(40, 3, 16, 16), torch.arange(40) % 4, batch_size=8,
        ...                              val_fraction=0.1, paired=False, seed=0)
        >>> dm = ReducedDataModule(data, resolution=8, fraction=0.5)
        >>> dm.setup("fit")
        >>> len(dm.active_ids("train")), len(dm.active_ids("val"))  # half of the 36 weight ids; the 4 held out
        (18, 4)
        >>> dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)[0].shape
        torch.Size([8, 3, 8, 8])

    References:
        Zhou et al., EcoNAS, CVPR 2020 (Section 3.1, Section 5, Appendix A5.2).
    """

    def __init__(
        self,
        datamodule: SearchDataModule,
        resolution: int | None = None,
        fraction: float = 1.0,
        seed: int | None = None,
        antialias: bool = True,
    ) -> None:
        super().__init__(datamodule)
        name = type(self).__name__
        check_number(name, "resolution", resolution, low=1, integer=True, optional=True)
        check_number(name, "fraction", fraction, low=0, high=1, low_open=True)
        check_number(name, "seed", seed, integer=True, optional=True)
        check_bool(name, "antialias", antialias)
        self.resolution = resolution
        self.fraction = float(fraction)
        self.seed = seed
        self.antialias = antialias
        self.subset: RandomSubsetDataModule | None = None
        if fraction < 1:
            self.subset = RandomSubsetDataModule(
                datamodule, fraction=fraction, seed=seed, alpha_split="heldout", save_manifest=False
            )
            self.inner = self.subset

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Resizes the batch's images to ``resolution`` (after the wrapped module's own hook)."""
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        if self.resolution is None:
            return batch
        return resize_batch(batch, self.resolution, self.antialias)
