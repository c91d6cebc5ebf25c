"""The NAS-Bench-201 ground truth of a model zoo (:func:`table_accuracies`): the "original setting" of EcoNAS's
rank-consistency study, without retraining.

Drawing and training a zoo (:func:`~lightning_nas.search.random_architectures`,
:func:`~lightning_nas.search.train_model_zoo`) trains children, so it lives in :mod:`lightning_nas.search.model_zoo`;
the old names ``lightning_nas.benchmarks.random_architectures`` and ``lightning_nas.benchmarks.train_model_zoo``
still work and warn (``DeprecationWarning``). Only reading one of them imports the search layer.

Example:
    >>> from lightning_nas.benchmarks import NASBench201Table, rank_consistency
    >>> cells = [NASBench201Genotype.from_ops([op] * 6) for op in ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")]
    >>> table = NASBench201Table({g: {"cifar10": 90.0 - i, "cifar100": 0.0, "imagenet16-120": 0.0}
    ...                           for i, g in enumerate(cells)})
    >>> round(rank_consistency(table_accuracies(cells, table), [70.0, 65.0, 60.0])["spearman"], 4)
    1.0

References:
    Dongzhan Zhou et al. EcoNAS: Finding Proxies for Economical Neural Architecture Search. CVPR 2020 (Section 3,
    Eq. 1, Appendix A2 and A3).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from lightning_nas.benchmarks.nasbench201_table import NASBench201Dataset, NASBench201Table
from lightning_nas.spaces import NASBench201Genotype

__all__ = ["table_accuracies"]

MOVED_TO_SEARCH: tuple[str, ...] = ("random_architectures", "train_model_zoo")
"""Names that moved to :mod:`lightning_nas.search.model_zoo`; reading them here warns."""


def table_accuracies(
    genotypes: Sequence[str | NASBench201Genotype], table: NASBench201Table, dataset: NASBench201Dataset = "cifar10"
) -> list[float]:
    """The NAS-Bench-201 200-epoch test accuracies (percent) of the zoo: the "original setting" without training.

    Raises:
        KeyError: if the table lacks a cell.
        ValueError: if a genotype is not a NAS-Bench-201 cell or ``dataset`` is unknown.

    Example:
        >>> g = NASBench201Genotype.from_ops(["nor_conv_3x3"] * 6)
        >>> table = NASBench201Table({g: {"cifar10": 93.8, "cifar100": 71.1, "imagenet16-120": 41.4}})
        >>> table_accuracies([str(g)], table)
        [93.8]
    """
    return [table.test_accuracy(genotype, dataset) for genotype in genotypes]


def moved_to_search(module: str, name: str) -> Any:
    """``lightning_nas.search.model_zoo.<name>``, with a ``DeprecationWarning`` naming the old path ``module.name``.

    Raises:
        AttributeError: If ``name`` did not move (the module has no such attribute).
    """
    if name not in MOVED_TO_SEARCH:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"`{module}.{name}` moved to `lightning_nas.search.{name}` (it trains children); import it from there. "
        "The old path will be removed in a future release.",
        DeprecationWarning,
        stacklevel=3,
    )
    from lightning_nas.search import model_zoo  # a deprecated path: the benchmarks never import the search layer

    return getattr(model_zoo, name)


def __getattr__(name: str) -> Any:
    return moved_to_search(__name__, name)
