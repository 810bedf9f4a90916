"""The reduced CPU image suite: the same code `make gpu` runs, at CI size."""

from __future__ import annotations

import pytest
import torch

from samplerlab.scenarios import load_scenario
from samplerlab.studies.image_suite import CPU_SCENARIOS, GPU_SCENARIOS, main, run_image_suite

GPU_ONLY = {"patches64_inpainting_gpu", "patches64_superresolution_gpu"}  # 100,000 × 4096 means: 3.3 GB each


@pytest.mark.parametrize("name", GPU_SCENARIOS)
def test_image_scenarios_load(name):
    if name in GPU_ONLY and not torch.cuda.is_available():
        pytest.skip("100,000 components at d = 4096 are built on a GPU (make gpu)")
    scenario = load_scenario(name, device="cuda" if torch.cuda.is_available() else None)
    assert scenario.problem.dim >= 64 and scenario.problem.posterior().n_components >= 100


@pytest.mark.parametrize("name", sorted(GPU_ONLY))
def test_gpu_size_scenarios_declare_the_image_track_size(name):
    import tomllib

    from samplerlab.scenarios import scenario_path

    spec = tomllib.loads(scenario_path(name).read_text())
    assert spec["prior"]["patch_size"] == 64 and spec["prior"]["patches"] >= 100_000 and spec["n"] == 2000


def test_reduced_image_suite_audits_and_draws_the_gallery(tmp_path):
    frame = run_image_suite(tmp_path, "cpu", scenarios=["digits_inpainting"], samplers=("oracle", "dps"),
                            n=100, steps=40, gallery_n=3)
    assert list(frame["sampler"]) == ["oracle", "dps"] and not frame["error"].any()
    assert frame["passed"].notna().all()
    assert (tmp_path / "summary.csv").exists()
    assert len(list((tmp_path / "reports").glob("*.json"))) == 2
    assert (tmp_path / "figures" / "gallery_digits_inpainting.png").stat().st_size > 1000


def test_cpu_suite_is_a_subset_of_the_gpu_suite():
    assert set(CPU_SCENARIOS) < set(GPU_SCENARIOS)


def test_image_suite_command_prints_the_table(tmp_path, capsys):
    assert main(["--device", "cpu", "--out", str(tmp_path), "--scenarios", "patches_blur",
                 "--samplers", "ddrm", "--n", "60", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "image suite on cpu" in out and "patches_blur" in out and "ddrm" in out
