"""Training one child architecture under a reduced setting: the unit of work of evolutionary searches (EcoNAS).

A :class:`ChildJob` describes everything a worker needs (plain, picklable values: a genotype string, a
:class:`~lightning_nas.search.ReducedSetting`, the data module as ``class_path``/``init_args``, extra module and
Trainer arguments), so a search can hand jobs to any :class:`concurrent.futures.Executor` (in-process, local
processes, Dask's ``client.get_executor()``, Ray) and get :class:`ChildResult` values back. :func:`train_child` builds
the data module and an :class:`~lightning_nas.methods.ArchitectureTraining` module in the worker and trains them with
a plain ``lightning.Trainer``.

Staged training (EcoNAS's hierarchical proxies, spec 7.3): a job trains epochs ``[start_epoch, stop_epoch)`` of one
cosine schedule of ``setting.e`` epochs. ``start_epoch = 0`` starts from scratch; otherwise the job resumes from the
checkpoint the earlier job of the same child wrote in the same ``workdir`` (:func:`child_checkpoint_path`), with
``Trainer.fit(ckpt_path=...)``: weights, optimizer momentum, scheduler position, epoch counter and data-module state
continue, so training ``0 -> 20 -> 40`` gives the same network as ``0 -> 40``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from lightning_nas.search.reduced import ReducedSetting

__all__ = [
    "CHILD_MODULE_DEFAULTS",
    "CHILD_SPACES",
    "ChildJob",
    "ChildResult",
    "build_child_datamodule",
    "child_checkpoint_path",
    "train_child",
]

CHILD_SPACES: tuple[str, ...] = ("econas", "darts", "nasbench201")
"""The spaces a child may belong to."""

# Data-module arguments a child needs: EcoNAS's held-out 5k of the 50k CIFAR-10 training images (Section 5) is the
# architecture split with val_fraction=0.1, drawn at random within every class (split="stratified": the paper's
# random 5k holds every class in about equal shares; stratifying makes that exact and never leaves a class out of a
# small data set); the seed is fixed so every child of a search shares the same held-out split, subset, order and
# augmentation (comparable accuracies) whatever its own seed.
_DATA_DEFAULTS: dict[str, Any] = {"val_fraction": 0.1, "split": "stratified", "seed": 0}

CHILD_MODULE_DEFAULTS: dict[str, Any] = {"lr_min": 0.001}
""":class:`~lightning_nas.methods.ArchitectureTraining` arguments of every child unless its ``module`` options set
them: EcoNAS's training recipe (Appendix A5.2: a cosine from ``lr_max`` down to ``lr_min = 0.001``, kept by the
reduced settings). ``ArchitectureTraining``'s own default (``lr_min = 0``, DARTS's retraining) is left unchanged;
``module={"lr_min": 0.0}`` gives the official search code's ``eta_min = 0``."""

_RESERVED_TRAINER = ("max_epochs", "min_epochs", "max_steps", "max_time")
_RESERVED_MODULE = ("genotype", "search_space", "schedule_epochs")


