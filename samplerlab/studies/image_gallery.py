"""Posterior samples of image problems, side by side with exact posterior draws.

:func:`gallery` computes (runs samplers, draws from the exact posterior);
:func:`samplerlab.render.gallery_plots.plot_gallery` only draws the picture. Rows: the hidden image
``x*``, the observation (unobserved pixels grey for masks, ``Aᵀ y`` otherwise), exact posterior
draws, then each sampler's samples.

Labelled priors (a digit's class, lesion / healthy) get label bars beside the grid: the exact
posterior probability of each label (the summed posterior weight of its components) against how
often each sampler's draws carry it. A draw's label is that of a component drawn from its exact
responsibilities — the ``label_weights`` check's rule and seeded stream (:func:`draw_labels`), so
the same draws and seed give the audit's labels. A gallery's half-dozen draws per row are too
few for frequencies: :func:`label_frequencies` takes larger sets of draws, and
:func:`report_label_frequencies` reads the frequencies an audit's ``label_weights`` check stored
(no sampler is run again). :func:`samplerlab.render.gallery_plots.plot_maps` draws per-pixel
probability maps (the medical suite's ``P(lesion)``) with their differences to a reference map.

Example:
    >>> import torch
    >>> from samplerlab import GaussianMixture, InverseProblem
    >>> from samplerlab.operators.images import box_inpainting
    >>> from samplerlab.operators import Identity
    >>> prior = GaussianMixture.from_samples(torch.rand(10, 16) * 2 - 1, 0.1)
    >>> problem = InverseProblem.simulate(prior, box_inpainting((4, 4), 1, 1, 2, 2), 0.05,
    ...                                   torch.Generator().manual_seed(0))
    >>> rows = gallery(problem, {"prior": lambda task, n, g: task.initial_noise(n, g)}, n=3, steps=5)
    >>> list(rows), rows["exact posterior"].shape
    (['truth', 'observation', 'exact posterior', 'prior'], torch.Size([3, 16]))
    >>> labelled = InverseProblem(GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.1, 0.1], labels=["a", "b"]),
    ...                           Identity(1), 0.5, [1.0])
    >>> bars = label_frequencies(labelled, {"exact draws": labelled.posterior().sample(400)})
    >>> bars["exact posterior"]["b"] > 0.99, bars["exact draws"]["b"] > 0.95
    (True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

from samplerlab.core.problem import InverseProblem
from samplerlab.diagnostics.truth import evaluate, generator
from samplerlab.operators import Mask

__all__ = ["gallery", "draw_labels", "exact_label_probabilities", "label_frequencies", "report_label_frequencies",
           "EXACT"]

EXACT = "exact posterior"
NOT_DRAWS = ("truth", "observation")  # gallery rows that are not posterior draws


def _order(labels) -> list:
    """Labels in the ``label_weights`` check's order: numbers first, then strings, each sorted."""
    return sorted(set(labels), key=lambda v: (isinstance(v, str), v))


def gallery(problem: InverseProblem, samplers: dict, n: int = 6, steps: int = 200, seed: int = 0,
            schedule=None) -> dict[str, Tensor]:
    """Rows of flattened images: truth, observation, exact posterior draws, each sampler's samples."""
    rows: dict[str, Tensor] = {}
    if problem.x_star is not None:
        rows["truth"] = problem.x_star[None].cpu()
    op = problem.operator
    if isinstance(op, Mask):
        seen = torch.full((problem.dim,), float("nan"), dtype=problem.y.dtype, device=problem.y.device)
        seen[op.indices] = problem.y
    else:
        seen = op.pinv(problem.y)
    rows["observation"] = seen[None].cpu()
    g = torch.Generator(problem.y.device).manual_seed(seed)
    rows["exact posterior"] = problem.posterior().sample(n, generator=g).cpu()
    task = problem.task(schedule=schedule, steps=steps)
    for name, sampler in samplers.items():
        g = torch.Generator(problem.y.device).manual_seed(seed)
        rows[name] = sampler(task, n, g).detach().cpu()
    return rows


def draw_labels(problem: InverseProblem, x: Tensor, seed: int = 0) -> Tensor:
    """``(n,)`` component indices drawn from the exact posterior responsibilities of each row of ``x``.

    The stream is the audit's (``Truth.get(problem, n, seed).evaluate(x).labels``: seed ``(seed,
    "labels")``), drawn without building the truth's reference sets.
    """
    post = problem.posterior()
    return evaluate(post, x.to(post.device), generator(seed, "labels", post.device)).labels


def exact_label_probabilities(problem: InverseProblem) -> dict:
    """``{label: P(label | y)}``: the posterior weights summed per component label (sums to 1)."""
    post = problem.posterior()
    if post.labels is None:
        raise ValueError("label bars: the prior's components carry no labels")
    w = post.weights.detach().double().cpu().tolist()
    out = dict.fromkeys(_order(post.labels), 0.0)
    for label, weight in zip(post.labels, w):
        out[label] += weight
    return out


def label_frequencies(problem: InverseProblem, draws: dict[str, Tensor], seed: int = 0) -> dict[str, dict]:
    """``{"exact posterior": P(label | y), name: {label: frequency}}`` for each set of draws.

    Each draw gets the label of a component drawn from its exact responsibilities
    (:func:`draw_labels`). Gallery rows may be passed as they are: ``truth`` and ``observation``
    are skipped, and the ``exact posterior`` entry is the exact probabilities, not its draws'.
    """
    exact = exact_label_probabilities(problem)
    labels = problem.posterior().labels
    out = {EXACT: exact}
    for name, x in draws.items():
        if name in NOT_DRAWS or name == EXACT:
            continue
        if x.dim() != 2 or x.shape[0] == 0:
            raise ValueError(f"label bars: {name!r} needs a non-empty (n, d) set of draws, got {tuple(x.shape)}")
        freq = dict.fromkeys(exact, 0.0)
        for k in draw_labels(problem, x, seed).tolist():
            freq[labels[k]] += 1.0 / len(x)
        out[name] = freq
    return out


def report_label_frequencies(reports: dict) -> dict[str, dict]:
    """The same bars read off audit reports (``{name: Report}``) whose ``label_weights`` check ran.

    The check stores every label's exact probability and the judged draws' frequencies (samples
    flagged as prior- or likelihood-mode hallucinations left out, the ruled-out components'
    weight spread over the rest); reports without the check are skipped, labels are strings.
    """
    out: dict[str, dict] = {}
    for name, report in reports.items():
        try:
            check = report["label_weights"]
        except KeyError:
            continue
        if not check.applicable or "labels" not in check.data:
            continue
        labels = check.data["labels"]
        out.setdefault(EXACT, dict(zip(labels, check.data["exact"])))
        out[name] = dict(zip(labels, check.data["sampled"]))
    return out
