"""β-DARTS: DARTS with the Beta-Decay regularization of the architecture parameters."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lightning_nas.checks import check_number
from lightning_nas.methods.darts import DARTS


def beta_decay_loss(alphas: list[Tensor]) -> Tensor:
    """Beta-Decay regularizer: the mean over all edges of ``logsumexp`` of the edge's raw ``α``.

    Its gradient with respect to ``α`` is ``softmax(α)`` (divided by the number of edges), so minimizing it
    pulls the activated weights towards uniform and keeps their variance small.

    Args:
        alphas: the architecture tensors, each ``(edges, ops)``; all edges of all tensors count once.

    Example:
        >>> beta_decay_loss([torch.zeros(2, 4)])  # log(4)
        tensor(1.3863)

    References:
        Ye et al., "β-DARTS: Beta-Decay Regularization for Differentiable Architecture Search", CVPR 2022, Eq. 8.
    """
    return torch.cat([torch.logsumexp(a, dim=-1).reshape(-1) for a in alphas]).mean()


class BetaDARTS(DARTS):
    """β-DARTS (Ye et al., CVPR 2022): DARTS plus ``λ(t) · L_β`` in the architecture loss.

    ``L_β`` is :func:`beta_decay_loss` over every edge's ``α`` (normal and reduction cells together; edge
    normalization parameters ``β`` of PC-DARTS are not ``α`` and are left out). The weight follows the official
    code's linear ramp ``λ(epoch) = lambda_max · epoch / lambda_epochs`` (0-based epochs): with the defaults 50 and
    100 it grows by 0.5 per epoch, 0 → 24.5 over a 50-epoch search. As in the official code the regularizer is
    added in the first-order architecture step only; with ``order=2`` it is not applied. The official DARTS-space
    script's default SDARTS-style random α perturbation is not part of β-DARTS and is not reproduced. Everything
    else is :class:`DARTS` with the quark0 settings (SGD weight decay 3e-4), as the paper uses.

    Args:
        search_space: ``"darts"``, ``"nasbench201"`` or ``"mobilenet"`` (BDP's Table 6: each layer's ``α`` row
            counts as one edge).
        space_options: options of the search space.
        num_classes: number of classes of the data.
        lambda_max: ``λ`` reached at ``lambda_epochs``.
        lambda_epochs: the epoch count of the ramp (the official code's 100).
        **kwargs: every other :class:`DARTS` argument.

    Example:
        >>> model = BetaDARTS(search_space="nasbench201", space_options={"C": 4, "N": 1})
        >>> model.beta_lambda(epoch=10)
        5.0

    References:
        Ye et al., "β-DARTS: Beta-Decay Regularization for Differentiable Architecture Search", CVPR 2022, Eq. 11.
    """

    def __init__(
        self,
        search_space: str = "darts",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        lambda_max: float = 50.0,
        lambda_epochs: int = 100,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        check_number(name, "lambda_max", lambda_max, low=0)
        check_number(name, "lambda_epochs", lambda_epochs, low=1, integer=True)
        super().__init__(search_space=search_space, space_options=space_options, num_classes=num_classes, **kwargs)

    def beta_lambda(self, epoch: int | None = None) -> float:
        """``λ`` at ``epoch`` (default: the current epoch)."""
        epoch = self.current_epoch if epoch is None else epoch
        return self.hparams.lambda_max * epoch / self.hparams.lambda_epochs

    def alpha_parameters(self) -> list[Tensor]:
        """The operation-mixing ``α`` tensors (architecture parameters whose name starts with ``arch_alpha``)."""
        return [p for n, p in self.named_arch_parameters().items() if n.split(".")[-1].startswith("arch_alpha")]

    def arch_regularization(self) -> Tensor | None:
        weight = self.beta_lambda()
        loss = beta_decay_loss(self.alpha_parameters())
        self.log("search/beta_loss", loss.detach(), on_step=False, on_epoch=True)
        return weight * loss if weight else None
