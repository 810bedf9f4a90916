"""Posterior samples of image problems, side by side with exact posterior draws.

:func:`gallery` computes (runs samplers, draws from the exact posterior); :func:`plot_gallery`
only draws the picture. Rows: the hidden image ``x*``, the observation (unobserved pixels grey
for masks, ``Aᵀ y`` otherwise), exact posterior draws, then each sampler's samples.

Labelled priors (a digit's class, lesion / healthy) get label bars beside the grid: the exact
posterior probability of each label (the summed posterior weight of its components) against how
often each sampler's draws carry it. A draw's label is that of a component drawn from its exact
responsibilities — the ``label_weights`` check's rule and seeded stream (:func:`draw_labels`), so
the same draws and seed give the audit's labels. A gallery's half-dozen draws per row are too
few for frequencies: :func:`label_frequencies` takes larger sets of draws, and
:func:`report_label_frequencies` reads the frequencies an audit's ``label_weights`` check stored
(no sampler is run again). :func:`plot_maps` draws per-pixel probability maps (the medical
suite's ``P(lesion)``) with their differences to a reference map.

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

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from samplerlab.core.problem import InverseProblem
from samplerlab.diagnostics.truth import evaluate, generator
from samplerlab.operators import Mask

__all__ = ["gallery", "plot_gallery", "draw_labels", "exact_label_probabilities", "label_frequencies",
           "report_label_frequencies", "plot_maps", "EXACT"]

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


def _bars(ax, bars: dict[str, dict]) -> None:
    """Grouped bars: one group per label, the exact probability first (black), then each sampler."""
    names = list(bars)
    labels = list(dict.fromkeys(v for freq in bars.values() for v in freq))
    width = 0.8 / len(names)
    colours = ["black"] + [f"C{i % 10}" for i in range(len(names) - 1)]
    for j, name in enumerate(names):
        pos = np.arange(len(labels)) - 0.4 + (j + 0.5) * width
        ax.bar(pos, [bars[name].get(v, 0.0) for v in labels], width, color=colours[j],
               label=name.split("\n")[0], alpha=1.0 if j == 0 else 0.85)
    ax.set_xticks(range(len(labels)), [str(v) for v in labels], fontsize=8)
    top = max((v for freq in bars.values() for v in freq.values()), default=1.0)
    ax.set_ylim(0, min(1.0, 1.15 * top + 0.05))
    ax.set_ylabel("probability / frequency", fontsize=8)
    ax.set_title("labels: exact P(label | y) vs samplers", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="upper right", frameon=False)


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gallery(rows: dict[str, Tensor], shape: tuple[int, int], path, title: str = "",
                 labels: dict[str, dict] | None = None) -> Path:
    """Save a grid of images (one row per entry of ``rows``) to ``path`` (PNG).

    ``labels`` (from :func:`label_frequencies` or :func:`report_label_frequencies`) adds the label
    bars to the right of the grid; nothing is computed here.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    n = max(r.shape[0] for r in rows.values())
    extra = 0 if not labels else max(2.5, 0.3 * len({v for f in labels.values() for v in f}) + 1.0)
    fig = plt.figure(figsize=(1.3 * (n + extra) + 1.6, 1.3 * len(names) + 0.4))
    grid = fig.add_gridspec(len(names), n + (1 if labels else 0), width_ratios=[1] * n + ([extra] if labels else []))
    axes = np.array([[fig.add_subplot(grid[i, j]) for j in range(n)] for i in range(len(names))])
    if labels:
        _bars(fig.add_subplot(grid[:, n]), labels)
    cmap = plt.get_cmap("gray").with_extremes(bad="#c8a2c8")  # unobserved pixels in lilac
    for i, name in enumerate(names):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= rows[name].shape[0]:
                ax.axis("off")
            else:
                ax.imshow(rows[name][j].reshape(shape).float().numpy(), cmap=cmap, vmin=-1, vmax=1)
        axes[i, 0].axis("on")
        axes[i, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_maps(maps: dict[str, Tensor], shape: tuple[int, int], path, title: str = "", reference: str | None = None,
              quantity: str = "P(lesion | y)") -> Path:
    """Save per-pixel probability maps (``(d,)`` each, values in [0, 1]) to ``path`` (PNG).

    Top row: each map as a heat map on [0, 1]; bottom row: each map minus ``reference`` (the
    first map by default) on a symmetric scale, with its largest absolute difference.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not maps:
        raise ValueError("plot_maps: no maps to draw")
    reference = next(iter(maps)) if reference is None else reference
    if reference not in maps:
        raise ValueError(f"plot_maps: reference {reference!r} is not one of the maps {list(maps)}")
    names = list(maps)
    ref = maps[reference].detach().double().cpu().reshape(shape)
    diffs = {k: maps[k].detach().double().cpu().reshape(shape) - ref for k in names}
    top = max(0.05, max(float(d.abs().max()) for d in diffs.values()))
    fig, axes = plt.subplots(2, len(names), figsize=(1.9 * len(names) + 1.2, 4.4), squeeze=False,
                             layout="constrained")
    for j, name in enumerate(names):
        heat = axes[0, j].imshow(maps[name].detach().double().cpu().reshape(shape).numpy(), cmap="magma",
                                 vmin=0, vmax=1)
        axes[0, j].set_title(name, fontsize=8)
        if name == reference:
            axes[1, j].axis("off")
            axes[1, j].text(0.5, 0.5, f"below: each map\nminus {reference}", ha="center", va="center", fontsize=8,
                            transform=axes[1, j].transAxes)
        else:
            diff = axes[1, j].imshow(diffs[name].numpy(), cmap="RdBu_r", vmin=-top, vmax=top)
            axes[1, j].set_title(f"max |Δ| {float(diffs[name].abs().max()):.2f}", fontsize=8)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(heat, ax=axes[0].tolist(), fraction=0.02, pad=0.01, label=quantity)
    if len(names) > 1:
        fig.colorbar(diff, ax=axes[1].tolist(), fraction=0.02, pad=0.01, label=f"minus {reference}")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
