"""Normalising component log-weights fast: softmax, log-sum-exp and categorical draws.

Far-apart mixture components leave log-weights hundreds of nats below a row's largest, and
``exp`` of those lands in the subnormal range, where CPUs compute many times slower. Every
function here clamps log-weights more than :func:`floor_of` below the row's largest to that floor
(a relative mass under ``2 K e · tiny``, some 290 orders of magnitude below the dtype's
resolution), so none of them ever touches a subnormal number; the results agree with the plain
formulas to the last bit that matters. GPUs compute subnormals at full speed, so there
:func:`softmax` is torch's one fused kernel, then the same zeroing of weights up to twice the floor.

Example:
    >>> import torch
    >>> lg = torch.tensor([[0.0, -1.0, -2000.0], [3.0, 3.0, 3.0]], dtype=torch.float64)
    >>> softmax(lg)[0, 2].item(), torch.allclose(logsumexp(lg), torch.logsumexp(lg, -1))
    (0.0, True)
    >>> categorical(lg, torch.Generator().manual_seed(0)).shape
    torch.Size([2])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["floor_of", "softmax", "logsumexp", "categorical"]


def floor_of(logits: Tensor, dim: int) -> float:
    """Lowest log-weight, relative to the row's largest, that is kept (see the module doc)."""
    return math.log(torch.finfo(logits.dtype).tiny) + math.log(logits.shape[dim]) + 1.0


def _differentiable(logits: Tensor) -> bool:
    return torch.is_grad_enabled() and logits.requires_grad


def softmax(logits: Tensor, dim: int = -1) -> Tensor:
    """Normalised weights along ``dim``, with those below the floor exactly 0."""
    floor = floor_of(logits, dim)
    if logits.is_cuda and not _differentiable(logits):  # no subnormal penalty on a GPU: one fused kernel
        return torch.threshold_(torch.softmax(logits, dim), 2 * math.exp(floor), 0.0)
    shifted = logits - logits.amax(dim, keepdim=True)
    if _differentiable(logits):
        p = shifted.clamp_min(floor).exp()
        p = p.masked_fill(p < 2 * math.exp(floor), 0)
        return p / p.sum(dim, keepdim=True)
    # clamped (exp of −∞ takes a slow path), then every weight up to twice the floor's set to 0 in one pass
    p = torch.threshold_(shifted.clamp_min_(floor).exp_(), 2 * math.exp(floor), 0.0)
    return p.div_(p.sum(dim, keepdim=True))


def logsumexp(logits: Tensor, dim: int = -1, overwrite: bool = False) -> Tensor:
    """``log Σ exp(logits)`` along ``dim`` (``torch.logsumexp`` under autograd or for rows that
    are not finite, where the floor has no meaning). With ``overwrite`` the work is done in
    ``logits``' own memory (a temporary the caller no longer needs), without a copy."""
    top = logits.amax(dim, keepdim=True)
    if _differentiable(logits) or not bool(torch.isfinite(top).all()):
        return torch.logsumexp(logits, dim)
    shifted = logits.sub_(top) if overwrite else logits - top
    total = shifted.clamp_min_(floor_of(logits, dim)).exp_().sum(dim)
    return top.squeeze(dim) + total.log()


def categorical(logits: Tensor, generator: torch.Generator | None = None,
                with_logsumexp: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """One index per row of ``logits`` ``(N, K)`` drawn with probabilities ``softmax(logits)``, by
    inverting the row's cumulative weights at a uniform draw (one pass, against three for
    softmax-then-``torch.multinomial``); with ``with_logsumexp`` also the rows' log-sum-exp."""
    top = logits.amax(-1, keepdim=True)
    cdf = (logits - top).contiguous().clamp_min_(floor_of(logits, -1)).exp_().cumsum_(-1)  # rows contiguous
    total = cdf[:, -1:]
    u = torch.rand(len(logits), 1, generator=generator, dtype=logits.dtype, device=logits.device).mul_(total)
    index = torch.searchsorted(cdf, u, right=True).clamp_max_(logits.shape[-1] - 1)[:, 0]
    return (index, top[:, 0] + total[:, 0].log()) if with_logsumexp else index
