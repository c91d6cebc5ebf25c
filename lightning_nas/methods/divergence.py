"""Stop a diverging search at once, with what diverged and the likely cause, instead of finishing on NaN."""

from __future__ import annotations

import torch
from lightning import LightningModule, Trainer
from torch import Tensor


class DivergenceError(RuntimeError):
    """A search produced a non-finite loss or architecture parameter: its result would be meaningless."""


class DivergenceGuard:
    """Watches values a training step already computed (losses, ``α``) and raises :class:`DivergenceError`.

    :meth:`watch` only does tensor ops (no host synchronization): on a GPU it records, on the device, whether a
    value was non-finite and the first step at which one was; :meth:`check` reads that record (one host sync) and
    raises. A method calls ``check`` every step on a CPU and, on a GPU, on the steps whose metrics the loggers
    write anyway and at the end of every epoch, so a diverged run stops within ``log_every_n_steps`` steps.

    Args:
        owner: the class name the error message starts with.
        causes: per watched name (e.g. ``"weight loss"``), the likely cause the message names, e.g.
            ``"the weights' learning rate `weight_lr=1000000.0` is too large"``.

    Example:
        >>> guard = DivergenceGuard("DARTS", {"weight loss": "`weight_lr=1e6` is too large"})
        >>> guard.watch("weight loss", 3, torch.tensor(2.3))
        >>> guard.check()
        >>> guard.watch("weight loss", 4, torch.tensor(float("nan")))
        >>> try:
        ...     guard.check()
        ... except DivergenceError as err:
        ...     print(str(err).split(". ")[0])
        `DARTS`: the search diverged: the weight loss is not finite at batch 4 of the search
    """

    def __init__(self, owner: str, causes: dict[str, str]) -> None:
        self.owner = owner
        self.causes = dict(causes)
        self._first: dict[str, Tensor] = {}  # name -> first step with a non-finite value (-1: none), on the device

    def watch(self, name: str, step: int, *values: Tensor) -> None:
        """Records, on the values' device, whether any of ``values`` holds a non-finite entry at ``step``."""
        finite = torch.stack([torch.isfinite(v.detach()).all() for v in values]).all()
        first = self._first.get(name)
        if first is None:
            first = self._first[name] = torch.full((), -1, dtype=torch.long, device=finite.device)
        first.copy_(torch.where((~finite) & (first < 0), torch.full_like(first, step), first))

    def check_if_due(self, module: LightningModule) -> None:
        """:meth:`check` when :func:`check_is_due` for ``module`` (every step on a CPU, logging steps elsewhere)."""
        if check_is_due(module):
            self.check()

    def check(self) -> None:
        """Raises :class:`DivergenceError` if a watched value was non-finite (reads the device record)."""
        names = [name for name in self.causes if name in self._first]  # in the order of `causes`
        for name in names + [name for name in self._first if name not in self.causes]:
            step = int(self._first[name])
            if step >= 0:
                cause = self.causes.get(name)
                raise DivergenceError(
                    f"`{self.owner}`: the search diverged: the {name} is not finite at batch {step} of the search."
                    + (f" Likely cause: {cause}." if cause else "")
                    + " No genotype is derived from it."
                )


def logs_this_step(trainer: Trainer) -> bool:
    """Whether the loggers write the step metrics of the current batch (every ``log_every_n_steps`` batches).

    The same on every process. (Lightning also writes when ``trainer.should_stop``, which a callback may set on one
    process only: not counted here.)
    """
    every = trainer.log_every_n_steps
    return bool(trainer.fast_dev_run) or (every > 0 and (trainer.fit_loop.total_batch_idx + 1) % every == 0)


def check_is_due(module: LightningModule) -> bool:
    """Whether a method checks its guard now: every step on a CPU (no cost), elsewhere on the steps whose metrics
    the loggers write anyway (:func:`logs_this_step`, where a host sync happens already).
    """
    return module.device.type == "cpu" or logs_this_step(module.trainer)


def predictions(logits: Tensor, y: Tensor) -> Tensor:
    """The predicted classes of ``logits`` for accuracy metrics; a row with a non-finite logit is always wrong.

    (``argmax`` of a NaN row is class 0: a diverged network would score 1/C, or 1.0 on a one-class batch.)

    Example:
        >>> predictions(torch.tensor([[0.0, 2.0, 1.0], [float("nan"), 0.0, 0.0]]), torch.tensor([1, 1]))
        tensor([1, 2])
    """
    predicted = logits.argmax(dim=-1)
    wrong = (y + 1) % logits.shape[-1]
    return torch.where(torch.isfinite(logits).all(dim=-1), predicted, wrong)
