"""Labelled modes: labels ride along the mixture, and label_weights tests label frequencies exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samplerlab import GaussianMixture, InverseProblem, audit
from samplerlab.operators import Identity


def _labelled(labels=("a", "a", "b", "b", "c", "c")) -> InverseProblem:
    prior = GaussianMixture(torch.ones(6), [[-5.0], [-3.0], [-1.0], [1.0], [3.0], [5.0]], torch.full((6,), 0.3),
                            labels=labels)
    return InverseProblem(prior, Identity(1), 2.0, [0.5])


def test_labels_follow_the_mixture_through_conditioning_noising_and_moves():
    problem = _labelled()
    post = problem.posterior()
    assert post.labels == problem.prior.labels == ("a", "a", "b", "b", "c", "c")
    assert post.noised(0.5, 0.5).labels == post.to(dtype=torch.float32).labels == post.labels


def test_labels_are_validated():
    with pytest.raises(ValueError, match="labels: expected one per component"):
        GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0], labels=["x"])


def test_digits_carry_their_classes():
    from samplerlab.scenarios import load_scenario

    prior = load_scenario("digits_inpainting").problem.prior
    assert set(prior.labels) == set(range(10)) and len(prior.labels) == prior.n_components


def _exact(problem):
    post = problem.posterior()
    return lambda task, n, g: post.sample(n, generator=g)


def test_label_weights_pass_exact_draws_and_name_the_label_a_sampler_overdraws():
    problem = _labelled()
    ok = audit(_exact(problem), problem, n=1000, checks=["mode_weights"], steps=10)
    assert [c.check for c in ok.checks] == ["mode_weights", "label_weights"] and ok.passed
    post = problem.posterior()

    def favours_c(task, n, g):  # re-weights towards label "c" (components 4, 5)
        x, k = post.sample(3 * n, generator=g, return_labels=True)
        keep = torch.where(k >= 4, 1.0, 0.3)
        idx = torch.multinomial(keep, n, replacement=False, generator=g)
        return x[idx]

    bad = audit(favours_c, problem, n=1000, checks=["mode_weights"], steps=10)
    c = bad["label_weights"]
    assert not c.passed and "'c'" in c.detail and c.effect > 0.1


def test_unlabelled_problems_have_no_label_check():
    problem = _labelled(labels=None)
    report = audit(_exact(problem), problem, n=200, checks=["mode_weights"], steps=10)
    assert [c.check for c in report.checks] == ["mode_weights"]


def test_label_p_values_are_valid_under_exact_draws():
    # 300 seeded exact audits (n = 100): the label p-value must not fall below u more often than
    # u allows. At u = 0.05 the count is ≤ Binomial(300, 0.05) (mean 15); 30 is beyond its
    # 0.9999 quantile, so this fails with probability < 1e-4 for a valid p-value.
    problem = _labelled()
    p = []
    for seed in range(300):
        r = audit(_exact(problem), problem, n=100, seed=seed, checks=["mode_weights"], steps=5)
        p.append(r["label_weights"].p_value)
    p = np.array(p)
    assert (p <= 0.05).sum() <= 30 and (p <= 0.01).sum() <= 10, np.sort(p)[:12]
