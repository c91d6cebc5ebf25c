"""Finding CIFAR-10 / CIFAR-100 under a data root and building a search data module for a reproduction run.

Under ``--data-root ROOT`` a data set is looked for, in this order:

* CIFAR-10 only: the JPEG pack of real CIFAR-10 images (``ROOT/cifar10-jpeg.bin`` or ``ROOT/cifar10/cifar10-jpeg.bin``
  with its ``cifar10-jpeg-index.npz`` and ``unpack.py``), unpacked once (the wanted images per class) into
  ``OUT/data/`` as an ImageFolder tree and read with ``ImageFolderSearchDataModule(cache=True)``;
* torchvision's format (``ROOT/cifar-10-batches-py``, ``ROOT/cifar-100-python``): ``CIFAR10SearchDataModule`` /
  ``CIFAR100SearchDataModule``;
* an ImageFolder tree ``ROOT/cifar10/train/<class>/*`` (``cifar100``), or ``ROOT/train/<class>/*`` when it has the
  data set's number of classes.

Where a scale searches on fewer images per class than the data set has, the torchvision and ImageFolder sources are
wrapped in a class-balanced ``RandomSubsetDataModule`` of that size, drawn anew for every seed; the pack is unpacked
at that size directly: the first images of each class in the pack's (shuffled) order, the same for every seed. So
over seeds, a std from the pack reflects the search's randomness; from the other sources, the subset's too.
Nothing is downloaded: a data set found nowhere is reported, not faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lightning_nas.datamodules import (
    CIFAR10SearchDataModule,
    CIFAR100SearchDataModule,
    ImageFolderSearchDataModule,
    RandomSubsetDataModule,
)

__all__ = [
    "CLASSES",
    "TITLES",
    "DataSource",
    "find_data",
    "missing_data",
    "pack_arrays",
    "pool_datamodule",
    "search_datamodule",
]

CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100}
TITLES: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_TRAIN_SIZE = 50_000  # both CIFARs
_TORCHVISION_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
# CIFAR's per-channel mean and std (DARTS's normalisation); the ImageFolder module defaults to ImageNet's
_MEAN_STD = {
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "cifar100": ((0.5070751, 0.48654887, 0.44091785), (0.26733428, 0.25643846, 0.27615047)),
}
_PACK_FILES = ("cifar10-jpeg.bin", "cifar10-jpeg-index.npz", "unpack.py")


@dataclass(frozen=True)
class DataSource:
    """Where a data set was found: ``kind`` (``"pack"``, ``"torchvision"``, ``"imagefolder"``) and its folder."""

    dataset: str
    kind: Literal["pack", "torchvision", "imagefolder"]
    path: Path

    def __str__(self) -> str:
        return f"{TITLES[self.dataset]} ({self.kind}) at {self.path}"


def _class_dirs(folder: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(folder) if entry.is_dir())
    except OSError:
        return 0


def find_data(dataset: str, root: str | os.PathLike[str]) -> DataSource | None:
    """Where ``dataset`` (``"cifar10"`` or ``"cifar100"``) is under ``root`` (see the module docstring), or ``None``.

    Raises:
        ValueError: ``dataset`` is not ``"cifar10"`` or ``"cifar100"``.
    """
    if dataset not in CLASSES:
        raise ValueError(f"`find_data(dataset={dataset!r})`: `dataset` must be one of {list(CLASSES)}.")
    root = Path(root)
    if dataset == "cifar10":
        for folder in (root, root / "cifar10"):
            if all((folder / name).is_file() for name in _PACK_FILES):
                return DataSource(dataset, "pack", folder)
    if (root / _TORCHVISION_DIRS[dataset]).is_dir():
        return DataSource(dataset, "torchvision", root)
    for folder in (root / dataset, root):
        if (folder / "train").is_dir() and _class_dirs(folder / "train") == CLASSES[dataset]:
            return DataSource(dataset, "imagefolder", folder)
    return None


def missing_data(
    dataset: str, root: str | os.PathLike[str], *, per_class: int | None = None, pack: bool = False
) -> str | None:
    """Why ``dataset`` under ``root`` cannot serve a table's row (a row's skip reason), or ``None`` when it can.

    Args:
        dataset: ``"cifar10"`` or ``"cifar100"``.
        root: the ``--data-root`` folder.
        per_class: the row's pool is cut to ``per_class`` images per class, which only the CIFAR-10 pack can be
            (the other sources are used whole); ``None``: no cut.
        pack: the row needs the CIFAR-10 JPEG pack itself (e.g. for :func:`pack_arrays`).

    Example:
        >>> missing_data("cifar100", "/nowhere")
        'CIFAR-100 not found at /nowhere: pass --data-root'
    """
    source = find_data(dataset, root)
    title = TITLES[dataset]
    if pack and (source is None or source.kind != "pack"):
        return f"the {title} JPEG pack not found at {root}: pass --data-root"
    if source is None:
        return f"{title} not found at {root}: pass --data-root"
    if per_class is not None and source.kind != "pack":
        return (
            f"a pool of {per_class} images per class is cut from the {title} JPEG pack; {source} can only be used "
            "whole (the paper scale)"
        )
    return None


def _unpack(pack: Path, per_class: int | None, cache_dir: Path) -> Path:
    """The pack unpacked as an ImageFolder tree with ``per_class`` training images per class (all: ``None``)."""
    target = cache_dir / f"cifar10-{'all' if per_class is None else per_class}-per-class"
    done = target / ".unpacked"
    if done.is_file():
        return target
    command = [sys.executable, str(pack / "unpack.py"), "--root", str(target), "--test-per-class", "1"]
    if per_class is not None:
        command += ["--train-per-class", str(per_class)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"unpacking the CIFAR-10 pack at {pack} failed: {result.stderr.strip()[-500:]}")
    done.write_text("ok\n")
    return target


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def search_datamodule(
    source: DataSource,
    *,
    per_class: int | None,
    batch_size: int,
    seed: int,
    cache_dir: str | os.PathLike[str],
    **options: Any,
) -> Any:
    """A search data module of ``source`` (by default paired, 50/50), ``per_class`` images per class.

    Args:
        source: where the data is (:func:`find_data`).
        per_class: training images per class the search starts from; ``None`` keeps the whole training set.
        batch_size: batch size of each split.
        seed: seeds the split (and the subset).
        cache_dir: where the pack is unpacked.
        **options: further arguments of the search data module (``paired=False``, ``val_fraction``,
            ``eval_batch_size``, ...).
    """
    classes = CLASSES[source.dataset]
    mean, std = _MEAN_STD[source.dataset]
    common = {"batch_size": batch_size, "seed": seed, **options}
    if source.kind == "pack":
        root = _unpack(source.path, per_class, Path(cache_dir))
        return ImageFolderSearchDataModule(root=str(root), mean=mean, std=std, cache=True, **common)
    if source.kind == "torchvision":
        module_class = CIFAR10SearchDataModule if source.dataset == "cifar10" else CIFAR100SearchDataModule
        datamodule: Any = module_class(root=str(source.path), **common)
        pool = _TRAIN_SIZE
    else:
        datamodule = ImageFolderSearchDataModule(root=str(source.path), mean=mean, std=std, cache=True, **common)
        pool = _count_files(source.path / "train")
    if per_class is None or per_class * classes >= pool:
        return datamodule
    return RandomSubsetDataModule(
        datamodule, fraction=per_class * classes / pool, seed=seed, class_balanced=True, save_manifest=False
    )


def pack_arrays(
    source: DataSource, per_class: int | None, cache_dir: str | os.PathLike[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CIFAR-10 pack's first ``per_class`` training images per class as in-memory arrays (all: ``None``).

    The pack is unpacked once in the ``npz`` format (every image decoded) into ``cache_dir``; for
    :class:`~lightning_nas.datamodules.ArraySearchDataModule`, whose augmentation runs on whole batches of tensors
    (much cheaper per step than decoding files, what many short trainings of a model zoo need).

    Returns:
        uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)``.

    Raises:
        ValueError: ``source`` is not the CIFAR-10 pack.
        RuntimeError: unpacking failed.
    """
    if source.kind != "pack":
        raise ValueError(f"`pack_arrays(source={source})`: needs the CIFAR-10 JPEG pack (kind 'pack').")
    target = Path(cache_dir) / f"cifar10-npz-{'all' if per_class is None else per_class}-per-class"
    file = target / "cifar10.npz"
    if not file.is_file():
        command = [sys.executable, str(source.path / "unpack.py"), "--root", str(target), "--format", "npz"]
        command += ["--test-per-class", "1"]
        if per_class is not None:
            command += ["--train-per-class", str(per_class)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"unpacking the CIFAR-10 pack at {source.path} failed: {result.stderr.strip()[-500:]}")
    with np.load(file) as arrays:
        x = torch.from_numpy(np.ascontiguousarray(arrays["x_train"].transpose(0, 3, 1, 2)))
        y = torch.from_numpy(arrays["y_train"].astype(np.int64))
    return x, y


def pool_datamodule(
    source: DataSource,
    *,
    per_class: int | None,
    batch_size: int,
    seed: int,
    cache_dir: str | os.PathLike[str],
    **options: Any,
) -> Any:
    """A search data module whose whole pool is ``per_class`` images per class, for a subset selection to wrap.

    :func:`search_datamodule` without its class-balanced random-subset wrapping: a selection module
    (``EntropyProxyDataModule``, ``RandomSubsetDataModule``, ...) selects among its wrapped module's whole pool, so the
    pool itself must be the wanted size. The pack is unpacked at ``per_class``; the torchvision and ImageFolder sources
    are taken whole.

    Raises:
        ValueError: ``per_class`` is smaller than a torchvision or ImageFolder source's classes (only the pack can be
            cut to a smaller pool).
    """
    datamodule = search_datamodule(
        source, per_class=per_class, batch_size=batch_size, seed=seed, cache_dir=cache_dir, **options
    )
    if isinstance(datamodule, RandomSubsetDataModule):
        raise ValueError(
            f"`pool_datamodule(per_class={per_class})`: a pool of {per_class} images per class needs the CIFAR-10 "
            f"pack; {source} can only be used whole (per_class=None)."
        )
    return datamodule
