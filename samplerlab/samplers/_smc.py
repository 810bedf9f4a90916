"""Sequential Monte Carlo pieces shared by the particle samplers (MCGdiff, FPS-SMC)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["resample"]


def resample(log_w: Tensor, generator: torch.Generator | None) -> Tensor:
    """Multinomial ancestor indices ``(B, N)`` for each row of log-weights ``(B, N)``.

    A row whose weights are not finite (every particle impossible) falls back to uniform.
    """
    w = torch.softmax(log_w, dim=-1)
    bad = ~torch.isfinite(w).all(dim=-1, keepdim=True)
    w = torch.where(bad, torch.full_like(w, 1.0 / w.shape[-1]), w)
    return torch.multinomial(w, w.shape[-1], replacement=True, generator=generator)
