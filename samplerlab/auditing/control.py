"""The prior-complexity control: the same sampler, the prior cut down to one Gaussian.

A failure on a mixture prior is either the method's own error — it would fail on a single
Gaussian prior too — or caused by the prior's multimodality. The control tells them apart: the
sampler is audited again on the same operator, ``y`` and ``σ_y`` with the prior replaced by the
prior component ``k*`` of the posterior's dominant mode (the largest exact posterior weight
``w̄_k``). The control's exact posterior is the single Gaussian ``N(m̄_k*, S̄_k*)``: the dominant
mode of the audited posterior, same mean and covariance.

Each failing check of the audit gains a second attribution (:attr:`CheckResult.control_attribution`):

* ``single_gaussian`` — the control fails it too: *fails on a single Gaussian too*;
* ``mixture`` — the control passes it, or the check needs several modes (mode weights, prior
  hallucination): *only with the mixture prior*.

The control's verdicts are their own Holm family at the audit's α; they never change the audit's
verdicts. A prior with one component is its own control: nothing is run.

Example:
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture([0.8, 0.2], [[-4.0], [4.0]], [0.5, 0.5])
    >>> control, info = control_problem(InverseProblem(prior, Identity(1), 0.5, [4.0]))
    >>> control.prior.n_components, info["component"], round(info["posterior_weight"], 6)
    (1, 1, 1.0)
"""

from __future__ import annotations

import torch

from samplerlab.core.covariance import ComponentCovariance, CoordinateCovariance
from samplerlab.core.mixture import GaussianMixture
from samplerlab.core.problem import InverseProblem

__all__ = ["control_problem", "attach_control", "cached_control_problem", "MODE_COUNT_WEIGHT"]

MODE_COUNT_WEIGHT = 1e-3  # posterior components above this weight count as modes in the report
_CACHE: dict = {}
_CACHE_SIZE = 16


def _component(prior: GaussianMixture, k: int) -> GaussianMixture:
    """Component ``k`` of ``prior`` alone, with its factored covariance (no dense ``d × d`` built)."""
    cov = prior.cov_factors
    if isinstance(cov, ComponentCovariance):
        single = ComponentCovariance(cov.lam[k:k + 1].clone(), cov.basis[k:k + 1].clone())
    elif isinstance(cov, CoordinateCovariance):
        single = CoordinateCovariance(cov.lam[k:k + 1].clone(), cov.dim, cov.basis)
    else:  # pragma: no cover - every covariance family is one of the two
        raise TypeError(f"prior covariance: unsupported family {type(cov).__name__}")
    labels = None if prior.labels is None else prior.labels[k:k + 1]
    return GaussianMixture.from_factored(torch.zeros(1, dtype=prior.dtype, device=prior.device),
                                         prior.means[k:k + 1].clone(), single, prior.max_elements, labels)


def control_problem(problem: InverseProblem) -> tuple[InverseProblem, dict]:
    """``(control, info)``: ``problem`` with its prior replaced by the prior component of the
    posterior's dominant mode, and what was chosen (``component``, its ``posterior_weight``, the
    number of posterior ``modes`` above :data:`MODE_COUNT_WEIGHT`, ``components`` of the prior)."""
    weights = problem.posterior().weights
    k = int(torch.argmax(weights))
    control = InverseProblem(_component(problem.prior, k), problem.operator, problem.sigma_y, problem.y.clone())
    info = {"component": k, "posterior_weight": float(weights[k]),
            "modes": int((weights > MODE_COUNT_WEIGHT).sum()), "components": problem.prior.n_components}
    return control, info


def cached_control_problem(problem: InverseProblem) -> tuple[InverseProblem, dict]:
    """:func:`control_problem`, built once per problem object: samplers audited on one problem
    share the control's exact truth (and its caches)."""
    hit = _CACHE.get(id(problem))
    if hit is not None and hit[0] is problem:
        return hit[1]
    out = control_problem(problem)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(problem)] = (problem, out)
    return out


def attach_control(report, control_report, info: dict) -> None:
    """Copy the control's per-check verdict and effect onto ``report`` and summarise it in ``meta``.

    A verdict check the control cannot judge (one mode: mode weights, prior hallucination) reads
    ``control_verdict = "n/a"``; a failure there is attributed to the mixture.
    """
    by_name = {c.check: c for c in control_report.checks}
    for c in report.checks:
        if c.role != "verdict":
            continue
        f = by_name.get(c.check)
        c.control_verdict = "n/a" if f is None or not f.applicable else "pass" if f.passed else "fail"
        c.control_effect = None if f is None else f.effect
    report.meta["control"] = {
        **info, "passed": control_report.passed, "failure_modes": sorted(control_report.failure_modes),
        "failing_checks": [c.check for c in control_report.failing()],
        "sampler_s": control_report.meta.get("sampler_s"),
    }
