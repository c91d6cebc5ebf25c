"""Image embeddings for core-set selection: pretrained feature extractors, batched extraction and a disk cache.

The core-set paper embeds every training image with an ImageNet-pretrained Inception-v3 and uses the 2048-d
features after global average pooling (spec 4.1): images resized to 299x299 (bilinear) and normalised with the
ImageNet mean/std, eval mode, no augmentation. :func:`feature_extractor` builds such an extractor (Inception-v3,
ResNet-50 or any torchvision model with an ``fc`` head) whose forward pass does the resize and the normalisation
itself, so any image size works. :func:`extract_features` runs an extractor (or any ``nn.Module``) over a data loader
without gradients and caches the result on disk, keyed by the model's weights and a fingerprint of the data: the
next run with the same model and data loads the array instead of embedding again (embedding is the expensive part:
Inception-v3 at 299² embeds about 9 CIFAR images/s on one CPU core, 91 min for CIFAR-10's 50,000).

The cache (``<key>.npy`` plus a small ``<key>.json`` sidecar describing what was computed) is shared with the logits
of :mod:`lightning_nas.baseline`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, IterableDataset

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FeatureExtractor",
    "array_fingerprint",
    "cache_file",
    "cached_array",
    "data_fingerprint",
    "default_cache_dir",
    "extract_features",
    "feature_extractor",
    "module_fingerprint",
    "normalization_of",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CACHE_FORMAT = 1
# input sizes the torchvision weights were trained at
_DEFAULT_SIZES = {"inception_v3": 299}
_FALLBACK_SIZE = 224
_WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


# --------------------------------------------------------------------------------------------------------------------
# extractors
# --------------------------------------------------------------------------------------------------------------------
class FeatureExtractor(nn.Module):
    """A backbone whose forward pass first maps the incoming images to what the backbone was trained on.

    The images arrive normalised with ``input_mean``/``input_std`` (the data set's normalisation; ``(0, 1)`` means
    plain [0, 1] images). The forward pass undoes that normalisation, repeats a single channel three times,
    normalises with ``mean``/``std`` (ImageNet's for torchvision's models) and resizes to ``image_size`` x
    ``image_size`` (bilinear, antialiased when shrinking), then returns the backbone's output flattened to ``(N, D)``.

    Args:
        backbone: maps ``(N, 3, image_size, image_size)`` images to features (e.g. a torchvision model whose
            classifier was replaced by ``nn.Identity``).
        image_size: side of the square input of the backbone; ``None`` keeps the incoming size.
        mean: per-channel mean the backbone expects.
        std: per-channel std the backbone expects.
        input_mean: per-channel mean the incoming images were normalised with.
        input_std: per-channel std the incoming images were normalised with.

    Example:
        >>> net = FeatureExtractor(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), image_size=4)
        >>> net(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        backbone: nn.Module,
        image_size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        input_mean: Sequence[float] = (0.0,),
        input_std: Sequence[float] = (1.0,),
    ) -> None:
        super().__init__()
        bad_size = isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
        if image_size is not None and bad_size:
            raise ValueError(
                f"`FeatureExtractor(image_size={image_size!r})`: `image_size` must be an int >= 1 or None. "
                f"Got {image_size!r} instead."
            )
        self.backbone = backbone
        self.image_size = image_size
        self.register_buffer("mean", _channels("mean", mean))
        self.register_buffer("std", _channels("std", std, positive=True))
        self.register_buffer("input_mean", _channels("input_mean", input_mean))
        self.register_buffer("input_std", _channels("input_std", input_std, positive=True))

    def set_input_normalization(self, mean: Sequence[float], std: Sequence[float]) -> FeatureExtractor:
        """Declares how the incoming images are normalised (the data set's eval transform); returns ``self``."""
        device = self.mean.device
        self.input_mean = _channels("input_mean", mean).to(device)
        self.input_std = _channels("input_std", std, positive=True).to(device)
        return self

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}"

    def forward(self, x: Tensor) -> Tensor:
        x = x.float() * self.input_std + self.input_mean
        if x.shape[1] == 1 and self.mean.shape[1] != 1:
            x = x.expand(-1, self.mean.shape[1], -1, -1)
        x = (x - self.mean) / self.std
        size = self.image_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            shrink = min(x.shape[-2:]) > size
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
        out = self.backbone(x)
        if isinstance(out, (tuple, list)):  # e.g. torchvision's InceptionOutputs
            out = out[0]
        return out.flatten(1)


