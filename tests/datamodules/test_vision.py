"""Vision data modules: ImageFolder on real CIFAR-10 images, torchvision data sets without their files."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.utilities import CombinedLoader

from lightning_nas.datamodules import (
    CIFAR10SearchDataModule,
    CIFAR100SearchDataModule,
    ImageFolderSearchDataModule,
    SVHNSearchDataModule,
)


def _epoch(loader, epoch):
    for dl in loader.flattened if isinstance(loader, CombinedLoader) else [loader]:
        dl.sampler.set_epoch(epoch)
    return [b[0] if isinstance(loader, CombinedLoader) else b for b in loader]


def test_image_folder_native_size_on_real_cifar10(cifar10_small_root):
    dm = ImageFolderSearchDataModule(str(cifar10_small_root), batch_size=16, seed=0)
    assert dm.num_classes == 10  # read from the class folders before setup
    dm.setup("fit")
    assert dm.pool_size == 200 and np.bincount(dm.labels).tolist() == [20] * 10
    train, val = dm.active_ids("train"), dm.active_ids("val")  # the folder is class-sorted: a stratified split
    assert np.bincount(dm.labels[train]).tolist() == np.bincount(dm.labels[val]).tolist() == [10] * 10
    batches = _epoch(dm.train_dataloader(), 0)
    assert len(batches) == 7
    x, y, ids = batches[0]["train"]
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and ids.dtype == torch.int64
    assert torch.equal(y, torch.as_tensor(dm.labels[ids.numpy()]))
    assert sorted(torch.cat([b["val"][2] for b in batches]).tolist()) == val.tolist()
    test = list(dm.test_dataloader())
    assert sum(len(b[2]) for b in test) == 50 and test[0][0].shape[1:] == (3, 32, 32)


def test_image_folder_augmentation_is_reproducible_per_epoch(cifar10_small_root):
    dm = ImageFolderSearchDataModule(str(cifar10_small_root), batch_size=50, paired=False, seed=0)
    dm.setup()
    torch.manual_seed(0)
    a = _epoch(dm.train_dataloader(), 0)
    torch.manual_seed(1)
    b = _epoch(dm.train_dataloader(), 0)
    c = _epoch(dm.train_dataloader(), 1)
    assert all(torch.equal(u[0], v[0]) and torch.equal(u[2], v[2]) for u, v in zip(a, b, strict=True))

    def by_id(batches):
        return {int(i): x for xb, _, ids in batches for x, i in zip(xb, ids, strict=True)}

    first, second = by_id(a), by_id(c)
    assert sum(not torch.equal(first[i], second[i]) for i in first) > len(first) // 2


def test_image_folder_resized_to_24(cifar10_small_root):
    dm = ImageFolderSearchDataModule(str(cifar10_small_root), image_size=24, batch_size=8, seed=0)
    dm.setup()
    batch = _epoch(dm.train_dataloader(), 0)[0]
    assert batch["train"][0].shape == batch["val"][0].shape == (8, 3, 24, 24)
    assert next(iter(dm.val_dataloader()))[0].shape == (8, 3, 24, 24)
    assert next(iter(dm.test_dataloader()))[0].shape == (8, 3, 24, 24)


def test_image_folder_cache_serves_the_same_eval_tensors(cifar10_small_root):
    plain = ImageFolderSearchDataModule(str(cifar10_small_root), batch_size=32)
    cached = ImageFolderSearchDataModule(str(cifar10_small_root), batch_size=32, cache=True)
    plain.setup()
    cached.setup()
    for a, b in zip(plain.val_dataloader(), cached.val_dataloader(), strict=True):
        torch.testing.assert_close(a[0], b[0])
        assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    batch = _epoch(cached.train_dataloader(), 0)[0]
    assert batch["train"][0].shape == (32, 3, 32, 32)
    assert sum(len(b[2]) for b in cached.test_dataloader()) == 50


def test_image_folder_without_test_folder(tmp_path, cifar10_small_root):
    (tmp_path / "train").symlink_to(cifar10_small_root / "train")
    dm = ImageFolderSearchDataModule(str(tmp_path))
    dm.setup()
    with pytest.raises(RuntimeError, match="has no test set"):
        dm.test_dataloader()


def test_image_folder_missing_train_folder_names_the_path(tmp_path):
    dm = ImageFolderSearchDataModule(str(tmp_path / "nowhere"))
    with pytest.raises(RuntimeError, match=r"call `setup\(\)` first"):
        _ = dm.num_classes
    with pytest.raises(FileNotFoundError, match=r"no training folder '.*nowhere/train'"):
        dm.setup()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 0}, "`image_size` must be an integer >= 1"),
        ({"mean": (0.5,), "std": (0.5, 0.5)}, "must have one entry per channel. Got 1 and 2 instead."),
        ({"std": (0.5, 0.0, 0.5)}, "`std` must be > 0"),
        ({"cache": True, "image_size": 24}, r"`cache` needs `image_size=None`"),
        (
            {"val_fraction": 1.0},
            r"`ImageFolderSearchDataModule\(val_fraction=1.0\)`: `val_fraction` must be a number in \(0, 1\)",
        ),
    ],
)
def test_image_folder_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageFolderSearchDataModule("root", **kwargs)


@pytest.mark.parametrize(
    ("cls", "classes"), [(CIFAR10SearchDataModule, 10), (CIFAR100SearchDataModule, 100), (SVHNSearchDataModule, 10)]
)
def test_torchvision_modules_without_data_tell_how_to_get_it(tmp_path, cls, classes):
    dm = cls(root=str(tmp_path))
    assert dm.num_classes == classes
    dm.prepare_data()  # download=False: touches nothing
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match=r"no .* data found under .*Pass `download=True`.*point `root`"):
        dm.setup()


def test_cifar_layout_and_darts_augmentation(monkeypatch):
    rng = np.random.default_rng(0)
    fake = {
        True: SimpleNamespace(
            data=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), targets=[i % 10 for i in range(20)]
        ),
        False: SimpleNamespace(data=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), targets=[0, 1, 2, 3]),
    }
    calls = []

    def dataset(self, train, download):
        calls.append((train, download))
        return fake[train]

    monkeypatch.setattr(CIFAR10SearchDataModule, "_dataset", dataset)
    dm = CIFAR10SearchDataModule(root="unused", download=True, batch_size=4)
    dm.prepare_data()
    assert calls == [(True, True), (False, True)]
    dm.setup()
    train_t, eval_t = dm._data.train_transform, dm._data.eval_transform
    assert (train_t.crop_padding, train_t.hflip, eval_t.augments) == (4, True, False)
    x, y, ids = next(iter(dm.pool_dataloader([3])))
    image = torch.from_numpy(fake[True].data[3]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(x[0], (image - torch.from_numpy(eval_t.mean[0])) / torch.from_numpy(eval_t.std[0]))
    assert y.tolist() == [3] and ids.tolist() == [3]
    assert [len(b[2]) for b in dm.test_dataloader()] == [4]
    monkeypatch.setattr(
        SVHNSearchDataModule,
        "_dataset",
        lambda self, train, download: SimpleNamespace(
            data=np.zeros((6, 3, 32, 32), dtype=np.uint8), labels=np.arange(6) % 3
        ),
    )
    svhn = SVHNSearchDataModule()
    svhn.setup()
    assert svhn.pool_size == 6 and not svhn._data.train_transform.hflip


def test_torchvision_module_argument_errors():
    with pytest.raises(ValueError, match="`download` must be a bool"):
        CIFAR10SearchDataModule(download="yes")
    with pytest.raises(ValueError, match="`root` must be a path"):
        CIFAR100SearchDataModule(root=3)
