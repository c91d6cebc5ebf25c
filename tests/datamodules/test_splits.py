"""Weight/architecture splits never leave a class out: the stratified default, and refusals of the other modes."""

import inspect

import numpy as np
import pytest
import torch
from PIL import Image

import lightning_nas.datamodules as dms
from lightning_nas.datamodules import (
    ArraySearchDataModule,
    CoresetDataModule,
    DigitsSearchDataModule,
    EntropyProxyDataModule,
    ImageFolderSearchDataModule,
    RandomSubsetDataModule,
    ReducedDataModule,
    SearchDataModule,
)
from lightning_nas.datamodules.splits import check_class_coverage, num_train, stratified_split


def _classes(labels, ids):
    return set(np.asarray(labels)[ids].tolist())


@pytest.mark.parametrize(
    "counts, val_fraction",
    [([20] * 10, 0.5), ([7, 3, 11, 2], 0.5), ([10] * 4, 0.1), ([50, 2, 2], 0.3), ([4] * 5, 0.75), ([9, 8], 0.25)],
)
def test_stratified_split_keeps_sizes_and_every_class_in_both_splits(counts, val_fraction):
    labels = np.repeat(np.arange(len(counts)), counts)  # class-sorted, as an image folder
    n = len(labels)
    train, val = stratified_split(np.arange(n), labels, val_fraction, np.random.default_rng(0))
    assert len(train) == num_train(n, val_fraction) and len(val) == n - len(train)  # sizes as unstratified
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(n))  # a partition
    assert _classes(labels, train) == _classes(labels, val) == set(range(len(counts)))
    per_class = np.bincount(labels[val], minlength=len(counts))
    # each class's share is its exact share up to one sample, unless it had to be lifted to keep one per split
    exact = val_fraction * np.asarray(counts)
    assert np.all((np.abs(per_class - exact) < 1) | (per_class == 1) | (per_class == np.asarray(counts) - 1))


def test_stratified_split_is_proportional_per_class_on_balanced_pools():
    labels = np.repeat(np.arange(10), 100)
    train, val = stratified_split(np.arange(1000), labels, 0.5, np.random.default_rng(3))
    assert np.bincount(labels[val]).tolist() == [50] * 10 and np.bincount(labels[train]).tolist() == [50] * 10


def test_stratified_split_is_seeded():
    labels = np.repeat(np.arange(3), 10)
    a = stratified_split(np.arange(30), labels, 0.5, np.random.default_rng(1))
    b = stratified_split(np.arange(30), labels, 0.5, np.random.default_rng(1))
    c = stratified_split(np.arange(30), labels, 0.5, np.random.default_rng(2))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_stratified_split_refuses_a_single_sample_class_and_too_small_splits():
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have a single sample"):
        stratified_split(np.arange(5), np.array([0, 0, 1, 1, 2]), 0.5, np.random.default_rng(0), owner="X")
    with pytest.raises(ValueError, match=r"`X\(val_fraction=0.1\)`.*each of the 3 classes"):
        stratified_split(np.arange(12), np.repeat(np.arange(3), 4), 0.1, np.random.default_rng(0), owner="X")
    # a selected subset may hold a class once: it goes to the weight split
    train, val = stratified_split(
        np.arange(5), np.array([0, 0, 1, 1, 2]), 0.5, np.random.default_rng(0), singletons="train"
    )
    assert 4 in train and _classes([0, 0, 1, 1, 2], val) == {0, 1}
    # ... but a selection of one sample per class leaves nothing for the architecture split
    with pytest.raises(ValueError, match=r"`X\(val_fraction=0.5\)`: every class holds a single sample \(3 class"):
        stratified_split(np.arange(3), np.arange(3), 0.5, np.random.default_rng(0), owner="X", singletons="train")


def test_a_coreset_of_one_sample_per_class_is_refused_naming_the_fraction():
    dm = CoresetDataModule(_sorted_arrays(), fraction=0.05, features=np.random.default_rng(0).normal(size=(48, 4)),
                           save_manifest=False, seed=0)  # fmt: skip
    with pytest.raises(ValueError, match="every class holds a single sample.*at least 2 samples per class"):
        dm.setup("fit")


