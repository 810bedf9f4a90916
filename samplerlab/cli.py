"""The ``samplerlab`` command line.

Examples::

    samplerlab list                       # scenarios and samplers
    samplerlab score dps --scenario bimodal_1d --n 1000 --steps 100 --json dps.json
    samplerlab score my_sampler.py:build --scenario scenarios/my_problem.toml --param scale=0.5
    samplerlab plot dps.json -o runs/figures --card
    samplerlab compare dps.json tmpd.json
    samplerlab suite --out runs/audit

``score`` exits 0 when every check passes, 1 when a failure mode is found, 2 on bad input
(unknown sampler or scenario, a sampler that raises, exits or returns NaN/Inf, the wrong shape,
dtype or device, a sampler run past ``--timeout``, an output path that cannot be written): one
line on stderr, no traceback unless ``--debug``; 130 on Ctrl-C, after one line (``suite`` and
``sweep`` keep every finished cell, and the same command resumes). Progress goes to stderr when
it is a terminal and ``CI`` is not set (``--progress`` asks for it anyway).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from samplerlab.auditing.options import add_cli_options, in_ci, parse_positive_int
from samplerlab.core.interrupts import EXIT_INTERRUPTED, SamplerTimeout, handling_ctrl_c
from samplerlab.core.provenance import command
from samplerlab.errors import InputError, SamplerlabError

__all__ = ["main", "build_parser"]


def _progress_enabled() -> bool:
    return sys.stderr.isatty() and not in_ci()


def _progress(message: str) -> None:
    if _progress_enabled():
        print(message, file=sys.stderr, flush=True)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplerlab", description="Audit diffusion posterior samplers against "
                                     "exact Gaussian-mixture posteriors.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list scenarios, samplers or checks")
    p.add_argument("what", nargs="?", choices=["scenarios", "samplers", "checks"],
                   help="what to list (default: scenarios and samplers)")

    p = sub.add_parser("score", help="audit one sampler on one scenario")
    p.add_argument("sampler", help="zoo name (see `samplerlab list samplers`), module:attr or file.py:attr")
    p.add_argument("--scenario", required=True, help="scenario name (see `samplerlab list scenarios`) or .toml path")
    add_cli_options(p, ["n", "seed", "alpha", "steps", "device", "json"])
    p.add_argument("--checks", nargs="+", metavar="CHECK", type=_check_name,
                   help="run only these checks or failure modes (default: all; `samplerlab list checks`)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="sampler parameter (repeatable)")
    p.add_argument("--no-floor", dest="floor", action="store_false", help="skip the discretisation floor (the "
                   "exact posterior denoiser on the sampler's own grid, which attributes each failure)")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=False, help="also audit the "
                   "prior-complexity control (the prior cut to the component of the posterior's dominant mode), "
                   "which names each failure the method's own or the mixture prior's (default: off)")
    p.add_argument("--observations", type=int, metavar="K", help="audit on K observations y ~ p(y) drawn from the "
                   "scenario's prior (seeded): coverage, SBC and TARP across them and one verdict at α")
    p.add_argument("--vary", metavar="PARAM=V1,V2,…", help="a sensitivity curve: audit at each value of a sampler "
                   "parameter (or steps) and print every failure mode's effect per value")
    p.add_argument("--plot", metavar="DIR", help="with --vary: also write the curve's figure (with the exact band); "
                   "with --observations: the coverage figure (rank ECDFs in their exact band) "
                   "to DIR")
    p.add_argument("--save-samples", metavar="PATH", help="save the samples (and, in 2-D, the exact posterior "
                   "density on a grid) as .npz for `samplerlab plot --samples`")
    p.add_argument("--timeout", type=_positive_float, metavar="S", help="stop a sampler run after S seconds "
                   "(exit 2; Unix only: a SIGALRM timer in this process)")
    p.add_argument("--threads", type=parse_positive_int, metavar="N", help="torch intra-op threads (default "
                   "$SAMPLERLAB_THREADS, else chosen for the problem and the machine's free cores)")
    p.add_argument("--progress", action="store_true", help="a progress line on stderr for sampler runs longer "
                   "than 5 s even when stderr is not a terminal or CI is set")
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser("plot", help="render the figures of JSON reports")
    p.add_argument("reports", nargs="+", metavar="REPORT", help="reports written by `score --json` or `suite`")
    p.add_argument("-o", "--out", default="runs/figures", help="output folder (default runs/figures, git-ignored)")
    p.add_argument("--samples", metavar="NPZ", help="samples saved by `score --save-samples` for a single "
                   "report (2-D contour plot); by default REPORT.npz next to each report is used if present")
    p.add_argument("--card", action="store_true", help="also write one report card per report: every panel and "
                   "the verdict table on one page (PNG) and a self-contained HTML page with the report JSON embedded")
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser("compare", help="two JSON reports side by side")
    p.add_argument("a", help="first report (JSON)")
    p.add_argument("b", help="second report (JSON)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser("study", help="run one of the studies that write results/ (each has its own --help)")
    p.add_argument("name", choices=sorted(_STUDIES), help="which study")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the study's own options (`samplerlab study NAME -h`)")

    p = sub.add_parser("bench", help="device benchmarks: the prepared GPU check, the denoiser's kernel profile")
    p.add_argument("name", choices=sorted(_BENCHES), help="which benchmark")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="its own options (`samplerlab bench NAME -h`)")

    p = sub.add_parser("sweep", help="run a sweep spec on Dask into a resumable store, or render a store")
    p.add_argument("spec", metavar="run|report|SPEC.toml", help="`run SPEC.toml` (or the spec alone) runs it; "
                   "`report STORE` renders a store")
    p.add_argument("store", nargs="?", metavar="SPEC.toml|STORE", help="with `run`: the spec; with `report`: the "
                   "store folder")
    p.add_argument("--out", default="runs/sweep", help="store folder (default runs/sweep, git-ignored)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core; 1 runs "
                   "in this process)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, tcp://host:port "
                   "(default: $DASK_SCHEDULER_ADDRESS, else a local cluster)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell before it counts as failed")
    p.add_argument("--device", default=None, help="torch device of every audit (default cpu)")
    p.add_argument("--figures", metavar="DIR", default=None, help="with `report`: where the tables and figures go "
                   "(default: the store folder)")
    p.add_argument("--cards", action="store_true", help="with `report` on an audit store: one report card per audit")
    _add_cell_threads(p)
    p.add_argument("--debug", action="store_true", help="show tracebacks")

    p = sub.add_parser("suite", help="score the sampler zoo on the default scenario suite")
    p.add_argument("--out", default="runs/audit", help="folder for summary.csv, reports/ and cards/ (default "
                   "runs/audit, git-ignored; `make results` regenerates the committed results/)")
    p.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: one per core; 1 runs "
                   "in this process)")
    p.add_argument("--no-cards", dest="cards", action="store_false", help="skip the report cards (one PNG and one "
                   "HTML page per audit in OUT/cards)")
    p.add_argument("--scenarios", nargs="+", metavar="NAME", help="scenarios (default: the suite's)")
    p.add_argument("--samplers", nargs="+", metavar="NAME", help="samplers (default: the whole zoo)")
    p.add_argument("--checks", nargs="+", metavar="CHECK", type=_check_name,
                   help="run only these checks or failure modes (default: all; `samplerlab list checks`)")
    p.add_argument("--no-floor", dest="floor", action="store_false", help="skip the discretisation floor")
    add_cli_options(p, ["n", "steps", "seed", "alpha", "device"])
    _add_cell_threads(p)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _check_name(name: str) -> str:
    """``--checks`` accepts what the check registry knows: check names and failure modes."""
    from samplerlab.diagnostics.registry import choices

    if name not in choices():
        raise argparse.ArgumentTypeError(f"unknown check {name!r}, expected one of {', '.join(choices())}")
    return name


def _cmd_list(args) -> int:
    from samplerlab.render.tables import format_table

    if args.what == "checks":
        from samplerlab.diagnostics.registry import checks

        print(format_table(["check", "failure modes", "needs", "role"],
                           [[c.name, ", ".join(c.modes), c.needs, c.role] for c in checks()]))
        return 0

    if args.what in (None, "scenarios"):
        from samplerlab.scenarios import list_scenarios, read_header

        rows = []
        for name in list_scenarios():
            head = read_header(name)
            rows.append([name, str(head.get("n", "")), str(head.get("schedule", {}).get("steps", "")),
                         str(head.get("description", ""))])
        print(format_table(["scenario", "n", "steps", "description"], rows))
    if args.what is None:
        print()
    if args.what in (None, "samplers"):
        from samplerlab import samplers

        rows = [[name, "control" if samplers.describe(name).control else "", samplers.describe(name).summary]
                for name in samplers.available()]
        print(format_table(["sampler", "", "summary"], rows))
    return 0


def _check_device(device: str | None) -> None:
    """Fail at once, in one line, on a device this machine does not have."""
    if device is None:
        return
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device: {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device: {device} requested, but this machine has no CUDA device "
                         f"(torch {torch.__version__}); use --device cpu")
    if d.type == "cuda" and d.index is not None and d.index >= torch.cuda.device_count():
        raise InputError(f"--device: {device} requested, but only {torch.cuda.device_count()} CUDA device(s) exist")


def _probe(path: Path, flag: str, what: str) -> None:
    """Open ``path`` for writing (creating it, then removing it, if it is new): permission bits say
    nothing for root, so only a real open tells whether the file can be written."""
    new = not path.exists()
    try:
        with open(path, "x" if new else "a"):
            pass
        if new:
            path.unlink()
    except OSError as exc:
        raise InputError(f"{flag}: cannot write {what} {path} ({exc.strerror or exc})") from None


def _check_output(path: str | None, flag: str) -> None:
    """Fail before any work if the file ``path`` cannot be written (a folder, a missing or read-only folder)."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{flag}: {path} is a directory, expected a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{flag}: folder {parent} does not exist (create it first)")
    _probe(p, flag, "to")


