"""Checkpoints written before the fused search cells (commit 2557aaf) load and resume with the current code.

The checkpoints in ``tests/data/old_checkpoints`` were written by ``make_checkpoints.py`` (same folder) running the
per-edge supernet cells of commit 2557aaf: one epoch (2 batches) of DARTS on NAS-Bench-201 and on the DARTS space,
and of PC-DARTS on the DARTS space. Each ``.ckpt.gz`` is the gzip of the file ``trainer.save_checkpoint`` wrote; each
``_logits.pt`` holds a fixed input, the old model's eval-mode logits and eval-mode cell outputs on it, its training-mode
logits on it, and the parameter names in the order of each optimizer's parameters (what the checkpoint's optimizer
states are indexed by). In eval mode the DARTS-space supernets, two batches into training, hardly depend on the input
(the BatchNorm running statistics are young; the last cells output negatives only, zeroed by the next ReLU), so the
cell outputs and the training-mode logits are what make the fused forward's comparison with the old one informative.
"""

import gzip
import shutil
from pathlib import Path

import pytest
import torch
from lightning import Callback, seed_everything
from torch.testing import assert_close

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS

DATA = Path(__file__).resolve().parents[1] / "data" / "old_checkpoints"
METHODS = {"darts_nasbench201": DARTS, "pcdarts_darts": PCDARTS}  # the DARTS space: through PC-DARTS (smaller)


def _unzipped(name, tmp_path):
    path = tmp_path / f"{name}.ckpt"
    with gzip.open(DATA / f"{name}.ckpt.gz", "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def _datamodule():
    # the data of make_checkpoints.py: 32 random 8x8 RGB images of 4 classes, batches of 8
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 8, 8, generator=g)
    return ArraySearchDataModule(x, torch.arange(32) % 4, num_classes=4, batch_size=8, seed=0)


def _arch_names(model):
    ids = {id(p) for p in model.arch_parameters()}
    names = [name for name, p in model.named_parameters() if id(p) in ids]
    assert len(names) == len(ids) > 0
    return names


class CheckRestoredState(Callback):
    """At the start of the resumed fit: the weights and the optimizer states are the checkpoint's, parameter by name."""

    def __init__(self, old, optimizer_param_names):
        self.old = old
        self.optimizer_param_names = optimizer_param_names
        self.checked = False
        self.batches = 0

    def on_train_start(self, trainer, pl_module):
        state = pl_module.state_dict()
        assert set(state) == set(self.old["state_dict"])
        for key, value in self.old["state_dict"].items():
            assert_close(state[key], value, rtol=0, atol=0, msg=f"weight {key} not restored")
        names = {id(p): n for n, p in pl_module.named_parameters()}
        assert len(trainer.optimizers) == len(self.optimizer_param_names) == len(self.old["optimizer_states"])
        for optimizer, old_names, old_optimizer in zip(
            trainer.optimizers, self.optimizer_param_names, self.old["optimizer_states"], strict=True
        ):
            params = [p for group in optimizer.param_groups for p in group["params"]]
            assert sorted(names[id(p)] for p in params) == sorted(old_names)
            assert len(old_optimizer["state"]) > 0
            for p in params:
                old_state = old_optimizer["state"].get(old_names.index(names[id(p)]))
                if old_state is None:  # the old optimizer never stepped this parameter
                    assert not optimizer.state.get(p), names[id(p)]
                    continue
                new_state = optimizer.state[p]
                assert set(new_state) == set(old_state), names[id(p)]
                for key, value in old_state.items():
                    assert_close(
                        torch.as_tensor(new_state[key]).float().cpu(),
                        torch.as_tensor(value).float(),
                        rtol=0,
                        atol=0,
                        msg=f"optimizer state {key} of {names[id(p)]} misplaced",
                    )
        self.checked = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches += 1


