"""``samplerlab sweep report STORE``: a study's tables and figures, rendered from its store only.

The store (:mod:`samplerlab.studies.sweep_store`) holds one row per check of every audit and, where the
spec kept them, each audit's JSON report and draws; ``STORE/spec.json`` says which study it is.
Each renderer turns those rows into the study's own tables and figures and computes nothing the
store does not hold (quantiles and rates of stored values aside). Only the cells of the last sweep
(``STORE/keys.json``) are rendered: rows left by an edited sampler or scenario are stale.

* ``audit`` — ``summary.csv`` (one row per audit: its params, seed and key, the verdict and a pass /
  FAIL / floor / n/a cell per failure mode), the reports under readable names, one per cell
  (``reports/<scenario>__<sampler>[__params][__seedS].json``, and ``.npz`` draws) and, with
  ``cards``, one report card per audit (``cards/``, named alike);
* ``validation`` — per (family, fault, seed, failure mode) whether it was flagged
  (``validation.csv``), power and worst mis-attribution per family × fault (``summary.csv``) and
  one confusion matrix per family (``confusion_<family>.png``);
* ``calibration`` — the p-values per family and check (``pvalues.npz``), the size at each level
  with Clopper–Pearson intervals (``sizes.csv``) and one QQ plot per family (``qq_<family>.png``);
* ``sensitivity`` — ``curves.csv`` (every check's effect per parameter value), ``bands.csv``
  (5–95 % of each check's effect over the exact audits, the cells with ``vary = "band"``) and one
  figure per sampler × parameter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

__all__ = ["store_table", "render", "audit_summary", "validation_rows", "calibration_rows", "sensitivity_frames"]


def store_table(frame) -> str:
    """The summary table of a store: one row per cell, a verdict per failure mode (rendering only)."""
    from samplerlab.diagnostics.registry import FAILURE_MODES
    from samplerlab.render.tables import format_table

    rows = []
    frame = frame.sort_values(["scenario", "sampler", "params", "seed"], kind="stable")
    for key, g in frame.groupby("key", sort=False):
        first = g.iloc[0]
        base = [first["scenario"], first["sampler"], first["params"], str(first["seed"])]
        if first["status"] != "done":
            rows.append(base + [first["status"].upper()] + [""] * len(FAILURE_MODES) + [first["error"][:60]])
            continue
        verdict = g[g["role"] == "verdict"]
        cells_ = []
        for mode in FAILURE_MODES:
            m = verdict[verdict["failure_mode"] == mode]
            failing = m[~m["passed"].astype(bool)]
            cells_.append("" if m.empty else "n/a" if not m["applicable"].any() else
                          ("floor" if len(failing) and (failing["floor_passed"] == False).all()  # noqa: E712
                           else "FAIL" if len(failing) else "pass"))
        rows.append(base + ["FAILED" if "FAIL" in cells_ or "floor" in cells_ else "PASSED"] + cells_ + [""])
    header = ["scenario", "sampler", "params", "seed", "verdict"] + [m[:10] for m in FAILURE_MODES] + ["error"]
    return format_table(header, rows)


def _done(frame):
    return frame[frame["status"] == "done"]


# -- audit -----------------------------------------------------------------------------------

def audit_summary(store, out, frame, cards: bool = False):
    """The suite's outputs from a store (see module doc); returns the summary frame."""
    import numpy as np
    import pandas as pd

    from samplerlab.auditing.report import Report
    from samplerlab.render.tables import summary_row

    store, out = Path(store), Path(out)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    rows = []
    stems = _cell_stems(frame)
    for key, g in frame.groupby("key", sort=False):
        first = g.iloc[0]
        params = " ".join(f"{k}={v}" for k, v in sorted(json.loads(first["params"]).items()))
        if first["status"] != "done":
            rows.append({**summary_row(Path(first["scenario"]).stem, first["sampler"], error=first["error"],
                                       seconds=first["seconds"]), "params": params, "seed": first["seed"], "key": key})
            continue
        report = Report.from_json(store / "reports" / f"{key}.json")
        stem = stems[key]
        shutil.copyfile(store / "reports" / f"{key}.json", out / "reports" / f"{stem}.json")
        npz = store / "samples" / f"{key}.npz"
        samples = None
        if npz.is_file():
            shutil.copyfile(npz, out / "reports" / f"{stem}.npz")
            samples = dict(np.load(npz))
        row = {**summary_row(report.meta["scenario"], first["sampler"], report, seconds=first["seconds"]),
               "params": params, "seed": first["seed"], "key": key, "report": f"reports/{stem}.json"}
        if cards:
            from samplerlab.render.report_card import write_report_card

            card = write_report_card(report, out / "cards", samples=samples, stem=stem)
            row["card"] = str(card["html"].relative_to(out))
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary.to_csv(out / "summary.csv", index=False)
    return summary


