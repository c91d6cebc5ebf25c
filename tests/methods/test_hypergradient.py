import pytest
import torch
from torch import nn
from torch.func import functional_call

from lightning_nas.methods.hypergradient import sgd_virtual_step, unrolled_arch_gradient


class TinySupernet(nn.Module):
    """Three candidate ops mixed by softmax(alpha), BatchNorm (with buffers) and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = nn.ModuleList([nn.Linear(5, 6), nn.Linear(5, 6), nn.Sequential(nn.Linear(5, 6), nn.Tanh())])
        self.alpha = nn.Parameter(torch.randn(3))
        self.bn = nn.BatchNorm1d(6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        w = self.alpha.softmax(0)
        h = sum(wi * op(x) for wi, op in zip(w, self.ops))
        return self.head(self.bn(torch.tanh(h)))


def _setup(seed=0):
    torch.manual_seed(seed)
    model = TinySupernet().double()
    names = [n for n, _ in model.named_parameters() if n != "alpha"]
    train = (torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,)))
    val = (torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,)))
    return model, names, train, val


def _exact_hypergradient(model, names, train, val, lr, momentum, weight_decay, buffers):
    """d/dalpha L_val(w'(alpha), alpha) by double backprop through the virtual SGD step."""
    params = dict(model.named_parameters())
    weights = [params[n] for n in names]
    state = {n: b.clone() for n, b in model.named_buffers()}
    logits = functional_call(model, {**state, **dict(zip(names, weights))}, (train[0],))
    g = torch.autograd.grad(nn.functional.cross_entropy(logits, train[1]), weights, create_graph=True)
    stepped = [
        w.detach() - lr * (momentum * m + gi + weight_decay * w.detach()) for w, gi, m in zip(weights, g, buffers)
    ]
    state = {n: b.clone() for n, b in model.named_buffers()}
    logits = functional_call(model, {**state, **dict(zip(names, stepped))}, (val[0],))
    return torch.autograd.grad(nn.functional.cross_entropy(logits, val[1]), model.alpha)[0]


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 3e-4)])
def test_second_order_matches_autograd_reference_and_differs_from_first_order(momentum, weight_decay):
    model, names, train, val = _setup()
    lr = 0.5  # a large xi makes the second-order term clearly visible
    buffers = [
        torch.randn_like(p) * 0.1 if momentum else torch.zeros_like(p)
        for n, p in model.named_parameters()
        if n != "alpha"
    ]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kwargs = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, momentum_buffers=buffers if momentum else None)
    reference = _exact_hypergradient(model, names, train, val, lr, momentum, weight_decay, buffers)
    # with a small finite-difference step the central difference is exact up to O(r^2)
    (precise,), _, _ = unrolled_arch_gradient(model, names, [model.alpha], train, val, r=1e-5, **kwargs)
    torch.testing.assert_close(precise, reference, rtol=1e-7, atol=1e-10)
    # DARTS's r = 0.01 is a good approximation
    (grad,), loss_val, logits_val = unrolled_arch_gradient(model, names, [model.alpha], train, val, **kwargs)
    torch.testing.assert_close(grad, reference, rtol=2e-2, atol=1e-5)

    # neither the weights nor the BatchNorm running statistics were touched
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert logits_val.shape == (16, 3) and loss_val.ndim == 0
    first_order = torch.autograd.grad(nn.functional.cross_entropy(model(val[0]), val[1]), model.alpha)[0]
    assert (grad - first_order).abs().max() > 1e-3 * first_order.abs().max()


def test_zero_validation_gradient_skips_the_correction():
    model, names, train, val = _setup()
    with torch.no_grad():  # the head outputs zeros: v = dL_val/dw' vanishes except for the head itself
        model.head.weight.zero_()
        model.head.bias.zero_()
    reduce_calls = []

    def reduce(tensors):
        reduce_calls.append(len(tensors))
        return [torch.zeros_like(t) for t in tensors]  # everything averaged to zero -> ||v|| = 0

    grads, _, _ = unrolled_arch_gradient(model, names, [model.alpha], train, val, lr=0.1, reduce=reduce)
    assert torch.equal(grads[0], torch.zeros(3, dtype=torch.float64))
    assert reduce_calls == [len(names), len(names) + 1]  # g, then (dalpha, v); no HVP once ||v|| = 0


@pytest.mark.parametrize("nesterov", [False, True])
def test_virtual_step_equals_a_real_sgd_step(nesterov):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(4, 3))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=nesterov)
    for _ in range(3):  # build a momentum buffer, then compare the next step
        w.grad = torch.randn(4, 3)
        opt.step()
    g = torch.randn(4, 3)
    predicted = sgd_virtual_step([w.detach()], [g], 0.1, 0.9, 1e-2, nesterov, [opt.state[w]["momentum_buffer"]])[0]
    w.grad = g
    opt.step()
    torch.testing.assert_close(predicted, w.detach())
