"""GreedyNAS: a single-path supernet that trains the paths a surrogate validation batch ranks best."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from typing_extensions import override

from lightning_nas.checks import check_number
from lightning_nas.methods.candidate_pool import CandidatePool
from lightning_nas.methods.path_evaluation import evaluate_paths, tensor_batches
from lightning_nas.methods.spos import SPOS
from lightning_nas.methods.surrogate import class_balanced_subset
from lightning_nas.spaces import Genotype

__all__ = ["GreedyNAS"]


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
        batches = tensor_batches(x, y, int(self.hparams.surrogate_batch_size))
        losses = evaluate_paths(self.supernet, [unique[i] for i in mine], batches).losses
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
        check_number(f"{type(self).__name__}.sample_candidates", "epsilon", epsilon, low=0, high=1)
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