def _cell_stems(frame) -> dict[str, str]:
    """A readable file name per cell: ``scenario__sampler`` (the sampler as the spec names it, a
    file reference by its file and attribute), its parameters and seed where the cells differ in
    them, and the key's start where two cells would still share a name."""
    from samplerlab.render.plots import safe_stem

    cells = frame.drop_duplicates("key")
    vary_params, vary_seed = cells["params"].nunique() > 1, cells["seed"].nunique() > 1
    stems = {}
    for row in cells.to_dict("records"):
        ref = str(row["sampler"])
        target, _, attr = ref.rpartition(":")
        sampler = f"{Path(target).stem}.{attr}" if target.endswith(".py") or "/" in target else ref
        stem = f"{Path(str(row['scenario'])).stem}__{sampler}"
        params = json.loads(row["params"])
        if vary_params and params:
            stem += "__" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
        if vary_seed:
            stem += f"__seed{row['seed']}"
        stems[row["key"]] = safe_stem(stem)
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    return {key: stem if counts[stem] == 1 else f"{stem}__{key[:8]}" for key, stem in stems.items()}


# -- validation ------------------------------------------------------------------------------

def validation_rows(frame):
    """Per (family, fault, seed, failure mode): flagged, own mode, expected, applicable."""
    import pandas as pd

    from samplerlab.diagnostics.registry import FAILURE_MODES
    from samplerlab.studies.validation import EXPECTED, GLOBAL, OWN

    rows = []
    for _, g in frame.groupby("key", sort=False):
        first = g.iloc[0]
        family, fault = first["scenario"].removeprefix("family:"), first["sampler"].removeprefix("fault:")
        base = {"family": family, "fault": fault, "seed": int(first["seed"])}
        if first["status"] != "done":  # a fault this family cannot host (or a failed cell)
            rows.append({**base, "failure_mode": "", "flagged": False, "own": False, "expected": True,
                         "applicable": False, "why": first["error"]})
            continue
        failing = set(g.loc[~g["passed"].astype(bool), "failure_mode"])
        for mode in FAILURE_MODES:
            rows.append({**base, "failure_mode": mode, "flagged": mode in failing, "own": OWN.get(fault) == mode,
                         "expected": mode in EXPECTED[fault] or mode in GLOBAL, "applicable": True, "why": ""})
    return pd.DataFrame(rows).sort_values(["family", "fault", "seed", "failure_mode"], kind="stable")


def _render_validation(frame, out: Path, spec: dict) -> list[Path]:
    from samplerlab.render.study_plots import confusion_figure as figure
    from samplerlab.studies.validation import confusion, summary

    rows = validation_rows(frame)
    rows.to_csv(out / "validation.csv", index=False)
    table = summary(rows)
    table.to_csv(out / "summary.csv", index=False)
    written = [out / "validation.csv", out / "summary.csv"]
    seeds = rows["seed"].nunique()
    for family in rows["family"].unique():
        written.append(figure(confusion(rows, family), out / f"confusion_{family}.png", family, seeds, spec.get("n")))
    return written


# -- calibration -----------------------------------------------------------------------------

