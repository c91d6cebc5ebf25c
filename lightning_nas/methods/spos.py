"""SPOS: single-path one-shot supernet training with uniform path sampling (the GreedyNAS paper's baseline)."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from typing_extensions import override

from lightning_nas.checks import check_bool, check_mapping, check_number
from lightning_nas.methods.base import SearchModule
from lightning_nas.methods.divergence import DivergenceGuard, predictions
from lightning_nas.methods.precision import clip_grad_norm
from lightning_nas.selection.scores import el2n
from lightning_nas.spaces import (
    Genotype,
    SinglePathSearchSpace,
    get_search_space,
    get_search_space_class,
    list_search_spaces,
)

__all__ = ["SPOS"]

_CHECKPOINT_KEY = "single_path_search"


def _resolve_seed(seed: int | None) -> int:
    return int(seed) if seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))


class SPOS(SearchModule):
    """Single Path One-Shot (SPOS) supernet training with uniform path sampling: the GreedyNAS paper's baseline.

    Each training step draws one path uniformly from the space (every layer's choice uniformly over its legal
    choices, from a seeded ``torch.Generator``) and makes one SGD step on that path with one batch of the weight split
    (``SearchDataModule(paired=False)`` batches ``(x, y, ids)``). Architectures are found afterwards by a search over
    the trained supernet (:class:`~lightning_nas.search.NSGA2Search`).

    Defaults (CIFAR): SGD with Nesterov momentum 0.9, lr 0.1 with a per-step cosine schedule to ``lr_min`` over the
    planned steps (``Trainer(max_epochs/max_steps)``), weight decay 4e-5, no label smoothing, no clipping. The papers'
    ImageNet setting is lr 0.12 at batch 1024 with cosine annealing (GreedyNAS Sec. 5.1; SPOS: 0.5 at batch 1024);
    0.1 at batch 128 is the usual CIFAR learning rate (a linear rescaling of 0.12 would give 0.015, too small for a
    network trained from scratch in ~100 epochs). The weight decay is not given by GreedyNAS; 4e-5 is MobileNet's
    (and mmrazor's) and applies to all weights. mmrazor also uses label smoothing 0.1 (``label_smoothing``); the
    paths are always scored with plain cross-entropy.

    Validation (``val_dataloader()``, the architecture split ``D_val`` in eval mode) evaluates one path, the one
    :meth:`genotype` returns, and logs ``val/loss`` and ``val/acc``. SPOS has no architecture before the search, so
    its :meth:`genotype` is a fixed *reference path* drawn from the seed: validation then tracks the training of the
    same network every epoch, and :class:`~lightning_nas.callbacks.GenotypeExport` writes it.

    Parameters outside the trained path get no gradient (``zero_grad`` sets gradients to ``None``), so SGD leaves them
    untouched: no momentum, no weight decay. (The official SPOS code zeroes the gradients instead, so a parameter
    trained once keeps receiving momentum and weight-decay updates when other paths are trained.)

    ``training_step`` returns ``{"loss", "train": {"ids", "el2n"}}`` (per-sample EL2N errors of the training forward),
    so data-pruning and cost callbacks work unchanged. ``trainer.global_step`` counts optimizer steps: one per batch.

    DDP: every rank draws the same paths (same seed) and trains the same path on its shard of the batch. Parameters
    outside the path get no gradient; with ``find_unused_parameters=True``
    (``strategy="ddp_find_unused_parameters_true"``) DDP skips them itself. With plain ``strategy="ddp"``
    (``find_unused_parameters=False``) the module adds a zero term that touches every parameter outside the path, so
    that DDP's gradient reduction completes, and then drops those zero gradients before the optimizer step: SGD skips
    those parameters exactly as on one device (no weight decay, no momentum update). Both settings train identically.

    The path generator's state (and GreedyNAS's pool, queue and counters) is saved in checkpoints
    (``checkpoint["single_path_search"]``), so a resumed run continues exactly.

    Logged keys (the README's table): ``train/loss`` (per step and epoch: ``train/loss_step``, ``train/loss_epoch``),
    ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``, ``search/weight_lr`` (the learning rate at
    the start of each epoch, as DARTS's; also under its former key ``search/lr``). The genotype is printed (and
    written as text, ``search/genotype``, to loggers that take text) at the end of every epoch.

    Args:
        search_space: a registered single-path space (``"mobilenet"``).
        space_options: options of the space, e.g. ``{"input_size": 32, "width_mult": 1.0}`` for CIFAR. The space's
            ``num_classes`` is set to ``num_classes``.
        num_classes: number of classes of the data.
        lr: initial SGD learning rate.
        lr_min: final learning rate of the per-step cosine schedule.
        momentum: SGD momentum.
        nesterov: Nesterov momentum (the paper's).
        weight_decay: SGD weight decay.
        label_smoothing: label smoothing of the training loss (mmrazor: 0.1; the paper: not stated, 0).
        grad_clip: max global gradient norm; ``None`` or 0 disables clipping.
        seed: seeds the path sampling (and GreedyNAS's surrogate batch); ``None`` reads ``PL_GLOBAL_SEED`` (set by
            ``lightning.seed_everything``) when fit starts, 0 if unset.

    Raises:
        ValueError: an unknown space, bad space options or an out-of-range hyperparameter.

    Example:
        >>> model = SPOS(space_options={"input_size": 32, "width_mult": 0.25, "head_channels": 64}, seed=0)
        >>> model.supernet(torch.rand(2, 3, 32, 32), model.genotype()).shape
        torch.Size([2, 10])

    References:
        Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV 2020;
        You et al., "GreedyNAS", CVPR 2020, Sec. 5.1 (training settings) and Table 1 ("Uniform Sampling").
    """

    def __init__(
        self,
        search_space: str = "mobilenet",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        lr: float = 0.1,
        lr_min: float = 0.0,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 4e-5,
        label_smoothing: float = 0.0,
        grad_clip: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_mapping(name, "space_options", space_options)
        check_number(name, "num_classes", num_classes, low=2, integer=True)
        check_number(name, "lr", lr, low=0, low_open=True)
        for arg, value in (("lr_min", lr_min), ("weight_decay", weight_decay)):
            check_number(name, arg, value, low=0)
        check_number(name, "momentum", momentum, low=0, high=1)
        check_number(name, "label_smoothing", label_smoothing, low=0, high=1, high_open=True)
        check_number(name, "grad_clip", grad_clip, low=0, optional=True)
        check_bool(name, "nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError(f"`{name}(nesterov=True)`: Nesterov momentum needs `momentum` > 0. Got momentum=0.")
        check_number(name, "seed", seed, integer=True, optional=True)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.divergence = DivergenceGuard(
            name, {"training loss": f"the learning rate `lr={lr}` is too large (or `grad_clip` off)"}
        )
        space_class = get_search_space_class(search_space)
        if not issubclass(space_class, SinglePathSearchSpace):
            raise ValueError(
                f"`{name}(search_space={search_space!r})`: a single-path method needs a single-path search space "
                f"(one of {list_search_spaces(SinglePathSearchSpace)}); {space_class.__name__} is not one."
            )
        options = dict(space_options or {})
        if options.setdefault("num_classes", num_classes) != num_classes:
            raise ValueError(
                f"`{name}(space_options={space_options!r})`: the space's `num_classes` ({options['num_classes']!r}) "
                f"differs from `num_classes={num_classes}`; leave it out of `space_options`."
            )
        self.space = get_search_space(search_space, **options)
        self.supernet = self.space.build_supernet(num_classes)
        self.configure_metrics(num_classes)
        self._seed: int | None = None
        self._generator: torch.Generator | None = None
        self._reference: Genotype | None = None
        self._val_path: Genotype | None = None
        self._unused: list[nn.Parameter] = []
        self.current_path: Genotype | None = None
        """The path trained by the latest training step (for callbacks)."""

    def _attached_trainer(self) -> Any:
        """The Trainer, or ``None`` when the module is used on its own."""
        try:
            return self.trainer
        except RuntimeError:
            return None

    # ---------------------------------------------------------------------------------------------------------------
    # public API
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def forward(self, x: Tensor, path: Genotype | str | None = None) -> Tensor:
        """Logits of ``x`` through ``path`` (``None``: :meth:`genotype`)."""
        return self.supernet(x, self.genotype() if path is None else path)

    @property
    def seed(self) -> int:
        """The seed in use (``seed``, else ``PL_GLOBAL_SEED`` as read at fit start, else 0)."""
        return self._seed if self._seed is not None else _resolve_seed(self.hparams.seed)

    @property
    def reference_path(self) -> Genotype:
        """The fixed path drawn from the seed (its own generator) that SPOS validates and returns as genotype."""
        if self._reference is None:
            self._reference = self.space.random_path(torch.Generator().manual_seed(self.seed))
        return self._reference

    def genotype(self) -> Genotype:
        """SPOS: the reference path (there is no architecture before the search; see the class docstring)."""
        return self.reference_path

    @property
    def candidate_pool(self) -> list[tuple[float, Genotype]]:
        """``(loss, path)`` pairs, best first; SPOS keeps no pool (empty)."""
        return []

    @property
    def candidate_pool_capacity(self) -> int | None:
        """The pool's capacity; ``None`` for SPOS."""
        return None

    @property
    def warmup_steps(self) -> int:
        """Optimizer steps of uniform warm-up before greedy sampling starts (0 for SPOS, which is all uniform)."""
        return 0

    @property
    def path_generator(self) -> torch.Generator:
        """The seeded CPU generator of the path sampling (created when first needed, restored from checkpoints)."""
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(self.seed)
        return self._generator

    def sample_path(self) -> Genotype:
        """A path drawn uniformly from the space with :attr:`path_generator`."""
        return self.space.random_path(self.path_generator)

    def next_path(self) -> Genotype:
        """The path trained by the next training step; SPOS: a uniform draw."""
        return self.sample_path()

    # ---------------------------------------------------------------------------------------------------------------
    # optimization
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            lr=hp.lr,
            momentum=hp.momentum,
            nesterov=hp.nesterov,
            weight_decay=hp.weight_decay,
        )
        steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(steps):
            raise ValueError(
                f"`{type(self).__name__}` anneals its learning rate over the planned steps, but the run is unbounded "
                "(no `Trainer(max_epochs)` or `max_steps`). Set one of them."
            )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(steps)), eta_min=hp.lr_min)
        return [optimizer], [scheduler]

    @override
    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self._seed is None:  # a fresh fit (a resumed one restored the seed, the generator and the reference)
            self._seed = _resolve_seed(self.hparams.seed)
            self._generator = self._reference = None  # drawn from the now fixed seed
        _ = self.path_generator, self.reference_path

    def _unused_parameter_term(self, path: Genotype) -> Tensor | None:
        """Under DDP without ``find_unused_parameters``: a zero term touching every parameter outside ``path``."""
        model = self.trainer.strategy.model
        if not isinstance(model, DistributedDataParallel) or model.find_unused_parameters:
            return None
        if not callable(getattr(self.supernet, "path_parameters", None)):
            raise RuntimeError(
                f"`{type(self).__name__}` under DDP with `find_unused_parameters=False` needs the supernet's "
                "`path_parameters(path)`; use `Trainer(strategy='ddp_find_unused_parameters_true')` instead."
            )
        used = {id(p) for p in self.supernet.path_parameters(path)}
        self._unused = [p for p in self.supernet.parameters() if id(p) not in used and p.requires_grad]
        if not self._unused:
            return None
        return torch.stack([p.reshape(-1)[0] for p in self._unused]).sum() * 0.0

    @staticmethod
    def _split_batch(batch: Any, owner: str) -> tuple[Tensor, Tensor, Tensor | None]:
        if isinstance(batch, dict):
            raise ValueError(
                f"`{owner}` trains one path per batch of the weight split and needs unpaired batches (x, y, ids): use "
                "a SearchDataModule with `paired=False`. Got a paired batch (a dict) instead."
            )
        if not isinstance(batch, (list, tuple)) or len(batch) not in (2, 3):
            raise ValueError(f"`{owner}` needs batches (x, y, ids) or (x, y). Got {type(batch).__name__} instead.")
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None

    @override
    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        x, y, ids = self._split_batch(batch, type(self).__name__)
        path = self.current_path = self.next_path()
        optimizer = self.optimizers()
        logits = self.supernet(x, path)
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        self.divergence.watch("training loss", self.trainer.fit_loop.total_batch_idx, loss)
        self.divergence.check_if_due(self)
        optimizer.zero_grad()
        extra = self._unused_parameter_term(path)
        self.manual_backward(loss if extra is None else loss + extra)
        if extra is not None:
            for p in self._unused:  # as on one device: parameters outside the path get no update at all
                p.grad = None
            self._unused = []
        if self.hparams.grad_clip:
            clip_grad_norm(self, optimizer, self.hparams.grad_clip)  # in unscaled units under "16-mixed"
        optimizer.step()
        self.lr_schedulers().step()

        logits = logits.detach()
        self.train_acc(predictions(logits, y), y)
        self.log(
            "train/loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=True, sync_dist=True, batch_size=len(y)
        )
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(y))
        outputs: dict[str, Any] = {"loss": loss.detach()}
        if ids is not None:
            outputs["train"] = {"ids": ids, "el2n": el2n(logits, y)}
        return outputs

    @override
    def on_train_epoch_start(self) -> None:
        optimizer = self.optimizers()
        self.log_weight_lr(optimizer, sync_dist=True)
        self.log_weight_lr(optimizer, sync_dist=True, key="search/lr")  # its former key, kept

    # ---------------------------------------------------------------------------------------------------------------
    # evaluation of the supernet
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_validation_epoch_start(self) -> None:
        self._val_path = self.genotype()

    @override
    def on_test_epoch_start(self) -> None:
        self._val_path = self.genotype()

    @override
    def evaluation_batch(self, batch: Any, batch_idx: int) -> tuple[Tensor, Tensor]:
        x, y, _ = self._split_batch(batch, type(self).__name__)
        return x, y

    @override
    def evaluation_logits(self, x: Tensor) -> Tensor:
        """The logits of the path fixed at the start of the validation or test epoch (:meth:`genotype`)."""
        return self.supernet(x, self._val_path if self._val_path is not None else self.genotype())

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    def search_state(self) -> dict[str, Any]:
        """What a resumed run needs beyond the weights: seed, path generator, reference path (plain types)."""
        return {
            "seed": self.seed,
            "generator": self.path_generator.get_state(),
            "reference": str(self.reference_path),
        }

    def load_search_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`search_state`."""
        if "seed" in state:
            self._seed = int(state["seed"])
        if "generator" in state:
            generator = torch.Generator()
            generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8))
            self._generator = generator
        if state.get("reference") is not None:
            self._reference = self.space.parse_genotype(state["reference"])

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[_CHECKPOINT_KEY] = self.search_state()

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(_CHECKPOINT_KEY)
        if state:
            self.load_search_state(state)
