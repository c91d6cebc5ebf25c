"""Training a discovered architecture from scratch: the evaluation stage after a search."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import override

from lightning_nas.checks import check_mapping, check_number
from lightning_nas.methods.base import SearchModule
from lightning_nas.methods.darts import optimizer_implementation
from lightning_nas.methods.divergence import DivergenceGuard, predictions
from lightning_nas.spaces import Genotype, get_search_space

# The evaluation settings of each space's papers (DARTS: 20 cells, C=36, auxiliary tower; NAS-Bench-201: C=16, N=5).
EVALUATION_SPACE_OPTIONS: dict[str, dict[str, Any]] = {
    "darts": {"C": 36, "layers": 20, "auxiliary": True},
    "nasbench201": {"C": 16, "N": 5},
}


def cutout(x: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """Zeroes one ``size x size`` square per image, centred uniformly in the image and clipped at its borders.

    Args:
        x: ``(B, C, H, W)`` batch (already normalized, as DARTS applies cutout last).
        size: side of the square.
        generator: the source of the centres (on ``x``'s device or the CPU).

    Example:
        >>> out = cutout(torch.ones(2, 1, 8, 8), 4, torch.Generator().manual_seed(0))
        >>> out.shape, bool((out == 0).any())
        (torch.Size([2, 1, 8, 8]), True)

    References:
        DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout", 2017.
    """
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # as DARTS's Cutout: the square spans [c - size // 2, c + size - size // 2) in both directions
    inside = (rows >= cy - size // 2) & (rows < cy + size - size // 2) & (cols >= cx - size // 2)
    inside &= cols < cx + size - size // 2
    return x * (~inside).unsqueeze(1).to(x.dtype)


class ArchitectureTraining(SearchModule):
    """Trains the discrete network of a genotype from scratch, on any registered search space.

    The "search, then train on the full data" stage: use it with a search data module in ``retrain=True`` mode
    (the whole training pool, validation on the test set) or any loader of ``(x, y, ...)`` batches. On the DARTS space
    the defaults are the DARTS paper's CIFAR-10 evaluation: 20 cells, C=36, auxiliary tower weighted 0.4, cutout 16,
    drop-path 0.2 (scaled linearly with the epoch), SGD 0.025 (momentum 0.9, weight decay 3e-4) with a cosine schedule
    to 0 over ``Trainer(max_epochs=600)``, gradient clipping 5, batch 96 (the data module's). On NAS-Bench-201 the
    network is the benchmark's (C=16, N=5) and auxiliary/drop-path do not apply.

    Cutout is applied here, on the batch, from a generator seeded by the step (so resumed runs repeat exactly).

    Logged keys (the README's table): ``train/loss`` (per step and epoch: ``train/loss_step``, ``train/loss_epoch``),
    ``train/acc``, and :class:`~lightning_nas.methods.base.SearchModule`'s ``val/loss``, ``val/acc``, ``test/loss``,
    ``test/acc`` (with the training loss's ``label_smoothing``).

    Args:
        genotype: the architecture, as its canonical string (or a genotype object).
        search_space: the space the genotype belongs to.
        space_options: options of the network; ``None`` uses the space's evaluation setting
            (:data:`EVALUATION_SPACE_OPTIONS`).
        num_classes: number of classes.
        lr: initial SGD learning rate.
        lr_min: final learning rate of the cosine schedule, at most ``lr`` (DARTS: 0; EcoNAS's children use 0.001,
            :data:`~lightning_nas.search.children.CHILD_MODULE_DEFAULTS`).
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        grad_clip: max global gradient norm; ``None`` or 0 disables clipping.
        auxiliary_weight: weight of the auxiliary head's loss (when the network has one).
        drop_path_prob: final drop-path probability (when the network supports it).
        cutout: side of the cutout square; 0 disables it.
        label_smoothing: label smoothing of the cross-entropy (ImageNet training uses 0.1).
        schedule_epochs: length of the cosine schedule (and of the drop-path ramp) in epochs; ``None`` uses
            ``Trainer(max_epochs)``. Set it to train part of a longer schedule: EcoNAS trains its children in stages
            of 20 epochs along one 60-epoch cosine (``schedule_epochs=60`` with ``max_epochs`` 20, 40 then 60).

    Example:
        >>> g = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
        >>> model = ArchitectureTraining(genotype=g, search_space="nasbench201", space_options={"C": 4, "N": 1})
        >>> model(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 10])

    References:
        Liu et al., "DARTS", ICLR 2019, Sec. 3.3 (architecture evaluation); Dong & Yang, "NAS-Bench-201", ICLR 2020.
    """

    logs_genotype = False  # a fixed architecture: nothing to follow per epoch

    def __init__(
        self,
        genotype: str,
        search_space: str = "darts",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 0.025,
        lr_min: float = 0.0,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        grad_clip: float | None = 5.0,
        auxiliary_weight: float = 0.4,
        drop_path_prob: float = 0.2,
        cutout: int = 16,
        label_smoothing: float = 0.0,
        schedule_epochs: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(genotype, (str, Genotype)):
            raise TypeError(
                f"`{name}(genotype={genotype!r})`: `genotype` must be a genotype string or a Genotype. "
                f"Got {type(genotype).__name__} instead."
            )
        check_mapping(name, "space_options", space_options)
        check_number(name, "num_classes", num_classes, low=2, integer=True)
        check_number(name, "lr", lr, low=0, low_open=True)
        for arg, value in (("lr_min", lr_min), ("weight_decay", weight_decay), ("auxiliary_weight", auxiliary_weight)):
            check_number(name, arg, value, low=0)
        check_number(name, "momentum", momentum, low=0, high=1)
        check_number(name, "cutout", cutout, low=0, integer=True)
        check_number(name, "grad_clip", grad_clip, low=0, optional=True)
        check_number(name, "drop_path_prob", drop_path_prob, low=0, high=1, high_open=True)
        check_number(name, "label_smoothing", label_smoothing, low=0, high=1, high_open=True)
        check_number(name, "schedule_epochs", schedule_epochs, low=1, integer=True, optional=True)
        if lr_min > lr:
            raise ValueError(
                f"`ArchitectureTraining(lr_min={lr_min!r})`: `lr_min` must be at most `lr` ({lr!r}), the cosine "
                f"schedule's start. Got {lr_min!r} instead."
            )
        if not isinstance(genotype, str):
            genotype = str(genotype)
        self.save_hyperparameters()
        self.divergence = DivergenceGuard(
            "ArchitectureTraining",
            {"training loss": f"the learning rate `lr={lr}` is too large (or `grad_clip` off)"},
        )
        if space_options is None:
            space_options = EVALUATION_SPACE_OPTIONS.get(search_space, {})
        self.space = get_search_space(search_space, **space_options)
        self._genotype = self.space.parse_genotype(genotype)
        self.network = self.space.build_network(self._genotype, num_classes)
        self.configure_metrics(num_classes)

    @override
    def genotype(self) -> Genotype:
        """The trained architecture."""
        return self._genotype

    @override
    def forward(self, x: Tensor) -> Tensor:
        out = self.network(x)
        return out[0] if isinstance(out, tuple) else out

    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.SGD(
            self.parameters(),
            lr=hp.lr,
            momentum=hp.momentum,
            weight_decay=hp.weight_decay,
            **optimizer_implementation(self.device, self.trainer.precision),  # fused: the same weights, faster
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self._schedule_epochs(), eta_min=hp.lr_min
        )
        return [optimizer], [scheduler]

    def _schedule_epochs(self) -> int:
        """``schedule_epochs``, else ``Trainer(max_epochs)``."""
        if self.hparams.get("schedule_epochs") is not None:
            return int(self.hparams.schedule_epochs)
        max_epochs = self.trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError(
                "`ArchitectureTraining` schedules its learning rate over `Trainer(max_epochs=...)` (or "
                "`schedule_epochs`)."
            )
        return max_epochs

    @override
    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        if self.hparams.grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")

    @override
    def on_train_epoch_start(self) -> None:
        if hasattr(self.network, "drop_path_prob"):
            self.network.drop_path_prob = self.hparams.drop_path_prob * self.current_epoch / self._schedule_epochs()

    def _loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return nn.functional.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)

    @override
    def evaluation_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return self._loss(logits, y)  # validation and test log the training loss (with its label smoothing)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if isinstance(batch, dict):
            raise ValueError(
                "`ArchitectureTraining` takes plain (x, y, ...) batches; use the data module with `retrain=True` "
                "(or `paired=False`)."
            )
        x, y = batch[0], batch[1]
        if self.hparams.cutout:
            seed = hash((int(os.environ.get("PL_GLOBAL_SEED", 0)), self.global_step, self.global_rank)) & 0x7FFFFFFF
            x = cutout(x, self.hparams.cutout, torch.Generator().manual_seed(seed))
        out = self.network(x)
        if isinstance(out, tuple):
            logits, aux_logits = out
            loss = self._loss(logits, y) + self.hparams.auxiliary_weight * self._loss(aux_logits, y)
        else:
            logits, loss = out, self._loss(out, y)
        self.divergence.watch("training loss", self.trainer.fit_loop.total_batch_idx, loss)
        self.divergence.check_if_due(self)
        self.train_acc(predictions(logits, y), y)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(y))
        return loss
