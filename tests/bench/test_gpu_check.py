"""The prepared GPU check: steps run in order, each killed at its limit, the record always written."""

from __future__ import annotations

import json

from samplerlab.bench.gpu_check import STEPS, Step, run_check


def test_steps_record_exit_status_and_time_limits(tmp_path):
    steps = (Step("ok", 60, ("-c", "print('done')")),
             Step("slow", 1, ("-c", "import time; time.sleep(30)")),
             Step("writes", 60, ("-c", "open('{out}/made.txt', 'w').write('x')")))
    record = run_check(tmp_path, steps)
    by_name = {s["name"]: s for s in record["steps"]}
    assert by_name["ok"]["returncode"] == 0 and "done" in (tmp_path / "ok.log").read_text()
    assert by_name["slow"]["timed_out"] and by_name["slow"]["seconds"] < 20
    assert (tmp_path / "made.txt").read_text() == "x"  # a timed-out step does not stop the next
    assert json.loads((tmp_path / "check.json").read_text()) == record


def test_prepared_steps_fit_the_ten_minute_window():
    assert sum(s.limit_s for s in STEPS) <= 600


def test_profile_step_writes_a_kernel_table_per_case(tmp_path):
    from samplerlab.bench.gpu_profile import main as profile_main

    assert profile_main(["--out", str(tmp_path), "--device", "cpu", "--small"]) == 0
    text = (tmp_path / "profile.txt").read_text()
    assert all(f"== {name} on cpu (small)" in text for name in ("isotropic", "image", "full"))
    assert text.count("Self CPU") >= 3 and "aten::" in text
