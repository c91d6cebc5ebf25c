"""Power iteration against eigvalsh; HessianMonitor: exact eigenvalue of the architecture Hessian, search untouched,
resume on the same samples after pruning, bad input."""

import pytest
import torch
from lightning import Callback, LightningModule, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from lightning_nas.callbacks import HessianMonitor, VoEPruning
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.hessian import dominant_eigenvalue, hessian_vector_product
from lightning_nas.methods import DARTS


def _quadratic(matrix):
    x = torch.zeros(matrix.shape[0], dtype=matrix.dtype, requires_grad=True)
    return 0.5 * x @ matrix @ x, x


def _dominant(matrix):
    eigenvalues = torch.linalg.eigvalsh(matrix)
    return float(eigenvalues[eigenvalues.abs().argmax()])


# ------------------------------------------------------------------------------------------------ power iteration
def test_power_iteration_matches_eigvalsh_on_a_psd_quadratic():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(12, 12, generator=g, dtype=torch.float64)
    matrix = a @ a.T  # symmetric positive semi-definite
    loss, x = _quadratic(matrix)
    result = dominant_eigenvalue(loss, [x], num_iters=2000, tol=1e-12)
    assert result.converged
    assert result.value == pytest.approx(float(torch.linalg.eigvalsh(matrix)[-1]), rel=1e-8)
    # the vector is the top eigenvector (up to its sign)
    top = torch.linalg.eigh(matrix).eigenvectors[:, -1]
    assert abs(float(result.vector[0] @ top)) == pytest.approx(1.0, abs=1e-6)
    # the paper-like defaults already land within a few per cent on a well-separated spectrum
    gap = matrix + 30 * torch.outer(top, top)
    loss, x = _quadratic(gap)
    quick = dominant_eigenvalue(loss, [x])
    assert quick.value == pytest.approx(float(torch.linalg.eigvalsh(gap)[-1]), rel=1e-2)


def test_power_iteration_returns_the_largest_magnitude_eigenvalue_with_its_sign():
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    eigenvalues = torch.tensor([-9.0, 5.0, 3.0, 1.0, 0.5, -0.5, -2.0, 0.1], dtype=torch.float64)
    matrix = q @ torch.diag(eigenvalues) @ q.T  # indefinite, dominant eigenvalue -9
    loss, x = _quadratic(matrix)
    result = dominant_eigenvalue(loss, [x], num_iters=500, tol=1e-12)
    assert result.value == pytest.approx(_dominant(matrix), rel=1e-8) and result.value == pytest.approx(-9.0)


def test_power_iteration_over_several_parameter_tensors_with_a_hvp_callable():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(10, 10, generator=g, dtype=torch.float64)
    matrix = a + a.T
    p1 = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)  # 6 + 4 = 10 coordinates, cross terms included
    p2 = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    flat = torch.cat([p1.reshape(-1), p2])
    hvp = hessian_vector_product(0.5 * flat @ matrix @ flat + (p1.sum() + p2.sum()), [p1, p2])
    result = dominant_eigenvalue(hvp, [p1, p2], num_iters=3000, tol=1e-13)
    assert [tuple(v.shape) for v in result.vector] == [(2, 3), (4,)]
    assert result.value == pytest.approx(_dominant(matrix), rel=1e-7)
    calls = []

    def counting(vector):
        calls.append(1)
        return hvp(vector)

    early = dominant_eigenvalue(counting, [p1, p2], num_iters=50, tol=0.5)
    assert early.converged and early.iterations == len(calls) < 50
    capped = dominant_eigenvalue(hvp, [p1, p2], num_iters=3, tol=0.0)
    assert capped.iterations == 3 and not capped.converged


def test_power_iteration_is_deterministic_and_leaves_the_global_random_state_alone():
    matrix = torch.diag(torch.tensor([1.0, 2.0, 3.0, 2.9]))
    loss, x = _quadratic(matrix)
    hvp = hessian_vector_product(loss, [x])
    state = torch.get_rng_state()
    first = dominant_eigenvalue(hvp, [x], num_iters=5, tol=0.0)
    assert torch.equal(torch.get_rng_state(), state)
    assert dominant_eigenvalue(hvp, [x], num_iters=5, tol=0.0).value == first.value
    other = dominant_eigenvalue(hvp, [x], num_iters=5, tol=0.0, generator=torch.Generator().manual_seed(7))
    assert other.value != first.value


