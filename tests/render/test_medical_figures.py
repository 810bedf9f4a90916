"""Labelled galleries and lesion maps: label bars hold the exact posterior label probabilities and the
check's label draws, each lesion component's mask is its patch's disc (whatever subset or order the
prior took), the exact lesion map is Σ_k w_k mask_k, and the figures are written."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from samplerlab import GaussianMixture, InverseProblem, audit  # noqa: E402
from samplerlab.diagnostics.truth import Truth  # noqa: E402
from samplerlab.operators import Identity  # noqa: E402
from samplerlab.render.gallery_plots import plot_gallery, plot_maps  # noqa: E402
from samplerlab.scenarios import load_scenario  # noqa: E402
from samplerlab.scenarios.images import finite_sample_prior  # noqa: E402
from samplerlab.scenarios.medical import LESION, lesion_map, lesion_masks, medical_patches, prior_lesion_masks  # noqa: E402
from samplerlab.studies.image_gallery import (  # noqa: E402
    EXACT,
    draw_labels,
    exact_label_probabilities,
    gallery,
    label_frequencies,
    report_label_frequencies,
)
from samplerlab.studies.medical_suite import EXACT_MAP, lesion_maps, run_medical_suite, scenario_lesion_masks  # noqa: E402

SMALL = """
description = "8×8 medical patches, 30 of 40 as components, 2× MRI"
seed = 3
n = 50
sigma_y = 0.3

[schedule]
steps = 10

[prior]
kind = "images"
dataset = "medical"
patch_size = 8
patches = 40
components = 30
lesion_contrast = 0.3
bandwidth = 0.1

[operator]
kind = "mri"
shape = [8, 8]
acceleration = 2

