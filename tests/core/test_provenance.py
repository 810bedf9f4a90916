"""Records say what was audited, and a sweep never reuses a cell whose code or scenario changed.

Each test reproduces one measured failure of the records: parameters missing from ``r.json``, a
sweep reusing every cell after the sampler file was edited, cards and reports of different
settings overwriting each other, ``compare`` unable to tell two settings apart.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from samplerlab.auditing.pipeline import run
from samplerlab.cli import main
from samplerlab.scenarios import scenario_path
from samplerlab.studies import sweep as sw
from samplerlab.studies.sweep_report import render

SAMPLER = '''from samplerlab import samplers


def make(zeta=1.0):
    """DPS with this guidance scale."""
    return samplers.get("dps", zeta=zeta)
'''

FAST = {"n": 60, "steps": 10, "checks": ["spread"]}


def _user_sampler(folder, text=SAMPLER):
    path = folder / "mine.py"
    path.write_text(text)
    return path


def test_score_json_records_the_parameters_with_their_defaults_and_the_hashes(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["score", "dps", "--scenario", "bimodal_1d", "--param", "zeta=0.5", "--n", "60", "--steps", "10",
                 "--checks", "spread", "--no-floor", "--json", str(out)])
    assert code in (0, 1)
    meta = json.loads(out.read_text())["meta"]
    assert meta["params"] == {"zeta": 0.5, "squared": False}  # the given one and DPS's other default
    prov = meta["provenance"]
    assert prov["params_given"] == {"zeta": 0.5} and prov["sampler_ref"] == "dps"
    assert prov["sampler_source"]["kind"] == "zoo" and len(prov["sampler_source"]["hash"]) == 20
    assert len(prov["scenario_hash"]) == 20 and len(prov["code_hash"]) == 20 and prov["dtype"] == "float64"
    assert isinstance(meta["threads"], int) and "--param" in prov["argv"]
    assert "audited: dps (zeta=0.5, squared=False)" in capsys.readouterr().out


def test_a_user_sampler_file_is_hashed_and_its_factory_defaults_recorded(tmp_path):
    path = _user_sampler(tmp_path)
    first = run(f"{path}:make", "bimodal_1d", **FAST)
    assert first.meta["params"] == {"zeta": 1.0}
    source = first.meta["provenance"]["sampler_source"]
    assert source["kind"] == "file" and source["path"] == str(path.resolve())
    path.write_text(SAMPLER.replace("zeta=1.0", "zeta=0.0"))
    second = run(f"{path}:make", "bimodal_1d", **FAST)
    assert second.meta["params"] == {"zeta": 0.0}
    assert second.meta["provenance"]["sampler_source"]["hash"] != source["hash"]


def _spec(sampler: str, scenario: str = "bimodal_1d", **over):
    return sw.parse_spec({"sweep": {"samplers": [sampler], "scenarios": [scenario], "seeds": [0, 1], **FAST,
                                    **over}}, "t.toml")


def test_an_edited_sampler_file_means_recomputed_cells_and_says_why(tmp_path, capsys):
    path = _user_sampler(tmp_path)
    store = tmp_path / "store"
    calls = []
    first = sw.sweep(_spec(f"{path}:make"), store, workers=1)
    assert "0 cells reused, 2 recomputed (2 new)" in capsys.readouterr().err
    again = sw.sweep(_spec(f"{path}:make"), store, workers=1)
    assert "2 cells reused, 0 recomputed" in capsys.readouterr().err
    pd.testing.assert_frame_equal(first, again)
    path.write_text(SAMPLER.replace("zeta=1.0", "zeta=0.0"))  # guidance off: a different sampler
    edited = sw.sweep(_spec(f"{path}:make"), store, workers=1)
    assert "0 cells reused, 2 recomputed (2 sampler source changed)" in capsys.readouterr().err
    assert set(edited["key"]).isdisjoint(first["key"]) and not calls
    effects = lambda f: f.set_index(["seed", "check"])["effect"].sort_index()  # noqa: E731
    assert not effects(edited).equals(effects(first))  # the zero-guidance sampler was really run
    # the report renders the current cells only, not the stale ones
    render(store, tmp_path / "out")
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["key"]) == sorted(set(edited["key"]))


def test_an_edited_scenario_file_means_recomputed_cells(tmp_path, capsys):
    scenario = tmp_path / "mine.toml"
    shutil.copyfile(scenario_path("bimodal_1d"), scenario)
    store = tmp_path / "store"
    sw.sweep(_spec("oracle", str(scenario)), store, workers=1)
    capsys.readouterr()
    scenario.write_text(scenario.read_text() + "\n# an edit\n")
    sw.sweep(_spec("oracle", str(scenario)), store, workers=1)
    assert "0 cells reused, 2 recomputed (2 scenario file changed)" in capsys.readouterr().err


def test_cards_reports_and_summary_rows_are_one_per_cell(tmp_path):
    spec = sw.parse_spec({"sweep": {"samplers": ["dps", "oracle"], "scenarios": ["bimodal_1d"], "seeds": [0, 1],
                                    **FAST}, "params": {"dps": {"zeta": [0.5, 1.0]}}}, "t.toml")
    store = tmp_path / "store"
    sw.sweep(spec, store, workers=1)
    render(store, tmp_path / "out", cards=True)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 6 and summary["card"].nunique() == 6 and summary["report"].nunique() == 6
    dps = summary[summary["sampler"] == "dps"]
    assert sorted(zip(dps["params"], dps["seed"])) == [("zeta=0.5", 0), ("zeta=0.5", 1), ("zeta=1.0", 0),
                                                       ("zeta=1.0", 1)]
    assert len(list((tmp_path / "out" / "cards").glob("*__card.html"))) == 6
    assert len(list((tmp_path / "out" / "reports").glob("*.json"))) == 6
    assert "bimodal_1d__dps__zeta=0.5__seed1__card.html" in set(summary["card"].str.rpartition("/")[2])


def test_compare_names_the_settings_that_differ(tmp_path, capsys):
    paths = []
    for zeta in (0.5, 1.0):
        paths.append(tmp_path / f"z{zeta}.json")
        run("dps", "bimodal_1d", params={"zeta": zeta}, **FAST).to_json(paths[-1])
    main(["compare", *map(str, paths)])
    head = capsys.readouterr().out.splitlines()[:2]
    assert "zeta=0.5" in head[0] and "zeta=1.0" in head[1]


@pytest.mark.parametrize("ref", ["dps", "fault:exact", "samplerlab.samplers.dps:DPS"])
def test_every_kind_of_reference_has_a_readable_source_hash(ref):
    report = run(ref, "bimodal_1d", **FAST)
    assert report.meta["provenance"]["sampler_source"]["hash"]