def _channels(name: str, values: Sequence[float], positive: bool = False) -> Tensor:
    t = torch.as_tensor(np.asarray(values, dtype=np.float32).reshape(-1))
    if t.numel() == 0 or not torch.isfinite(t).all() or (positive and (t <= 0).any()):
        requirement = "finite values > 0" if positive else "finite values"
        raise ValueError(
            f"`FeatureExtractor({name}={list(values)!r})`: `{name}` must hold one or more {requirement}. "
            f"Got {list(values)!r} instead."
        )
    return t.reshape(1, -1, 1, 1)


def _weights_hint(name: str, weights_enum: Any) -> str:
    url = getattr(weights_enum, "url", "")
    file = url.rsplit("/", 1)[-1] if url else f"{name}.pth"
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return (
        f"Download {url or 'the weights file'} on a machine with internet access and pass "
        f'`weights="/path/to/{file}"`, or put the file into {hub} (torchvision then finds it), or pass your own '
        "`nn.Module` as the extractor. `weights=None` gives random weights (for tests only)."
    )


def _load_state_dict_file(path: str) -> dict[str, Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"`feature_extractor(weights={path!r})`: the file does not hold a state dict.")
    return {k.removeprefix("module."): v for k, v in state.items()}


def feature_extractor(
    name: str | nn.Module = "inception_v3",
    weights: str | None = "DEFAULT",
    *,
    image_size: int | None = None,
    progress: bool = True,
) -> FeatureExtractor:
    """A torchvision model as an embedding function: the classifier replaced by ``nn.Identity``.

    ``"inception_v3"`` gives the core-set paper's 2048-d pool features at 299x299, ``"resnet50"`` 2048-d features
    at 224x224; any torchvision classification model with an ``fc`` head (``"resnet18"``, ...) works the same way.
    The returned :class:`FeatureExtractor` resizes and ImageNet-normalises its input itself; call its
    ``set_input_normalization`` with the data set's mean/std (the subset selections do) so it can undo the data
    set's normalisation first.

    Args:
        name: a torchvision model name, or an ``nn.Module`` that maps ImageNet-normalised images to features
            (wrapped as is, with ``image_size`` as given).
        weights: ``"DEFAULT"`` or a torchvision weights name (``"IMAGENET1K_V2"``) downloads/loads torchvision's
            pretrained weights; a path loads a state dict saved from the same torchvision model (e.g. the file
            torchvision downloads); ``None`` keeps the random initialisation (tests, throughput benchmarks).
        image_size: input side of the backbone; ``None`` uses 299 for Inception-v3 and 224 otherwise.
        progress: show torchvision's download progress.

    Returns:
        The extractor, in eval mode, on the CPU.

    Raises:
        ValueError: an unknown model name, a model without an ``fc`` head, or a weights file that does not fit.
        RuntimeError: torchvision's pretrained weights could not be downloaded; the message says how to pass a
            weights file or a module instead.

    Example:
        >>> net = feature_extractor("resnet18", weights=None, image_size=32)
        >>> net(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 512])
    """
    if isinstance(name, nn.Module):
        return FeatureExtractor(name, image_size=image_size).eval()
    import torchvision
    from torchvision.models import get_model, get_model_weights, list_models

    call = f"`feature_extractor({name!r}, weights={weights!r})`"
    if not isinstance(name, str) or name not in list_models(torchvision.models):
        raise ValueError(
            f"{call}: `name` must be a torchvision classification model (e.g. 'inception_v3', 'resnet50') or an "
            f"`nn.Module`. Got {name!r} instead."
        )
    is_file = isinstance(weights, os.PathLike) or (
        isinstance(weights, str)
        and (os.sep in weights or weights.lower().endswith(_WEIGHT_SUFFIXES) or Path(weights).is_file())
    )
    enum = None
    if weights is not None and not is_file:
        try:
            enum = get_model_weights(name).verify(weights)
        except (KeyError, ValueError, AttributeError) as err:
            raise ValueError(
                f"{call}: `weights` must be 'DEFAULT', a torchvision weights name of {name!r}, a file path or None. "
                f"Got {weights!r} instead."
            ) from err
    options: dict[str, Any] = {}
    if name == "inception_v3":
        # the pretrained checkpoint has the auxiliary head and expects torchvision's input transform
        options = {"aux_logits": True, "transform_input": weights is not None, "init_weights": weights is None}
    model = get_model(name, weights=None, **options)
    if enum is not None:
        try:
            state = enum.get_state_dict(progress=progress, check_hash=True)
        except (OSError, RuntimeError, ValueError) as err:
            raise RuntimeError(
                f"{call}: could not load torchvision's pretrained weights {enum} ({type(err).__name__}: {err}). "
                + _weights_hint(name, enum)
            ) from err
        model.load_state_dict(state)
    elif is_file:
        path = str(weights)
        if not Path(path).is_file():
            raise ValueError(f"{call}: no weights file at {path!r}.")
        state = _load_state_dict_file(path)
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shapes that differ
            raise ValueError(f"{call}: the weights file does not fit torchvision's {name!r}: {err}") from err
        optional = ("AuxLogits.", "fc.")
        bad = [k for k in missing + unexpected if not k.startswith(optional)]
        if bad:
            raise ValueError(
                f"{call}: the weights file does not fit torchvision's {name!r} ({len(bad)} mismatched keys, e.g. "
                f"{bad[:3]})."
            )
    if not hasattr(model, "fc"):
        raise ValueError(f"{call}: {name!r} has no `fc` head to replace; pass an `nn.Module` instead.")
    model.fc = nn.Identity()
    if name == "inception_v3":
        model.aux_logits = False
        model.AuxLogits = None
    size = image_size if image_size is not None else _DEFAULT_SIZES.get(name, _FALLBACK_SIZE)
    return FeatureExtractor(model, image_size=size).eval()


