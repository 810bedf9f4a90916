"""The image suite: the zoo audited on real-image priors (``make gpu``).

On CUDA it runs every image scenario at full size, including the 20,000-component
``patches32_inpainting_gpu`` (d = 1024) and the 100,000-component d = 4096 inpainting and
super-resolution (``patches64_*_gpu``); on the CPU a reduced version (fewer samples, the
CPU-size scenarios) runs the same code — CI runs it smaller still (``tests/studies/test_image_suite.py``).
The audits are the sweeps ``sweeps/images.toml`` (CPU) and ``sweeps/images_gpu.toml`` (CUDA), run
by the sweep runner (:func:`samplerlab.studies.suite.run_suite`). Outputs under ``--out``: the store,
``summary.csv``, one JSON report per run, and a gallery figure per inpainting scenario (posterior
samples of each sampler next to exact posterior draws).

Usage::

    samplerlab study images --out results/images            # cuda if present, else cpu
    samplerlab study images --device cpu --n 200 --steps 100
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from samplerlab.scenarios import data_path
from samplerlab.studies.sweep_spec import load_spec, spec_names

__all__ = ["CPU_SCENARIOS", "GPU_SCENARIOS", "IMAGE_SAMPLERS", "run_image_suite", "main"]

SPECS = data_path("sweeps")
_CPU, _GPU = load_spec(SPECS / "images.toml"), load_spec(SPECS / "images_gpu.toml")  # the suite's sweeps
(CPU_SCENARIOS, IMAGE_SAMPLERS), GPU_SCENARIOS = spec_names(_CPU), spec_names(_GPU)[0]
GALLERY_SCENARIOS = ("digits_inpainting", "faces_inpainting", "patches64_inpainting", "patches32_inpainting_gpu",
                     "patches64_inpainting_gpu", "patches64_superresolution_gpu")


def _square(d: int) -> tuple[int, int]:
    side = math.isqrt(d)
    if side * side != d:
        raise ValueError(f"image suite: dimension {d} is not a square image")
    return side, side


def run_image_suite(out, device: str, scenarios=None, samplers=None, n: int | None = None,
                    steps: int | None = None, seed: int = 0, gallery_n: int = 6, progress=None):
    """Audit the image samplers on the image scenarios and draw the galleries; returns the summary frame.

    By default the cells are the device's spec (``sweeps/images_gpu.toml`` on CUDA, else
    ``sweeps/images.toml``, blocks included); ``scenarios`` or ``samplers`` name a product instead.
    """
    from samplerlab import samplers as zoo
    from samplerlab.auditing.report import Report
    from samplerlab.render.gallery_plots import plot_gallery
    from samplerlab.scenarios import load_scenario
    from samplerlab.studies.image_gallery import gallery, report_label_frequencies
    from samplerlab.studies.suite import run_suite

    spec = _GPU if device.startswith("cuda") else _CPU
    out = Path(out)
    frame = run_suite(out, scenarios=scenarios, samplers=samplers, n=n, steps=steps, seed=seed,
                      device=device, samples=False, spec=spec)
    for name in dict.fromkeys(frame["scenario"]):
        if name not in GALLERY_SCENARIOS:
            continue
        audited = list(dict.fromkeys(frame.loc[frame["scenario"] == name, "sampler"]))
        scenario = load_scenario(name, device=device)
        problem = scenario.problem
        chosen = {s: zoo.get(s, **({"problem": problem} if zoo.describe(s).control else {})) for s in audited}
        rows = gallery(problem, chosen, n=gallery_n, steps=steps or scenario.steps, seed=seed)
        # labelled priors (digits' classes): exact vs sampled label bars, read from the audits' reports
        bars = (report_label_frequencies({s: Report.from_json(out / "reports" / f"{name}__{s}.json") for s in audited})
                if problem.prior.labels else None)
        plot_gallery(rows, _square(problem.dim), out / "figures" / f"gallery_{name}.png",
                     title=f"{scenario.description}\n(exact posterior draws vs the zoo, "
                           f"{steps or scenario.steps} steps)",
                     labels=bars)
    return frame


def suite_arguments(prog: str, description: str, out: str, samplers, cpu_n: int, argv=None, gpu_n: int = 2000):
    """The image-track suites' command line: ``(args, device, n)`` (``n``: ``gpu_n`` on CUDA, ``cpu_n`` else)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", default=out, help=f"output folder (default {out})")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--n", type=int, default=None,
                        help=f"samples per audit (default {gpu_n} on cuda, {cpu_n} on cpu)")
    parser.add_argument("--steps", type=int, default=None, help="grid size (default: each scenario's)")
    parser.add_argument("--scenarios", nargs="+", default=None, help="scenario names (default: by device)")
    parser.add_argument("--samplers", nargs="+", default=None,
                        help=f"zoo names (default: the spec's, {' '.join(samplers)})")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return args, device, args.n or (gpu_n if device.startswith("cuda") else cpu_n)


def device_line(what: str, device: str) -> str:
    return f"{what} on {device}" + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else "")


def main(argv=None) -> int:
    args, device, n = suite_arguments("samplerlab study images", __doc__.splitlines()[0], "results/images",
                                      IMAGE_SAMPLERS, _CPU.n, argv, _GPU.n)
    from samplerlab.studies.suite import suite_table

    frame = run_image_suite(args.out, device, args.scenarios, args.samplers, n=n, steps=args.steps,
                            progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(device_line("image suite", device))
    print(suite_table(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
