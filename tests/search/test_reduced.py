"""EcoNAS reduced settings (names, fields, module arguments) and the reduced data module (resolution, sample ratio)."""

import itertools

import numpy as np
import pytest
import torch
from jsonargparse import ArgumentParser
from lightning import LightningModule, Trainer
from torch.nn import functional as F

from lightning_nas.datamodules import ArraySearchDataModule, ReducedDataModule, resize_batch
from lightning_nas.search import ReducedSetting
from lightning_nas.search.reduced import CHANNELS, RESOLUTIONS, SAMPLE_RATIOS


# ------------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "name,fields",
    [
        ("c4r4s0e60", (8, 8, 1.0, 60)),  # EcoNAS's proxy
        ("c0r0s0e600", (36, 32, 1.0, 600)),  # the original DARTS setting
        ("c4r2s0e50", (8, 16, 1.0, 50)),  # the DARTS proxy of Table 5 (with 50 epochs)
        ("c3r2s1e60", (12, 16, 0.5, 60)),
        ("c1r0s0e25", (24, 32, 1.0, 25)),  # AmoebaNet's
        ("c2r3s3e1", (18, 12, 0.125, 1)),
        (" C4R4S0E60 ", (8, 8, 1.0, 60)),
    ],
)
def test_names_index_the_cifar10_table_and_e_counts_epochs(name, fields):
    setting = ReducedSetting.parse(name)
    assert (setting.c, setting.r, setting.s, setting.e) == fields
    assert str(setting) == name.strip().lower()


def test_every_table_name_round_trips():
    for a, b, c in itertools.product(range(5), range(5), range(4)):
        name = f"c{a}r{b}s{c}e30"
        setting = ReducedSetting.parse(name)
        assert (setting.c, setting.r, setting.s) == (CHANNELS[a], RESOLUTIONS[b], SAMPLE_RATIOS[c])
        assert setting.name == str(setting) == name
        assert ReducedSetting.parse(str(setting)) == setting


@pytest.mark.parametrize(
    "name,match",
    [
        ("c5r0s0e60", r"the c subscript must be in 0..4 \(36, 24, 18, 12, 8 channels\). Got 5"),
        ("c0r7s0e60", r"the r subscript must be in 0..4 \(32, 24, 16, 12, 8 pixels\)"),
        ("c0r0s4e60", r"the s subscript must be in 0..3 \(1, 0.5, 0.25, 0.125 of the samples\)"),
        ("c0r0s0e0", "the number after 'e' is the epoch count itself"),
        ("c4r4s0", "a reduced setting is named 'c{a}r{b}s{c}e{epochs}'"),
        ("e60c4r4s0", "a reduced setting is named"),
        ("c4 r4 s0 e60", "a reduced setting is named"),
        ("c-1r0s0e60", "a reduced setting is named"),
    ],
)
def test_bad_names_say_what_is_allowed(name, match):
    with pytest.raises(ValueError, match=match):
        ReducedSetting.parse(name)


def test_parse_needs_a_string():
    with pytest.raises(TypeError, match="expected a string"):
        ReducedSetting.parse(60)


def test_defaults_are_the_econas_proxy_and_fields_are_checked():
    assert ReducedSetting() == ReducedSetting.parse("c4r4s0e60")
    assert ReducedSetting(s=1).s == 1.0 and isinstance(ReducedSetting(s=1).s, float)
    for kwargs, match in [
        ({"c": 0}, "`c` must be a positive int or None"),
        ({"r": 8.0}, "`r` must be a positive int or None"),
        ({"c": True}, "`c` must be a positive int or None"),
        ({"s": 0.0}, r"`s` must be in \(0, 1\]"),
        ({"s": 1.5}, r"`s` must be in \(0, 1\]"),
        ({"e": 0}, "`e` must be a positive int"),
        ({"e": 2.5}, "`e` must be a positive int"),
    ]:
        with pytest.raises(ValueError, match=match):
            ReducedSetting(**kwargs)


def test_settings_outside_the_table_have_no_name():
    official = ReducedSetting(c=9, r=8, s=1.0, e=60)  # the official code's 9 channels
    assert official.name is None and str(official) == "ReducedSetting(c=9, r=8, s=1.0, e=60)"
    assert ReducedSetting(c=None, r=None, s=1.0, e=3).name is None


def test_coerce_reads_names_fields_and_settings():
    setting = ReducedSetting.parse("c3r2s1e60")
    assert ReducedSetting.coerce("c3r2s1e60") == setting
    assert ReducedSetting.coerce({"c": 12, "r": 16, "s": 0.5, "e": 60}) == setting
    assert ReducedSetting.coerce(setting) is setting
    with pytest.raises(TypeError, match="unknown field"):
        ReducedSetting.coerce({"channels": 8})
    with pytest.raises(TypeError, match="expected a ReducedSetting"):
        ReducedSetting.coerce(8)


