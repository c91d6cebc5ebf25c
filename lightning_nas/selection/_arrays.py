"""Input conversion and validation shared by the selection functions (numpy arrays or torch tensors in)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


def to_numpy(values: Any) -> np.ndarray:
    """A numpy view or copy of an array-like or a (CPU or GPU, possibly half precision) torch tensor."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch.Tensor, without importing torch here
        values = values.detach().cpu()
        if values.is_floating_point() and values.dtype.itemsize < 4:  # float16 / bfloat16: numpy lacks bfloat16
            values = values.float()
        return values.numpy()
    return np.asarray(values)


def check_int(value: Any, name: str, call: str, low: int, high: int | None = None) -> int:
    """``value`` as a Python int in ``[low, high]``; ``ValueError`` naming ``call`` otherwise (bools refused)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if ok and low <= int(value) and (high is None or int(value) <= high):
        return int(value)
    allowed = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
    raise ValueError(f"`{call}`: `{name}` must be {allowed}. Got {value!r} instead.")


def check_index_array(values: Any, name: str, call: str, n: int | None = None, unique: bool = False) -> np.ndarray:
    """A 1-D int64 array of indices (in ``[0, n)`` when ``n`` is given, without repeats when ``unique``)."""
    arr = to_numpy(values)
    if arr.size == 0:
        arr = arr.reshape(0).astype(np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"`{call}`: `{name}` must be a 1-D array of integers. Got {describe(arr)} instead.")
    arr = arr.astype(np.int64, copy=False)
    if n is not None and arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = arr[(arr < 0) | (arr >= n)][:5].tolist()
        raise ValueError(f"`{call}`: `{name}` must hold indices in [0, {n}). Got out-of-range values {bad} instead.")
    if unique and np.unique(arr).size != arr.size:
        values_, counts = np.unique(arr, return_counts=True)
        raise ValueError(f"`{call}`: `{name}` must not repeat an index. Got {values_[counts > 1][:5].tolist()} twice.")
    return arr


def describe(arr: np.ndarray) -> str:
    """Short text for error messages: shape and dtype."""
    return f"an array of shape {tuple(arr.shape)} and dtype {arr.dtype}"