def test_hvp_matches_the_autograd_hessian_and_linear_losses_give_zero():
    w = torch.tensor([0.3, -1.2, 0.7], requires_grad=True)

    def f(v):
        return torch.sin(v).prod() + (v**3).sum() * v[0]

    full = torch.autograd.functional.hessian(f, w.detach())
    vector = torch.tensor([1.0, -2.0, 0.5])
    torch.testing.assert_close(hessian_vector_product(f(w), [w])([vector])[0], full @ vector)
    assert w.grad is None  # nothing written into .grad
    linear = hessian_vector_product((2 * w).sum(), [w])
    assert linear([vector])[0].tolist() == [0.0, 0.0, 0.0]
    zero = dominant_eigenvalue(linear, [w])
    assert (zero.value, zero.iterations, zero.converged) == (0.0, 1, True)


def test_power_iteration_errors():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="`num_iters` must be an int >= 1"):
        dominant_eigenvalue((x**2).sum(), [x], num_iters=0)
    with pytest.raises(ValueError, match="`tol` must be a number >= 0"):
        dominant_eigenvalue((x**2).sum(), [x], tol=-1.0)
    with pytest.raises(ValueError, match="at least one tensor"):
        dominant_eigenvalue((x**2).sum(), [])
    with pytest.raises(ValueError, match="must be a scalar"):
        hessian_vector_product(x**2, [x])
    with pytest.raises(ValueError, match="shaped like it"):
        hessian_vector_product((x**2).sum(), [x])([torch.zeros(3)])


# ------------------------------------------------------------------------------------------------------ monitor
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every_n_epochs": 0}, "`every_n_epochs` must be an integer >= 1"),
        ({"num_iters": 0}, "`num_iters` must be an integer >= 1"),
        ({"val_batches": 1.5}, "`val_batches` must be an integer >= 1"),
        ({"tol": -0.1}, "`tol` must be a number >= 0"),
        ({"seed": "a"}, "`seed` must be an integer"),
        ({"log_key": ""}, "`log_key` must be a non-empty string"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HessianMonitor(**kwargs)


def _data(n=48):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 4
    x = torch.rand(n, 3, 8, 8, generator=g)
    x[:, 0] += y.view(-1, 1, 1) / 4
    return ArraySearchDataModule(x, y, batch_size=8, seed=0)


def _model():
    return DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=4, arch_lr=0.05)


def _fit(tiny_trainer, callbacks, max_epochs=2, ckpt_path=None, datamodule=None, **kwargs):
    seed_everything(0)
    model = _model()
    trainer = tiny_trainer(max_epochs=max_epochs, callbacks=callbacks, limit_val_batches=1, **kwargs)
    trainer.fit(model, datamodule or _data(), ckpt_path=ckpt_path)
    return model, trainer


def test_monitor_logs_the_exact_dominant_eigenvalue_and_leaves_the_search_unchanged(tiny_trainer):
    monitor = HessianMonitor(every_n_epochs=2, num_iters=100, tol=1e-7, val_batches=2)
    model, trainer = _fit(tiny_trainer, [monitor])
    plain, _ = _fit(tiny_trainer, [])
    # the search is unaffected: identical architecture, weights and BatchNorm statistics
    for (name, a), (_, b) in zip(model.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), name
    assert sorted(monitor.history) == [1]
    assert trainer.callback_metrics["arch/hessian_eigenvalue"] == pytest.approx(monitor.history[1])
    # against the full Hessian of the mean loss of the first two architecture-split batches, in training mode
    dm = _data()
    dm.setup("fit")
    batches = [b for _, b in zip(range(2), dm.val_dataloader())]
    model.train()

    def loss(alpha):
        outputs = [torch.func.functional_call(model, {"supernet.arch_alpha": alpha}, (x,)) for x, _, _ in batches]
        return sum(nn.functional.cross_entropy(out, y) for out, (_, y, _) in zip(outputs, batches)) / 2

    alpha = model.supernet.arch_alpha.detach().clone()
    hessian = torch.autograd.functional.hessian(loss, alpha).reshape(alpha.numel(), alpha.numel())
    assert monitor.history[1] == pytest.approx(_dominant(hessian.double()), rel=1e-3)