def normalization_of(transform: Any) -> tuple[list[float], list[float]] | None:
    """The ``(mean, std)`` a transform normalises with, or ``None`` if it cannot be found.

    Understands :class:`~lightning_nas.datamodules.TensorImageTransform` (attributes ``mean``/``std``), torchvision's
    ``Normalize`` and ``Compose`` (its last ``Normalize``).

    Example:
        >>> from torchvision import transforms as T
        >>> normalization_of(T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,))]))
        ([0.5], [0.25])
    """
    if transform is None:
        return None
    inner = getattr(transform, "transforms", None)
    if isinstance(inner, Sequence):
        found = [normalization_of(t) for t in inner]
        found = [f for f in found if f is not None]
        return found[-1] if found else None
    mean, std = getattr(transform, "mean", None), getattr(transform, "std", None)
    if mean is None or std is None:
        return None
    try:
        return np.asarray(mean, dtype=np.float64).reshape(-1).tolist(), np.asarray(std, dtype=np.float64).reshape(
            -1
        ).tolist()
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------------------------
# fingerprints and cache
# --------------------------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """The default cache folder: ``$LIGHTNING_NAS_CACHE`` or ``~/.cache/lightning_nas``."""
    return Path(os.environ.get("LIGHTNING_NAS_CACHE", Path.home() / ".cache" / "lightning_nas")).expanduser()


def _hash_value(h: Any, value: Any) -> None:
    if isinstance(value, Tensor):
        value = value.detach().cpu().contiguous().numpy()
    if hasattr(value, "getdata") and hasattr(value, "mode"):  # PIL image
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _hash_value(h, v)
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _hash_value(h, value[k])
    else:
        h.update(repr(value).encode())


