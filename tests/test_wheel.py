"""The wheel works on its own: built from the sources and installed into a fresh virtual
environment (its dependencies borrowed from this one through a ``.pth`` file, so nothing is
downloaded), it lists the shipped scenarios, finds the suite's sweep spec and runs an audit from a
folder away from the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd, env=None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_installed_wheel_ships_its_scenarios_and_runs_an_audit(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the source tree
    shutil.copytree(ROOT / "samplerlab", src / "samplerlab", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", src, "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist"], tmp_path)
    wheel = next((tmp_path / "dist").glob("samplerlab-*.whl"))

    env_dir = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir], tmp_path)
    python, bindir = env_dir / "bin" / "python", env_dir / "bin"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip())
    (site / "samplerlab_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], tmp_path)

    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(SAMPLERLAB_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    where = _run([python, "-c",
                  "import samplerlab, samplerlab.studies.suite as s; s.default_spec(); print(samplerlab.__file__)"],
                 away, env).strip()
    assert Path(where).is_relative_to(env_dir) and not Path(where).is_relative_to(ROOT), where
    listed = _run([bindir / "samplerlab", "list", "scenarios"], away, env)
    assert "bimodal_1d" in listed and "unequal_weights_2d" in listed
    scored = _run([bindir / "samplerlab", "score", "oracle", "--scenario", "bimodal_1d", "--n", "100", "--steps", "10",
                   "--checks", "spread"], away, env)
    assert "bimodal_1d" in scored and "passed" in scored
