"""Mode weights: mean exact responsibilities against the exact posterior weights.

Statistic: total variation between the frequencies of the sampled component labels and the
exact weights ``w̄``. Under the truth the sampled labels are iid draws of ``w̄`` (see
:mod:`samplerlab.diagnostics.truth`), so the counts are exactly ``Multinomial(n, w̄)``; the null of
the TV is simulated from ``R = 100 000`` multinomial draws (cheap: no posterior sampling), seeded by
the audit seed, with a gamma tail beyond the simulated range (:func:`mc_pvalue`).

Off-support samples (below the truth's 0.1 % log-density quantile) are left out: they are the
hallucination checks' business, and a few hundred of them piled on a ruled-out mode would
otherwise read as a re-weighting. Under the truth this drops 0.1 % of the samples, changing the
label law by at most 0.001 in total variation, far below the TV's null spread at n = 2000.

Effect (what a user reads): the TV between the *mean responsibilities* (unbiased for ``w̄``, less
noisy than label frequencies) and ``w̄``, with per-mode ratios in ``data``.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-3.0], [3.0]], [1.0, 1.0]), Identity(1), 3.0, [0.0])
    >>> truth = Truth.get(problem, n=1000, seed=0)
    >>> x = truth.draws(1000, "example")
    >>> x = torch.cat([x[x[:, 0] < 0][:300], x[x[:, 0] > 0]])[:1000]  # lighter left mode
    >>> r = mode_weight_checks(x, truth)[0]
    >>> r.effect > 0.1, r.p_value < 1e-4
    (True, True)
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.result import CheckResult, p_eq
from samplerlab.diagnostics.truth import Evaluated, Truth
from samplerlab.diagnostics.verdicts import mc_pvalue

__all__ = ["mode_weight_checks", "label_tv_pvalue", "N_NULL"]

N_NULL = 100_000
MAX_MODES_IN_DATA = 50


def _null_tv(truth: Truth, w: np.ndarray, n: int) -> np.ndarray:
    key = ("mode_tv", n)
    if key not in truth.nulls:
        rng = np.random.default_rng([truth.seed, zlib.crc32(b"mode-weights-null"), n])
        counts = rng.multinomial(n, w, size=N_NULL)
        truth.nulls[key] = 0.5 * np.abs(counts / max(n, 1) - w).sum(1)
    return truth.nulls[key]


def label_tv_pvalue(labels: Tensor, truth: Truth) -> tuple[float, float]:
    """(TV of label frequencies to ``w̄``, Monte Carlo p-value) for labels sampled from responsibilities."""
    w = truth.posterior.weights.cpu().double().numpy()
    w = w / w.sum()
    n = len(labels)
    if n == 0:
        return 0.0, 1.0
    freq = np.bincount(labels.cpu().numpy(), minlength=len(w)) / n
    tv = float(0.5 * np.abs(freq - w).sum())
    return tv, mc_pvalue(tv, _null_tv(truth, w, n))


@single_threaded_if_small
def mode_weight_checks(samples: Tensor, truth: Truth, evaluated: Evaluated | None = None) -> list[CheckResult]:
    """``mode_weights`` (see module doc)."""
    ev = truth.evaluate(samples) if evaluated is None else evaluated
    keep = ev.logp >= truth.q_post
    tv_labels, p = label_tv_pvalue(ev.labels[keep], truth)
    w = truth.posterior.weights.cpu().double().numpy()
    mean_resp = ev.resp[keep].mean(0).cpu().double().numpy() if bool(keep.any()) else np.zeros_like(w)
    counts = np.bincount(ev.labels[keep].cpu().numpy(), minlength=len(w))
    tv = float(0.5 * np.abs(mean_resp - w).sum())
    top = np.argsort(-np.maximum(w, mean_resp))[:MAX_MODES_IN_DATA]
    ratio = np.where(w > 0, mean_resp / np.maximum(w, 1e-300), np.inf)
    worst = int(top[np.argmax(np.abs(mean_resp[top] - w[top]))])
    return [CheckResult(
        "mode_weights", "mode_weights", statistic=tv_labels, effect=tv, p_value=p,
        detail=(f"mode weights off: TV {tv:.3f} from exact; mode {worst} has {mean_resp[worst]:.3f} "
                f"vs {w[worst]:.3f} exact ({p_eq(p)})"),
        data={"modes": [int(k) for k in top], "exact": [float(w[k]) for k in top],
              "sampled": [float(mean_resp[k]) for k in top], "counts": [int(counts[k]) for k in top],
              "ratio": [float(min(ratio[k], 1e300)) for k in top], "n_on_support": int(keep.sum())})]
