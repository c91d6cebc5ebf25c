"""Splitting a pool into a weight split and an architecture split without ever leaving a class out of one.

A bi-level search optimizes the weights on one split and the architecture on the other. If a class is missing from
either, the architecture is chosen on classes the weights never saw (or the weights train on classes the
architecture is never judged on): the search still runs, but its result means nothing. Image folders are sorted by
class, so DARTS's first-half/second-half split of such a pool gives each split a disjoint half of the classes.
:func:`stratified_split` (the default of every search data module) splits every class in proportion;
:func:`check_class_coverage` refuses any split that leaves a present class out of a split.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["check_class_coverage", "num_train", "stratified_split"]

_MAX_LISTED = 10


def num_train(n: int, val_fraction: float) -> int:
    """The size of the weight split of ``n`` samples: ``floor((1 - val_fraction) * n)`` (DARTS's ``train_portion``).

    Example:
        >>> num_train(10, 0.3), num_train(5, 0.5)
        (7, 2)
    """
    # round away float noise first, so that e.g. (1 - 0.3) * 10 gives 7, not 6
    return math.floor(round((1.0 - val_fraction) * n, 6))


def _listed(values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:_MAX_LISTED])
    return f"[{shown}{', ...' if len(values) > _MAX_LISTED else ''}]"


def stratified_split(
    ids: np.ndarray,
    labels: np.ndarray,
    val_fraction: float,
    rng: np.random.Generator,
    *,
    owner: str = "split",
    singletons: Literal["error", "train"] = "error",
) -> tuple[np.ndarray, np.ndarray]:
    """Splits ``ids`` at random within every class: each class gives ``val_fraction`` of its samples to ``val``.

    The split sizes are those of an unstratified split (the weight split gets :func:`num_train` of all ids); the
    architecture split's share is spread over the classes by largest remainder (ties: the smaller label), then every
    class with at least two samples is given at least one sample in each split (taken from the classes furthest above
    their exact share). Within a class the ids are permuted with ``rng``, classes in ascending label order, so the
    split depends only on the ids, the labels, ``val_fraction`` and the generator's seed.

    Args:
        ids: the pool ids to split (int array).
        labels: the class of each id (same length).
        val_fraction: the architecture split's fraction, in (0, 1).
        rng: the generator that permutes the ids of each class.
        owner: the caller's name for error messages, e.g. ``"CIFAR10SearchDataModule"``.
        singletons: what to do with a class of one sample, which cannot be in both splits: ``"error"`` refuses the
            split (a pool), ``"train"`` puts it in the weight split (a selected subset that happens to hold a class
            once; the caller reports it) and splits the other ids as above.

    Returns:
        The sorted ids of the weight split and of the architecture split.

    Raises:
        ValueError: a class has a single sample (it cannot be in both splits; with ``singletons="train"``: every class
            has one), or one split is smaller than the number of classes.

    Example:
        >>> train, val = stratified_split(np.arange(8), np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.5,
        ...                               np.random.default_rng(0))
        >>> len(train), len(val), sorted(set(np.array([0, 0, 0, 0, 1, 1, 1, 1])[val].tolist()))
        (4, 4, [0, 1])
    """
    ids = np.asarray(ids, dtype=np.int64)
    labels = np.asarray(labels).reshape(-1)
    if len(ids) != len(labels):
        raise ValueError(f"`{owner}`: {len(ids)} ids but {len(labels)} labels.")
    classes, counts = np.unique(labels, return_counts=True)
    single = classes[counts < 2]
    lone_ids = ids[np.isin(labels, single)]
    if len(single) and singletons == "error":
        raise ValueError(
            f"`{owner}`: the class(es) {_listed(single)} have a single sample, so a split cannot hold them in both the "
            "weight and the architecture split; every class needs at least 2 samples."
        )
    if len(single):
        keep = ~np.isin(labels, single)
        ids, labels = ids[keep], labels[keep]
    if len(single) and not len(ids):
        raise ValueError(
            f"`{owner}(val_fraction={val_fraction!r})`: every class holds a single sample ({len(single)} class(es), "
            f"{len(lone_ids)} sample(s)), so the architecture split would be empty; select at least 2 samples per "
            "class (a larger fraction or count)."
        )
    n = len(ids)
    n_val = n - num_train(n, val_fraction)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if min(n_val, n - n_val) < len(classes):
        raise ValueError(
            f"`{owner}(val_fraction={val_fraction!r})`: the {n} samples split into {n - n_val} (weights) and {n_val} "
            f"(architecture), but each split needs at least one sample of each of the {len(classes)} classes. "
            "Use a val_fraction nearer 0.5 or more data."
        )
    exact = val_fraction * counts
    quota = np.floor(exact).astype(np.int64)
    remainder = exact - quota
    short = n_val - int(quota.sum())
    if short > 0:  # largest remainder first; stable sort keeps the smaller label first on ties
        quota[np.argsort(-remainder, kind="stable")[:short]] += 1
    elif short < 0:
        quota[np.argsort(remainder, kind="stable")[:-short]] -= 1
    # every class in both splits: lift classes at 0 (or at their whole count), then pay it back where the quota is
    # furthest above the exact share (and the class can spare one), so the split sizes are unchanged
    for low, high in ((quota < 1, 1), (quota > counts - 1, -1)):
        for c in np.flatnonzero(low):
            quota[c] += high
            slack = (quota - exact) * high
            spare = (quota - high >= 1) & (quota - high <= counts - 1)
            spare[c] = False
            donor = int(np.flatnonzero(spare)[np.argmax(slack[spare])])
            quota[donor] -= high
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    train_parts, val_parts = [], []
    for c in range(len(classes)):
        members = rng.permutation(ids[order[starts[c] : starts[c + 1]]])
        val_parts.append(members[: quota[c]])
        train_parts.append(members[quota[c] :])
    return np.sort(np.concatenate([*train_parts, lone_ids])), np.sort(np.concatenate(val_parts))


def check_class_coverage(
    labels: np.ndarray, train_ids: np.ndarray, val_ids: np.ndarray, *, owner: str, hint: str = ""
) -> None:
    """Refuses a split that leaves a class of ``train_ids ∪ val_ids`` out of either split.

    Args:
        labels: the labels of the whole pool, indexed by id.
        train_ids: the weight split's ids.
        val_ids: the architecture split's ids.
        owner: the caller's name for the message, e.g. ``"ImageFolderSearchDataModule(split='contiguous')"``.
        hint: appended to the message (what to do instead).

    Raises:
        ValueError: naming the classes missing from each split.

    Example:
        >>> try:
        ...     check_class_coverage(np.array([0, 0, 1, 1]), np.array([0, 1]), np.array([2, 3]), owner="demo")
        ... except ValueError as err:
        ...     print(str(err)[:83])
        `demo`: the class(es) [1] from the weight split and [0] from the architecture split
    """
    labels = np.asarray(labels).reshape(-1)
    in_train, in_val = np.unique(labels[train_ids]), np.unique(labels[val_ids])
    present = np.union1d(in_train, in_val)
    no_train, no_val = np.setdiff1d(present, in_train), np.setdiff1d(present, in_val)
    if len(no_train) or len(no_val):
        where = " and ".join(
            f"{_listed(missing)} from the {split} split"
            for missing, split in ((no_train, "weight"), (no_val, "architecture"))
            if len(missing)
        )
        raise ValueError(
            f"`{owner}`: the class(es) {where} are missing, so the architecture would be chosen on classes the "
            f"weights never saw (or judged on classes they never learned).{' ' + hint if hint else ''}"
        )
