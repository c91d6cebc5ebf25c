"""Lightning's mixed precision with the manual bi-level steps of the DARTS family, on a CPU.

* ``precision="bf16-mixed"``: DARTS (first and second order, both spaces), PC-DARTS and β-DARTS with both levels
  clipped; the supernet's forward passes, the second-order step's functional calls included, must run in bfloat16.
* ``precision="16-mixed"`` on a CPU: Lightning replaces it by ``"bf16-mixed"`` (with a warning). float16 AMP with a
  ``GradScaler`` does run on a CPU when the plugin is given explicitly, ``MixedPrecision("16-mixed", "cpu")``, which
  is how the scaler is tested here with the manual steps: the loss is scaled, the gradients are clipped in unscaled
  units, and an overflow skips the step.
"""

import functools
import math

import pytest
import torch
from lightning import seed_everything
from lightning.pytorch.plugins import MixedPrecision

from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS, PCDARTS, BetaDARTS
from lightning_nas.methods.hypergradient import unrolled_arch_gradient

NB201 = ("nasbench201", {"C": 4, "N": 1})
DARTS_SPACE = ("darts", {"C": 4, "layers": 3})


def _iteration_dtypes(model, low):
    """The logits dtypes of one search iteration's forward passes under autocast to ``low``.

    Order 1: the architecture and the weight pass. Order 2: the architecture step's g and ``L_val(w')`` passes in
    ``low`` and its two finite-difference (HVP) passes in float32 (autocast off), and the weight pass.
    """
    arch = [low] if model.hparams.order == 1 else [low, low, torch.float32, torch.float32]
    return arch + [low] if model.step_order == "arch_first" else [low] + arch


