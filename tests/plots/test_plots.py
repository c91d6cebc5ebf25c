"""Plot functions: each figure carries the data it was given (shapes, values, labels), and bad input fails early."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lightning_nas import plots
from lightning_nas.selection import entropy_histogram
from lightning_nas.spaces import (
    DARTS_EDGES,
    DARTS_OPS,
    NB201_OPS,
    DARTSGenotype,
    DARTSSupernet,
    Genotype,
    GenotypeEdge,
    NASBench201Genotype,
    NASBench201Supernet,
)

pytest.importorskip("matplotlib")

DARTS_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
NB201_TEXT = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
MOBILENET = ["k3e3", "k3e6", "k5e3", "id"] * 5 + ["k7e6_se"]


def _texts(ax):
    return [t.get_text() for t in ax.texts if t.get_text()]  # arrows are annotations without text


@dataclass(frozen=True)
class FakeMobileNetPath:
    choices: tuple
    space = "mobilenet"


# ------------------------------------------------------------------------------------------------------- heatmap
def test_darts_heatmap_is_edges_by_ops_per_cell_with_the_softmax_and_the_genotype_framed():
    torch.manual_seed(0)
    net = DARTSSupernet(C=4, layers=3)
    with torch.no_grad():
        net.arch_alpha_normal.normal_()
        net.arch_alpha_reduce.normal_()
    fig = plots.plot_arch_weights(net)
    assert [ax.get_title() for ax in fig.axes] == ["normal", "reduce"]
    genotype = net.genotype()
    for ax, cell, alpha in zip(fig.axes, ("normal", "reduce"), (net.arch_alpha_normal, net.arch_alpha_reduce)):
        matrix = ax.images[0].get_array()
        assert matrix.shape == (len(DARTS_EDGES), len(DARTS_OPS)) == (14, 8)
        np.testing.assert_allclose(matrix, torch.softmax(alpha.detach(), -1).double().numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == list(DARTS_OPS)
        assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["2<-0", "2<-1", "3<-0"]
        framed = sorted((round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in ax.patches)
        expected = sorted(
            (DARTS_OPS.index(op), DARTS_EDGES.index((k // 2 + 2, source)))
            for k, (op, source) in enumerate(genotype.cell(cell))
        )
        assert framed == expected
        assert len(_texts(ax)) == 14 * 8  # every weight written in its square


def test_nb201_heatmap_with_pcdarts_betas_and_a_genotype_frame_per_edge():
    torch.manual_seed(1)
    net = NASBench201Supernet(C=4, N=1, edge_normalization=True)
    with torch.no_grad():
        net.arch_alpha.normal_()
        net.arch_beta.normal_()
    table = plots.arch_weights(net)["cell"]
    assert table.ops == NB201_OPS and table.edges == ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")
    np.testing.assert_allclose(table.weights, net.op_weights().detach().double().numpy())
    assert not np.allclose(table.weights.sum(1), 1.0)  # the betas scale the edges
    fig = plots.plot_arch_weights({"cell": table}, genotype=net.genotype(), annotate=False)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (6, 5)
    assert _texts(ax) == []
    framed = {round(p.get_y() + 0.5): round(p.get_x() + 0.5) for p in ax.patches}
    assert framed == {e: NB201_OPS.index(op) for e, op in enumerate(net.genotype().ops)}


def test_pdarts_op_subsets_leave_non_candidates_blank():
    subset = [["none", "skip_connect", "sep_conv_3x3"], ["max_pool_3x3", "sep_conv_5x5", "dil_conv_3x3"]]
    ops = {cell: [subset[e % 2] for e in range(14)] for cell in ("normal", "reduce")}
    net = DARTSSupernet(C=4, layers=3, candidate_ops=ops)
    table = plots.arch_weights(net)["normal"]
    assert table.ops == ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3")
    assert np.isnan(table.weights).sum() == 14 * 3
    assert np.isnan(table.weights[0, table.ops.index("max_pool_3x3")])
    matrix = plots.plot_arch_weights(net).axes[0].images[0].get_array()
    assert matrix.shape == (14, 6) and matrix.mask.sum() == 14 * 3


def test_heatmap_input_errors():
    with pytest.raises(TypeError, match="op_weights"):
        plots.arch_weights(torch.nn.Linear(2, 2))
    bad = plots.ArchWeights(np.zeros((3, 2)), ("a", "b"), ("e0", "e1"))
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        plots.plot_arch_weights({"cell": bad})
    with pytest.raises(ValueError, match="at least one cell"):
        plots.plot_arch_weights({})


# ------------------------------------------------------------------------------------------------ cell diagrams
def test_darts_cell_diagram_names_every_operation_of_both_cells():
    genotype = DARTSGenotype.from_string(DARTS_TEXT)
    fig = plots.plot_cell(genotype)
    assert [ax.get_title() for ax in fig.axes] == ["normal cell", "reduce cell"]
    for ax, cell in zip(fig.axes, ("normal", "reduce")):
        texts = _texts(ax)
        labels = [op for op, _ in genotype.cell(cell)]
        assert sorted(t for t in texts if t in DARTS_OPS) == sorted(labels)  # one label per kept edge
        assert {"$c_{k-2}$", "$c_{k-1}$", "$c_{k}$", "0", "1", "2", "3"} <= set(texts)
    only = plots.plot_cell(DARTS_TEXT, cell="reduce")
    assert len(only.axes) == 1 and sorted(t for t in _texts(only.axes[0]) if t in DARTS_OPS) == sorted(
        op for op, _ in genotype.reduce
    )


def test_nb201_cell_diagram_names_every_edge_operation():
    genotype = NASBench201Genotype.from_string(NB201_TEXT)
    texts = _texts(plots.plot_cell(genotype).axes[0])
    assert sorted(t for t in texts if t in NB201_OPS) == sorted(genotype.ops)
    assert {"input", "1", "2", "output"} <= set(texts)


def test_mobilenet_path_diagram_from_choices_or_a_path_object():
    for path in (MOBILENET, FakeMobileNetPath(tuple(MOBILENET)), "-".join(MOBILENET)):
        texts = _texts(plots.plot_cell(path).axes[0])
        assert [t for t in texts if not t.startswith("stage")] == MOBILENET
        assert [t for t in texts if t.startswith("stage")] == [f"stage {i}" for i in range(1, 7)]
    with pytest.raises(ValueError, match="adding up to the 21 choices"):
        plots.plot_mobilenet_path(MOBILENET, stages=(4, 4))


def test_cell_diagram_errors():
    with pytest.raises(ValueError, match="string of a NAS-Bench-201, DARTS or MobileNet genotype"):
        plots.plot_cell("not a genotype")
    with pytest.raises(TypeError, match="Got int instead"):
        plots.plot_cell(3)
    with pytest.raises(ValueError, match="`cell` must be 'normal', 'reduce' or None"):
        plots.plot_cell(DARTS_TEXT, cell="other")


def test_genotype_history_grid_holds_op_indices_per_edge_and_epoch():
    first = NASBench201Genotype.from_string(NB201_TEXT)
    collapsed = NASBench201Genotype.from_ops(["skip_connect"] * 6)
    fig = plots.plot_genotype_history([first, str(collapsed), collapsed], epochs=[0, 5, 10])
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (6, 3)
    assert grid[:, 0].tolist() == [NB201_OPS.index(op) for op in first.ops]
    assert grid[:, 1:].tolist() == [[1, 1]] * 6
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(NB201_OPS)
    darts = plots.plot_genotype_history([DARTS_TEXT])
    assert darts.axes[0].images[0].get_array().shape == (16, 1)
    assert _texts(darts.axes[0])[:2] == ["0", "1"]  # each square names its edge's input node
    with pytest.raises(ValueError, match="one space"):
        plots.plot_genotype_history([NB201_TEXT, DARTS_TEXT])
    with pytest.raises(ValueError, match="one epoch per genotype"):
        plots.plot_genotype_history([NB201_TEXT], epochs=[0, 1])
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_genotype_history([])


# ---------------------------------------------------------------------------------------------------------- data
def test_remaining_samples_has_a_line_per_split_and_per_class():
    fig = plots.plot_remaining_samples(
        {"train": [10, 9, 8], "val": [10, 8, 6]},
        epochs=[0, 1, 2],
        class_counts={"train": {0: [5, 5, 4], 1: [5, 4, 4]}, "val": {0: [5, 4, 3], 1: [5, 4, 3]}},
    )
    assert len(fig.axes) == 3
    assert [line.get_ydata().tolist() for line in fig.axes[0].lines] == [[10, 9, 8], [10, 8, 6]]
    assert [line.get_ydata().tolist() for line in fig.axes[1].lines] == [[5, 5, 4], [5, 4, 4]]
    assert fig.axes[0].lines[0].get_xdata().tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="one value per epoch"):
        plots.plot_remaining_samples({"train": [1, 2]}, epochs=[0, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        plots.plot_remaining_samples({"train": [1, float("nan")]})
    with pytest.raises(ValueError, match="at least one split"):
        plots.plot_remaining_samples({})


def test_entropy_histogram_bars_match_the_pool_and_selection_histograms():
    rng = np.random.default_rng(0)
    h = np.exp(rng.normal(-6, 3, 500))
    selections = {"random": rng.choice(500, 50, replace=False), "bottom-k": np.argsort(h)[:50]}
    fig = plots.plot_entropy_histogram(h, selections, bin_width=0.5)
    hist = entropy_histogram(h, 0.5)
    for ax, ids in zip(fig.axes, selections.values()):
        pool_bars, selection_bars = ax.containers[0], ax.containers[1]
        assert [int(b.get_height()) for b in pool_bars] == hist.counts.tolist()
        log_h = np.log10(h[ids])
        brute = [int(((log_h >= lo) & (log_h < hi)).sum()) for lo, hi in zip(hist.edges[:-1], hist.edges[1:])]
        assert [int(b.get_height()) for b in selection_bars] == brute
        assert [b.get_x() for b in pool_bars] == pytest.approx(hist.edges[:-1].tolist())
    assert [ax.get_title() for ax in fig.axes[:2]] == ["random", "bottom-k"]
    with pytest.raises(ValueError, match=r"indices in \[0, 500\)"):
        plots.plot_entropy_histogram(h, [0, 500])
    with pytest.raises(ValueError, match="must not repeat"):
        plots.plot_entropy_histogram(h, [1, 1])


# ------------------------------------------------------------------------------------------ candidates, search
def test_candidate_pool_histogram_counts_every_path_and_ranks_the_losses():
    rng = np.random.default_rng(0)
    pool = sorted((float(loss), f"path{i}") for i, loss in enumerate(rng.normal(2.0, 0.3, 40)))
    fig = plots.plot_candidate_pool(pool, bins=8)
    assert sum(int(b.get_height()) for b in fig.axes[0].containers[0]) == 40
    assert fig.axes[1].lines[0].get_ydata().tolist() == [loss for loss, _ in pool]
    assert plots.plot_candidate_pool([1.0, 2.0]).axes[1].lines[0].get_ydata().tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_candidate_pool([])
    with pytest.raises(ValueError, match="finite"):
        plots.plot_candidate_pool([(float("inf"), "p")])


def test_evolution_shows_every_individual_and_the_best_so_far_per_cycle():
    history = [
        {"id": 0, "cycle": 0, "accuracy": 0.30, "stage": 0},
        {"id": 1, "cycle": 0, "accuracy": 0.50, "stage": 0},
        {"id": 2, "cycle": 1, "accuracy": 0.40, "stage": 0},
        {"id": 3, "cycle": 3, "accuracy": 0.70, "stage": 1},
        {"id": 4, "cycle": 4, "accuracy": 0.60, "stage": 1, "epochs": 20},
    ]
    ax = plots.plot_evolution(history).axes[0]
    assert ax.lines[0].get_xdata().tolist() == [0, 1, 3, 4]
    assert ax.lines[0].get_ydata().tolist() == [0.5, 0.5, 0.7, 0.7]
    assert [len(c.get_offsets()) for c in ax.collections] == [3, 2]  # one group per stage
    plain = plots.plot_evolution([{k: v for k, v in r.items() if k != "stage"} for r in history]).axes[0]
    assert len(plain.collections) == 1 and len(plain.collections[0].get_offsets()) == 5
    with pytest.raises(ValueError, match="record 1 must be a mapping with 'cycle' and 'accuracy'"):
        plots.plot_evolution([{"cycle": 0, "accuracy": 1.0}, {"cycle": 1}])


def test_pareto_front_matches_brute_force_and_is_drawn():
    rng = np.random.default_rng(3)
    flops, acc = rng.integers(1, 20, 60) * 1e6, rng.random(60).round(2)

    def dominated(i):
        return any(
            flops[j] <= flops[i] and acc[j] >= acc[i] and (flops[j] < flops[i] or acc[j] > acc[i]) for j in range(60)
        )

    front = plots.pareto_front(flops, acc)
    brute = {(flops[i], acc[i]) for i in range(60) if not dominated(i)}
    assert {(flops[i], acc[i]) for i in front} == brute and len(front) == len(brute)
    assert np.all(np.diff(flops[front]) > 0)
    records = [{"flops": f, "accuracy": a, "path": i} for i, (f, a) in enumerate(zip(flops, acc))]
    ax = plots.plot_pareto_front(records, max_flops=15e6).axes[0]
    assert len(ax.collections[0].get_offsets()) == 60
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 0], flops[front] / 1e6)
    assert ax.lines[0].get_ydata().tolist() == acc[front].tolist()
    given = plots.plot_pareto_front(records, [records[5], records[2]]).axes[0]
    assert given.collections[1].get_offsets()[:, 0].tolist() == sorted([flops[5] / 1e6, flops[2] / 1e6])
    by_index = plots.plot_pareto_front(records, [5, 2]).axes[0]
    assert by_index.collections[1].get_offsets().tolist() == given.collections[1].get_offsets().tolist()
    with pytest.raises(ValueError, match=r"indices must be in \[0, 60\)"):
        plots.plot_pareto_front(records, [60])
    with pytest.raises(ValueError, match="record 0 must be a mapping with 'flops' and 'accuracy'"):
        plots.plot_pareto_front([{"flops": 1}])


def test_curves_and_png_files(tmp_path):
    fig = plots.plot_curves(
        {"loss": {"train": ([0, 1, 2], [2.3, 2.0, 1.8]), "val": ([0, 1, 2], [2.4, 2.2, 2.1])}, "empty": {}},
        path=tmp_path / "deep" / "curves.png",
    )
    assert len(fig.axes) == 1 and [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]
    data = (tmp_path / "deep" / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError, match="2 x and 3 y values"):
        plots.plot_curves({"loss": {"train": ([0, 1], [1, 2, 3])}})
    with pytest.raises(ValueError, match="at least one series"):
        plots.plot_curves({"loss": {}})


# ------------------------------------------------------------------------------------------- any space's genotype
@dataclass(frozen=True)
class TwoCellGenotype(Genotype):
    """A genotype of a space that is not registered: the plots read only its edges."""

    space = "_unregistered"
    ops: tuple

    @classmethod
    def from_string(cls, s):
        return cls(tuple(s.split(",")))

    def __str__(self):
        return ",".join(self.ops)

    def edges(self):
        return tuple(
            GenotypeEdge(cell, f"{t}<-{s}", op, s, t)
            for cell, (s, t), op in zip(("a", "a", "b"), ((0, 1), (1, 2), (0, 1)), self.ops, strict=True)
        )


class UnlabelledSupernet(torch.nn.Module):
    cell_types = ("a",)

    def __init__(self):
        super().__init__()
        self.arch_alpha = torch.nn.Parameter(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))

    def op_weights(self, cell):
        return torch.softmax(self.arch_alpha, dim=-1)

    def edge_ops(self, cell):
        return [["my_conv", "my_skip"]] * 2

    def genotype(self):
        return TwoCellGenotype(("my_skip", "my_conv", "my_conv"))


def test_a_genotype_of_an_unknown_space_is_drawn_from_its_edges():
    genotype = TwoCellGenotype(("my_skip", "my_conv", "my_conv"))
    fig = plots.plot_cell(genotype)
    assert len(fig.axes) == 2
    assert sorted(t for t in _texts(fig.axes[0]) if t.startswith("my_")) == ["my_conv", "my_skip"]
    assert {"input", "output"} <= set(_texts(fig.axes[0]))
    with pytest.raises(ValueError, match="`cell` must be 'a', 'b' or None"):
        plots.plot_cell(genotype, cell="c")
    history = plots.plot_genotype_history([genotype, TwoCellGenotype(("my_conv",) * 3)])
    assert [t.get_text() for t in history.axes[0].get_yticklabels()] == ["a: 1<-0", "a: 2<-1", "b: 1<-0"]
    table = plots.arch_weights(UnlabelledSupernet())["a"]
    assert table.edges == ("1<-0", "2<-1") and table.ops == ("my_conv", "my_skip")  # rows: the genotype's edge labels
    framed = plots.plot_arch_weights(UnlabelledSupernet())
    assert len(framed.axes[0].patches) == 2  # the genotype's op on each edge
    chain = plots.plot_cell(["x1", "x2", "x3"])  # a chain that is no MobileNet path: one row
    assert [t for t in _texts(chain.axes[0]) if t.startswith("x")] == ["x1", "x2", "x3"]
