"""The DARTS second-order (unrolled) architecture gradient, as a pure function.

Kept apart from the LightningModule so that it can be checked against an exact autograd reference on any tiny
``nn.Module`` and reused by every DARTS variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

Loss = Callable[[Tensor, Tensor], Tensor]
Reduce = Callable[[list[Tensor]], list[Tensor]]


def _identity(tensors: list[Tensor]) -> list[Tensor]:
    return tensors


def sgd_virtual_step(
    weights: Sequence[Tensor],
    grads: Sequence[Tensor],
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    momentum_buffers: Sequence[Tensor | None] | None = None,
) -> list[Tensor]:
    """The weights one ``torch.optim.SGD`` step would produce, without touching the optimizer.

    Follows PyTorch's SGD update (dampening 0): ``d = g + wd*w``, ``b = mu*m + d`` (``b = d`` without a
    buffer), ``w' = w - lr * (d + mu*b if nesterov else b)``. With plain momentum this is DARTS's
    ``w - xi * (mu*m + g + wd*w)``.

    Example:
        >>> w, g = [torch.tensor([1.0])], [torch.tensor([0.5])]
        >>> sgd_virtual_step(w, g, lr=0.1, weight_decay=0.1)
        [tensor([0.9400])]
    """
    buffers = momentum_buffers if momentum_buffers is not None else [None] * len(weights)
    stepped = []
    for w, g, m in zip(weights, grads, buffers, strict=True):
        d = g + weight_decay * w if weight_decay else g
        if momentum:
            b = d if m is None else momentum * m + d
            d = d + momentum * b if nesterov else b
        stepped.append(w - lr * d)
    return stepped


def unrolled_arch_gradient(
    network: nn.Module,
    weight_names: Sequence[str],
    arch_params: Sequence[nn.Parameter],
    train_batch: tuple[Tensor, Tensor],
    val_batch: tuple[Tensor, Tensor],
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    momentum_buffers: Sequence[Tensor | None] | None = None,
    r: float = 0.01,
    loss_fn: Loss = nn.functional.cross_entropy,
    reduce: Reduce = _identity,
    loss_scale: float | Tensor = 1.0,
) -> tuple[list[Tensor], Tensor, Tensor]:
    """DARTS's second-order architecture gradient ``dα L_val(w - ξ∇w L_train(w, α), α)``.

    1. ``g = ∇w L_train(w, α)`` on the train batch; the virtual SGD step ``w' = w - ξ(μm + g + λw)``.
    2. ``dα = ∇α L_val(w', α)`` and ``v = ∇w' L_val(w', α)`` on the val batch.
    3. The Hessian-vector product by central differences around the **original** ``w``:
       ``(∇α L_train(w + εv) - ∇α L_train(w - εv)) / 2ε`` with ``ε = r / ||v||``; skipped when ``||v|| = 0``.
    4. The result is ``dα - ξ * HVP``.

    Every forward pass runs through :func:`torch.func.functional_call` on *copies* of the network's buffers,
    so neither the weights nor the BatchNorm running statistics of ``network`` change. ``reduce`` averages
    lists of tensors across data-parallel processes (identity on one process); it is applied to ``g``, to
    ``(dα, v)`` and to the HVP, which makes the result equal to the one of the concatenated global batch.

    Under mixed precision (``torch.autocast``, which the caller's context applies to every forward pass here),
    ``loss_scale`` is the gradient scaler's current scale (``"16-mixed"``; a float, or a one-element tensor that
    spares a host sync): each of the four backward passes starts from ``loss_scale * loss``, so that small float16
    gradients do not flush to zero, and its gradients are divided by ``loss_scale`` at once (a power of two:
    exact). The two finite-difference passes run with autocast off, in the weights' precision: in bfloat16 most
    shifts ``±εv`` round away (on small DARTS supernets, 74-93 % of the weights have ``w + εv`` and ``w - εv``
    equal in bfloat16, and the Hessian term is 40-110 % off). The result is in unscaled units either way; a
    float16 overflow leaves it non-finite, which a ``GradScaler`` detects once the caller multiplies the result by
    the scale and sets it as ``.grad`` (its ``step`` then skips the update and lowers the scale).

    Args:
        network: the supernet; its own parameters are ``w`` (named ``weight_names``) and ``α`` (``arch_params``).
        weight_names: names (as in ``network.named_parameters()``) of the weights ``w``.
        arch_params: the architecture parameters ``α``.
        train_batch: ``(x, y)`` of the weight split.
        val_batch: ``(x, y)`` of the architecture split.
        lr: ``ξ``, the current learning rate of the weight optimizer.
        momentum: SGD momentum ``μ`` of the weight optimizer.
        weight_decay: SGD weight decay ``λ``.
        nesterov: whether the weight optimizer uses Nesterov momentum.
        momentum_buffers: the weight optimizer's momentum buffers (``None`` entries before its first step).
        r: the finite-difference scale (DARTS: 0.01).
        loss_fn: ``loss_fn(logits, y)``.
        reduce: cross-process mean of a list of tensors.
        loss_scale: the factor of the losses before each backward pass (a ``GradScaler``'s scale).

    Returns:
        The gradient for each tensor of ``arch_params``, the validation loss at ``w'`` and its logits.

    References:
        Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019, Eq. (7)-(8).
    """
    unscaled = not isinstance(loss_scale, Tensor) and loss_scale == 1.0
    if not isinstance(loss_scale, Tensor) and not loss_scale > 0:
        raise ValueError(f"`unrolled_arch_gradient(loss_scale={loss_scale!r})`: `loss_scale` must be positive.")
    params = dict(network.named_parameters())
    weights = [params[name] for name in weight_names]
    buffers = dict(network.named_buffers())

    def forward(weight_values: Sequence[Tensor], x: Tensor) -> Tensor:
        state = {name: b.clone() for name, b in buffers.items()}
        state.update(zip(weight_names, weight_values))
        return functional_call(network, state, (x,))

    def grad(loss: Tensor, inputs: Sequence[Tensor], allow_unused: bool = True) -> list[Tensor | None]:
        if unscaled:
            return list(torch.autograd.grad(loss, inputs, allow_unused=allow_unused))
        scaled = torch.autograd.grad(loss * loss_scale, inputs, allow_unused=allow_unused)
        return [None if gr is None else gr / loss_scale for gr in scaled]

    x_train, y_train = train_batch
    x_val, y_val = val_batch
    # 1. virtual step
    g = reduce(grad(loss_fn(forward(weights, x_train), y_train), weights, allow_unused=False))
    with torch.no_grad():
        stepped = sgd_virtual_step(
            [w.detach() for w in weights], g, lr, momentum, weight_decay, nesterov, momentum_buffers
        )
    stepped = [w.requires_grad_() for w in stepped]
    # 2. validation loss at w'
    logits_val = forward(stepped, x_val)
    loss_val = loss_fn(logits_val, y_val)
    grads = grad(loss_val, [*arch_params, *stepped])
    grads = [torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, [*arch_params, *stepped])]
    grads = reduce(grads)
    d_arch, v = grads[: len(arch_params)], grads[len(arch_params) :]
    # 3. finite-difference Hessian-vector product around the original w
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in v]))
    if norm.item() == 0.0:
        return [d.detach() for d in d_arch], loss_val.detach(), logits_val.detach()
    eps = r / norm
    with torch.no_grad():
        w_plus = [w + eps * vi for w, vi in zip(weights, v)]
        w_minus = [w - eps * vi for w, vi in zip(weights, v)]
    # in full precision: under autocast (bf16/fp16) most of the +-eps*v shifts would round away
    with torch.autocast(x_train.device.type, enabled=False):
        grad_plus = grad(loss_fn(forward(w_plus, x_train), y_train), arch_params)
        grad_minus = grad(loss_fn(forward(w_minus, x_train), y_train), arch_params)
    hvp = [
        (torch.zeros_like(a) if gp is None else gp) - (torch.zeros_like(a) if gm is None else gm)
        for gp, gm, a in zip(grad_plus, grad_minus, arch_params)
    ]
    hvp = [h / (2 * eps) for h in reduce(hvp)]
    result = [(d - lr * h).detach() for d, h in zip(d_arch, hvp)]
    return result, loss_val.detach(), logits_val.detach()
