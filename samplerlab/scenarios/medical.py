"""Medical image patches with a lesion label, from images bundled with scikit-image (no downloads).

The data set ``medical`` is ``n`` grey ``s × s`` patches, each labelled ``"lesion"`` or
``"healthy"`` by a rule that is exact by construction:

1. *Sources.* Four images that ship inside scikit-image's ``skimage/data`` folder: the
   Shepp–Logan ``phantom.png``, the fundus photograph ``retina.jpg`` (its green channel, the one
   ophthalmologists read), ``microaneurysms.png`` (a retinal close-up) and the microscopy image
   ``cell.png``. Each is scaled to ``[0, 1]`` by its own minimum and maximum.
2. *Patches.* Patch ``i`` comes from a seeded source at a seeded place. A candidate is kept when
   at least half its pixels exceed 0.05 (it lies on the imaged object, not on the black
   background of the phantom or the fundus); otherwise it is redrawn (at most 100 times, then the
   last candidate is kept).
   Healthy grey values ``g ∈ [0, 1]`` are mapped to ``x = −1 + (2 − c_max) g ∈ [−1, 1 − c_max]``
   with ``c_max = 0.6``: the top ``c_max`` of the range is left free for lesions.
3. *Lesions.* Exactly ``round(fraction · n)`` patches, a seeded subset, get a synthetic lesion: a
   bright disc of radius ``r`` (default ``max(1, s/8)``) and contrast ``c ≤ c_max`` added to
   the patch, ``x ← x + c · a(p)`` with the anti-aliased profile
   ``a(p) = clip(r + 1/2 − |p − p₀|, 0, 1)`` (1 inside, a one-pixel linear ramp at the rim, 0
   outside). The centre ``p₀`` is uniform in ``[r + 1, s − 2 − r]²`` (pixel units, row and
   column), so no lesion pixel lies on the patch's border rows or columns. Those patches are
   labelled ``"lesion"``, all others ``"healthy"``. No value leaves ``[−1, 1]``.

Patch places and lesion centres come from two separate seeded streams, and every patch gets a
candidate centre whether or not it is chosen, so the same ``seed`` with ``fraction = 0`` gives
the same patches without their lesions: the difference of the two data sets is exactly
``c · a`` on the lesion patches and zero elsewhere (``tests/operators/test_medical.py`` checks this).

With a finite-sample prior ``Σ_i (1/n) N(x_i, h² I)`` each component carries its patch's label,
so the exact posterior probability of a lesion given ``y`` is the summed posterior weight of the
lesion components — what the ``label_weights`` check compares a sampler's draws with.

Where the lesion is, not only whether: :func:`lesion_masks` gives each patch's lesion disc (the
pixels its lesion touches, ``a(p) > 0``; none for healthy patches) from the same seeded plan, and
:func:`prior_lesion_masks` lines them up with a prior's components (by matching each component's
mean to its patch, so a seeded subset or reordering of the patches keeps the right disc). The
exact probability that a pixel lies inside a lesion given ``y`` is then ``Σ_k w̄_k mask_k(p)``
(:func:`lesion_map`).

Example:
    >>> data = medical_patches(size=16, n=40, seed=0)
    >>> data.images.shape, data.shape, data.labels.count("lesion")
    (torch.Size([40, 256]), (16, 16), 20)
    >>> bool(data.images.min() >= -1 and data.images.max() <= 1)
    True
    >>> masks = lesion_masks(size=16, n=40, seed=0)  # where each lesion patch differs from its healthy twin
    >>> healthy = medical_patches(size=16, n=40, seed=0, fraction=0.0)
    >>> bool(torch.equal(data.images != healthy.images, masks)), int(masks.any(1).sum())
    (True, 20)
"""

from __future__ import annotations

import os

import numpy as np
import torch

from samplerlab.scenarios.images import ImageData

__all__ = ["medical_patches", "lesion_profile", "lesion_plan", "lesion_masks", "prior_lesion_masks", "lesion_map",
           "SOURCES", "HEADROOM", "LESION", "HEALTHY"]

SOURCES = ("phantom.png", "retina.jpg", "microaneurysms.png", "cell.png")
HEADROOM = 0.6  # c_max: the largest lesion contrast; healthy tissue stays in [-1, 1 - HEADROOM]
LESION, HEALTHY = "lesion", "healthy"
_MAX_TRIES = 100


def _sources() -> list[np.ndarray]:
    try:
        import skimage.data
        import skimage.io
    except ImportError as exc:
        raise ImportError("medical data needs the optional dependency 'scikit-image': "
                          "pip install 'samplerlab[images]'") from exc
    folder = os.path.dirname(skimage.data.__file__)
    out = []
    for name in SOURCES:
        a = np.asarray(skimage.io.imread(os.path.join(folder, name)), dtype=np.float64)
        if a.ndim == 3:
            a = a[..., 1]  # green channel (the phantom is grey: all channels are equal)
        out.append((a - a.min()) / (a.max() - a.min()))
    return out


_CACHE: list[np.ndarray] = []


def _cached_sources() -> list[np.ndarray]:
    if not _CACHE:
        _CACHE.extend(_sources())
    return _CACHE


