"""DigitsSearchDataModule: scikit-learn's real 8x8 digits, no download."""

import sys

import numpy as np
import pytest
import torch

from lightning_nas.datamodules import ArraySearchDataModule, DigitsSearchDataModule

pytest.importorskip("sklearn")


def test_digits_loads_all_1797_images_as_16x16_single_channel():
    dm = DigitsSearchDataModule(batch_size=64, seed=0)
    assert isinstance(dm, ArraySearchDataModule) and dm.num_classes == 10
    dm.setup("fit")
    test = torch.cat([b[1] for b in dm.test_dataloader()])
    assert dm.pool_size + len(test) == 1797
    assert abs(len(test) / 1797 - 0.2) < 0.01
    assert np.bincount(test.numpy(), minlength=10).min() >= 30  # stratified
    assert np.bincount(dm.labels, minlength=10).min() >= 135
    batch, _, _ = next(iter(dm.train_dataloader()))
    assert batch["train"][0].shape == (64, 1, 16, 16) and batch["val"][0].shape == (64, 1, 16, 16)
    assert not dm._data.train_transform.hflip and dm._data.train_transform.crop_padding == 2


def test_digits_test_split_never_changes_with_the_seed():
    a, b = DigitsSearchDataModule(seed=0, split="random"), DigitsSearchDataModule(seed=5, split="random")
    a.setup()
    b.setup()
    assert np.array_equal(a.labels, b.labels)
    assert torch.equal(next(iter(a.test_dataloader()))[0], next(iter(b.test_dataloader()))[0])
    assert not np.array_equal(a.active_ids("train"), b.active_ids("train"))


def test_digits_options():
    dm = DigitsSearchDataModule(test_fraction=0.0, upscale=1, augment=False, batch_size=8)
    dm.setup()
    assert dm.pool_size == 1797 and next(iter(dm.val_dataloader()))[0].shape == (8, 1, 8, 8)
    with pytest.raises(RuntimeError, match="has no test set"):
        dm.test_dataloader()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"test_fraction": 1.0},
            r"`DigitsSearchDataModule\(test_fraction=1.0\)`: `test_fraction` must be a number in \[0, 1\)",
        ),
        ({"upscale": 0}, "`upscale` must be an integer >= 1"),
        ({"crop_padding": -1}, "`crop_padding` must be an integer >= 0"),
        ({"batch_size": 0}, "`batch_size` must be an integer >= 1"),
    ],
)
def test_digits_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DigitsSearchDataModule(**kwargs)


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install lightning-nas\[demo\]"):
        DigitsSearchDataModule().setup()
