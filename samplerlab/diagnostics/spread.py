"""Spread and location within modes, tested apart: pair differences for scale, pair sums for location.

Each sample gets a component sampled from its exact responsibilities, so its whitened coordinates
are exactly ``N(0, I)`` under the truth; :func:`pair_within_modes` pairs the samples at random within
each mode (:class:`Pairs`). A pair's difference ``(z_i − z_j) / √2`` measures scale only, its sum
``(z_i + z_j) / √2``, independent of it, the mode's location. :func:`spread_checks` returns four exact
tests with no Monte Carlo null: ``spread_radius`` (sign test of the squared radii,
:func:`radius_test`), ``spread_directions`` (the same per principal direction), ``spread_pit`` (KS
test of the within-mode PIT) and ``location`` (sign test of the pair sums along a direction from
the other half). Likelihood-mode hallucinations are left out once their own test rejects at
``GATE``. :func:`describe_ratio` words a spread ratio.

Derivation and details: docs/notes/diagnostics_spread.md.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators import Identity
    >>> problem = InverseProblem(GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), Identity(2), 1.0, [0.0, 0.0])
    >>> truth = Truth.get(problem, n=2000, seed=0)
    >>> x = 0.7 * truth.draws(2000, "example")  # under-dispersed
    >>> radius, _, _, location = spread_checks(x, truth)
    >>> abs(radius.effect - 0.7) < 0.05, radius.p_value < 1e-9, location.p_value > 1e-3
    (True, True, True)
    >>> shifted = spread_checks(truth.draws(2000, "example") + 0.5, truth)  # 0.5 / sd 0.71 per coordinate
    >>> shifted[0].p_value > 1e-3, shifted[3].p_value < 1e-9, round(shifted[3].effect, 1)  # √2 · 0.71 = 1.0 sd
    (True, True, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Evaluated, Truth
from samplerlab.diagnostics.verdicts import binom_two_sided, binom_upper, bonferroni, hypergeom_upper

__all__ = ["spread_checks", "radius_test", "describe_ratio", "pair_within_modes", "Pairs", "MIN_PAIRS", "GATE", "CHECK"]

MIN_PAIRS = 10
GATE = 1e-6  # likelihood-mode samples leave the pairs once their own test's p falls below this
_QUANTILES = np.linspace(0, 1, 101)


def describe_ratio(ratio: float) -> str:
    return "under-dispersed" if ratio < 1 else "over-dispersed"


def radius_test(r2: Tensor, d: int) -> tuple[float, float]:
    """(spread ratio, exact two-sided sign-test p-value) of squared radii against ``χ²_d``."""
    r2n = r2.detach().cpu().double().numpy()
    med = stats.chi2.median(d)
    ratio = float(np.sqrt(np.median(r2n) / med)) if len(r2n) else 1.0
    return ratio, float(binom_two_sided(int((r2n < med).sum()), len(r2n), 0.5))


@dataclass
class Pairs:
    """Random within-mode pairs: index arrays, their mode, and which half (location split) each is in."""

    first: np.ndarray
    second: np.ndarray
    mode: np.ndarray
    half: np.ndarray  # 0: estimates the direction, 1: is tested


def pair_within_modes(labels: Tensor, use: Tensor, gen: torch.Generator) -> Pairs:
    """Pair the ``use`` samples at random within each label (a seeded permutation, value-blind)."""
    keys = torch.rand(len(labels), generator=gen, dtype=torch.float64, device=labels.device).cpu().numpy()
    lab = labels.cpu().numpy()
    idx = np.nonzero(use.cpu().numpy())[0]
    idx = idx[np.lexsort((keys[idx], lab[idx]))]
    lab_s = lab[idx]
    start = np.r_[0, np.nonzero(np.diff(lab_s))[0] + 1]
    pos = np.arange(len(idx)) - np.repeat(start, np.diff(np.r_[start, len(idx)]))
    head = np.nonzero((pos % 2 == 0) & (np.r_[lab_s[1:], -1] == lab_s))[0]
    pair_no = pos[head] // 2
    return Pairs(idx[head], idx[head + 1], lab_s[head], (pair_no % 2).astype(int))


def _direction_words(truth: Truth, samples: Tensor, mode: int, members: np.ndarray) -> str:
    """Where mode ``mode``'s cloud moved: toward y, toward another prior mode, or neither."""
    post, prior, problem = truth.posterior, truth.prior, truth.problem
    x = samples[torch.as_tensor(members, device=samples.device)].to(post.dtype)
    center = post.means[mode]
    v = x.median(0).values - center
    if float(v.norm()) == 0.0:
        return ""
    unit = v / v.norm()
    toward_y = problem.operator.adjoint((problem.y - problem.operator.forward(center[None]))[0][None])[0]
    cos_y = float(unit @ toward_y / toward_y.norm().clamp_min(1e-300))
    other = prior.means - center
    cos_m = (other @ unit) / other.norm(dim=-1).clamp_min(1e-300)
    cos_m[mode] = -2.0
    j = int(cos_m.argmax())
    if cos_y >= 0.5 and cos_y >= float(cos_m[j]):
        return " toward y"
    if float(cos_m[j]) >= 0.5:
        return f" toward prior mode {j}"
    return ""


