"""Image data is validated once, in ``setup``: a bad file is a clear error naming it, before the first step."""

import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_nas.datamodules import CIFAR10SearchDataModule, ImageFolderSearchDataModule, SVHNSearchDataModule


def _save(path, size=(32, 32), gray=False, seed=0):
    rng = np.random.default_rng(seed)
    width, height = size
    shape = (height, width) if gray else (height, width, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def _tree(root, ext="png", per_class=3, test_per_class=0):
    """``root/train/{cat,dog}/{0,1,...}.ext`` (and ``root/test/...``) of random 32x32 RGB images."""
    seed = 0
    for split, count in (("train", per_class), ("test", test_per_class)):
        for label in ("cat", "dog"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                seed += 1
                _save(folder / f"{i}.{ext}", seed=seed)
    return root


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _named(path):
    return re.escape(str(path))


# --------------------------------------------------------------------------------------------------------------------
# unreadable and truncated files
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_truncated_image_is_named(tmp_path, ext, cache):
    root = _tree(tmp_path, ext=ext)
    bad = _truncate(root / "train" / "dog" / f"1.{ext}")
    dm = ImageFolderSearchDataModule(str(root), batch_size=2, cache=cache)
    with pytest.raises(ValueError, match=rf"cannot read the image {_named(bad)}\. Got .* instead\. Repair or remove"):
        dm.setup()


@pytest.mark.parametrize("cache", [False, True])
def test_truncated_test_image_is_named(tmp_path, cache):
    root = _tree(tmp_path, ext="jpg", test_per_class=2)
    bad = _truncate(root / "test" / "cat" / "0.jpg")
    with pytest.raises(ValueError, match=_named(bad)):
        ImageFolderSearchDataModule(str(root), cache=cache).setup()


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_file_that_is_not_an_image_is_named(tmp_path, content):
    root = _tree(tmp_path)
    bad = root / "train" / "cat" / "9.png"
    bad.write_bytes(content)
    match = rf"`ImageFolderSearchDataModule\(root=.*\)`: cannot read the image {_named(bad)}"
    with pytest.raises(ValueError, match=match):
        ImageFolderSearchDataModule(str(root)).setup()


def test_truncated_bmp_is_named(tmp_path):
    root = _tree(tmp_path, ext="bmp")  # no end marker to check: such files are decoded once
    bad = _truncate(root / "train" / "cat" / "2.bmp")
    with pytest.raises(ValueError, match=_named(bad)):
        ImageFolderSearchDataModule(str(root)).setup()


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_complete_file_with_trailing_bytes_is_accepted(tmp_path, ext):
    root = _tree(tmp_path, ext=ext)
    path = root / "train" / "dog" / f"0.{ext}"
    path.write_bytes(path.read_bytes() + b"\x00" * 7)  # e.g. padding written by some cameras and tools
    dm = ImageFolderSearchDataModule(str(root), batch_size=6)
    dm.setup()
    assert next(iter(dm.pool_dataloader()))[0].shape == (6, 3, 32, 32)


def _png_text(n):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("comment", "x" * n)
    return info


@pytest.mark.parametrize("kind", ["jpg-large-image", "jpg-large-exif", "png-large-text"])
def test_file_of_more_than_8_kib_is_checked_to_its_end(tmp_path, kind):
    # the header is read 8 KiB at once: a larger file has its last bytes read apart (or, a JPEG frame header past the
    # first 8 KiB, PIL reads the header)
    ext = kind[:3]
    root = _tree(tmp_path, ext=ext)
    big = root / "train" / "cat" / f"1.{ext}"
    rng = np.random.default_rng(5)
    side = 200 if kind == "jpg-large-image" else 32
    options = {
        "jpg-large-image": {"quality": 100},
        "jpg-large-exif": {"exif": b"Exif\x00\x00" + bytes(12000)},
        "png-large-text": {"pnginfo": _png_text(20000)},
    }[kind]
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(big, **options)
    assert big.stat().st_size > 8192
    image_size = 24 if side != 32 else None  # resizing: the 200x200 image among 32x32 ones is legitimate
    ImageFolderSearchDataModule(str(root), image_size=image_size).setup()  # complete: fine
    _truncate(big)
    with pytest.raises(ValueError, match=rf"cannot read the image {_named(big)}"):
        ImageFolderSearchDataModule(str(root), image_size=image_size).setup()


def test_png_with_a_broken_header_is_named(tmp_path):
    root = _tree(tmp_path)
    bad = root / "train" / "dog" / "0.png"
    data = bytearray(bad.read_bytes())
    data[30] ^= 0xFF  # the IHDR checksum
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=_named(bad)):
        ImageFolderSearchDataModule(str(root)).setup()


def _variants(tmp_path):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8))  # width 41, height 30
    yield "baseline.jpg", rgb, {}
    yield "progressive.jpg", rgb, {"progressive": True}
    yield "gray.jpg", rgb.convert("L"), {}
    yield "cmyk.jpg", rgb.convert("CMYK"), {}
    yield "rgb.png", rgb, {}
    yield "rgba.png", rgb.convert("RGBA"), {}
    yield "palette.png", rgb.convert("P"), {}
    yield "bilevel.png", rgb.convert("1"), {}
    yield "gray-alpha.png", rgb.convert("LA"), {}