def calibration_rows(frame):
    """Per exact audit: each applicable check's p-value, and the audit's smallest Holm p."""
    import pandas as pd

    from samplerlab.studies.calibration import AUDIT

    done = _done(frame)
    rows = []
    for _, g in done.groupby("key", sort=False):
        first = g.iloc[0]
        base = {"family": first["scenario"].removeprefix("family:"), "truth": int(first["seed"]),
                "run": int(json.loads(first["params"]).get("stream", 0))}
        has_p = g[g["applicable"].astype(bool) & g["p_value"].notna()]
        rows += [{**base, "check": r["check"], "role": r["role"], "p": r["p_value"]} for _, r in has_p.iterrows()]
        holm = g["p_holm"].dropna()
        rows.append({**base, "check": AUDIT, "role": "verdict", "p": float(holm.min()) if len(holm) else 1.0})
    return pd.DataFrame(rows).sort_values(["family", "check", "truth", "run"], kind="stable")


def _render_calibration(frame, out: Path, spec: dict) -> list[Path]:
    import numpy as np

    from samplerlab.render.study_plots import qq_figure
    from samplerlab.studies.calibration import size_table

    rows = calibration_rows(frame)
    np.savez_compressed(out / "pvalues.npz", **{f"{fam}/{check}": g.p.to_numpy(np.float64)
                                                for (fam, check), g in rows.groupby(["family", "check"])})
    table = size_table(rows)
    table.to_csv(out / "sizes.csv", index=False)
    written = [out / "pvalues.npz", out / "sizes.csv"]
    for family in rows["family"].unique():
        written.append(qq_figure(rows, family, out / f"qq_{family}.png"))
    return written


# -- sensitivity -----------------------------------------------------------------------------

_CURVE_COLUMNS = ["sampler", "scenario", "param", "error", "value", "check", "failure_mode", "role", "applicable",
                  "effect", "p_value", "p_holm", "passed", "floor_effect", "floor_passed", "attribution", "floor_eta",
                  "steps", "n"]


def sensitivity_frames(frame):
    """``(curves, bands)``: every curve cell's checks, and 5–95 % of each check's effect over the
    exact audits (``vary = "band"``) per scenario."""
    import pandas as pd

    band = frame["vary"] == "band"
    curves = frame[~band].rename(columns={"vary": "param"}).copy()
    curves.loc[curves["status"] == "done", "error"] = None
    curves = curves.reindex(columns=_CURVE_COLUMNS)
    exact = _done(frame[band])
    out = []
    for (scenario, check), g in exact.groupby(["scenario", "check"], sort=False):
        effect = g["effect"].dropna()
        out.append({"scenario": scenario, "check": check, "low": effect.quantile(0.05) if len(effect) else None,
                    "high": effect.quantile(0.95) if len(effect) else None, "n": g["n"].iloc[0]})
    return curves.reset_index(drop=True), pd.DataFrame(out, columns=["scenario", "check", "low", "high", "n"])


def _render_sensitivity(frame, out: Path, spec: dict) -> list[Path]:
    from samplerlab.render.sensitivity_plots import plot_sensitivity

    curves, bands = sensitivity_frames(frame)
    curves.to_csv(out / "curves.csv", index=False)
    bands.to_csv(out / "bands.csv", index=False)
    return [out / "curves.csv", out / "bands.csv", *plot_sensitivity(curves, bands, out)]


_RENDERERS = {"validation": _render_validation, "calibration": _render_calibration,
              "sensitivity": _render_sensitivity}


def render(store, out=None, cards: bool = False) -> list[Path]:
    """Render the study of ``store`` (its ``spec.json`` names it) into ``out`` (default: the store)."""
    from samplerlab.studies.sweep_store import read_store

    store = Path(store)
    out = Path(out) if out is not None else store
    out.mkdir(parents=True, exist_ok=True)
    spec = json.loads((store / "spec.json").read_text()) if (store / "spec.json").is_file() else {}
    frame = read_store(store, latest=True)
    if (store / "keys.json").is_file():  # the last sweep's cells: rows of edited code or scenarios are stale
        frame = frame[frame["key"].isin(set(json.loads((store / "keys.json").read_text())))]
    study = spec.get("study", "audit")
    if study == "audit":
        audit_summary(store, out, frame, cards=cards)
        return [out / "summary.csv"]
    return _RENDERERS[study](frame, out, spec)