@single_threaded_if_small
def spread_checks(samples: Tensor, truth: Truth, evaluated: Evaluated | None = None) -> list[CheckResult]:
    """``spread_radius``, ``spread_directions``, ``spread_pit`` and ``location`` (see module doc)."""
    ev = truth.evaluate(samples) if evaluated is None else evaluated
    use = ~truth.ruled_out[ev.labels]
    hallucinated = _likelihood_mode_to_drop(samples, truth, ev)
    if hallucinated is not None:
        use = use & ~hallucinated
    pairs = pair_within_modes(ev.labels, use, truth.gen("spread-pairs"))
    n_pairs, d = len(pairs.first), ev.z.shape[1]
    names = (("spread_radius", "spread"), ("spread_directions", "spread"), ("spread_pit", "spread"),
             ("location", "location"))
    if n_pairs < MIN_PAIRS:
        why = (f"only {n_pairs} pairs of samples share a posterior mode (at least {MIN_PAIRS} needed): "
               "within-mode scale and location cannot be told apart")
        return [not_applicable(check, mode, why) for check, mode in names]
    z = ev.z.double().cpu()
    zi, zj = z[pairs.first], z[pairs.second]
    diff = ((zi - zj) / math.sqrt(2)).numpy()
    summ = ((zi + zj) / math.sqrt(2)).numpy()
    r2 = np.square(diff).sum(1)
    med = stats.chi2.median(d)

    # Scale: sign test of the pair-difference radius against the χ²_d median.
    ratio, p = radius_test(torch.from_numpy(r2), d)
    per_mode = {}
    for k in np.unique(pairs.mode)[:200]:
        sel = pairs.mode == k
        per_mode[str(int(k))] = {"pairs": int(sel.sum()), "ratio": float(np.sqrt(np.median(r2[sel]) / med))}
    radius = CheckResult(
        "spread_radius", "spread", statistic=float(np.median(r2) / med), effect=ratio, p_value=p,
        detail=f"{describe_ratio(ratio)}: within-mode spread {ratio:.2f}× exact ({p_eq(p)}, {n_pairs} pairs)",
        data={"per_mode": per_mode, "dim": d, "pairs": n_pairs})

    # Per principal direction: sign test of d_j² against the χ²_1 median, Bonferroni over d.
    dn = np.square(diff)
    med1 = stats.chi2.median(1)
    dir_ratio = np.sqrt(np.median(dn, axis=0) / med1)
    dir_p = binom_two_sided((dn < med1).sum(0), n_pairs, 0.5)
    p_dir, worst = bonferroni(dir_p)
    directions = CheckResult(
        "spread_directions", "spread", statistic=float(dir_p[worst]), effect=float(dir_ratio[worst]),
        p_value=p_dir,
        detail=(f"{describe_ratio(dir_ratio[worst])} along principal direction {worst}: "
                f"spread {dir_ratio[worst]:.2f}× exact ({p_eq(p_dir)}, Bonferroni over {d})"),
        data={"direction_ratio": dir_ratio.tolist(), "direction_p": dir_p.tolist()})

    # Within-mode HPD-level PIT of the pair differences, exactly uniform under the truth.
    u = stats.chi2.cdf(r2, d)
    ks = stats.kstest(u, "uniform")
    mean_u = float(u.mean())
    where = "near 0 (under-dispersed)" if mean_u < 0.5 else "near 1 (over-dispersed)"
    logp = ev.logp.cpu()
    ref = truth.reference_logp.cpu()
    u_mix = 1.0 - torch.searchsorted(ref, logp.to(ref.dtype)).double().numpy() / len(ref)
    pit = CheckResult(
        "spread_pit", "spread", statistic=float(ks.statistic), effect=mean_u, p_value=float(ks.pvalue),
        detail=(f"HPD-level PIT not uniform: KS {ks.statistic:.3f}, mean {mean_u:.2f}, piles {where} "
                f"({p_eq(float(ks.pvalue))})"),
        data={"pit_quantiles": np.quantile(u, _QUANTILES).tolist(),
              "mixture_pit_quantiles": np.quantile(u_mix, _QUANTILES).tolist(),
              "mixture_pit_ks_p": float(stats.kstest(u_mix, "uniform").pvalue), "levels": _QUANTILES.tolist()})
    return [radius, directions, pit, _location(samples, truth, pairs, summ)]