def _check_folder(path: str | None, flag: str) -> None:
    """Fail before any work if files cannot be written into the existing folder ``path``."""
    if not path:
        return
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{flag}: folder {path} does not exist (create it first)")
    _probe(p / f".samplerlab-probe-{os.getpid()}", flag, "into folder")


def _write_or_fallback(write, path: str, what: str) -> bool:
    """``write(path)``; if that fails after all (the path was checked before the audit: a full disk,
    a race), write to a temporary file instead, say where and return False."""
    import tempfile

    try:
        write(path)
        return True
    except OSError as exc:
        fd, fallback = tempfile.mkstemp(prefix=f"samplerlab-{what}-", suffix=Path(path).suffix or ".out")
        os.close(fd)
        write(fallback)
        print(f"samplerlab: error: could not write {what} to {path} ({exc.strerror or exc}); saved it to "
              f"{fallback}", file=sys.stderr)
        return False


def _cmd_score(args) -> int:
    from samplerlab.core.interrupts import watching_samplers
    from samplerlab.core.threads import choose_threads, using_threads
    from samplerlab.scenarios import load_scenario

    _check_device(args.device)
    _check_output(args.json, "--json")
    _check_output(args.save_samples, "--save-samples")
    if args.vary or args.observations is not None:
        _check_folder(args.plot, "--plot")
    scenario = load_scenario(args.scenario, device=args.device)
    n, steps = args.n or scenario.n, args.steps or scenario.steps
    gemm = n * scenario.problem.dim * scenario.problem.prior.n_components  # one denoiser call's multiply-adds
    with using_threads(choose_threads(args.threads, gemm, args.device)), \
            watching_samplers(args.timeout, args.progress or _progress_enabled()):
        if args.vary:
            return _score_vary(args, scenario, n, steps)
        if args.observations is not None:
            return _score_observations(args, scenario, n, steps)
        return _score_one(args, scenario, n, steps)


