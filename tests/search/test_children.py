"""Training children under a reduced setting: ChildJob validation, determinism, staged resume, schedule length."""

import math
import os
import shutil

import pytest
import torch
from lightning import Callback, seed_everything

from lightning_nas.datamodules import ReducedDataModule
from lightning_nas.methods import ArchitectureTraining
from lightning_nas.search import (
    ChildJob,
    ChildResult,
    ReducedSetting,
    build_child_datamodule,
    child_checkpoint_path,
    random_genotype,
    train_child,
)

NB201 = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|"
SETTING = ReducedSetting(c=4, r=8, s=1.0, e=3)


def _arrays(n=60, size=16, classes=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / classes  # learnable: the red channel tells the class
    return x, y


def _data(**init_args):
    x, y = _arrays()
    return {
        "class_path": "lightning_nas.datamodules.ArraySearchDataModule",
        "init_args": {"x_train": x, "y_train": y, "batch_size": 12, "val_fraction": 0.2, **init_args},
    }


def _job(workdir, start=0, stop=1, setting=SETTING, **kwargs):
    fields = {
        "child_id": 7,
        "genotype": NB201,
        "search_space": "nasbench201",
        "setting": setting,
        "start_epoch": start,
        "stop_epoch": stop,
        "workdir": str(workdir),
        "seed": 3,
        "data": _data(),
        "module": {"space_options": {"N": 1}, "lr": 0.05},
        "trainer": {"accelerator": "cpu", "devices": 1},
    }
    fields.update(kwargs)
    return ChildJob(**fields)


def _state(result):
    return torch.load(result.checkpoint, map_location="cpu", weights_only=False)


# ---------------------------------------------------------------------------------------------- schedule_epochs
def test_schedule_epochs_spreads_one_cosine_over_a_longer_run(tiny_trainer):
    seed_everything(0)
    x, y = _arrays()
    from lightning_nas.datamodules import ArraySearchDataModule

    model = ArchitectureTraining(
        NB201, "nasbench201", {"C": 4, "N": 1}, num_classes=3, lr=0.1, cutout=0, schedule_epochs=4
    )
    trainer = tiny_trainer(max_epochs=2)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=30, paired=False))
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.T_max == 4
    # after 2 of 4 epochs the cosine is halfway: 0.1 * (1 + cos(pi / 2)) / 2
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="`schedule_epochs` must be an integer >= 1 or None"):
        ArchitectureTraining(NB201, "nasbench201", {"C": 4, "N": 1}, schedule_epochs=0)


