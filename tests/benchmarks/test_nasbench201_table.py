from __future__ import annotations

import fnmatch
import io
import runpy
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.benchmarks.nasbench201_table import DEFAULT_TABLE_FILE, NUM_CELLS, cell_from_index, cell_index
from lightning_nas.spaces import NASBench201Genotype

ROOT = Path(__file__).parents[2]
CSV_PATH = ROOT.parent / "shared/data/nasbench201/nats-tss-200epoch-test-accuracy.csv"
SHIPPED = ROOT / "lightning_nas/benchmarks" / DEFAULT_TABLE_FILE
BUILDER = ROOT / "benchmarks/nasbench201_table.py"
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
HEADER = (
    "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,"
    "ArchitectureString,UniqueString"
)
BEST_CIFAR10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def table() -> NASBench201Table:
    if not CSV_PATH.is_file():
        pytest.skip(f"the NAS-Bench-201 accuracy table is not at {CSV_PATH}")
    return NASBench201Table.from_csv(CSV_PATH)


@pytest.fixture(scope="module")
def csv_table() -> NASBench201Table:
    if not CSV_PATH.is_file():
        pytest.skip(f"the NAS-Bench-201 CSV to compare the built-in table with is not at {CSV_PATH} (no ../shared)")
    return NASBench201Table.from_csv(CSV_PATH)


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(f"{HEADER}\n54.29666666666666,15.6,16.3,{ALL_SKIP},0+0+0+0\n93.5,71.25,41.0,{ALL_CONV},x\n")
    return path


# ------------------------------------------------------------------------------------------------- real table
def test_real_table_size(table):
    assert len(table) == 15_625
    assert all(genotype in table for genotype in NASBench201Genotype.all())


def test_real_table_known_values(table):
    assert table.test_accuracy(BEST_CIFAR10) == pytest.approx(94.37, abs=5e-3)
    assert table.test_accuracy(BEST_CIFAR10, dataset="cifar10") == 94.37333333333333  # exactly as in the file
    assert table.test_accuracy(ALL_SKIP, "cifar10") == pytest.approx(54.30, abs=5e-3)
    assert table.test_accuracy(ALL_SKIP, "cifar100") == pytest.approx(15.61, abs=5e-3)
    assert table.test_accuracy(NASBench201Genotype.from_string(ALL_SKIP), "imagenet16-120") == pytest.approx(
        16.32, abs=5e-3
    )


def test_real_table_best(table):
    genotype, accuracy = table.best("cifar10")
    assert str(genotype) == BEST_CIFAR10
    assert accuracy == pytest.approx(94.37, abs=5e-3)
    assert table.best("cifar100")[1] == pytest.approx(73.51, abs=5e-3)
    assert table.best("imagenet16-120")[1] == pytest.approx(47.31, abs=5e-3)


# ---------------------------------------------------------------------------------------------- built-in table
def test_builtin_table_size_and_known_values():
    table = NASBench201Table.default()
    assert len(table) == NUM_CELLS == 15_625
    assert sum(1 for _ in table) == 15_625 and len(set(table)) == 15_625
    assert all(genotype in table for genotype in NASBench201Genotype.all())
    assert table.test_accuracy(BEST_CIFAR10) == 94.37333333333333  # bit for bit the CSV's value
    assert table.test_accuracy(BEST_CIFAR10) == pytest.approx(94.37, abs=5e-3)
    assert table.test_accuracy(BEST_CIFAR10, "cifar100") == 73.21999999999998
    assert table.test_accuracy(BEST_CIFAR10, "imagenet16-120") == 46.71111101277669
    assert table.test_accuracy(ALL_SKIP, "cifar10") == pytest.approx(54.30, abs=5e-3)
    assert table.test_accuracy(NASBench201Genotype.from_string(ALL_SKIP), "cifar100") == 15.606666662597656
    assert table.test_accuracy(ALL_SKIP, "imagenet16-120") == pytest.approx(16.32, abs=5e-3)
    assert isinstance(table.test_accuracy(ALL_SKIP), float)


