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
    _torchvision_class = ""  # a torchvision.datasets class taking (root, train=, download=): CIFAR10, CIFAR100

    def __init__(self, root: str = "data", download: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(root, (str, Path)):
            raise ValueError(self._msg("root", root, "must be a path"))
        if not isinstance(download, bool):
            raise ValueError(self._msg("download", download, "must be a bool"))
        self.root = str(root)
        self.download = download

    def _dataset(self, train: bool, download: bool) -> Any:
        import torchvision.datasets  # deferred: torchvision's import is slow and only loading needs it

        return getattr(torchvision.datasets, self._torchvision_class)(self.root, train=train, download=download)

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
                f"`{type(self).__name__}(root={self.root!r})`: no {self._title} data found under {self.root!r}, or it "
                f"is corrupted (torchvision: {err}). Pass `download=True` to download it, or point `root` at the "
                "folder that holds it."
            ) from err
        images, labels = self._arrays(dataset)
        self._check_arrays(images, labels, "training" if train else "test")
        return TensorPool(torch.from_numpy(images), torch.from_numpy(labels))

    def _check_arrays(self, images: np.ndarray, labels: np.ndarray, split: str) -> None:
        """Refuses images that are not ``(N, 3, H, W)`` uint8 and labels outside ``[0, num_classes)``."""
        owner = f"`{type(self).__name__}(root={self.root!r})`"
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"{owner}: the {split} images must be an (N, 3, H, W) uint8 array. Got shape {images.shape} and "
                f"dtype {images.dtype} instead."
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{owner}: the {split} set must have one label per image. Got {labels.size} labels for "
                f"{len(images)} images instead."
            )
        bad = np.flatnonzero((labels < 0) | (labels >= self._classes))
        if len(bad):
            first = int(bad[0])
            raise ValueError(
                f"{owner}: every {split} label must be in [0, {self._classes}) ({self._title} has {self._classes} "
                f"classes). Got label {int(labels[first])} for {split} sample {first} instead ({len(bad)} label(s) "
                "out of range)."
            )

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
        ValueError: (in ``setup``) the loaded images are not an ``(N, 3, H, W)`` uint8 array, or a label is outside
            ``[0, num_classes)`` (the error names the split and the sample).

    Example:
        >>> dm = CIFAR10SearchDataModule(root="data", batch_size=64)
        >>> dm.num_classes
        10
    """

    _title = "CIFAR-10"
    _classes = 10
    _mean, _std = CIFAR10_MEAN, CIFAR10_STD
    _torchvision_class = "CIFAR10"


class CIFAR100SearchDataModule(_TorchvisionSearchDataModule):
    """CIFAR-100 search data, as :class:`CIFAR10SearchDataModule` with CIFAR-100's 100 classes and mean/std.

    Args:
        root: folder holding torchvision's ``cifar-100-python``.
        download: download the data into ``root`` in ``prepare_data`` if missing.
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments.

    Raises:
        FileNotFoundError: (in ``setup``) the data is not under ``root`` and ``download`` is off.
        ValueError: (in ``setup``) the loaded images are not an ``(N, 3, H, W)`` uint8 array, or a label is outside
            ``[0, num_classes)`` (the error names the split and the sample).

    Example:
        >>> CIFAR100SearchDataModule(root="data").num_classes
        100
    """

    _title = "CIFAR-100"
    _classes = 100
    _mean, _std = CIFAR100_MEAN, CIFAR100_STD
    _torchvision_class = "CIFAR100"


class SVHNSearchDataModule(_TorchvisionSearchDataModule):
    """SVHN search data (73,257 training digits); augmentation is a random crop 32 with padding 4, no flip.

    Flipping would turn digits into other shapes, hence no flip. Reading torchvision's ``.mat`` files needs scipy.

    Args:
        root: folder holding torchvision's ``train_32x32.mat`` and ``test_32x32.mat``.
        download: download the data into ``root`` in ``prepare_data`` if missing.
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments.

    Raises:
        FileNotFoundError: (in ``setup``) the data is not under ``root`` and ``download`` is off.
        ValueError: (in ``setup``) the loaded images are not an ``(N, 3, H, W)`` uint8 array, or a label is outside
            ``[0, num_classes)`` (the error names the split and the sample).

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


