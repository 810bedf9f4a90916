"""The stop-time sweep read off the main run: bit for bit what the truncated re-runs return."""

from __future__ import annotations

import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem, audit, samplers
from samplerlab.operators import Dense
from samplerlab.samplers import declared

T_STOPS = (0.01, 0.05)


def _problem() -> InverseProblem:
    prior = GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.5])
    return InverseProblem(prior, Dense([[1.0, 0.5]]), 0.5, [0.8])


def _build(name: str, problem: InverseProblem):
    spec = samplers.describe(name)
    small = {"mcgdiff": {"particles": 4}, "fps": {"particles": 3}, "daps": {"langevin_steps": 5}}.get(name, {})
    return samplers.get(name, problem=problem, **small) if spec.control else samplers.get(name, **small)


class _Hidden:
    """Hides a sampler's declarations: the audit must fall back to re-runs."""

    def __init__(self, sampler):
        self.run = sampler

    def __call__(self, task, n, generator=None):
        return self.run(task, n, generator)


@pytest.mark.parametrize("name", samplers.available())
def test_declared_stop_outputs_equal_the_truncated_runs_bit_for_bit(name):
    problem = _problem()
    sampler = _build(name, problem)
    if not declared(sampler, "stop_from_notify"):
        pytest.skip(f"{name} does not declare stop_from_notify: its sweep keeps the re-runs")
    task = problem.task(steps=60)
    seen = {}
    sampler(task.with_observer(lambda t, x, x0: seen.__setitem__(float(t), x.clone())), 50,
            torch.Generator().manual_seed(3))
    for t_stop in T_STOPS:
        grid = task.timesteps[task.timesteps >= t_stop - 1e-12]
        rerun = sampler(task.with_timesteps(grid), 50, torch.Generator().manual_seed(3))
        read = task.denoise(seen[float(grid[-1])], grid[-1])
        assert torch.equal(rerun, read), f"{name}: t_stop {t_stop}: max diff {float((rerun - read).abs().max()):.3g}"


@pytest.mark.parametrize("name", ["dps", "pigdm", "oracle", "mcgdiff"])
def test_audit_reads_the_sweep_off_the_main_run_only_when_declared_and_the_verdicts_agree(name):
    problem = _problem()
    kw = dict(n=200, steps=40, checks=["early_stopping"], t_stops=T_STOPS, seed=1)
    fast = audit(_build(name, problem), problem, name=name, **kw)
    slow = audit(_Hidden(_build(name, problem)), problem, name=name, **kw)
    declares = declared(_build(name, problem), "stop_from_notify")
    assert fast.meta["stop_sweep"] == ("read off the main run" if declares else "re-runs")
    assert slow.meta["stop_sweep"] == "re-runs"
    assert [c.to_dict() | {"cost_s": 0, "sampler_s": 0} for c in fast.checks] == \
           [c.to_dict() | {"cost_s": 0, "sampler_s": 0} for c in slow.checks]
    if declares:
        assert fast["early_stopping_sweep"].sampler_s == 0.0 < slow["early_stopping_sweep"].sampler_s