class StopAfter(Callback):
    """Stops the fit after an epoch, as a killed job would (the learning-rate schedule still spans max_epochs)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def test_every_n_epochs_and_resume_uses_the_same_samples_after_pruning(tmp_path, tiny_trainer):
    def callbacks():
        pruning = VoEPruning(interval=2, train_ratio=0.25, val_ratio=0.5, class_balance=False)
        return [pruning, HessianMonitor(every_n_epochs=1, num_iters=5, tol=0.0)]

    full_callbacks = callbacks()
    _fit(tiny_trainer, full_callbacks, max_epochs=3, default_root_dir=tmp_path / "full")
    full = full_callbacks[1]
    assert sorted(full.history) == [0, 1, 2]
    first = callbacks()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    _fit(tiny_trainer, [*first, checkpoint, StopAfter(epoch=1)], max_epochs=3, enable_checkpointing=True)
    assert sorted(first[1].history) == [0, 1]
    resumed = callbacks()
    datamodule = _data()
    _fit(tiny_trainer, resumed, max_epochs=3, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"), datamodule=datamodule)
    assert resumed[1].history == full.history  # epoch 2 on the fixed batch, though half the val split is gone
    fixed = resumed[1].batch_ids[0][0]
    first_val = _data()
    first_val.setup()
    assert fixed == full.batch_ids[0][0] == first_val.active_ids("val")[:8].tolist()  # the unpruned split's first 8
    assert datamodule.active_ids("val")[:8].tolist() != fixed  # the pruned split starts elsewhere
    sparse = HessianMonitor(every_n_epochs=2, num_iters=2)
    _fit(tiny_trainer, [sparse], max_epochs=3, default_root_dir=tmp_path / "sparse")
    assert sorted(sparse.history) == [1]


def test_module_without_arch_parameters_is_rejected(tiny_trainer):
    class NoArch(LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return self.weight.sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = tiny_trainer(callbacks=[HessianMonitor()])
    with pytest.raises(TypeError, match="has no `arch_parameters\\(\\)` method"):
        trainer.fit(NoArch(), _data())


class CheckAcrossRanks(Callback):
    """Raises inside the DDP workers unless every rank holds the eigenvalue of the Hessian of the mean loss over all
    ranks' fixed batches (each rank's Hessian computed in full with autograd, then averaged)."""

    def __init__(self, monitor):
        self.monitor = monitor

    def on_train_epoch_end(self, trainer, pl_module):
        value = self.monitor.history[trainer.current_epoch]
        values = pl_module.all_gather(torch.tensor([value], dtype=torch.float64)).reshape(-1)
        if not torch.equal(values[0], values[1]):
            raise AssertionError(f"the ranks hold different eigenvalues: {values.tolist()}")
        ids = self.monitor.batch_ids
        if len(ids) != 2 or ids[0] == ids[1]:
            raise AssertionError(f"each rank should use its own share of the val split: {ids}")
        x, y, _ = next(iter(trainer.datamodule.pool_dataloader(ids[trainer.global_rank][0])))
        saved = {name: b.clone() for name, b in pl_module.named_buffers()}
        pl_module.train()
        alpha = pl_module.supernet.arch_alpha.detach().clone()

        def loss(a):
            logits = torch.func.functional_call(pl_module, {"supernet.arch_alpha": a}, (x,))
            return nn.functional.cross_entropy(logits, y)

        hessian = torch.autograd.functional.hessian(loss, alpha).reshape(alpha.numel(), -1).double()
        with torch.no_grad():
            for name, buffer in pl_module.named_buffers():
                buffer.copy_(saved[name])
        mean = trainer.strategy.reduce(hessian, reduce_op="mean")
        expected = _dominant(mean)
        if abs(value - expected) > 1e-3 * abs(expected):
            raise AssertionError(f"eigenvalue {value} differs from the full Hessian's {expected}")


def test_ddp_eigenvalue_is_that_of_the_loss_over_all_ranks_and_identical_everywhere(tiny_trainer):
    seed_everything(0)
    monitor = HessianMonitor(num_iters=100, tol=1e-7)
    trainer = tiny_trainer(
        strategy="ddp_spawn", devices=2, callbacks=[monitor, CheckAcrossRanks(monitor)], limit_val_batches=0
    )
    trainer.fit(_model(), _data())
    assert "arch/hessian_eigenvalue" in trainer.callback_metrics
