"""The differentiable (mixed-op) form of the MobileNet chain space, searched by DARTS, β-DARTS and BDP."""

import functools
import math

import pytest
import torch
import torch.distributed as dist
from lightning import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_nas.callbacks import CollapseMonitor, SearchPlots, VoEPruning
from lightning_nas.callbacks.collapse_monitor import count_ops
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, BetaDARTS
from lightning_nas.methods.beta_darts import beta_decay_loss
from lightning_nas.plots import arch_weights, plot_arch_weights
from lightning_nas.spaces import (
    DifferentiableSearchSpace,
    SinglePathSearchSpace,
    Supernet,
    get_search_space,
    get_search_space_class,
)
from lightning_nas.spaces.mobilenet import (
    IDENTITY,
    MBCONV_CHOICES,
    STAGE_FIRST_LAYERS,
    MixedOpSupernet,
    MobileNetPath,
    MobileNetSpace,
    SinglePathSupernet,
)

SMALL = {"input_size": 8, "width_mult": 0.25}  # 8x8 images: the CIFAR variant ends at 1x1, steps stay fast


def _arrays(n: int, size: int, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.arange(n) % classes


def _alphas(model) -> list[torch.Tensor]:
    return [a.detach().clone() for a in model.arch_parameters()]


class InterruptAfterFirstEpoch(Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


def test_the_space_builds_both_supernets_each_for_its_methods():
    space_class = get_search_space_class("mobilenet")
    assert issubclass(space_class, DifferentiableSearchSpace) and issubclass(space_class, SinglePathSearchSpace)
    space = get_search_space("mobilenet", **SMALL, num_classes=10)
    assert isinstance(space.build_supernet(), SinglePathSupernet)  # SPOS and GreedyNAS keep the single path
    mixed = space.build_mixed_supernet(5)
    assert isinstance(mixed, MixedOpSupernet) and isinstance(mixed, Supernet) and mixed.num_classes == 5
    assert mixed(torch.rand(2, 3, 8, 8)).shape == (2, 5)
    # one alpha row per layer over exactly its legal choices, named as DARTS and beta-DARTS read them
    assert mixed.arch_parameter_names() == [f"layers.{i}.arch_alpha" for i in range(21)]
    assert [len(a) for a in mixed.arch_parameters()] == [len(space.choices(i)) for i in range(21)]
    assert mixed.edge_ops("path") == [list(space.choices(i)) for i in range(21)]
    for i, layer in enumerate(mixed.layers):
        assert tuple(layer.candidates) == space.choices(i)
        assert (IDENTITY in layer.candidates) == (i not in STAGE_FIRST_LAYERS)
    se = MobileNetSpace(se=True, **SMALL).build_mixed_supernet(3)
    assert [len(a) for a in se.arch_parameters()][:2] == [12, 13]


def test_a_layer_is_the_softmax_weighted_sum_of_its_candidates_on_the_same_input():
    torch.manual_seed(0)
    space = MobileNetSpace(**SMALL, num_classes=4)
    mixed = space.build_mixed_supernet().eval()
    x = torch.randn(2, 8, 4, 4)
    for index in (0, 1):  # a stage-first layer (no identity, no residual) and a residual one with the identity
        layer = mixed.layers[index]
        layer.arch_alpha.data.normal_()
        weights = torch.softmax(layer.arch_alpha, -1)
        expected = sum(w * layer.candidates[c](x) for w, c in zip(weights, layer.choices))
        torch.testing.assert_close(layer(x, weights), expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_choice_and_alpha_in_one_darts_step(tiny_trainer):
    seed_everything(0)
    model = DARTS(search_space="mobilenet", space_options=SMALL, num_classes=4, weight_decay=0.0, arch_weight_decay=0.0)
    x, y = _arrays(16, 8)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    for i, layer in enumerate(model.supernet.layers):
        assert layer.arch_alpha.grad is not None and bool(layer.arch_alpha.grad.abs().gt(0).all()), i
        for choice, block in layer.candidates.items():
            grads = [p.grad for p in block.parameters()]
            assert all(g is not None and g.abs().sum() > 0 for g in grads), (i, choice)
    model.zero_grad()
    # one bi-level step through a Trainer moves every alpha row and every candidate's weights (no weight decay)
    before = {n: p.detach().clone() for n, p in model.supernet.named_parameters()}
    tiny_trainer(limit_train_batches=1, limit_val_batches=0).fit(model, ArraySearchDataModule(x, y, batch_size=8))
    unchanged = [n for n, p in model.supernet.named_parameters() if torch.equal(before[n], p)]
    assert unchanged == []


def test_the_derived_path_is_legal_parses_back_and_has_analytic_flops():
    torch.manual_seed(0)
    space = MobileNetSpace(**SMALL, num_classes=10)
    mixed = space.build_mixed_supernet(10)
    with torch.no_grad():
        for layer in mixed.layers:  # the identity strongest wherever it is legal
            layer.arch_alpha.copy_(torch.tensor([1.0 if c == IDENTITY else 0.0 for c in layer.choices]))
            layer.arch_alpha[layer.choices.index("k5e6")] = 0.5
    path = mixed.genotype()
    assert isinstance(path, MobileNetPath) and path.num_identity == 15
    assert [path[i] for i in STAGE_FIRST_LAYERS] == ["k5e6"] * 6  # no skip at the stage-first layers
    assert MobileNetPath.from_string(str(path)) == path and space.validate(str(path)) == path
    assert mixed.flops() == space.flops(path, num_classes=10) and mixed.params() == space.params(path, 10)
    assert count_ops(path) == 15  # CollapseMonitor's count of the space's skip op
    for seed in range(3):  # random rows derive legal paths
        with torch.no_grad():
            for layer in mixed.layers:
                layer.arch_alpha.normal_(generator=torch.Generator().manual_seed(seed))
        assert space.validate(str(mixed.genotype())) == mixed.genotype()


def test_plots_read_one_row_per_layer():
    pytest.importorskip("matplotlib")
    mixed = MobileNetSpace(**SMALL).build_mixed_supernet(4)
    table = arch_weights(mixed)["path"]
    assert table.weights.shape == (21, 7) and table.ops == (*MBCONV_CHOICES, IDENTITY)
    assert table.edges[:2] == ("layer 0", "layer 1")
    assert math.isnan(table.weights[0, -1]) and abs(table.weights[1].sum() - 1) < 1e-6
    fig = plot_arch_weights(mixed)
    assert fig.axes[0].images[0].get_array().shape == (21, 7)
    with pytest.raises(ValueError, match="one cell 'path'"):
        mixed.op_weights("normal")
    with pytest.raises(TypeError, match="`space` must be a MobileNetSpace"):
        MixedOpSupernet(object())


def test_darts_interface_fits_and_derives_a_mobilenet_path(tiny_trainer):
    """The maintainers' check: DARTS on the ``mobilenet`` space, a paired search data module, a path string."""
    seed_everything(0)
    x, y = _arrays(64, 32, classes=10)
    model = DARTS(search_space="mobilenet", space_options={"input_size": 32, "width_mult": 0.25}, num_classes=10)
    alpha0 = _alphas(model)
    trainer = tiny_trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=16))
    text = str(model.genotype())
    assert MobileNetPath.from_string(text) == model.genotype() and len(text.split("-")) == 21
    assert all(not torch.equal(a, b) for a, b in zip(alpha0, model.arch_parameters()))


def test_beta_darts_fits_and_its_beta_decay_regularizes_every_alpha_row(tiny_trainer):
    seed_everything(0)
    model = BetaDARTS(search_space="mobilenet", space_options=SMALL, num_classes=4, lambda_epochs=1)
    alphas = model.alpha_parameters()
    assert len(alphas) == 21
    beta_decay_loss(alphas).backward()
    for alpha in alphas:  # d L_beta / d alpha = softmax(alpha) / number of rows
        torch.testing.assert_close(alpha.grad, torch.softmax(alpha.detach(), -1) / 21)
    model.zero_grad()
    x, y = _arrays(32, 8)
    tiny_trainer(max_epochs=2, limit_val_batches=0).fit(model, ArraySearchDataModule(x, y, batch_size=8))
    assert "search/beta_loss" in model.trainer.callback_metrics
    assert isinstance(model.genotype(), MobileNetPath)


def test_voe_pruning_prunes_on_it(tiny_trainer):
    seed_everything(0)
    x, y = _arrays(48, 8, classes=3)
    datamodule = ArraySearchDataModule(x, y, batch_size=8, seed=0)
    model = DARTS(search_space="mobilenet", space_options=SMALL, num_classes=3)
    pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.5)
    tiny_trainer(max_epochs=4, callbacks=[pruning], limit_val_batches=0).fit(model, datamodule)
    assert len(datamodule.active_ids("train")) < 24 and len(datamodule.active_ids("val")) < 24
    assert {entry["split"] for entry in pruning.history} == {"train", "val"}


