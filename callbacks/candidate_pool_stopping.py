"""GreedyNAS's stopping principle: stop supernet training once the candidate pool has settled."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lightning_nas.checks import check_bool, check_number


def pool_update_fraction(current: set[str] | frozenset[str], earlier: set[str] | frozenset[str]) -> float:
    """GreedyNAS's update frequency ``π = |P ∖ P_t| / |P|``: the fraction of the pool that is new since ``P_t``.

    Args:
        current: the paths (canonical strings) of the pool now, ``P``.
        earlier: the paths of the pool ``t`` steps earlier, ``P_t``.

    Returns:
        ``π`` in [0, 1]; 1.0 for an empty current pool (nothing settled yet).

    Example:
        >>> pool_update_fraction({"a", "b", "c", "d"}, {"a", "b", "c", "x"})
        0.25
    """
    if not current:
        return 1.0
    return len(current - earlier) / len(current)


class CandidatePoolStopping(Callback):
    """Stops supernet training once the candidate pool is steady (GreedyNAS Sec. 4.1.2, Eq. 10).

    After every training step the callback reads the module's candidate pool (``pl_module.candidate_pool``, a list
    of ``(loss, path)``; :class:`~lightning_nas.methods.GreedyNAS` has one) and computes the pool's update frequency

        ``π = |P ∖ P_t| / |P|``  (``= 1 - |P_t ∩ P| / |P|`` for a full pool),

    the fraction of the current pool ``P`` that was not in ``P_t``, the pool ``interval`` optimizer steps earlier.
    Training stops (``trainer.should_stop = True``, after the current step) at the first step where ``π <= alpha``.

    Reading of Eq. (10): the paper writes ``π := |P_t ∩ P| / |P| <= α`` and says that a smaller ``π`` means fewer
    new paths. The intersection ratio is the fraction of *unchanged* paths, which contradicts the sentence and would
    stop at once a pool that keeps changing; the update frequency (new paths) is the consistent reading (PAPERS-SPEC
    6.3, ambiguity 9.3). With ``alpha = 0.08`` training stops once at least 92 % of the pool survived the window.

    When π is checked: only once the pool is full (``len(P) >= min_pool_size``, by default the module's pool
    capacity ``pl_module.candidate_pool_capacity``), only after the module's warm-up (``pl_module.warmup_steps``
    optimizer steps; off with ``check_after_warmup=False``), and only once the callback has watched the pool for a
    whole window (``P_t`` must be known). The window ``t`` is not given in the paper; the default is one epoch of
    optimizer steps (``trainer.num_training_batches`` when fit starts: the single-path modules step once per batch),
    matching the paper's pool size of 1000 being "about the paths of one epoch". Keep a hard cap with
    ``Trainer(max_epochs=...)`` (the paper caps at 60 epochs without the pool stopping; GreedyNAS stopped at 46).

    The pool is compared by its paths' canonical strings; the callback keeps the pool's changes over the last window
    (at most a few paths per step), not whole snapshots, and saves them in its state, so a resumed run stops at the
    same step as an uninterrupted one. Under DDP every rank holds the same pool (GreedyNAS makes sure), so every rank
    computes the same π; the decision is still combined across ranks (any rank stopping stops all), so the ranks stop
    together.

    Logged every checked step: ``search/pool_update_fraction`` (π).

    Args:
        alpha: the tolerance ``α``; stop when ``π <= alpha``. 0.08 as in the paper.
        interval: the window ``t`` in optimizer steps; ``None`` is one epoch (see above).
        check_after_warmup: check only once ``trainer.global_step >= pl_module.warmup_steps``.
        min_pool_size: the pool size from which π is checked; ``None`` reads ``pl_module.candidate_pool_capacity``.
        verbose: print (rank 0) when training is stopped.

    Raises:
        ValueError: an argument is out of range, or (at fit start) ``interval`` is ``None`` and the epoch length is
            unknown.
        TypeError: (at fit start) the module has no ``candidate_pool``, or ``min_pool_size`` is ``None`` and it has
            no ``candidate_pool_capacity``.

    Example:
        >>> from lightning import Trainer
        >>> stopping = CandidatePoolStopping(alpha=0.08, interval=100)
        >>> trainer = Trainer(callbacks=[stopping], max_epochs=60, logger=False, enable_progress_bar=False)
        >>> stopping.stopped_step is None
        True

    References:
        You et al., "GreedyNAS: Towards Fast One-Shot NAS with Greedy Supernet", CVPR 2020, Sec. 4.1.2, Eq. (10),
        footnote 3 (α = 0.08); PAPERS-SPEC 6.3 and ambiguity 9.3.
    """

    def __init__(
        self,
        alpha: float = 0.08,
        interval: int | None = None,
        check_after_warmup: bool = True,
        min_pool_size: int | None = None,
        verbose: bool = True,
    ) -> None:
        name = type(self).__name__
        check_number(name, "alpha", alpha, low=0, high=1, high_open=True)
        check_number(name, "interval", interval, low=1, integer=True, optional=True)
        check_number(name, "min_pool_size", min_pool_size, low=1, integer=True, optional=True)
        check_bool(name, "check_after_warmup", check_after_warmup)
        check_bool(name, "verbose", verbose)
        self.alpha = float(alpha)
        self.interval = interval
        self.check_after_warmup = check_after_warmup
        self.min_pool_size = min_pool_size
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self._window: int | None = self.interval
        self._observed: frozenset[str] | None = None
        self._start_step: int | None = None
        self._events: deque[tuple[int, tuple[str, ...], tuple[str, ...]]] = deque()
        self.fraction: float | None = None
        self.stopped_step: int | None = None
        self.stopped_epoch: int | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(alpha=self.alpha, interval=self.interval)

    @property
    def window(self) -> int | None:
        """The window ``t`` in optimizer steps in use (``interval``, or the epoch length resolved at fit start)."""
        return self._window

    # ---------------------------------------------------------------------------------------------------------------
    # reading the module
    # ---------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _pool(pl_module: LightningModule) -> frozenset[str]:
        pool = getattr(pl_module, "candidate_pool", None)
        if pool is None:
            raise TypeError(
                f"`CandidatePoolStopping` reads the candidate pool of the module, but `{type(pl_module).__name__}` has "
                "no `candidate_pool` (a list of (loss, path) pairs, as `lightning_nas.methods.GreedyNAS` has)."
            )
        return frozenset(str(entry[1]) for entry in pool)

    def _min_pool_size(self, pl_module: LightningModule) -> int:
        if self.min_pool_size is not None:
            return self.min_pool_size
        capacity = getattr(pl_module, "candidate_pool_capacity", None)
        if not isinstance(capacity, int) or capacity < 1:
            raise TypeError(
                f"`CandidatePoolStopping(min_pool_size=None)` checks once the pool is full, but "
                f"`{type(pl_module).__name__}` has no `candidate_pool_capacity`. Pass `min_pool_size`."
            )
        return capacity

    # ---------------------------------------------------------------------------------------------------------------
    # hooks
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._pool(pl_module)
        self._min_pool_size(pl_module)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._window is None:
            batches = trainer.num_training_batches
            if not isinstance(batches, int) and not (isinstance(batches, float) and math.isfinite(batches)):
                raise ValueError(
                    "`CandidatePoolStopping(interval=None)` uses one epoch of steps as the window, but the epoch "
                    f"length is unknown (trainer.num_training_batches={batches}). Pass `interval`."
                )
            self._window = max(1, int(batches))
        if self._observed is None:  # a fresh fit (a resumed one restored what it had watched)
            self._observed = self._pool(pl_module)
            self._start_step = trainer.global_step

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        current = self._pool(pl_module)
        if self._observed is None:
            self._observed, self._start_step = current, step
        if current != self._observed:
            added, removed = current - self._observed, self._observed - current
            self._events.append((step, tuple(sorted(added)), tuple(sorted(removed))))
            self._observed = current
        window = self._window or 1
        while self._events and self._events[0][0] <= step - window:
            self._events.popleft()  # already part of P_t for this and every later step
        if not self._should_check(trainer, pl_module, step, current):
            return
        earlier = set(current)
        for _, added, removed in reversed(self._events):  # undo the changes of the last `window` steps
            earlier.difference_update(added)
            earlier.update(removed)
        self.fraction = pool_update_fraction(current, earlier)
        pl_module.log("search/pool_update_fraction", self.fraction, on_step=True, on_epoch=False)
        should_stop = trainer.strategy.reduce_boolean_decision(self.fraction <= self.alpha, all=False)
        if should_stop and self.stopped_step is None:
            trainer.should_stop = True
            self.stopped_step, self.stopped_epoch = step, trainer.current_epoch
            if self.verbose:
                rank_zero_info(
                    f"CandidatePoolStopping: the pool update frequency π = {self.fraction:.4f} <= α = {self.alpha} "
                    f"over the last {window} steps; stopping at step {step} (epoch {trainer.current_epoch})."
                )

    def _should_check(self, trainer: Trainer, pl_module: LightningModule, step: int, current: frozenset[str]) -> bool:
        if trainer.sanity_checking or self._start_step is None or step - (self._window or 1) < self._start_step:
            return False
        if self.check_after_warmup and step < int(getattr(pl_module, "warmup_steps", 0) or 0):
            return False
        return len(current) >= self._min_pool_size(pl_module)

    # ---------------------------------------------------------------------------------------------------------------
    # state
    # ---------------------------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "window": self._window,
            "observed": None if self._observed is None else sorted(self._observed),
            "start_step": self._start_step,
            "events": [{"step": s, "added": list(a), "removed": list(r)} for s, a, r in self._events],
            "fraction": self.fraction,
            "stopped_step": self.stopped_step,
            "stopped_epoch": self.stopped_epoch,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._reset()
        window = state_dict.get("window")
        self._window = self.interval if self.interval is not None else (None if window is None else int(window))
        observed = state_dict.get("observed")
        self._observed = None if observed is None else frozenset(str(p) for p in observed)
        start = state_dict.get("start_step")
        self._start_step = None if start is None else int(start)
        self._events = deque(
            (int(e["step"]), tuple(e["added"]), tuple(e["removed"])) for e in state_dict.get("events", [])
        )
        fraction = state_dict.get("fraction")
        self.fraction = None if fraction is None else float(fraction)
        self.stopped_step = state_dict.get("stopped_step")
        self.stopped_epoch = state_dict.get("stopped_epoch")
