"""Silent corruption closed: writes into the task, global RNG draws, lost reports, hidden defaults."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from samplerlab import audit, samplers
from samplerlab.auditing.pipeline import run
from samplerlab.auditing.report import Report
from samplerlab.cli import main
from samplerlab.errors import SamplerError
from samplerlab.scenarios import load_scenario

KW = dict(n=300, checks=["spread", "mode_weights"], steps=20)


def _exact(problem):
    post = problem.posterior()
    return lambda task, n, g: post.sample(n, generator=g)


def _comparable(report: Report) -> dict:
    d = report.without_timings().to_dict()
    d["meta"].pop("sampler", None)
    d["meta"].pop("provenance", None)  # names the sampler (and its source) too: two samplers by design
    return d


@pytest.mark.parametrize("write", ["add", "zero"])
def test_a_sampler_writing_into_y_cannot_change_the_verdicts(write):
    scenario = load_scenario("bimodal_1d")
    exact = _exact(scenario.problem)

    def vandal(task, n, g):
        task.y.add_(100.0) if write == "add" else task.y.mul_(0.0)
        return exact(task, n, g)

    clean = run(exact, scenario, **KW)
    dirty = run(vandal, scenario, **KW)
    assert _comparable(dirty) == _comparable(clean) and dirty.passed


def test_a_sampler_writing_into_the_operator_stops_the_audit_naming_it():
    scenario = load_scenario("unequal_weights_2d")

    def vandal(task, n, g):
        for v in vars(task.operator).values():
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                v.mul_(0.0)
        return torch.zeros(n, task.dim, dtype=task.dtype)

    with pytest.raises(SamplerError, match="sampler 'vandal' modified its operator A in place"):
        run(vandal, scenario, **KW)


_POISONS = {
    "thin SVD": (lambda task: task.operator.svd().S.mul_(3.0), "its operator's cached svd().S"),
    "completed SVD": (lambda task: task.operator.svd(full=True).V[:, -1].mul_(-2.0),
                      "its operator's cached svd(full=True).V"),
    "schedule table": (lambda task: task.schedule._log_ab.mul_(0.5), "its schedule (VPLinear._log_ab)"),
    "time grid": (lambda task: task.timesteps.mul_(0.5), "its time grid"),
}


@pytest.mark.parametrize("what", list(_POISONS))
def test_a_sampler_writing_into_shared_tables_is_named_and_the_next_audit_is_unchanged(what):
    scenario = load_scenario("unequal_weights_2d")  # one problem and schedule for the three audits
    write, message = _POISONS[what]

    def poison(task, n, g):
        write(task)
        return torch.zeros(n, task.dim, dtype=task.dtype)

    clean = run("ddrm", scenario, **KW)
    with pytest.raises(SamplerError, match=f"sampler 'poison' modified {re.escape(message)}.* in place"):
        run(poison, scenario, **KW)
    assert _comparable(run("ddrm", scenario, **KW)) == _comparable(clean)


def test_a_factorisation_first_computed_and_written_during_the_run_is_caught():
    from samplerlab import GaussianMixture, InverseProblem
    from samplerlab.operators import Dense

    prior = GaussianMixture([0.6, 0.4], [[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.5])
    problem = InverseProblem(prior, Dense([[1.0, 0.5]]), 0.5, [0.2])
    assert problem.operator._svd is None  # first computed by the sampler

    def poison(task, n, g):
        task.operator.svd().U.neg_()
        return torch.zeros(n, task.dim, dtype=task.dtype)

    with pytest.raises(SamplerError, match="sampler 'poison' modified its operator's cached svd\\(\\).U in place"):
        audit(poison, problem, **KW)


def test_report_samples_are_the_main_runs_draws_when_the_sampler_reuses_its_buffer():
    problem = load_scenario("bimodal_1d").problem
    post = problem.posterior()
    kept: list[torch.Tensor] = []

    def buffered(task, n, g):  # one persistent buffer; truncated runs write a shifted cloud into it
        x = post.sample(n, generator=g) + 10.0 * float(task.timesteps[-1])
        if not kept:
            kept.append(torch.empty_like(x))
        kept[0].copy_(x)
        if task.finishes_at_zero:
            kept.append(x.clone())
        return kept[0][:]

    report = audit(buffered, problem, n=200, steps=50, checks=["early_stopping_sweep"])
    assert report.meta["stop_sweep"] == "re-runs"
    assert torch.equal(report.samples, kept[1])


@pytest.mark.parametrize("library", ["torch", "numpy"])
def test_global_rng_draws_are_reported_and_seeded(library):
    scenario = load_scenario("bimodal_1d")

    def sloppy(task, n, g):
        z = torch.randn(n, task.dim, dtype=task.dtype) if library == "torch" else \
            torch.from_numpy(np.random.standard_normal((n, task.dim)))
        return 0.5 * z + 1.0

    torch.manual_seed(123)
    np.random.seed(123)
    before = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    a = run(sloppy, scenario, **KW)
    torch.randn(7), np.random.standard_normal(7)  # move the global streams between the audits
    b = run(sloppy, scenario, **KW)
    assert a.meta["global_rng"] == [library]
    assert _comparable(a) == _comparable(b), "the same audit seed must give the same verdicts"
    assert "drew from the global" in a.summary()
    torch.manual_seed(123)
    np.random.seed(123)
    run(sloppy, scenario, **KW)
    assert torch.equal(torch.random.get_rng_state(), before[0]) and np.array_equal(np.random.get_state()[1],
                                                                                   before[1])


@pytest.mark.parametrize("name", samplers.available())
def test_zoo_samplers_draw_only_from_the_generator(name):
    scenario = load_scenario("unequal_weights_2d")
    spec = samplers.describe(name)
    small = {"mcgdiff": {"particles": 2}, "fps": {"particles": 2}, "daps": {"langevin_steps": 2}}.get(name, {})
    sampler = samplers.get(name, problem=scenario.problem, **small) if spec.control else samplers.get(name, **small)
    report = audit(sampler, scenario.problem, n=50, steps=10, checks=["spread"])
    assert "global_rng" not in report.meta


@pytest.mark.parametrize("where, message", [("missing/r.json", "does not exist"), (".", "is a directory")])
def test_json_to_a_bad_path_fails_before_the_audit(where, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["score", "dps", "--scenario", "bimodal_1d", "--n", "50", "--json", where]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "", "nothing may run before the path is checked"


def test_a_failed_write_falls_back_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    real = Report.to_json
    calls = []

    def flaky(self, path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real(self, path)

    monkeypatch.setattr(Report, "to_json", flaky)
    code = main(["score", "dps", "--scenario", "bimodal_1d", "--n", "100", "--checks", "spread", "--no-floor",
                 "--json", "r.json"])
    err = capsys.readouterr().err
    assert code == 2 and "could not write report to r.json" in err and "saved it to" in err  # a lost path is an error
    assert Report.from_json(calls[1]).meta["sampler"] == "dps"


def test_defaults_a_scenario_relies_on_are_reported(tmp_path):
    path = tmp_path / "bare.toml"
    path.write_text('description = "bare"\nsigma_y = 1.0\n[prior]\nkind = "mixture"\nweights = [1.0, 3.0]\n'
                    'normalize = true\n'
                    'means = [[-1.0], [1.0]]\ncovariances = [0.5, 0.5]\n[operator]\nkind = "identity"\n'
                    '[observation]\nkind = "explicit"\ny = [0.3]\n')
    scenario = load_scenario(path)
    report = run(_exact(scenario.problem), scenario, n=100, checks=["spread"])
    notes = " | ".join(report.meta["notes"])
    assert "1000 steps: the defaults (the file has no [schedule])" in notes
    assert "prior weights normalised to sum to 1 (the file's sum to 4)" in notes
    assert "n = 100: given for this audit (the scenario says 2000)" in notes
    assert "note: schedule vp_linear with 1000 steps" in report.summary()
    assert report.meta["versions"]["torch"] == torch.__version__


@pytest.mark.parametrize("device, message", [("cuda", "no CUDA device"), ("tpu9", "not a torch device")])
def test_an_unavailable_device_fails_at_once(device, message, capsys):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["score", "dps", "--scenario", "bimodal_1d", "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_subpackages_are_attributes_of_the_package():
    import samplerlab

    assert samplerlab.samplers.get("dps").zeta == 1.0 and "samplers" in dir(samplerlab)


def test_a_sampler_file_can_import_its_neighbours(tmp_path, capsys):
    (tmp_path / "helper_mod_xyz.py").write_text("SCALE = 0.5\n")
    (tmp_path / "mine.py").write_text(
        "import torch\nfrom helper_mod_xyz import SCALE\n"
        "def sample(task, n, generator):\n"
        "    return SCALE * torch.randn(n, task.dim, generator=generator, dtype=task.dtype)\n")
    code = main(["score", f"{tmp_path / 'mine.py'}:sample", "--scenario", "bimodal_1d", "--n", "50",
                 "--checks", "spread", "--no-floor"])
    assert code in (0, 1), capsys.readouterr().err


@pytest.mark.parametrize("ref, message", [
    ("mine.py", "did you mean mine.py:NAME"),
    ("mine.py:build", "needs the argument(s) ['scale']; pass them with --param"),
])
def test_sampler_reference_mistakes_get_a_hint(ref, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("def build(scale):\n    return lambda task, n, g: None\n")
    assert main(["score", ref, "--scenario", "bimodal_1d"]) == 2
    assert message in capsys.readouterr().err


def test_params_reach_a_callable_factory():
    from samplerlab.auditing.sampler_ref import resolve_sampler

    def build(scale):
        def sample(task, n, generator):
            return scale * torch.randn(n, task.dim, generator=generator, dtype=task.dtype)
        sample.scale = scale
        return sample

    sampler, _ = resolve_sampler(build, params={"scale": 0.25})
    assert sampler.scale == 0.25


@pytest.mark.parametrize("prior, what", [
    ('kind = "random"\ncomponents = 1\ndim = 100000', "1 full 100000×100000 covariances: at least 240.0 GB"),
    ('kind = "grid25"\ndim = 2000000', "auditing n = 2000 samples in 2000000 dimensions: at least 672.0 GB"),
], ids=["random-full-covariances", "grid25-audit"])
def test_a_scenario_too_large_for_memory_fails_before_allocating(prior, what, tmp_path, monkeypatch, capsys):
    import samplerlab.core.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 16e9)  # the same verdict on every machine
    path = tmp_path / "huge.toml"
    path.write_text(f'description = "too large"\nsigma_y = 0.1\n[prior]\n{prior}\n[operator]\nkind = "identity"\n')
    assert main(["score", "dps", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "huge.toml: prior.dim: expected a size that fits in memory (16.0 GB available), got " + what in err
