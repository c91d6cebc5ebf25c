"""The dominant eigenvalue of a Hessian by power iteration with Hessian-vector products (no Hessian is formed).

A large dominant eigenvalue of ``∇²_α L_val`` signals a sharp validation loss in the architecture parameters, which
goes with the performance drop when DARTS discretises ``α`` (Zela et al.; BDP's Fig. 3c tracks it during the search).
:func:`hessian_vector_product` turns a scalar loss into the map ``v ↦ H v`` by double back-propagation;
:func:`dominant_eigenvalue` runs the power iteration on any such map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["EigenResult", "HVP", "dominant_eigenvalue", "hessian_vector_product"]

HVP = Callable[[Sequence[Tensor]], Sequence[Tensor]]
"""A Hessian-vector product: maps a vector, given as tensors shaped like the parameters, to ``H v``."""


class EigenResult(NamedTuple):
    """The outcome of :func:`dominant_eigenvalue`."""

    value: float
    """The dominant (largest-magnitude) eigenvalue, with its sign: the Rayleigh quotient ``vᵀ H v`` at the end."""
    vector: list[Tensor]
    """The unit eigenvector estimate, shaped like the parameters."""
    iterations: int
    """Hessian-vector products computed."""
    converged: bool
    """Whether the relative change of the estimate fell to ``tol`` within ``num_iters`` products."""


def hessian_vector_product(loss: Tensor, params: Sequence[Tensor]) -> HVP:
    """The Hessian-vector product map ``v ↦ ∇²_params loss · v`` by double back-propagation.

    The gradient graph is built once (``create_graph=True``) and reused by every product; nothing is written into
    the parameters' ``.grad``. A loss that is at most linear in ``params`` has a zero Hessian and gives zeros.

    Args:
        loss: a scalar tensor computed from ``params`` with gradients enabled.
        params: the tensors to differentiate with respect to (e.g. the architecture parameters).

    Returns:
        A function mapping tensors shaped like ``params`` to ``H v`` (detached).

    Raises:
        ValueError: if ``loss`` is not a scalar or ``params`` is empty.

    Example:
        >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> hvp = hessian_vector_product((x ** 3).sum(), [x])  # H = diag(6 x)
        >>> hvp([torch.tensor([1.0, 1.0])])[0].tolist()
        [6.0, 12.0]
    """
    params = list(params)
    if not params:
        raise ValueError("`hessian_vector_product`: `params` must hold at least one tensor. Got an empty sequence.")
    if loss.dim() != 0:
        raise ValueError(
            f"`hessian_vector_product`: `loss` must be a scalar tensor. Got shape {tuple(loss.shape)} instead."
        )
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    pairs = [(g, p) for g, p in zip(grads, params) if g is not None and g.requires_grad]

    def hvp(vector: Sequence[Tensor]) -> list[Tensor]:
        vector = list(vector)
        if len(vector) != len(params) or any(v.shape != p.shape for v, p in zip(vector, params)):
            raise ValueError(
                "`hessian_vector_product`: the vector must have one tensor per parameter, shaped like it: "
                f"{[tuple(p.shape) for p in params]}. Got {[tuple(v.shape) for v in vector]} instead."
            )
        if not pairs:
            return [torch.zeros_like(p) for p in params]
        chosen = [v for (g, v) in zip(grads, vector) if g is not None and g.requires_grad]
        products = torch.autograd.grad(
            [g for g, _ in pairs], params, grad_outputs=chosen, retain_graph=True, allow_unused=True
        )
        return [torch.zeros_like(p) if h is None else h.detach() for h, p in zip(products, params)]

    return hvp


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return sum((x.double() * y.double()).sum() for x, y in zip(a, b))


def dominant_eigenvalue(
    hvp: HVP | Tensor,
    params: Sequence[Tensor],
    *,
    num_iters: int = 20,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
) -> EigenResult:
    """The largest-magnitude eigenvalue of a symmetric Hessian by power iteration on Hessian-vector products.

    Starts from a Gaussian vector (unit norm over all of ``params``), then repeats ``w = H v``,
    ``λ = vᵀ w`` (the Rayleigh quotient), ``v = w / ||w||``, and stops after ``num_iters`` products or once
    ``|λ - λ_prev| <= tol |λ|``. The estimate converges to the eigenvalue of largest magnitude, with its sign (a
    negative dominant eigenvalue flips ``v`` every step; the quotient still converges), at a rate set by the ratio of
    the two largest magnitudes; if two eigenvalues of opposite signs share the largest magnitude it does not settle.
    For ``∇²_α L_val`` of a trained supernet the dominant eigenvalue is the largest positive one (Zela et al.).
    The inner products are accumulated in float64.

    Args:
        hvp: the Hessian-vector product (:func:`hessian_vector_product`), or a scalar loss to build it from.
        params: the tensors the Hessian is taken with respect to (their shapes, dtypes and devices shape ``v``).
        num_iters: maximum number of Hessian-vector products, ``>= 1``.
        tol: relative change of the estimate at which to stop, ``>= 0`` (0 runs all ``num_iters``).
        generator: CPU generator of the start vector; ``None`` uses ``torch.Generator().manual_seed(0)``, so the
            result is deterministic and the global random state is not touched.

    Returns:
        An :class:`EigenResult` (value, vector, iterations, converged). A zero Hessian gives 0.

    Raises:
        ValueError: for an empty ``params``, ``num_iters < 1`` or ``tol < 0``.

    Example:
        >>> a = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
        >>> x = torch.zeros(2, requires_grad=True)
        >>> result = dominant_eigenvalue(0.5 * x @ a @ x, [x], num_iters=100, tol=1e-8)
        >>> round(result.value, 4), round(float(torch.linalg.eigvalsh(a)[-1]), 4)
        (3.618, 3.618)

    References:
        Zela et al., "Understanding and Robustifying Differentiable Architecture Search", ICLR 2020 (Sec. 4.2);
        Tu et al., "Bi-level Data Pruning for DARTS" (BDP), Fig. 3c.
    """
    params = list(params)
    if not params:
        raise ValueError("`dominant_eigenvalue`: `params` must hold at least one tensor. Got an empty sequence.")
    if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(
            f"`dominant_eigenvalue(num_iters={num_iters!r})`: `num_iters` must be an int >= 1. Got {num_iters!r}."
        )
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise ValueError(f"`dominant_eigenvalue(tol={tol!r})`: `tol` must be a number >= 0. Got {tol!r} instead.")
    if isinstance(hvp, Tensor):
        hvp = hessian_vector_product(hvp, params)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    vector = [
        torch.randn(p.shape, generator=generator, dtype=torch.float32).to(device=p.device, dtype=p.dtype)
        for p in params
    ]
    norm = _dot(vector, vector).sqrt()
    vector = [v / norm.to(v.dtype) for v in vector]
    previous: float | None = None
    value = 0.0
    for iteration in range(1, num_iters + 1):
        product = [h.detach() for h in hvp(vector)]
        value = float(_dot(vector, product))
        norm = _dot(product, product).sqrt()
        if float(norm) == 0.0:
            return EigenResult(0.0, vector, iteration, True)
        vector = [h / norm.to(h.dtype) for h in product]
        if previous is not None and abs(value - previous) <= tol * abs(value):
            return EigenResult(value, vector, iteration, True)
        previous = value
    return EigenResult(value, vector, num_iters, False)