@dataclass(frozen=True)
class ChildJob:
    """What a worker needs to train one child for epochs ``[start_epoch, stop_epoch)`` of a reduced setting.

    Attributes:
        child_id: the searcher's id of the child (returned in the result).
        genotype: the architecture's canonical string.
        search_space: ``"econas"``, ``"darts"`` or ``"nasbench201"``.
        setting: the reduced setting (a name such as ``"c4r4s0e60"`` is read with
            :meth:`~lightning_nas.search.ReducedSetting.coerce`); ``setting.e`` is the length of the cosine schedule.
        start_epoch: 0 trains from scratch; otherwise resume from ``child_checkpoint_path(workdir, start_epoch)``,
            written by the earlier job of this child.
        stop_epoch: train until this many epochs are done, ``start_epoch < stop_epoch <= setting.e``.
        workdir: the child's directory (checkpoints ``epoch_<n>.ckpt``, CSV logs); the same for all its stages.
        seed: seeds the weights' initialisation and the cutout positions (``lightning.seed_everything``).
        data: the base search data module as ``{"class_path": ..., "init_args": {...}}`` (a full dotted path, or a
            class name of :mod:`lightning_nas.datamodules`); built in the worker with EcoNAS's held-out split
            (defaults ``val_fraction=0.1, split="stratified", seed=0``, overridable) and ``paired=False``.
        module: extra :class:`~lightning_nas.methods.ArchitectureTraining` arguments (``lr``, ``lr_min``,
            ``weight_decay``, ``num_classes``, ``space_options`` such as ``layers`` or ``in_channels``, ...), over
            :data:`CHILD_MODULE_DEFAULTS` (``lr_min = 0.001``, EcoNAS A5.2). ``cutout`` is the full-resolution length,
            scaled by ``r / 32``; ``C`` comes from ``setting.c``.
        trainer: extra ``Trainer`` arguments (``accelerator``, ``devices``, ``precision``, ``limit_train_batches``,
            ``logger``, ``callbacks``, ...); the epoch limits are the job's.

    Raises:
        ValueError: if a field is out of range (epochs, space, data), or the cosine's ``lr_min`` exceeds ``lr``.
    """

    child_id: int
    genotype: str
    search_space: str
    setting: ReducedSetting
    start_epoch: int
    stop_epoch: int
    workdir: str
    seed: int
    data: dict
    module: dict = field(default_factory=dict)
    trainer: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "setting", ReducedSetting.coerce(self.setting))
        if self.search_space not in CHILD_SPACES:
            raise ValueError(self._msg("search_space", f"must be one of {list(CHILD_SPACES)}"))
        for name in ("child_id", "start_epoch", "stop_epoch", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(self._msg(name, "must be an int"))
        if self.start_epoch < 0:
            raise ValueError(self._msg("start_epoch", "must be >= 0"))
        if not self.start_epoch < self.stop_epoch <= self.setting.e:
            raise ValueError(self._msg("stop_epoch", f"must be in ({self.start_epoch}, setting.e = {self.setting.e}]"))
        if not isinstance(self.data, Mapping) or "class_path" not in self.data:
            raise ValueError(self._msg("data", 'must be a dict {"class_path": ..., "init_args": {...}}'))
        reserved = sorted(set(self.module) & set(_RESERVED_MODULE))
        if reserved:
            raise ValueError(self._msg("module", f"must not set {reserved} (the job's genotype, space and setting)"))
        reserved = sorted(set(self.trainer) & set(_RESERVED_TRAINER))
        if reserved:
            raise ValueError(self._msg("trainer", f"must not set {reserved} (the job's epochs)"))
        lr, lr_min = self.module.get("lr", _default_lr()), self.module.get("lr_min", CHILD_MODULE_DEFAULTS["lr_min"])
        if _is_number(lr) and _is_number(lr_min) and lr_min > lr:
            default = CHILD_MODULE_DEFAULTS["lr_min"]
            raise ValueError(
                self._msg(
                    "module",
                    f"is invalid: `lr_min` ({lr_min}) must not exceed `lr` ({lr}) (the children's `lr_min` defaults "
                    f"to {default}, EcoNAS A5.2)",
                )
            )

    def _msg(self, name: str, requirement: str) -> str:
        value = getattr(self, name)
        return f"`ChildJob({name}={value!r})`: `{name}` {requirement}. Got {value!r} instead."


@dataclass(frozen=True)
class ChildResult:
    """What :func:`train_child` returns.

    Attributes:
        child_id: the job's ``child_id``.
        val_accuracies: the validation accuracy **in percent** (the held-out split) after each epoch trained in
            ``[start_epoch, stop_epoch)``, in order.
        checkpoint: path of the checkpoint at ``stop_epoch`` (:func:`child_checkpoint_path`).
        epochs: ``stop_epoch``, the epochs the child has trained in all.
        seconds: wall-clock seconds of the job.
    """

    child_id: int
    val_accuracies: tuple[float, ...]
    checkpoint: str
    epochs: int
    seconds: float


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _default_lr() -> float:
    """``ArchitectureTraining``'s default ``lr`` (the children's when their ``module`` options set none)."""
    from lightning_nas.methods import ArchitectureTraining

    return inspect.signature(ArchitectureTraining).parameters["lr"].default


def child_checkpoint_path(workdir: str, epoch: int) -> str:
    """Where the job that stops at ``epoch`` writes its checkpoint, and where the next stage resumes from.

    Example:
        >>> child_checkpoint_path("runs/child_7", 20)
        'runs/child_7/epoch_20.ckpt'
    """
    return os.path.join(workdir, f"epoch_{epoch}.ckpt")


def _data_class(class_path: object) -> type:
    from lightning_nas.datamodules import SearchDataModule

    if isinstance(class_path, type):
        cls = class_path
    elif isinstance(class_path, str) and "." in class_path:
        module_name, _, name = class_path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"`ChildJob(data=...)`: cannot import {class_path!r} ({err}).") from None
    elif isinstance(class_path, str):
        import lightning_nas.datamodules as datamodules

        cls = getattr(datamodules, class_path, None)
    else:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, SearchDataModule)):
        raise ValueError(
            f"`ChildJob(data=...)`: `class_path` must name a SearchDataModule subclass (e.g. "
            f"'lightning_nas.datamodules.CIFAR10SearchDataModule'). Got {class_path!r} instead."
        )
    return cls


