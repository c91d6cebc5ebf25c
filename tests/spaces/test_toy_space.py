"""The space contract is open for extension: a toy space defined and registered here runs end to end.

A two-edge cell with three ops, written only against the public contract of :mod:`lightning_nas.spaces`
(:class:`DifferentiableSearchSpace`, :class:`Supernet`, :class:`Genotype` with :meth:`~Genotype.edges`), is searched
with :class:`~lightning_nas.methods.DARTS` under :class:`GenotypeExport`, :class:`SearchPlots` and
:class:`CollapseMonitor`, and ``lightning-nas report`` summarises the run, with no change anywhere else. The
registration is undone when the test ends.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

import pytest
import torch
from lightning import seed_everything
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn

from lightning_nas.callbacks import CollapseMonitor, GenotypeExport, SearchPlots
from lightning_nas.datamodules import ArraySearchDataModule
from lightning_nas.methods import DARTS
from lightning_nas.report import main as report_main
from lightning_nas.spaces import (
    DifferentiableSearchSpace,
    Genotype,
    GenotypeEdge,
    Supernet,
    get_search_space_class,
    list_search_spaces,
    register_search_space,
    unregister_search_space,
)

pytest.importorskip("matplotlib")

TOY = "toy"
TOY_OPS = ("toy_zero", "toy_skip", "toy_conv")
EDGES = ((0, 1), (1, 2))  # (input node, output node) of the two edges: a chain of two mixed edges


@dataclass(frozen=True)
class ToyGenotype(Genotype):
    """One op per edge; the canonical string joins them with ``>``, e.g. ``"toy_conv>toy_skip"``."""

    space: ClassVar[str] = TOY
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES) or any(op not in TOY_OPS for op in self.ops):
            raise ValueError(f"`ToyGenotype`: `ops` must be {len(EDGES)} names from {TOY_OPS}. Got {self.ops!r}.")

    @classmethod
    def from_string(cls, s: str) -> ToyGenotype:
        if not isinstance(s, str) or s.count(">") != len(EDGES) - 1:
            raise ValueError(f"Invalid toy genotype string {s!r}: expected {len(EDGES)} ops joined by '>'.")
        return cls(tuple(s.split(">")))

    def __str__(self) -> str:
        return ">".join(self.ops)

    def edges(self) -> tuple[GenotypeEdge, ...]:
        return tuple(
            GenotypeEdge("cell", f"{node}<-{source}", op, source, node)
            for (source, node), op in zip(EDGES, self.ops, strict=True)
        )


def _op(name: str, C: int) -> nn.Module:
    if name == "toy_zero":
        return _Zero()
    if name == "toy_skip":
        return nn.Identity()
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))


class _Zero(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


class _Net(nn.Module):
    def __init__(self, C: int, in_channels: int, num_classes: int, edges: list[nn.ModuleList]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.edges = nn.ModuleList(edges)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, num_classes))


class ToySupernet(_Net, Supernet):
    """Two mixed edges weighted by ``softmax(arch_alpha)``; draws as a heat map through ``op_weights``/``edge_ops``."""

    cell_types: ClassVar[tuple[str, ...]] = ("cell",)

    def __init__(self, C: int, in_channels: int, num_classes: int) -> None:
        super().__init__(C, in_channels, num_classes, [nn.ModuleList(_op(op, C) for op in TOY_OPS) for _ in EDGES])
        self.arch_alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(TOY_OPS)))

    def op_weights(self, cell: str = "cell") -> Tensor:
        return torch.softmax(self.arch_alpha, dim=-1)

    def edge_ops(self, cell: str = "cell") -> list[list[str]]:
        return [list(TOY_OPS) for _ in EDGES]

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for ops, weights in zip(self.edges, self.op_weights(), strict=True):
            h = sum(w * op(h) for w, op in zip(weights, ops, strict=True))
        return self.head(h)

    def genotype(self) -> ToyGenotype:
        return ToyGenotype(tuple(TOY_OPS[int(i)] for i in self.arch_alpha.argmax(dim=-1)))


class ToyNetwork(_Net):
    def __init__(self, genotype: ToyGenotype, C: int, in_channels: int, num_classes: int) -> None:
        super().__init__(C, in_channels, num_classes, [nn.ModuleList([_op(op, C)]) for op in genotype.ops])

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for (op,) in self.edges:
            h = op(h)
        return self.head(h)


class ToySpace(DifferentiableSearchSpace):
    name: ClassVar[str] = TOY
    genotype_type: ClassVar[type[Genotype]] = ToyGenotype
    ops: ClassVar[tuple[str, ...]] = TOY_OPS
    skip_op: ClassVar[str | None] = "toy_skip"
    parameter_free_ops: ClassVar[tuple[str, ...]] = ("toy_zero", "toy_skip")

    def __init__(self, C: int = 4, in_channels: int = 3) -> None:
        self.C = C
        self.in_channels = in_channels

    def build_supernet(self, num_classes: int) -> ToySupernet:
        return ToySupernet(self.C, self.in_channels, num_classes)

    def build_network(self, genotype: Genotype | str, num_classes: int) -> ToyNetwork:
        return ToyNetwork(cast(ToyGenotype, self.parse_genotype(genotype)), self.C, self.in_channels, num_classes)


@pytest.fixture
def toy_space():
    """``ToySpace`` registered as ``"toy"`` for the test, unregistered afterwards."""
    register_search_space(TOY)(ToySpace)
    try:
        yield ToySpace
    finally:
        unregister_search_space(TOY)
    assert TOY not in list_search_spaces()


def test_the_toy_space_is_registered_and_parsed_through_the_registry(toy_space):
    assert TOY in list_search_spaces() and get_search_space_class(TOY) is ToySpace
    genotype = Genotype.from_json(ToyGenotype(("toy_conv", "toy_skip")).to_json())
    assert genotype == ToyGenotype(("toy_conv", "toy_skip")) and genotype.space_class() is ToySpace
    assert genotype.cells() == ("cell",) and genotype.op_names() == ["toy_conv", "toy_skip"]
    assert ToySpace().build_network(str(genotype), 3)(torch.rand(2, 3, 8, 8)).shape == (2, 3)


def _arrays(n: int = 32, size: int = 8, classes: int = 3) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) * 0.5
    x[:, 0] += y.view(-1, 1, 1) / classes
    return x, y


def test_darts_on_the_toy_space_runs_end_to_end_with_the_callbacks_and_the_report(toy_space, tmp_path, tiny_trainer):
    seed_everything(0)
    x, y = _arrays()
    model = DARTS(search_space=TOY, space_options={"C": 4}, num_classes=3, arch_lr=0.05)
    monitor = CollapseMonitor(cell="normal")  # one cell: `cell` does not apply
    trainer = tiny_trainer(
        max_epochs=2,
        callbacks=[GenotypeExport(), SearchPlots(), monitor],
        logger=CSVLogger(tmp_path, name="toy"),
        limit_val_batches=1,
        log_every_n_steps=1,
    )
    trainer.fit(model, ArraySearchDataModule(x, y, batch_size=8))
    run = Path(trainer.log_dir)

    # GenotypeExport: the toy genotype round-trips through genotype.json
    exported = json.loads((run / "genotype.json").read_text())
    final = model.genotype()
    assert exported["space"] == TOY and exported["genotype"] == str(final) and len(exported["history"]) == 2
    assert ToyGenotype.from_string(exported["genotype"]) == final
    assert Genotype.from_json(json.dumps({"space": TOY, "genotype": exported["genotype"]})) == final

    # CollapseMonitor: counts of the toy space's skip op and parameter-free ops, every epoch
    history = [ToyGenotype.from_string(s) for s in exported["history"]]
    assert monitor.history == {e: g.ops.count("toy_skip") for e, g in enumerate(history)}
    with open(run / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row.get("collapse/num_skip")]
    assert [float(row["collapse/num_skip"]) for row in rows] == [g.ops.count("toy_skip") for g in history]
    assert [float(row["collapse/num_param_free"]) for row in rows] == [
        sum(op in ToySpace.parameter_free_ops for op in g.ops) for g in history
    ]

    # SearchPlots: the heat map (rows: the genotype's edge labels) and the cell diagram
    assert (run / "plots" / "arch_weights.png").is_file() and (run / "plots" / "cell.png").is_file()
    from lightning_nas import plots

    table = plots.arch_weights(model)["cell"]
    assert table.edges == ("1<-0", "2<-1") and table.ops == TOY_OPS
    texts = {t.get_text() for t in plots.plot_cell(final).axes[0].texts}
    assert set(final.ops) <= texts and {"input", "output"} <= texts

    # lightning-nas report, without a benchmark table
    assert report_main([str(run)]) == 0
    page = (run / "report.html").read_text()
    for figure in ("cell.png", "arch_weights.png", "genotype_history.png", "collapse.png"):  # the run's or its own
        assert figure in page and any(run.rglob(figure))
    assert html.escape(str(final)) in page  # the final toy genotype