# ------------------------------------------------------------------------------------------------------ ChildJob
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"stop": 4}, r"`stop_epoch` must be in \(0, setting.e = 3\]"),
        ({"start": 1, "stop": 1}, r"`stop_epoch` must be in \(1, setting.e = 3\]"),
        ({"start": -1}, "`start_epoch` must be >= 0"),
        ({"search_space": "mobilenet"}, "`search_space` must be one of"),
        ({"seed": 1.0}, "`seed` must be an int"),
        ({"data": {"init_args": {}}}, '`data` must be a dict {"class_path"'),
        ({"module": {"schedule_epochs": 9}}, r"must not set \['schedule_epochs'\]"),
        ({"trainer": {"max_epochs": 9}}, r"must not set \['max_epochs'\]"),
    ],
)
def test_child_job_checks_its_fields(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _job(tmp_path, **kwargs)


def test_child_job_reads_setting_names():
    job = _job("w", setting="c4r4s0e60", stop=20)
    assert job.setting == ReducedSetting(c=8, r=8, s=1.0, e=60)


def test_child_data_module_holds_out_the_econas_split(tmp_path):
    dm = build_child_datamodule({"class_path": "ArraySearchDataModule", "init_args": _data()["init_args"]}, "c4r4s1e2")
    assert isinstance(dm, ReducedDataModule) and (dm.resolution, dm.fraction) == (8, 0.5)
    base = dm.datamodule
    assert (base.paired, base.split, base.seed, base.val_fraction) == (False, "stratified", 0, 0.2)
    dm.setup("fit")
    assert (len(dm.active_ids("train")), len(dm.active_ids("val"))) == (24, 12)  # half of the 48 weight ids
    default = build_child_datamodule({"class_path": "DigitsSearchDataModule"}, SETTING).datamodule
    assert (default.val_fraction, default.split) == (0.1, "stratified")
    with pytest.raises(ValueError, match="must not set `paired=True`"):
        build_child_datamodule(_data(paired=True), SETTING)
    for class_path in ("NoSuchDataModule", "lightning_nas.nothing.Here", "lightning_nas.methods.DARTS", 3):
        with pytest.raises(ValueError, match="`class_path` must name a SearchDataModule|cannot import"):
            build_child_datamodule({"class_path": class_path}, SETTING)


# ------------------------------------------------------------------------------------------------------ training
class _Shapes(Callback):
    def __init__(self):
        self.shapes = set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.shapes.add(tuple(batch[0].shape[1:]))


def test_train_child_trains_validates_and_checkpoints(tmp_path):
    shapes = _Shapes()
    job = _job(tmp_path / "child", stop=2, trainer={"accelerator": "cpu", "callbacks": [shapes]})
    result = train_child(job)
    assert isinstance(result, ChildResult) and (result.child_id, result.epochs) == (7, 2)
    assert len(result.val_accuracies) == 2 and all(0 <= acc <= 100 for acc in result.val_accuracies)
    assert all(acc * 12 / 100 == pytest.approx(round(acc * 12 / 100)) for acc in result.val_accuracies)  # 12 held out
    assert result.checkpoint == child_checkpoint_path(job.workdir, 2) and os.path.isfile(result.checkpoint)
    assert result.seconds > 0 and shapes.shapes == {(3, 8, 8)}  # trained at r = 8
    state = _state(result)
    assert state["epoch"] == 2 and state["lr_schedulers"][0]["T_max"] == 3  # one cosine over setting.e
    assert state["hyper_parameters"]["space_options"]["C"] == 4
    assert state["hyper_parameters"]["cutout"] == 4 and state["hyper_parameters"]["drop_path_prob"] == 0.0
    assert os.path.isdir(os.path.join(job.workdir, "logs", "epochs_0_2"))


def test_the_same_job_gives_the_same_result(tmp_path):
    a, b = (train_child(_job(tmp_path / name, stop=1)) for name in ("a", "b"))
    assert a.val_accuracies == b.val_accuracies
    for key, value in _state(a)["state_dict"].items():
        assert torch.equal(value, _state(b)["state_dict"][key]), key
    other = train_child(_job(tmp_path / "c", stop=1, seed=4))
    assert any(not torch.equal(v, _state(other)["state_dict"][k]) for k, v in _state(a)["state_dict"].items())


def test_stages_resume_exactly_like_one_run(tmp_path):
    whole = train_child(_job(tmp_path / "whole", start=0, stop=3))
    first = train_child(_job(tmp_path / "staged", start=0, stop=1))
    second = train_child(_job(tmp_path / "staged", start=1, stop=3))
    assert first.val_accuracies + second.val_accuracies == whole.val_accuracies
    a, b = _state(whole), _state(second)
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]) == (3, 12)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    momentum_a = [s["momentum_buffer"] for s in a["optimizer_states"][0]["state"].values()]
    momentum_b = [s["momentum_buffer"] for s in b["optimizer_states"][0]["state"].values()]
    assert all(torch.equal(u, v) for u, v in zip(momentum_a, momentum_b, strict=True))
    assert a["lr_schedulers"] == b["lr_schedulers"] and a["lr_schedulers"][0]["last_epoch"] == 3


