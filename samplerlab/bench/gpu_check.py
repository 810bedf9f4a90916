"""The GPU check: one prepared run of the GPU benchmarks and the full image suite, within time limits.

A lent GPU is a scarce thing (minutes, not hours), so everything the image track measures on
it runs from one command, each step in its own process with its own time limit, writing what it
produced under ``--out`` even when a step runs out of time:

1. ``profile``: the operators on which the denoisers spend their device time
   (:mod:`samplerlab.bench.gpu_profile`, ``profile.txt``);
2. ``bench``: the denoiser benchmarks (``tests/benchmarks/test_bench_denoiser.py`` and
   ``test_bench_images.py``): fractions of the same-run GEMM roofline (plain FP32 and TF32),
   CUDA-event timed; JSON in ``bench.json``;
3. ``images``: ``make gpu``'s image suite (every image scenario × the image samplers at
   n = 2000, a progress line per audit) into ``images/`` (summary, reports, galleries); the
   reports hold each audit's ``sampler_s`` and ``diagnostics_s``.

``check.json`` records each step's command, exit status, seconds and whether it timed out, and
the device's name; ``image_costs.csv`` splits each finished image audit's time into the sampler's
run, the truth and diagnostics, the floor and the set-up between cells
(:func:`samplerlab.studies.sweep_store.cell_costs`), read from the store even when the step timed out.
Usage (``make gpu-check``; the limits add up to under 10 minutes)::

    samplerlab bench gpu --out "$OUT"

Example:
    >>> [s.name for s in STEPS]
    ['profile', 'bench', 'images']
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["STEPS", "Step", "run_check", "main"]


class Step(NamedTuple):
    name: str
    limit_s: int
    argv: tuple[str, ...]  # ``{out}`` is replaced by the output folder


STEPS = (
    Step("profile", 60, ("-m", "samplerlab.cli", "bench", "profile", "--out", "{out}")),
    Step("bench", 100, ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/benchmarks/test_bench_denoiser.py",
                        "tests/benchmarks/test_bench_images.py", "--benchmark-enable", "--benchmark-only", "-s",
                        "--benchmark-json", "{out}/bench.json")),
    Step("images", 400, ("-m", "samplerlab.cli", "study", "images", "--device", "cuda", "--out", "{out}/images")),
)


def run_check(out, steps=STEPS) -> dict:
    """Run ``steps`` in order (each in a fresh process, killed at its limit); returns the record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import torch

        device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    except Exception as exc:  # the record is still written
        device = f"unknown ({exc})"
    record = {"device": device, "steps": []}
    for step in steps:
        argv = [sys.executable] + [a.replace("{out}", str(out)) for a in step.argv]
        start = time.perf_counter()
        with open(out / f"{step.name}.log", "w") as log:
            try:
                rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=step.limit_s).returncode
                timed_out = False
            except subprocess.TimeoutExpired:
                rc, timed_out = None, True
        seconds = time.perf_counter() - start
        record["steps"].append({"name": step.name, "command": " ".join(argv[1:]), "returncode": rc,
                                "timed_out": timed_out, "seconds": round(seconds, 1), "limit_s": step.limit_s})
        print(f"gpu check: {step.name}: " + ("timed out" if timed_out else f"exit {rc}") + f" after {seconds:.0f} s",
              file=sys.stderr, flush=True)
        (out / "check.json").write_text(json.dumps(record, indent=2))
    _write_costs(out)
    return record


def _write_costs(out: Path) -> None:
    """``image_costs.csv``: where each image audit's time went (from the store, also after a time-out)."""
    from samplerlab.studies.sweep_store import cell_costs

    store = out / "images" / "store"
    if (store / "parts").is_dir() and any((store / "parts").glob("*.parquet")):
        cell_costs(store).to_csv(out / "image_costs.csv", index=False, float_format="%.3f")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="samplerlab bench gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu-check", help="output folder (default runs/gpu-check)")
    args = parser.parse_args(argv)
    record = run_check(args.out)
    return 0 if all(s["returncode"] == 0 for s in record["steps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
