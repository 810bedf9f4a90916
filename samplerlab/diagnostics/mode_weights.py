"""Mode weights: how often the sampler lands in each posterior mode, against the exact weights.

Each sample gets a component label sampled from its exact responsibilities; hallucinations are left
out (the hallucination checks' business). :func:`mode_weight_checks` returns ``mode_weights``, an
exact hypergeometric count test per component against the truth's second reference set, Bonferroni
over the components seen, and, when the components carry labels, ``label_weights``
(:func:`label_check`, the counts summed per label); :func:`label_count_test` is the one-sample
version the trajectory check uses. Effect: the total variation between label frequencies and exact
weights, debiased by :func:`null_tv_median`.

Derivation and details: docs/notes/diagnostics_mode_weights.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([0.5, 0.5], [[-3.0], [3.0]], [1.0, 1.0]), Identity(1), 3.0, [0.0])
    >>> truth = Truth.get(problem, n=1000, seed=0)
    >>> x = truth.draws(1000, "example")
    >>> x = torch.cat([x[x[:, 0] < 0][:300], x[x[:, 0] > 0]])[:1000]  # lighter left mode
    >>> r = mode_weight_checks(x, truth)[0]  # then label_weights, when the components carry labels
    >>> r.effect > 0.1, r.p_value < 1e-4
    (True, True)
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Evaluated, Truth
from samplerlab.diagnostics.verdicts import binom_two_sided, bonferroni, hypergeom_two_sided

__all__ = ["mode_weight_checks", "label_count_test", "null_tv_median", "MIN_JUDGED", "CHECK"]

MIN_JUDGED = 20
MAX_MODES_IN_DATA = 50
N_TV_NULL = 200  # multinomial replicates for the effect's debiasing median (not for the p-value)


def null_tv_median(w: np.ndarray, n: int, seed: int) -> float:
    """Median TV between ``Multinomial(n, w) / n`` and ``w`` over 200 seeded replicates (``O(K)`` memory each)."""
    return _null_tv_median(np.asarray(w, dtype=float).tobytes(), int(n), int(seed))


@functools.lru_cache(maxsize=256)
def _null_tv_median(w_bytes: bytes, n: int, seed: int) -> float:
    if n == 0:
        return 0.0
    w = np.frombuffer(w_bytes)
    rng = np.random.default_rng([seed, zlib.crc32(b"mode-weights-tv-null"), n])
    tv = [0.5 * np.abs(rng.multinomial(n, w) / n - w).sum() for _ in range(N_TV_NULL)]
    return float(np.median(tv))


def label_count_test(labels: Tensor, weights: Tensor, seed: int) -> tuple[float, float, np.ndarray]:
    """One-sample version for labels whose exact law is ``weights`` (the trajectory check's use).

    Returns ``(debiased TV, Bonferroni p over components, per-component p)``; each component's
    count is exactly ``Binomial(n, w_k)``.
    """
    w = weights.detach().double().cpu().numpy()
    w = w / w.sum()
    n = len(labels)
    counts = np.bincount(labels.cpu().numpy(), minlength=len(w))
    seen = (counts > 0) | (w * n >= 1e-3)  # components that can contribute a p-value below 1
    p_k = np.ones(len(w))
    p_k[seen] = binom_two_sided(counts[seen], n, w[seen])
    tv = 0.5 * np.abs(counts / max(n, 1) - w).sum()
    return float(tv - null_tv_median(w, n, seed)), bonferroni(p_k[seen])[0], p_k


@single_threaded_if_small
def mode_weight_checks(samples: Tensor, truth: Truth, evaluated: Evaluated | None = None) -> list[CheckResult]:
    """``mode_weights`` (see module doc)."""
    ev = truth.evaluate(samples) if evaluated is None else evaluated
    keep = truth.kept(samples, ev)
    n, n_judged = len(samples), int(keep.sum())
    if n_judged < MIN_JUDGED:
        reason = f"only {n_judged} of {n} samples are not hallucinations (at least {MIN_JUDGED} needed)"
        return [not_applicable("mode_weights", "mode_weights", reason)] + (
            [not_applicable("label_weights", "mode_weights", reason)] if truth.posterior.labels else [])
    big_k = truth.posterior.n_components
    counts = torch.bincount(ev.labels[keep], minlength=big_k).cpu().numpy()
    ref = truth.reference_label_counts.numpy()
    total = counts + ref
    seen = np.nonzero(total)[0]
    p_k = hypergeom_two_sided(counts[seen], total[seen], n_judged, n_judged + int(ref.sum()))
    p, i = bonferroni(p_k)
    worst = int(seen[i])
    w = truth.posterior.weights.double().cpu().numpy() * ~truth.ruled_out.cpu().numpy()
    w = w / w.sum()
    freq = counts / n_judged
    tv_raw = float(0.5 * np.abs(freq - w).sum())
    tv = tv_raw - null_tv_median(w, n_judged, truth.seed)
    top = np.argsort(-np.maximum(w, freq))[:MAX_MODES_IN_DATA]
    labelled = [] if not truth.posterior.labels else [label_check(counts, ref, w, n_judged, truth)]
    return [CheckResult(
        "mode_weights", "mode_weights", statistic=float(p_k[i]), effect=tv, p_value=p,
        detail=(f"mode weights off: TV {tv:.3f} beyond exact sampling noise; mode {worst} has "
                f"{freq[worst]:.3f} vs {w[worst]:.3f} exact ({p_eq(p)}, Bonferroni over {len(seen)} modes)"),
        data={"modes": [int(k) for k in top], "exact": [float(w[k]) for k in top],
              "sampled": [float(freq[k]) for k in top], "counts": [int(counts[k]) for k in top],
              "tv_raw": tv_raw, "n_judged": n_judged, "worst_mode": worst})] + labelled


def label_check(counts: np.ndarray, ref: np.ndarray, w: np.ndarray, n_judged: int, truth: Truth) -> CheckResult:
    """``label_weights``: the component counts summed per label, the same exact test.

    Components carry labels (a digit's class, a face's identity, lesion / no lesion); the exact
    posterior probability of a label is the sum of its components' weights. Summing the judged
    samples' and the reference set's counts per label keeps the argument of the component test —
    given the pooled counts, a label's sample count is hypergeometric — so each label's two-sided
    p-value is exact; Bonferroni over the labels seen.
    """
    names = sorted(set(truth.posterior.labels), key=lambda v: (isinstance(v, str), v))
    index = {v: i for i, v in enumerate(names)}
    of = np.array([index[v] for v in truth.posterior.labels])
    c = np.bincount(of, weights=counts, minlength=len(names)).astype(np.int64)
    r = np.bincount(of, weights=ref, minlength=len(names)).astype(np.int64)
    w_l = np.bincount(of, weights=w, minlength=len(names))
    total = c + r
    seen = np.nonzero(total)[0]
    p_l = hypergeom_two_sided(c[seen], total[seen], n_judged, n_judged + int(r.sum()))
    p, i = bonferroni(p_l)
    worst = int(seen[i])
    freq = c / n_judged
    tv = float(0.5 * np.abs(freq - w_l).sum()) - null_tv_median(w_l, n_judged, truth.seed)
    return CheckResult(
        "label_weights", "mode_weights", statistic=float(p_l[i]), effect=tv, p_value=p,
        detail=(f"label weights off: draws {names[worst]!r} in {freq[worst]:.1%} of samples vs {w_l[worst]:.1%} "
                f"exact; TV {tv:.3f} beyond exact sampling noise ({p_eq(p)}, Bonferroni over {len(seen)} labels)"),
        data={"labels": [str(v) for v in names], "exact": w_l.tolist(), "sampled": freq.tolist(),
              "counts": c.tolist(), "worst_label": str(names[worst])})


CHECK = Check("mode_weights", ("mode_weights",), "output", order=20,
              run=lambda i: mode_weight_checks(i.samples, i.truth, i.evaluated),
              carriers={"mode_weights": "mode_weights"}, figures=("mode_weights",))
