"""ArraySearchDataModule and the batched tensor augmentation."""

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from lightning_nas.datamodules import ArraySearchDataModule, IndexedDataset, TensorImageTransform, TensorPool


def _uint8(n=12, c=3, size=8, seed=0):
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_numpy_grayscale_float_arrays_are_accepted_and_normalised_with_pool_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(30, 6, 6)).astype(np.float64)
    y = np.arange(30) % 3
    dm = ArraySearchDataModule(x, y, batch_size=30, augment=False, val_fraction=0.5)
    assert dm.x_train is x  # stored as given until setup
    dm.setup()
    images = torch.cat([b[0] for b in dm.pool_dataloader()])
    assert images.shape == (30, 1, 6, 6) and images.dtype == torch.float32
    assert abs(float(images.mean())) < 1e-5 and abs(float(images.std(unbiased=False)) - 1) < 1e-4
    assert dm.num_classes == 3


def test_uint8_images_are_scaled_then_normalised_like_to_tensor_and_normalize():
    x = _uint8()
    dm = ArraySearchDataModule(x, torch.arange(12) % 2, augment=False, batch_size=12)
    dm.setup()
    transform = dm._data.eval_transform
    mean, std = transform.mean.flatten().tolist(), transform.std.flatten().tolist()
    expected = torch.stack([TF.normalize(TF.to_tensor(img.permute(1, 2, 0).numpy()), mean, std) for img in x])
    got = torch.cat([b[0] for b in dm.pool_dataloader()])
    torch.testing.assert_close(got, expected)
    flat = x.double().div(255).transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), flat.mean(1), rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), flat.std(1, unbiased=False), rtol=0, atol=1e-6)


def test_constant_channel_gets_unit_std():
    dm = ArraySearchDataModule(np.zeros((4, 1, 4, 4), dtype=np.uint8), np.zeros(4, dtype=np.int64), augment=False)
    dm.setup()
    assert torch.isfinite(next(iter(dm.val_dataloader()))[0]).all()


def test_batched_crop_and_flip_match_torchvision_crops_of_the_zero_padded_image():
    x = _uint8(n=64, size=8)
    pad = 2
    t = TensorImageTransform([0.0] * 3, [1.0] * 3, crop_padding=pad, hflip=True)
    out = t.apply_batch(x, np.arange(64) * 7919)
    flips = 0
    for img, got in zip(x, out, strict=True):
        padded = TF.pad(img, [pad])
        candidates = [
            (flip, TF.crop(padded, i, j, 8, 8).float() / 255)
            for i in range(2 * pad + 1)
            for j in range(2 * pad + 1)
            for flip in (False, True)
        ]
        matches = [flip for flip, c in candidates if torch.equal(TF.hflip(c) if flip else c, got)]
        assert matches, "every output must be a crop (optionally flipped) of the zero-padded image"
        flips += matches[0]
    assert 16 < flips < 48


def test_batched_path_is_deterministic_and_matches_single_samples():
    pool = TensorPool(_uint8(), torch.arange(12) % 3)
    ds = IndexedDataset(pool, TensorImageTransform([0.5] * 3, [0.25] * 3, crop_padding=1, hflip=True))
    keys = [(i, 1000 + i) for i in range(12)]
    x, y, ids = ds.__getitems__(keys).collated
    x2, _, _ = ds.__getitems__(keys).collated
    assert torch.equal(x, x2) and ids.tolist() == list(range(12)) and torch.equal(y, pool.labels)
    single = ds[keys[5]]
    assert torch.equal(single[0], x[5]) and single[1:] == (int(y[5]), 5)
    plain = ds.__getitems__(list(range(3))).collated[0]
    torch.testing.assert_close(plain, (pool.images[:3].float() / 255 - 0.5) / 0.25)


