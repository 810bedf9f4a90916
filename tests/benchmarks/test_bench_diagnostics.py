"""Cost of the diagnostics themselves against one 1000-step DPS run, same problem, same run.

Run with ``make bench``. Setting: the 25-mode grid prior, d = 80, m = 2, n = 2000, float64,
the 1000-step DDPM grid. The audit runs every check on exact posterior draws (an exact
sampler), and its own cost — ``meta["diagnostics_s"]``: truth, nulls and checks, excluding the
sampler runs it requests — is measured *cold* (a fresh problem: reference draws and Monte Carlo
nulls built) and *warm* (cached per problem, n, seed). DPS costs the same per step at every t, so
``STEPS`` steps of the 1000-step grid are timed and scaled by ``1000 / STEPS``.
Target: cold diagnostics ≤ 20 % of one DPS run.
"""

from __future__ import annotations

import time

import torch

from samplerlab import samplers
from samplerlab.auditing import audit
from samplerlab.validation import exact_sampler, grid_problem

D, M, N, STEPS, TARGET = 80, 2, 2000, 20, 0.2


def test_diagnostics_cost_vs_dps(benchmark):
    dps = samplers.get("dps")
    problem = grid_problem(D, M, seed=1)
    task = problem.task(steps=1000)
    start = time.perf_counter()
    dps(task.with_timesteps(task.timesteps[: STEPS + 1]), N, torch.Generator().manual_seed(0))
    dps_s = (time.perf_counter() - start) * 1000 / STEPS

    cold = audit(exact_sampler(problem), problem, n=N, steps=1000).meta["diagnostics_s"]
    warm = benchmark.pedantic(lambda: audit(exact_sampler(problem), problem, n=N, steps=1000),
                              rounds=3, iterations=1)
    warm_s = warm.meta["diagnostics_s"]
    benchmark.extra_info.update({"dps_1000_steps_s": dps_s, "diagnostics_cold_s": cold, "diagnostics_warm_s": warm_s,
                                 "ratio_cold": cold / dps_s, "ratio_warm": warm_s / dps_s})
    print(f"\nDPS 1000 steps ≈ {dps_s:.2f} s; diagnostics cold {cold:.2f} s ({cold / dps_s:.3f}×), "
          f"warm {warm_s:.2f} s ({warm_s / dps_s:.3f}×)")
    assert cold / dps_s <= TARGET
