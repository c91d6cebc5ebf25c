"""The baseline classifier of the entropy proxy data: a CIFAR ResNet trained with Lightning, and its pool logits.

Proxy-data selection (Na et al., IJCAI 2021, spec 5.1) scores every training example by the entropy of a
pre-trained baseline's prediction: ResNet-20 (16 base filters) for CIFAR-10 and SVHN, ResNet-56 for CIFAR-100,
trained on the target training set, then evaluated in eval mode without augmentation. This module provides

* :func:`cifar_resnet`, the standard CIFAR ResNet of He et al. (2016): a 3x3 stem with 16 filters, three stages of
  ``(depth - 2) / 6`` basic blocks at 16, 32 and 64 filters (stride 2 at the start of stages 2 and 3), global
  average pooling and a linear classifier; shortcuts of type A (identity with strided subsampling and zero-padded
  channels, 0.27M parameters for ResNet-20), as in the paper;
* :class:`BaselineClassifier`, a ``LightningModule`` that trains any classifier with SGD and a cosine schedule;
* :func:`train_baseline`, which trains it with a ``lightning.Trainer`` on a search data module's whole pool (both
  splits, training augmentation) and caches the trained weights on disk;
* :func:`predict_logits`, the pool's logits in id order (eval transform), cached like the embeddings.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.utilities.seed import isolate_rng
from torch import Tensor, nn
from torch.utils.data import DataLoader
from typing_extensions import override

from lightning_nas.data import (
    FixedIds,
    IndexedDataset,
    ShuffledSplitSampler,
    collate_indexed,
    missing_search_data_members,
)
from lightning_nas.embeddings import (
    array_fingerprint,
    cache_file,
    cached_array,
    data_fingerprint,
    forward_all,
    module_fingerprint,
)
from lightning_nas.methods.divergence import DivergenceGuard

__all__ = [
    "BaselineClassifier",
    "cifar_resnet",
    "load_baseline",
    "predict_logits",
    "train_baseline",
]


# --------------------------------------------------------------------------------------------------------------------
# CIFAR ResNet
# --------------------------------------------------------------------------------------------------------------------
class _ShortcutA(nn.Module):
    """Identity shortcut of type A: strided subsampling and zero-padded extra channels (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = nn.functional.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = _ShortcutA(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CIFARResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016), Sec. 4.2; see :func:`cifar_resnet`."""

    def __init__(self, depth: int = 20, num_classes: int = 10, width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(_BasicBlock(channels, out_channels, stride=2 if stage > 0 and b == 0 else 1))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


def cifar_resnet(depth: int = 20, num_classes: int = 10, width: int = 16, in_channels: int = 3) -> CIFARResNet:
    """The standard CIFAR ResNet: ResNet-20 (``depth=20``), ResNet-56 (``depth=56``), ...

    Args:
        depth: ``6n + 2`` layers, ``n`` basic blocks per stage (20, 32, 44, 56, 110).
        num_classes: outputs of the classifier.
        width: filters of the first stage (16 in the paper; the stages have ``width``, ``2 width``, ``4 width``).
        in_channels: image channels.

    Raises:
        ValueError: ``depth`` is not ``6n + 2`` with ``n >= 1``, or another argument is out of range.

    Example:
        >>> net = cifar_resnet(20)
        >>> sum(p.numel() for p in net.parameters()), net(torch.rand(2, 3, 32, 32)).shape
        (269722, torch.Size([2, 10]))

    References:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2 (option A
        shortcuts); Na et al., "Accelerating Neural Architecture Search via Proxy Data", IJCAI 2021 (the baseline).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"`cifar_resnet(depth={depth!r})`: `depth` must be 6n + 2 with n >= 1. Got {depth!r} instead.")
    for name, value in (("num_classes", num_classes), ("width", width), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`cifar_resnet({name}={value!r})`: `{name}` must be an int >= 1. Got {value!r} instead.")
    return CIFARResNet(depth, num_classes, width, in_channels)


# --------------------------------------------------------------------------------------------------------------------
# Lightning module
# --------------------------------------------------------------------------------------------------------------------
class BaselineClassifier(LightningModule):
    """A classifier trained with SGD (momentum, weight decay) and a per-epoch cosine learning rate.

    The default network is the CIFAR ResNet-20 (:func:`cifar_resnet`). The training recipe is not in the proxy-data
    paper (only the resulting accuracies, 99.8 % train / 91.7 % test on CIFAR-10); the defaults are the usual CIFAR
    ResNet recipe (He et al.: SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128) with a cosine schedule, marked
    [inferred].

    Batches are ``(x, y, ...)``; extra elements (the pool ids of the search loaders) are ignored. Logged keys:
    ``baseline/loss``, ``baseline/acc``.

    Args:
        num_classes: number of classes (used when ``model`` is ``None``).
        depth: depth of the default CIFAR ResNet (20; the paper used 56 for CIFAR-100).
        in_channels: image channels of the default network.
        model: a classifier to train instead of the CIFAR ResNet (maps images to ``(B, num_classes)`` logits).
        lr: initial SGD learning rate.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        nesterov: Nesterov momentum.

    Example:
        >>> module = BaselineClassifier(num_classes=4)
        >>> module(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        num_classes: int = 10,
        depth: int = 20,
        in_channels: int = 3,
        model: nn.Module | None = None,
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        nesterov: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (name == "lr" and not lr):
                requirement = "> 0" if name == "lr" else ">= 0"
                raise ValueError(
                    f"`BaselineClassifier({name}={value!r})`: `{name}` must be a number {requirement}. "
                    f"Got {value!r} instead."
                )
        self.save_hyperparameters(ignore=["model"])
        self.divergence = DivergenceGuard(
            "BaselineClassifier", {"training loss": f"the learning rate `lr={lr}` is too large"}
        )
        self.model = model if model is not None else cifar_resnet(depth, num_classes, in_channels=in_channels)

    @override
    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    @override
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.divergence.watch("training loss", self.trainer.fit_loop.total_batch_idx, loss)
        self.divergence.check_if_due(self)
        self.log("baseline/loss", loss, prog_bar=True)
        self.log("baseline/acc", (logits.argmax(1) == y).float().mean(), prog_bar=True)
        return loss

    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.SGD(
            self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, nesterov=hp.nesterov
        )
        epochs = max(1, int(self.trainer.max_epochs or 1))
        return [optimizer], [torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)]


# --------------------------------------------------------------------------------------------------------------------
# training, loading and logits
# --------------------------------------------------------------------------------------------------------------------
def _pool_train_loader(datamodule: Any, batch_size: int, seed: int, num_workers: int) -> DataLoader:
    ids = np.arange(datamodule.pool_size, dtype=np.int64)
    sampler = ShuffledSplitSampler(FixedIds(ids), seed=seed, stream=3)
    dataset = IndexedDataset(datamodule.pool, datamodule.train_transform)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate_indexed,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def _check_datamodule(function: str, datamodule: Any) -> None:
    needed = ("pool", "pool_size", "pool_dataloader", "train_transform", "num_classes")
    if missing_search_data_members(datamodule, needed):
        raise TypeError(
            f"`{function}(datamodule=...)`: needs a `SearchDataModule` (or a data module wrapping one). "
            f"Got {type(datamodule).__name__} instead."
        )


def train_baseline(
    datamodule: Any,
    model: nn.Module | None = None,
    *,
    epochs: int = 200,
    batch_size: int = 128,
    depth: int = 20,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    seed: int = 0,
    accelerator: str = "auto",
    devices: int | list[int] | str = 1,
    num_workers: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    trainer_kwargs: dict[str, Any] | None = None,
) -> BaselineClassifier:
    """Trains the entropy baseline with a ``lightning.Trainer`` on the whole training pool of a search data module.

    Both splits are used (the baseline is trained on the target training set), shuffled each epoch with the
    data module's training augmentation (deterministic under ``seed``). The network is initialised under ``seed``
    without touching the global RNG. With ``cache_dir``, the trained weights are saved as ``baseline-<key>.pt``,
    keyed by the initial weights, the recipe and a fingerprint of the training data, and loaded instead of trained
    on the next call with the same inputs.

    Args:
        datamodule: a set-up :class:`~lightning_nas.datamodules.SearchDataModule` (``setup()`` is called if needed).
        model: the untrained network; ``None`` builds the CIFAR ResNet of ``depth`` for the data's classes.
        epochs: training epochs ([inferred]: the paper's baseline reaches 99.8 % train accuracy on CIFAR-10).
        batch_size: training batch size.
        depth: depth of the default CIFAR ResNet.
        lr: initial SGD learning rate (cosine to 0 over ``epochs``).
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        seed: seeds the initialisation, the order and the augmentation.
        accelerator: the Trainer's accelerator.
        devices: the Trainer's devices (one device: the baseline is small).
        num_workers: DataLoader worker processes.
        cache_dir: folder of the weight cache; ``None`` disables it. The key covers the plain (str, number, bool)
            ``trainer_kwargs`` such as ``precision``, not objects such as callbacks.
        progress: show the Trainer's progress bar.
        trainer_kwargs: further ``Trainer`` arguments (e.g. ``{"precision": "16-mixed"}``); they win over the above.

    Returns:
        The trained :class:`BaselineClassifier`, in eval mode, on the CPU.

    Raises:
        ValueError: ``epochs`` or ``batch_size`` is not a positive int.
        TypeError: ``datamodule`` is not a search data module.
    """
    _check_datamodule("train_baseline", datamodule)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`train_baseline({name}={value!r})`: `{name}` must be an int >= 1. Got {value!r} instead."
            )
    datamodule.setup("fit")
    with isolate_rng():
        torch.manual_seed(seed)
        in_channels = int(np.asarray(datamodule.pool_dataloader([0]).dataset[0][0]).shape[0])
        module = BaselineClassifier(
            num_classes=datamodule.num_classes,
            depth=depth,
            in_channels=in_channels,
            model=model,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
        )
    loader = _pool_train_loader(datamodule, batch_size, seed, num_workers)
    path = None
    if cache_dir is not None:
        parts = {
            "init": module_fingerprint(module),
            "recipe": {"epochs": epochs, "batch_size": batch_size, "seed": seed, **dict(module.hparams)},
            "data": data_fingerprint(loader),
            "labels": array_fingerprint(np.asarray(datamodule.labels)),
            # plain settings such as precision change the result; objects such as callbacks are left out
            "trainer": {k: v for k, v in (trainer_kwargs or {}).items() if isinstance(v, (str, int, float, bool))},
        }
        path = cache_file(cache_dir, "baseline", parts, ".pt")
        if path.is_file():
            try:
                module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                return module.eval()
            except (OSError, RuntimeError):
                pass  # a torn or foreign file: train again and overwrite
    options: dict[str, Any] = {
        "max_epochs": epochs,
        "accelerator": accelerator,
        "devices": devices,
        "logger": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "enable_progress_bar": progress,
        "num_sanity_val_steps": 0,
    }
    options.update(trainer_kwargs or {})
    with tempfile.TemporaryDirectory() as root, isolate_rng():
        options.setdefault("default_root_dir", root)
        Trainer(**options).fit(module, train_dataloaders=loader)
    module = module.cpu().eval()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(module.state_dict(), tmp)
        os.replace(tmp, path)
    return module


_BASELINE_ARGS = ("num_classes", "depth", "in_channels", "lr", "momentum", "weight_decay", "nesterov")


def load_baseline(path: str | os.PathLike, num_classes: int = 10, depth: int = 20, in_channels: int = 3) -> nn.Module:
    """Loads a trained baseline: a Lightning checkpoint of :class:`BaselineClassifier`, or a CIFAR ResNet state dict.

    Args:
        path: a ``.ckpt`` written by a Trainer fitting :class:`BaselineClassifier`, or a ``state_dict`` of
            ``cifar_resnet(depth, num_classes)`` (or of a :class:`BaselineClassifier` around it).
        num_classes: classes of the CIFAR ResNet (state dicts only).
        depth: depth of the CIFAR ResNet (state dicts only).
        in_channels: image channels of the CIFAR ResNet (state dicts only).

    Returns:
        The network in eval mode, on the CPU.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file fits neither format.
    """
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"`load_baseline({path!r})`: no such file.")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint and "hyper_parameters" in checkpoint:
        hp = {k: v for k, v in checkpoint["hyper_parameters"].items() if k in _BASELINE_ARGS}
        module = BaselineClassifier(**hp)
        module.load_state_dict(checkpoint["state_dict"])
        return module.eval()
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"`load_baseline({path!r})`: the file holds neither a Lightning checkpoint nor a state dict.")
    net = cifar_resnet(depth, num_classes, in_channels=in_channels)
    state = {k.removeprefix("model."): v for k, v in state.items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"`load_baseline({path!r})`: the state dict does not fit `cifar_resnet(depth={depth}, "
            f"num_classes={num_classes})`; pass the trained module itself (`baseline=module`) instead. ({err})"
        ) from err
    return net.eval()


def predict_logits(
    model: nn.Module,
    dataloader: DataLoader,
    *,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """The model's logits for every sample of a loader (eval mode, no gradients), cached like the embeddings.

    Args:
        model: maps images to ``(B, K)`` logits.
        dataloader: yields ``(x, ...)`` batches, e.g. ``datamodule.pool_dataloader()`` (the pool in id order with the
            eval transform, as spec 5.1 asks: eval mode, no augmentation).
        device: where to run; ``None`` uses CUDA when available, else the CPU.
        cache_dir: folder of the cache (``logits-<key>.npy``); ``None`` disables it.
        cache_key: identifies the data instead of its fingerprint.
        progress: show a progress bar.

    Returns:
        ``(N, K)`` float32 logits.

    Example:
        >>> loader = DataLoader(torch.rand(3, 3, 8, 8))
        >>> predict_logits(cifar_resnet(8, 4), loader, device="cpu", progress=False).shape
        (3, 4)
    """

    def compute() -> np.ndarray:
        return forward_all(model, dataloader, device=device, progress=progress, desc="baseline logits")

    if cache_dir is None:
        return compute()
    parts = {"model": module_fingerprint(model), "data": cache_key or data_fingerprint(dataloader)}
    return cached_array("logits", parts, compute, cache_dir)
