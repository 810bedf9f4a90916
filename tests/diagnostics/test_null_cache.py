"""The on-disk null cache: hits skip the work, and stale or corrupt entries are rebuilt, never trusted."""

from __future__ import annotations

import os

import numpy as np
import pytest

from samplerlab import GaussianMixture, InverseProblem, audit
from samplerlab.diagnostics import cache
from samplerlab.diagnostics.truth import Truth
from samplerlab.operators import Identity

SHAPES = {"v": 4}


def _problem(y: float = 0.5) -> InverseProblem:
    return InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.5, 0.5]), Identity(1), 1.0, [y])


class _Builder:
    def __init__(self, value: float = 1.0):
        self.calls, self.value = 0, value

    def __call__(self) -> dict:
        self.calls += 1
        return {"v": np.full(4, self.value)}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_CACHE", str(tmp_path))
    return tmp_path


def _entry(folder) -> "os.PathLike":
    (path,) = folder.glob("demo-*.npz")
    return path


def test_a_hit_skips_the_build_and_returns_the_stored_values(folder):
    first, second = _Builder(1.0), _Builder(2.0)
    cache.cached(_problem(), "demo", {"n": 10}, first, SHAPES)
    got = cache.cached(_problem(), "demo", {"n": 10}, second, SHAPES)
    assert (first.calls, second.calls) == (1, 0) and got["v"].tolist() == [1.0] * 4


@pytest.mark.parametrize("change", ["observation", "params", "purpose"])
def test_another_posterior_or_setting_is_another_entry(folder, change):
    cache.cached(_problem(), "demo", {"n": 10}, _Builder(), SHAPES)
    again = _Builder()
    problem = _problem(0.7) if change == "observation" else _problem()
    params = {"n": 11} if change == "params" else {"n": 10}
    cache.cached(problem, "demo2" if change == "purpose" else "demo", params, again, SHAPES)
    assert again.calls == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered", "wrong_shape", "nan"])
def test_a_corrupt_entry_is_rebuilt_and_overwritten(folder, damage):
    cache.cached(_problem(), "demo", {"n": 10}, _Builder(1.0), SHAPES)
    path = _entry(folder)
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    else:
        with np.load(path) as f:
            meta, v = f["__meta__"], np.array(f["v"])
        v = {"tampered": v + 1, "wrong_shape": v[:3], "nan": np.where(np.arange(4) == 1, np.nan, v)}[damage]
        with open(path, "wb") as fh:
            np.savez(fh, __meta__=meta, v=v)
    rebuild = _Builder(3.0)
    got = cache.cached(_problem(), "demo", {"n": 10}, rebuild, SHAPES)
    assert rebuild.calls == 1 and got["v"].tolist() == [3.0] * 4
    trusted = _Builder(4.0)
    assert cache.cached(_problem(), "demo", {"n": 10}, trusted, SHAPES)["v"].tolist() == [3.0] * 4
    assert trusted.calls == 0


def test_an_entry_from_other_code_is_stale(folder, monkeypatch):
    cache.cached(_problem(), "demo", {"n": 10}, _Builder(), SHAPES)
    monkeypatch.setattr(cache, "_code_tag", lambda: "edited-source")
    again = _Builder()
    cache.cached(_problem(), "demo", {"n": 10}, again, SHAPES)
    assert again.calls == 1


def test_off_never_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLERLAB_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    b = _Builder()
    cache.cached(_problem(), "demo", {"n": 10}, b, SHAPES)
    cache.cached(_problem(), "demo", {"n": 10}, b, SHAPES)
    assert b.calls == 2 and not list(tmp_path.rglob("*.npz"))


def test_an_unwritable_folder_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SAMPLERLAB_CACHE", str(blocker / "cache"))  # a folder under a file: cannot exist
    assert cache.cached(_problem(), "demo", {"n": 10}, _Builder(), SHAPES)["v"].tolist() == [1.0] * 4


def test_audits_with_and_without_the_cache_agree(folder, monkeypatch):
    problem = _problem()
    exact = lambda task, n, g: problem.posterior().sample(n, generator=g)  # noqa: E731
    kw = dict(n=300, checks=["distribution"], steps=20)
    Truth.forget(problem)
    written = audit(exact, problem, **kw).without_timings()
    assert list(folder.glob("distribution-null-*.npz"))
    Truth.forget(problem)
    read = audit(exact, problem, **kw).without_timings()
    monkeypatch.setenv("SAMPLERLAB_CACHE", "off")
    Truth.forget(problem)
    fresh = audit(exact, problem, **kw).without_timings()
    assert written.to_dict() == read.to_dict() == fresh.to_dict()