@pytest.mark.parametrize("name", list(METHODS))
def test_old_checkpoint_loads_into_the_fused_supernet_with_the_old_logits(name, tmp_path):
    ckpt = _unzipped(name, tmp_path)
    stored = torch.load(DATA / f"{name}_logits.pt")
    assert_close(stored["input"], torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1234)))
    old = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert "fused" not in (old["hyper_parameters"]["space_options"] or {})  # written before the option existed

    model = METHODS[name].load_from_checkpoint(ckpt)  # weights_only: Lightning's default

    assert model.supernet.fused is True
    state = model.state_dict()
    assert set(state) == set(old["state_dict"])
    for key, value in old["state_dict"].items():
        assert_close(state[key], value, rtol=0, atol=0, msg=f"state_dict entry {key} changed on load")
    model.eval()
    cell_outputs = []
    for cell in model.supernet.cells:
        cell.register_forward_hook(lambda module, args, output: cell_outputs.append(output))
    with torch.no_grad():
        logits = model(stored["input"])
    assert_close(logits, stored["logits"])
    assert len(cell_outputs) == len(stored["cell_outputs"]) >= 3
    for index, (output, old_output) in enumerate(zip(cell_outputs, stored["cell_outputs"], strict=True)):
        assert_close(output, old_output, msg=lambda msg, index=index: f"eval-mode output of cell {index}: {msg}")
        # informative: every cell's output varies over the batch
        assert old_output.std(0).mean() > 1e-3 or index == len(cell_outputs) - 1, index
    with torch.no_grad():
        train_logits = model.train()(stored["input"])  # batch statistics
    assert_close(train_logits, stored["train_logits"])
    assert stored["train_logits"].std(0).mean() > 1e-3  # informative: the logits depend on the input


@pytest.mark.parametrize("name", list(METHODS))
def test_old_checkpoint_resumes_training_with_the_fused_supernet(name, tmp_path, tiny_trainer):
    ckpt = _unzipped(name, tmp_path)
    old = torch.load(ckpt, map_location="cpu", weights_only=False)
    stored = torch.load(DATA / f"{name}_logits.pt")
    assert old["epoch"] == 1 and old["global_step"] > 0  # saved after its one epoch

    seed_everything(1)  # a freshly built model: the fit must restore every weight from the checkpoint
    model = METHODS[name](**old["hyper_parameters"])
    assert model.supernet.fused is True
    check = CheckRestoredState(old, stored["optimizer_param_names"])
    # the Trainer of make_checkpoints.py (its run was 1 epoch of 2 batches)
    trainer = tiny_trainer(max_epochs=2, limit_val_batches=1, callbacks=[check])
    trainer.fit(model, _datamodule(), ckpt_path=str(ckpt))

    assert check.checked
    assert trainer.current_epoch == 2
    old_batches = old["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["completed"]
    assert old_batches > 0
    assert check.batches == old_batches  # only the second epoch ran
    assert trainer.global_step == 2 * old["global_step"]
    arch_names = _arch_names(model)
    for arch_name in arch_names:
        assert not torch.allclose(model.state_dict()[arch_name], old["state_dict"][arch_name]), arch_name
    # the architecture optimizer's Adam continued from the checkpoint's step count
    adam = trainer.optimizers[1]
    old_steps = {int(torch.as_tensor(s["step"])) for s in old["optimizer_states"][1]["state"].values()}
    new_steps = {int(torch.as_tensor(adam.state[p]["step"])) for g in adam.param_groups for p in g["params"]}
    assert new_steps == {step + old_batches for step in old_steps}
    assert torch.isfinite(torch.stack([p.detach().abs().sum() for p in model.parameters()])).all()


def test_a_renamed_state_dict_key_fails_to_load(tmp_path):
    ckpt = _unzipped("darts_nasbench201", tmp_path)
    old = torch.load(ckpt, map_location="cpu", weights_only=False)
    key = next(k for k in old["state_dict"] if ".cells." in k and k.endswith(".weight"))
    old["state_dict"][key.replace(".weight", ".renamed_weight")] = old["state_dict"].pop(key)
    renamed = tmp_path / "renamed.ckpt"
    torch.save(old, renamed)
    with pytest.raises(RuntimeError, match="renamed_weight"):
        DARTS.load_from_checkpoint(renamed)