def test_builtin_table_best_and_errors():
    table = NASBench201Table.default()
    genotype, accuracy = table.best("cifar10")
    assert str(genotype) == BEST_CIFAR10  # another cell ties at 94.3733...: the CSV's first one, as from_csv picks
    assert accuracy == pytest.approx(94.37, abs=5e-3)
    assert table.best("cifar100")[1] == pytest.approx(73.51, abs=5e-3)
    assert table.best("imagenet16-120")[1] == pytest.approx(47.31, abs=5e-3)
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        table.test_accuracy(ALL_SKIP, dataset="imagenet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown op 'conv' in node 1"):
        table.test_accuracy("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert "garbage" not in table and 3 not in table


def test_builtin_table_is_read_once_per_process():
    assert NASBench201Table.default() is NASBench201Table.default()
    assert repr(NASBench201Table.default()) == "NASBench201Table(<15625 architectures>)"


def test_builtin_table_equals_the_csv_for_every_cell_and_dataset(csv_table):
    table = NASBench201Table.default()
    assert len(table) == len(csv_table) == 15_625
    assert list(table) == list(csv_table)  # the same cells in the same order
    for genotype in csv_table:
        for dataset in DATASETS:
            assert table.test_accuracy(genotype, dataset) == csv_table.test_accuracy(genotype, dataset), (
                genotype,
                dataset,
            )
    for dataset in DATASETS:
        assert table.best(dataset) == csv_table.best(dataset)


def test_builder_regenerates_the_shipped_file_from_the_csv(csv_table, tmp_path, capsys):
    build = runpy.run_path(str(BUILDER))["build"]  # `python benchmarks/nasbench201_table.py build CSV OUT`
    out = build(CSV_PATH, tmp_path / "table.npz")
    assert "every value equals the CSV's bit for bit" in capsys.readouterr().out
    with np.load(out) as rebuilt, np.load(SHIPPED) as shipped:
        assert sorted(rebuilt.files) == sorted(shipped.files)
        for key in shipped.files:
            assert rebuilt[key].dtype == shipped[key].dtype and np.array_equal(rebuilt[key], shipped[key]), key
    assert out.read_bytes() == csv_table.to_npz(tmp_path / "again.npz").read_bytes()  # reproducible bytes
    assert SHIPPED.stat().st_size < 300_000


def test_pyproject_ships_the_data_file_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["lightning_nas.benchmarks"]
    assert "lightning_nas.benchmarks" in setuptools["packages"]
    for name in (DEFAULT_TABLE_FILE, "data/NOTICE"):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


# ------------------------------------------------------------------------------------------------- cell index
def test_cell_index_is_the_position_in_all():
    genotypes = list(NASBench201Genotype.all())
    assert [cell_index(g) for g in genotypes] == list(range(15_625))
    assert [cell_from_index(i) for i in (0, 1, 5, 15_624)] == [genotypes[i] for i in (0, 1, 5, 15_624)]
    assert cell_index(ALL_SKIP) == sum(5**k for k in range(6))  # "skip_connect" is op 1 of NB201_OPS
    for bad in (-1, 15_625, True, 2.0, "3"):
        with pytest.raises(ValueError, match=r"`index` must be an integer in \[0, 15625\)"):
            cell_from_index(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ npz format
def test_npz_round_trip_keeps_values_order_and_ties(tiny_csv, tmp_path):
    table = NASBench201Table.from_csv(tiny_csv)
    path = table.to_npz(tmp_path / "sub" / "tiny.npz")
    again = NASBench201Table.from_npz(path)
    assert list(again) == list(table) == [NASBench201Genotype.from_string(g) for g in (ALL_SKIP, ALL_CONV)]
    for genotype in table:
        for dataset in DATASETS:
            assert again.test_accuracy(genotype, dataset) == table.test_accuracy(genotype, dataset)
    assert again.test_accuracy(ALL_SKIP) == 54.29666666666666
    assert BEST_CIFAR10 not in again
    with pytest.raises(KeyError, match="no row for the architecture"):
        again.test_accuracy(BEST_CIFAR10)
    assert again.to_npz(tmp_path / "copy.npz").read_bytes() == path.read_bytes()  # deterministic
    tied = NASBench201Table({g: {"cifar10": 1.0, "cifar100": 2.0, "imagenet16-120": 3.0} for g in list(again)[::-1]})
    assert NASBench201Table.from_npz(tied.to_npz(tmp_path / "tied.npz")).best()[0] == tied.best()[0]
    empty = NASBench201Table.from_npz(NASBench201Table({}).to_npz(tmp_path / "empty.npz"))
    assert len(empty) == 0 and ALL_SKIP not in empty


def _rewrite(path: Path, out: Path, **changes) -> Path:
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    np.savez(out, **arrays)
    return out


def test_from_npz_errors(tiny_csv, tmp_path):
    path = NASBench201Table.from_csv(tiny_csv).to_npz(tmp_path / "tiny.npz")
    with pytest.raises(FileNotFoundError, match="no NAS-Bench-201 table at .*absent.npz"):
        NASBench201Table.from_npz(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="not a NumPy .npz archive"):
        NASBench201Table.from_npz(tiny_csv)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a NumPy .npz archive"):
        NASBench201Table.from_npz(tmp_path / "single.npy")
    with pytest.raises(ValueError, match=r"lacks the array\(s\) \['cifar100'\]"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "a.npz", cifar100=None))
    with pytest.raises(ValueError, match="`format_version` must be 1"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "b.npz", format_version=np.array(2)))
    swapped = np.array(["none", "skip_connect", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"])
    with pytest.raises(ValueError, match="indexes cells by the ops .* Rebuild it from the CSV"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "c.npz", ops=swapped))
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "d.npz", cifar10=np.zeros(3)))
    with pytest.raises(ValueError, match=r"distinct cell indices in \[0, 15625\)"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "e.npz", cells=np.array([4, 4], dtype=np.int16)))
    with pytest.raises(ValueError, match=r"distinct cell indices in \[0, 15625\)"):
        NASBench201Table.from_npz(_rewrite(path, tmp_path / "f.npz", cells=np.array([0, -1], dtype=np.int16)))