def test_a_yaml_config_gives_the_name_or_the_fields():
    class Searcher:
        def __init__(self, setting: ReducedSetting | str = "c4r4s0e60") -> None:
            self.setting = ReducedSetting.coerce(setting)

    parser = ArgumentParser()
    parser.add_class_arguments(Searcher, "searcher")
    for text, expected in [
        ("searcher:\n  setting: c4r2s0e50\n", ReducedSetting(c=8, r=16, s=1.0, e=50)),
        ("searcher:\n  setting: {c: 9, r: 8, s: 0.5, e: 20}\n", ReducedSetting(c=9, r=8, s=0.5, e=20)),
        ("searcher: {}\n", ReducedSetting()),
    ]:
        config = parser.parse_string(text)
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        assert instantiate(config).searcher.setting == expected


# ------------------------------------------------------------------------------------------- module arguments
def test_module_kwargs_apply_econas_reduced_training():
    kwargs = ReducedSetting.parse("c4r4s0e60").module_kwargs()
    assert kwargs == {
        "search_space": "econas",
        "space_options": {"layers": 20, "auxiliary": False, "C": 8},
        "drop_path_prob": 0.0,
        "cutout": 4,
        "schedule_epochs": 60,
    }
    nb201 = ReducedSetting(c=4, r=16, s=1.0, e=5).module_kwargs("nasbench201", {"N": 1, "in_channels": 1}, cutout=0)
    assert nb201["space_options"] == {"N": 1, "in_channels": 1, "C": 4} and nb201["cutout"] == 0
    keep = ReducedSetting(c=None, r=None, s=1.0, e=5).module_kwargs("darts", {"C": 16, "layers": 8})
    assert keep["space_options"] == {"C": 16, "layers": 8} and keep["cutout"] == 16


def test_cutout_scales_with_the_resolution():
    assert [ReducedSetting(r=r).cutout_length() for r in RESOLUTIONS] == [16, 12, 8, 6, 4]
    assert ReducedSetting(r=64).cutout_length(16, base_resolution=64) == 16
    assert ReducedSetting(r=2).cutout_length(3) == 1  # never rounded away to nothing
    with pytest.raises(ValueError, match="full_length"):
        ReducedSetting().cutout_length(-1)
    with pytest.raises(ValueError, match="base_resolution"):
        ReducedSetting().cutout_length(16, base_resolution=0)


def test_module_kwargs_build_an_architecture_training_module():
    from lightning_nas.methods import ArchitectureTraining
    from lightning_nas.search import random_genotype

    kwargs = ReducedSetting.parse("c4r4s0e60").module_kwargs("econas", {"layers": 5, "auxiliary": False})
    model = ArchitectureTraining(genotype=str(random_genotype("econas", 0)), num_classes=10, **kwargs)
    assert model.network.cells[0].preprocess1[1].out_channels == 8  # C = c
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 10)


# ------------------------------------------------------------------------------------------- data module
def _base(n=40, size=16, **kwargs):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    options = {"batch_size": 8, "val_fraction": 0.1, "paired": False, "seed": 0, **kwargs}
    return ArraySearchDataModule(x, torch.arange(n) % 4, **options)


def test_resolution_resizes_the_augmented_batches_of_every_loader():
    # the base module pads by 2 and crops at 16 x 16 (and flips); the reduced module resizes those crops to 8 x 8
    base, reduced = _base(), ReducedDataModule(_base(), resolution=8)
    base.setup("fit")
    reduced.setup("fit")
    for loader in ("train_dataloader", "val_dataloader"):
        full = next(iter(getattr(base, loader)()))
        got = reduced.on_after_batch_transfer(next(iter(getattr(reduced, loader)())), 0)
        assert got[0].shape == (len(full[0]), 3, 8, 8) and torch.equal(got[2], full[2])
        expected = F.interpolate(full[0], size=(8, 8), mode="bilinear", align_corners=False, antialias=True)
        torch.testing.assert_close(got[0], expected)
    assert reduced.setup("fit") is None and ReducedDataModule(_base()).resolution is None


def test_resize_batch_handles_paired_batches_and_rejects_others():
    x = torch.rand(2, 3, 16, 16)
    paired = resize_batch({"train": (x, 0, 1), "val": [x, 0, 1]}, 4)
    assert paired["train"][0].shape == paired["val"][0].shape == (2, 3, 4, 4)
    assert isinstance(paired["val"], list)
    same = (x, torch.zeros(2))
    assert resize_batch(same, 16)[0] is x
    with pytest.raises(TypeError, match="expected an `\\(x, y, index\\)` batch"):
        resize_batch(x, 8)
    with pytest.raises(ValueError, match="must be \\(B, C, H, W\\)"):
        resize_batch((torch.rand(3, 16, 16), 0), 8)


