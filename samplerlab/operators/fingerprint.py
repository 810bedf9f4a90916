"""A tensor's fingerprint: a cheap summary that changes when its entries do.

Operators fingerprint the factors they cache; the audit's guard compares fingerprints after a
sampler's run (:mod:`samplerlab.auditing.guard`).
"""

from __future__ import annotations

import torch

__all__ = ["fingerprint"]

_SMALL = 4096  # tensors up to this many entries are fingerprinted by a copy


def fingerprint(t: torch.Tensor) -> torch.Tensor:
    """A summary of ``t`` that changes when its entries do: a copy of ``t`` when it is small, else
    ``t`` (as rows of its last dimension) times a fixed random probe vector — one pass over ``t``,
    no copy of it. A write is missed only if it changes no row's product with the probe.

    Example:
        >>> a = torch.ones(100, 100, dtype=torch.float64)
        >>> before = fingerprint(a)
        >>> before.shape, torch.equal(before, fingerprint(a))
        (torch.Size([100]), True)
        >>> a[3, 7] = 2.0
        >>> torch.equal(before, fingerprint(a))
        False
    """
    t = t.detach()
    if t.numel() <= _SMALL or t.dim() == 0:
        return t.clone()
    rows = t.reshape(-1, t.shape[-1])
    rows = rows if rows.is_floating_point() or rows.is_complex() else rows.double()
    g = torch.Generator().manual_seed(20_240_602 + rows.shape[1])
    probe = torch.randn(rows.shape[1], generator=g, dtype=torch.float64).to(rows)
    with torch.no_grad():
        return rows @ probe
