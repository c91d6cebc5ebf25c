"""Ground-truth test accuracies of the NAS-Bench-201 cells: the built-in table, or a CSV export of the benchmark.

:meth:`NASBench201Table.default` returns the table that ships with the package: the 200-epoch test accuracy of all
15,625 cells on CIFAR-10, CIFAR-100 and ImageNet16-120, from NATS-Bench (the topology search space, ``hp="200"``;
MIT licence, see ``data/NOTICE`` beside this module). It is read from ``data/nasbench201_test_accuracy.npz``
(:data:`DEFAULT_TABLE_FILE`, about 220 KB), a file of this project's own making that :meth:`~NASBench201Table.to_npz`
writes: the rows of NATS-Bench's CSV export in its order, as the cells' indices (:func:`cell_index`: the 6 ops of a
cell as base-5 digits, first edge most significant, each digit the op's position in
:data:`~lightning_nas.spaces.nasbench201.NB201_OPS`) and one float64 array per data set. The values are the CSV's
decimal numbers as ``float()`` parses them, bit for bit; no smaller lossless encoding fits them: the CIFAR-10 figures
are multiples of 1/600 (10,000 test images, mean of up to 3 seeds) but ``k / 600`` reproduces only 70 % of the
stored doubles exactly, and the CIFAR-100 and ImageNet16-120 figures are means of float32 per-seed accuracies
(float32 storage would be off by up to 4e-6). Reading the file takes a few milliseconds, once per process.

:meth:`NASBench201Table.from_csv` reads a CSV export (e.g. ``nats-tss-200epoch-test-accuracy.csv``, exported from
the NATS-Bench topology API with ``hp="200"``), one row per cell with the columns ``ArchitectureString`` (the
canonical genotype string) and ``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``,
``ImageNetTestAccuracy200Epochs`` (test accuracy in percent after 200 training epochs; the last one is
ImageNet16-120). Other columns are ignored. Only the ``csv`` module is used, so reading needs no pandas.

:meth:`NASBench201Table.to_npz` writes a table in the built-in format (byte for byte the same for the same table) and
:meth:`NASBench201Table.from_npz` reads it; the built-in file is regenerated from the CSV with
``python benchmarks/nasbench201_table.py build CSV OUT`` (that is, ``NASBench201Table.from_csv(CSV).to_npz(OUT)``).

References:
    Xuanyi Dong and Yi Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search.
    ICLR 2020. Xuanyi Dong, Lu Liu, Katarzyna Musial and Bogdan Gabrys. NATS-Bench: Benchmarking NAS Algorithms
    for Architecture Topology and Size. IEEE TPAMI 2021 (the source of the built-in table; MIT licence).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import zipfile
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal

import numpy as np

from lightning_nas.spaces.nasbench201 import NB201_EDGES, NB201_OPS, NASBench201Genotype

__all__ = [
    "DEFAULT_TABLE_FILE",
    "NUM_CELLS",
    "NASBench201Dataset",
    "NASBench201Table",
    "cell_from_index",
    "cell_index",
]

NASBench201Dataset = Literal["cifar10", "cifar100", "imagenet16-120"]

_ARCH_COLUMN = "ArchitectureString"
_COLUMNS: dict[str, str] = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16-120": "ImageNetTestAccuracy200Epochs",
}
DATASETS: tuple[str, ...] = tuple(_COLUMNS)

NUM_CELLS = len(NB201_OPS) ** len(NB201_EDGES)
"""The number of cells of the space, 5**6 = 15,625."""

DEFAULT_TABLE_FILE = "data/nasbench201_test_accuracy.npz"
"""The built-in table, relative to the ``lightning_nas.benchmarks`` package."""

_FORMAT_VERSION = 1
_NPZ_KEYS = ("format_version", "ops", "edges", "cells", *DATASETS)
_OP_DIGIT = {op: digit for digit, op in enumerate(NB201_OPS)}


def cell_index(genotype: NASBench201Genotype | str) -> int:
    """The index of a cell in ``0 .. 15,624``: its 6 ops as base-5 digits, the first edge most significant.

    The digit of an op is its position in :data:`~lightning_nas.spaces.nasbench201.NB201_OPS`, so the index is the
    cell's position in :meth:`NASBench201Genotype.all`; the table files (:meth:`NASBench201Table.to_npz`) name each
    row's cell by it.

    Raises:
        ValueError: If a string is not a NAS-Bench-201 genotype.
        TypeError: If ``genotype`` is neither a genotype nor a string.

    Example:
        >>> cell_index("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        0
        >>> cell_index(NASBench201Genotype.from_ops(["avg_pool_3x3"] * 6))
        15624
        >>> cell_from_index(cell_index(NASBench201Genotype.from_ops(["skip_connect"] * 6))).ops[0]
        'skip_connect'
    """
    index = 0
    for op in NASBench201Table._parse(genotype).ops:
        index = index * len(NB201_OPS) + _OP_DIGIT[op]
    return index


def cell_from_index(index: int) -> NASBench201Genotype:
    """The cell of an index (the inverse of :func:`cell_index`).

    Raises:
        ValueError: If ``index`` is not an integer in ``[0, 15625)``.
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < NUM_CELLS:
        raise ValueError(f"`cell_from_index`: `index` must be an integer in [0, {NUM_CELLS}). Got {index!r} instead.")
    digits = []
    for _ in NB201_EDGES:
        index, digit = divmod(int(index), len(NB201_OPS))
        digits.append(NB201_OPS[digit])
    return NASBench201Genotype.from_ops(digits[::-1])


class NASBench201Table:
    """Look-up of the 200-epoch test accuracy (percent) of NAS-Bench-201 cells on its three data sets.

    :meth:`default` gives the built-in table of all 15,625 cells (NATS-Bench's figures); :meth:`from_csv` reads
    another export of the benchmark, :meth:`from_npz` a file written by :meth:`to_npz`.

    Args:
        accuracies: For each cell, its accuracy per data set name (``"cifar10"``, ``"cifar100"``,
            ``"imagenet16-120"``); every cell needs all three.

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
        >>> builtin = NASBench201Table.default()
        >>> len(builtin), builtin.best("cifar10")[1]
        (15625, 94.37333333333333)
    """

    space: ClassVar[str] = NASBench201Genotype.space
    """The search space whose genotypes the table holds (``"nasbench201"``)."""

    def __init__(self, accuracies: Mapping[NASBench201Genotype, Mapping[str, float]]) -> None:
        cells: list[int] = []
        values: list[tuple[float, ...]] = []
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
            cells.append(cell_index(genotype))
            values.append(tuple(float(per_dataset[dataset]) for dataset in DATASETS))
        self._set(np.array(cells, dtype=np.int64), np.array(values, dtype=np.float64).reshape(-1, len(DATASETS)))

    def _set(self, cells: np.ndarray, values: np.ndarray) -> None:
        """Stores the rows: ``cells[row]`` (distinct cell indices) has the accuracies ``values[row, dataset]``."""
        row_of_cell = np.full(NUM_CELLS, -1, dtype=np.int32)
        row_of_cell[cells] = np.arange(len(cells), dtype=np.int32)
        for array in (cells, values, row_of_cell):
            array.setflags(write=False)
        self._cells, self._values, self._row_of_cell = cells, values, row_of_cell

    @classmethod
    def default(cls) -> NASBench201Table:
        """The built-in table of all 15,625 cells (NATS-Bench, 200 epochs), read once per process.

        Every call returns the same table (it is read-only). It equals ``from_csv`` of NATS-Bench's CSV export in
        every respect: values bit for bit, iteration order and the cell :meth:`best` picks among ties. See the module
        docstring for the file and its provenance.

        Raises:
            FileNotFoundError: If the package was installed without its data file.
        """
        return _default_table()

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

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> NASBench201Table:
        """Read a table written by :meth:`to_npz` (the format of the built-in table).

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not such a table, or was written for another op or edge order.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"`NASBench201Table.from_npz`: no NAS-Bench-201 table at '{path}'.")
        with path.open("rb") as file:
            return cls._read_npz(file, f"`NASBench201Table.from_npz('{path}')`")

    def to_npz(self, path: str | os.PathLike[str]) -> Path:
        """Write the table in the format of the built-in table; the same table always gives the same bytes.

        The file is a NumPy ``.npz`` archive (deflated, fixed time stamps) of the arrays ``cells`` (int16: the
        :func:`cell_index` of each row, in the table's order), one float64 array per data set (``cifar10``,
        ``cifar100``, ``imagenet16-120``) in the same row order, and, to check the indexing when reading, ``ops`` and
        ``edges`` (the space's op and edge order) and ``format_version``. The values are stored losslessly, and
        :meth:`from_npz` gives back a table equal to this one in every respect (values, order, ties).

        Returns:
            ``path``, as a :class:`~pathlib.Path`.
        """
        path = Path(path)
        arrays = {
            "format_version": np.array(_FORMAT_VERSION, dtype=np.int16),
            "ops": np.array(NB201_OPS),
            "edges": np.array(NB201_EDGES, dtype=np.int8),
            "cells": self._cells.astype(np.int16),
            **{dataset: np.ascontiguousarray(self._values[:, column]) for column, dataset in enumerate(DATASETS)},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member.compress_type = zipfile.ZIP_DEFLATED
                member.external_attr = 0o644 << 16
                archive.writestr(member, buffer.getvalue(), compresslevel=9)
        return path

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
        row = self._row_of_cell[cell_index(genotype)]
        if row < 0:
            raise KeyError(f"The NAS-Bench-201 table has no row for the architecture {str(genotype)!r}.")
        return float(self._values[row, column])

    def best(self, dataset: NASBench201Dataset = "cifar10") -> tuple[NASBench201Genotype, float]:
        """Return the cell with the highest test accuracy on ``dataset`` and that accuracy (first on ties).

        Raises:
            ValueError: If ``dataset`` is unknown or the table is empty.
        """
        column = self._column(dataset, "best")
        if not len(self._values):
            raise ValueError("`NASBench201Table.best`: the table is empty.")
        row = int(np.argmax(self._values[:, column]))
        return cell_from_index(int(self._cells[row])), float(self._values[row, column])

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, genotype: object) -> bool:
        if isinstance(genotype, str):
            try:
                genotype = NASBench201Genotype.from_string(genotype)
            except ValueError:
                return False
        return isinstance(genotype, NASBench201Genotype) and self._row_of_cell[cell_index(genotype)] >= 0

    def __iter__(self) -> Iterator[NASBench201Genotype]:
        """Iterate over the cells, in the order of the CSV rows (or of the mapping given to the constructor)."""
        return (cell_from_index(int(cell)) for cell in self._cells)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} architectures>)"

    @classmethod
    def _read_npz(cls, file: BinaryIO, where: str) -> NASBench201Table:
        try:
            archive = np.load(file, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"{where}: not a NumPy .npz archive ({err}).") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{where}: not a NumPy .npz archive (a single array).")
        with archive:
            missing = [key for key in _NPZ_KEYS if key not in archive.files]
            if missing:
                raise ValueError(f"{where}: the archive lacks the array(s) {missing}; it holds {archive.files}.")
            arrays = {key: archive[key] for key in _NPZ_KEYS}
        if arrays["format_version"].shape != () or int(arrays["format_version"]) != _FORMAT_VERSION:
            raise ValueError(f"{where}: `format_version` must be {_FORMAT_VERSION}. Got {arrays['format_version']}.")
        ops, edges = tuple(str(op) for op in arrays["ops"]), tuple(tuple(int(i) for i in e) for e in arrays["edges"])
        if ops != NB201_OPS or edges != NB201_EDGES:
            raise ValueError(
                f"{where}: the file indexes cells by the ops {list(ops)} and edges {list(edges)}, but this version "
                f"of the space has the ops {list(NB201_OPS)} and edges {list(NB201_EDGES)}. Rebuild it from the CSV "
                "with `python benchmarks/nasbench201_table.py build CSV OUT`."
            )
        cells = arrays["cells"]
        columns = [arrays[dataset] for dataset in DATASETS]
        if cells.ndim != 1 or any(column.shape != cells.shape for column in columns):
            shapes = {key: arrays[key].shape for key in ("cells", *DATASETS)}
            raise ValueError(f"{where}: `cells` and the accuracy arrays must be 1-D of one length. Got {shapes}.")
        cells = cells.astype(np.int64)
        if len(cells) and (cells.min() < 0 or cells.max() >= NUM_CELLS or len(np.unique(cells)) != len(cells)):
            raise ValueError(f"{where}: `cells` must hold distinct cell indices in [0, {NUM_CELLS}).")
        table = cls.__new__(cls)
        table._set(cells, np.stack([column.astype(np.float64) for column in columns], axis=1))
        return table

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


@functools.cache
def _default_table() -> NASBench201Table:
    resource = resources.files("lightning_nas.benchmarks").joinpath(DEFAULT_TABLE_FILE)
    where = "`NASBench201Table.default()`"
    if not resource.is_file():
        raise FileNotFoundError(
            f"{where}: the built-in table '{resource}' is missing from the installed package. Reinstall lightning-nas, "
            "or rebuild the file from the NATS-Bench CSV with `python benchmarks/nasbench201_table.py build CSV OUT`."
        )
    with resource.open("rb") as file:
        return NASBench201Table._read_npz(file, where)
