"""Hallucination: off-support samples, split into prior-mode and likelihood-mode.

A sample is *off-support* when its exact posterior log-density is below the truth's own 0.1 %
quantile (DESIGN.md §3). Off-support samples are split, with thresholds from the truth's first
reference set (:class:`~samplerlab.diagnostics.truth.Truth`):

* *prior-mode*: on a prior mode (within twice the prior's 99.9 % Mahalanobis radius of its nearest
  prior component) that the data rule out (posterior weight < 1e-4);
* *likelihood-mode*: fits ``y`` (likelihood ``log N(y; A x, σ_y² I)`` above the 0.1 % quantile of
  exact posterior draws) but further than that radius from every prior component — no prior mass;
* neither: plain error (reported in ``data``, not a verdict).

Test (exact given the thresholds): the truth's second, independent reference set of ``M`` exact
draws holds ``c_ref`` samples of the type; with ``c`` among the ``n`` samples, under the truth
``c | c + c_ref ~ Binomial(c + c_ref, n / (n + M))`` (the two sets are iid from one law), and the
one-sided p-value is its upper tail. Effect: the rate of the type among the samples, against the
rate among exact draws (at most the 0.1 % expected off-support).

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
    >>> round(prior_mode.effect, 3), prior_mode.p_value < 1e-9, lik_mode.p_value > 1e-3
    (0.05, True, True)
"""

from __future__ import annotations

from torch import Tensor

from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.truth import Evaluated, Truth
from samplerlab.diagnostics.verdicts import binom_upper

__all__ = ["hallucination_checks"]

_TYPES = {"prior_mode": ("prior_hallucination", "prior-mode hallucination: {rate:.2%} of samples sit on "
                         "prior modes the data rule out (exact {ref:.2%}, {p})"),
          "likelihood_mode": ("likelihood_hallucination", "likelihood-mode hallucination: {rate:.2%} of "
                              "samples fit y where the prior has no mass (exact {ref:.2%}, {p})")}


@single_threaded_if_small
def hallucination_checks(samples: Tensor, truth: Truth, evaluated: Evaluated | None = None) -> list[CheckResult]:
    """``prior_hallucination`` and ``likelihood_hallucination`` (see module doc)."""
    ev = truth.evaluate(samples) if evaluated is None else evaluated
    masks = truth.off_support_types(samples, ev.logp)
    n, m = len(samples), truth.n_reference
    counts = {k: int(v.sum()) for k, v in masks.items()}
    data = {"counts": counts, "reference_counts": truth.reference_counts, "n": n, "n_reference": m,
            "expected_off_support_rate": 1e-3}
    out = []
    for kind, (mode, text) in _TYPES.items():
        c, c_ref = counts[kind], truth.reference_counts[kind]
        p = binom_upper(c, c + c_ref, n / (n + m))
        rate, ref = c / max(n, 1), c_ref / m
        out.append(CheckResult(kind.replace("_mode", "") + "_hallucination", mode, statistic=c, effect=rate,
                               p_value=p, detail=text.format(rate=rate, ref=ref, p=p_eq(p)), data=data))
    return out
