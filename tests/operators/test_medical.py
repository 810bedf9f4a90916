"""Medical data and operators: lesion labels follow their rule, the MRI operator has orthonormal
rows and a closed-form SVD, the CT operator is skimage's radon, and the medical scenarios load
with an informative lesion question (or are rejected with one line naming the field)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("skimage")

from samplerlab.operators.medical import ParallelBeamProjection, UndersampledFourier, cartesian_lines, projection_matrix  # noqa: E402
from samplerlab.scenarios import ScenarioError, list_scenarios, load_scenario  # noqa: E402
from samplerlab.scenarios.medical import HEADROOM, LESION, lesion_plan, lesion_profile, medical_patches  # noqa: E402

MRI_CASES = {"16x16 4x random": ((16, 16), 4, 0.2, "random"), "15x12 3x random": ((15, 12), 3, 0.1, "random"),
             "24x24 8x equispaced": ((24, 24), 8, 0.1, "equispaced"), "8x8 full": ((8, 8), 1, 0.0, "random")}
CT_CASES = {"16x16 8 views": ((16, 16), 8), "15x12 5 views": ((15, 12), 5), "8x8 1 view": ((8, 8), 1)}
MEDICAL = sorted(s for s in list_scenarios() if s.startswith(("mri_", "ct_")))
CPU_MEDICAL = [s for s in MEDICAL if not s.endswith("_gpu")]


def _mri(case: str) -> UndersampledFourier:
    shape, r, centre, pattern = MRI_CASES[case]
    return UndersampledFourier(shape, r, centre, pattern, generator=torch.Generator().manual_seed(3))


# -- MRI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(MRI_CASES))
def test_mri_rows_are_orthonormal_and_the_closed_form_svd_is_exact(case):
    op = _mri(case)
    A = op.matrix()
    assert op.adjointness_test() < 1e-13
    assert (A @ A.T - torch.eye(op.out_dim, dtype=A.dtype)).abs().max() < 1e-12
    U, S, V = op.svd()
    assert torch.equal(S, torch.ones(op.out_dim, dtype=A.dtype))
    assert (U @ torch.diag(S) @ V.T - A).abs().max() < 1e-12
    assert int(torch.linalg.matrix_rank(A)) == op.out_dim == len(op.lines) * op.image_shape[1]


@pytest.mark.parametrize("case", sorted(MRI_CASES))
def test_mri_keeps_a_conjugation_closed_set_and_its_energy(case):
    op = _mri(case)
    h, w = op.image_shape
    assert {(-k) % h for k in op.lines} == set(op.lines) and 0 in op.lines
    x = torch.randn(3, h * w, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = torch.fft.fft2(x.reshape(3, h, w), norm="ortho")
    kept = spectrum[:, list(op.lines), :].abs().pow(2).sum((-1, -2))  # every kept frequency, k and −k
    assert torch.allclose(op(x).pow(2).sum(-1), kept, rtol=1e-12)  # Parseval on the kept lines
    assert torch.allclose(op.pinv(op(x)), op.adjoint(op(x)), atol=1e-12)


def test_mri_line_budget_centre_band_and_seeding():
    lines = cartesian_lines(64, 4, 0.08, "random", torch.Generator().manual_seed(0))
    assert len(lines) == 16 and {62, 63, 0, 1, 2} <= set(lines)
    assert lines == cartesian_lines(64, 4, 0.08, "random", torch.Generator().manual_seed(0))
    assert lines != cartesian_lines(64, 4, 0.08, "random", torch.Generator().manual_seed(1))
    assert cartesian_lines(16, 4, 0.0, "equispaced") == (0, 4, 8, 12)
    assert cartesian_lines(8, 1) == tuple(range(8))


def test_mri_rejects_asymmetric_lines_and_bad_acceleration():
    with pytest.raises(ValueError, match="symmetric under k -> -k"):
        UndersampledFourier((8, 8), lines=[0, 1])
    with pytest.raises(ValueError, match="acceleration: expected a positive integer, got 0"):
        UndersampledFourier((8, 8), acceleration=0)


def test_mri_moves_dtype_and_keeps_its_lines():
    op = _mri("16x16 4x random").to(dtype=torch.float32)
    assert op.lines == _mri("16x16 4x random").lines and op.svd().V.dtype == torch.float32
    assert op.adjointness_test() < 1e-5


# -- CT -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CT_CASES))
def test_ct_matrix_is_skimage_radon_without_the_rays_that_miss(case):
    from skimage.transform import radon

    shape, views = CT_CASES[case]
    op = ParallelBeamProjection(shape, views)
    x = np.random.default_rng(0).normal(size=shape)
    sinogram = radon(x, theta=np.array(op.angles), circle=False).T.ravel()
    got = op(torch.from_numpy(x.ravel())).numpy()
    assert np.abs(got - sinogram[op.rays.numpy()]).max() < 1e-12 * np.abs(sinogram).max()
    assert np.all(np.delete(sinogram, op.rays.numpy()) == 0)  # the dropped bins read nothing
    assert bool((op.A.abs().sum(1) > 0).all()) and op.adjointness_test() < 1e-13
    U, S, V = op.svd()
    assert (U @ torch.diag(S) @ V.T - op.A).abs().max() < 1e-10 * S[0]


def test_ct_angles_are_equally_spaced_and_the_matrix_is_cached():
    op = ParallelBeamProjection((8, 8), 6)
    assert op.angles == (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)
    assert projection_matrix((8, 8), op.angles) is projection_matrix((8, 8), op.angles)
    assert torch.equal(op.to(dtype=torch.float32).A, op.A.float())
    with pytest.raises(ValueError, match="angles: expected a positive number of views, got 0"):
        ParallelBeamProjection((8, 8), 0)


# -- data -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,fraction", [(16, 0.5), (9, 0.3), (24, 1.0)])
def test_lesions_are_exactly_the_labelled_discs(size, fraction):
    n, contrast = 60, 0.45
    sick = medical_patches(size, n, seed=4, fraction=fraction, contrast=contrast)
    well = medical_patches(size, n, seed=4, fraction=0.0, contrast=contrast)
    assert sick.labels.count(LESION) == round(fraction * n) and set(well.labels) == {"healthy"}
    diff = (sick.images - well.images).reshape(n, size, size).numpy()
    lesion = np.array([v == LESION for v in sick.labels])
    assert np.all(diff[~lesion] == 0) and np.all(diff[lesion].max((1, 2)) > 0)
    r = max(1.0, size / 8)
    centres, chosen = lesion_plan(size, n, 4, fraction, r)
    assert np.array_equal(np.nonzero(lesion)[0], chosen)
    for i in chosen:  # exactly the documented disc, contrast · clip(r + 1/2 − |p − p₀|, 0, 1)
        assert np.abs(diff[i] - contrast * lesion_profile(size, tuple(centres[i]), r)).max() < 1e-12
        assert diff[i].max() == pytest.approx(contrast)  # a full-contrast core
        assert np.all(diff[i][[0, -1], :] == 0) and np.all(diff[i][:, [0, -1]] == 0)  # off the border
    assert well.images.max() <= 1 - HEADROOM and sick.images.min() >= -1 and sick.images.max() <= 1


def test_medical_data_is_reproducible_by_seed():
    a, b, c = (medical_patches(12, 30, seed=s) for s in (7, 7, 8))
    assert torch.equal(a.images, b.images) and a.labels == b.labels
    assert not torch.equal(a.images, c.images)
    with pytest.raises(ValueError, match="contrast must be in"):
        medical_patches(12, 30, contrast=0.9)


# -- scenarios ------------------------------------------------------------------------------------
def test_medical_scenarios_ship_for_both_modalities_and_sizes():
    assert {"mri_4x", "mri_8x", "ct_sparse", "mri_4x_gpu", "ct_sparse_gpu"} <= set(MEDICAL)


@pytest.mark.parametrize("name", MEDICAL)
def test_medical_scenario_loads_with_labelled_components(name):
    sc = load_scenario(name)
    p = sc.problem
    kind = UndersampledFourier if name.startswith("mri_") else ParallelBeamProjection
    assert isinstance(p.operator, kind) and p.operator.in_dim == p.dim
    assert set(p.prior.labels) == {"lesion", "healthy"} and len(p.prior.labels) == p.prior.n_components
    assert (p.dim <= 1024) != name.endswith("_gpu")


@pytest.mark.parametrize("name", CPU_MEDICAL)
def test_cpu_medical_scenario_leaves_the_lesion_uncertain(name):
    post = load_scenario(name).problem.posterior()
    p_lesion = float(post.weights[torch.tensor([v == LESION for v in post.labels])].sum())
    assert 0.05 < p_lesion < 0.95


TEMPLATE = """
description = "bad medical case"
seed = 0
n = 50
sigma_y = 0.1