def test_search_plots_and_collapse_monitor_run_on_it(tmp_path, tiny_trainer):
    pytest.importorskip("matplotlib")
    seed_everything(0)
    x, y = _arrays(16, 8)
    model = DARTS(search_space="mobilenet", space_options=SMALL, num_classes=4)
    plots = SearchPlots(dirpath=str(tmp_path / "plots"))
    tiny_trainer(callbacks=[plots, CollapseMonitor()], limit_val_batches=0).fit(
        model, ArraySearchDataModule(x, y, batch_size=8)
    )
    assert {"arch_weights", "cell"} <= set(plots.files)
    assert model.trainer.callback_metrics["collapse/num_skip"] == model.genotype().num_identity


def test_resume_from_a_mid_search_checkpoint_gives_the_same_search(tmp_path, tiny_trainer):
    x, y = _arrays(32, 8)

    def run(ckpt_path=None, callbacks=()):
        seed_everything(7)
        model = DARTS(search_space="mobilenet", space_options=SMALL, num_classes=4)
        trainer = tiny_trainer(max_epochs=3, callbacks=list(callbacks), enable_checkpointing=True, limit_val_batches=1)
        trainer.fit(model, ArraySearchDataModule(x, y, batch_size=8), ckpt_path=ckpt_path)
        return model

    full = run()
    run(callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True), InterruptAfterFirstEpoch()])
    seed_everything(123)  # a different global RNG state must not matter
    resumed = run(ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert str(resumed.genotype()) == str(full.genotype())
    for a, b in zip(full.arch_parameters(), resumed.arch_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(full.weight_parameters(), resumed.weight_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class AssertRanksInSync(Callback):
    """Raises inside the worker processes if the architecture or the derived path differ between ranks."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        flat = torch.cat([p.detach().reshape(-1) for p in pl_module.arch_parameters()])
        gathered = pl_module.all_gather(flat)
        if not torch.equal(gathered[0], gathered[1]):
            raise AssertionError(f"alpha differs between ranks after step {batch_idx}")

    def on_train_end(self, trainer, pl_module):
        paths = [None, None]
        dist.all_gather_object(paths, str(pl_module.genotype()))
        if paths[0] != paths[1]:
            raise AssertionError(f"ranks derived different paths: {paths}")
        trainer.strategy.barrier()


def test_ddp_keeps_alpha_identical_on_two_processes(tiny_trainer):
    seed_everything(0)
    x, y = _arrays(32, 8)
    model = DARTS(search_space="mobilenet", space_options=SMALL, num_classes=4)
    alpha0 = _alphas(model)
    trainer = functools.partial(tiny_trainer, strategy="ddp_spawn", devices=2, max_epochs=1, limit_val_batches=1)(
        callbacks=[AssertRanksInSync()]
    )
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=8))
    # ddp_spawn copies rank 0's final weights back into this process
    assert all(not torch.equal(a, b) for a, b in zip(alpha0, model.arch_parameters()))


def test_build_mixed_supernet_needs_a_mixed_op_supernet():
    class NoSupernet(DifferentiableSearchSpace):
        name = "_no_supernet"

        def build_network(self, genotype, num_classes):
            return torch.nn.Identity()

    class PlainModule(NoSupernet):
        def build_supernet(self, num_classes):
            return torch.nn.Linear(2, num_classes)

    with pytest.raises(NotImplementedError, match="has no weight-sharing supernet"):
        NoSupernet().build_mixed_supernet(3)
    with pytest.raises(TypeError, match=r"`PlainModule.build_mixed_supernet`: `build_supernet` returned a Linear"):
        PlainModule().build_mixed_supernet(3)