def test_every_common_jpeg_and_png_kind_is_accepted_with_its_size(tmp_path):
    """Baseline, progressive, grayscale and CMYK JPEGs; RGB, RGBA, palette, 1-bit and gray+alpha PNGs: all 41x30."""
    for i, (name, image, options) in enumerate(_variants(tmp_path)):
        folder = tmp_path / "root" / "train" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / name, **options)
    dm = ImageFolderSearchDataModule(str(tmp_path / "root"), batch_size=2)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))[0]  # CombinedLoader: (batch, batch_idx, dataloader_idx)
    assert tuple(batch["train"][0].shape[1:]) == (3, 30, 41)


def test_a_jpeg_with_trailing_bytes_is_complete_and_a_cut_png_is_not(tmp_path):
    root = _tree(tmp_path / "root")
    good = sorted(root.rglob("*.png"))[0]
    trailing = good.with_suffix(".jpg")
    Image.open(good).convert("RGB").save(trailing)
    good.unlink()
    trailing.write_bytes(trailing.read_bytes() + b"\x00")
    ImageFolderSearchDataModule(str(root)).setup()  # decoded once: complete
    cut = _truncate(sorted(root.rglob("*.png"))[0])
    with pytest.raises(ValueError, match=re.escape(str(cut))):
        ImageFolderSearchDataModule(str(root)).setup()


def test_truncated_real_cifar10_jpeg_is_named(tmp_path, cifar10_small_root):
    shutil.copytree(cifar10_small_root / "train", tmp_path / "train")
    bad = _truncate(sorted((tmp_path / "train").rglob("*.jpg"))[37])
    for cache in (False, True):
        with pytest.raises(ValueError, match=_named(bad)):
            ImageFolderSearchDataModule(str(tmp_path), cache=cache).setup()


def test_file_broken_after_setup_is_named_when_read(tmp_path):
    root = _tree(tmp_path, ext="jpg")
    dm = ImageFolderSearchDataModule(str(root), batch_size=6)
    dm.setup()
    bad = _truncate(root / "train" / "cat" / "1.jpg")
    with pytest.raises(OSError, match=rf"cannot read the image {_named(bad)}"):
        list(dm.pool_dataloader())


# --------------------------------------------------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("where", ["train/dog/1.png", "train/cat/0.png", "test/dog/0.png"])
def test_image_of_another_size_is_named_with_both_sizes(tmp_path, cache, where):
    root = _tree(tmp_path, test_per_class=2)
    odd = _save(root / where, size=(48, 48))
    dm = ImageFolderSearchDataModule(str(root), batch_size=2, cache=cache)
    with pytest.raises(
        ValueError,
        match=rf"image_size=None\)`: .* the pool's size, 32x32 \(width x height, the size of \d of the 6 training "
        rf"images\).* Got {_named(odd)} of size 48x48 instead\. .*pass `image_size=<int>`",
    ):
        dm.setup()


def test_several_odd_sizes_are_counted(tmp_path):
    root = _tree(tmp_path, per_class=4)
    _save(root / "train" / "cat" / "1.png", size=(32, 40))
    _save(root / "train" / "dog" / "3.png", size=(40, 32))
    with pytest.raises(ValueError, match=r"of size 32x40 instead; 2 images differ in all, also .*3\.png \(40x32\)"):
        ImageFolderSearchDataModule(str(root)).setup()