def test_sample_ratio_keeps_a_seeded_subset_of_the_weight_split_and_the_whole_held_out_split():
    full = _base(n=100)
    full.setup("fit")
    weights, held_out = full.active_ids("train"), full.active_ids("val")
    assert (len(weights), len(held_out)) == (90, 10)  # EcoNAS: 10 % held out (5k of CIFAR-10's 50k)
    a, b, c = (ReducedDataModule(_base(n=100), fraction=0.25, seed=seed) for seed in (1, 1, 2))
    for dm in (a, b, c):
        dm.setup("fit")
    kept = a.active_ids("train")
    assert len(kept) == 22 and np.isin(kept, weights).all()  # floor(0.25 * 90)
    assert np.array_equal(a.active_ids("val"), held_out)
    assert np.array_equal(kept, b.active_ids("train")) and not np.array_equal(kept, c.active_ids("train"))
    ids = torch.cat([batch[2] for batch in a.train_dataloader()])
    assert sorted(ids.tolist()) == kept.tolist()
    assert a.subset is not None and ReducedDataModule(_base(), fraction=1.0).subset is None


def test_state_dict_restores_the_subset():
    a = ReducedDataModule(_base(n=100), fraction=0.5, seed=3)
    a.setup("fit")
    a.remove_ids("train", a.active_ids("train")[:2])
    b = ReducedDataModule(_base(n=100), fraction=0.5, seed=4)
    b.load_state_dict(a.state_dict())
    b.setup("fit")
    assert np.array_equal(a.active_ids("train"), b.active_ids("train"))
    assert np.array_equal(a.removed_ids("train"), b.removed_ids("train"))
    assert (b.num_classes, b.pool_size, b.labels.shape, b.resolved_seed) == (4, 100, (100,), 0)
    assert len(next(iter(b.pool_dataloader([0, 1])))[2]) == 2


def test_reduced_data_module_checks_its_arguments():
    with pytest.raises(TypeError, match="must be a `SearchDataModule`"):
        ReducedDataModule(object())
    for kwargs, error, match in [
        ({"resolution": 0}, ValueError, "`resolution` must be an integer >= 1 or None"),
        ({"resolution": 8.0}, TypeError, "`resolution` must be an integer >= 1 or None"),
        ({"fraction": 0.0}, ValueError, r"`fraction` must be a number in \(0, 1\]"),
        ({"fraction": 2}, ValueError, r"`fraction` must be a number in \(0, 1\]"),
        ({"seed": "0"}, TypeError, "`seed` must be an integer or None"),
        ({"antialias": 1}, TypeError, "`antialias` must be a bool"),
    ]:
        with pytest.raises(error, match=match):
            ReducedDataModule(_base(), **kwargs)


class _BatchRecorder(LightningModule):
    """Records what a fit draws: the image shape and the ids of every training batch, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.shapes: set[tuple[int, ...]] = set()
        self.ids: dict[int, list[int]] = {}

    def training_step(self, batch, batch_idx):
        x, _, index = batch
        self.shapes.add(tuple(x.shape[1:]))
        self.ids.setdefault(self.current_epoch, []).extend(index.tolist())
        return self.layer(x.mean(dim=(2, 3))).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(datamodule, epochs=2):
    model = _BatchRecorder()
    Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    ).fit(model, datamodule=datamodule)
    return model


def test_a_setting_trains_on_r_by_r_images_and_a_seeded_fraction_s_of_the_weight_split():
    setting = ReducedSetting.parse("c4r2s1e60")  # r = 16, s = 0.5
    full = _base(n=100, size=32)
    full.setup("fit")
    weights = full.active_ids("train")  # 90 ids: EcoNAS holds 10 % out

    model = _fit(setting.datamodule(_base(n=100, size=32), seed=5))
    assert model.shapes == {(3, 16, 16)}  # 32 x 32 crops resized on transfer
    assert sorted(model.ids) == [0, 1]
    kept = sorted(model.ids[0])
    assert len(kept) == 45 and len(set(kept)) == 45 and np.isin(kept, weights).all()  # floor(0.5 * 90), no repeats
    assert sorted(model.ids[1]) == kept  # the same subset every epoch

    again = _fit(setting.datamodule(_base(n=100, size=32), seed=5), epochs=1)
    other = _fit(setting.datamodule(_base(n=100, size=32), seed=6), epochs=1)
    assert sorted(again.ids[0]) == kept and sorted(other.ids[0]) != kept