def test_shipped_file_is_a_plain_npz_with_fixed_timestamps():
    with zipfile.ZipFile(SHIPPED) as archive:
        names = archive.namelist()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert set(names) == {f"{k}.npy" for k in ("format_version", "ops", "edges", "cells", *DATASETS)}
    with np.load(io.BytesIO(SHIPPED.read_bytes()), allow_pickle=False) as archive:
        assert archive["cells"].shape == archive["cifar10"].shape == (15_625,)
        assert archive["cifar10"].dtype == np.float64
    assert (SHIPPED.parent / "NOTICE").read_text().count("NATS-Bench") >= 2


# ------------------------------------------------------------------------------------------------- tiny table
def test_tiny_table(tiny_csv):
    table = NASBench201Table.from_csv(str(tiny_csv))
    assert len(table) == 2
    assert [str(g) for g in table] == [ALL_SKIP, ALL_CONV]
    assert table.test_accuracy(ALL_SKIP) == 54.29666666666666
    assert table.test_accuracy(ALL_CONV, "cifar100") == 71.25
    assert table.best("imagenet16-120") == (NASBench201Genotype.from_string(ALL_CONV), 41.0)
    assert ALL_SKIP in table and NASBench201Genotype.from_string(ALL_CONV) in table
    assert BEST_CIFAR10 not in table and "garbage" not in table and 3 not in table


def test_unknown_dataset(tiny_csv):
    table = NASBench201Table.from_csv(tiny_csv)
    with pytest.raises(
        ValueError,
        match=r"`dataset` must be one of \['cifar10', 'cifar100', 'imagenet16-120'\]\. "
        r"Got 'imagenet' instead",
    ):
        table.test_accuracy(ALL_SKIP, dataset="imagenet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        table.best("svhn")  # type: ignore[arg-type]


def test_unknown_architecture(tiny_csv):
    table = NASBench201Table.from_csv(tiny_csv)
    with pytest.raises(KeyError, match="no row for the architecture"):
        table.test_accuracy(BEST_CIFAR10)


def test_malformed_architecture_string(tiny_csv):
    table = NASBench201Table.from_csv(tiny_csv)
    with pytest.raises(ValueError, match="unknown op 'conv' in node 1"):
        table.test_accuracy("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="DARTS-space genotype"):
        table.test_accuracy("Genotype(normal=[('sep_conv_3x3', 0)])")
    with pytest.raises(TypeError, match="expected a NASBench201Genotype or its string"):
        table.test_accuracy(3)  # type: ignore[arg-type]


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        NASBench201Table.from_csv(path)


def test_missing_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"CIFAR10TestAccuracy200Epochs,ArchitectureString\n54.3,{ALL_SKIP}\n")
    with pytest.raises(
        ValueError,
        match=r"lacks the column\(s\) \['CIFAR100TestAccuracy200Epochs', "
        r"'ImageNetTestAccuracy200Epochs'\]",
    ):
        NASBench201Table.from_csv(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="lacks the column"):
        NASBench201Table.from_csv(empty)


def test_bad_rows(tmp_path):
    bad_arch = tmp_path / "bad_arch.csv"
    bad_arch.write_text(f"{HEADER}\n1,2,3,|none~0|,u\n")
    with pytest.raises(ValueError, match="line 2: Invalid NAS-Bench-201 genotype string"):
        NASBench201Table.from_csv(bad_arch)
    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text(f"{HEADER}\n1,n/a,3,{ALL_SKIP},u\n")
    with pytest.raises(ValueError, match="line 2: the accuracies must be numbers"):
        NASBench201Table.from_csv(bad_value)
    duplicate = tmp_path / "duplicate.csv"
    duplicate.write_text(f"{HEADER}\n1,2,3,{ALL_SKIP},u\n4,5,6,{ALL_SKIP},u\n")
    with pytest.raises(ValueError, match="line 3: the architecture .* appears twice"):
        NASBench201Table.from_csv(duplicate)


def test_constructor_validates():
    genotype = NASBench201Genotype.from_string(ALL_SKIP)
    with pytest.raises(ValueError, match="must give exactly the data sets"):
        NASBench201Table({genotype: {"cifar10": 1.0}})
    with pytest.raises(TypeError, match="keyed by NASBench201Genotype. Got str"):
        NASBench201Table({ALL_SKIP: {"cifar10": 1.0, "cifar100": 2.0, "imagenet16-120": 3.0}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="the table is empty"):
        NASBench201Table({}).best()
