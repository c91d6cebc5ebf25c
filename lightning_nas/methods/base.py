"""The Lightning wiring every search or training module of :mod:`lightning_nas.methods` shares."""

from __future__ import annotations

import numbers
from typing import Any

from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from lightning_nas.methods.divergence import DivergenceGuard, predictions
from lightning_nas.spaces import Genotype

__all__ = ["SearchModule"]


class SearchModule(LightningModule):
    """Base of the DARTS family, the single-path family and :class:`~lightning_nas.methods.ArchitectureTraining`.

    It holds what they share, so that they log the same keys the same way:

    * accuracy metrics ``train_acc``, ``val_acc``, ``test_acc`` (:meth:`configure_metrics`; torchmetrics states,
      not in the ``state_dict``);
    * ``validation_step``/``test_step``: the loss (:meth:`evaluation_loss`) and the accuracy of
      :meth:`evaluation_logits` on the batch, logged as ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``
      (epoch means; ``val/acc`` on the progress bar). A row of non-finite logits counts as wrong
      (:func:`~lightning_nas.methods.predictions`);
    * at fit start, a data module with more classes than ``num_classes`` is refused;
    * at the end of every training epoch, the divergence guard ``self.divergence`` is checked and, when
      :attr:`logs_genotype` is true, the current :meth:`genotype` is printed and written as text
      (``search/genotype``) to the loggers that take text (:meth:`log_genotype`);
    * :meth:`log_weight_lr`: the weights' learning rate at the start of each epoch (``search/weight_lr``).

    A subclass builds its network, ``self.divergence`` (a :class:`~lightning_nas.methods.DivergenceGuard`) and calls
    :meth:`configure_metrics` in ``__init__``, and implements :meth:`genotype` and ``training_step``.

    Example:
        >>> from lightning_nas.methods import DARTS, SPOS, ArchitectureTraining
        >>> all(issubclass(cls, SearchModule) for cls in (DARTS, SPOS, ArchitectureTraining))
        True
    """

    logs_genotype: bool = True
    """Whether :meth:`genotype` is logged every epoch (the search methods: yes; a fixed architecture: no)."""

    divergence: DivergenceGuard

    def configure_metrics(self, num_classes: int, *, validate_train_args: bool = True) -> None:
        """Creates ``train_acc``, ``val_acc`` and ``test_acc`` (micro-averaged multiclass accuracy).

        Args:
            num_classes: the number of classes.
            validate_train_args: whether ``train_acc`` checks its inputs on every update (a host synchronization:
                the DARTS family, which feeds it its own logits and labels, turns it off).
        """
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=validate_train_args)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def genotype(self) -> Genotype:
        """The architecture the module currently stands for (the derived one during a search)."""
        raise NotImplementedError(f"`{type(self).__name__}` must implement `genotype()`.")

    # ------------------------------------------------------------------ evaluation hooks
    def evaluation_batch(self, batch: Any, batch_idx: int) -> tuple[Tensor, Tensor]:
        """``(x, y)`` of a validation or test batch (``(x, y, ...)``); subclasses check the batch here."""
        return batch[0], batch[1]

    def evaluation_logits(self, x: Tensor) -> Tensor:
        """The logits validation and test score: ``self(x)``."""
        return self(x)

    def evaluation_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The loss validation and test log: plain cross-entropy."""
        return nn.functional.cross_entropy(logits, y)

    def _evaluate(self, batch: Any, batch_idx: int, stage: str, metric: MulticlassAccuracy) -> Tensor:
        x, y = self.evaluation_batch(batch, batch_idx)
        logits = self.evaluation_logits(x)
        loss = self.evaluation_loss(logits, y)
        metric(predictions(logits, y), y)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log(f"{stage}/acc", metric, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))
        return loss

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, batch_idx, "val", self.val_acc)

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, batch_idx, "test", self.test_acc)

    # ------------------------------------------------------------------ checks and logging
    @override
    def on_fit_start(self) -> None:
        self.check_num_classes()

    def check_num_classes(self) -> None:
        """Refuses a data module (``trainer.datamodule.num_classes``) with more classes than ``num_classes``.

        Raises:
            ValueError: the data has more classes than the module's ``num_classes``.
        """
        datamodule = getattr(self.trainer, "datamodule", None)
        data_classes = getattr(datamodule, "num_classes", None)
        num_classes = self.hparams.num_classes
        is_count = isinstance(data_classes, numbers.Integral) and not isinstance(data_classes, bool)
        if is_count and data_classes > num_classes:
            raise ValueError(
                f"`{type(self).__name__}(num_classes={num_classes})` is smaller than the data's "
                f"{data_classes} classes. Set num_classes={data_classes}."
            )

    def log_weight_lr(self, optimizer: Any, *, sync_dist: bool = False, key: str = "search/weight_lr") -> None:
        """Logs the learning rate of ``optimizer``'s first parameter group as an epoch value under ``key``."""
        self.log(key, optimizer.param_groups[0]["lr"], on_step=False, on_epoch=True, sync_dist=sync_dist)

    def log_genotype(self) -> None:
        """Prints the current genotype (rank 0) and writes it as text, ``search/genotype``, to text loggers."""
        genotype = str(self.genotype())
        rank_zero_info(f"Epoch {self.current_epoch}: genotype {genotype}")
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                add_text = getattr(getattr(logger, "experiment", None), "add_text", None)
                if callable(add_text):
                    add_text("search/genotype", genotype, global_step=self.current_epoch)

    @override
    def on_train_epoch_end(self) -> None:
        self.divergence.check()  # on a GPU the steps check every `log_every_n_steps` batches only
        if self.logs_genotype:
            self.log_genotype()
