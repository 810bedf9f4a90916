"""Helpers shared by the gradient-guided samplers (DPS, ΠGDM): noise draws, ``ε̂`` from ``x̂0``,
the vector-Jacobian product through the prior denoiser and the regularised Gram solve.

Example:
    >>> import torch
    >>> from samplerlab.operators import Dense
    >>> op = Dense([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> v = torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64)
    >>> gram_solve(op, v, r2=1.0, sigma_y2=1.0).tolist()  # (A Aᵀ + I)⁻¹ v = (1/5, 1/2, 1)
    [[0.2, 0.5, 1.0]]
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = ["ddim_noise", "eps_from_x0", "denoise_and_pullback", "gram_solve", "check_nonneg", "check_unit"]


def check_nonneg(sampler: str, name: str, value) -> float:
    """``value`` as a finite float ``>= 0``, else ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{sampler}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_unit(sampler: str, name: str, value) -> float:
    """``value`` as a float in ``[0, 1]``, else ``ValueError`` naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{sampler}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def ddim_noise(x: Tensor, eta: float, s_next: Tensor, generator: torch.Generator | None) -> Tensor | None:
    """Fresh ``N(0, I)`` noise shaped like ``x`` when the step is stochastic, else ``None``.

    No random numbers are drawn for deterministic steps, so ``eta = 0`` runs consume nothing.
    """
    if eta == 0.0 or float(s_next) == 0.0:
        return None
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def eps_from_x0(x: Tensor, x0_hat: Tensor, a: Tensor, s: Tensor) -> Tensor:
    """Noise prediction implied by a denoised estimate: ``ε̂ = (x_t − a x̂0) / s``."""
    return (x - a * x0_hat) / s


def denoise_and_pullback(task, x: Tensor, t: Tensor,
                         cotangent: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """``x̂0 = task.denoise(x_t, t)`` and ``(∂x̂0/∂x_t)ᵀ v`` with ``v = cotangent(x̂0)``.

    One forward and one reverse pass through the denoiser (``torch.autograd.grad`` with
    ``grad_outputs = v``); ``v`` is treated as a constant. For a guidance loss ``L(x̂0(x_t))``
    pass ``cotangent = ∇_{x̂0} L`` and the result is ``∇_{x_t} L`` by the chain rule.
    Both outputs are detached.
    """
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        x0_hat = task.denoise(xr, t)
        v = cotangent(x0_hat.detach())
        (grad,) = torch.autograd.grad(x0_hat, xr, grad_outputs=v)
    return x0_hat.detach(), grad.detach()


def gram_solve(operator, v: Tensor, r2, sigma_y2: float) -> Tensor:
    """``(r² A Aᵀ + σ_y² I)⁻¹ v`` row-wise from the operator's thin SVD ``A = U diag(S) Vᵀ``.

    ``(U diag(r² S² + σ_y²) Uᵀ + σ_y² (I − U Uᵀ))⁻¹ = U diag(1/(r² S² + σ_y²)) Uᵀ + (I − U Uᵀ)/σ_y²``;
    the second term vanishes when ``U`` spans ``R^m`` (then ``σ_y = 0`` is allowed).
    """
    U, S, _ = operator.svd()
    vu = v @ U  # (N, r)
    out = (vu / (r2 * S**2 + sigma_y2)) @ U.mT
    if U.shape[1] < U.shape[0]:  # rank-deficient or m > d: the orthogonal complement of range(U)
        out = out + (v - vu @ U.mT) / sigma_y2
    return out