[prior]
kind = "images"
dataset = "medical"
patch_size = 8
patches = 40
bandwidth = 0.1

[operator]
kind = "mri"
shape = [8, 8]
acceleration = 2
"""

BAD = {
    "acceleration zero": (("acceleration = 2", "acceleration = 0"), ["operator.acceleration", "positive integer"]),
    "acceleration above lines": (("acceleration = 2", "acceleration = 9"), ["operator.acceleration", "H = 8"]),
    "shape vs prior": (("shape = [8, 8]", "shape = [4, 8]"), ["operator.shape", "= 64"]),
    "flat shape": (("shape = [8, 8]", "shape = [64]"), ["operator.shape", "[H, W]"]),
    "centre above one": (("acceleration = 2", "acceleration = 2\ncentre = 1.5"), ["operator.centre", "[0, 1]"]),
    "unknown pattern": (("acceleration = 2", 'acceleration = 2\npattern = "spiral"'),
                        ["operator.pattern", "'spiral'"]),
    "ct angles zero": (('kind = "mri"\nshape = [8, 8]\nacceleration = 2', 'kind = "ct"\nshape = [8, 8]\nangles = 0'),
                       ["operator.angles", "positive integer"]),
    "ct angles missing": (('kind = "mri"\nshape = [8, 8]\nacceleration = 2', 'kind = "ct"\nshape = [8, 8]'),
                          ["operator.angles", "missing"]),
    "lesion contrast": (("patches = 40", "patches = 40\nlesion_contrast = 0.9"), ["prior.lesion_contrast", "0.6"]),
    "lesion fraction": (("patches = 40", "patches = 40\nlesion_fraction = 2"), ["prior.lesion_fraction", "[0, 1]"]),
    "lesion radius": (("patches = 40", "patches = 40\nlesion_radius = 3.0"), ["prior.lesion_radius", "2.5"]),
    "patch size": (("patch_size = 8", "patch_size = 4"), ["prior.patch_size", "between 8 and 64"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_medical_field_is_one_line_naming_it(tmp_path, case):
    (old, new), fragments = BAD[case]
    assert old in TEMPLATE
    path = tmp_path / "case.toml"
    path.write_text(textwrap.dedent(TEMPLATE.replace(old, new)))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and "case.toml" in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_template_itself_loads(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text(TEMPLATE)
    assert load_scenario(path).problem.operator.shape == (32, 64)


def test_medical_suite_renders_the_lesion_table_from_its_reports(tmp_path):
    from samplerlab.studies.medical_suite import run_medical_suite

    frame = run_medical_suite(tmp_path, "cpu", scenarios=["mri_4x"], samplers=["oracle"], n=40, steps=10,
                              gallery_n=2, checks=["mode_weights"], floor=False)
    assert list(frame["sampler"]) == ["oracle"] and not frame["error"].any()
    table = (tmp_path / "MEDICAL.md").read_text()
    assert "| mri_4x | 0.440 | " in table and (tmp_path / "figures" / "gallery_mri_4x.png").exists()
    assert (tmp_path / "lesions.csv").read_text().startswith("scenario,sampler,exact,sampled,p_value")