def _datamodule(seed=0):
    """32 random 8x8 images of 4 classes: 16 + 16 search ids, two paired batches of 8 per epoch."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(32, 3, 8, 8, generator=g), torch.arange(32) % 4
    return ArraySearchDataModule(x, y, batch_size=8)


@pytest.fixture
def tiny_trainer(tiny_trainer):
    """The shared tiny Trainer (tests/conftest.py), without validation by default."""
    return functools.partial(tiny_trainer, limit_val_batches=0)


def _record_forward_dtypes(model):
    """The dtype of the logits of every forward pass of the supernet in training mode, in order."""
    dtypes = []

    def hook(module, args, output):
        if module.training:
            dtypes.append(output.dtype)

    model.supernet.register_forward_hook(hook)
    return dtypes


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _assert_float32_and_finite(model):
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and torch.isfinite(p).all(), name
    for optimizer in model.optimizers():
        for state in optimizer.optimizer.state.values():
            for key, value in state.items():
                if torch.is_tensor(value) and value.is_floating_point() and key != "step":
                    assert value.dtype == torch.float32 and torch.isfinite(value).all(), key


def _assert_searched(model, before):
    _assert_float32_and_finite(model)
    arch_names = {id(p) for p in model.arch_parameters()}
    for name, p in model.named_parameters():
        if id(p) in arch_names:  # every architecture tensor (α, and PC-DARTS's β) moved
            assert not torch.equal(p.detach(), before[name]), name
    genotype = model.genotype()
    assert model.space.parse_genotype(str(genotype)) == genotype


# ------------------------------------------------------------------------------------------------------ bf16-mixed
SEARCHES = {
    "darts-nb201-order1": (DARTS, NB201, dict(order=1)),
    "darts-nb201-order2": (DARTS, NB201, dict(order=2)),
    "darts-darts-order1": (DARTS, DARTS_SPACE, dict(order=1)),
    "darts-darts-order2": (DARTS, DARTS_SPACE, dict(order=2)),
    "pcdarts-order1": (PCDARTS, ("darts", {"C": 8, "layers": 3}), dict(order=1, arch_warmup_epochs=0)),
    "pcdarts-order2": (PCDARTS, ("darts", {"C": 8, "layers": 3}), dict(order=2, arch_warmup_epochs=0)),
    "betadarts-order1": (BetaDARTS, DARTS_SPACE, dict(order=1)),
}


@pytest.mark.parametrize("case", list(SEARCHES))
def test_bf16_mixed_search_runs_both_levels_in_bf16_and_keeps_float32_state(case, tiny_trainer):
    cls, (space, options), kwargs = SEARCHES[case]
    seed_everything(0)
    model = cls(search_space=space, space_options=options, num_classes=4, grad_clip=5.0, arch_grad_clip=1.0, **kwargs)
    dtypes = _record_forward_dtypes(model)
    before = _params(model)
    epochs = 2 if cls is BetaDARTS else 1  # β-DARTS's λ is 0 in epoch 0: its regularizer weighs in from epoch 1
    trainer = tiny_trainer(precision="bf16-mixed", max_epochs=epochs)
    trainer.fit(model, _datamodule())

    assert trainer.global_step == 4 * epochs  # two iterations per epoch, two optimizer steps each
    assert not model.optimizers()[0].optimizer.param_groups[0]["fused"]  # Lightning clips no fused optimizer
    # every forward pass of training, the second-order step's functional calls included, ran under autocast
    assert dtypes == _iteration_dtypes(model, torch.bfloat16) * (2 * epochs)
    _assert_searched(model, before)


@pytest.mark.parametrize("precision,dtype", [("32-true", torch.float32), ("bf16-mixed", torch.bfloat16)])
def test_the_forward_dtype_check_sees_the_precision(precision, dtype, tiny_trainer):
    """The control of the test above: without autocast the same hook records float32 logits."""
    seed_everything(0)
    model = DARTS(search_space=NB201[0], space_options=NB201[1], num_classes=4, order=2)
    dtypes = _record_forward_dtypes(model)
    tiny_trainer(precision=precision, limit_train_batches=1).fit(model, _datamodule())
    assert dtypes == _iteration_dtypes(model, dtype)


# ------------------------------------------------------------------------------------------------------ 16-mixed
def test_16_mixed_on_a_cpu_is_replaced_by_bf16_mixed_without_a_scaler(tiny_trainer):
    with pytest.warns(UserWarning, match="AMP with fp16 is not supported on CPU. Using `precision='bf16-mixed'`"):
        trainer = tiny_trainer(precision="16-mixed", limit_train_batches=1)
    assert trainer.precision == "bf16-mixed" and trainer.precision_plugin.scaler is None
    seed_everything(0)
    model = DARTS(search_space=NB201[0], space_options=NB201[1], num_classes=4, grad_clip=5.0, arch_grad_clip=1.0)
    dtypes = _record_forward_dtypes(model)
    trainer.fit(model, _datamodule())
    assert dtypes == [torch.bfloat16] * 2


def _fp16_trainer(tiny_trainer, init_scale=2.0**16, **kwargs):
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    return tiny_trainer(plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)], **kwargs), scaler


@pytest.mark.parametrize(
    "space,order",
    [
        pytest.param(NB201, 1, id="nasbench201-1"),
        pytest.param(NB201, 2, id="nasbench201-2"),
        pytest.param(DARTS_SPACE, 1, id="darts-1"),
        # arch first (the DARTS space's default): the first `unscale_` comes before any `scaler.scale(loss)`
        pytest.param(DARTS_SPACE, 2, id="darts-2"),
    ],
)
def test_16_mixed_with_a_cpu_grad_scaler_runs_both_orders(space, order, tiny_trainer):
    seed_everything(0)
    model = DARTS(search_space=space[0], space_options=space[1], num_classes=4, order=order, grad_clip=5.0,
                  arch_grad_clip=1.0)  # fmt: skip
    dtypes = _record_forward_dtypes(model)
    before = _params(model)
    trainer, scaler = _fp16_trainer(tiny_trainer, max_epochs=2)
    assert trainer.precision == "16-mixed"
    trainer.fit(model, _datamodule())
    assert not model.optimizers()[0].optimizer.param_groups[0]["fused"]
    assert dtypes == _iteration_dtypes(model, torch.float16) * 4
    assert scaler.get_scale() <= 2.0**16  # the scaler ran (a first overflow halves it; 2 000 steps double it)
    _assert_searched(model, before)


class RecordScaledSteps(DARTS):
    """Records, for each optimizer step, the gradient norm where the module clips (still scaled) and where the
    optimizer steps (after the plugin's ``unscale_``), the scale, and the second-order α gradients it computed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.at_clip, self.at_step, self.unrolled = [], [], []

    @staticmethod
    def _norm(optimizer):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()

    def _is_arch(self, optimizer):
        return optimizer.param_groups[0]["params"][0] is self.arch_parameters()[0]

    def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        scale = self.trainer.precision_plugin.scaler.get_scale()
        self.at_clip.append((self._is_arch(optimizer), self._norm(optimizer), scale))
        super().clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_before_optimizer_step(self, optimizer):
        grads = [p.grad.clone() for p in self.arch_parameters()] if self._is_arch(optimizer) else None
        self.at_step.append((self._is_arch(optimizer), self._norm(optimizer), grads))

    def _unrolled_arch_gradient(self, *args, **kwargs):
        grads, loss, logits = super()._unrolled_arch_gradient(*args, **kwargs)
        self.unrolled.append([g.clone() for g in grads])
        return grads, loss, logits


def test_16_mixed_scales_the_loss_and_clips_the_unscaled_gradients(tiny_trainer):
    seed_everything(0)
    # both thresholds below the gradient norms (about 5 and 0.3): every finite step is clipped
    clip, arch_clip = 1.0, 0.05
    model = RecordScaledSteps(search_space=NB201[0], space_options=NB201[1], num_classes=4, order=1,
                              grad_clip=clip, arch_grad_clip=arch_clip)  # fmt: skip
    trainer, scaler = _fp16_trainer(tiny_trainer, max_epochs=2)
    trainer.fit(model, _datamodule())
    assert len(model.at_clip) == len(model.at_step) == 8
    finite = 0
    for (is_arch, scaled, scale), (is_arch_step, unscaled, _) in zip(model.at_clip, model.at_step):
        assert is_arch == is_arch_step
        if not math.isfinite(scaled):  # an overflow: the scaler skips this step (see the test below)
            continue
        finite += 1
        assert 1e-2 < scaled / scale < 1e2  # the loss was scaled: the gradients carry the factor `scale`
        # clipped in unscaled units: min(threshold, ||g||), not threshold / scale
        assert unscaled == pytest.approx(min(arch_clip if is_arch else clip, scaled / scale), rel=1e-3)
    assert finite >= 6


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
@pytest.mark.parametrize("order", [1, 2])
def test_16_mixed_skips_the_steps_whose_scaled_gradients_overflow(order, tiny_trainer):
    seed_everything(0)
    model = DARTS(search_space=NB201[0], space_options=NB201[1], num_classes=4, order=order, grad_clip=5.0,
                  arch_grad_clip=1.0)  # fmt: skip
    before = _params(model)
    # a scale of 2^40 overflows float16 in every backward pass: each step is skipped and halves the scale
    trainer, scaler = _fp16_trainer(tiny_trainer, init_scale=2.0**40, limit_train_batches=1)
    trainer.fit(model, _datamodule())
    assert scaler.get_scale() == 2.0**38  # the weight step and the architecture step both found inf
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), before[name]), name  # no step of either optimizer changed anything
    weight_opt, arch_opt = model.optimizers()
    assert not weight_opt.optimizer.state and not arch_opt.optimizer.state  # their `step` never ran