def _score_one(args, scenario, n: int, steps: int) -> int:
    from samplerlab.auditing.pipeline import run
    from samplerlab.auditing.sampler_ref import parse_params
    from samplerlab.auditing.samples_file import save_samples
    from samplerlab.render.tables import report_table

    if args.plot:
        raise InputError("--plot: only with --vary or --observations "
                         "(one audit is plotted by `samplerlab plot REPORT`)")
    _progress(f"auditing {args.sampler} on {scenario.name} (d = {scenario.problem.dim}, n = {n}, steps = {steps}) …")
    report = run(args.sampler, scenario, params=parse_params(args.param), n=n, steps=steps, seed=args.seed,
                 alpha=args.alpha, device=args.device, checks=args.checks, floor=args.floor, control=args.control)
    print(report_table(report))
    print()
    print(report.summary())
    outputs = [(args.json, report.to_json, "report"),
               (args.save_samples, lambda p: save_samples(p, report.samples, scenario), "samples")]
    written = True
    for path, write, what in outputs:
        if path and _write_or_fallback(write, path, what):
            _progress(f"{what} written to {path}")
        elif path:
            written = False  # asked for and not there: not a pass, whatever the verdict
    return 0 if written and report.passed else 1 if written else 2


def _score_observations(args, scenario, n: int, steps: int) -> int:
    from samplerlab.auditing.observations import audit_observations
    from samplerlab.auditing.sampler_ref import parse_params
    from samplerlab.render.tables import observations_table

    if args.observations < 2:
        raise InputError(f"--observations: expected an integer >= 2, got {args.observations}")
    if args.save_samples:
        raise InputError("--save-samples: not with --observations")
    _progress(f"auditing {args.sampler} on {scenario.name} over {args.observations} observations (n = {n}) …")
    audit = audit_observations(args.sampler, scenario, args.observations, params=parse_params(args.param),
                               device=args.device, seed=args.seed, alpha=args.alpha, n=n, steps=steps,
                               checks=args.checks, floor=args.floor, control=args.control)
    print(observations_table(audit))
    print()
    print(audit.summary())
    if args.json:
        audit.to_json(args.json)
        _progress(f"report written to {args.json}")
    if args.plot:
        from samplerlab.render.plots import plot_report

        for path in plot_report(audit.as_report(), args.plot):
            _progress(f"figure written to {path}")
    return 0 if audit.passed else 1


