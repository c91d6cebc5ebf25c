"""Figure helpers shared by every plot, and what a genotype's search space says about how to draw it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_nas.spaces import Genotype, GenotypeEdge, SearchSpace, get_search_space_class, list_search_spaces

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MOBILENET_STAGES"]


PathLike = str | os.PathLike

_MOBILENET: type[SearchSpace] = get_search_space_class("mobilenet")

MOBILENET_STAGES: tuple[int, ...] = _MOBILENET.stages or ()
"""Searchable layers per stage of the MobileNet chain space (21 layers; GreedyNAS / ProxylessNAS layout;
``MobileNetSpace.stages``)."""

_INSTALL_HINT = "pip install 'lightning-nas[plots]'"


# ------------------------------------------------------------------------------------------------- helpers
def _figure(width: float, height: float) -> Figure:
    """A new pyplot-free figure (``Agg`` renders it on save)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"lightning_nas.plots needs matplotlib: {_INSTALL_HINT}") from err
    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, path: PathLike | None, dpi: int) -> Figure:
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=dpi, format=target.suffix[1:].lower() or "png")
    return fig


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _finite_1d(call: str, name: str, values: Any, *, allow_empty: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{call}`: `{name}` must be a sequence of numbers. Got {values!r} instead.") from None
    if arr.ndim != 1 or (arr.size == 0 and not allow_empty) or not np.isfinite(arr).all():
        raise ValueError(
            f"`{call}`: `{name}` must be a non-empty 1-D sequence of finite numbers. "
            f"Got an array of shape {arr.shape}{' with non-finite values' if arr.ndim == 1 and arr.size else ''}."
        )
    return arr


def _integer_ticks(ax: Axes, values: np.ndarray) -> None:
    """Whole-number ticks on the x axis when every x value is a whole number (epochs, cycles)."""
    if values.size and np.all(values == np.round(values)):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _title(fig: Figure, title: str | None) -> None:
    if title:
        fig.suptitle(title)


# ------------------------------------------------------------------------------------ what the space says
def _space_class(genotype: Any) -> type[SearchSpace] | None:
    """The registered space of a genotype (or of an object with a ``space`` name); ``None`` if it has none."""
    space = getattr(genotype, "space", None)
    return get_search_space_class(space) if isinstance(space, str) and space in list_search_spaces() else None


def _edges_of(genotype: Any) -> tuple[GenotypeEdge, ...] | None:
    """The edges of a genotype; a path's ``choices`` or a sequence of choice names as a chain; ``None`` if neither."""
    if isinstance(genotype, Genotype):
        try:
            return genotype.edges()
        except NotImplementedError:
            return None
    choices = _choices(genotype)
    if choices is None:
        return None
    return tuple(GenotypeEdge("path", f"layer {i}", choice) for i, choice in enumerate(choices))


def _cells(edges: Sequence[GenotypeEdge]) -> list[str]:
    return list(dict.fromkeys(edge.cell for edge in edges))


def _parameter_free(genotype: Any) -> frozenset[str]:
    """The parameter-free ops of the genotype's space (drawn dashed); MobileNet's for plain choice names."""
    space = _space_class(genotype) or (_MOBILENET if _choices(genotype) is not None else None)
    if space is None:
        return frozenset()
    return frozenset(space.parameter_free_ops) | ({space.skip_op} if space.skip_op else set())


def _space_order(seen: Sequence[str], preferred: type[SearchSpace] | None, *, full: bool) -> tuple[str, ...]:
    """``seen`` in the order of the ``ops`` of ``preferred``, else of the first registered space holding them all.

    ``full`` returns all of that space's ops (the same colour for an op in every plot); ``seen`` as is if no space
    holds them all.
    """
    spaces = [get_search_space_class(name) for name in list_search_spaces()]
    for space in [preferred, *spaces] if preferred is not None else spaces:
        if space.ops and all(op in space.ops for op in seen):
            return tuple(space.ops) if full else tuple(op for op in space.ops if op in seen)
    return tuple(seen)


def _as_genotype(call: str, genotype: Any) -> Any:
    """A genotype string parsed by the first registered space that reads it; other values unchanged."""
    if not isinstance(genotype, str):
        return genotype
    for name in list_search_spaces():
        try:
            return get_search_space_class(name).genotype_type.from_string(genotype)
        except (ValueError, TypeError):
            continue
    tokens = genotype.split("-")
    if len(tokens) > 1 and all(tokens):
        return tokens  # a path's string: its choices joined by "-"
    raise ValueError(
        f"`{call}`: `genotype` must be a genotype or the string of a NAS-Bench-201, DARTS or MobileNet genotype "
        f"(or of another registered space: {list_search_spaces()}). Got {genotype!r} instead."
    )


def _choices(genotype: Any) -> list[str] | None:
    choices = getattr(genotype, "choices", None)
    if choices is None and isinstance(genotype, Sequence) and not isinstance(genotype, str):
        choices = genotype
    if choices is None or isinstance(choices, str) or not all(isinstance(c, str) for c in choices):
        return None
    return list(choices)
