from __future__ import annotations

from pathlib import Path

import pytest

from lightning_nas.benchmarks import NASBench201Table
from lightning_nas.spaces import NASBench201Genotype

CSV_PATH = Path(__file__).parents[2].parent / "shared/data/nasbench201/nats-tss-200epoch-test-accuracy.csv"
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
