import pytest
import torch
from torch import nn

from lightning_nas.methods import PathScores, evaluate_paths
from lightning_nas.methods.path_evaluation import tensor_batches


class ScaledNet(nn.Module):
    """``supernet(x, path)``: a linear layer, a BatchNorm and a per-path scale; records the mode of each forward."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.modes = []

    def forward(self, x, path):
        self.modes.append(self.training)
        return self.bn(self.linear(x)) * path


def _data(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randint(0, 4, (n,), generator=g)


def _brute_force(net, paths, x, y):
    """Per-path mean cross-entropy and accuracy, one sample at a time."""
    losses, accs = [], []
    for path in paths:
        logits = [net(x[i : i + 1], path) for i in range(len(y))]
        losses.append(sum(nn.functional.cross_entropy(z, y[i : i + 1]).item() for i, z in enumerate(logits)) / len(y))
        accs.append(sum(int(z.argmax(1) == y[i]) for i, z in enumerate(logits)) / len(y))
    return losses, accs


def test_scores_match_a_sample_by_sample_evaluation_in_eval_mode():
    torch.manual_seed(0)
    net = ScaledNet()
    net.bn.running_mean.uniform_(-1, 1)  # eval mode uses these: a batch-statistics forward would differ
    x, y = _data()
    paths = [1.0, -1.0, 3.0]
    scores = evaluate_paths(net, paths, tensor_batches(x, y, 4))
    with torch.no_grad():
        losses, accs = _brute_force(net.eval(), paths, x, y)
    assert isinstance(scores, PathScores) and scores.num_samples == 10
    assert scores.losses == pytest.approx(losses, rel=1e-6)
    assert scores.accuracies == pytest.approx(accs)
    assert scores.accuracies[0] + scores.accuracies[1] <= 1.0  # a path and its negation never agree on a sample


def test_each_batch_is_loaded_once_and_the_scores_do_not_depend_on_the_chunk_size():
    net = ScaledNet()
    x, y = _data()
    loads = []

    def batches(size):
        for xb, yb in tensor_batches(x, y, size):
            loads.append(len(yb))
            yield xb, yb, torch.arange(len(yb))  # (x, y, ids) batches are taken too

    small = evaluate_paths(net, [1.0, 2.0], batches(3))
    assert loads == [3, 3, 3, 1]  # the batches, once each, for both paths
    whole = evaluate_paths(net, [1.0, 2.0], batches(10))
    assert small.losses == pytest.approx(whole.losses, rel=1e-6) and small.accuracies == whole.accuracies


def test_max_batches_caps_the_evaluation():
    net = ScaledNet()
    x, y = _data()
    capped = evaluate_paths(net, [1.0], tensor_batches(x, y, 4), max_batches=1)
    first = evaluate_paths(net, [1.0], tensor_batches(x[:4], y[:4], 4))
    assert capped == first and capped.num_samples == 4


def test_mode_is_restored_per_submodule_or_left_to_the_caller():
    net = ScaledNet().train()
    net.linear.eval()  # a submodule the caller froze stays frozen
    x, y = _data()
    evaluate_paths(net, [1.0], tensor_batches(x, y, 5))
    assert net.modes == [False, False]
    assert net.training and net.bn.training and not net.linear.training
    net.modes.clear()
    evaluate_paths(net, [1.0], tensor_batches(x, y, 5), eval_mode=False)
    assert net.modes == [True, True]


def test_no_gradients_are_recorded_and_labels_of_any_integer_type_are_taken():
    net = ScaledNet()
    x, y = _data()
    scores = evaluate_paths(net, [1.0], [(x, y.int())])
    assert scores.num_samples == 10 and all(p.grad is None for p in net.parameters())


def test_no_paths_give_no_scores_and_no_samples_are_refused():
    assert evaluate_paths(ScaledNet(), [], []) == PathScores([], [], 0)
    with pytest.raises(ValueError, match="`batches` must hold at least one sample"):
        evaluate_paths(ScaledNet(), [1.0], [])
