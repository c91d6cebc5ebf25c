"""A diverging search stops at once, says what diverged and why, and leaves no genotype behind."""

import functools

import pytest
import torch
from lightning import seed_everything

from lightning_nas.callbacks import GenotypeExport
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, DivergenceError, DivergenceGuard
from lightning_nas.methods.divergence import predictions

TINY = {"C": 4, "N": 1}


def _datamodule(n=128):
    g = torch.Generator().manual_seed(0)
    return ArraySearchDataModule(torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % 4, batch_size=8)


@pytest.fixture
def tiny_trainer(tiny_trainer, tmp_path):
    """The shared tiny Trainer (tests/conftest.py): 3 epochs, 1 validation batch, a `GenotypeExport` to tmp_path."""
    export = GenotypeExport(dirpath=str(tmp_path))
    return functools.partial(tiny_trainer, max_epochs=3, limit_val_batches=1, callbacks=[export])


def test_a_huge_weight_lr_stops_the_search_in_its_first_epoch_naming_weight_lr(tmp_path, tiny_trainer):
    seed_everything(0)
    model = DARTS(space_options=TINY, num_classes=4, weight_lr=1e6)
    trainer = tiny_trainer()
    # the weights blow up: the next loss on them (either level's) is the first non-finite value
    expected = r"the (weight|architecture) loss is not finite at batch [0-9]+ of the search\. "
    expected += r"Likely cause: .*`weight_lr=1000000.0`"
    with pytest.raises(DivergenceError, match=expected):
        trainer.fit(model, _datamodule())
    assert trainer.current_epoch == 0  # within the first epoch (8 batches)
    assert not (tmp_path / "genotype.json").exists()
    with pytest.raises(DivergenceError, match="architecture parameters are not finite|no genotype"):
        model.genotype()  # α went NaN through the NaN validation loss: no genotype either way


def test_a_huge_arch_lr_stops_the_search_naming_arch_lr(tmp_path, tiny_trainer):
    seed_everything(0)
    model = DARTS(space_options=TINY, num_classes=4, arch_lr=1e38, arch_betas=(0.0, 0.999))
    trainer = tiny_trainer()
    with pytest.raises(DivergenceError, match=r"`arch_lr=1e\+38`"):
        trainer.fit(model, _datamodule())
    assert trainer.current_epoch == 0
    assert not (tmp_path / "genotype.json").exists()


def test_a_stable_search_is_not_stopped_and_writes_its_genotype(tmp_path, tiny_trainer):
    seed_everything(0)
    model = PCDARTS(search_space="darts", space_options={"C": 8, "layers": 3}, num_classes=4, arch_warmup_epochs=0)
    tiny_trainer(max_epochs=1, limit_train_batches=2).fit(model, _datamodule(32))
    assert (tmp_path / "genotype.json").exists()


def test_genotype_refuses_non_finite_alpha():
    model = DARTS(space_options=TINY, num_classes=4)
    assert str(model.genotype())
    with torch.no_grad():
        model.arch_parameters()[0][2, 1] = float("nan")
    with pytest.raises(DivergenceError, match=r"`DARTS.genotype\(\)`: the architecture parameters are not finite"):
        model.genotype()


def test_the_guard_reports_the_first_bad_batch_of_the_first_level_in_order():
    guard = DivergenceGuard("X", {"weight loss": "`weight_lr` too large", "architecture loss": "either rate"})
    nan = torch.tensor(float("nan"))
    guard.watch("architecture loss", 5, nan)  # watched first, but listed second in `causes`
    guard.watch("weight loss", 6, torch.tensor(1.0))
    guard.watch("weight loss", 7, torch.tensor([1.0, float("inf")]))
    guard.watch("weight loss", 8, nan)  # later: the first bad batch is kept
    with pytest.raises(DivergenceError, match=r"^`X`: the search diverged: the weight loss is not finite at batch 7 "):
        guard.check()


def test_nan_logits_never_count_as_a_correct_prediction():
    logits = torch.tensor([[5.0, 0.0], [float("nan"), 0.0], [0.0, float("inf")]])
    y = torch.tensor([0, 0, 1])
    assert predictions(logits, y).tolist() == [0, 1, 0]  # the finite row predicts; the others are wrong


def test_validation_accuracy_of_nan_logits_is_zero(tiny_trainer):
    model = DARTS(space_options=TINY, num_classes=4)
    with torch.no_grad():
        model.supernet.classifier.bias.fill_(float("nan"))
    (metrics,) = tiny_trainer().validate(model, _datamodule(32), verbose=False)
    assert metrics["val/acc"] == 0.0  # argmax of NaN logits is class 0: it used to count as right for class 0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_array_data_with_a_non_finite_pixel_is_refused_naming_the_image(value):
    x = torch.rand(16, 3, 8, 8)
    x[11, 1, 3, 4] = value
    with pytest.raises(ValueError, match=r"`x_train` holds NaN or infinite values, in image\(s\) 11\."):
        ArraySearchDataModule(x, torch.arange(16) % 4)
    with pytest.raises(ValueError, match=r"in image\(s\) 11\."):
        ArraySearchDataModule(x.numpy(), (torch.arange(16) % 4).numpy())


def test_images_with_other_channels_than_the_supernet_takes_are_refused_naming_in_channels(tiny_trainer):
    model = DARTS(space_options={"C": 4, "N": 1, "in_channels": 1}, num_classes=4)  # RGB data below
    with pytest.raises(ValueError, match=r"`in_channels` = 1 channels, the data's have 3. Set space_options=\{'in_"):
        tiny_trainer(max_epochs=1).fit(model, _datamodule(32))
