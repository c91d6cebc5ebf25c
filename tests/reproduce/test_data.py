"""reproduce.data: why a row's data cannot serve it (the skip reason every table gives)."""

from lightning_nas.reproduce.data import missing_data


def _image_folder(root):
    for c in range(10):
        (root / "cifar10" / "train" / f"class{c}").mkdir(parents=True)
    return root


def test_missing_data_names_what_is_missing(tmp_path, shared_data):
    empty = tmp_path / "empty"
    assert missing_data("cifar10", empty) == f"CIFAR-10 not found at {empty}: pass --data-root"
    assert missing_data("cifar10", empty, pack=True) == f"the CIFAR-10 JPEG pack not found at {empty}: pass --data-root"
    folder = _image_folder(tmp_path / "folder")
    assert missing_data("cifar10", folder) is None  # used whole
    reason = missing_data("cifar10", folder, per_class=500)
    assert reason is not None and reason.startswith("a pool of 500 images per class is cut from the CIFAR-10 JPEG pack")
    assert "(imagefolder)" in reason and "can only be used whole" in reason
    assert missing_data("cifar10", folder, pack=True).startswith("the CIFAR-10 JPEG pack not found")
    for options in ({}, {"per_class": 500}, {"pack": True}):
        assert missing_data("cifar10", shared_data, **options) is None
