"""The size and power of the early-stopping sweep, measured: ``make calibration-early-stopping``.

**Size.** For each scenario, ``audits`` seeded audits of the exact sampler (``fault:exact``: exact
posterior draws, noised and denoised along the grid) at ``n`` draws; seed ``s`` draws both the
sampler's output and the truth's reference and pushed-through noise, so the audits are independent.
The rejection rates of ``early_stopping_sweep`` at each level are its size, written per scenario and
pooled with Clopper–Pearson intervals to ``OUT/sizes.csv``, with the fraction not applicable; the
p-values (NaN: not applicable) to ``OUT/pvalues.npz``. The sweep draws from its own named streams,
so its p-value does not depend on which other checks run: the study selects the sweep alone and
re-runs every ``alias_every``-th audit with the whole ``early_stopping`` alias to confirm it.

**Power and specificity** (``OUT/power.csv``): ``late_spoil`` (exact until ``t = 0.008``, then noise:
an earlier stop is better) at ``power_n`` draws, and the constant faults ``shrink`` (spread × 0.8)
and ``inflate`` (× 1.25), present alike at every stop, which the sweep must not blame on stopping.

Derivation and the measured table: docs/early_stopping.md.

Example:
    >>> sizes, power, _ = calibrate(["bimodal_1d"], audits=10, n=100, alias_every=10, power_seeds=2,
    ...                             constant_seeds=2, power_n=200)
    >>> sorted(set(sizes["scenario"])), int(sizes["audits"].iloc[0]), sorted(set(power["fault"]))
    (['bimodal_1d', 'pooled'], 10, ['inflate', 'late_spoil', 'shrink'])
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["calibrate", "frames", "sweep_pvalues", "readme", "LEVELS", "SCENARIOS", "main"]

LEVELS = (0.05, 0.01, 1e-3)
SCENARIOS = ("bimodal_1d", "unequal_weights_2d", "grid_d8_m2")
CHECK = "early_stopping_sweep"


def sweep_pvalues(fault: str, scenario: str, seeds, n: int, alias_every: int = 0) -> np.ndarray:
    """The sweep's p-value of ``fault:FAULT`` on ``scenario`` at each seed (NaN where not applicable);
    every ``alias_every``-th seed is audited again with the whole ``early_stopping`` alias, which must
    give the same p-value (``RuntimeError`` otherwise)."""
    from samplerlab.auditing.pipeline import run

    out = []
    for i, seed in enumerate(seeds):
        sweep = run(f"fault:{fault}", scenario, n=n, seed=int(seed), checks=[CHECK])[CHECK]
        p = sweep.p_value if sweep.applicable else float("nan")
        if alias_every and i % alias_every == 0:
            again = run(f"fault:{fault}", scenario, n=n, seed=int(seed), checks=["early_stopping"])[CHECK]
            q = again.p_value if again.applicable else float("nan")
            if not (p == q or (np.isnan(p) and np.isnan(q))):
                raise RuntimeError(f"{scenario} seed {seed}: the sweep alone gives p = {p}, within the alias {q}")
        out.append(p)
    return np.asarray(out, dtype=float)


def _rates(p: np.ndarray, **labels) -> list[dict]:
    """Rejection rate at each level with its 95 % Clopper–Pearson interval (n/a never rejects)."""
    from scipy import stats

    rows = []
    for level in LEVELS:
        k = int((p <= level).sum())  # NaN compares false: a check not applicable is never a rejection
        ci = stats.binomtest(k, len(p)).proportion_ci(0.95, method="exact")
        rows.append({**labels, "level": level, "audits": len(p), "not_applicable": int(np.isnan(p).sum()),
                     "rejections": k, "rate": k / len(p), "low": ci.low, "high": ci.high})
    return rows


FAULTS = ("late_spoil", "shrink", "inflate")  # late_spoil at power_n draws, the constant faults at n


def calibrate(scenarios=SCENARIOS, audits: int = 2000, n: int = 500, alias_every: int = 20, power_seeds: int = 5,
              constant_seeds: int = 20, power_n: int = 2000, pvalues: dict | None = None):
    """``(sizes, power, pvalues)``: the size frame (per scenario and ``pooled``), the power frame
    (per fault and scenario, and pooled) and the p-values by ``scenario/fault`` — see module doc."""
    pvalues = {} if pvalues is None else pvalues
    for scenario in scenarios:
        pvalues[f"{scenario}/exact"] = sweep_pvalues("exact", scenario, range(audits), n, alias_every)
        for fault in FAULTS:
            seeds, size = (power_seeds, power_n) if fault == "late_spoil" else (constant_seeds, n)
            pvalues[f"{scenario}/{fault}"] = sweep_pvalues(fault, scenario, range(seeds), size)
    return (*frames(pvalues, scenarios, n, power_n), pvalues)


def frames(pvalues: dict, scenarios, n: int, power_n: int):
    """``(sizes, power)`` from the p-values by ``scenario/fault`` (``exact`` for the size)."""
    import pandas as pd

    size_rows, power_rows = [], []
    for scenario in list(scenarios) + ["pooled"]:
        p = np.concatenate([pvalues[f"{s}/exact"] for s in (scenarios if scenario == "pooled" else [scenario])])
        size_rows += _rates(p, scenario=scenario, n=n)
    for fault in FAULTS:
        for scenario in list(scenarios) + ["pooled"]:
            q = np.concatenate([pvalues[f"{s}/{fault}"] for s in (scenarios if scenario == "pooled" else [scenario])])
            power_rows += _rates(q, fault=fault, scenario=scenario, n=power_n if fault == "late_spoil" else n,
                                 p_min=float(np.nanmin(q, initial=1.0)), p_max=float(np.nanmax(q, initial=0.0)))
    sizes = pd.DataFrame(size_rows).rename(columns={"rate": "size"})
    return sizes, pd.DataFrame(power_rows).rename(columns={"rate": "flagged"})


def _fmt(v: float) -> str:
    return f"{v:.4f}".rstrip("0").rstrip(".") if v else "0"


def readme(sizes, power, command: str) -> str:
    """A short Markdown page: the size table, the power table and the command that wrote them."""
    lines = ["# Early-stopping sweep: measured size and power", "",
             f"Written by `{command}` (see docs/early_stopping.md). Exact sampler (`fault:exact`), "
             f"n = {int(sizes['n'].iloc[0])}, one seeded audit per row of `pvalues.npz`; size = fraction of audits "
             "whose `early_stopping_sweep` p-value is at or below the level (95 % Clopper–Pearson interval).", "",
             "| scenario | audits | n/a | size at 0.05 | size at 0.01 | size at 1e-3 |", "|---|---|---|---|---|---|"]
    for scenario, g in sizes.groupby("scenario", sort=False):
        cells = [f"{_fmt(r['size'])} [{_fmt(r['low'])}, {_fmt(r['high'])}]" for r in g.to_dict("records")]
        first = g.iloc[0]
        lines.append(f"| {scenario} | {first['audits']} | {first['not_applicable'] / first['audits']:.3g} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Faults (`late_spoil` enters in the last steps; `shrink` × 0.8 and `inflate` × 1.25 are the same "
              "at every stop): seeded audits flagged.", "",
              "| fault | scenario | n | audits | flagged at 0.05 [95 % CI of the rate] | at 0.01 | at 1e-3 | p range |",
              "|---|---|---|---|---|---|---|---|"]
    for (fault, scenario), g in power.groupby(["fault", "scenario"], sort=False):
        at = {r["level"]: r for r in g.to_dict("records")}
        r5 = at[0.05]
        lines.append(f"| {fault} | {scenario} | {r5['n']} | {r5['audits']} | {r5['rejections']} "
                     f"[{_fmt(r5['low'])}, {_fmt(r5['high'])}] | {at[0.01]['rejections']} | {at[1e-3]['rejections']} | "
                     f"{r5['p_min']:.2g}–{r5['p_max']:.2g} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="samplerlab study early-stopping",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/calibration_early_stopping")
    parser.add_argument("--audits", type=int, default=2000, help="exact audits per scenario")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    os.environ["SAMPLERLAB_CACHE"] = "off"  # every audit has its own seed: nothing to reuse, thousands of entries
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pvalues: dict = {}
    sizes, power, _ = calibrate(audits=args.audits, n=args.n, pvalues=pvalues)
    sizes.to_csv(out / "sizes.csv", index=False)
    power.to_csv(out / "power.csv", index=False)
    np.savez_compressed(out / "pvalues.npz", **pvalues)
    command = (f"samplerlab study early-stopping --audits {args.audits} --n {args.n} "
               f"--out {args.out}")
    (out / "README.md").write_text(readme(sizes, power, command))
    print(sizes.to_string(index=False))
    print(power.to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