# modes read as more than 8 bits per channel: ImageFolder's RGB conversion clips them to 0..255 without a word
_HIGH_DEPTH_MODES = ("I", "F")
# the last bytes of a complete file, for the formats whose end is checked without decoding
_JPEG_END = b"\xff\xd9"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_END_MARKERS = {"JPEG": _JPEG_END, "MPO": _JPEG_END, "PNG": _PNG_END}
_MAX_NAMED = 3


def _load_rgb(path: str) -> Any:
    """ImageFolder's default loader (RGB), naming the file when it cannot be read (e.g. a file changed after setup)."""
    from torchvision.datasets.folder import default_loader

    try:
        return default_loader(path)
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise OSError(f"cannot read the image {path}: {type(err).__name__}: {err}") from err


def _ends_complete(image: Any) -> bool | None:
    """Whether an opened JPEG/PNG file ends with its end marker; ``None`` for formats not checked this way."""
    marker = _END_MARKERS.get(image.format)
    fp = getattr(image, "fp", None)
    if marker is None or fp is None:
        return None
    fp.seek(0, 2)
    if fp.tell() < len(marker):
        return False
    fp.seek(-len(marker), 2)
    return fp.read(len(marker)) == marker


class ImageFolderSearchDataModule(SearchDataModule):
    """Search data from an image folder tree: ``root/train/<class>/*`` and, optionally, ``root/test/<class>/*``.

    With ``image_size=None`` the images keep their native size (all images must share it, see below) and are
    augmented CIFAR-style: random crop with zero padding ``size // 8`` and horizontal flip. With an int, ImageNet-style:
    ``RandomResizedCrop(image_size)`` and flip for training, ``Resize(round(image_size / 0.875))`` and
    ``CenterCrop(image_size)`` for evaluation. Both then normalise with ``mean``/``std``. Every image is read as 8-bit
    RGB (torchvision's loader: grayscale is repeated over 3 channels, alpha dropped, palettes expanded), so the model
    takes 3 input channels whatever the folder holds.

    ``cache=True`` (native size only) decodes every image once in ``setup`` and keeps them as uint8 tensors, augmented
    in batches like :class:`CIFAR10SearchDataModule`: much faster per step, at the cost of ``N * 3 * H * W`` bytes of
    memory (150 MB for CIFAR-10, 1.2 GB for Tiny-ImageNet).

    The images are checked once, in ``setup``, so that a bad file stops the run before its first step with an error
    naming it, rather than in the middle of an epoch or silently:

    * every file must be a readable image. Its header is read (not its pixels); a JPEG or PNG must also end with its
      end marker (the last bytes of the file), else it is decoded once to tell a truncated file from one with
      trailing bytes; files of other formats (BMP, GIF, WebP, TIFF, ...) are decoded once. With ``cache=True`` every
      image is decoded anyway. (About 70 microseconds per JPEG/PNG file in the page cache: 5 s for the 60,000
      CIFAR-10 images.)
    * with ``image_size=None``, every image (training and test) must have the pool's size, the size of most training
      images: a random crop to the pool's size would silently cut a larger image down in training, and evaluation
      batches could not be stacked. Mixed sizes are legitimate with ``image_size=<int>``, which resizes every image:
      then the sizes are not compared.
    * images of more than 8 bits per channel (16-bit grayscale PNGs, 32-bit integer or float TIFFs: PIL modes ``I``,
      ``I;16``, ``F``) are refused: the RGB conversion would clip their values to 0..255 silently.

    The labels are the class folders' indices (sorted folder names), in range by construction.

    Args:
        root: folder holding ``train/`` (and optionally ``test/``) with one sub-folder per class.
        image_size: ``None`` keeps the native size; an int resizes ImageNet-style.
        mean: per-channel normalisation mean (ImageNet's by default): 3 entries, or 1 shared by the 3 channels.
        std: per-channel normalisation std (ImageNet's by default), as many entries as ``mean``.
        cache: decode all images into memory in ``setup`` (needs ``image_size=None``).
        **kwargs: :class:`~lightning_nas.datamodules.SearchDataModule` arguments (``batch_size``,
            ``val_fraction``, ``split``, ``paired``, ``num_workers``, ``seed``, ...).

    Raises:
        ValueError: an argument is out of range; (in ``setup``) an image is unreadable or truncated, has another size
            than the pool's (with ``image_size=None``) or more than 8 bits per channel; the error names the file.
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
        if len(mean) not in (1, 3):
            raise ValueError(
                f"`{type(self).__name__}(mean={mean!r}, std={std!r})`: the images are read as RGB, so `mean` and "
                f"`std` must have 3 entries (or 1, shared by the channels). Got {len(mean)} instead."
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

    def _transforms(self, size: tuple[int, int] | None) -> tuple[Any, Any]:
        from torchvision import transforms as T

        normalize = [T.ToTensor(), T.Normalize(self.mean, self.std)]
        if self.image_size is None:
            assert size is not None
            width, height = size
            padding = max(1, min(height, width) // 8)
            train = [T.RandomCrop((height, width), padding=padding), T.RandomHorizontalFlip()]
            return T.Compose(train + normalize), T.Compose(normalize)
        resize = round(self.image_size / 0.875)
        train = [T.RandomResizedCrop(self.image_size), T.RandomHorizontalFlip()]
        evaluation = [T.Resize(resize), T.CenterCrop(self.image_size)]
        return T.Compose(train + normalize), T.Compose(evaluation + normalize)

    # ---------------------------------------------------------------------------------------------------------------
    # image checks (once, in setup)
    # ---------------------------------------------------------------------------------------------------------------
    def _read(self, path: str, decode: bool) -> tuple[tuple[int, int], np.ndarray | None]:
        """One image's ``(width, height)`` and, with ``decode``, its ``(H, W, 3)`` uint8 RGB pixels.

        Without ``decode``, PIL reads the header and, for a JPEG/PNG, the last bytes (decoding it only if they are
        not the end marker); other formats are decoded once.

        Raises:
            ValueError: the file is not a readable, complete image of at most 8 bits per channel; names the file.
        """
        from PIL import Image

        mode = None
        try:
            with Image.open(path) as image:
                size, mode = image.size, image.mode
                if not (mode in _HIGH_DEPTH_MODES or mode.startswith("I;")):
                    if decode:
                        return size, np.asarray(image.convert("RGB"))
                    if not _ends_complete(image):  # no end marker (truncated? trailing bytes?), or another format
                        with Image.open(path) as again:
                            again.load()
                    return size, None
        except Exception as err:  # PIL raises OSError, SyntaxError, EOFError, ValueError, DecompressionBombError...
            raise ValueError(
                f"`{type(self).__name__}(root={self.root!r})`: cannot read the image {path}. Got "
                f"{type(err).__name__}: {err} instead. Repair or remove the file."
            ) from err
        raise ValueError(
            f"`{type(self).__name__}(root={self.root!r})`: {path} has more than 8 bits per channel (PIL mode "
            f"{mode!r}); images are read as 8-bit RGB, which would clip its values to 0..255. Got mode {mode!r} "
            "instead. Convert it to 8 bits per channel (e.g. mode 'L' or 'RGB')."
        )

    def _scan(self, samples: list[tuple[str, int]], decode: bool) -> tuple[np.ndarray, TensorPool | None]:
        """Checks every image of a split: their ``(width, height)`` sizes and, with ``decode``, the decoded pool.

        Decoding stops (the pool is ``None``) at the first image of another size than the first one; the scan goes on
        reading headers, so that :meth:`_check_sizes` can name every odd image.
        """
        sizes = np.empty((len(samples), 2), dtype=np.int64)
        images: np.ndarray | None = None
        for i, (path, _) in enumerate(samples):
            size, pixels = self._read(path, decode)
            sizes[i] = size
            if pixels is None:
                continue
            if images is None:
                images = np.empty((len(samples), pixels.shape[2], pixels.shape[0], pixels.shape[1]), dtype=np.uint8)
            if pixels.shape != (images.shape[2], images.shape[3], images.shape[1]):
                decode, images = False, None  # sizes differ: _check_sizes raises; headers suffice from here on
                continue
            images[i] = pixels.transpose(2, 0, 1)
        if images is None:
            return sizes, None
        labels = torch.as_tensor([label for _, label in samples], dtype=torch.int64)
        return sizes, TensorPool(torch.from_numpy(images), labels)

    def _check_sizes(
        self, train: list[tuple[str, int]], train_sizes: np.ndarray, test: list[tuple[str, int]], test_sizes: np.ndarray
    ) -> tuple[int, int]:
        """The pool's ``(width, height)``: the size of most training images, which every image must have."""
        unique, counts = np.unique(train_sizes, axis=0, return_counts=True)
        order = np.lexsort((-counts,))  # most frequent first; ties keep np.unique's order
        width, height = (int(v) for v in unique[order[0]])
        common = int(counts[order[0]])
        odd = [
            (path, int(w), int(h))
            for samples, sizes in ((train, train_sizes), (test, test_sizes))
            for (path, _), (w, h) in zip(samples, sizes.tolist(), strict=True)
            if (w, h) != (width, height)
        ]
        if odd:
            path, w, h = odd[0]
            more = ""
            if len(odd) > 1:
                named = ", ".join(f"{p} ({a}x{b})" for p, a, b in odd[1:_MAX_NAMED])
                more = f"; {len(odd)} images differ in all, also {named}" + (", ..." if len(odd) > _MAX_NAMED else "")
            raise ValueError(
                f"`{type(self).__name__}(root={self.root!r}, image_size=None)`: with `image_size=None` every image "
                f"must have the pool's size, {width}x{height} (width x height, the size of {common} of the "
                f"{len(train)} training images): an image of another size would be silently cropped (or fail to "
                f"crop) in training, and evaluation batches could not be stacked. Got {path} of size {w}x{h} "
                f"instead{more}. Resize the images to one size, or pass `image_size=<int>` to resize "
                "every image (ImageNet-style augmentation)."
            )
        return width, height

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
        train = ImageFolder(str(train_dir), loader=_load_rgb)
        test = ImageFolder(str(test_dir), loader=_load_rgb, allow_empty=True) if test_dir.is_dir() else None
        if test is not None and test.class_to_idx != train.class_to_idx:
            raise ValueError(
                f"`{name}(root={self.root!r})`: the class folders of {str(test_dir)!r} differ from those of "
                f"{str(train_dir)!r}."
            )
        if test is not None and len(test) == 0:
            test = None
        labels = np.asarray(train.targets, dtype=np.int64)
        # every file is checked here, once: a bad image stops the run before its first step, named
        train_sizes, pool = self._scan(train.samples, decode=self.cache)
        test_samples = [] if test is None else test.samples
        test_sizes, test_pool = self._scan(test_samples, decode=self.cache)
        size = None
        if self.image_size is None:
            size = self._check_sizes(train.samples, train_sizes, test_samples, test_sizes)
        if self.cache:
            assert pool is not None and size is not None
            padding = max(1, min(size) // 8)
            return SearchData(
                train=pool,
                labels=labels,
                num_classes=len(train.classes),
                train_transform=TensorImageTransform(self.mean, self.std, crop_padding=padding, hflip=True),
                eval_transform=TensorImageTransform(self.mean, self.std),
                test=test_pool,
            )
        train_transform, eval_transform = self._transforms(size)
        return SearchData(
            train=train,
            labels=labels,
            num_classes=len(train.classes),
            train_transform=train_transform,
            eval_transform=eval_transform,
            test=test,
        )