def test_mixed_sizes_are_fine_when_resizing(tmp_path):
    root = _tree(tmp_path, test_per_class=1)
    _save(root / "train" / "dog" / "1.png", size=(48, 40))
    _save(root / "test" / "cat" / "0.png", size=(20, 20))
    dm = ImageFolderSearchDataModule(str(root), image_size=24, batch_size=6)
    dm.setup()
    assert next(iter(dm.pool_dataloader()))[0].shape == (6, 3, 24, 24)
    assert next(iter(dm.test_dataloader()))[0].shape == (2, 3, 24, 24)


# --------------------------------------------------------------------------------------------------------------------
# channels and bit depth
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", [False, True])
def test_grayscale_among_rgb_is_read_as_rgb(tmp_path, cache):
    root = _tree(tmp_path)
    _save(root / "train" / "cat" / "0.png", gray=True)  # pool id 0
    dm = ImageFolderSearchDataModule(str(root), mean=(0.5,), std=(0.5,), batch_size=6, cache=cache)
    dm.setup()
    x = next(iter(dm.pool_dataloader()))[0]
    assert x.shape == (6, 3, 32, 32)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 0], x[0, 2])  # the gray level on every channel
    assert not torch.equal(x[1, 0], x[1, 1])


@pytest.mark.parametrize("cache", [False, True])
def test_more_than_8_bits_per_channel_is_refused(tmp_path, cache):
    root = _tree(tmp_path)
    deep = root / "train" / "dog" / "2.png"
    Image.fromarray(np.full((32, 32), 4000, dtype=np.uint16)).save(deep)  # 16-bit grayscale PNG
    with pytest.raises(ValueError, match=rf"{_named(deep)} has more than 8 bits per channel .*Got mode 'I"):
        ImageFolderSearchDataModule(str(root), cache=cache).setup()


@pytest.mark.parametrize("entries", [2, 4])
def test_mean_and_std_must_fit_rgb(entries):
    with pytest.raises(ValueError, match=rf"must have 3 entries \(or 1, shared by the channels\)\. Got {entries}"):
        ImageFolderSearchDataModule("root", mean=(0.5,) * entries, std=(0.5,) * entries)


# --------------------------------------------------------------------------------------------------------------------
# torchvision arrays: labels and layout
# --------------------------------------------------------------------------------------------------------------------
def _fake_cifar(monkeypatch, data, targets):
    fake = SimpleNamespace(data=data, targets=targets)
    monkeypatch.setattr(CIFAR10SearchDataModule, "_dataset", lambda self, train, download: fake)


@pytest.mark.parametrize("label", [10, -1])
def test_cifar_label_out_of_range_is_named(monkeypatch, label):
    targets = [i % 10 for i in range(12)]
    targets[7] = label
    _fake_cifar(monkeypatch, np.zeros((12, 32, 32, 3), dtype=np.uint8), targets)
    with pytest.raises(
        ValueError,
        match=rf"every training label must be in \[0, 10\) .*Got label {label} for training sample 7 instead "
        r"\(1 label\(s\) out of range\)",
    ):
        CIFAR10SearchDataModule(root="unused").setup()


def test_cifar_images_of_the_wrong_layout_are_refused(monkeypatch):
    _fake_cifar(monkeypatch, np.zeros((4, 32, 32, 1), dtype=np.uint8), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"must be an \(N, 3, H, W\) uint8 array\. Got shape \(4, 1, 32, 32\)"):
        CIFAR10SearchDataModule(root="unused").setup()
    _fake_cifar(monkeypatch, np.zeros((4, 32, 32, 3), dtype=np.uint8), [0, 1, 2])
    with pytest.raises(ValueError, match="one label per image. Got 3 labels for 4 images instead"):
        CIFAR10SearchDataModule(root="unused").setup()


def test_svhn_label_out_of_range_is_named(monkeypatch):
    fake = SimpleNamespace(data=np.zeros((3, 3, 32, 32), dtype=np.uint8), labels=np.array([0, 11, 2]))
    monkeypatch.setattr(SVHNSearchDataModule, "_dataset", lambda self, train, download: fake)
    match = r"`SVHNSearchDataModule\(root=.data.\)`: .*Got label 11 for training sample 1"
    with pytest.raises(ValueError, match=match):
        SVHNSearchDataModule().setup()
