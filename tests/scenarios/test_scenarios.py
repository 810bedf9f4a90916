"""Scenario files: every shipped one loads, is reproducible bit for bit, and bad files are
rejected with one line naming the file, the field and what was expected."""

from __future__ import annotations

import textwrap

import pytest
import torch

from samplerlab.operators import Mask
from samplerlab.scenarios import ScenarioError, list_scenarios, load_scenario, read_header

SHIPPED = list_scenarios()
SMALL = [s for s in SHIPPED if not s.startswith("grid_d800") and s != "digits_inpainting"
         and not s.endswith("_gpu")]  # GPU-size scenarios load in test_image_suite / test_medical

VALID = """
description = "test scenario"
seed = 3
n = 100
sigma_y = 0.5

[schedule]
name = "vp_cosine"
steps = 20

[prior]
kind = "mixture"
weights = [0.5, 0.5]
means = [[-2.0, 0.0], [2.0, 0.0]]
covariances = [1.0, 1.0]

[operator]
kind = "identity"

[observation]
kind = "simulated"
"""


def write(tmp_path, text: str, name: str = "case.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


def test_at_least_twelve_scenarios_ship_including_the_grid_family():
    grid = {f"grid_d{d}_m{m}" for d in (8, 80, 800) for m in (1, 2, 4)}
    assert len(SHIPPED) >= 12
    assert grid <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_explains_its_purpose_in_a_comment(name):
    text = (load_scenario.__globals__["SCENARIO_DIR"] / f"{name}.toml").read_text()
    assert text.startswith("# ")
    assert read_header(name)["description"]


@pytest.mark.parametrize("name", SMALL)
def test_shipped_scenario_loads_to_a_consistent_problem(name):
    sc = load_scenario(name)
    p = sc.problem
    assert sc.name == name and sc.n >= 20 and sc.steps >= 1
    assert p.operator.in_dim == p.dim and p.y.shape == (p.operator.out_dim,)
    assert torch.isfinite(p.posterior().weights).all()


@pytest.mark.parametrize("name", ["grid_d8_m2", "random_2d_low_noise", "outlier_2d"])
def test_same_file_and_seed_give_the_same_problem_bit_for_bit(name):
    a, b = load_scenario(name), load_scenario(name)
    assert torch.equal(a.problem.y, b.problem.y)
    assert torch.equal(a.problem.prior.means, b.problem.prior.means)
    assert torch.equal(a.problem.prior.covariance_matrices(), b.problem.prior.covariance_matrices())
    assert torch.equal(a.problem.operator.matrix(), b.problem.operator.matrix())


def test_another_seed_gives_another_problem():
    a, b = load_scenario("grid_d8_m2"), load_scenario("grid_d8_m2", seed=1)
    assert not torch.equal(a.problem.y, b.problem.y)


def test_grid_prior_matches_the_benchmark_layout():
    prior = load_scenario("grid_d8_m1").problem.prior
    assert prior.n_components == 25
    assert set(prior.means[:, 0].tolist()) == {-16.0, -8.0, 0.0, 8.0, 16.0}
    assert torch.equal(prior.means[:, :2], prior.means[:, 6:8])
    assert torch.allclose(prior.covariance_matrices()[0], torch.eye(8, dtype=torch.float64))


def test_random_operator_has_sorted_singular_values_in_the_unit_interval():
    s = torch.linalg.svdvals(load_scenario("grid_d80_m4").problem.operator.matrix())
    assert s.shape == (4,) and bool((s > 0).all() and (s < 1).all())
    assert torch.equal(s, s.sort(descending=True).values)


def test_between_observation_sits_on_the_segment_between_modes():
    p = load_scenario("bimodal_1d").problem  # fraction 0.6 between -2 and 2, no noise
    assert p.y.item() == pytest.approx(0.4)


def test_outlier_observation_is_offset_from_the_mode_projection():
    p = load_scenario("outlier_2d").problem
    assert p.y.item() == pytest.approx(3.0 + 6.0)


def test_digits_inpainting_is_a_mask_on_a_finite_sample_prior():
    pytest.importorskip("sklearn")
    sc = load_scenario("digits_inpainting")
    assert isinstance(sc.problem.operator, Mask) and sc.problem.operator.shape == (28, 64)
    assert sc.problem.prior.n_components == 500


def test_scenario_schedule_and_budget_come_from_the_file(tmp_path):
    sc = load_scenario(write(tmp_path, VALID))
    assert (sc.schedule_name, sc.steps, sc.n, sc.seed) == ("vp_cosine", 20, 100, 3)
    assert type(sc.schedule).__name__ == "VPCosine"


def test_a_path_loads_and_keeps_the_file_stem_as_name(tmp_path):
    assert load_scenario(str(write(tmp_path, VALID, "my_case.toml"))).name == "my_case"


def test_full_covariances_are_accepted_when_spd(tmp_path):
    text = replace("covariances = [1.0, 1.0]", "covariances = [[[1.0, 0.5], [0.5, 1.0]], [[2.0, 0.0], [0.0, 1.0]]]")
    assert load_scenario(write(tmp_path, text)).problem.prior.cov_factors.kind == "full"


BAD = {
    "unknown top-level key": (replace("seed = 3", "seed = 3\nsede = 4"), ["sede", "unknown key"]),
    "unknown prior key": (replace('kind = "mixture"', 'kind = "mixture"\ncolour = 1'), ["prior.colour", "unknown"]),
    "wrong type": (replace("n = 100", 'n = "many"'), ["n:", "positive integer", "'many'"]),
    "negative sigma": (replace("sigma_y = 0.5", "sigma_y = -1.0"), ["sigma_y", "positive"]),
    "unknown prior kind": (replace('kind = "mixture"', 'kind = "gmm"'), ["prior.kind", "one of", "'gmm'"]),
    "unknown schedule": (replace('name = "vp_cosine"', 'name = "cosine"'), ["schedule.name", "vp_cosine"]),
    "non-SPD covariance": (replace("covariances = [1.0, 1.0]",
                                   "covariances = [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]"),
                           ["prior.covariances[0]", "positive definite"]),
    "ragged means": (replace("means = [[-2.0, 0.0], [2.0, 0.0]]", "means = [[-2.0, 0.0], [2.0]]"),
                     ["prior.means", "equal length"]),
    "weights vs means": (replace("weights = [0.5, 0.5]", "weights = [0.2, 0.3, 0.5]"),
                         ["prior.weights", "2 weights"]),
    "covariance dimension": (replace("covariances = [1.0, 1.0]", "covariances = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]"),
                             ["prior.covariances", "(2, 2)"]),
    "operator dimension": (replace('kind = "identity"', 'kind = "matrix"\nrows = [[1.0, 0.0, 0.0]]'),
                           ["operator.rows", "length 2"]),
    "observation dimension": (replace('kind = "simulated"', 'kind = "explicit"\ny = [1.0]'),
                              ["observation.y", "2 values"]),
    "missing table": (VALID.split("[operator]")[0], ["operator", "[operator] table"]),
    "missing field": (replace("sigma_y = 0.5\n", ""), ["sigma_y", "missing"]),
    "odd grid dimension": (replace('kind = "mixture"\nweights = [0.5, 0.5]\nmeans = [[-2.0, 0.0], [2.0, 0.0]]\n'
                                   'covariances = [1.0, 1.0]', 'kind = "grid25"\ndim = 3'),
                           ["prior.dim", "even"]),
    "mode index": (replace('kind = "simulated"', 'kind = "outlier"\nmode = 7\noffset = 1.0'),
                   ["observation.mode", "[0, 1]"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_is_rejected_with_one_line_naming_file_and_field(tmp_path, case):
    text, fragments = BAD[case]
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message and "case.toml" in message
    for fragment in fragments:
        assert fragment in message


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ScenarioError, match=r"case\.toml: TOML syntax error: .*line 5"):
        load_scenario(write(tmp_path, VALID.replace("sigma_y = 0.5", "sigma_y = = 0.5")))


def test_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="unknown scenario.*bimodal_1d"):
        load_scenario("no_such_scenario")


def test_missing_path_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.toml")


def test_unknown_key_is_named_before_a_missing_one(tmp_path):
    # `A = ...` where the matrix operator needs `rows`: the misspelt key is the one to fix
    path = tmp_path / "case.toml"
    path.write_text('description = "x"\nsigma_y = 0.1\n[prior]\nkind = "mixture"\nmeans = [[0.0, 0.0]]\n'
                    'weights = [1.0]\ncovariances = [1.0]\n[operator]\nkind = "matrix"\nA = [[1.0, 0.0]]\n')
    with pytest.raises(ScenarioError, match=r"case.toml: operator.A: unknown key in \[operator\], "
                                            r"expected one of \['kind', 'rows'\]"):
        load_scenario(path)


INPUT_ERRORS = {
    "weights not summing to 1": (replace("weights = [0.5, 0.5]", "weights = [0.6, 0.6]"),
                                 ["prior.weights: expected weights summing to 1", "normalize = true",
                                  "summing to 1.2"]),
    "n below an audit's minimum": (replace("n = 100", "n = 5"), ["n: expected an integer >= 20", "got 5"]),
    "sigma_y whose square overflows": (replace("sigma_y = 0.5", "sigma_y = 1e300"),
                                       ["sigma_y: expected a noise level whose square", "got 1e+300"]),
    "sigma_y whose square underflows": (replace("sigma_y = 0.5", "sigma_y = 1e-200"),
                                        ["sigma_y: expected a noise level whose square", "got 1e-200"]),
}


@pytest.mark.parametrize("case", sorted(INPUT_ERRORS))
def test_input_errors_exit_2_with_one_line_naming_file_and_field(tmp_path, case, capsys):
    from samplerlab.cli import main

    text, fragments = INPUT_ERRORS[case]
    path = write(tmp_path, text)
    assert main(["score", "dps", "--scenario", str(path), "--steps", "10", "--checks", "spread", "--no-floor"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: " in err and captured.out == ""
    for fragment in fragments:
        assert fragment in err


def test_a_binary_file_gets_one_line_naming_it(tmp_path, capsys):
    from samplerlab.cli import main

    path = tmp_path / "binary.toml"
    path.write_bytes(b'description = "\xff\xfe"\n\x00\x01')
    assert main(["score", "dps", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: expected a UTF-8 text (TOML) file, got byte 0xff" in err


def test_normalize_true_rescales_weights_that_do_not_sum_to_1(tmp_path):
    text = replace("weights = [0.5, 0.5]", "weights = [3.0, 1.0]\nnormalize = true")
    sc = load_scenario(write(tmp_path, text))
    assert sc.problem.prior.weights.tolist() == [0.75, 0.25]
    assert "prior weights normalised to sum to 1 (the file's sum to 4)" in sc.notes
    rounded = load_scenario(write(tmp_path, replace("weights = [0.5, 0.5]", "weights = [0.3, 0.7000001]"), "r.toml"))
    assert rounded.problem.prior.n_components == 2, "a sum within 1e-6 of 1 needs no normalize"

