"""Shared pytest configuration: the pytester plugin for end-to-end plugin tests, and a private
on-disk null cache for the session (tests never read or write the user's cache folder), and one
torch thread: the machine is shared, and the benchmarks' ratios are defined on one thread (a test
that needs more sets and restores it)."""

import os
import tempfile

import pytest

pytest_plugins = ["pytester"]

os.environ.setdefault("SAMPLERLAB_CACHE", tempfile.mkdtemp(prefix="samplerlab-test-cache-"))


def pytest_sessionstart(session) -> None:
    """One torch thread for the whole run (imported here, not at load: ``pytest --help`` stays torch-free)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def audits(tmp_path_factory):
    """``{"pass": (report, samples), "fail": (report, samples)}`` on unequal_weights_2d: the oracle,
    and the oracle with Gaussian noise of sd 0.7 added (too wide); samples as ``samplerlab plot``
    reads them from the suite's ``.npz`` files."""
    import numpy as np
    import torch

    from samplerlab.auditing.pipeline import run
    from samplerlab.auditing.sampler_ref import resolve_sampler
    from samplerlab.auditing.samples_file import save_samples
    from samplerlab.scenarios import load_scenario

    scenario = load_scenario("unequal_weights_2d")
    oracle, _ = resolve_sampler("oracle", problem=scenario.problem)

    def wide(task, n, generator=None):
        x = oracle(task, n, generator)
        return x + 0.7 * torch.randn(x.shape, generator=generator, dtype=x.dtype)

    out, folder = {}, tmp_path_factory.mktemp("samples")
    for key, sampler, name in (("pass", oracle, "oracle"), ("fail", wide, "wide")):
        report = run(sampler, scenario, n=300, steps=20, name=name)
        save_samples(folder / f"{name}.npz", report.samples, scenario)
        out[key] = (report, dict(np.load(folder / f"{name}.npz")))
    assert out["pass"][0].passed and not out["fail"][0]["spread_pit"].passed  # the premise of the tests
    return out
