"""P-DARTS: progressive DARTS, deeper supernets with fewer candidate operations stage by stage."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

from lightning_nas.checks import check_number, check_numbers
from lightning_nas.methods.darts import DARTS
from lightning_nas.spaces import Genotype, get_search_space

_DEPTH_OPTION = {"darts": "layers", "nasbench201": "N"}
_DEFAULT_STAGE_LAYERS = {"darts": (5, 11, 17), "nasbench201": (1, 3, 5)}


def keep_strongest_ops(weights: Tensor, ops: Sequence[Sequence[str]], keep: int) -> list[list[str]]:
    """P-DARTS operation dropping: on every edge keep the ``keep`` candidates of largest weight.

    Args:
        weights: ``(edges, k)`` mixing weights (softmax of ``α``).
        ops: the candidate names of each edge, ``k`` per edge, in the order of ``weights``' columns.
        keep: how many to keep per edge; kept names stay in their original order.

    Example:
        >>> keep_strongest_ops(torch.tensor([[0.1, 0.5, 0.4]]), [["none", "skip_connect", "sep_conv_3x3"]], 2)
        [['skip_connect', 'sep_conv_3x3']]

    References:
        Chen et al., "Progressive Differentiable Architecture Search", ICCV 2019, Sec. 3.3 (search space
        approximation).
    """
    kept = []
    for row, names in zip(weights.detach().cpu(), ops):
        order = torch.sort(row, descending=True, stable=True).indices[:keep].sort().values
        kept.append([names[i] for i in order.tolist()])
    return kept


def _edge_index(node: int, source: int) -> int:
    return sum(2 + k for k in range(node)) + source


class PDARTS(DARTS):
    """P-DARTS (Chen et al., ICCV 2019) driven inside one Lightning fit, its stages as epoch ranges.

    Stage ``s`` spans ``stage_epochs[s]`` epochs and searches a supernet of ``stage_layers[s]`` cells whose edges
    hold ``stage_ops[s]`` candidate operations. At a stage boundary the operations of lowest weight are dropped on
    every edge (8 → 5 → 3 on the DARTS space) and a deeper supernet is built with fresh weights and ``α`` (as the
    official code does), together with a new optimizer and cosine schedule. Within a stage the architecture is
    frozen for the first ``arch_warmup_epochs`` epochs and the output of every ``skip_connect`` is dropped out with
    ``p · (E - e - 1) / E`` during those epochs and ``p · exp(-skip_dropout_decay · (e - warm-up))`` afterwards
    (``p = skip_dropout[s]``, ``e`` the epoch inside the stage of ``E``). The final genotype keeps one non-``none``
    operation per edge and the top-2 edges per node; on the DARTS space it allows at most ``max_skip_connects``
    skip connections in the normal cell: while there are more, the weakest one is removed and its edge re-derived.

    :attr:`search_stage` (the stage index) tells callbacks that keep per-sample statistics of the supernet when it is
    rebuilt: :class:`~lightning_nas.callbacks.VoEPruning` restarts its VoE window at each stage.

    The stage and the candidate operations are part of the module's state dict (``get_extra_state``), so loading a
    checkpoint rebuilds the supernet of its stage and a run resumes exactly, between stages too; the fresh supernet
    of a stage and the dropout masks are drawn from seeds derived from ``lightning.seed_everything``'s seed, not
    from the global random state. Under DDP the new supernet is
    wrapped again (``DDPStrategy.configure_ddp``) and every rank drops the same operations.

    Defaults are the paper's CIFAR-10 settings: 3 stages of 25 epochs, 5/11/17 cells, 8/5/3 operations, skip
    dropout 0.1/0.4/0.7 (decay 0.2), SGD 0.025 cosine to 0 restarted each stage, Adam 6e-4, the architecture frozen
    for 10 epochs of each stage, gradient clipping 5 on both levels, at most 2 skip connections, batch 96 (the data
    module's). On NAS-Bench-201 the stages change the cells per stage ``N`` (default 1/3/5) and drop operations
    5 → 4 → 3; its genotype is the per-edge argmax as usual, with no skip limit.

    Args:
        search_space: ``"darts"`` (the paper's) or ``"nasbench201"``.
        space_options: options of the search space other than the depth and the candidate operations.
        num_classes: number of classes of the data.
        stage_epochs: epochs of each stage; ``Trainer(max_epochs)`` must be their sum.
        stage_layers: cells of each stage's supernet (``layers`` on DARTS, ``N`` on NAS-Bench-201); ``None`` for
            the space's default.
        stage_ops: candidate operations per edge in each stage; the first is all of the space's operations.
            ``None``: (8, 5, 3) on DARTS, (5, 4, 3) on NAS-Bench-201.
        skip_dropout: dropout rate on ``skip_connect`` outputs per stage.
        skip_dropout_decay: exponential decay of the rate once the architecture is updated.
        max_skip_connects: the most skip connections allowed in the final normal cell (DARTS space).
        weight_lr: initial SGD learning rate of each stage.
        weight_lr_min: final learning rate of each stage's cosine schedule.
        arch_lr: Adam learning rate of ``α``.
        arch_warmup_epochs: epochs at the start of *each stage* with the architecture frozen.
        arch_grad_clip: max global norm of the architecture gradients.
        **kwargs: every other :class:`DARTS` argument.

    Example:
        >>> model = PDARTS(search_space="nasbench201", space_options={"C": 4}, stage_epochs=[1, 1, 1])
        >>> model.stage, [len(ops) for ops in model.candidate_ops["cell"]][:2]
        (0, [5, 5])

    References:
        Chen, Xie, Wu & Tian, "Progressive Differentiable Architecture Search: Bridging the Depth Gap between Search
        and Evaluation", ICCV 2019, Sec. 3.2-3.4.
    """

    def __init__(
        self,
        search_space: str = "darts",
        space_options: dict[str, Any] | None = None,
        num_classes: int = 10,
        stage_epochs: list[int] | tuple[int, ...] = (25, 25, 25),
        stage_layers: list[int] | tuple[int, ...] | None = None,
        stage_ops: list[int] | tuple[int, ...] | None = None,
        skip_dropout: list[float] | tuple[float, ...] = (0.1, 0.4, 0.7),
        skip_dropout_decay: float = 0.2,
        max_skip_connects: int = 2,
        weight_lr: float = 0.025,
        weight_lr_min: float = 0.0,
        arch_lr: float = 6e-4,
        arch_warmup_epochs: int = 10,
        arch_grad_clip: float | None = 5.0,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if not isinstance(search_space, str) or search_space not in _DEPTH_OPTION:
            raise ValueError(
                f"`{name}(search_space={search_space!r})`: `search_space` must be one of {sorted(_DEPTH_OPTION)}."
            )
        stage_epochs = check_numbers(name, "stage_epochs", stage_epochs, low=1, integer=True)
        for arg, value in (("stage_layers", stage_layers), ("stage_ops", stage_ops)):
            if value is not None:
                check_numbers(name, arg, value, low=1, integer=True)
        check_numbers(name, "skip_dropout", skip_dropout, low=0, high=1, high_open=True)
        check_number(name, "skip_dropout_decay", skip_dropout_decay, low=0)
        check_number(name, "max_skip_connects", max_skip_connects, low=0, integer=True)
        stages = len(stage_epochs)
        stage_layers = tuple(stage_layers or _DEFAULT_STAGE_LAYERS[search_space])
        stage_ops = tuple(stage_ops or ((8, 5, 3) if search_space == "darts" else (5, 4, 3)))
        checks = {
            "stage_epochs": list(stage_epochs),
            "stage_layers": list(stage_layers),
            "stage_ops": list(stage_ops),
            "skip_dropout": list(skip_dropout),
        }
        for arg, values in checks.items():
            if len(values) != stages or stages == 0:
                raise ValueError(
                    f"`PDARTS({arg}={values!r})`: `{arg}` must have one entry per stage ({stages} stages, from "
                    f"`stage_epochs`)."
                )
        if any(b > a for a, b in zip(stage_ops, stage_ops[1:])):
            raise ValueError(
                f"`{name}(stage_ops={list(stage_ops)!r})`: `stage_ops` (operations per edge) must never increase. "
                f"Got {list(stage_ops)!r} instead."
            )
        stage_epochs, stage_layers, stage_ops = list(stage_epochs), list(stage_layers), list(stage_ops)
        skip_dropout = list(skip_dropout)  # resolved values are what save_hyperparameters records
        self.stage = 0
        self.candidate_ops: dict[str, list[list[str]]] = {}
        super().__init__(
            search_space=search_space,
            space_options=space_options,
            num_classes=num_classes,
            weight_lr=weight_lr,
            weight_lr_min=weight_lr_min,
            arch_lr=arch_lr,
            arch_warmup_epochs=arch_warmup_epochs,
            arch_grad_clip=arch_grad_clip,
            **kwargs,
        )
        if self.hparams.lr_interval != "epoch":
            raise ValueError("`PDARTS(lr_interval='step')`: P-DARTS restarts its schedule per stage; use 'epoch'.")
        first = self.supernet.edge_ops
        for cell in self.supernet.cell_types:
            if len(first(cell)[0]) != stage_ops[0]:
                raise ValueError(
                    f"`PDARTS(stage_ops={list(stage_ops)!r})`: the first stage must search all "
                    f"{len(first(cell)[0])} operations of the space."
                )
        self.candidate_ops = {cell: [list(ops) for ops in first(cell)] for cell in self.supernet.cell_types}

    # ------------------------------------------------------------------ space of the current stage
    def resolve_space_options(self, space_options: dict[str, Any]) -> dict[str, Any]:
        depth = _DEPTH_OPTION[self.hparams.search_space]
        for key in (depth, "candidate_ops"):
            if key in space_options:
                raise ValueError(f"`PDARTS(space_options={{'{key}': ...}})`: P-DARTS sets `{key}` per stage.")
        options = {**space_options, depth: self.hparams.stage_layers[self.stage]}
        if self.candidate_ops:
            options["candidate_ops"] = self.candidate_ops
        return options

    def _build_stage_supernet(self) -> nn.Module:
        """The space of the current stage (its depth and candidate ops) and a fresh supernet of it."""
        self.space = get_search_space(
            self.hparams.search_space, **self.resolve_space_options(dict(self.hparams.space_options or {}))
        )
        return self.build_supernet()

    def _stage_of(self, epoch: int) -> int:
        ends = list(itertools.accumulate(self.hparams.stage_epochs))
        return next((s for s, end in enumerate(ends) if epoch < end), len(ends) - 1)

    def _epoch_in_stage(self) -> int:
        return self.current_epoch - sum(self.hparams.stage_epochs[: self.stage])

    def _seed(self, *words: int) -> int:
        base = int(os.environ.get("PL_GLOBAL_SEED", 0))
        return hash((base, *words)) & 0x7FFFFFFF

    def _advance_to(self, stage: int) -> None:
        """Drops operations by the current ``α`` and builds the supernet of ``stage`` (fresh weights)."""
        keep = self.hparams.stage_ops[stage]
        self.candidate_ops = {
            cell: keep_strongest_ops(self.supernet.op_weights(cell), self.supernet.edge_ops(cell), keep)
            for cell in self.supernet.cell_types
        }
        self.stage = stage
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed(stage))
            self.supernet = self.compiled(self._build_stage_supernet()).to(self.device, self._parameter_dtype())
        rank_zero_info(f"P-DARTS stage {stage}: {self.hparams.stage_layers[stage]} cells, {keep} operations per edge")

    @property
    def search_stage(self) -> int:
        """The stage whose supernet the current epoch trains (0-based).

        The generic "supernet reset" signal that callbacks read: it changes exactly when the supernet is rebuilt with
        fresh weights (at the start of a stage's first epoch, in ``on_train_epoch_start``), so per-sample statistics
        gathered before the change describe another network. Any module that re-initialises its weights during a fit
        can expose the same int attribute.
        """
        return self.stage

    @override
    def schedule_epochs(self) -> int:
        return self.hparams.stage_epochs[self.stage]

    @override
    def arch_update_enabled(self) -> bool:
        return self._epoch_in_stage() >= self.hparams.arch_warmup_epochs

    def skip_dropout_rate(self) -> float:
        """The ``skip_connect`` dropout rate of the current epoch."""
        p = self.hparams.skip_dropout[self.stage]
        e, total, warm = self._epoch_in_stage(), self.hparams.stage_epochs[self.stage], self.hparams.arch_warmup_epochs
        if e < warm:
            return p * (total - e - 1) / total
        return p * math.exp(-self.hparams.skip_dropout_decay * (e - warm))

    # ------------------------------------------------------------------ Lightning hooks
    @override
    def on_fit_start(self) -> None:
        super().on_fit_start()
        total = sum(self.hparams.stage_epochs)
        if self.trainer.max_epochs != total:
            raise ValueError(
                f"`PDARTS(stage_epochs={self.hparams.stage_epochs})` needs `Trainer(max_epochs={total})`; "
                f"got max_epochs={self.trainer.max_epochs}."
            )

    @override
    def on_train_epoch_start(self) -> None:
        stage = self._stage_of(self.current_epoch)
        if stage != self.stage:
            self._advance_to(stage)
            strategy = self.trainer.strategy
            if isinstance(strategy, DDPStrategy):  # the DDP wrapper holds the old parameters: wrap the new ones
                strategy.model = self
                strategy.configure_ddp()
            strategy.setup_optimizers(self.trainer)
        self.supernet.skip_dropout = self.skip_dropout_rate()
        self.log("search/skip_dropout", self.supernet.skip_dropout, on_step=False, on_epoch=True)
        self.log("search/stage", float(self.stage), on_step=False, on_epoch=True)
        super().on_train_epoch_start()

    @override
    def training_step(self, batch: dict[str, list[Tensor]], batch_idx: int) -> dict[str, Any]:
        # skip dropout draws masks: seed them per step so a resumed run repeats the uninterrupted one
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self._seed(self.current_epoch, batch_idx, self.trainer.global_rank))
            return super().training_step(batch, batch_idx)

    def get_extra_state(self) -> dict[str, Any]:
        """The stage and its candidate operations, saved in the state dict (so in every checkpoint)."""
        return {"stage": self.stage, "candidate_ops": self.candidate_ops}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Rebuilds the supernet of the saved stage; ``load_state_dict`` then loads its weights into it."""
        candidate_ops = {cell: [list(ops) for ops in edges] for cell, edges in state["candidate_ops"].items()}
        if int(state["stage"]) == self.stage and candidate_ops == self.candidate_ops:
            return
        self.stage = int(state["stage"])
        self.candidate_ops = candidate_ops
        self.supernet = self.compiled(self._build_stage_supernet()).to(self.device, self._parameter_dtype())

    def _parameter_dtype(self) -> torch.dtype:
        """The dtype of the current supernet's weights (float64 under ``precision="64-true"``), for the next one's."""
        return next(self.supernet.parameters()).dtype

    # ------------------------------------------------------------------ genotype
    @override
    def genotype(self) -> Genotype:
        genotype = self.supernet.genotype()
        if self.hparams.search_space != "darts" or self.stage != len(self.hparams.stage_epochs) - 1:
            return genotype
        return self._limit_skip_connects()

    def _limit_skip_connects(self) -> Genotype:
        from lightning_nas.spaces.darts import derive_genotype

        normal_w = self.supernet.op_weights("normal").detach().clone()
        normal_ops = self.supernet.edge_ops("normal")
        reduce_w = self.supernet.op_weights("reduce").detach()
        reduce_ops = self.supernet.edge_ops("reduce")
        genotype = derive_genotype(normal_w, normal_ops, reduce_w, reduce_ops)
        while sum(op == "skip_connect" for op, _ in genotype.normal) > self.hparams.max_skip_connects:
            skips = [
                (normal_w[e, normal_ops[e].index("skip_connect")].item(), e)
                for e in {
                    _edge_index(i // 2, src) for i, (op, src) in enumerate(genotype.normal) if op == "skip_connect"
                }
            ]
            _, weakest = min(skips)
            normal_w[weakest, normal_ops[weakest].index("skip_connect")] = 0.0
            genotype = derive_genotype(normal_w, normal_ops, reduce_w, reduce_ops)
        return genotype
