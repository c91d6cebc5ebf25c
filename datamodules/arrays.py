"""In-memory image tensors: a batched augmentation pipeline and the search data module for your own arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from typing_extensions import override

from lightning_nas.checks import check_bool
from lightning_nas.data import splitmix64

from .search import SearchData, SearchDataModule

ArrayLike = Any  # numpy array or torch tensor (kept loose so LightningCLI can still document the module)


class TensorPool(Dataset):
    """Images and labels held in memory; fetches single samples or whole batches.

    Batches are gathered with numpy (single-threaded), which stays fast when the torch thread pool is busy or
    oversubscribed (several DDP processes on one node).

    Args:
        images: ``(N, C, H, W)`` uint8 (0..255) or float32 CPU tensor.
        labels: ``(N,)`` int64 CPU tensor.

    Example:
        >>> pool = TensorPool(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
        >>> len(pool), pool[1][1], pool.get_batch(np.array([3, 0]))[1]
        (4, 1, array([1, 0]))
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels
        self._images = images.numpy()
        self._labels = labels.numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self._labels[index])

    def get_batch(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(B, C, H, W)`` and labels ``(B,)`` of the given ids, as numpy arrays."""
        return self._images[ids], self._labels[ids]


class TensorImageTransform:
    """Random crop with zero padding, horizontal flip and normalisation of in-memory images, batched.

    Equivalent to torchvision's ``RandomCrop(size, padding=crop_padding)`` (fill 0), ``RandomHorizontalFlip()``,
    ``ToTensor()`` and ``Normalize(mean, std)``, but run on a whole ``(B, C, H, W)`` batch in a few numpy operations.
    uint8 input is scaled to [0, 1] first. In :meth:`apply_batch` the crop offsets and the flip of each sample are a
    hash of its augmentation seed, so they never touch a global RNG.

    Args:
        mean: per-channel mean subtracted after scaling.
        std: per-channel standard deviation divided by.
        crop_padding: zero padding of the random crop; 0 disables the crop.
        hflip: flip horizontally with probability 1/2.

    Example:
        >>> t = TensorImageTransform([0.5], [0.5], crop_padding=1, hflip=True)
        >>> x = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
        >>> out = t.apply_batch(x, np.array([1, 2]))
        >>> out.shape, out.dtype, float(out.max()), torch.equal(out, t.apply_batch(x, np.array([1, 2])))
        (torch.Size([2, 1, 4, 4]), torch.float32, 1.0, True)
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, hflip: bool = False) -> None:
        if len(mean) != len(std) or len(mean) == 0:
            raise ValueError(
                f"`TensorImageTransform(mean={mean!r}, std={std!r})`: `mean` and `std` must have one entry per channel."
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"`TensorImageTransform(std={std!r})`: `std` must be > 0. Got {std!r} instead.")
        if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
            raise ValueError(
                f"`TensorImageTransform(crop_padding={crop_padding!r})`: `crop_padding` must be an int >= 0. "
                f"Got {crop_padding!r} instead."
            )
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
        self.crop_padding = crop_padding
        self.hflip = bool(hflip)

    @property
    def augments(self) -> bool:
        """Whether the transform is random (crop or flip)."""
        return self.crop_padding > 0 or self.hflip

    def __repr__(self) -> str:
        return (
            f"TensorImageTransform(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()}, "
            f"crop_padding={self.crop_padding}, hflip={self.hflip})"
        )

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Transforms one ``(C, H, W)`` image; the crop and flip are drawn from torch's global RNG."""
        seeds = None
        if self.augments:
            seeds = np.array([int(torch.randint(0, 2**62, ()).item())], dtype=np.int64)
        return self.apply_batch(np.asarray(x)[None], seeds)[0]

    def apply_batch(self, x: torch.Tensor | np.ndarray, seeds: np.ndarray | None) -> torch.Tensor:
        """Transforms a ``(B, C, H, W)`` batch.

        Args:
            x: uint8 (0..255) or float images.
            seeds: one augmentation seed per sample; ``None`` only normalises.

        Returns:
            float32 ``(B, C, H, W)`` images.
        """
        images = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if seeds is not None and self.augments:
            images = self._crop_flip(images, np.asarray(seeds, dtype=np.int64))
        out = images.astype(np.float32)  # always a fresh array: safe to work in place
        if images.dtype == np.uint8:
            np.divide(out, np.float32(255), out=out)
        np.subtract(out, self.mean, out=out)
        np.divide(out, self.std, out=out)
        return torch.from_numpy(out)

    def _crop_flip(self, images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        b, _, h, w = images.shape
        pad = self.crop_padding
        bits = splitmix64(seeds.astype(np.uint64))
        if pad:
            span = np.uint64(2 * pad + 1)
            dy = (bits % span).astype(np.intp)
            dx = ((bits >> np.uint64(21)) % span).astype(np.intp)
            padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
            images = windows[np.arange(b), :, dy, dx]  # (B, C, H, W): sample k cropped at (dy[k], dx[k])
        if self.hflip:
            flip = ((bits >> np.uint64(42)) & np.uint64(1)).astype(bool)
            if flip.any():
                images = np.array(images)  # own the memory before writing
                images[flip] = images[flip][..., ::-1]
        return images


def _channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``(N, C, H, W)`` images (uint8 scaled to [0, 1]); a constant channel gets std 1."""
    array = images.numpy()
    channels = array.shape[1]
    if array.dtype == np.uint8:  # exact, from per-channel histograms
        values = np.arange(256, dtype=np.float64) / 255
        counts = np.stack([np.bincount(array[:, c].reshape(-1), minlength=256) for c in range(channels)])
        count = counts.sum(axis=1)
        mean = counts @ values / count
        var = counts @ np.square(values) / count - np.square(mean)
    else:
        total = np.zeros(channels)
        squares = np.zeros(channels)
        for start in range(0, len(array), chunk):
            part = array[start : start + chunk].astype(np.float64)
            total += part.sum(axis=(0, 2, 3))
            squares += np.square(part).sum(axis=(0, 2, 3))
        count = array.shape[0] * array.shape[2] * array.shape[3]
        mean = total / count
        var = squares / count - np.square(mean)
    std = np.sqrt(np.clip(var, 0, None))
    std[std <= 1e-12] = 1.0
    return mean.tolist(), std.tolist()


def _is_integer(y: Any) -> bool:
    if isinstance(y, torch.Tensor):
        return not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    return np.issubdtype(y.dtype, np.integer) and y.dtype != bool


def _as_images(x: ArrayLike) -> torch.Tensor:
    """``(N, C, H, W)`` contiguous CPU tensor, uint8 kept as is, anything else as float32."""
    images = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.dtype != torch.uint8:
        images = images.float()
    return images.contiguous()


class ArraySearchDataModule(SearchDataModule):
    """Search data module over images you already hold in memory (numpy arrays or tensors).

    Images are channel-first ``(N, C, H, W)``, or ``(N, H, W)`` for grayscale (one channel). uint8 images are scaled
    to [0, 1]; every image is normalised per channel with the mean and std of the training pool (computed in
    ``setup``; a constant channel gets std 1). Training augmentation (``augment=True``) is a random crop with zero
    padding ``crop_padding`` and an optional horizontal flip, run on whole batches of tensors. The arrays are stored
    as given (no copy) until ``setup``.

    Args:
        x_train: training pool images, ``(N, C, H, W)`` or ``(N, H, W)``, uint8 or float.
        y_train: training pool labels, ``(N,)`` integers in ``[0, num_classes)``.
        x_test: test images (same layout as ``x_train``), or ``None``.
        y_test: test labels, given exactly when ``x_test`` is.
        num_classes: number of classes; ``None`` uses the largest training label + 1.
        augment: randomly crop (and flip) the search splits.
        crop_padding: zero padding of the random crop; ``None`` uses ``H // 8`` (4 for 32x32, as CIFAR), at least 1.
        hflip: also flip horizontally (when ``augment``).
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments (``batch_size``,
            ``val_fraction``, ``split``, ``paired``, ``num_workers``, ``seed``, ...).

    Raises:
        TypeError: ``x_train`` or ``x_test`` is not a numpy array or a tensor.
        ValueError: empty ``x_train``, wrong ``ndim``, lengths that differ, non-integer labels, labels outside
            ``[0, num_classes)``, or an argument out of range.

    Example:
        >>> import torch
        >>> x, y = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 4
        >>> dm = ArraySearchDataModule(x, y, batch_size=4, val_fraction=0.25)
        >>> dm.setup("fit")
        >>> dm.num_classes, len(dm.active_ids("train")), len(dm.active_ids("val"))
        (4, 15, 5)
        >>> x_b, y_b, ids = next(iter(dm.val_dataloader()))
        >>> x_b.dtype, sorted(set(y[dm.active_ids("val").tolist()].tolist()))  # every class in "val"
        (torch.float32, [0, 1, 2, 3])
    """

    def __init__(
        self,
        x_train: ArrayLike,
        y_train: ArrayLike,
        x_test: ArrayLike | None = None,
        y_test: ArrayLike | None = None,
        num_classes: int | None = None,
        augment: bool = True,
        crop_padding: int | None = None,
        hflip: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_augmentation(augment, crop_padding, hflip)
        if num_classes is not None:
            self._check_int("num_classes", num_classes, minimum=1)
        y_train = self._check_pair("x_train", x_train, "y_train", y_train)
        max_label = self._check_labels("y_train", y_train, num_classes)
        num_classes = max_label + 1 if num_classes is None else num_classes
        if (x_test is None) != (y_test is None):
            raise ValueError(
                f"`{type(self).__name__}(x_test=..., y_test=...)`: give both `x_test` and `y_test`, or neither."
            )
        if x_test is not None:
            y_test = self._check_pair("x_test", x_test, "y_test", y_test, allow_empty=True)
            if tuple(x_test.shape[1:]) != tuple(x_train.shape[1:]) and x_test.ndim == x_train.ndim:
                raise ValueError(
                    f"`{type(self).__name__}(x_test=...)`: test images have shape {tuple(x_test.shape[1:])}, "
                    f"training images {tuple(x_train.shape[1:])}."
                )
            self._check_labels("y_test", y_test, num_classes)
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self._num_classes = int(num_classes)

    def _set_augmentation(self, augment: bool, crop_padding: int | None, hflip: bool) -> None:
        check_bool(type(self).__name__, "augment", augment)
        check_bool(type(self).__name__, "hflip", hflip)
        if crop_padding is not None:
            self._check_int("crop_padding", crop_padding, minimum=0)
        self.augment, self.crop_padding, self.hflip = augment, crop_padding, hflip

    def _check_pair(self, x_name: str, x: Any, y_name: str, y: Any, allow_empty: bool = False) -> Any:
        name = type(self).__name__
        if not isinstance(x, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"`{name}({x_name}=...)`: `{x_name}` must be a numpy array or a torch tensor. "
                f"Got {type(x).__name__} instead."
            )
        if x.ndim not in (3, 4):
            raise ValueError(
                f"`{name}({x_name}=...)`: `{x_name}` must be (N, C, H, W) or (N, H, W) images. "
                f"Got shape {tuple(x.shape)} instead."
            )
        if len(x) == 0 and not allow_empty:
            raise ValueError(f"`{name}({x_name}=...)`: `{x_name}` must hold at least one image. Got 0 instead.")
        if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            raise ValueError(
                f"`{name}({x_name}=...)`: shape {tuple(x.shape)} looks channel-last; images must be channel-first "
                "(N, C, H, W), e.g. `x.transpose(0, 3, 1, 2)`."
            )
        if isinstance(x, torch.Tensor):
            supported = x.dtype == torch.uint8 or x.is_floating_point()
        else:
            supported = x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)
        if not supported:
            raise ValueError(
                f"`{name}({x_name}=...)`: `{x_name}` must be uint8 (0..255) or floating point. "
                f"Got dtype {x.dtype} instead."
            )
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            finite: torch.Tensor | None = torch.isfinite(x).reshape(len(x), -1).all(1)
        elif isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
            finite = torch.from_numpy(np.isfinite(x).reshape(len(x), -1).all(1))
        else:  # uint8: always finite
            finite = None
        if finite is not None and len(finite) and not bool(finite.all()):
            # one NaN/inf pixel would make the pool's normalisation statistics, and so every batch, non-finite
            bad = torch.nonzero(~finite).flatten().tolist()
            shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ValueError(
                f"`{name}({x_name}=...)`: `{x_name}` holds NaN or infinite values, in image(s) {shown}. "
                "Remove or repair them: they would make the normalisation statistics, and every batch, NaN."
            )
        if not isinstance(y, (np.ndarray, torch.Tensor)):
            y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"`{name}({y_name}=...)`: `{y_name}` must be a 1-d array with one label per image of `{x_name}` "
                f"({len(x)}). Got shape {tuple(y.shape)} instead."
            )
        return y

    def _check_labels(self, y_name: str, y: Any, num_classes: int | None) -> int:
        name = type(self).__name__
        if not _is_integer(y):
            raise ValueError(f"`{name}({y_name}=...)`: labels must be integers. Got dtype {y.dtype} instead.")
        if len(y) == 0:
            return -1
        low, high = int(y.min()), int(y.max())
        if low < 0:
            raise ValueError(f"`{name}({y_name}=...)`: labels must be >= 0. Got {low} instead.")
        if num_classes is not None and high >= num_classes:
            raise ValueError(
                f"`{name}({y_name}=...)`: labels must be in [0, num_classes) = [0, {num_classes}). Got {high} instead."
            )
        return high

    @override
    def _known_num_classes(self) -> int | None:
        return self._num_classes

    def _load_arrays(self) -> tuple[ArrayLike, ArrayLike, ArrayLike | None, ArrayLike | None]:
        """The raw ``(x_train, y_train, x_test, y_test)``; subclasses may load them here (called by ``setup``)."""
        return self.x_train, self.y_train, self.x_test, self.y_test

    @override
    def build_data(self) -> SearchData:
        x_train, y_train, x_test, y_test = self._load_arrays()
        images = _as_images(x_train)
        labels = torch.as_tensor(np.asarray(y_train) if not isinstance(y_train, torch.Tensor) else y_train.cpu())
        labels = labels.long()
        mean, std = _channel_stats(images)
        padding = max(1, images.shape[2] // 8) if self.crop_padding is None else self.crop_padding
        train_transform = TensorImageTransform(
            mean, std, crop_padding=padding if self.augment else 0, hflip=self.hflip and self.augment
        )
        test = None
        if x_test is not None and y_test is not None:
            y_t = torch.as_tensor(np.asarray(y_test) if not isinstance(y_test, torch.Tensor) else y_test.cpu())
            test = TensorPool(_as_images(x_test), y_t.long())
        return SearchData(
            train=TensorPool(images, labels),
            labels=labels.numpy(),
            num_classes=self._num_classes,
            train_transform=train_transform,
            eval_transform=TensorImageTransform(mean, std),
            test=test,
        )
