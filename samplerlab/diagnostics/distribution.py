"""Distribution: sliced Wasserstein and energy distance to exact draws, calibrated by replicates.

Both statistics compare the samples with one exact reference draw ``E`` of the same size ``n``
(seeded by the audit seed). Their null — the same statistic between *another* exact draw and
``E`` — is simulated from ``R = 40`` exact-vs-exact replicates, built once per
``(problem, n, seed)`` and cached in the :class:`~samplerlab.diagnostics.truth.Truth`. ``R = 40``
cannot resolve the p-values Holm needs at ``α = 1e-3``, so beyond the 10th-largest replicate the
p-value is the tail of a gamma law moment-matched to the replicates (both statistics are
V-statistics whose null is a weighted sum of ``χ²`` variables, which a scaled ``χ²`` — a gamma —
approximates well; Satterthwaite 1946). Effect: the statistic over its null median (1 is exact).

* sliced Wasserstein-2 over ``L = 64`` seeded random directions (the field's benchmark metric);
* energy distance ``2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖`` (V-statistic).

This check names no specific failure: every failure mode moves it. It is the global net.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Identity(2), 1.0, [0.0, 0.0])
    >>> truth = Truth.get(problem, n=500, seed=0)
    >>> sw, ed = distribution_checks(truth.draws(500, "example") + 0.5, truth)
    >>> sw.p_value < 1e-4, ed.p_value < 1e-4, sw.effect > 2
    (True, True, True)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import mc_pvalue

__all__ = ["distribution_checks", "sliced_w2", "sorted_projections", "energy_distance", "projections", "N_REPLICATES"]

N_REPLICATES = 40
N_PROJECTIONS = 64


def projections(d: int, gen: torch.Generator, dtype, device, count: int = N_PROJECTIONS) -> Tensor:
    """``count`` random unit directions ``(d, count)``."""
    theta = torch.randn(d, count, generator=gen, dtype=dtype, device=device)
    return theta / theta.norm(dim=0, keepdim=True)


def sorted_projections(b: Tensor, theta: Tensor) -> Tensor:
    """``b`` projected on the directions ``theta`` and sorted per direction, ``(n, count)``."""
    return (b @ theta).sort(0).values


def sliced_w2(a: Tensor, b: Tensor | None, theta: Tensor, b_sorted: Tensor | None = None) -> float:
    """Sliced Wasserstein-2 distance between equal-size samples along directions ``theta``.

    ``b_sorted`` (:func:`sorted_projections` of ``b``) saves re-sorting a reference used many times.
    """
    pa = sorted_projections(a, theta)
    pb = sorted_projections(b, theta) if b_sorted is None else b_sorted
    return float((pa - pb).square().mean().sqrt())


def _mean_dist(a: Tensor, b: Tensor) -> float:
    return float(torch.cdist(a, b).mean())


def energy_distance(a: Tensor, b: Tensor, bb: float | None = None) -> float:
    """``2 E‖A − B‖ − E‖A − A'‖ − E‖B − B'‖`` (V-statistic); ``bb`` reuses ``E‖B − B'‖``."""
    bb = _mean_dist(b, b) if bb is None else bb
    return 2 * _mean_dist(a, b) - _mean_dist(a, a) - bb


def _null(truth: Truth) -> dict:
    """Reference draw, directions and exact-vs-exact replicates (cached in the truth)."""
    if "distribution" not in truth.nulls:
        n, post = truth.n, truth.posterior
        ref = truth.draws(n, "distribution-reference")
        theta = projections(post.dim, truth.gen("distribution-projections"), post.dtype, post.device)
        bb = _mean_dist(ref, ref)
        ref_sorted = sorted_projections(ref, theta)
        sw, ed = [], []
        for r in range(N_REPLICATES):
            x = truth.draws(n, f"distribution-null-{r}")
            sw.append(sliced_w2(x, None, theta, ref_sorted))
            ed.append(energy_distance(x, ref, bb))
        truth.nulls["distribution"] = {"ref": ref, "theta": theta, "ref_sorted": ref_sorted, "bb": bb, "sw": np.array(sw), "ed": np.array(ed)}
    return truth.nulls["distribution"]


@single_threaded_if_small
def distribution_checks(samples: Tensor, truth: Truth) -> list[CheckResult]:
    """``sliced_wasserstein`` and ``energy_distance`` (see module doc)."""
    if len(samples) != truth.n:
        raise ValueError(f"samples: expected {truth.n} rows (the truth's n), got {len(samples)}")
    null = _null(truth)
    out = []
    for check, stat, key, label in (
            ("sliced_wasserstein", sliced_w2(samples, None, null["theta"], null["ref_sorted"]), "sw", "sliced Wasserstein"),
            ("energy_distance", energy_distance(samples, null["ref"], null["bb"]), "ed", "energy distance")):
        p = mc_pvalue(stat, null[key])
        ratio = stat / float(np.median(null[key]))
        out.append(CheckResult(
            check, "distribution", statistic=stat, effect=ratio, p_value=p,
            detail=f"{label} {stat:.3g} = {ratio:.1f}× its exact-vs-exact median ({p_eq(p)})",
            data={"null": null[key].tolist()}))
    return out