def lesion_profile(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    """The disc ``a(p) = clip(r + 1/2 − |p − p₀|, 0, 1)`` on an ``size × size`` pixel grid."""
    rows, cols = np.mgrid[:size, :size].astype(np.float64)
    dist = np.hypot(rows - centre[0], cols - centre[1])
    return np.clip(radius + 0.5 - dist, 0.0, 1.0)


def lesion_plan(size: int, n: int, seed: int, fraction: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """``(centres (n, 2), chosen)``: a candidate lesion centre per patch (row, column) and the
    indices of the ``round(fraction · n)`` patches that get their lesion — the seeded stream
    ``numpy.random.default_rng([seed, 1])``, independent of where the patches are cut."""
    spots = np.random.default_rng([seed, 1])
    centres = spots.uniform(radius + 1, size - 2 - radius, size=(n, 2))
    return centres, np.sort(spots.permutation(n)[: round(fraction * n)])


def _checked(size: int, n: int, fraction: float, radius: float | None) -> float:
    """Validate the shared parameters; returns the lesion radius (``max(1, size/8)`` when None)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 64:
        raise ValueError(f"medical: size must be an integer between 8 and 64, got {size!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"medical: n must be a positive integer, got {n!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"medical: fraction must be in [0, 1], got {fraction!r}")
    r = max(1.0, size / 8) if radius is None else float(radius)
    if not 0.5 <= r <= (size - 3) / 2:
        raise ValueError(f"medical: radius must be in [0.5, {(size - 3) / 2:g}] for size {size}, got {radius!r}")
    return r


def medical_patches(size: int = 16, n: int = 2000, seed: int = 0, fraction: float = 0.5,
                    contrast: float = HEADROOM, radius: float | None = None) -> ImageData:
    """``n`` seeded ``size × size`` patches in ``[−1, 1]``, a seeded ``fraction`` of them with a
    lesion (a bright disc of ``contrast`` and ``radius``); labels ``"lesion"`` / ``"healthy"``.

    See the module docstring for the exact rule.
    """
    r = _checked(size, n, fraction, radius)
    if not 0.0 < contrast <= HEADROOM:
        raise ValueError(f"medical: contrast must be in (0, {HEADROOM}], got {contrast!r}")
    sources = _cached_sources()
    places = np.random.default_rng([seed, 0])
    healthy = np.empty((n, size, size))
    for i in range(n):
        img = sources[places.integers(len(sources))]
        for _ in range(_MAX_TRIES):
            top = places.integers(img.shape[0] - size + 1)
            left = places.integers(img.shape[1] - size + 1)
            patch = img[top : top + size, left : left + size]
            if (patch > 0.05).mean() >= 0.5:
                break
        healthy[i] = patch
    x = -1.0 + (2.0 - HEADROOM) * healthy
    centres, chosen = lesion_plan(size, n, seed, fraction, r)
    for i in chosen:
        x[i] += contrast * lesion_profile(size, tuple(centres[i]), r)
    labels = np.full(n, HEALTHY, dtype=object)
    labels[chosen] = LESION
    return ImageData(f"medical{size}", torch.from_numpy(x.reshape(n, -1)), (size, size),
                     tuple(str(v) for v in labels))


def lesion_masks(size: int = 16, n: int = 2000, seed: int = 0, fraction: float = 0.5,
                 radius: float | None = None) -> torch.Tensor:
    """``(n, size²)`` bool: the pixels patch ``i``'s lesion touches (``a(p) > 0``), all False when healthy.

    The same seeded plan as :func:`medical_patches` with the same parameters (the contrast does
    not move the disc), without cutting any patch: exactly where a lesion patch differs from its
    ``fraction = 0`` twin.
    """
    r = _checked(size, n, fraction, radius)
    centres, chosen = lesion_plan(size, n, seed, fraction, r)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in chosen:
        masks[i] = lesion_profile(size, tuple(centres[i]), r) > 0
    return torch.from_numpy(masks.reshape(n, -1))


def prior_lesion_masks(prior, size: int = 16, n: int = 2000, seed: int = 0, fraction: float = 0.5,
                       contrast: float = HEADROOM, radius: float | None = None) -> torch.Tensor:
    """``(K, size²)`` bool: the lesion disc of each component of a finite-sample prior over ``medical`` patches.

    Each component's mean is matched to the patch it was built from (pixel values compared in
    float32, so float32 priors and any seeded subset or order of the patches match too); the
    parameters are those the patches were made with. Raises when a mean is none of the patches.
    """
    data = medical_patches(size, n, seed, fraction, contrast, radius)
    masks = lesion_masks(size, n, seed, fraction, radius)
    if prior.dim != data.images.shape[1]:
        raise ValueError(f"prior_lesion_masks: prior dimension {prior.dim} is not {size}×{size} = {size * size}")
    where = {row.tobytes(): i for i, row in enumerate(data.images.float().numpy())}
    means = prior.means.detach().cpu().float().numpy()
    index = [where.get(row.tobytes(), -1) for row in means]
    if -1 in index:
        raise ValueError(f"prior_lesion_masks: component {index.index(-1)} is none of the {n} medical patches")
    return masks[torch.tensor(index, dtype=torch.long)]


def lesion_map(weights: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(d,)``: ``Σ_k w_k mask_k`` — with posterior weights, the exact ``P(pixel inside a lesion | y)``.

    Example:
        >>> lesion_map(torch.tensor([0.25, 0.75]), torch.tensor([[True, False], [True, True]])).tolist()
        [1.0, 0.75]
    """
    w = torch.as_tensor(weights).detach().double().cpu()
    if masks.dim() != 2 or masks.shape[0] != w.shape[0]:
        raise ValueError(f"lesion_map: expected ({w.shape[0]}, d) masks for the weights, got {tuple(masks.shape)}")
    return w @ masks.detach().double().cpu()
