"""Simulation-based calibration (Talts et al., 2018) of a few test functions, across observations.

:func:`sbc_check` (``sbc_ranks``) tests the randomised ranks (see :mod:`.coverage`) of a few
projections ``x ↦ vᵀx`` of the true signals among the sampler's draws, one exact two-sided
Kolmogorov–Smirnov test per function, Bonferroni over the functions; :func:`sbc_directions` picks
the directions. Effect: the largest KS distance.

Derivation and details: docs/notes/diagnostics_sbc.md.

Example:
    >>> import numpy as np
    >>> u = np.random.default_rng(1).uniform(size=(100, 2))
    >>> c = sbc_check(u, ["v1", "x0"])
    >>> c.check, c.p_value > 0.01
    ('sbc_ranks', True)
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.verdicts import bonferroni

__all__ = ["sbc_directions", "sbc_check"]

SINGULAR, COORDINATES = 3, 3


def sbc_directions(operator, dim: int) -> tuple[torch.Tensor, list[str]]:
    """``(D (dim, F), names)``: up to 3 leading right singular vectors of ``operator`` and up to 3
    coordinates, each kept only if it is not within 1e-3 of a direction already kept."""
    V = operator.svd().V[:, :SINGULAR].to(torch.float64).cpu()
    eye = torch.eye(dim, dtype=torch.float64)[:, :COORDINATES]
    kept, names = [], []
    for vecs, label in ((V, "singular direction {}"), (eye, "coordinate {}")):
        for i in range(vecs.shape[1]):
            v = vecs[:, i] / vecs[:, i].norm()
            if all(abs(float(v @ w)) < 1 - 1e-3 for w in kept):
                kept.append(v)
                names.append(label.format(i))
    return torch.stack(kept, 1), names


def sbc_check(u, names: list[str]) -> CheckResult:
    """SBC from randomised ranks ``u (K, F)`` of ``F`` test functions (see module doc)."""
    u = np.asarray(u, dtype=float).reshape(len(u), -1)
    tests = [stats.kstest(u[:, f], "uniform", method="exact") for f in range(u.shape[1])]
    p_f = [float(t.pvalue) for t in tests]
    p, worst = bonferroni(p_f)
    dist = [float(t.statistic) for t in tests]
    if p > 0.05:
        detail = f"ranks of {len(names)} test functions uniform over {len(u)} observations ({p_eq(p)})"
    else:
        mean = float(u[:, worst].mean())
        shape = ("∪-shaped: over-confident" if np.mean(np.abs(u[:, worst] - 0.5)) > 0.25 else
                 "∩-shaped: over-dispersed")
        if abs(mean - 0.5) > 0.1:
            shape = f"shifted: the true value ranks {'high' if mean > 0.5 else 'low'} among the draws"
        detail = (f"ranks of {names[worst]} not uniform over {len(u)} observations, {shape} "
                  f"(KS {dist[worst]:.2f}, {p_eq(p)}, Bonferroni over {len(names)} functions)")
    return CheckResult("sbc_ranks", "coverage", statistic=max(dist), effect=max(dist), p_value=p, detail=detail,
                       data={"functions": list(names), "ks": dist, "p_function": p_f, "ranks": u.tolist()})
