"""Deprecated module path of the select-before-search data modules; import them from :mod:`lightning_nas.datamodules`.

The subset selections now live one per module: the base and its plumbing in
:mod:`~lightning_nas.datamodules.subset_selection` (:class:`SubsetSelectionDataModule`, formerly
``ReductionDataModule``), the manifest in :mod:`~lightning_nas.datamodules.manifest`, and the strategies in
:mod:`~lightning_nas.datamodules.random_subset`, :mod:`~lightning_nas.datamodules.coreset` and
:mod:`~lightning_nas.datamodules.entropy_proxy`.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from .coreset import CoresetDataModule
from .entropy_proxy import EntropyProxyDataModule, Weighting
from .manifest import MANIFEST_FORMAT, MANIFEST_NAME, ids_digest
from .random_subset import RandomSubsetDataModule
from .subset_selection import AlphaSplit, SubsetSelectionDataModule

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "AlphaSplit",
    "CoresetDataModule",
    "EntropyProxyDataModule",
    "RandomSubsetDataModule",
    "SubsetSelectionDataModule",
    "Weighting",
    "ids_digest",
]

_RENAMED: dict[str, type] = {"ReductionDataModule": SubsetSelectionDataModule}


def renamed(module: str, name: str) -> Any:
    """The class a deprecated name stands for, with a ``DeprecationWarning`` (a module ``__getattr__`` helper).

    Raises:
        AttributeError: ``name`` is not a deprecated name of ``module``.
    """
    if name not in _RENAMED:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    cls = _RENAMED[name]
    # `from package import name` first probes `hasattr(package, name)` (importlib's `_handle_fromlist`, looking for a
    # submodule of that name), then reads it: only the read warns, so an import warns once
    if sys._getframe(2).f_code.co_name == "_handle_fromlist":
        return cls
    warnings.warn(
        f"`{module}.{name}` is deprecated: use `lightning_nas.datamodules.{cls.__name__}` (the same class).",
        DeprecationWarning,
        stacklevel=3,
    )
    return cls


def __getattr__(name: str) -> Any:
    return renamed(__name__, name)
