"""Argument checks with the house wording: ```Owner(name=value)`: `name` must be ... Got ... instead.``.

One place for the type and range checks of public constructors, so that a number given as a string, a momentum of
1.5 or a string where a dict belongs is refused up front, naming the argument and what is allowed.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any


def _call(owner: str, name: str, value: object) -> str:
    shown = repr(value)
    return f"`{owner}({name}={shown if len(shown) <= 60 else shown[:57] + '...'})`"


def check_number(
    owner: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """Raises unless ``value`` is a finite real number (an int with ``integer``; never a bool) in the range.

    ``low``/``high`` bound the range, closed unless ``low_open``/``high_open``; ``optional`` also accepts ``None``
    (and says so in the message).

    Example:
        >>> check_number("DARTS", "weight_lr", 0.1, low=0, low_open=True)
        >>> check_number("DARTS", "weight_lr", "0.1", low=0, low_open=True)
        Traceback (most recent call last):
        ...
        TypeError: `DARTS(weight_lr='0.1')`: `weight_lr` must be a number > 0. Got str instead.
        >>> check_number("DARTS", "weight_momentum", 1.5, low=0, high=1)
        Traceback (most recent call last):
        ...
        ValueError: `DARTS(weight_momentum=1.5)`: `weight_momentum` must be a number in [0, 1]. Got 1.5 instead.
        >>> check_number("VoEPruning", "num_prunings", None, low=0, integer=True, optional=True)
        >>> check_number("VoEPruning", "num_prunings", 2.5, low=0, integer=True, optional=True)
        Traceback (most recent call last):
        ...
        TypeError: `VoEPruning(num_prunings=2.5)`: `num_prunings` must be an integer >= 0 or None. Got float instead.
    """
    if optional and value is None:
        return
    what = _allowed("an integer" if integer else "a number", low, high, low_open, high_open)
    if optional:
        what += " or None"
    if not _is_number(value, integer):
        raise TypeError(f"{_call(owner, name, value)}: `{name}` must be {what}. Got {type(value).__name__} instead.")
    if not _in_range(value, integer, low, high, low_open, high_open):
        raise ValueError(f"{_call(owner, name, value)}: `{name}` must be {what}. Got {value!r} instead.")


def _allowed(kind: str, low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return kind


def _is_number(value: object, integer: bool) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral if integer else numbers.Real)


def _in_range(
    value: Any, integer: bool, low: float | None, high: float | None, low_open: bool, high_open: bool
) -> bool:
    number = float(value)
    return not (
        math.isnan(number)
        or (not integer and math.isinf(number) and (low is not None or high is not None))
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
    )


def check_numbers(
    owner: str,
    name: str,
    value: object,
    *,
    length: int | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> list[Any]:
    """``value`` as a list; raises unless it is a list or tuple of numbers (ints with ``integer``) in the range.

    ``length`` is the number of entries it must have; ``None``: any number but 0. A string, a number or an entry of
    the wrong type is a TypeError, a wrong length or an entry out of range a ValueError.

    Example:
        >>> check_numbers("PDARTS", "skip_dropout", (0.1, 0.4), length=2, low=0, high=1, high_open=True)
        [0.1, 0.4]
        >>> check_numbers("PDARTS", "stage_ops", [0], low=1, integer=True)
        Traceback (most recent call last):
        ...
        ValueError: `PDARTS(stage_ops=[0])`: `stage_ops` must be a non-empty list of integers >= 1. Got [0] instead.
    """
    count = "a non-empty list of" if length is None else f"a list of {length}"
    what = f"{count} {_allowed('integers' if integer else 'numbers', low, high, low_open, high_open)}"
    message = f"{_call(owner, name, value)}: `{name}` must be {what}. Got {{}} instead."
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(message.format(type(value).__name__))
    if not all(_is_number(entry, integer) for entry in value):
        raise TypeError(message.format(repr(value)))
    if len(value) != length if length is not None else not value:
        raise ValueError(message.format(repr(value)))
    if not all(_in_range(entry, integer, low, high, low_open, high_open) for entry in value):
        raise ValueError(message.format(repr(value)))
    return list(value)


def check_betas(owner: str, name: str, value: object) -> None:
    """Raises unless ``value`` is a pair of numbers in ``[0, 1)`` (Adam's betas).

    Example:
        >>> try:
        ...     check_betas("DARTS", "arch_betas", (1.5, 0.999))
        ... except ValueError as err:
        ...     print(err)
        `DARTS(arch_betas=(1.5, 0.999))`: `arch_betas` must be two numbers in [0, 1). Got (1.5, 0.999) instead.
    """
    message = f"{_call(owner, name, value)}: `{name}` must be two numbers in [0, 1). Got {value!r} instead."
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:  # type: ignore[arg-type]
        raise ValueError(message)
    for beta in value:  # type: ignore[union-attr]
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise TypeError(message)
        if not 0 <= float(beta) < 1:
            raise ValueError(message)


def check_mapping(owner: str, name: str, value: object, *, optional: bool = True) -> dict[str, Any]:
    """``value`` as a dict (``None`` -> ``{}`` when ``optional``); raises unless it is a mapping with str keys.

    Example:
        >>> check_mapping("DARTS", "space_options", "C=4")
        Traceback (most recent call last):
        ...
        TypeError: `DARTS(space_options='C=4')`: `space_options` must be a dict, e.g. {'C': 16}. Got str instead.
    """
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise TypeError(
            f"{_call(owner, name, value)}: `{name}` must be a dict, e.g. {{'C': 16}}. "
            f"Got {type(value).__name__} instead."
        )
    return dict(value)


def check_bool(owner: str, name: str, value: object) -> None:
    """Raises a TypeError unless ``value`` is ``True`` or ``False`` (not 1, 0, ``"yes"`` or ``None``).

    Example:
        >>> check_bool("ArraySearchDataModule", "augment", True)
        >>> check_bool("ArraySearchDataModule", "augment", "yes")
        Traceback (most recent call last):
        ...
        TypeError: `ArraySearchDataModule(augment='yes')`: `augment` must be a bool (True or False). Got str instead.
    """
    if not isinstance(value, bool):
        raise TypeError(
            f"{_call(owner, name, value)}: `{name}` must be a bool (True or False). Got {type(value).__name__} instead."
        )


def check_choice(owner: str, name: str, value: object, choices: Sequence[object]) -> None:
    """Raises a ValueError unless ``value`` is one of ``choices`` (compared with ``==``; ``None`` may be a choice).

    Example:
        >>> check_choice("DARTS", "lr_interval", "epoch", ("epoch", "step"))
        >>> check_choice("DARTS", "lr_interval", "week", ("epoch", "step"))
        Traceback (most recent call last):
        ...
        ValueError: `DARTS(lr_interval='week')`: `lr_interval` must be 'epoch' or 'step'. Got 'week' instead.
    """
    try:
        known = any(bool(value == choice) and isinstance(value, bool) == isinstance(choice, bool) for choice in choices)
    except Exception:  # an array's ambiguous truth value: not a choice
        known = False
    if not known:
        shown = [repr(choice) for choice in choices]
        allowed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        raise ValueError(f"{_call(owner, name, value)}: `{name}` must be {allowed}. Got {value!r} instead.")


def check_path(owner: str, name: str, value: object, *, optional: bool = True) -> None:
    """Raises a TypeError unless ``value`` is a path (a str or an ``os.PathLike``), or ``None`` when ``optional``.

    Example:
        >>> check_path("GenotypeExport", "dirpath", "runs/a")
        >>> check_path("GenotypeExport", "dirpath", 3)
        Traceback (most recent call last):
        ...
        TypeError: `GenotypeExport(dirpath=3)`: `dirpath` must be a path or None. Got int instead.
    """
    if (value is None and optional) or isinstance(value, (str, os.PathLike)):
        return
    raise TypeError(
        f"{_call(owner, name, value)}: `{name}` must be a path{' or None' if optional else ''}. "
        f"Got {type(value).__name__} instead."
    )
