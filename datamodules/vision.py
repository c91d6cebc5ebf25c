"""Search data modules for vision data sets: CIFAR-10, CIFAR-100, SVHN and any ImageFolder tree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from typing_extensions import override

from .arrays import TensorImageTransform, TensorPool
from .search import SearchData, SearchDataModule

CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)
CIFAR100_MEAN = (0.5070751, 0.48654887, 0.44091785)
CIFAR100_STD = (0.26733428, 0.25643846, 0.27615047)
SVHN_MEAN = (0.4376821, 0.4437697, 0.47280442)
SVHN_STD = (0.19803012, 0.20101562, 0.19703614)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _TorchvisionSearchDataModule(SearchDataModule):
    """A torchvision data set held in memory as uint8 tensors and augmented in batches."""

    _title = ""
    _classes = 0
    _mean: tuple[float, ...] = ()
    _std: tuple[float, ...] = ()
    _hflip = True

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(root, (str, Path)):
            raise ValueError(self._msg("root", root, "must be a path"))
        if not isinstance(download, bool):
            raise ValueError(self._msg("download", download, "must be a bool"))
        self.root = str(root)
        self.download = download

    def _dataset(self, train: bool, download: bool) -> Any:
        raise NotImplementedError

    def _arrays(self, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(N, C, H, W)`` uint8 images and int64 labels of a torchvision data set."""
        return np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)), np.asarray(dataset.targets, dtype=np.int64)

    @override
    def _known_num_classes(self) -> int | None:
        return self._classes

    @override
    def prepare_data(self) -> None:
        """Downloads the data set when ``download=True`` (on one process per node); otherwise does nothing."""
        if self.download:
            self._dataset(train=True, download=True)
            self._dataset(train=False, download=True)

    def _load(self, train: bool) -> TensorPool:
        try:
            dataset = self._dataset(train=train, download=False)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"`{type(self).__name__}(root={self.root!r})`: no {self._title} data found under {self.root!r}. "
                f"Pass `download=True` to download it, or point `root` at the folder that holds it."
            ) from err
        images, labels = self._arrays(dataset)
        return TensorPool(torch.from_numpy(images), torch.from_numpy(labels))

    @override
    def build_data(self) -> SearchData:
        train, test = self._load(train=True), self._load(train=False)
        return SearchData(
            train=train,
            labels=train.labels.numpy(),
            num_classes=self._classes,
            train_transform=TensorImageTransform(self._mean, self._std, crop_padding=4, hflip=self._hflip),
            eval_transform=TensorImageTransform(self._mean, self._std),
            test=test,
        )


class CIFAR10SearchDataModule(_TorchvisionSearchDataModule):
    """CIFAR-10 search data: the 50,000 training images split into weight and architecture halves (DARTS).

    Training augmentation as DARTS: random crop 32 with zero padding 4, horizontal flip, normalisation with the
    CIFAR-10 mean/std (no cutout during search); evaluation only normalises. The images are held in memory as uint8
    tensors and augmented in batches (:class:`~lightning_nas.datamodules.arrays.TensorImageTransform`, equivalent to
    torchvision's ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``).
    The test set is loaded for ``test_dataloader()`` only; the search never reads it.

    Args:
        root: folder holding torchvision's ``cifar-10-batches-py``.
        download: download the data into ``root`` in ``prepare_data`` if missing.
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments (``batch_size``,
            ``val_fraction``, ``split``, ``paired``, ``num_workers``, ``seed``, ...).

    Raises:
        FileNotFoundError: (in ``setup``) the data is not under ``root`` and ``download`` is off.

    Example:
        >>> dm = CIFAR10SearchDataModule(root="data", batch_size=64)
        >>> dm.num_classes
        10
    """

    _title = "CIFAR-10"
    _classes = 10
    _mean, _std = CIFAR10_MEAN, CIFAR10_STD

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(root=root, download=download, **kwargs)

    @override
    def _dataset(self, train: bool, download: bool) -> Any:
        from torchvision.datasets import CIFAR10

        return CIFAR10(self.root, train=train, download=download)