def _score_vary(args, scenario, n: int, steps: int) -> int:
    from samplerlab.auditing.sampler_ref import parse_params
    from samplerlab.render.tables import vary_table
    from samplerlab.studies.sensitivity import MODE_CHECKS, exact_band, parse_vary, vary

    for flag in ("save_samples", "json"):
        if getattr(args, flag):
            raise InputError(f"--{flag.replace('_', '-')}: not with --vary (use --plot DIR for the curve)")
    param, values = parse_vary(args.vary)
    _progress(f"auditing {args.sampler} on {scenario.name} at {param} = {values} (n = {n}) …")
    reports: list = []
    frame = vary(args.sampler, param, values, scenario, params=parse_params(args.param), floor=args.floor,
                 reports=reports, n=n, steps=None if param == "steps" else steps, seed=args.seed,
                 alpha=args.alpha, device=args.device, checks=args.checks)
    print(vary_table(frame, MODE_CHECKS))
    if args.plot:
        from samplerlab.render.sensitivity_plots import plot_sensitivity

        _progress("computing the exact band (19 audits of exact draws) …")
        for path in plot_sensitivity(frame, exact_band(scenario, n, checks=args.checks, device=args.device),
                                     args.plot):
            print(path)
    return 0 if all(r.passed for r in reports) else 1


def _load_report(path: str):
    import json

    from samplerlab.auditing.report import Report

    try:
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and "reports" in data and "modes" in data:  # an audit over observations
            from samplerlab.auditing.observations import ObservationAudit

            return ObservationAudit.from_dict(data).as_report()
        return Report.from_dict(data)
    except FileNotFoundError:
        raise InputError(f"{path}: no such report file") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a samplerlab JSON report ({type(exc).__name__}: {exc})") from exc


def _cmd_plot(args) -> int:
    import numpy as np

    from samplerlab.render.plots import plot_report

    if args.samples and len(args.reports) > 1:
        raise InputError("--samples: give one report with it, or let each REPORT.npz be found next to its report")
    for path in args.reports:
        report = _load_report(path)
        npz = Path(args.samples) if args.samples else Path(path).with_suffix(".npz")
        if args.samples and not npz.is_file():
            raise InputError(f"{args.samples}: no such samples file")
        samples = dict(np.load(npz)) if npz.is_file() else None
        for written in plot_report(report, args.out, samples=samples):
            print(written)
        if args.card:
            from samplerlab.render.report_card import write_report_card

            for written in write_report_card(report, args.out, samples=samples).values():
                print(written)
    return 0


def _cmd_compare(args) -> int:
    from samplerlab.render.tables import compare_table

    print(compare_table(_load_report(args.a), _load_report(args.b)))
    return 0


def _add_cell_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=parse_positive_int, metavar="N", help="torch intra-op threads of each audit "
                   "(default $SAMPLERLAB_THREADS, else 1: the workers share the cores); sets SAMPLERLAB_THREADS for "
                   "this process and the local workers it starts")


def _cell_threads(args) -> None:
    """``--threads`` of suite and sweep: every cell reads ``SAMPLERLAB_THREADS`` (local workers inherit it)."""
    if args.threads:
        os.environ["SAMPLERLAB_THREADS"] = str(args.threads)