def test_augment_false_disables_crop_and_flip_and_crop_padding_defaults_to_size_over_8():
    x, y = _uint8(size=16), torch.arange(12) % 2
    on = ArraySearchDataModule(x, y)
    off = ArraySearchDataModule(x, y, augment=False)
    custom = ArraySearchDataModule(x, y, crop_padding=0, hflip=False)
    for dm in (on, off, custom):
        dm.setup()
    assert on._data.train_transform.crop_padding == 2 and on._data.train_transform.hflip
    assert not off._data.train_transform.augments and not custom._data.train_transform.augments
    small = ArraySearchDataModule(_uint8(size=4), y)
    small.setup()
    assert small._data.train_transform.crop_padding == 1


def test_test_arrays_are_served_by_the_test_loader():
    x, y = _uint8(), torch.arange(12) % 3
    dm = ArraySearchDataModule(x, y, x_test=x[:5].numpy(), y_test=[0, 1, 2, 0, 1], batch_size=4)
    dm.setup()
    xb, yb, ids = next(iter(dm.test_dataloader()))
    assert ids.tolist() == [0, 1, 2, 3] and yb.tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x_train": [[1.0]]}, TypeError, "`x_train` must be a numpy array or a torch tensor. Got list instead."),
        ({"x_train": np.zeros((0, 3, 4, 4))}, ValueError, "`x_train` must hold at least one image. Got 0 instead."),
        (
            {"x_train": np.zeros((4, 4))},
            ValueError,
            r"must be \(N, C, H, W\) or \(N, H, W\) images. Got shape \(4, 4\)",
        ),
        ({"x_train": np.zeros((4, 8, 8, 3))}, ValueError, "looks channel-last"),
        ({"x_train": np.zeros((4, 3, 8, 8), dtype=np.int32)}, ValueError, "must be uint8 .* or floating point"),
        ({"y_train": np.arange(5)}, ValueError, r"one label per image of `x_train` \(4\). Got shape \(5,\)"),
        ({"y_train": np.array([0.0, 1.0, 0.0, 1.0])}, ValueError, "labels must be integers. Got dtype float64"),
        ({"y_train": np.array([True, False, True, False])}, ValueError, "labels must be integers"),
        ({"y_train": np.array([0, -1, 0, 1])}, ValueError, "labels must be >= 0. Got -1 instead."),
        (
            {"num_classes": 2, "y_train": np.array([0, 1, 2, 0])},
            ValueError,
            r"labels must be in \[0, num_classes\) = \[0, 2\). Got 2 instead.",
        ),
        ({"num_classes": 0}, ValueError, "`num_classes` must be an integer >= 1"),
        ({"x_test": np.zeros((2, 3, 8, 8))}, ValueError, "give both `x_test` and `y_test`, or neither"),
        ({"x_test": np.zeros((2, 3, 6, 6)), "y_test": [0, 1]}, ValueError, r"test images have shape \(3, 6, 6\)"),
        (
            {"x_test": np.zeros((2, 3, 8, 8)), "y_test": [0, 5]},
            ValueError,
            r"`ArraySearchDataModule\(y_test=...\)`: labels must be in \[0, num_classes\) = \[0, 2\)",
        ),
        ({"crop_padding": -1}, ValueError, "`crop_padding` must be an integer >= 0"),
        ({"augment": "yes"}, TypeError, "`augment` must be a bool"),
        ({"hflip": None}, TypeError, "`hflip` must be a bool"),
    ],
)
def test_validation_errors_name_the_argument(kwargs, error, match):
    args = {"x_train": np.zeros((4, 3, 8, 8), dtype=np.uint8), "y_train": np.array([0, 1, 0, 1])} | kwargs
    with pytest.raises(error, match=match):
        ArraySearchDataModule(**args)


def test_tensor_transform_argument_errors():
    with pytest.raises(ValueError, match="one entry per channel"):
        TensorImageTransform([0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="`std` must be > 0"):
        TensorImageTransform([0.5], [0.0])
    with pytest.raises(ValueError, match="`crop_padding` must be an int >= 0"):
        TensorImageTransform([0.5], [0.5], crop_padding=-2)
