"""Diagnostics' cost relative to the sampler's own run, on every image scenario (same run).

Run with ``make bench``. DPS is audited with every check at the scenario's own n and steps, on
CUDA when present (the full image suite, including the 20,000-component d = 1024 scenario) and
on the CPU otherwise (the CPU-size scenarios), with a fresh null cache, so that the truth's
reference sets and every Monte Carlo null are paid for. The ratio is the report's own
``diagnostics_s / sampler_s``: both are timed inside the audit. Targets: ≤ 0.2 on a GPU (the
image track's target); ≤ 0.5 on the 2-core CPU, where the truth's reference sets (10 draws per
sample against all K components) weigh more against a sampler of a few seconds.
"""

from __future__ import annotations

import pytest
import torch

from samplerlab import samplers
from samplerlab.auditing.pipeline import run
from samplerlab.scenarios import load_scenario
from samplerlab.studies.image_suite import CPU_SCENARIOS, GPU_SCENARIOS

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SCENARIOS = GPU_SCENARIOS if DEVICE == "cuda" else CPU_SCENARIOS
TARGET = 0.2 if DEVICE == "cuda" else 0.5


@pytest.mark.parametrize("name", SCENARIOS)
def test_image_diagnostics_cost_relative_to_sampler(benchmark, name, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_CACHE", str(tmp_path))  # cold: every null is computed
    scenario = load_scenario(name, device=DEVICE)
    report = run(samplers.get("dps"), scenario)
    meta = report.meta
    ratio = meta["diagnostics_s"] / meta["sampler_s"]
    benchmark.extra_info.update(device=DEVICE, n=meta["n"], steps=meta["steps"], sampler_s=meta["sampler_s"],
                                diagnostics_s=meta["diagnostics_s"], ratio=ratio, target=TARGET)
    benchmark.pedantic(lambda: None, rounds=1)
    print(f"\n{name} ({DEVICE}, n = {meta['n']}, {meta['steps']} steps): sampler {meta['sampler_s']:.1f} s, "
          f"diagnostics {meta['diagnostics_s']:.1f} s, ratio {ratio:.2f} (target <= {TARGET})")
    assert ratio <= TARGET