def _cmd_suite(args) -> int:
    from samplerlab.studies.suite import run_suite, suite_table

    _check_device(args.device)
    _cell_threads(args)
    frame = run_suite(args.out, scenarios=args.scenarios, samplers=args.samplers, n=args.n, steps=args.steps,
                      seed=args.seed, alpha=args.alpha, device=args.device, checks=args.checks,
                      floor=args.floor, cards=args.cards, workers=args.workers)
    print(suite_table(frame))
    print(f"\nwrote {Path(args.out) / 'summary.csv'} and {len(frame) - int(frame['error'].astype(bool).sum())} "
          f"reports in {Path(args.out) / 'reports'}" + (f", report cards in {Path(args.out) / 'cards'}"
                                                       if args.cards else ""))
    return 0


_TABLE_CELLS = 200  # larger stores print their counts, not one line per cell


# ``samplerlab study NAME`` / ``samplerlab bench NAME``: the module whose ``main(argv)`` runs it.
_STUDIES = {"images": "samplerlab.studies.image_suite", "medical": "samplerlab.studies.medical_suite",
            "adapters": "samplerlab.studies.adapter_study", "claims": "samplerlab.studies.claims",
            "why": "samplerlab.studies.explanations", "coverage": "samplerlab.studies.coverage_calibration",
            "early-stopping": "samplerlab.studies.early_stopping_calibration"}
_BENCHES = {"gpu": "samplerlab.bench.gpu_check", "profile": "samplerlab.bench.gpu_profile"}


def _cmd_delegate(table: dict[str, str], args) -> int:
    from importlib import import_module

    try:
        return int(import_module(table[args.name]).main(list(args.rest)) or 0)
    except SystemExit as exc:  # its own argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2


def _cmd_sweep(args) -> int:
    from samplerlab.studies.sweep import load_spec, read_store, sweep
    from samplerlab.studies.sweep_report import render, store_table

    _cell_threads(args)

    if args.spec == "run":
        if not args.store:
            raise InputError("sweep run: give the spec, e.g. `samplerlab sweep run sweeps/example.toml`")
        args.spec = args.store
    elif args.spec == "report":
        if not args.store:
            raise InputError("sweep report: give the store folder, e.g. `samplerlab sweep report runs/sweep`")
        try:
            frame = read_store(args.store, latest=True)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from exc
        if frame["key"].nunique() <= _TABLE_CELLS:
            print(store_table(frame))
        for path in render(args.store, args.figures, cards=args.cards):
            print(path)
        return 0
    spec = load_spec(args.spec)
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: expected a positive integer, got {args.workers}")
    frame = sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler, timeout=args.timeout,
                  device=args.device)
    if frame["key"].nunique() <= _TABLE_CELLS:
        print(store_table(frame))
    status = frame.drop_duplicates("key")["status"].value_counts().to_dict()
    print(f"\nstore {args.out}: {frame['key'].nunique()} cells ({status.get('done', 0)} done, "
          f"{status.get('error', 0)} failed, {status.get('invalid', 0)} invalid for their scenario); "
          f"`samplerlab sweep report {args.out}` renders the study's tables and figures")
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


_COMMANDS = {"list": _cmd_list, "score": _cmd_score, "plot": _cmd_plot, "compare": _cmd_compare,
             "suite": _cmd_suite, "sweep": _cmd_sweep, "study": lambda a: _cmd_delegate(_STUDIES, a),
             "bench": lambda a: _cmd_delegate(_BENCHES, a)}


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 pass, 1 failure mode found, 2 bad input, 130 Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        with handling_ctrl_c(ends_process=argv is None), \
                command(["samplerlab", *(sys.argv[1:] if argv is None else argv)]):  # recorded in every report
            return _COMMANDS[args.command](args)
    except (SamplerlabError, ValueError) as exc:  # bad input, a failing sampler, bad audit options
        if getattr(args, "debug", False):
            raise
        print(f"samplerlab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C (a sampler's own raise is a SamplerError above)
        if getattr(args, "debug", False):
            raise
        print(str(exc) or "interrupted", file=sys.stderr)  # a sweep's says how many cells it stored
        return EXIT_INTERRUPTED
    except (SamplerTimeout, SystemExit) as exc:  # past --timeout after the sampler returned; sys.exit() in a
        if getattr(args, "debug", False):    # sampler's factory: either way not a pass
            raise
        what = f"{exc} (while the sampler's output was checked)" if isinstance(exc, SamplerTimeout) else \
            f"SystemExit({exc.code!r}) during the audit: the sampler or its factory called sys.exit()"
        print(f"samplerlab {args.command}: error: {what}", file=sys.stderr)
        return 2
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if getattr(args, "debug", False):
            raise
        print(f"samplerlab {args.command}: error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug "
              "for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
