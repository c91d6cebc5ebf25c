import pytest
import torch
from lightning.pytorch.loggers import Logger

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, PDARTS, SPOS, ArchitectureTraining, BetaDARTS, GreedyNAS
from lightning_nas.methods.base import SearchModule

NB201 = {"search_space": "nasbench201", "space_options": {"C": 4, "N": 1}}
MOBILENET = {"space_options": {"input_size": 16, "width_mult": 0.25, "head_channels": 32}}
GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"


class TextLogger(Logger):
    """A logger whose ``experiment`` takes text, as TensorBoard's does; records every ``add_text``."""

    def __init__(self):
        super().__init__()
        self.texts = []
        self.metrics = {}

    @property
    def name(self):
        return "text"

    @property
    def version(self):
        return 0

    @property
    def experiment(self):
        return self

    def add_text(self, tag, text, global_step=None):
        self.texts.append((tag, text, global_step))

    def log_metrics(self, metrics, step=None):
        self.metrics.update(metrics)

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def _data(classes=4, n=32, **kwargs):
    g = torch.Generator().manual_seed(0)
    return ArraySearchDataModule(
        torch.rand(n, 3, 16, 16, generator=g), torch.arange(n) % classes, batch_size=8, **kwargs
    )


@pytest.mark.parametrize("cls", [DARTS, PCDARTS, PDARTS, BetaDARTS, SPOS, GreedyNAS, ArchitectureTraining])
def test_every_method_takes_its_evaluation_steps_from_the_one_base(cls):
    assert issubclass(cls, SearchModule)
    for hook in ("validation_step", "test_step", "check_num_classes", "log_genotype", "log_weight_lr"):
        assert getattr(cls, hook) is getattr(SearchModule, hook)


@pytest.mark.parametrize(
    "make,data",
    [
        (lambda: DARTS(num_classes=4, **NB201), {}),
        (lambda: SPOS(num_classes=4, seed=0, **MOBILENET), {"paired": False}),
        (lambda: ArchitectureTraining(GENOTYPE, num_classes=4, **NB201), {"paired": False}),
    ],
    ids=["DARTS", "SPOS", "ArchitectureTraining"],
)
def test_data_with_more_classes_than_num_classes_is_refused_at_fit_start(make, data, tiny_trainer):
    with pytest.raises(ValueError, match=r"\(num_classes=4\)` is smaller than the data's 6 classes. Set num_classes=6"):
        tiny_trainer(max_steps=1).fit(make(), _data(classes=6, **data))


def test_a_search_logs_its_genotype_every_epoch_and_its_weight_lr_under_one_key(tiny_trainer):
    logger = TextLogger()
    model = SPOS(num_classes=4, seed=0, lr=0.05, **MOBILENET)
    trainer = tiny_trainer(max_epochs=2, logger=logger, log_every_n_steps=1, limit_val_batches=1)
    trainer.fit(model, _data(paired=False))
    assert logger.texts == [("search/genotype", str(model.genotype()), epoch) for epoch in (0, 1)]
    lr = float(trainer.callback_metrics["search/weight_lr"])  # the second epoch's start: one cosine step down
    assert 0 < lr < 0.05 and float(trainer.callback_metrics["search/lr"]) == lr  # the former key, kept
    assert {"val/loss", "val/acc", "train/loss_epoch", "train/acc"} <= set(logger.metrics)


def test_a_fixed_architecture_logs_no_genotype(tiny_trainer):
    logger = TextLogger()
    model = ArchitectureTraining(GENOTYPE, num_classes=4, **NB201)
    tiny_trainer(max_steps=2, logger=logger, limit_val_batches=1).fit(model, _data(paired=False))
    assert logger.texts == []
