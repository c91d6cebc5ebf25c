"""scikit-learn's handwritten digits as a tiny, real, download-free search data set."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lightning_nas.checks import check_number

from .arrays import ArrayLike, ArraySearchDataModule

_TEST_SPLIT_SEED = 0


class DigitsSearchDataModule(ArraySearchDataModule):
    """The 1,797 real 8x8 handwritten digits bundled with scikit-learn (10 classes), for quick, CPU-sized searches.

    The images (values 0..16) are scaled to [0, 1] and upscaled ``upscale`` times with bilinear interpolation
    (16x16 by default, so NAS-Bench-201's two reductions leave 4x4 maps), then normalised per channel like
    :class:`~lightning_nas.datamodules.ArraySearchDataModule`. A stratified test split of ``test_fraction`` of each
    class is held out with a fixed seed, so the test set never changes; the remaining images, in their original
    order, are the search pool (ids 0..N-1). Loaded in ``setup``: nothing is downloaded.

    The images have **one channel**: build models with ``in_channels=1``, e.g.
    ``DARTS(space_options={"C": 8, "N": 1, "in_channels": 1}, num_classes=10)``.

    Deviation from :class:`~lightning_nas.datamodules.ArraySearchDataModule`: ``hflip`` defaults to ``False``,
    since a mirrored digit is another shape.

    Args:
        test_fraction: fraction of each class held out as the test set, in [0, 1); 0 keeps no test set.
        upscale: integer upscaling factor of the 8x8 images (1 keeps 8x8).
        augment: randomly crop (and flip) the search splits.
        crop_padding: zero padding of the random crop; ``None`` uses ``size // 8`` (2 for 16x16).
        hflip: also flip horizontally (when ``augment``).
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments (``batch_size``,
            ``val_fraction``, ``split``, ``paired``, ``num_workers``, ``seed``, ...).

    Raises:
        TypeError: an argument of the wrong type (e.g. a number given as a string).
        ValueError: an argument is out of range.
        ImportError: (in ``setup``) scikit-learn is missing.

    Example:
        >>> dm = DigitsSearchDataModule(batch_size=32)
        >>> dm.setup("fit")
        >>> dm.pool_size, len(dm.test_dataloader().dataset), next(iter(dm.val_dataloader()))[0].shape
        (1438, 359, torch.Size([32, 1, 16, 16]))
    """

    def __init__(
        self,
        test_fraction: float = 0.2,
        upscale: int = 2,
        augment: bool = True,
        crop_padding: int | None = None,
        hflip: bool = False,
        **kwargs: Any,
    ) -> None:
        super(ArraySearchDataModule, self).__init__(**kwargs)  # skips the array arguments, keeps the base ones
        check_number(type(self).__name__, "test_fraction", test_fraction, low=0, high=1, high_open=True)
        self._check_int("upscale", upscale, minimum=1)
        self._set_augmentation(augment, crop_padding, hflip)
        self.test_fraction = float(test_fraction)
        self.upscale = upscale
        self.x_train = self.y_train = self.x_test = self.y_test = None
        self._num_classes = 10

    def _load_arrays(self) -> tuple[ArrayLike, ArrayLike, ArrayLike | None, ArrayLike | None]:
        try:
            from sklearn.datasets import load_digits
        except ImportError as err:
            raise ImportError(
                "`DigitsSearchDataModule` reads scikit-learn's bundled digits: install it with "
                "`pip install lightning-nas[demo]` (or `pip install scikit-learn`)."
            ) from err
        digits = load_digits()
        images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
        if self.upscale > 1:
            images = F.interpolate(images, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        labels = np.asarray(digits.target, dtype=np.int64)
        test = np.zeros(len(labels), dtype=bool)
        rng = np.random.default_rng(_TEST_SPLIT_SEED)
        for c in range(self._num_classes):
            members = np.flatnonzero(labels == c)
            test[rng.permutation(members)[: round(self.test_fraction * len(members))]] = True
        train_ids, test_ids = np.flatnonzero(~test), np.flatnonzero(test)
        x_train, y_train = images[torch.from_numpy(train_ids)], labels[train_ids]
        if len(test_ids) == 0:
            return x_train, y_train, None, None
        return x_train, y_train, images[torch.from_numpy(test_ids)], labels[test_ids]
