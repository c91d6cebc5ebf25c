"""The selection manifest: a JSON record of a subset selection (its ids, both splits, settings, content hash).

A :class:`~lightning_nas.datamodules.SubsetSelectionDataModule` writes one per run (by default
``selection_manifest.json`` in the Trainer's log directory) and ``manifest=path`` reuses it exactly in a later run.
Format ``lightning_nas.selection/1``::

    {"format": ..., "method": "coreset", "data_module": "CIFAR10SearchDataModule", "pool_size": 50000, "seed": 0,
     "settings": {...}, "sha256": ids_digest(selected, train, val), "summary": {...},
     "selected_ids": [...], "train_ids": [...], "val_ids": [...]}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "build_manifest", "ids_digest", "read_manifest", "write_manifest"]

MANIFEST_FORMAT = "lightning_nas.selection/1"
MANIFEST_NAME = "selection_manifest.json"


def ids_digest(selected: Any, train: Any, val: Any) -> str:
    """SHA-256 of the selected ids and both splits (sorted int64, little-endian): the manifest's content hash.

    Example:
        >>> a = ids_digest(np.array([1, 2]), np.array([1]), np.array([2]))
        >>> a == ids_digest(np.array([2, 1]), np.array([1]), np.array([2])), a == ids_digest([1, 2], [2], [1]), len(a)
        (True, False, 64)
    """
    h = hashlib.sha256()
    for part in (selected, train, val):
        values = np.sort(np.asarray(part, dtype="<i8").reshape(-1))
        h.update(len(values).to_bytes(8, "little"))
        h.update(values.tobytes())
    return h.hexdigest()


def build_manifest(
    *,
    method: str,
    data_module: str,
    pool_size: int,
    seed: int | None,
    settings: dict[str, Any],
    summary: dict[str, Any],
    selected: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
) -> dict[str, Any]:
    """The manifest's content (JSON-serialisable); ``summary`` loses its ``method`` key (recorded once, on top).

    Example:
        >>> m = build_manifest(method="random", data_module="X", pool_size=4, seed=0, settings={}, summary={},
        ...                    selected=np.array([0, 2]), train=np.array([0]), val=np.array([2]))
        >>> m["format"], m["selected_ids"], m["sha256"] == ids_digest([0, 2], [0], [2])
        ('lightning_nas.selection/1', [0, 2], True)
    """
    selected, train, val = (np.asarray(ids, dtype=np.int64) for ids in (selected, train, val))
    return {
        "format": MANIFEST_FORMAT,
        "method": method,
        "data_module": data_module,
        "pool_size": int(pool_size),
        "seed": seed,
        "settings": settings,
        "sha256": ids_digest(selected, train, val),
        "summary": {k: v for k, v in summary.items() if k != "method"},
        "selected_ids": selected.tolist(),
        "train_ids": train.tolist(),
        "val_ids": val.tolist(),
    }


def write_manifest(target: Path, content: dict[str, Any]) -> None:
    """Writes ``content`` to ``target`` atomically (a temporary file, then a rename); creates the folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=1))
    os.replace(tmp, target)


def read_manifest(path: str, *, owner: str, pool_size: int, data_module: str) -> dict[str, Any]:
    """Reads and checks a manifest: format, pool size, content hash and id range.

    Args:
        path: the manifest file.
        owner: how errors name the caller, e.g. ``"`CoresetDataModule(manifest='m.json')`"``.
        pool_size: the pool size of the data it is applied to.
        data_module: the class name of that data (for the error message).

    Returns:
        The manifest with its ids as int64 arrays under ``selected``, ``train`` and ``val``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a manifest, an unknown format, another pool size, ids that do not match the hash or lie
            outside ``[0, pool_size)``.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{owner}: no such file.")
    try:
        content = json.loads(file.read_text())
        selected, train, val = (
            np.asarray(content[k], dtype=np.int64) for k in ("selected_ids", "train_ids", "val_ids")
        )
        saved_size, digest = int(content["pool_size"]), str(content["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{owner}: not a selection manifest ({type(err).__name__}: {err}).") from err
    if content.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{owner}: unknown format {content.get('format')!r}; expected {MANIFEST_FORMAT!r}.")
    if saved_size != pool_size:
        raise ValueError(
            f"{owner}: the manifest was made for a pool of {saved_size:,} samples, but this {data_module} has "
            f"{pool_size:,}; it belongs to other data."
        )
    if ids_digest(selected, train, val) != digest:
        raise ValueError(f"{owner}: the ids do not match the manifest's sha256 (the file was edited or corrupted).")
    for ids in (selected, train, val):
        if len(ids) and (ids.min() < 0 or ids.max() >= pool_size):
            raise ValueError(f"{owner}: ids outside [0, {pool_size}).")
    return {**content, "selected": selected, "train": train, "val": val}