[observation]
kind = "simulated"
"""


def _labelled() -> InverseProblem:
    prior = GaussianMixture([0.2, 0.3, 0.5], [[-3.0], [0.0], [3.0]], [0.5, 0.5, 0.5], labels=["a", "b", "a"])
    return InverseProblem(prior, Identity(1), 1.5, [0.5])


@pytest.fixture()
def small(tmp_path):
    path = tmp_path / "small_mri.toml"
    path.write_text(textwrap.dedent(SMALL))
    return path


# -- label bars -----------------------------------------------------------------------------------
def test_exact_label_probabilities_sum_posterior_weights_per_label():
    problem = _labelled()
    w = problem.posterior().weights
    exact = exact_label_probabilities(problem)
    assert list(exact) == ["a", "b"] and sum(exact.values()) == pytest.approx(1.0, abs=1e-12)
    assert exact["a"] == pytest.approx(float(w[0] + w[2]), abs=1e-12)
    assert exact["b"] == pytest.approx(float(w[1]), abs=1e-12)
    with pytest.raises(ValueError, match="carry no labels"):
        exact_label_probabilities(InverseProblem(GaussianMixture([1.0], [[0.0]], [1.0]), Identity(1), 1.0, [0.0]))


def test_label_frequencies_draw_the_checks_labels():
    problem = _labelled()
    x = problem.posterior().sample(2000, generator=torch.Generator().manual_seed(1))
    rows = {"truth": x[:1], "observation": x[:1], EXACT: x[:6], "exact draws": x}
    bars = label_frequencies(problem, rows, seed=4)
    assert list(bars) == [EXACT, "exact draws"]  # truth / observation skipped, exact replaced
    assert bars[EXACT] == exact_label_probabilities(problem)
    assert sum(bars["exact draws"].values()) == pytest.approx(1.0)
    assert bars["exact draws"]["b"] == pytest.approx(bars[EXACT]["b"], abs=0.04)  # 2000 exact draws: ±4 sd
    truth_labels = Truth.get(problem, n=len(x), seed=4).evaluate(x).labels
    assert torch.equal(draw_labels(problem, x, seed=4), truth_labels)  # the audit's label stream
    with pytest.raises(ValueError, match="non-empty"):
        label_frequencies(problem, {"none": x[:0]})


def test_report_label_frequencies_read_the_label_weights_check():
    problem = _labelled()
    report = audit(lambda task, n, g: problem.posterior().sample(n, generator=g), problem, n=200, steps=5,
                   checks=["mode_weights"])
    bars = report_label_frequencies({"exact": report, "no check": audit(
        lambda task, n, g: problem.posterior().sample(n, generator=g), problem, n=50, steps=5, checks=["spread"])})
    assert list(bars) == [EXACT, "exact"] and set(bars["exact"]) == {"a", "b"}
    exact = exact_label_probabilities(problem)
    assert bars[EXACT]["b"] == pytest.approx(exact["b"], abs=2e-3)  # ruled-out mass (≤ 0.1 %) spread out
    assert sum(bars["exact"].values()) == pytest.approx(1.0)


# -- lesion masks and maps ------------------------------------------------------------------------
@pytest.mark.parametrize("size,fraction,radius", [(16, 0.5, None), (9, 0.3, 1.5), (24, 1.0, 2.0)])
def test_lesion_masks_are_where_lesion_patches_differ_from_healthy_ones(size, fraction, radius):
    sick = medical_patches(size, 50, seed=2, fraction=fraction, contrast=0.4, radius=radius)
    well = medical_patches(size, 50, seed=2, fraction=0.0, contrast=0.4, radius=radius)
    masks = lesion_masks(size, 50, seed=2, fraction=fraction, radius=radius)
    assert masks.dtype == torch.bool and masks.shape == (50, size * size)
    assert torch.equal(sick.images != well.images, masks)
    assert masks.any(1).tolist() == [v == LESION for v in sick.labels]
    with pytest.raises(ValueError, match="radius must be in"):
        lesion_masks(8, 10, radius=4.0)


def test_prior_lesion_masks_follow_a_subset_and_its_order():
    data = medical_patches(8, 40, seed=5, fraction=0.5, contrast=0.3)
    masks = lesion_masks(8, 40, seed=5, fraction=0.5)
    pick = torch.randperm(40, generator=torch.Generator().manual_seed(9))[:25]
    for dtype in (torch.float64, torch.float32):
        prior = finite_sample_prior(data, 0.1, n=25, generator=torch.Generator().manual_seed(9), dtype=dtype)
        got = prior_lesion_masks(prior, size=8, n=40, seed=5, fraction=0.5, contrast=0.3)
        assert torch.equal(got, masks[pick])
        assert got.any(1).tolist() == [v == LESION for v in prior.labels]
    other = finite_sample_prior(medical_patches(8, 40, seed=6), 0.1)
    with pytest.raises(ValueError, match="is none of the 40 medical patches"):
        prior_lesion_masks(other, size=8, n=40, seed=5, fraction=0.5, contrast=0.3)


def test_exact_lesion_map_is_the_weighted_sum_of_component_masks(small):
    scenario = load_scenario(small)
    problem = scenario.problem
    masks = scenario_lesion_masks(scenario)
    assert masks.shape == (30, 64) and masks.any(1).tolist() == [v == LESION for v in problem.prior.labels]
    post = problem.posterior()
    x = post.sample(400, generator=torch.Generator().manual_seed(0))
    maps = lesion_maps(problem, masks, {"exact draws": x}, seed=0)
    by_hand = sum(float(w) * m.double() for w, m in zip(post.weights, masks))
    assert torch.allclose(maps[EXACT_MAP], by_hand, atol=1e-12)
    assert torch.allclose(maps[EXACT_MAP], lesion_map(post.weights, masks), atol=0)
    labels = draw_labels(problem, x, seed=0)
    assert torch.allclose(maps["exact draws"], masks[labels].double().mean(0))
    assert float((maps["exact draws"] - maps[EXACT_MAP]).abs().max()) < 0.1  # 400 exact draws
    assert float(maps[EXACT_MAP].max()) <= 1.0 and bool(maps[EXACT_MAP].max() > 0)
    assert scenario_lesion_masks(load_scenario("bimodal_1d")) is None
    with pytest.raises(ValueError, match="masks"):
        lesion_maps(problem, masks[:5], {})


# -- figures --------------------------------------------------------------------------------------
def test_digits_gallery_with_label_bars_is_written(tmp_path):
    problem = load_scenario("digits_inpainting").problem
    noise = {"prior noise": lambda task, n, g: task.initial_noise(n, g)}
    rows = gallery(problem, noise, n=3, steps=5)
    draws = {"exact draws": problem.posterior().sample(300, generator=torch.Generator().manual_seed(0))}
    bars = label_frequencies(problem, draws)
    assert set(bars[EXACT]) == set(range(10)) and sum(bars[EXACT].values()) == pytest.approx(1.0)
    path = plot_gallery(rows, (8, 8), tmp_path / "digits.png", title="digits", labels=bars)
    assert path.stat().st_size > 1000


def test_medical_suite_writes_label_bars_and_lesion_maps(tmp_path, small):
    frame = run_medical_suite(tmp_path, "cpu", scenarios=[str(small)], samplers=["oracle"], n=40, steps=10,
                              gallery_n=2, checks=["mode_weights"], floor=False)
    assert not frame["error"].any()
    for name in ("gallery_small_mri.png", "lesion_maps_small_mri.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    lesions = pd.read_csv(tmp_path / "lesions.csv")
    assert list(lesions.columns[:5]) == ["scenario", "sampler", "exact", "sampled", "p_value"]
    assert 0 <= float(lesions["map_max_abs"].iloc[0]) <= 1
    assert float(lesions["map_mean_abs"].iloc[0]) <= float(lesions["map_max_abs"].iloc[0])


def test_plot_maps_writes_heat_maps_and_checks_its_reference(tmp_path):
    maps = {EXACT_MAP: torch.linspace(0, 1, 64), "sampler": torch.linspace(0, 1, 64).flip(0)}
    assert plot_maps(maps, (8, 8), tmp_path / "maps.png", reference=EXACT_MAP).stat().st_size > 1000
    with pytest.raises(ValueError, match="reference 'nope'"):
        plot_maps(maps, (8, 8), tmp_path / "x.png", reference="nope")
