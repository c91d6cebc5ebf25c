"""Mixed precision in manual optimization: Lightning's gradient scaler and clipping in its units."""

from __future__ import annotations

from typing import Any

import torch
from lightning import LightningModule


def grad_scaler(module: LightningModule) -> torch.amp.GradScaler | None:
    """The Trainer's gradient scaler under ``precision="16-mixed"``; ``None`` otherwise, or without a Trainer.

    Example:
        >>> grad_scaler(LightningModule()) is None
        True
    """
    scaler = getattr(getattr(module._trainer, "precision_plugin", None), "scaler", None)
    return scaler if scaler is not None and scaler.is_enabled() else None


def clip_grad_norm(module: LightningModule, optimizer: Any, max_norm: float) -> None:
    """Clips the global norm of ``optimizer``'s gradients to ``max_norm`` with ``module.clip_gradients``.

    Under ``"16-mixed"`` the gradients are still multiplied by the scaler's scale here: with manual optimization
    Lightning unscales them only inside ``optimizer.step()`` (after this call; unscaling twice raises). Clipping
    their norm to ``max_norm * scale`` is clipping the unscaled ones to ``max_norm``; non-finite gradients stay
    non-finite, and the scaler skips that step.
    """
    scaler = grad_scaler(module)
    scale = 1.0 if scaler is None else scaler.get_scale()
    module.clip_gradients(optimizer, gradient_clip_val=max_norm * scale, gradient_clip_algorithm="norm")