def test_check_class_coverage_names_the_missing_classes():
    labels = np.repeat(np.arange(4), 2)
    with pytest.raises(ValueError, match=r"\[2, 3\] from the weight split and \[0, 1\] from the architecture split"):
        check_class_coverage(labels, np.arange(4), np.arange(4, 8), owner="M")
    check_class_coverage(labels, np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7]), owner="M")  # no error


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_search_data_module_defaults_to_the_stratified_split():
    modules = {c for c in _subclasses(SearchDataModule) if c.__module__.startswith("lightning_nas")}
    assert {m.__name__ for m in modules} >= {
        "CIFAR10SearchDataModule",
        "CIFAR100SearchDataModule",
        "SVHNSearchDataModule",
        "ImageFolderSearchDataModule",
        "ArraySearchDataModule",
        "DigitsSearchDataModule",
    }
    for module in modules | {SearchDataModule}:
        split = inspect.signature(module.__init__).parameters.get("split")
        # subclasses either take `split` with the stratified default or pass **kwargs to the base class
        default = split.default if split is not None else inspect.signature(SearchDataModule.__init__).parameters[
            "split"].default  # fmt: skip
        assert default == "stratified", module
    assert hasattr(dms, "ImageFolderSearchDataModule")


@pytest.fixture(scope="module")
def sorted_folder(tmp_path_factory):
    """An image folder of 4 classes x 6 training images (sorted by class on disk, as every image folder is)."""
    root = tmp_path_factory.mktemp("sorted_folder")
    rng = np.random.default_rng(0)
    for part, per_class in (("train", 6), ("test", 2)):
        for c in range(4):
            folder = root / part / f"class_{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_image_folder_default_split_holds_every_class_in_both_splits(sorted_folder):
    dm = ImageFolderSearchDataModule(root=str(sorted_folder), batch_size=4)
    dm.setup("fit")
    assert np.all(np.diff(dm.labels) >= 0)  # the pool is class-sorted
    assert _classes(dm.labels, dm.active_ids("train")) == _classes(dm.labels, dm.active_ids("val")) == {0, 1, 2, 3}
    assert len(dm.active_ids("train")) == len(dm.active_ids("val")) == 12


def test_contiguous_split_of_a_class_sorted_folder_is_refused_naming_the_classes(sorted_folder):
    dm = ImageFolderSearchDataModule(root=str(sorted_folder), batch_size=4, split="contiguous")
    with pytest.raises(ValueError, match=r"split='contiguous'.*\[2, 3\] from the weight split.*are missing.*sorted"):
        dm.setup("fit")


def test_real_cifar10_folder_default_split_has_every_class(cifar10_small_root):
    dm = ImageFolderSearchDataModule(root=str(cifar10_small_root))
    dm.setup("fit")
    assert _classes(dm.labels, dm.active_ids("train")) == _classes(dm.labels, dm.active_ids("val")) == set(range(10))
    assert np.bincount(dm.labels[dm.active_ids("val")]).tolist() == [10] * 10


def test_random_split_that_misses_a_class_is_refused():
    y = torch.tensor([0] * 9 + [1])  # one sample of class 1: the random split cannot hold it in both
    with pytest.raises(ValueError, match=r"split='random'.*class\(es\) \[1\] from the \w+ split are missing"):
        ArraySearchDataModule(torch.rand(10, 1, 4, 4), y, split="random", seed=0).setup()
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have a single sample"):
        ArraySearchDataModule(torch.rand(10, 1, 4, 4), y, seed=0).setup()


def test_array_and_digits_modules_split_every_class():
    y = torch.arange(40) // 10  # class-sorted arrays
    dm = ArraySearchDataModule(torch.rand(40, 1, 4, 4), y, seed=0)
    dm.setup()
    assert _classes(dm.labels, dm.active_ids("train")) == _classes(dm.labels, dm.active_ids("val")) == {0, 1, 2, 3}
    pytest.importorskip("sklearn")
    digits = DigitsSearchDataModule(seed=0)
    digits.setup()
    assert _classes(digits.labels, digits.active_ids("val")) == set(range(10))


def _sorted_arrays(per_class=12, classes=4):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(per_class * classes) // per_class
    return ArraySearchDataModule(torch.rand(len(y), 3, 8, 8, generator=g), y, batch_size=4, seed=0)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda dm: RandomSubsetDataModule(dm, fraction=0.5, save_manifest=False),
        lambda dm: CoresetDataModule(dm, fraction=0.5, features=np.random.default_rng(0).random((48, 5)),
                                     save_manifest=False),
        lambda dm: EntropyProxyDataModule(dm, fraction=0.5, bin_width=0.5, save_manifest=False,
                                          logits=np.random.default_rng(0).normal(size=(48, 4))),
        lambda dm: ReducedDataModule(dm, fraction=0.5),
    ],
    ids=["random_subset", "coreset", "entropy", "reduced"],
)  # fmt: skip
def test_reduction_modules_split_every_selected_class(wrap):
    dm = wrap(_sorted_arrays())
    dm.setup("fit")
    inner = dm.datamodule
    train, val = dm.active_ids("train"), dm.active_ids("val")
    selected = _classes(inner.labels, np.concatenate([train, val]))
    assert _classes(inner.labels, train) == _classes(inner.labels, val) == selected == {0, 1, 2, 3}
