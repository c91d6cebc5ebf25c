"""Per-sample scores computed from predictions the search already made (no extra forward pass)."""

from __future__ import annotations

import torch
from torch import Tensor


def el2n(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-sample EL2N error ``||softmax(logits) - onehot(y)||_2``.

    Args:
        logits: ``(N, K)`` unnormalised scores.
        targets: ``(N,)`` integer labels in ``[0, K)``.

    Returns:
        ``(N,)`` float32 errors in ``[0, sqrt(2)]``, detached from the graph.

    Example:
        >>> el2n(torch.tensor([[10.0, -10.0], [0.0, 0.0]]), torch.tensor([0, 1])).round(decimals=4)
        tensor([0.0000, 0.7071])

    References:
        Paul, Ganguli & Dziugaite, "Deep Learning on a Data Diet", NeurIPS 2021 (EL2N);
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Sec. 3.3, where ``e_t(x)`` is this error.
    """
    probs = logits.detach().float().softmax(dim=1)
    probs[torch.arange(len(targets), device=probs.device), targets] -= 1.0
    return torch.linalg.vector_norm(probs, dim=1)
