"""Hallucination: samples on prior modes the data rule out, or where only the likelihood has mass.

:func:`hallucination_checks` returns ``prior_hallucination`` (samples labelled with a ruled-out
posterior component, inside that prior component's 99.9 % region) and ``likelihood_hallucination``
(off-support samples that fit ``y`` far outside every prior component), with the types and
thresholds of :mod:`samplerlab.diagnostics.truth`. Each is an exact one-sided hypergeometric test
of the type's count among the samples against the truth's second reference set of exact draws;
effect: the rate of the type among the samples.

Derivation and details: docs/notes/diagnostics_hallucination.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture([0.5, 0.5], [[-6.0], [6.0]], [1.0, 1.0])
    >>> problem = InverseProblem(prior, Identity(1), 0.5, [6.0])
    >>> truth = Truth.get(problem, n=1000, seed=0)
    >>> x = truth.draws(1000, "example")
    >>> x[:50] = -6.0 + torch.randn(50, 1, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    >>> prior_mode, lik_mode = hallucination_checks(x, truth)
    >>> 0.045 <= prior_mode.effect <= 0.05, prior_mode.p_value < 1e-9, lik_mode.p_value > 1e-3
    (True, True, True)
"""

from __future__ import annotations

from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Evaluated, Truth
from samplerlab.diagnostics.verdicts import hypergeom_upper

__all__ = ["hallucination_checks", "CHECK"]

_TYPES = {"prior_mode": ("prior_hallucination", "prior-mode hallucination: {rate:.2%} of samples sit on "
                         "prior modes the data rule out (exact {ref:.2%}, {p})"),
          "likelihood_mode": ("likelihood_hallucination", "likelihood-mode hallucination: {rate:.2%} of "
                              "samples fit y where the prior has no mass (exact {ref:.2%}, {p})")}


@single_threaded_if_small
def hallucination_checks(samples: Tensor, truth: Truth, evaluated: Evaluated | None = None) -> list[CheckResult]:
    """``prior_hallucination`` and ``likelihood_hallucination`` (see module doc)."""
    ev = truth.evaluate(samples) if evaluated is None else evaluated
    masks = truth.sample_types(samples, ev)
    n, m = len(samples), truth.n_reference
    counts = {k: int(v.sum()) for k, v in masks.items()}
    data = {"counts": counts, "reference_counts": truth.reference_counts, "n": n, "n_reference": m,
            "expected_off_support_rate": 1e-3}
    out = []
    for kind, (mode, text) in _TYPES.items():
        c, c_ref = counts[kind], truth.reference_counts[kind]
        p = hypergeom_upper(c, c + c_ref, n, n + m)
        rate, ref = c / max(n, 1), c_ref / m
        out.append(CheckResult(kind.replace("_mode", "") + "_hallucination", mode, statistic=c, effect=rate,
                               p_value=p, detail=text.format(rate=rate, ref=ref, p=p_eq(p)), data=data))
    return out


CHECK = Check("hallucination", ("prior_hallucination", "likelihood_hallucination"), "output", order=30,
              run=lambda i: hallucination_checks(i.samples, i.truth, i.evaluated),
              carriers={"prior_hallucination": "prior_hallucination",
                        "likelihood_hallucination": "likelihood_hallucination"})