def build_child_datamodule(data: Mapping[str, Any], setting: ReducedSetting | str) -> Any:
    """Build a child's data module: the base search data module, wrapped for the setting's ``r`` and ``s``.

    The base gets EcoNAS's held-out validation split unless ``init_args`` says otherwise (``val_fraction=0.1,
    split="stratified", seed=0``) and always ``paired=False`` (the child trains on the weight split and validates on the
    held-out architecture split).

    Args:
        data: ``{"class_path": ..., "init_args": {...}}``.
        setting: the reduced setting.

    Returns:
        A :class:`~lightning_nas.datamodules.ReducedDataModule`.

    Raises:
        ValueError: if the class is not a search data module or ``init_args`` asks for paired batches.
    """
    cls = _data_class(data.get("class_path"))
    init_args = dict(data.get("init_args") or {})
    if init_args.get("paired", False):
        raise ValueError(
            "`ChildJob(data=...)`: a child trains on plain batches of the weight split; `init_args` must not set "
            "`paired=True`."
        )
    base = cls(**{**_DATA_DEFAULTS, **init_args, "paired": False})
    return ReducedSetting.coerce(setting).datamodule(base)


class _ValidationAccuracies(Callback):
    """Records ``val/acc`` after every validation run outside the sanity check, by epoch."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, float] = {}

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or "val/acc" not in trainer.callback_metrics:
            return
        self.by_epoch[trainer.current_epoch] = 100.0 * float(trainer.callback_metrics["val/acc"])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silences Lightning's info messages (devices, seeds, 'max_epochs reached') and its PossibleUserWarnings."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PossibleUserWarning)
            # a stage that is trained again (e.g. after an interrupted search) rewrites its own CSV logs
            warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def train_child(job: ChildJob) -> ChildResult:
    """Train ``job.genotype`` for epochs ``[job.start_epoch, job.stop_epoch)`` of ``job.setting`` and checkpoint it.

    In the worker: seeds everything with ``job.seed``, builds the data module (:func:`build_child_datamodule`) and an
    :class:`~lightning_nas.methods.ArchitectureTraining` module with the setting's arguments
    (:meth:`~lightning_nas.search.ReducedSetting.module_kwargs`: ``C = c``, cosine over ``setting.e`` epochs, no drop
    path, cutout scaled), EcoNAS's ``lr_min = 0.001`` (:data:`CHILD_MODULE_DEFAULTS`) and ``job.module``, then
    fits a ``Trainer(max_epochs=stop_epoch)`` (no progress bar, no model summary, no sanity check, a CSV logger in
    ``workdir/logs``, no automatic checkpoints) and saves the checkpoint at ``stop_epoch`` with
    ``trainer.save_checkpoint``. With ``start_epoch > 0`` it resumes from
    ``child_checkpoint_path(workdir, start_epoch)`` (which must hold that epoch) with ``fit(ckpt_path=...)``.
    The same job gives the same result on the same device: initialisation, data order, augmentation and cutout are
    seeded. Use it in-process or with a process executor (threads would share the global seed).

    Args:
        job: the child and its stage.

    Returns:
        The per-epoch validation accuracies of the stage and the checkpoint.

    A child whose training diverges (a non-finite loss: :class:`~lightning_nas.methods.DivergenceError`) gets NaN
    accuracy for every epoch of the job, which ranks it last, and no checkpoint; a warning names it, and a
    ``diverged.json`` in ``workdir`` makes its later stages NaN too, without training. One network whose
    training blows up (an architecture too deep for the learning rate) does not end the search.

    Raises:
        FileNotFoundError: if ``start_epoch > 0`` and the checkpoint to resume from is missing.
        ValueError: if that checkpoint holds another epoch, or the data module is unusable.
        RuntimeError: if training stopped early or an epoch was not validated.

    Example:
        >>> import tempfile
        >>> x, y = torch.rand(40, 3, 16, 16), torch.arange(40) % 2
        >>> data = {"class_path": "ArraySearchDataModule",  # a stratified held-out split: both classes in 4 samples
        ...     "init_args": {"x_train": x, "y_train": y, "batch_size": 8, "split": "stratified"}}
        >>> job = ChildJob(child_id=0, search_space="nasbench201", setting="c4r4s0e2", start_epoch=0, stop_epoch=1,
        ...     genotype="|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
        ...     workdir=tempfile.mkdtemp(), seed=0, data=data, module={"space_options": {"N": 1}},
        ...     trainer={"accelerator": "cpu", "limit_train_batches": 2})
        >>> result = train_child(job)
        >>> len(result.val_accuracies), result.epochs, os.path.basename(result.checkpoint)
        (1, 1, 'epoch_1.ckpt')
    """
    from lightning_nas.methods.divergence import DivergenceError

    started = time.perf_counter()
    os.makedirs(job.workdir, exist_ok=True)
    diverged = os.path.join(job.workdir, DIVERGED_FILE)
    if os.path.isfile(diverged):  # an earlier stage of this child diverged: it stays at NaN, untrained
        return _diverged_result(job, started)
    resume_from = None
    if job.start_epoch > 0:
        resume_from = child_checkpoint_path(job.workdir, job.start_epoch)
        _check_checkpoint(resume_from, job.start_epoch)
    with _quiet():
        seed_everything(job.seed, workers=True)
        datamodule = build_child_datamodule(job.data, job.setting)
        module = _build_module(job, datamodule)
        recorder = _ValidationAccuracies()
        trainer_kwargs: dict[str, Any] = {
            "default_root_dir": job.workdir,
            "logger": CSVLogger(job.workdir, name="logs", version=f"epochs_{job.start_epoch}_{job.stop_epoch}"),
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            **job.trainer,
        }
        trainer_kwargs["callbacks"] = [*list(job.trainer.get("callbacks") or []), recorder]
        trainer = Trainer(max_epochs=job.stop_epoch, **trainer_kwargs)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        except DivergenceError as err:
            with open(diverged, "w") as file:
                json.dump({"child_id": job.child_id, "genotype": job.genotype, "error": str(err)}, file)
            warnings.warn(f"`train_child`: child {job.child_id} diverged; its accuracies are NaN. {err}", stacklevel=2)
            return _diverged_result(job, started)
        if trainer.current_epoch != job.stop_epoch:
            raise RuntimeError(
                f"`train_child`: child {job.child_id} stopped after {trainer.current_epoch} epochs instead of "
                f"{job.stop_epoch} (a callback stopped it, or `trainer` limits the run)."
            )
        checkpoint = child_checkpoint_path(job.workdir, job.stop_epoch)
        trainer.save_checkpoint(checkpoint)
    missing = [epoch for epoch in range(job.start_epoch, job.stop_epoch) if epoch not in recorder.by_epoch]
    if missing:
        raise RuntimeError(
            f"`train_child`: child {job.child_id} was not validated after epoch(s) {missing}; validate every epoch "
            "(`check_val_every_n_epoch=1`, `limit_val_batches > 0`)."
        )
    accuracies = tuple(recorder.by_epoch[epoch] for epoch in range(job.start_epoch, job.stop_epoch))
    return ChildResult(
        child_id=job.child_id,
        val_accuracies=accuracies,
        checkpoint=checkpoint,
        epochs=job.stop_epoch,
        seconds=time.perf_counter() - started,
    )


DIVERGED_FILE = "diverged.json"
"""Written in a child's ``workdir`` when its training diverged (the guard's error): later stages skip it."""


def _diverged_result(job: ChildJob, started: float) -> ChildResult:
    """A diverged child: NaN accuracy for every epoch of the job (ranked last), no checkpoint."""
    return ChildResult(
        child_id=job.child_id,
        val_accuracies=(math.nan,) * (job.stop_epoch - job.start_epoch),
        checkpoint="",
        epochs=job.stop_epoch,
        seconds=time.perf_counter() - started,
    )


def _check_checkpoint(path: str, epoch: int) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`train_child`: start_epoch={epoch} resumes from {path!r}, which does not exist; train the child to epoch "
            f"{epoch} first (a job with stop_epoch={epoch} in the same workdir)."
        )
    saved = torch.load(path, map_location="cpu", weights_only=False).get("epoch")
    if saved != epoch:
        raise ValueError(f"`train_child`: the checkpoint {path!r} holds epoch {saved!r}, not start_epoch={epoch}.")


def _build_module(job: ChildJob, datamodule: Any) -> LightningModule:
    from lightning_nas.methods import ArchitectureTraining

    extra = dict(job.module)
    space_options = extra.pop("space_options", None)
    cutout = extra.pop("cutout", 16)
    kwargs = job.setting.module_kwargs(job.search_space, space_options, cutout=cutout)
    if "num_classes" not in extra:
        extra["num_classes"] = _num_classes(datamodule)
    return ArchitectureTraining(genotype=job.genotype, **{**kwargs, **CHILD_MODULE_DEFAULTS, **extra})


def _num_classes(datamodule: Any) -> int:
    try:
        return int(datamodule.num_classes)
    except RuntimeError:  # not known before the data is loaded
        datamodule.prepare_data()
        datamodule.setup("fit")
        return int(datamodule.num_classes)