def _likelihood_mode_to_drop(samples: Tensor, truth: Truth, ev: Evaluated) -> Tensor | None:
    """The likelihood-mode samples' mask when their exact test (as in :mod:`.hallucination`) rejects
    at ``p < GATE``; else ``None`` (see the module doc)."""
    n, m = len(samples), truth.n_reference
    # Likelihood-mode samples are off-support: their count bounds c, and with no reference one the
    # p-value is smallest, so most audits are settled here without classifying the samples.
    off = int((ev.logp < truth.q_post).sum())
    if not off or hypergeom_upper(off, off, n, n + m) >= GATE:
        return None
    mask = truth.sample_types(samples, ev)["likelihood_mode"]
    c, c_ref = int(mask.sum()), truth.reference_counts["likelihood_mode"]
    return mask if c and hypergeom_upper(c, c + c_ref, n, n + m) < GATE else None


def _shift_length(summ: np.ndarray, groups: list[np.ndarray]) -> float:
    """``sqrt(max(0, (‖s̄‖² − d / P) / 2))`` per group of pair sums, pair-weighted (module doc)."""
    d, total, pairs = summ.shape[1], 0.0, 0
    for sel in groups:
        k = int(sel.sum())
        if k:
            total += k * (float(np.square(summ[sel].mean(0)).sum()) - d / k) / 2
            pairs += k
    return math.sqrt(max(0.0, total / pairs)) if pairs else 0.0


def _split_sign_test(summ: np.ndarray, est: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Projections of the ``test`` pair sums on the normalised coordinate-wise median of the ``est`` ones."""
    if not est.any() or not test.any():
        return np.zeros(0)
    u = np.median(summ[est], axis=0)
    norm = np.linalg.norm(u)
    return summ[test] @ (u / norm) if norm > 0 else np.zeros(0)


def _location(samples: Tensor, truth: Truth, pairs: Pairs, summ: np.ndarray) -> CheckResult:
    """Split-half sign tests of the within-mode pair sums along directions estimated on the other half.

    Two directions, Bonferroni over both: one per mode (a mode-specific shift, e.g. toward ``y``)
    and one pooled over modes (a shift shared in whitened coordinates, which many small modes in
    many dimensions cannot estimate one by one).
    """
    per_mode = [_split_sign_test(summ, (pairs.mode == k) & (pairs.half == 0), (pairs.mode == k) & (pairs.half == 1))
                for k in np.unique(pairs.mode)]
    candidates = {"per mode": np.concatenate(per_mode),
                  "shared": _split_sign_test(summ, pairs.half == 0, pairs.half == 1)}
    tested = {k: v for k, v in candidates.items() if len(v) >= MIN_PAIRS}
    if not tested:
        return not_applicable("location", "location",
                              f"only {max(len(v) for v in candidates.values())} pairs to test "
                              f"(at least {MIN_PAIRS} needed)")
    pvals = {k: binom_upper(int((v > 0).sum()), len(v), 0.5) for k, v in tested.items()}
    p, i = bonferroni(list(pvals.values()))
    which = list(pvals)[i]
    proj = tested[which]
    positive = int((proj > 0).sum())
    groups = ([pairs.mode == k for k in np.unique(pairs.mode)] if which == "per mode"
              else [np.ones(len(pairs.mode), bool)])
    shift = _shift_length(summ, groups)
    # The most populated mode tells the direction in words.
    modes, counts = np.unique(pairs.mode, return_counts=True)
    main = int(modes[np.argmax(counts)])
    members = np.r_[pairs.first[pairs.mode == main], pairs.second[pairs.mode == main]]
    where = _direction_words(truth, samples, main, members)
    return CheckResult(
        "location", "location", statistic=positive / len(proj), effect=shift, p_value=p,
        detail=(f"shifted{where}: within-mode cloud moved {shift:.2f} posterior sd from its exact centre "
                f"({p_eq(p)}, {len(proj)} pairs, direction {which})"),
        data={"tested_pairs": len(proj), "positive": positive, "main_mode": main, "direction": where.strip(),
              "p_per_mode": pvals.get("per mode"), "p_shared": pvals.get("shared")})


CHECK = Check("spread", ("spread", "location"), "output", order=10,
              run=lambda i: spread_checks(i.samples, i.truth, i.evaluated),
              carriers={"spread": "spread_radius", "location": "location"}, figures=("pit_ecdf",))
