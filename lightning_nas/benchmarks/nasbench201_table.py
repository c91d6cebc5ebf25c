"""Ground-truth test accuracies of the NAS-Bench-201 cells, read from a CSV export of the benchmark.

The CSV (e.g. ``nats-tss-200epoch-test-accuracy.csv``, exported from the NATS-Bench topology API with
``hp="200"``) has one row per cell and the columns ``ArchitectureString`` (the canonical genotype string)
and ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``, ``ImageNetTestAccuracy200Epochs``
(test accuracy in percent after 200 training epochs; the last one is ImageNet16-120). Other columns are
ignored. Only the ``csv`` module is used, so reading needs no pandas.

References:
    Xuanyi Dong and Yi Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search.
    ICLR 2020. Xuanyi Dong et al. NATS-Bench: Benchmarking NAS Algorithms for Architecture Topology and Size.
    TPAMI 2021.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from lightning_nas.spaces.nasbench201 import NASBench201Genotype

__all__ = ["NASBench201Dataset", "NASBench201Table"]

NASBench201Dataset = Literal["cifar10", "cifar100", "imagenet16-120"]

_ARCH_COLUMN = "ArchitectureString"
_COLUMNS: dict[str, str] = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16-120": "ImageNetTestAccuracy200Epochs",
}
DATASETS: tuple[str, ...] = tuple(_COLUMNS)


class NASBench201Table:
    """Look-up of the 200-epoch test accuracy (percent) of NAS-Bench-201 cells on its three data sets.

    Args:
        accuracies: For each cell, its accuracy per data set name (``"cifar10"``, ``"cifar100"``,
            ``"imagenet16-120"``); every cell needs all three. Usually built by :meth:`from_csv`.

    Raises:
        ValueError: If a cell lacks a data set or a data set name is unknown.

    Example:
        >>> table = NASBench201Table({
        ...     NASBench201Genotype.from_ops(["skip_connect"] * 6):
        ...         {"cifar10": 54.3, "cifar100": 15.6, "imagenet16-120": 16.3},
        ...     NASBench201Genotype.from_ops(["nor_conv_3x3"] * 6):
        ...         {"cifar10": 93.8, "cifar100": 71.1, "imagenet16-120": 41.4},
        ... })
        >>> len(table)
        2
        >>> table.test_accuracy("|skip_connect~0|+|skip_connect~0|skip_connect~1|"
        ...                     "+|skip_connect~0|skip_connect~1|skip_connect~2|", dataset="cifar100")
        15.6
        >>> genotype, accuracy = table.best("cifar10")
        >>> genotype.ops[0], accuracy
        ('nor_conv_3x3', 93.8)
    """

    def __init__(self, accuracies: Mapping[NASBench201Genotype, Mapping[str, float]]) -> None:
        self._accuracies: dict[NASBench201Genotype, tuple[float, ...]] = {}
        for genotype, per_dataset in accuracies.items():
            if not isinstance(genotype, NASBench201Genotype):
                raise TypeError(
                    f"`NASBench201Table`: `accuracies` must be keyed by NASBench201Genotype. "
                    f"Got {type(genotype).__name__} instead."
                )
            unknown = sorted(set(per_dataset) - set(DATASETS))
            missing = [dataset for dataset in DATASETS if dataset not in per_dataset]
            if unknown or missing:
                raise ValueError(
                    f"`NASBench201Table`: the accuracies of {str(genotype)!r} must give exactly the data sets "
                    f"{list(DATASETS)}. Got {sorted(per_dataset)} instead."
                )
            self._accuracies[genotype] = tuple(float(per_dataset[dataset]) for dataset in DATASETS)

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> NASBench201Table:
        """Read a table from a CSV file with the columns described in the module docstring.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If a needed column is missing, a row has a malformed architecture string or accuracy,
                or an architecture appears twice.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"`NASBench201Table.from_csv`: no NAS-Bench-201 table at '{path}'.")
        needed = [_ARCH_COLUMN, *_COLUMNS.values()]
        accuracies: dict[NASBench201Genotype, dict[str, float]] = {}
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            missing = [column for column in needed if column not in header]
            if missing:
                raise ValueError(
                    f"`NASBench201Table.from_csv('{path}')`: the CSV lacks the column(s) {missing}; it needs "
                    f"{needed}. Its header is {list(header)}."
                )
            for row in reader:
                where = f"`NASBench201Table.from_csv('{path}')`, line {reader.line_num}"
                try:
                    genotype = NASBench201Genotype.from_string(row[_ARCH_COLUMN])
                except (TypeError, ValueError) as err:
                    raise ValueError(f"{where}: {err}") from None
                if genotype in accuracies:
                    raise ValueError(f"{where}: the architecture {str(genotype)!r} appears twice.")
                try:
                    accuracies[genotype] = {dataset: float(row[column]) for dataset, column in _COLUMNS.items()}
                except (TypeError, ValueError):
                    values = {column: row[column] for column in _COLUMNS.values()}
                    raise ValueError(f"{where}: the accuracies must be numbers. Got {values} instead.") from None
        return cls(accuracies)

    def test_accuracy(self, genotype: NASBench201Genotype | str, dataset: NASBench201Dataset = "cifar10") -> float:
        """Return the 200-epoch test accuracy (percent) of ``genotype`` on ``dataset``.

        Args:
            genotype: A cell, or its canonical string (validated by :meth:`NASBench201Genotype.from_string`).
            dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16-120"``.

        Raises:
            ValueError: If ``dataset`` is unknown or the string is not a NAS-Bench-201 genotype.
            KeyError: If the table has no row for the cell.
        """
        column = self._column(dataset, "test_accuracy")
        genotype = self._parse(genotype)
        try:
            return self._accuracies[genotype][column]
        except KeyError:
            raise KeyError(f"The NAS-Bench-201 table has no row for the architecture {str(genotype)!r}.") from None

    def best(self, dataset: NASBench201Dataset = "cifar10") -> tuple[NASBench201Genotype, float]:
        """Return the cell with the highest test accuracy on ``dataset`` and that accuracy (first on ties).

        Raises:
            ValueError: If ``dataset`` is unknown or the table is empty.
        """
        column = self._column(dataset, "best")
        if not self._accuracies:
            raise ValueError("`NASBench201Table.best`: the table is empty.")
        genotype = max(self._accuracies, key=lambda g: self._accuracies[g][column])
        return genotype, self._accuracies[genotype][column]

    def __len__(self) -> int:
        return len(self._accuracies)

    def __contains__(self, genotype: object) -> bool:
        if isinstance(genotype, str):
            try:
                genotype = NASBench201Genotype.from_string(genotype)
            except ValueError:
                return False
        return isinstance(genotype, NASBench201Genotype) and genotype in self._accuracies

    def __iter__(self) -> Iterator[NASBench201Genotype]:
        """Iterate over the cells, in the order of the CSV rows."""
        return iter(self._accuracies)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} architectures>)"

    @staticmethod
    def _column(dataset: str, method: str) -> int:
        try:
            return DATASETS.index(dataset)
        except ValueError:
            raise ValueError(
                f"`NASBench201Table.{method}(dataset={dataset!r})`: `dataset` must be one of {list(DATASETS)}. "
                f"Got {dataset!r} instead."
            ) from None

    @staticmethod
    def _parse(genotype: NASBench201Genotype | str) -> NASBench201Genotype:
        if isinstance(genotype, NASBench201Genotype):
            return genotype
        if isinstance(genotype, str):
            return NASBench201Genotype.from_string(genotype)
        raise TypeError(
            f"`NASBench201Table`: expected a NASBench201Genotype or its string. Got {type(genotype).__name__} instead."
        )