class CIFAR100SearchDataModule(_TorchvisionSearchDataModule):
    """CIFAR-100 search data, as :class:`CIFAR10SearchDataModule` with CIFAR-100's 100 classes and mean/std.

    Args:
        root: folder holding torchvision's ``cifar-100-python``.
        download: download the data into ``root`` in ``prepare_data`` if missing.
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments.

    Raises:
        FileNotFoundError: (in ``setup``) the data is not under ``root`` and ``download`` is off.

    Example:
        >>> CIFAR100SearchDataModule(root="data").num_classes
        100
    """

    _title = "CIFAR-100"
    _classes = 100
    _mean, _std = CIFAR100_MEAN, CIFAR100_STD

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(root=root, download=download, **kwargs)

    @override
    def _dataset(self, train: bool, download: bool) -> Any:
        from torchvision.datasets import CIFAR100

        return CIFAR100(self.root, train=train, download=download)


class SVHNSearchDataModule(_TorchvisionSearchDataModule):
    """SVHN search data (73,257 training digits); augmentation is a random crop 32 with padding 4, no flip.

    Flipping would turn digits into other shapes, hence no flip. Reading torchvision's ``.mat`` files needs scipy.

    Args:
        root: folder holding torchvision's ``train_32x32.mat`` and ``test_32x32.mat``.
        download: download the data into ``root`` in ``prepare_data`` if missing.
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments.

    Raises:
        FileNotFoundError: (in ``setup``) the data is not under ``root`` and ``download`` is off.

    Example:
        >>> SVHNSearchDataModule(root="data").num_classes
        10
    """

    _title = "SVHN"
    _classes = 10
    _mean, _std = SVHN_MEAN, SVHN_STD
    _hflip = False

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(root=root, download=download, **kwargs)

    @override
    def _dataset(self, train: bool, download: bool) -> Any:
        from torchvision.datasets import SVHN

        return SVHN(self.root, split="train" if train else "test", download=download)

    @override
    def _arrays(self, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(dataset.data), np.asarray(dataset.labels, dtype=np.int64)


class ImageFolderSearchDataModule(SearchDataModule):
    """Search data from an image folder tree: ``root/train/<class>/*`` and, optionally, ``root/test/<class>/*``.

    With ``image_size=None`` the images keep their native size (read from the first training image; all images must
    share it) and are augmented CIFAR-style: random crop with zero padding ``size // 8`` and horizontal flip. With an
    int, ImageNet-style: ``RandomResizedCrop(image_size)`` and flip for training, ``Resize(round(image_size / 0.875))``
    and ``CenterCrop(image_size)`` for evaluation. Both then normalise with ``mean``/``std``.

    ``cache=True`` (native size only) decodes every image once in ``setup`` and keeps them as uint8 tensors, augmented
    in batches like :class:`CIFAR10SearchDataModule`: much faster per step, at the cost of ``N * 3 * H * W`` bytes of
    memory (150 MB for CIFAR-10, 1.2 GB for Tiny-ImageNet).

    Args:
        root: folder holding ``train/`` (and optionally ``test/``) with one sub-folder per class.
        image_size: ``None`` keeps the native size; an int resizes ImageNet-style.
        mean: per-channel normalisation mean (ImageNet's by default).
        std: per-channel normalisation std (ImageNet's by default).
        cache: decode all images into memory in ``setup`` (needs ``image_size=None``).
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments (``batch_size``,
            ``val_fraction``, ``split``, ``paired``, ``num_workers``, ``seed``, ...).

    Raises:
        ValueError: an argument is out of range.
        FileNotFoundError: (in ``setup``) ``root/train`` does not exist.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> tmp = tempfile.TemporaryDirectory()
        >>> root = Path(tmp.name)
        >>> for c in ("cat", "dog"):
        ...     (root / "train" / c).mkdir(parents=True)
        ...     for i in range(2):
        ...         Image.new("RGB", (16, 16), (60 * i, 0, 0)).save(root / "train" / c / f"{i}.png")
        >>> dm = ImageFolderSearchDataModule(str(root), batch_size=2)
        >>> dm.setup("fit")
        >>> dm.num_classes, dm.labels.tolist(), next(iter(dm.val_dataloader()))[0].shape
        (2, [0, 0, 1, 1], torch.Size([2, 3, 16, 16]))
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        root: str,
        image_size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        cache: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(root, (str, Path)):
            raise ValueError(self._msg("root", root, "must be a path"))
        if image_size is not None:
            self._check_int("image_size", image_size, minimum=1)
        if len(mean) != len(std) or len(mean) == 0:
            raise ValueError(
                f"`{type(self).__name__}(mean={mean!r}, std={std!r})`: `mean` and `std` must have one entry per "
                f"channel. Got {len(mean)} and {len(std)} instead."
            )
        if any(s <= 0 for s in std):
            raise ValueError(self._msg("std", std, "must be > 0"))
        if not isinstance(cache, bool):
            raise ValueError(self._msg("cache", cache, "must be a bool"))
        if cache and image_size is not None:
            raise ValueError(self._msg("cache", cache, "needs `image_size=None` (native size)"))
        self.root = str(root)
        self.image_size = image_size
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.cache = cache

    @override
    def _known_num_classes(self) -> int | None:
        train = Path(self.root) / "train"
        if not train.is_dir():
            return None
        from torchvision.datasets.folder import find_classes

        return len(find_classes(str(train))[0])

    def _transforms(self, first_image: Any) -> tuple[Any, Any]:
        from torchvision import transforms as T

        normalize = [T.ToTensor(), T.Normalize(self.mean, self.std)]
        if self.image_size is None:
            width, height = first_image.size
            padding = max(1, min(height, width) // 8)
            train = [T.RandomCrop((height, width), padding=padding), T.RandomHorizontalFlip()]
            return T.Compose(train + normalize), T.Compose(normalize)
        resize = round(self.image_size / 0.875)
        train = [T.RandomResizedCrop(self.image_size), T.RandomHorizontalFlip()]
        evaluation = [T.Resize(resize), T.CenterCrop(self.image_size)]
        return T.Compose(train + normalize), T.Compose(evaluation + normalize)

    @staticmethod
    def _decode_all(dataset: Any) -> TensorPool:
        first = np.asarray(dataset[0][0])
        images = np.empty((len(dataset), first.shape[2], first.shape[0], first.shape[1]), dtype=np.uint8)
        for i, (path, _) in enumerate(dataset.samples):
            array = np.asarray(dataset.loader(path))
            if array.shape != first.shape:
                raise ValueError(
                    f"`ImageFolderSearchDataModule(cache=True)`: {path} has shape {array.shape}, the first image "
                    f"{first.shape}; caching needs images of one size."
                )
            images[i] = array.transpose(2, 0, 1)
        return TensorPool(torch.from_numpy(images), torch.as_tensor(dataset.targets, dtype=torch.int64))

    @override
    def build_data(self) -> SearchData:
        from torchvision.datasets import ImageFolder

        name = type(self).__name__
        train_dir, test_dir = Path(self.root) / "train", Path(self.root) / "test"
        if not train_dir.is_dir():
            raise FileNotFoundError(
                f"`{name}(root={self.root!r})`: no training folder {str(train_dir)!r}; expected "
                "`root/train/<class>/<image>` (and optionally `root/test/<class>/<image>`)."
            )
        train = ImageFolder(str(train_dir))
        test = ImageFolder(str(test_dir), allow_empty=True) if test_dir.is_dir() else None
        if test is not None and test.class_to_idx != train.class_to_idx:
            raise ValueError(
                f"`{name}(root={self.root!r})`: the class folders of {str(test_dir)!r} differ from those of "
                f"{str(train_dir)!r}."
            )
        if test is not None and len(test) == 0:
            test = None
        labels = np.asarray(train.targets, dtype=np.int64)
        if self.cache:
            pool = self._decode_all(train)
            test_pool = None if test is None else self._decode_all(test)
            if test_pool is not None and test_pool.images.shape[1:] != pool.images.shape[1:]:
                raise ValueError(
                    f"`{name}(cache=True)`: test images are {tuple(test_pool.images.shape[1:])}, training images "
                    f"{tuple(pool.images.shape[1:])}; caching needs images of one size."
                )
            padding = max(1, min(pool.images.shape[2:]) // 8)
            return SearchData(
                train=pool,
                labels=labels,
                num_classes=len(train.classes),
                train_transform=TensorImageTransform(self.mean, self.std, crop_padding=padding, hflip=True),
                eval_transform=TensorImageTransform(self.mean, self.std),
                test=test_pool,
            )
        train_transform, eval_transform = self._transforms(train.loader(train.samples[0][0]))
        return SearchData(
            train=train,
            labels=labels,
            num_classes=len(train.classes),
            train_transform=train_transform,
            eval_transform=eval_transform,
            test=test,
        )
