"""Single-path one-shot supernet training: SPOS (uniform sampling) and GreedyNAS (greedy path filtering)."""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torchmetrics.classification import MulticlassAccuracy
from tqdm.auto import tqdm
from typing_extensions import override

from lightning_nas.checks import check_bool, check_mapping, check_number
from lightning_nas.methods.candidate_pool import CandidatePool
from lightning_nas.methods.divergence import DivergenceGuard, predictions
from lightning_nas.methods.precision import clip_grad_norm
from lightning_nas.selection.scores import el2n
from lightning_nas.spaces import Genotype, get_search_space, get_search_space_class

__all__ = ["SPOS", "GreedyNAS", "class_balanced_subset", "surrogate_rank_consistency"]

_CHECKPOINT_KEY = "single_path_search"


def _check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{owner}({name}={value!r})`: `{name}` must be an int >= {minimum}. Got {value!r} instead.")


def _check_real(owner: str, name: str, value: Any, low: float, high: float, closed_high: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (low <= value <= high if closed_high else low <= value < high):
        bracket = "]" if closed_high else ")"
        raise ValueError(
            f"`{owner}({name}={value!r})`: `{name}` must be in [{low}, {high}{bracket}. Got {value!r} instead."
        )


def _resolve_seed(seed: int | None) -> int:
    return int(seed) if seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))


def class_balanced_subset(
    ids: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, size: int, *, seed: int
) -> np.ndarray:
    """``size`` ids drawn uniformly within classes, with (as nearly as possible) the same count for every class.

    GreedyNAS's surrogate batch ``D̂_val``: 1000 images of the validation split, 1 per class on ImageNet. Counts are
    water-filled: every class gets ``size // C`` and the remainder goes to the largest classes (ties: the higher
    label); a class smaller than its share gives all it has and the others share the rest.

    Args:
        ids: the candidate ids (e.g. the data module's ``active_ids("val")``).
        labels: their labels, in the same order.
        size: the number of ids to draw, in ``[1, len(ids)]``.
        seed: seeds ``numpy.random.default_rng``.

    Returns:
        ``(size,)`` sorted int64 ids.

    Raises:
        ValueError: ``size`` is out of range or ``labels`` does not match ``ids``.

    Example:
        >>> ids = class_balanced_subset(np.arange(10, 22), [0] * 9 + [1] * 3, 6, seed=0)
        >>> len(ids), int((ids >= 19).sum())  # ids 19..21 are class 1: 3 of each class
        (6, 3)
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(ids):
        raise ValueError(
            f"`class_balanced_subset()`: `labels` must have one label per id. Got {len(labels)} labels for "
            f"{len(ids)} ids."
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(ids):
        raise ValueError(
            f"`class_balanced_subset(size={size!r})`: `size` must be an int in [1, {len(ids)}] (the number of "
            f"candidate ids). Got {size!r} instead."
        )
    classes, counts = np.unique(labels, return_counts=True)
    quotas = np.zeros(len(classes), dtype=np.int64)
    remaining = int(size)
    for position, c in enumerate(np.argsort(counts, kind="stable")):  # smallest classes first
        quotas[c] = min(int(counts[c]), remaining // (len(classes) - position))
        remaining -= int(quotas[c])
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(ids[labels == c], size=int(q), replace=False) for c, q in zip(classes, quotas) if q]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@torch.no_grad()
def _evaluate_paths(
    supernet: nn.Module, paths: Sequence[Any], x: Tensor, y: Tensor, batch_size: int
) -> tuple[list[float], list[float]]:
    """Mean cross-entropy and accuracy of every path on ``(x, y)``, the supernet in eval mode, in chunks."""
    was_training = supernet.training
    supernet.eval()
    try:
        losses, accs = [], []
        for path in paths:
            loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
            correct = torch.zeros((), dtype=torch.int64, device=x.device)
            for start in range(0, len(y), batch_size):
                logits = supernet(x[start : start + batch_size], path).float()
                target = y[start : start + batch_size]
                loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum").double()
                correct += (logits.argmax(1) == target).sum()
            losses.append(loss_sum / len(y))
            accs.append(correct.double() / len(y))
        if not losses:
            return [], []
        return torch.stack(losses).tolist(), torch.stack(accs).tolist()
    finally:
        supernet.train(was_training)


class SPOS(LightningModule):
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

    Logged: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``, ``search/lr``.

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
        if not callable(getattr(space_class, "random_path", None)):
            raise ValueError(
                f"`{name}(search_space={search_space!r})`: a single-path method needs a chain space with "
                f"`random_path(generator)` and `build_supernet()` returning `supernet(x, path)` (e.g. 'mobilenet'); "
                f"{space_class.__name__} has no `random_path`."
            )
        options = dict(space_options or {})
        takes_classes = "num_classes" in inspect.signature(space_class).parameters
        if takes_classes and options.setdefault("num_classes", num_classes) != num_classes:
            raise ValueError(
                f"`{name}(space_options={space_options!r})`: the space's `num_classes` ({options['num_classes']!r}) "
                f"differs from `num_classes={num_classes}`; leave it out of `space_options`."
            )
        self.space = get_search_space(search_space, **options)
        self.supernet = self.space.build_supernet(num_classes)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
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
        datamodule = getattr(self.trainer, "datamodule", None)
        data_classes = getattr(datamodule, "num_classes", None)
        if isinstance(data_classes, int) and data_classes > self.hparams.num_classes:
            raise ValueError(
                f"`{type(self).__name__}(num_classes={self.hparams.num_classes})` is smaller than the data's "
                f"{data_classes} classes. Set num_classes={data_classes}."
            )
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
        self.log("search/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, sync_dist=True)

    @override
    def on_train_epoch_end(self) -> None:
        self.divergence.check()
        rank_zero_info(f"Epoch {self.current_epoch}: genotype {self.genotype()}")

    # ---------------------------------------------------------------------------------------------------------------
    # evaluation of the supernet
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_validation_epoch_start(self) -> None:
        self._val_path = self.genotype()

    @override
    def on_test_epoch_start(self) -> None:
        self._val_path = self.genotype()

    def _evaluate(self, batch: Any, stage: str, metric: MulticlassAccuracy) -> Tensor:
        x, y, _ = self._split_batch(batch, type(self).__name__)
        logits = self.supernet(x, self._val_path if self._val_path is not None else self.genotype())
        loss = nn.functional.cross_entropy(logits, y)
        metric(predictions(logits, y), y)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log(f"{stage}/acc", metric, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))
        return loss

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_acc)

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_acc)

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


class GreedyNAS(SPOS):
    """GreedyNAS: a greedy supernet that trains the paths a surrogate validation batch ranks best (Algorithms 1, 2).

    Warm-up (the first ``warmup_steps`` optimizer steps): uniform single-path sampling as :class:`SPOS`, no filtering,
    no pool. Afterwards the module keeps a queue of paths to train, one per training step (one batch each); whenever
    it is empty a **filtering round** refills it:

    1. draw ``m = num_paths`` paths i.i.d. from ``(1 - ε) U(A) + ε U(P)`` (Eq. 8): from the candidate pool ``P``
       with probability ``ε`` (uniformly over its paths), else uniformly from the space ``A`` (a pool that is still
       empty always gives ``A``);
    2. evaluate each path's cross-entropy on the fixed surrogate batch ``D̂_val`` (eval mode, no gradients);
    3. keep the ``k = keep_paths`` lowest-loss paths (ties: the smaller path string, then the earlier draw);
    4. offer them to the pool with their losses (:class:`~lightning_nas.methods.CandidatePool`: it keeps the
       ``pool_size`` best, updates re-evaluated paths, evicts the worst);
    5. train them sequentially, best first, one training batch each: ``k`` weight updates per round, as Algorithm 2.

    ``ε`` ramps linearly from 0 at the end of warm-up to ``epsilon_max`` (0.8) at the planned end of training (the
    Trainer's ``max_steps``, or ``max_epochs`` times the batches per epoch; ``epsilon_steps`` sets the ramp length
    instead) and stays there, as mmrazor's schedule (10k → 144k iterations). It is read at the start of each round.
    Paths drawn twice in a round are evaluated once (same weights, same loss) and may be kept and trained twice.

    Surrogate batch ``D̂_val``: ``surrogate_size`` ids of the data module's architecture split (``active_ids("val")``
    when fit starts), class-balanced and seeded (:func:`class_balanced_subset`; the paper: 1000 images, 1 per
    ImageNet class; on CIFAR-10, 100 per class), loaded once with the eval transform through
    ``datamodule.pool_dataloader(ids)`` and kept on the device; evaluated in chunks of ``surrogate_batch_size``.
    :meth:`set_surrogate` sets it by hand instead (data without a search data module).

    Stopping: add :class:`~lightning_nas.callbacks.CandidatePoolStopping` to the Trainer (the pool's update frequency,
    Sec. 4.1.2), with ``max_epochs`` as the hard cap.

    DDP: every rank draws the same paths (same seeded generator). The filtering evaluations are split over the ranks
    (rank ``r`` evaluates the unique candidates ``r, r + R, ...`` with its own BN statistics) and summed with one
    ``all_reduce``, each loss coming from exactly one rank: every rank gets bit-identical losses, hence the same kept
    paths and the same pool, and the filtering costs ``1/R`` of the single-device time.

    State: the pool, the queue, the generator, the surrogate ids and the counters are saved in checkpoints; a resumed
    run continues the uninterrupted one exactly (same pool, ε and weights).

    Logged at every filtering round (``on_step``): ``search/epsilon``, ``search/pool_size``, ``search/pool_best_loss``,
    ``search/pool_worst_loss``, ``search/pool_new_fraction`` (fraction of the kept paths new to the pool),
    ``search/pool_sampled_fraction`` (fraction of the ``m`` draws taken from the pool), ``search/kept_loss`` (mean
    surrogate loss of the kept paths), ``search/filter_ms`` (wall time of the round), ``search/surrogate_images``
    (images forwarded for filtering so far: the paper's "#evaluation"); plus everything :class:`SPOS` logs.

    Args:
        search_space: a registered single-path space (``"mobilenet"``).
        space_options: options of the space (see :class:`SPOS`).
        num_classes: number of classes of the data.
        num_paths: ``m``, the paths drawn per filtering round (10).
        keep_paths: ``k``, the paths kept and trained per round (5); ``k = m`` disables the filtering.
        pool_size: ``|P|``, the capacity of the candidate pool (1000).
        warmup_steps: optimizer steps of uniform warm-up (the paper: 10k iterations at batch 1024 on ImageNet, about
            8 epochs; translate to your data by epochs, e.g. 8 epochs of CIFAR batches).
        epsilon_max: the final pool-sampling probability (0.8); 0 disables the pool sampling (Table 4, Net2).
        epsilon_steps: the length of the ε ramp in optimizer steps; ``None`` ramps until the planned end.
        surrogate_size: images of ``D̂_val`` (1000).
        surrogate_batch_size: chunk size of the surrogate evaluation.
        lr: initial SGD learning rate (see :class:`SPOS`).
        lr_min: final learning rate of the per-step cosine schedule.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: SGD weight decay.
        label_smoothing: label smoothing of the training loss (never of the surrogate loss).
        grad_clip: max global gradient norm; ``None`` or 0 disables clipping.
        seed: seeds the paths and the surrogate batch; ``None`` reads ``PL_GLOBAL_SEED`` at fit start.

    Raises:
        ValueError: an out-of-range hyperparameter (e.g. ``keep_paths > num_paths``), or (at fit start) a
            surrogate batch larger than the architecture split, or no ε schedule for an unbounded run.
        TypeError: (at fit start) no surrogate batch was set and the data module cannot provide one.

    Example:
        >>> model = GreedyNAS(space_options={"input_size": 32, "width_mult": 0.25, "head_channels": 64},
        ...                   num_paths=4, keep_paths=2, pool_size=8, warmup_steps=0, surrogate_size=8, seed=0)
        >>> x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
        >>> model.set_surrogate(x, y)
        >>> kept = model.filter_paths(epsilon=0.0)
        >>> len(kept), len(model.candidate_pool), model.candidate_pool[0][1] == model.genotype()
        (2, 2, True)

    References:
        You et al., "GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet", CVPR 2020, Algorithms 1 and 2,
        Eq. (8), Sec. 4.1 and 5.1; PAPERS-SPEC 6.2.
    """

    def __init__(
        self,
        search_space: str = "mobilenet",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        num_paths: int = 10,
        keep_paths: int = 5,
        pool_size: int = 1000,
        warmup_steps: int = 10000,
        epsilon_max: float = 0.8,
        epsilon_steps: int | None = None,
        surrogate_size: int = 1000,
        surrogate_batch_size: int = 500,
        lr: float = 0.1,
        lr_min: float = 0.0,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 4e-5,
        label_smoothing: float = 0.0,
        grad_clip: float | None = None,
        seed: int | None = None,
    ) -> None:
        name = type(self).__name__
        check_number(name, "num_paths", num_paths, low=1, integer=True)
        check_number(name, "keep_paths", keep_paths, low=1, integer=True)
        if keep_paths > num_paths:
            raise ValueError(
                f"`{name}(keep_paths={keep_paths})`: `keep_paths` (k) must be <= `num_paths` (m = {num_paths}). "
                f"Got {keep_paths} instead."
            )
        check_number(name, "pool_size", pool_size, low=1, integer=True)
        check_number(name, "warmup_steps", warmup_steps, low=0, integer=True)
        check_number(name, "epsilon_max", epsilon_max, low=0, high=1)
        check_number(name, "epsilon_steps", epsilon_steps, low=1, integer=True, optional=True)
        check_number(name, "surrogate_size", surrogate_size, low=1, integer=True)
        check_number(name, "surrogate_batch_size", surrogate_batch_size, low=1, integer=True)
        super().__init__(
            search_space=search_space,
            space_options=space_options,
            num_classes=num_classes,
            lr=lr,
            lr_min=lr_min,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            label_smoothing=label_smoothing,
            grad_clip=grad_clip,
            seed=seed,
        )
        self.pool: CandidatePool = CandidatePool(pool_size, parse=self.space.parse_genotype)
        self._queue: list[Genotype] = []
        self._surrogate: tuple[Tensor, Tensor] | None = None
        self._surrogate_ids: np.ndarray | None = None
        self._planned_steps: int | None = None
        self._counters = {"rounds": 0, "evaluated_paths": 0, "surrogate_images": 0, "pool_draws": 0}
        self.last_round: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------------------------------
    # public API
    # ---------------------------------------------------------------------------------------------------------------
    @property
    @override
    def candidate_pool(self) -> list[tuple[float, Genotype]]:
        """``(loss, path)`` pairs of the candidate pool, best (lowest surrogate loss) first."""
        return self.pool.items()

    @property
    @override
    def candidate_pool_capacity(self) -> int:
        """``pool_size``."""
        return self.pool.capacity

    @property
    @override
    def warmup_steps(self) -> int:
        """``warmup_steps``: optimizer steps of uniform sampling before the filtering starts."""
        return int(self.hparams.warmup_steps)

    @property
    def queue(self) -> list[Genotype]:
        """The kept paths of the current round still to be trained, in training order."""
        return list(self._queue)

    @property
    def counters(self) -> dict[str, int]:
        """``rounds`` (filtering rounds), ``evaluated_paths``, ``surrogate_images`` and ``pool_draws`` so far."""
        return dict(self._counters)

    @override
    def genotype(self) -> Genotype:
        """The best path of the candidate pool; the reference path (see :class:`SPOS`) while the pool is empty."""
        best = self.pool.best
        return best[1] if best is not None else self.reference_path

    def epsilon_at(self, step: int) -> float:
        """``ε`` at optimizer step ``step``: 0 during warm-up, then a linear ramp to ``epsilon_max``, then held."""
        hp = self.hparams
        if step < hp.warmup_steps or hp.epsilon_max == 0:
            return 0.0
        ramp = hp.epsilon_steps
        if ramp is None:
            planned = self._planned_steps
            if planned is None:
                raise RuntimeError(
                    f"`{type(self).__name__}.epsilon_at()`: the ε ramp ends at the planned end of training, known once "
                    "fit starts; set `epsilon_steps` to use it before."
                )
            ramp = max(1, planned - hp.warmup_steps)
        return float(hp.epsilon_max) * min(1.0, (step - hp.warmup_steps) / ramp)

    def _epsilon_or_zero(self) -> float:
        try:
            return self.epsilon
        except RuntimeError:
            return 0.0

    @property
    def epsilon(self) -> float:
        """``ε`` at the current ``trainer.global_step``."""
        trainer = self._attached_trainer()
        return self.epsilon_at(trainer.global_step if trainer is not None else 0)

    def set_surrogate(self, x: Tensor, y: Tensor, ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Sets the surrogate batch ``D̂_val`` by hand (it is moved to the module's device).

        Args:
            x: ``(N, C, H, W)`` images with the eval transform applied.
            y: ``(N,)`` labels.
            ids: their pool ids, kept for reference and checkpoints (optional).

        Raises:
            ValueError: ``x`` and ``y`` differ in length or are empty.
        """
        if len(x) != len(y) or len(y) == 0:
            raise ValueError(
                f"`{type(self).__name__}.set_surrogate()`: `x` and `y` must hold the same, non-zero number of "
                f"samples. Got {len(x)} and {len(y)}."
            )
        self._surrogate = (x.to(self.device), y.to(self.device, dtype=torch.int64))
        self._surrogate_ids = None if ids is None else np.asarray(ids, dtype=np.int64)

    @property
    def surrogate(self) -> tuple[Tensor, Tensor] | None:
        """The surrogate batch ``(x, y)`` on the module's device, or ``None`` before it is loaded."""
        return self._surrogate

    @property
    def surrogate_ids(self) -> np.ndarray | None:
        """The pool ids of the surrogate batch (``None`` if it was set without ids)."""
        return None if self._surrogate_ids is None else self._surrogate_ids.copy()

    def surrogate_losses(self, paths: Sequence[Genotype]) -> list[float]:
        """Cross-entropy of every path on the surrogate batch, in eval mode; identical on every DDP rank.

        Unique paths are evaluated once; under DDP they are split over the ranks and summed with one ``all_reduce``.

        Raises:
            RuntimeError: the surrogate batch is not set.
        """
        if self._surrogate is None:
            raise RuntimeError(
                f"`{type(self).__name__}.surrogate_losses()`: the surrogate batch is not loaded: it is built when fit "
                "starts, or set it with `set_surrogate(x, y)`."
            )
        x, y = self._surrogate
        unique = list(dict.fromkeys(str(p) for p in paths))
        trainer = self._attached_trainer()
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        mine = list(range(rank, len(unique), world))
        losses, _ = _evaluate_paths(
            self.supernet, [unique[i] for i in mine], x, y, int(self.hparams.surrogate_batch_size)
        )
        values = torch.zeros(len(unique), dtype=torch.float64, device=x.device)
        if mine:
            values[torch.tensor(mine, device=x.device)] = torch.tensor(losses, dtype=torch.float64, device=x.device)
        if world > 1:
            values = trainer.strategy.reduce(values, reduce_op="sum")
        by_path = dict(zip(unique, values.cpu().tolist()))
        self._counters["evaluated_paths"] += len(unique)
        self._counters["surrogate_images"] += len(unique) * len(y)
        return [by_path[str(p)] for p in paths]

    def sample_candidates(self, num: int, epsilon: float) -> tuple[list[Genotype], list[bool]]:
        """``num`` paths drawn i.i.d. from ``(1 - ε) U(A) + ε U(P)`` (Eq. 8) with :attr:`path_generator`.

        Each draw takes a uniform number ``u``; ``u < epsilon`` picks a pool path uniformly (when the pool is not
        empty), else a uniform path of the space.

        Returns:
            The paths and, for each, whether it was drawn from the pool.

        Raises:
            ValueError: ``epsilon`` is outside [0, 1].
        """
        _check_real(f"{type(self).__name__}.sample_candidates", "epsilon", epsilon, 0.0, 1.0)
        generator = self.path_generator
        paths, from_pool = [], []
        for _ in range(num):
            pick_pool = float(torch.rand((), generator=generator)) < epsilon and len(self.pool) > 0
            paths.append(self.pool.sample(generator) if pick_pool else self.space.random_path(generator))
            from_pool.append(pick_pool)
        return paths, from_pool

    def filter_paths(self, epsilon: float | None = None) -> list[Genotype]:
        """One filtering round (Algorithm 1 and Algorithm 2, lines 4-6): returns the kept paths, best first.

        Draws ``num_paths`` paths with probability ``epsilon`` from the pool, scores them on the surrogate batch,
        keeps the ``keep_paths`` best, offers them to the pool and queues them for training.

        Args:
            epsilon: the pool-sampling probability; ``None`` uses :attr:`epsilon` (the schedule).
        """
        start = time.perf_counter()
        hp = self.hparams
        eps = self.epsilon if epsilon is None else float(epsilon)
        candidates, pool_flags = self.sample_candidates(hp.num_paths, eps)
        from_pool = sum(pool_flags)
        losses = self.surrogate_losses(candidates)
        order = sorted(range(len(candidates)), key=lambda i: (losses[i], str(candidates[i]), i))[: hp.keep_paths]
        kept = [candidates[i] for i in order]
        kept_losses = [losses[i] for i in order]
        entered = self.pool.update(kept, kept_losses)
        self._queue = list(kept)
        self._counters["rounds"] += 1
        self._counters["pool_draws"] += from_pool
        best = self.pool.best
        worst = self.pool.worst
        self.last_round = {
            "epsilon": eps,
            "candidates": candidates,
            "losses": losses,
            "kept": kept,
            "kept_losses": kept_losses,
            "pool_draws": from_pool,
            "entered": entered,
            "filter_ms": 1000.0 * (time.perf_counter() - start),
            "pool_best_loss": best[0] if best else float("nan"),
            "pool_worst_loss": worst[0] if worst else float("nan"),
        }
        return kept

    @override
    def next_path(self) -> Genotype:
        """Warm-up: a uniform draw; afterwards the next queued path, refilling the queue by a filtering round."""
        if self.trainer.global_step < self.hparams.warmup_steps:
            return self.sample_path()
        if not self._queue:
            self.filter_paths()
            self._log_round()
        return self._queue.pop(0)

    def _log_round(self) -> None:
        r, hp = self.last_round, self.hparams
        values = {
            "search/epsilon": r["epsilon"],
            "search/pool_size": float(len(self.pool)),
            "search/pool_best_loss": r["pool_best_loss"],
            "search/pool_worst_loss": r["pool_worst_loss"],
            "search/pool_new_fraction": r["entered"] / hp.keep_paths,
            "search/pool_sampled_fraction": r["pool_draws"] / hp.num_paths,
            "search/kept_loss": float(np.mean(r["kept_losses"])),
            "search/filter_ms": r["filter_ms"],
            "search/surrogate_images": float(self._counters["surrogate_images"]),
        }
        for key, value in values.items():
            self.log(key, value, on_step=True, on_epoch=False)

    # ---------------------------------------------------------------------------------------------------------------
    # fit set-up
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_fit_start(self) -> None:
        super().on_fit_start()
        hp = self.hparams
        steps = self.trainer.estimated_stepping_batches
        self._planned_steps = int(steps) if math.isfinite(steps) else None
        if hp.epsilon_steps is None and self._planned_steps is None and hp.epsilon_max > 0:
            raise ValueError(
                f"`{type(self).__name__}(epsilon_steps=None)` ramps ε until the planned end of training, but the run "
                "is unbounded. Set `Trainer(max_epochs)`/`max_steps` or `epsilon_steps`."
            )
        if self._surrogate is None:
            self._load_surrogate()
        else:
            x, y = self._surrogate
            self._surrogate = (x.to(self.device), y.to(self.device))

    def _load_surrogate(self) -> None:
        name, hp = type(self).__name__, self.hparams
        datamodule = getattr(self.trainer, "datamodule", None)
        missing = [m for m in ("active_ids", "pool_dataloader") if not callable(getattr(datamodule, m, None))]
        if datamodule is None or missing:
            raise TypeError(
                f"`{name}` builds its surrogate batch from the data module's architecture split and needs a "
                "`lightning_nas.datamodules.SearchDataModule` (`active_ids`, `labels`, `pool_dataloader`); pass it as "
                "`trainer.fit(model, datamodule=...)`, or call `model.set_surrogate(x, y)` before fit."
            )
        if self._surrogate_ids is None:
            val_ids = np.asarray(datamodule.active_ids("val"), dtype=np.int64)
            if hp.surrogate_size > len(val_ids):
                raise ValueError(
                    f"`{name}(surrogate_size={hp.surrogate_size})`: the architecture split has only {len(val_ids)} "
                    "samples. Lower `surrogate_size` or enlarge the split (`val_fraction`)."
                )
            labels = np.asarray(datamodule.labels, dtype=np.int64)[val_ids]
            self._surrogate_ids = class_balanced_subset(val_ids, labels, hp.surrogate_size, seed=self.seed)
        xs, ys = [], []
        for batch in datamodule.pool_dataloader(self._surrogate_ids):
            xs.append(batch[0])
            ys.append(batch[1])
        self._surrogate = (torch.cat(xs).to(self.device), torch.cat(ys).to(self.device, dtype=torch.int64))

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def search_state(self) -> dict[str, Any]:
        """SPOS's state plus the pool, the queue, the surrogate ids, the counters and the current ε."""
        state = super().search_state()
        state.update(
            {
                "pool": self.pool.state_dict(),
                "queue": [str(p) for p in self._queue],
                "surrogate_ids": None if self._surrogate_ids is None else self._surrogate_ids.tolist(),
                "counters": dict(self._counters),
                "epsilon": self._epsilon_or_zero(),
            }
        )
        return state

    @override
    def load_search_state(self, state: dict[str, Any]) -> None:
        super().load_search_state(state)
        if "pool" in state:
            self.pool.load_state_dict(state["pool"])
        self._queue = [self.space.parse_genotype(p) for p in state.get("queue", [])]
        ids = state.get("surrogate_ids")
        if ids is not None:
            self._surrogate_ids = np.asarray(ids, dtype=np.int64)
            self._surrogate = None  # reloaded from these ids when fit starts
        self._counters.update({k: int(v) for k, v in state.get("counters", {}).items()})


@torch.no_grad()
def surrogate_rank_consistency(
    module: SPOS,
    datamodule: Any,
    num_paths: int = 100,
    generator: torch.Generator | None = None,
    paths: Sequence[Genotype | str] | None = None,
    surrogate_size: int | None = None,
    batch_size: int = 500,
    progress: bool = True,
) -> dict[str, float]:
    """How well the surrogate batch ranks paths of a trained supernet, against the whole architecture split (Table 3).

    Draws ``num_paths`` paths uniformly (or takes ``paths``), and for each computes, in eval mode, the loss and the
    accuracy on the surrogate batch ``D̂_val`` and on the whole architecture split ``D_val`` (the data module's
    ``active_ids("val")``, eval transform, via ``pool_dataloader``; each batch is loaded once and passed through every
    path). Rank consistency (:func:`~lightning_nas.benchmarks.rank_consistency`, higher = better in both) of:

    * ``spearman``/``kendall``: surrogate **loss** vs full-split **accuracy** (the paper's Table 3 ranking);
    * ``spearman_acc``/``kendall_acc``: surrogate accuracy vs full-split accuracy (Table 3 in parentheses);
    * ``spearman_loss``/``kendall_loss``: surrogate loss vs full-split loss.

    The surrogate batch is the module's (GreedyNAS after fit) or, otherwise, :func:`class_balanced_subset` of the
    architecture split with ``surrogate_size`` ids and the module's seed, so a uniform (SPOS) and a greedy supernet
    trained with the same seed are scored on the same images.

    Args:
        module: a trained :class:`SPOS` or :class:`GreedyNAS` (its supernet stays on its device).
        datamodule: the search data module (set up here if needed).
        num_paths: paths drawn uniformly when ``paths`` is ``None`` (the paper: 1000).
        generator: the source of the paths; ``None`` uses a generator seeded with 0.
        paths: the paths to rank instead of random ones.
        surrogate_size: images of the surrogate batch when the module has none (``None``: the module's
            ``surrogate_size`` hyperparameter, else 1000).
        batch_size: chunk size of the evaluations.
        progress: show a progress bar over the architecture split.

    Returns:
        The six coefficients, the paths' mean ``mean_val_acc``/``mean_val_loss`` on the whole split and
        ``mean_surrogate_loss`` (how well trained the supernet is), ``num_paths``, ``surrogate_size`` and
        ``val_size``. A coefficient is NaN when one of its scorings is constant (e.g. an untrained supernet giving
        every path the same accuracy).

    Raises:
        ValueError: fewer than 2 paths, or a surrogate larger than the architecture split.

    References:
        You et al., "GreedyNAS", CVPR 2020, Sec. 5.3.1, Table 3 and Figure 4.
    """
    from lightning_nas.benchmarks import rank_consistency

    if paths is None:
        _check_int("surrogate_rank_consistency", "num_paths", num_paths, 2)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        paths = [module.space.random_path(generator) for _ in range(num_paths)]
    else:
        paths = [module.space.parse_genotype(p) for p in paths]
        if len(paths) < 2:
            raise ValueError(f"`surrogate_rank_consistency(paths=...)`: at least 2 paths are needed. Got {len(paths)}.")
    datamodule.setup("fit")
    device = next(module.supernet.parameters()).device
    val_ids = np.asarray(datamodule.active_ids("val"), dtype=np.int64)
    surrogate = getattr(module, "surrogate", None)
    if surrogate is not None:
        x_s, y_s = surrogate[0].to(device), surrogate[1].to(device)
    else:
        size = surrogate_size if surrogate_size is not None else int(module.hparams.get("surrogate_size", 1000))
        if size > len(val_ids):
            raise ValueError(
                f"`surrogate_rank_consistency(surrogate_size={size})`: the architecture split has only {len(val_ids)} "
                "samples."
            )
        labels = np.asarray(datamodule.labels, dtype=np.int64)[val_ids]
        ids = class_balanced_subset(val_ids, labels, size, seed=module.seed)
        batches = list(datamodule.pool_dataloader(ids))
        x_s = torch.cat([b[0] for b in batches]).to(device)
        y_s = torch.cat([b[1] for b in batches]).to(device, dtype=torch.int64)
    sur_loss, sur_acc = _evaluate_paths(module.supernet, paths, x_s, y_s, batch_size)

    supernet = module.supernet
    was_training = supernet.training
    supernet.eval()
    loss_sum = torch.zeros(len(paths), dtype=torch.float64, device=device)
    correct = torch.zeros(len(paths), dtype=torch.float64, device=device)
    seen = 0
    try:
        for batch in tqdm(datamodule.pool_dataloader(val_ids), disable=not progress, desc="D_val"):
            x, y = batch[0].to(device), batch[1].to(device, dtype=torch.int64)
            for i, path in enumerate(paths):
                logits = supernet(x, path).float()
                loss_sum[i] += nn.functional.cross_entropy(logits, y, reduction="sum").double()
                correct[i] += (logits.argmax(1) == y).sum().double()
            seen += len(y)
    finally:
        supernet.train(was_training)
    full_loss = (loss_sum / seen).cpu().numpy()
    full_acc = (correct / seen).cpu().numpy()
    neg_sur_loss = -np.asarray(sur_loss)
    main = rank_consistency(full_acc, neg_sur_loss)
    acc = rank_consistency(full_acc, np.asarray(sur_acc))
    loss = rank_consistency(-full_loss, neg_sur_loss)
    return {
        "spearman": main["spearman"],
        "kendall": main["kendall"],
        "spearman_acc": acc["spearman"],
        "kendall_acc": acc["kendall"],
        "spearman_loss": loss["spearman"],
        "kendall_loss": loss["kendall"],
        "mean_val_acc": float(full_acc.mean()),
        "mean_val_loss": float(full_loss.mean()),
        "mean_surrogate_loss": float(np.mean(sur_loss)),
        "num_paths": float(len(paths)),
        "surrogate_size": float(len(y_s)),
        "val_size": float(seen),
    }
