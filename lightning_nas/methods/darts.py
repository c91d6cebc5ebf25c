"""DARTS: differentiable architecture search as a LightningModule with manual bi-level optimization."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from lightning_nas.checks import check_betas, check_choice, check_mapping, check_number
from lightning_nas.methods.base import SearchModule
from lightning_nas.methods.divergence import DivergenceError, DivergenceGuard, logs_this_step, predictions
from lightning_nas.methods.hypergradient import unrolled_arch_gradient
from lightning_nas.methods.precision import clip_grad_norm, grad_scaler
from lightning_nas.selection.scores import el2n
from lightning_nas.spaces import (
    DifferentiableSearchSpace,
    Genotype,
    get_search_space,
    get_search_space_class,
    list_search_spaces,
)

StepOrder = Literal["arch_first", "weights_first"]


def optimizer_implementation(device: torch.device | str, precision: str = "32-true") -> dict[str, bool]:
    """The keyword that selects torch's multi-tensor optimizer implementation on ``device`` (SGD, Adam).

    * ``fused=True`` on CUDA and CPU: one kernel for all parameters. On one CPU thread it makes the SGD step of the
      NAS-Bench-201 supernet 2.5x and of the DARTS supernet 3x faster than torch's default per-parameter loop; the
      weights agree with the loop's to float rounding.
    * Under Lightning's mixed precision (``"16-mixed"``, ``"bf16-mixed"``), whose plugin refuses to clip the
      gradients of fused optimizers (they unscale inside their ``step``): ``foreach=True`` on CUDA, torch's default
      on a CPU. ``foreach`` is not used on a CPU: it gives the loop's weights bit for bit but runs slower there.
    * Other devices: ``{}``, torch's default.

    Example:
        >>> optimizer_implementation("cpu"), optimizer_implementation("cuda")
        ({'fused': True}, {'fused': True})
        >>> optimizer_implementation("cuda", precision="16-mixed"), optimizer_implementation("cpu", "bf16-mixed")
        ({'foreach': True}, {})
    """
    device_type = torch.device(device).type
    if str(precision).endswith("-mixed"):
        return {"foreach": True} if device_type == "cuda" else {}
    return {"fused": True} if device_type in ("cpu", "cuda") else {}


def _check_compile_options(owner: str, compile: object) -> None:
    """``compile`` is a bool or a dict of :func:`torch.compile` keyword arguments (``model`` excluded)."""
    if isinstance(compile, bool):
        return
    allowed = sorted(set(inspect.signature(torch.compile).parameters) - {"model"})
    if not isinstance(compile, Mapping):
        raise ValueError(
            f"`{owner}(compile={compile!r})`: `compile` must be True, False or a dict of `torch.compile` "
            f"arguments ({', '.join(allowed)}). Got {type(compile).__name__} instead."
        )
    unknown = sorted(set(compile) - set(allowed))
    if unknown:
        raise ValueError(
            f"`{owner}(compile={dict(compile)!r})`: unknown `torch.compile` argument(s) {unknown}; allowed: "
            f"{', '.join(allowed)}."
        )


class DARTS(SearchModule):
    """DARTS (Liu et al., ICLR 2019) on any registered search space.

    Every training step takes a paired batch ``{"train": (x, y, ids), "val": (x, y, ids)}`` (see
    :class:`~lightning_nas.datamodules.SearchDataModule`) and makes two updates with manual optimization:

    * the **architecture step** on the ``val`` batch: Adam on ``α`` with the first-order gradient
      ``∇α L_val(w, α)`` (``order=1``) or the unrolled second-order one (``order=2``, a finite-difference
      Hessian-vector product, see :func:`~lightning_nas.methods.hypergradient.unrolled_arch_gradient`);
    * the **weight step** on the ``train`` batch: SGD on ``w`` with gradient clipping.

    ``step_order`` chooses which comes first: ``"arch_first"`` is quark0's DARTS, ``"weights_first"`` is
    xautodl's DARTS-V1; ``None`` takes the space's default (NAS-Bench-201: weights first, DARTS space: arch
    first). The weight learning rate follows a cosine schedule over ``Trainer(max_epochs)`` down to
    ``weight_lr_min``, stepped per epoch (``lr_interval="epoch"``, quark0) or per iteration (``"step"``,
    xautodl). Under DDP the gradients of both levels are averaged across processes, so ``w`` and ``α`` stay
    identical on every rank. Note that ``trainer.global_step`` counts optimizer steps: two per iteration once
    the architecture is updated.

    Defaults are the DARTS paper's CIFAR-10 search settings (quark0): SGD lr 0.025 (momentum 0.9, weight decay
    3e-4, cosine to 0.001), clip 5, Adam 3e-4 (betas 0.5, 0.999, weight decay 1e-3), batch 64, 50 epochs.
    The xautodl NAS-Bench-201 reproduction uses ``weight_nesterov=True, weight_decay=5e-4, lr_interval="step"``
    (``examples/configs/darts_nb201_xautodl.yaml``).

    ``training_step`` returns, besides ``loss``, the per-sample EL2N errors it computed anyway, for each split it
    touched (``{"train": {"ids", "el2n"}, "val": {"ids", "el2n"}}``); callbacks such as data pruning read them
    from ``outputs`` in ``on_train_batch_end``. For ``order=2`` the ``val`` errors come from the forward pass at
    the virtual weights ``w'``, the only validation forward pass that step makes.

    Logged keys (the README's table): ``train/loss_step`` (weight split, training mode), ``train/loss_epoch`` (and
    ``train/loss`` in ``trainer.callback_metrics``), ``train/acc``, ``arch/loss``, ``arch/acc`` (architecture split
    inside the architecture step), ``val/loss``, ``val/acc`` (validation loop over the architecture split, no
    augmentation), ``test/loss``, ``test/acc`` (:class:`~lightning_nas.methods.base.SearchModule`'s evaluation
    steps), ``search/weight_lr``. The derived genotype is printed (and written as text, ``search/genotype``, to
    loggers that take text) at the end of every epoch. To keep a search step through a ``Trainer`` within a few
    percent of the same step in a bare loop (``benchmarks/search_step.py``), the epoch values are accumulated in
    torchmetrics states and logged once per epoch, and the step loss is logged only on the batches whose step
    metrics the loggers write (every ``Trainer(log_every_n_steps)`` batches; the progress bar's ``train/loss_step``
    follows that rate).

    The optimizers use torch's fused implementations on CUDA and CPU (:func:`optimizer_implementation`; ``foreach``
    or the default under mixed precision), which give the weights of its per-parameter loop to float rounding.

    Args:
        search_space: a registered search space name (see :func:`~lightning_nas.spaces.list_search_spaces`).
        space_options: options of the search space, e.g. ``{"C": 16, "N": 5}`` for NAS-Bench-201,
            ``{"input_size": 32, "width_mult": 0.25}`` for the MobileNet chain space.
        num_classes: number of classes of the data.
        order: 1 for first-order DARTS, 2 for the unrolled second-order architecture gradient.
        weight_lr: initial SGD learning rate of the weights.
        weight_lr_min: final learning rate of the cosine schedule.
        weight_momentum: SGD momentum.
        weight_decay: SGD weight decay.
        weight_nesterov: Nesterov momentum (xautodl's NAS-Bench-201 setting).
        grad_clip: max global norm of the weight gradients; ``None`` or 0 disables clipping.
        arch_lr: Adam learning rate of the architecture parameters.
        arch_betas: Adam betas.
        arch_weight_decay: Adam (coupled L2) weight decay of the architecture parameters.
        arch_warmup_epochs: epochs at the start during which only the weights are trained.
        arch_grad_clip: max global norm of the architecture gradients (P-DARTS clips both levels); ``None``: off.
        step_order: ``"arch_first"``, ``"weights_first"`` or ``None`` for the space's default.
        lr_interval: step the cosine schedule every ``"epoch"`` or every ``"step"`` (iteration).
        unrolled_r: the finite-difference scale of the second-order step (``ε = r / ||v||``).
        compile: compile the supernet's forward with :func:`torch.compile` (``nn.Module.compile``: parameters,
            buffers and ``state_dict`` keys unchanged): ``True`` with torch's defaults, or a dict of
            ``torch.compile`` keyword arguments, e.g. ``{"mode": "max-autotune-no-cudagraphs"}``. The supernets
            of the DARTS family are static graphs: torch compiles them once per input shape and per train/eval
            mode (and once more for the second-order step's functional calls), on the first steps; P-DARTS
            compiles each stage's new supernet. Off by default: compiling takes a minute or more and pays off in
            long searches. On a GPU, ``{"mode": "reduce-overhead"}`` adds CUDA graphs (see the README's recipe).

    Raises:
        ValueError: for an unknown search space, bad space options or out-of-range hyperparameters.

    Example:
        >>> model = DARTS(search_space="nasbench201", space_options={"C": 4, "N": 1}, num_classes=10)
        >>> str(model.genotype()).count("~")
        6

    References:
        Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Alg. 1 and Sec. 2.3.
    """

    def __init__(
        self,
        search_space: str = "nasbench201",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        order: Literal[1, 2] = 1,
        weight_lr: float = 0.025,
        weight_lr_min: float = 0.001,
        weight_momentum: float = 0.9,
        weight_decay: float = 3e-4,
        weight_nesterov: bool = False,
        grad_clip: float | None = 5.0,
        arch_lr: float = 3e-4,
        arch_betas: tuple[float, float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        arch_warmup_epochs: int = 0,
        arch_grad_clip: float | None = None,
        step_order: StepOrder | None = None,
        lr_interval: Literal["epoch", "step"] = "epoch",
        unrolled_r: float = 0.01,
        compile: bool | dict[str, Any] = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_compile_options(name, compile)
        check_choice(name, "order", order, (1, 2))
        check_number(name, "num_classes", num_classes, low=2, integer=True)
        for arg, value in (("weight_lr", weight_lr), ("arch_lr", arch_lr), ("unrolled_r", unrolled_r)):
            check_number(name, arg, value, low=0, low_open=True)
        for arg, value in (
            ("weight_lr_min", weight_lr_min),
            ("weight_decay", weight_decay),
            ("arch_weight_decay", arch_weight_decay),
        ):
            check_number(name, arg, value, low=0)
        check_number(name, "weight_momentum", weight_momentum, low=0, high=1)
        check_number(name, "arch_warmup_epochs", arch_warmup_epochs, low=0, integer=True)
        for arg, value in (("grad_clip", grad_clip), ("arch_grad_clip", arch_grad_clip)):
            check_number(name, arg, value, low=0, optional=True)
        check_betas(name, "arch_betas", arch_betas)
        check_mapping(name, "space_options", space_options)
        for arg, value in (("weight_nesterov", weight_nesterov),):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}({arg}={value!r})`: `{arg}` must be True or False.")
        check_choice(name, "step_order", step_order, ("arch_first", "weights_first", None))
        check_choice(name, "lr_interval", lr_interval, ("epoch", "step"))
        if weight_nesterov and weight_momentum == 0:
            raise ValueError(f"`{name}(weight_nesterov=True)`: Nesterov momentum needs `weight_momentum` > 0.")
        self.save_hyperparameters()
        self.automatic_optimization = False
        if not issubclass(get_search_space_class(search_space), DifferentiableSearchSpace):
            raise ValueError(
                f"`{name}(search_space={search_space!r})`: a differentiable method needs a space with a mixed-op "
                f"supernet (one of {list_search_spaces(DifferentiableSearchSpace)}); {search_space!r} is not one."
            )
        self.space = get_search_space(search_space, **self.resolve_space_options(dict(space_options or {})))
        self.supernet = self.compiled(self.build_supernet())
        self.step_order: StepOrder = step_order or self.space.default_step_order
        # updated every step, logged once per epoch; the inputs are our own logits and labels: no per-step validation
        self.configure_metrics(num_classes, validate_train_args=False)
        self.arch_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.arch_loss = MeanMetric(nan_strategy="disable")
        self.divergence = DivergenceGuard(
            name,
            {
                "weight loss": f"the weights' learning rate `weight_lr={weight_lr}` is too large (or `grad_clip` off)",
                "architecture loss": f"a learning rate too large: `weight_lr={weight_lr}` or `arch_lr={arch_lr}`",
                "architecture parameters": f"the architecture's learning rate `arch_lr={arch_lr}` is too large",
            },
        )

    # ------------------------------------------------------------------ hooks for variants
    def resolve_space_options(self, space_options: dict[str, Any]) -> dict[str, Any]:
        """The options the search space is built with; variants add their own (e.g. PC-DARTS's partial channels)."""
        return space_options

    def build_supernet(self) -> nn.Module:
        """Builds the mixed-op supernet of ``self.space`` (P-DARTS calls it again for every stage).

        It is the space's :meth:`~lightning_nas.spaces.DifferentiableSearchSpace.build_mixed_supernet`: a space with
        a single-path supernet too (``mobilenet``) gives its mixed-op one here.
        """
        return cast(DifferentiableSearchSpace, self.space).build_mixed_supernet(self.hparams.num_classes)

    def compiled(self, supernet: nn.Module) -> nn.Module:
        """``supernet`` with its forward compiled in place when the module was built with ``compile``."""
        options = self.hparams.get("compile", False)
        if options:
            supernet.compile(**({} if options is True else dict(options)))
        return supernet

    def arch_regularization(self) -> Tensor | None:
        """An extra term added to the first-order architecture loss (β-DARTS's β-decay); none in DARTS."""
        return None

    def schedule_epochs(self) -> int:
        """Length in epochs of the cosine schedule (all of ``max_epochs``; P-DARTS restarts it every stage)."""
        return self.trainer.max_epochs

    def arch_update_enabled(self) -> bool:
        """Whether the architecture is updated in the current epoch (after ``arch_warmup_epochs``)."""
        return self.current_epoch >= self.hparams.arch_warmup_epochs

    # ------------------------------------------------------------------ public API
    @override
    def forward(self, x: Tensor) -> Tensor:
        return self.supernet(x)

    def genotype(self) -> Genotype:
        """The architecture currently derived from ``α``.

        Raises:
            DivergenceError: if ``α`` holds a non-finite value (a diverged search has no genotype).
        """
        if not all(bool(torch.isfinite(p).all()) for p in self.arch_parameters()):
            raise DivergenceError(
                f"`{type(self).__name__}.genotype()`: the architecture parameters are not finite (the search "
                "diverged); no genotype is derived from them."
            )
        return self.supernet.genotype()

    def arch_parameters(self) -> list[nn.Parameter]:
        """The supernet's architecture parameters (``α``, and ``β`` with edge normalization)."""
        return list(self.named_arch_parameters().values())

    def weight_parameters(self) -> list[nn.Parameter]:
        """The supernet's weights: every parameter that is not an architecture parameter."""
        return list(self._parameter_split()[2].values())

    def named_arch_parameters(self) -> dict[str, nn.Parameter]:
        """The architecture parameters by their name in ``supernet.named_parameters()``."""
        return dict(self._parameter_split()[1])

    def _parameter_split(self) -> tuple[nn.Module, dict[str, nn.Parameter], dict[str, nn.Parameter]]:
        """``(supernet, arch, weights)`` by name, computed once per supernet.

        Walking the module tree costs ~20 ms on the DARTS supernet (thousands of modules), more than the rest of
        a step's bookkeeping; the split is cached, and built anew when ``self.supernet`` is replaced (P-DARTS).
        """
        cached = self.__dict__.get("_split")
        if cached is None or cached[0] is not self.supernet:
            names = set(self.supernet.arch_parameter_names())
            named = list(self.supernet.named_parameters())
            cached = (
                self.supernet,
                {n: p for n, p in named if n in names},
                {n: p for n, p in named if n not in names},
            )
            self.__dict__["_split"] = cached
        return cached

    # ------------------------------------------------------------------ optimization
    def build_optimizers(self, precision: str = "32-true") -> tuple[torch.optim.SGD, torch.optim.Adam]:
        """The weight SGD and the architecture Adam, with the multi-tensor implementation of ``self.device``.

        See :func:`optimizer_implementation` (``fused`` on CUDA and CPU: the weights of torch's default to float
        rounding); ``precision`` is the Trainer's (``configure_optimizers`` passes ``trainer.precision``).
        """
        hp = self.hparams
        implementation = optimizer_implementation(self.device, precision)
        weight_opt = torch.optim.SGD(
            self.weight_parameters(),
            lr=hp.weight_lr,
            momentum=hp.weight_momentum,
            weight_decay=hp.weight_decay,
            nesterov=hp.weight_nesterov,
            **implementation,
        )
        arch_opt = torch.optim.Adam(
            self.arch_parameters(),
            lr=hp.arch_lr,
            betas=tuple(hp.arch_betas),
            weight_decay=hp.arch_weight_decay,
            **implementation,
        )
        return weight_opt, arch_opt

    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        weight_opt, arch_opt = self.build_optimizers(self.trainer.precision)
        if hp.lr_interval == "epoch":
            max_epochs = self.trainer.max_epochs
            if max_epochs is None or max_epochs < 1:
                raise ValueError(
                    f"`{type(self).__name__}` schedules its learning rate over `Trainer(max_epochs=...)`; "
                    f"got max_epochs={max_epochs}. Set max_epochs, or use lr_interval='step' with max_steps."
                )
            t_max = self.schedule_epochs()
        else:
            t_max = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, T_max=t_max, eta_min=hp.weight_lr_min)
        return [weight_opt, arch_opt], [scheduler]

    def _mean_across_processes(self, tensors: list[Tensor]) -> list[Tensor]:
        if self.trainer.world_size == 1:
            return tensors
        flat = torch.cat([t.reshape(-1) for t in tensors])
        flat = self.trainer.strategy.reduce(flat, reduce_op="mean")
        return [chunk.view_as(t) for chunk, t in zip(flat.split([t.numel() for t in tensors]), tensors)]

    def _weight_step(self, x: Tensor, y: Tensor, weight_opt: Any) -> tuple[Tensor, Tensor]:
        logits = self.supernet(x)
        loss = nn.functional.cross_entropy(logits, y)
        weight_opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.grad_clip:
            clip_grad_norm(self, weight_opt, self.hparams.grad_clip)
        weight_opt.step()
        return loss.detach(), logits.detach()

    def _arch_step(
        self, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], weight_opt: Any, arch_opt: Any
    ) -> tuple[Tensor, Tensor]:
        arch_opt.zero_grad()
        if self.hparams.order == 1:
            logits = self.supernet(val[0])
            loss = nn.functional.cross_entropy(logits, val[1])
            regularization = self.arch_regularization()
            self.manual_backward(loss if regularization is None else loss + regularization)
        else:
            scaler = grad_scaler(self)
            # "16-mixed": the scaler's current scale, as a tensor (no host sync); `scale` creates it when no backward
            # pass has yet (the first step of an arch-first search), which its `unscale_` in `arch_opt.step()` needs
            scale = None if scaler is None else scaler.scale(torch.ones((), device=self.device))
            # the plain optimizer under a LightningOptimizer (a bare loop passes torch's own)
            grads, loss, logits = self._unrolled_arch_gradient(
                getattr(weight_opt, "optimizer", weight_opt), train, val, loss_scale=1.0 if scale is None else scale
            )
            for param, grad in zip(self.arch_parameters(), grads):
                # scaled like the gradients of `manual_backward`: `arch_opt.step()` unscales them once, and skips
                # the update if they are not finite (a float16 overflow)
                param.grad = grad if scale is None else grad * scale
        if self.hparams.arch_grad_clip:
            clip_grad_norm(self, arch_opt, self.hparams.arch_grad_clip)
        arch_opt.step()
        return loss.detach(), logits.detach()

    def _unrolled_arch_gradient(
        self,
        weight_opt: torch.optim.SGD,
        train: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor],
        loss_scale: float | Tensor = 1.0,
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        group = weight_opt.param_groups[0]
        named_weights = self._parameter_split()[2]
        weights = list(named_weights.values())
        return unrolled_arch_gradient(
            self.supernet,
            list(named_weights),
            self.arch_parameters(),
            train,
            val,
            lr=group["lr"],
            momentum=group["momentum"],
            weight_decay=group["weight_decay"],
            nesterov=group["nesterov"],
            momentum_buffers=[weight_opt.state.get(p, {}).get("momentum_buffer") for p in weights],
            r=self.hparams.unrolled_r,
            reduce=self._mean_across_processes,
            loss_scale=loss_scale,
        )

    def _search_step(
        self,
        train: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor],
        weight_opt: Any,
        arch_opt: Any,
        update_arch: bool = True,
    ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor] | None]:
        """One bi-level iteration (the math of :meth:`training_step`, without its logging and outputs).

        Returns ``(loss, logits)`` of the weight step and of the architecture step (``None`` when ``update_arch`` is
        false). ``benchmarks/search_step.py`` calls it with torch's own optimizers to time a bare loop.
        """
        arch_result = None
        if update_arch and self.step_order == "arch_first":
            arch_result = self._arch_step(train, val, weight_opt, arch_opt)
        weight_result = self._weight_step(*train, weight_opt)
        if update_arch and self.step_order == "weights_first":
            arch_result = self._arch_step(train, val, weight_opt, arch_opt)
        return weight_result, arch_result

    @override
    def training_step(self, batch: dict[str, list[Tensor]], batch_idx: int) -> dict[str, Any]:
        if not isinstance(batch, dict) or "train" not in batch or "val" not in batch:
            raise ValueError(
                f"`{type(self).__name__}` needs paired batches {{'train': (x, y, ids), 'val': (x, y, ids)}}, "
                "as a SearchDataModule with `paired=True` yields."
            )
        x_t, y_t, ids_t = batch["train"]
        x_v, y_v, ids_v = batch["val"]
        if batch_idx == 0:
            self._check_input_channels(x_t)
        weight_opt, arch_opt = self.optimizers()
        (loss_t, logits_t), arch_result = self._search_step(
            (x_t, y_t), (x_v, y_v), weight_opt, arch_opt, update_arch=self.arch_update_enabled()
        )
        # divergence: checked on values the step has (no host sync on a GPU but on the steps that log anyway)
        batch_number = self.trainer.fit_loop.total_batch_idx
        self.divergence.watch("weight loss", batch_number, loss_t)
        if arch_result is not None:
            # under "16-mixed" the second-order loss is at a virtual step taken with scaled gradients: an overflow
            # there is the scaler's to skip, not a divergence (α stays watched)
            if self.hparams.order == 1 or grad_scaler(self) is None:
                self.divergence.watch("architecture loss", batch_number, arch_result[0])
            self.divergence.watch("architecture parameters", batch_number, *self.arch_parameters())
        self.divergence.check_if_due(self)

        # Lightning's `self.log` costs about a millisecond of Python per call and step: the epoch aggregates are
        # torchmetrics states updated here (plain tensor ops, no host sync) and logged once, in `on_train_epoch_end`;
        # the step loss is logged on the batches whose step metrics the loggers write.
        if logs_this_step(self.trainer):
            self.log("train/loss_step", loss_t, prog_bar=True, on_epoch=False, sync_dist=True, batch_size=len(y_t))
        self.train_loss.update(loss_t.expand(len(y_t)))  # one entry per sample: the mean weighs batches by size
        self.train_acc.update(predictions(logits_t, y_t), y_t)
        outputs: dict[str, Any] = {"loss": loss_t, "train": {"ids": ids_t, "el2n": el2n(logits_t, y_t)}}
        if arch_result is not None:
            loss_v, logits_v = arch_result
            self.arch_acc.update(predictions(logits_v, y_v), y_v)
            self.arch_loss.update(loss_v.expand(len(y_v)))  # one entry per sample: the mean weighs batches by size
            outputs["val"] = {"ids": ids_v, "el2n": el2n(logits_v, y_v)}
        if self.hparams.lr_interval == "step":
            self.lr_schedulers().step()
        return outputs

    @override
    def on_train_epoch_start(self) -> None:
        weight_opt, _ = self.optimizers()
        self.log_weight_lr(weight_opt)

    @override
    def on_train_epoch_end(self) -> None:
        self.divergence.check()  # before the epoch's values are logged and the schedule steps
        self._log_epoch_metrics()
        if self.hparams.lr_interval == "epoch":
            self.lr_schedulers().step()
        super().on_train_epoch_end()  # the guard (checked already) and the genotype

    def _log_epoch_metrics(self) -> None:
        """Logs the epoch aggregates the training steps accumulated (synchronized across processes on compute)."""
        if self.train_loss.update_called:
            # the keys of `self.log("train/loss", on_step=True, on_epoch=True)`: `train/loss_epoch` for the loggers and
            # the progress bar, `train/loss` for callbacks (e.g. `ModelCheckpoint(monitor="train/loss")`)
            self.log("train/loss_epoch", self.train_loss, prog_bar=True, on_step=False, on_epoch=True)
            self.log("train/loss", self.train_loss, logger=False, on_step=False, on_epoch=True)
        if self.train_acc.update_called:
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        if self.arch_loss.update_called:  # not during the architecture warm-up
            self.log("arch/loss", self.arch_loss, on_step=False, on_epoch=True)
            self.log("arch/acc", self.arch_acc, on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ evaluation of the supernet
    def _check_input_channels(self, x: Tensor) -> None:
        """Refuses images whose channels the supernet's stem does not take (a conv shape error otherwise)."""
        stem = getattr(self.supernet, "stem", self.supernet)
        conv = next((m for m in stem.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is not None and x.dim() == 4 and x.shape[1] != conv.in_channels:
            raise ValueError(
                f"`{type(self).__name__}(space_options=...)`: the supernet takes images with `in_channels` = "
                f"{conv.in_channels} channels, the data's have {x.shape[1]}. Set "
                f"space_options={{'in_channels': {x.shape[1]}, ...}}, or give images with {conv.in_channels} channels."
            )

    @override
    def evaluation_batch(self, batch: Any, batch_idx: int) -> tuple[Tensor, Tensor]:
        if batch_idx == 0:
            self._check_input_channels(batch[0])
        return batch[0], batch[1]
