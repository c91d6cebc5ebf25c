"""PC-DARTS: partial channel connections and edge normalization on top of DARTS."""

from __future__ import annotations

from typing import Any

from lightning_nas.checks import check_bool, check_number
from lightning_nas.methods.darts import DARTS


class PCDARTS(DARTS):
    """PC-DARTS (Xu et al., ICLR 2020): DARTS whose mixed edges see only ``1/K`` of the channels.

    In every mixed edge only the first ``C/K`` channels go through the candidate operations; the rest bypass
    them, and a channel shuffle (groups ``K``) lets other channels through in the next layer. Edge normalization
    weights each node's incoming edges by a softmax over per-edge parameters ``β``, and the genotype ranks edges
    by ``softmax(α) · softmax(β)``. Both live in the search space (its ``partial_channels`` and
    ``edge_normalization`` options, which this class sets); the bi-level loop is :class:`DARTS`'s.

    Defaults are the paper's CIFAR-10 search: ``K = 4``, SGD lr 0.1 with cosine to 0, Adam 6e-4, the architecture
    frozen for the first 15 of 50 epochs, first order, batch 256 (the data module's ``batch_size``). The core-set
    paper's Tiny-ImageNet setting is ``partial_channels=2, arch_warmup_epochs=35, weight_decay=3e-5,
    arch_lr=6e-3`` with batch 64 (``examples/configs/pcdarts_darts_tinyimagenet.yaml``).

    Args:
        search_space: ``"darts"`` (the paper's) or ``"nasbench201"``.
        space_options: further options of the search space (not ``partial_channels`` or ``edge_normalization``).
        num_classes: number of classes of the data.
        partial_channels: ``K``; each mixed edge computes ``C / K`` channels (1 turns partial channels off).
        edge_normalization: whether node inputs are weighted by normalized edge parameters ``β``.
        weight_lr: initial SGD learning rate.
        weight_lr_min: final learning rate of the cosine schedule.
        arch_lr: Adam learning rate of ``α`` and ``β``.
        arch_warmup_epochs: epochs during which only the weights are trained.
        **kwargs: every other :class:`DARTS` argument (``order``, ``weight_decay``, ``grad_clip``, ...).

    Example:
        >>> model = PCDARTS(search_space="nasbench201", space_options={"C": 8, "N": 1}, partial_channels=4)
        >>> sorted(n for n, _ in model.supernet.named_parameters() if n.startswith("arch_"))
        ['arch_alpha', 'arch_beta']

    References:
        Xu et al., "PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search", ICLR 2020,
        Sec. 3.2 (partial channels, Eq. 2), Sec. 3.3 (edge normalization, Eq. 4) and Sec. 4.2 (settings).
    """

    def __init__(
        self,
        search_space: str = "darts",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        partial_channels: int = 4,
        edge_normalization: bool = True,
        weight_lr: float = 0.1,
        weight_lr_min: float = 0.0,
        arch_lr: float = 6e-4,
        arch_warmup_epochs: int = 15,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        check_number(name, "partial_channels", partial_channels, low=1, integer=True)
        check_bool(name, "edge_normalization", edge_normalization)
        super().__init__(
            search_space=search_space,
            space_options=space_options,
            num_classes=num_classes,
            weight_lr=weight_lr,
            weight_lr_min=weight_lr_min,
            arch_lr=arch_lr,
            arch_warmup_epochs=arch_warmup_epochs,
            **kwargs,
        )

    def resolve_space_options(self, space_options: dict[str, Any]) -> dict[str, Any]:
        for key in ("partial_channels", "edge_normalization"):
            if key in space_options:
                raise ValueError(
                    f"`PCDARTS(space_options={{'{key}': ...}})`: set `{key}` as an argument of PCDARTS instead."
                )
        return {
            **space_options,
            "partial_channels": self.hparams.partial_channels,
            "edge_normalization": self.hparams.edge_normalization,
        }