def test_staged_training_follows_one_cosine_over_setting_e(tmp_path):
    lrs = []

    class LR(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    train_child(_job(tmp_path, start=0, stop=1, trainer={"accelerator": "cpu", "callbacks": [LR()]}))
    train_child(_job(tmp_path, start=1, stop=3, trainer={"accelerator": "cpu", "callbacks": [LR()]}))
    # EcoNAS A5.2: lr_max -> lr_min = 0.001 (the children's default), one cosine over setting.e = 3 epochs
    expected = [0.001 + (0.05 - 0.001) * (1 + math.cos(math.pi * epoch / 3)) / 2 for epoch in range(3)]
    assert lrs == pytest.approx(expected)


def test_children_anneal_to_the_econas_lr_min_unless_the_module_options_say_otherwise(tmp_path):
    from lightning_nas.search.children import CHILD_MODULE_DEFAULTS

    assert CHILD_MODULE_DEFAULTS == {"lr_min": 0.001}  # EcoNAS Appendix A5.2
    default = _state(train_child(_job(tmp_path / "default", stop=1)))
    assert default["hyper_parameters"]["lr_min"] == 0.001 and default["lr_schedulers"][0]["eta_min"] == 0.001
    module = {"space_options": {"N": 1}, "lr": 0.05, "lr_min": 0.0}  # the official search code's eta_min
    official = _state(train_child(_job(tmp_path / "official", stop=1, module=module)))
    assert official["hyper_parameters"]["lr_min"] == 0.0 and official["lr_schedulers"][0]["eta_min"] == 0.0
    assert ArchitectureTraining(NB201, "nasbench201", {"C": 4, "N": 1}).hparams.lr_min == 0.0  # retraining: DARTS's


def test_lr_min_above_lr_is_refused():
    with pytest.raises(ValueError, match=r"`ChildJob\(module=.*`lr_min` \(0.001\) must not exceed `lr` \(0.0005\)"):
        _job("w", module={"lr": 0.0005})
    with pytest.raises(ValueError, match=r"`ArchitectureTraining\(lr_min=0.1\)`: `lr_min` must be at most `lr`"):
        ArchitectureTraining(NB201, "nasbench201", {"C": 4, "N": 1}, lr=0.05, lr_min=0.1)


def test_resume_needs_the_checkpoint_of_start_epoch(tmp_path):
    with pytest.raises(FileNotFoundError, match="start_epoch=1 resumes from"):
        train_child(_job(tmp_path, start=1, stop=2))
    first = train_child(_job(tmp_path, start=0, stop=1))
    shutil.copy(first.checkpoint, child_checkpoint_path(str(tmp_path), 2))
    with pytest.raises(ValueError, match="holds epoch 1, not start_epoch=2"):
        train_child(_job(tmp_path, start=2, stop=3))


def test_every_epoch_must_be_validated(tmp_path):
    with pytest.raises(RuntimeError, match="was not validated after epoch"):
        train_child(_job(tmp_path, stop=2, trainer={"accelerator": "cpu", "check_val_every_n_epoch": 2}))


def test_train_child_trains_an_econas_cell_on_a_subset(tmp_path):
    genotype = str(random_genotype("econas", 0))
    setting = ReducedSetting(c=4, r=8, s=0.5, e=2)
    job = _job(
        tmp_path, genotype=genotype, search_space="econas", setting=setting, module={"space_options": {"layers": 5}}
    )
    result = train_child(job)
    assert len(result.val_accuracies) == 1
    state = _state(result)
    assert state["hyper_parameters"]["search_space"] == "econas"
    assert len(state["ReducedDataModule"]["data"]["assignment"]["train"]) == 24  # s = 0.5 of the 48 weight ids


def test_a_diverging_child_gets_nan_accuracy_and_its_later_stages_are_skipped(tmp_path):
    job = _job(tmp_path / "child", stop=1, module={"space_options": {"N": 1}, "lr": 1e12, "grad_clip": None})
    with pytest.warns(UserWarning, match="child 7 diverged; its accuracies are NaN.*`lr=1000000000000.0`"):
        result = train_child(job)
    assert len(result.val_accuracies) == 1 and math.isnan(result.val_accuracies[0]) and result.checkpoint == ""
    assert os.path.isfile(os.path.join(job.workdir, "diverged.json"))
    later = train_child(_job(tmp_path / "child", start=1, stop=3))  # no checkpoint of epoch 1: not trained
    assert later.epochs == 3 and len(later.val_accuracies) == 2 and all(map(math.isnan, later.val_accuracies))
