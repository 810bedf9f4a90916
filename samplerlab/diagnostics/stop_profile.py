"""Stop-time error profile (``early_stopping_profile``, informative): how far each stopped output is from its law.

:func:`profile_check` compares, at every stop of the sweep, the first ``m = min(n, ROWS)`` rows of
the stopped output with ``m`` exact draws of its counterpart ``D_t(x_t)`` by the sliced
Wasserstein-1 distance; :func:`profile_null` maps ``R = 99`` exact replicate sets the same way for the
exact band (quantiles ``BAND``) and a rank p-value of the profile's change. Reported: the best stop
and its error against ``t = 0``. Informative only: the verdict on early stopping is the sweep's
exact sign test. Calibration: ``docs/early_stopping.md``.

Derivation and details: docs/notes/diagnostics_stop_profile.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from samplerlab.diagnostics.check import Check
from samplerlab.diagnostics.result import CheckResult, not_applicable, p_eq
from samplerlab.diagnostics.stop_nulls import profile_rows, sliced_w1_rows, stop_nulls
from samplerlab.diagnostics.threads import single_threaded_if_small
from samplerlab.diagnostics.truth import Truth
from samplerlab.diagnostics.verdicts import rank_pvalue

__all__ = ["profile_check", "profile_null", "sliced_w1_rows", "BAND", "CHECK"]

BAND = (0.05, 0.95)  # quantiles of the exact band


def profile_null(truth: Truth, schedule, t_stops: list[float]) -> np.ndarray:
    """The exact replicates' profiles ``(R, S)``: sliced W1 of exact draws mapped to each stop."""
    return stop_nulls(truth, schedule, sorted(t_stops))["null"]


def _max_abs_z(delta: np.ndarray) -> np.ndarray:
    """``max_t |z_t|`` per row of ``delta`` ``(R + 1, S − 1)``, standardised over all rows (symmetric)."""
    sd = delta.std(0)
    sd[sd == 0] = 1.0
    return np.abs((delta - delta.mean(0)) / sd).max(1)


@single_threaded_if_small
def profile_check(outputs: dict[float, Tensor], truth: Truth, schedule) -> CheckResult:
    """Stop-time error profile of ``{t_stop: samples}`` (``t_stop = 0`` is the full run) — see module doc."""
    t_stops = sorted(outputs)
    if t_stops[0] != 0.0 or len(t_stops) < 2:
        raise ValueError(f"outputs: expected t_stop 0 and at least one t_stop > 0, got {t_stops}")
    if any(len(v) != truth.n for v in outputs.values()):
        raise ValueError(f"outputs: expected {truth.n} rows (the truth's n) at every stop")
    end = outputs[0.0]
    if all(torch.equal(outputs[t], end) for t in t_stops[1:]):
        return not_applicable("early_stopping_profile", "early_stopping", "the sampler ignores the grid (its output "
                              "does not change when the grid is truncated)", role="info")
    s, rows = stop_nulls(truth, schedule, t_stops), profile_rows(truth)
    w = np.array([float(sliced_w1_rows(outputs[t][:rows].to(truth.dtype), s["theta"], ref))
                  for t, ref in zip(t_stops, s["refs"])])
    null = s["null"]
    delta = np.vstack([w[1:] - w[0], null[:, 1:] - null[:, :1]])  # row 0: the sampler
    stat = _max_abs_z(delta)
    p = rank_pvalue(stat[0], stat[1:])
    best = int(np.argmin(w))
    lo, hi = np.quantile(null, BAND[0], 0), np.quantile(null, BAND[1], 0)
    change = float(w[0] - w[best])
    beyond = bool(stat[0] > stat[1:].max())  # outside every exact replicate's profile change
    words = ("no stop is closer to its exact counterpart than the full run" if best == 0 else
             f"stopped at t* = {t_stops[best]:.3g} the output is {change:.3g} closer to its exact counterpart "
             f"than the full run ({w[best]:.3g} vs {w[0]:.3g})")
    return CheckResult(
        "early_stopping_profile", "early_stopping", statistic=float(stat[0]), effect=change, p_value=p, role="info",
        detail=(("sensitive to early stopping: " if beyond else "")
                + f"stop-time profile (sliced W1 to exact draws): {words}; profile change {float(stat[0]):.2g} null sd "
                f"at most ({p_eq(p)}, rank among {len(null)} exact replicates; informative)"),
        data={"t_stop": [float(t) for t in t_stops], "w1": w.tolist(), "band_lo": lo.tolist(), "band_hi": hi.tolist(),
              "null_median": np.median(null, 0).tolist(), "best_stop": float(t_stops[best]), "band": list(BAND)})


CHECK = Check("early_stopping_profile", ("early_stopping",), "stops", order=50, role="info",
              run=lambda i: [profile_check(i.outputs, i.truth, i.schedule)], figures=("early_stopping",))