def test_16_mixed_second_order_arch_gradient_reaches_adam_unscaled_once(tiny_trainer):
    seed_everything(0)
    model = RecordScaledSteps(search_space=NB201[0], space_options=NB201[1], num_classes=4, order=2,
                              grad_clip=5.0, arch_grad_clip=None)  # fmt: skip
    trainer, scaler = _fp16_trainer(tiny_trainer, max_epochs=2)
    trainer.fit(model, _datamodule())
    arch_steps = [grads for is_arch, _, grads in model.at_step if is_arch]
    assert len(arch_steps) == len(model.unrolled) == 4
    for at_step, computed in zip(arch_steps, model.unrolled):
        if all(torch.isfinite(g).all() for g in computed):
            for a, b in zip(at_step, computed):
                torch.testing.assert_close(a, b, rtol=0, atol=0)  # the scaler's unscale_ gave back the gradient


# ------------------------------------------------------------------------------ unrolled_arch_gradient(loss_scale)
class _TinySupernet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ops = torch.nn.ModuleList([torch.nn.Linear(5, 6), torch.nn.Linear(5, 6)])
        self.alpha = torch.nn.Parameter(torch.randn(2))
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        w = self.alpha.softmax(0)
        return self.head(torch.tanh(sum(wi * op(x) for wi, op in zip(w, self.ops))))


def _unrolled(dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    model = _TinySupernet().to(dtype)
    names = [n for n, _ in model.named_parameters() if n != "alpha"]
    train = (torch.randn(16, 5, dtype=dtype), torch.randint(0, 3, (16,)))
    val = (torch.randn(16, 5, dtype=dtype), torch.randint(0, 3, (16,)))
    return unrolled_arch_gradient(model, names, [model.alpha], train, val, lr=0.1, momentum=0.9, **kwargs)


@pytest.mark.parametrize("loss_scale", [2.0**10, torch.tensor(2.0**10)], ids=["float", "tensor"])
def test_loss_scale_leaves_the_unrolled_gradient_unscaled(loss_scale):
    (reference,), loss, _ = _unrolled(torch.float64)
    (scaled,), scaled_loss, _ = _unrolled(torch.float64, loss_scale=loss_scale)
    torch.testing.assert_close(scaled, reference, rtol=1e-12, atol=0)
    assert scaled_loss == loss  # the returned loss is the unscaled validation loss


def test_loss_scale_under_float16_autocast_keeps_the_gradient_and_exposes_an_overflow():
    (reference,), _, _ = _unrolled()
    with torch.autocast("cpu", dtype=torch.float16, cache_enabled=False):
        (scaled,), _, _ = _unrolled(loss_scale=2.0**12)
        (overflow,), _, _ = _unrolled(loss_scale=2.0**40)  # loss * 2^40 overflows float16 in the backward pass
    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, reference, rtol=0.05, atol=1e-3)
    assert not torch.isfinite(overflow).all()  # a GradScaler skips such a step once it sees it in `.grad`


@pytest.mark.parametrize("loss_scale", [0.0, -1.0])
def test_loss_scale_must_be_positive(loss_scale):
    with pytest.raises(ValueError, match="`loss_scale` must be positive"):
        _unrolled(loss_scale=loss_scale)
