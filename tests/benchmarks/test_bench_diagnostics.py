"""Cost of an audit against one run of the sampler it audits, measured in the same run.

Run with ``make bench``. DPS at its defaults, n = 2000, float64, a 1000-step grid, on the 25-mode
grid prior (d = 80, m = 2) and on bimodal_1d. Timed in this order, each measured (nothing is
extrapolated): one DPS run; a *cold* audit (fresh problem, empty on-disk null cache); a *disk*
audit (fresh in-memory truth, the nulls read from the on-disk cache: the next CI run); a *warm*
audit (truth and nulls in memory). The audit runs every check; its stop-time sweep reads the
main run (DPS declares ``stop_from_notify``), so it costs one sampler run plus ``diagnostics_s``.

Targets (issue "an audit that costs little more than the sampler"):

* a whole cold audit ≤ 1.3× one DPS run, on both problems;
* cold diagnostics ≤ 0.2× and warm diagnostics ≤ 0.05× of the DPS run on the grid (on
  bimodal_1d the whole DPS run costs well under a second, so only the whole-audit ratio is asked);
* the ``likelihood_approximation`` check (exact guidance at the recorded times) ≤ 0.1× on both.
"""

from __future__ import annotations

import time

import pytest
import torch

from samplerlab import samplers
from samplerlab.auditing.audit import audit
from samplerlab.diagnostics.truth import Truth
from samplerlab.scenarios import load_scenario
from samplerlab.studies.validation import grid_problem

N, STEPS = 2000, 1000
WHOLE, COLD, WARM, WHY = 1.3, 0.2, 0.05, 0.1


def _problems():
    return {"grid_d80": lambda: grid_problem(80, 2, seed=1), "bimodal_1d": lambda: load_scenario("bimodal_1d").problem}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as in the studies' workers: the ratio then does not depend on how busy the
    machine's other cores are."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


@pytest.mark.parametrize("case", sorted(_problems()))
def test_audit_cost_vs_one_sampler_run(case, benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_CACHE", str(tmp_path))
    problem = _problems()[case]()
    dps = samplers.get("dps")
    task = problem.task(steps=STEPS)
    dps(task.with_timesteps(task.timesteps[:3]), N, torch.Generator().manual_seed(1))  # warm-up, untimed
    _, run_s = _timed(lambda: dps(task, N, torch.Generator().manual_seed(0)))
    cold, cold_s = _timed(lambda: audit(dps, problem, n=N, steps=STEPS, name="dps"))
    Truth.forget(problem)
    disk, disk_s = _timed(lambda: audit(dps, problem, n=N, steps=STEPS, name="dps"))
    warm = benchmark.pedantic(lambda: audit(dps, problem, n=N, steps=STEPS, name="dps"), rounds=1, iterations=1)
    ratios = {"whole_cold": cold_s / run_s, "whole_disk": disk_s / run_s,
              "diag_cold": cold.meta["diagnostics_s"] / run_s, "diag_disk": disk.meta["diagnostics_s"] / run_s,
              "diag_warm": warm.meta["diagnostics_s"] / run_s,
              "likelihood_check": cold["likelihood_approximation"].cost_s / run_s}
    benchmark.extra_info.update({"dps_run_s": run_s, **ratios})
    print(f"\n{case}: DPS {STEPS} steps {run_s:.2f} s; audit cold {ratios['whole_cold']:.2f}×, "
          f"disk {ratios['whole_disk']:.2f}×; diagnostics cold {ratios['diag_cold']:.3f}×, "
          f"disk {ratios['diag_disk']:.3f}×, warm {ratios['diag_warm']:.3f}×; likelihood check "
          f"{ratios['likelihood_check']:.3f}× ({cold.meta['sweep']})")
    assert ratios["whole_cold"] <= WHOLE
    assert ratios["likelihood_check"] <= WHY
    if case == "grid_d80":
        assert ratios["diag_cold"] <= COLD
        assert ratios["diag_warm"] <= WARM