def module_fingerprint(module: nn.Module) -> str:
    """A hex digest of a module's class, structure (``repr``) and every parameter and buffer.

    Two modules with the same architecture and weights get the same digest, whatever device they are on.

    Example:
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> module_fingerprint(a) == module_fingerprint(a), module_fingerprint(a) == module_fingerprint(b)
        (True, False)
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    h.update(repr(module).encode())
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        _hash_value(h, tensor)
    return h.hexdigest()


def data_fingerprint(dataloader: DataLoader, samples: int = 8) -> str:
    """A hex digest of what a map-style loader yields: its keys in order and a few samples' contents.

    Hashes the number of keys, every key the sampler yields (the pool ids for
    :meth:`~lightning_nas.datamodules.SearchDataModule.pool_dataloader`) and ``samples`` evenly spaced samples as the
    data set returns them (after the transform). Cheap: it loads ``samples`` samples, not the data.

    Args:
        dataloader: a loader over a map-style data set.
        samples: how many samples' contents to hash.

    Raises:
        ValueError: the loader iterates an ``IterableDataset`` (pass an explicit ``cache_key`` instead).

    Example:
        >>> ds = [(torch.tensor([float(i)]), i) for i in range(5)]
        >>> data_fingerprint(DataLoader(ds)) == data_fingerprint(DataLoader(ds[:4]))
        False
    """
    dataset = dataloader.dataset
    if isinstance(dataset, IterableDataset):
        raise ValueError(
            "`data_fingerprint()`: an `IterableDataset` cannot be fingerprinted without reading it; pass `cache_key`."
        )
    sampler = dataloader.batch_sampler.sampler if dataloader.batch_sampler is not None else dataloader.sampler
    keys = list(iter(sampler))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"n={len(keys)}".encode())
    _hash_value(h, np.asarray(keys, dtype=np.int64))
    if keys:
        picks = np.unique(np.linspace(0, len(keys) - 1, num=min(samples, len(keys))).round().astype(np.int64))
        for p in picks.tolist():
            _hash_value(h, dataset[keys[p]])
    return h.hexdigest()


def array_fingerprint(array: np.ndarray) -> str:
    """A hex digest of an array's dtype, shape and bytes.

    Example:
        >>> array_fingerprint(np.arange(3)) == array_fingerprint(np.arange(3)), array_fingerprint(np.arange(4))[:0]
        (True, '')
    """
    h = hashlib.blake2b(digest_size=16)
    _hash_value(h, np.asarray(array))
    return h.hexdigest()


def _key_blob(kind: str, key_parts: dict[str, Any]) -> str:
    return json.dumps({"format": _CACHE_FORMAT, "kind": kind, **key_parts}, sort_keys=True, default=str)


def cache_file(cache_dir: str | os.PathLike, kind: str, key_parts: dict[str, Any], suffix: str) -> Path:
    """The cache path ``<cache_dir>/<kind>-<key><suffix>``, ``key`` being a digest of ``kind`` and ``key_parts``."""
    key = hashlib.blake2b(_key_blob(kind, key_parts).encode(), digest_size=12).hexdigest()
    return Path(cache_dir).expanduser() / f"{kind}-{key}{suffix}"


def cached_array(
    kind: str, key_parts: dict[str, Any], compute: Callable[[], np.ndarray], cache_dir: str | os.PathLike | None
) -> np.ndarray:
    """Loads ``<cache_dir>/<kind>-<key>.npy`` if present and matching, else computes and saves it.

    The key is a digest of ``key_parts`` (e.g. the model and data fingerprints); the JSON sidecar records them, the
    array's shape and dtype. A sidecar or array that does not match is a miss (and is overwritten). Writes are atomic
    (a temporary file renamed into place), so concurrent writers cannot leave a torn file.

    Args:
        kind: a file name prefix, e.g. ``"features"`` or ``"logits"``.
        key_parts: JSON-serialisable description of what the array depends on.
        compute: returns the array on a miss.
        cache_dir: the folder; ``None`` disables the cache.

    Returns:
        The cached or computed array.

    Example:
        >>> import tempfile
        >>> calls = []
        >>> def compute():
        ...     calls.append(1)
        ...     return np.ones(3, dtype=np.float32)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = cached_array("demo", {"a": 1}, compute, d)
        ...     _ = cached_array("demo", {"a": 1}, compute, d)
        ...     _ = cached_array("demo", {"a": 2}, compute, d)
        >>> len(calls)
        2
    """
    if cache_dir is None:
        return compute()
    array_path = cache_file(cache_dir, kind, key_parts, ".npy")
    key, folder, blob = array_path.stem.split("-")[-1], array_path.parent, _key_blob(kind, key_parts)
    meta_path = array_path.with_suffix(".json")
    if array_path.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(array_path, mmap_mode=None, allow_pickle=False)
            if meta.get("key") == key and list(array.shape) == meta.get("shape") and str(array.dtype) == meta["dtype"]:
                return array
        except (OSError, ValueError, KeyError):
            pass  # a torn or foreign file: recompute and overwrite
    array = compute()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".{os.getpid()}.tmp"
    with open(str(array_path) + suffix, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(str(array_path) + suffix, array_path)
    meta = {
        "key": key,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **json.loads(blob),
    }
    Path(str(meta_path) + suffix).write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(str(meta_path) + suffix, meta_path)
    return array


# --------------------------------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------------------------------
def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _inputs(batch: Any) -> Tensor:
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    raise TypeError(
        "the loader must yield image tensors or `(x, ...)` tuples whose first element is the image tensor. "
        f"Got {type(batch).__name__} instead."
    )


def _num_samples(dataloader: Iterable) -> int | None:
    try:
        sampler = dataloader.batch_sampler.sampler if dataloader.batch_sampler is not None else dataloader.sampler
        return len(sampler)
    except (AttributeError, TypeError):
        return None


@torch.no_grad()
def forward_all(
    module: nn.Module,
    dataloader: Iterable,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    desc: str = "embedding",
) -> np.ndarray:
    """Runs ``module`` in eval mode without gradients over every batch and stacks the outputs as float32 ``(N, D)``.

    The module is moved to ``device`` for the pass; its device and train/eval mode are restored afterwards.

    Args:
        module: maps a batch of inputs to ``(B, ...)`` outputs (flattened to ``(B, D)``).
        dataloader: yields tensors or ``(x, ...)`` tuples (e.g. the ``(x, y, index)`` batches of the search loaders).
        device: where to run; ``None`` uses CUDA when available, else the CPU.
        progress: show a progress bar (images/s).
        desc: the progress bar's label.

    Returns:
        The outputs, row ``i`` for the ``i``-th sample the loader yields.
    """
    device = _resolve_device(device)
    tensors = [*module.parameters(), *module.buffers()]
    home = tensors[0].device if tensors else torch.device("cpu")
    was_training = module.training
    module.eval().to(device)
    chunks: list[np.ndarray] = []
    try:
        from tqdm.auto import tqdm

        with tqdm(total=_num_samples(dataloader), desc=desc, unit="img", disable=not progress, leave=False) as bar:
            for batch in dataloader:
                x = _inputs(batch).to(device, non_blocking=True)
                out = module(x)
                if isinstance(out, (tuple, list)):
                    out = out[0]
                chunks.append(out.detach().float().reshape(len(x), -1).cpu().numpy())
                bar.update(len(x))
    finally:
        module.train(was_training).to(home)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def extract_features(
    module_or_name: nn.Module | str,
    dataloader: DataLoader,
    *,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Embeds every sample of a loader: batched, ``torch.no_grad``, eval mode, optionally cached on disk.

    With ``cache_dir``, the result is stored as ``features-<key>.npy`` (+ a ``.json`` sidecar) and loaded on the next
    call with the same model weights and data; any change of the weights, of the ids the loader yields or of the
    sampled image contents (hence of the transform) gives another key, i.e. a miss.

    Args:
        module_or_name: an ``nn.Module`` (e.g. from :func:`feature_extractor`) or a torchvision model name, built with
            ``feature_extractor(name)`` (pretrained weights; the images are then assumed to be in [0, 1]).
        dataloader: yields image tensors or ``(x, ...)`` tuples, in the order of the rows of the result (e.g.
            :meth:`~lightning_nas.datamodules.SearchDataModule.pool_dataloader`, which yields the pool in id order).
        device: where to run; ``None`` uses CUDA when available, else the CPU.
        cache_dir: folder of the disk cache; ``None`` disables it.
        cache_key: identifies the data instead of :func:`data_fingerprint` (needed for iterable data sets); the model
            is always fingerprinted by its weights.
        progress: show a progress bar.

    Returns:
        ``(N, D)`` float32 features.

    Example:
        >>> net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> loader = DataLoader(torch.rand(5, 3, 4, 4), batch_size=2)
        >>> extract_features(net, loader, device="cpu", progress=False).shape
        (5, 3)
    """
    module = feature_extractor(module_or_name) if isinstance(module_or_name, str) else module_or_name
    if not isinstance(module, nn.Module):
        raise TypeError(
            "`extract_features(module_or_name=...)`: must be an `nn.Module` or a torchvision model name. "
            f"Got {type(module_or_name).__name__} instead."
        )

    def compute() -> np.ndarray:
        return forward_all(module, dataloader, device=device, progress=progress, desc="embedding")

    if cache_dir is None:
        return compute()
    parts = {"model": module_fingerprint(module), "data": cache_key or data_fingerprint(dataloader)}
    return cached_array("features", parts, compute, cache_dir)
