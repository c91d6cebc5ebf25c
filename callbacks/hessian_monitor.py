"""Tracks the dominant eigenvalue of the Hessian of the validation loss with respect to the architecture parameters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

from lightning_nas.checks import check_number
from lightning_nas.hessian import dominant_eigenvalue, hessian_vector_product

__all__ = ["HessianMonitor"]


class HessianMonitor(Callback):
    """The dominant eigenvalue of ``∇²_α L_val`` every few epochs, by power iteration (BDP's Fig. 3c).

    At the end of every ``every_n_epochs``-th training epoch the callback computes the validation loss (cross-entropy of
    ``pl_module(x)``) on a fixed set of ``val_batches`` batches, builds the Hessian-vector product with respect to
    ``pl_module.arch_parameters()`` by double back-propagation and runs
    :func:`~lightning_nas.hessian.dominant_eigenvalue` (``num_iters`` products at most, relative tolerance ``tol``,
    start vector from ``seed``). The batches are the first ``val_batches`` batches of the data module's
    ``val_dataloader()`` (the architecture split with the eval transform for a
    :class:`~lightning_nas.datamodules.SearchDataModule`; else the Trainer's validation loader) taken at the start of
    fit, before any data pruning, and kept for the whole search; their pool ids are saved, so a resumed run uses the
    same samples (it reloads them with ``pool_dataloader(ids)``). The loss of several batches is their mean.

    The supernet is evaluated in training mode, as the search's architecture step sees it (BatchNorm with batch
    statistics). The search is unaffected: the gradients are taken with ``torch.autograd.grad`` (no ``.grad`` is
    written), BatchNorm running statistics and every other buffer are restored, the random state is forked (the
    loader's and the model's random draws do not shift the search's), and the train/eval mode is put back. The
    computation graph of the loss is kept during the iteration: memory grows with ``val_batches``.

    DDP: every rank evaluates its own share of the architecture split (its first batches); the Hessian-vector
    products are averaged across ranks every iteration, so the eigenvalue is that of the loss over all ranks' batches
    and identical on every rank.

    Cost: one double back-propagation per iteration, about three training steps; ``num_iters=20`` on one batch
    every epoch adds some 60 steps per epoch. Raise ``every_n_epochs`` to spend less.

    Logged: ``arch/hessian_eigenvalue`` (``log_key``) at the epochs it is computed. The values are kept in
    :attr:`history` and in the callback's state (checkpoints).

    Args:
        every_n_epochs: compute at the end of epochs ``n - 1, 2n - 1, ...`` (0-based).
        num_iters: maximum Hessian-vector products per estimate (power iterations).
        tol: relative change of the estimate at which the iteration stops early.
        val_batches: number of validation batches the loss is computed on.
        seed: seed of the power iteration's start vector (the same at every estimate).
        log_key: the name the eigenvalue is logged under.

    Raises:
        TypeError: an argument of the wrong type (e.g. a number given as a string).
        ValueError: an argument is out of range.
        TypeError: (during fit) the module has no ``arch_parameters()``, or no validation data is available.

    Example:
        >>> from lightning import Trainer
        >>> monitor = HessianMonitor(every_n_epochs=5, num_iters=20)
        >>> trainer = Trainer(callbacks=[monitor], logger=False, enable_progress_bar=False)
        >>> monitor.history
        {}

    References:
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Fig. 3c; Zela et al., "Understanding and Robustifying
        Differentiable Architecture Search", ICLR 2020 (the dominant eigenvalue of ``∇²_α L_valid``).
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_iters: int = 20,
        tol: float = 1e-3,
        val_batches: int = 1,
        seed: int = 0,
        log_key: str = "arch/hessian_eigenvalue",
    ) -> None:
        name = type(self).__name__
        for arg, value in (("every_n_epochs", every_n_epochs), ("num_iters", num_iters), ("val_batches", val_batches)):
            check_number(name, arg, value, low=1, integer=True)
        check_number(name, "tol", tol, low=0)
        check_number(name, "seed", seed, integer=True)
        self.every_n_epochs, self.num_iters, self.val_batches = every_n_epochs, num_iters, val_batches
        if not isinstance(log_key, str) or not log_key:
            raise ValueError(f"`HessianMonitor(log_key={log_key!r})`: `log_key` must be a non-empty string.")
        self.tol = float(tol)
        self.seed = seed
        self.log_key = log_key
        self._history: dict[int, float] = {}
        self._iterations: dict[int, int] = {}
        self._batches: list[tuple[Tensor, Tensor]] | None = None
        self._ids: list[list[list[int]]] | None = None  # per rank, per batch: the pool ids of the fixed batches

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(every_n_epochs=self.every_n_epochs, val_batches=self.val_batches)

    @property
    def history(self) -> dict[int, float]:
        """``{epoch: dominant eigenvalue}`` of the epochs computed so far (0-based epochs)."""
        return dict(sorted(self._history.items()))

    @property
    def batch_ids(self) -> list[list[int]] | None:
        """The pool ids of the fixed batches of every rank (``[rank][batch]``); ``None`` until taken or without ids."""
        return None if self._ids is None else [[list(batch) for batch in rank] for rank in self._ids]

    # ----------------------------------------------------------------------------------------------- override point
    def loss(self, pl_module: LightningModule, x: Tensor, y: Tensor) -> Tensor:
        """The validation loss of one batch; override for modules whose forward pass is not ``logits = module(x)``."""
        return nn.functional.cross_entropy(pl_module(x), y)

    # ------------------------------------------------------------------------------------------------------- data
    @staticmethod
    def _unpack(batch: Any) -> tuple[Tensor, Tensor, Tensor | None]:
        if isinstance(batch, Mapping) and "val" in batch:
            batch = batch["val"]
        if not isinstance(batch, Sequence) or len(batch) < 2:
            raise TypeError(
                "`HessianMonitor` reads (x, y) or (x, y, ids) batches from the validation loader. "
                f"Got {type(batch).__name__} instead."
            )
        ids = batch[2] if len(batch) > 2 and isinstance(batch[2], Tensor) else None
        return batch[0], batch[1], ids

    def _loader(self, trainer: Trainer) -> Any:
        datamodule = getattr(trainer, "datamodule", None)
        val_dataloader = getattr(datamodule, "val_dataloader", None)
        loader = val_dataloader() if callable(val_dataloader) else trainer.val_dataloaders
        if isinstance(loader, (list, tuple)):
            loader = loader[0] if loader else None
        if isinstance(loader, Mapping):
            loader = next(iter(loader.values()), None)
        return loader

    def _capture(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Takes the first ``val_batches`` validation batches (or reloads the saved ids) as the fixed batches."""
        datamodule = getattr(trainer, "datamodule", None)
        rank, world = trainer.global_rank, trainer.world_size
        with torch.random.fork_rng(devices=[]):  # iterating a DataLoader draws its base seed from the global RNG
            reloadable = callable(getattr(datamodule, "pool_dataloader", None))
            if self._ids is not None and len(self._ids) == world and reloadable:
                self._batches = self._reload(datamodule, self._ids[rank])
                return
            loader = self._loader(trainer)
            if loader is None:
                raise TypeError(
                    "`HessianMonitor` computes the validation loss on validation batches, but there is no validation "
                    "loader: give the data module a `val_dataloader()` (every SearchDataModule has one)."
                )
            batches, ids = [], []
            for batch in loader:
                x, y, batch_ids = self._unpack(batch)
                batches.append((x.detach().cpu(), y.detach().cpu()))
                ids.append(batch_ids)
                if len(batches) == self.val_batches:
                    break
        if not batches:
            raise TypeError("`HessianMonitor`: the validation loader yielded no batch.")
        self._batches = batches
        if all(i is not None for i in ids):
            self._ids = self._gather_ids(pl_module, [i.detach().cpu().reshape(-1).tolist() for i in ids])

    def _gather_ids(self, pl_module: LightningModule, local: list[list[int]]) -> list[list[list[int]]]:
        """Every rank's batch ids (each rank receives all), for a resume on the same number of processes."""
        if pl_module.trainer.world_size == 1:
            return [local]
        device = pl_module.device
        sizes = torch.tensor([len(b) for b in local] + [0] * (self.val_batches - len(local)), device=device)
        flat = torch.tensor([i for b in local for i in b], dtype=torch.int64, device=device)
        all_sizes = pl_module.all_gather(sizes).reshape(-1, self.val_batches).cpu()
        longest = int(all_sizes.sum(dim=1).max())
        padded = torch.cat([flat, flat.new_full((longest - len(flat),), -1)])
        gathered = pl_module.all_gather(padded).reshape(-1, longest).cpu()
        result = []
        for row, counts in zip(gathered.tolist(), all_sizes.tolist()):
            batches, start = [], 0
            for count in counts:
                if count:
                    batches.append(row[start : start + count])
                start += count
            result.append(batches)
        return result

    @staticmethod
    def _reload(datamodule: Any, ids: list[list[int]]) -> list[tuple[Tensor, Tensor]]:
        flat = [i for batch in ids for i in batch]
        xs, ys = [], []
        for batch in datamodule.pool_dataloader(flat):
            x, y, _ = HessianMonitor._unpack(batch)
            xs.append(x.detach().cpu())
            ys.append(y.detach().cpu())
        x_all, y_all = torch.cat(xs), torch.cat(ys)
        sizes = [len(batch) for batch in ids]
        return list(zip(x_all.split(sizes), y_all.split(sizes)))

    # ------------------------------------------------------------------------------------------------ computation
    @contextlib.contextmanager
    def _isolated(self, pl_module: LightningModule) -> Iterator[None]:
        """Train mode, forked random state, buffers (BatchNorm statistics) restored afterwards."""
        device = pl_module.device
        devices = []
        if device.type == "cuda":
            devices = [device.index if device.index is not None else torch.cuda.current_device()]
        saved = {name: buffer.detach().clone() for name, buffer in pl_module.named_buffers()}
        was_training = pl_module.training
        try:
            with torch.random.fork_rng(devices=devices), torch.enable_grad():
                pl_module.train()
                yield
        finally:
            pl_module.train(was_training)
            with torch.no_grad():
                for name, buffer in pl_module.named_buffers():
                    if name in saved:
                        buffer.copy_(saved[name])

    def compute(self, trainer: Trainer, pl_module: LightningModule) -> float:
        """Estimates the dominant eigenvalue now (the fixed batches are taken on first use)."""
        arch_parameters = getattr(pl_module, "arch_parameters", None)
        if not callable(arch_parameters):
            raise TypeError(
                f"`HessianMonitor` needs the architecture parameters: `{type(pl_module).__name__}` has no "
                "`arch_parameters()` method (the DARTS-family modules have it)."
            )
        params = list(arch_parameters())
        if self._batches is None:
            self._capture(trainer, pl_module)
        device = pl_module.device
        reduce = trainer.strategy.reduce if trainer.world_size > 1 else None
        with self._isolated(pl_module):
            loss = sum(self.loss(pl_module, x.to(device), y.to(device)) for x, y in self._batches) / len(self._batches)
            local = hessian_vector_product(loss, params)

            def hvp(vector: Sequence[Tensor]) -> list[Tensor]:
                products = local(vector)
                if reduce is None:
                    return list(products)
                flat = reduce(torch.cat([p.reshape(-1) for p in products]), reduce_op="mean")
                return [chunk.view_as(p) for chunk, p in zip(flat.split([p.numel() for p in products]), products)]

            result = dominant_eigenvalue(
                hvp, params, num_iters=self.num_iters, tol=self.tol, generator=torch.Generator().manual_seed(self.seed)
            )
        epoch = trainer.current_epoch
        self._history[epoch] = result.value
        self._iterations[epoch] = result.iterations
        return result.value

    # ------------------------------------------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and not callable(getattr(pl_module, "arch_parameters", None)):
            raise TypeError(
                f"`HessianMonitor` needs the architecture parameters: `{type(pl_module).__name__}` has no "
                "`arch_parameters()` method (the DARTS-family modules have it)."
            )

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if self._batches is None and callable(getattr(datamodule, "val_dataloader", None)):
            self._capture(trainer, pl_module)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs:
            return
        value = self.compute(trainer, pl_module)
        # identical on every rank (the products are averaged); `sync_dist` keeps Lightning from warning
        pl_module.log(self.log_key, value, on_step=False, on_epoch=True, sync_dist=True)
        rank_zero_info(
            f"HessianMonitor: epoch {epoch}: dominant eigenvalue of the architecture Hessian {value:.4g} "
            f"({self._iterations[epoch]} iterations)"
        )

    # ------------------------------------------------------------------------------------------------------ state
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "history": {int(k): float(v) for k, v in self._history.items()},
            "iterations": {int(k): int(v) for k, v in self._iterations.items()},
            "ids": self._ids,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._history = {int(k): float(v) for k, v in state_dict.get("history", {}).items()}
        self._iterations = {int(k): int(v) for k, v in state_dict.get("iterations", {}).items()}
        self._ids = state_dict.get("ids")
        self._batches = None
