"""Real-image priors from data that ships inside installed packages (no downloads).

A data set of images is an exact Gaussian mixture — one isotropic component ``N(x_i, h² I)``
per image — so posteriors stay exact at image scale.

Data sets (pixel values scaled to ``[-1, 1]``, images flattened row-major):

* ``digits`` — scikit-learn's 1,797 handwritten digits, 8×8;
* ``faces`` — the 100 faces of scikit-image's ``lfw_subset``, 25×25 (its other 100 images,
  non-face crops, are left out);
* ``patches`` — square patches (8×8 up to 32×32) cut at seeded random places from
  scikit-image's bundled grey-level natural images;
* ``medical`` — square patches of scikit-image's bundled medical images, half of them with a
  synthetic lesion, labelled ``"lesion"`` / ``"healthy"`` (see :mod:`samplerlab.scenarios.medical`).

scikit-learn and scikit-image are optional (``pip install 'samplerlab[images]'``) and are
imported only when a data set is loaded.

Example:
    >>> data = load_images("digits")
    >>> data.images.shape, data.shape
    (torch.Size([1797, 64]), (8, 8))
    >>> finite_sample_prior(data, 0.1, n=100).n_components
    100
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from samplerlab.core.mixture import GaussianMixture

__all__ = ["ImageData", "load_images", "finite_sample_prior", "fitted_prior", "DATASETS"]

_NATURAL = ("camera", "moon", "coins", "brick", "grass", "gravel", "clock", "text", "page")


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"image data needs the optional dependency {package!r}: pip install 'samplerlab[images]'"
        ) from exc


@dataclass(frozen=True)
class ImageData:
    """Flattened images ``(n, H·W)`` in ``[-1, 1]`` and their shape ``(H, W)``."""

    name: str
    images: Tensor
    shape: tuple[int, int]
    labels: tuple | None = None  # one per image where the data set gives one (digits: the class)


def _to_unit(a: np.ndarray, top: float) -> np.ndarray:
    return a.astype(np.float64) / top * 2.0 - 1.0


def _digits() -> ImageData:
    datasets = _require("sklearn.datasets", "scikit-learn")
    d = datasets.load_digits()  # pixel values 0..16, target the digit class
    return ImageData("digits", torch.from_numpy(_to_unit(d.data, 16.0)), (8, 8), tuple(int(v) for v in d.target))


def _faces() -> ImageData:
    data = _require("skimage.data", "scikit-image")
    x = data.lfw_subset()[:100]  # (200, 25, 25) in [0, 1]: 100 faces, then 100 non-face crops
    return ImageData("faces", torch.from_numpy(_to_unit(x.reshape(len(x), -1), 1.0)), (25, 25))


def _patches(size: int = 8, n: int = 2000, seed: int = 0) -> ImageData:
    if not 4 <= size <= 64:
        raise ValueError(f"patches: size must be between 4 and 64, got {size}")
    data = _require("skimage.data", "scikit-image")
    rng = np.random.default_rng(seed)
    sources = [np.asarray(getattr(data, name)(), dtype=np.float64) / 255.0 for name in _NATURAL]
    which = rng.integers(len(sources), size=n)
    # Written in place, with no per-patch copy and no whole-array temporaries: at 100,000 patches of
    # 64×64 the array is 3.3 GB, and every fresh array that size costs seconds of page faults.
    out = np.empty((n, size, size))
    for i, k in enumerate(which):
        img = sources[k]
        r = rng.integers(img.shape[0] - size + 1)
        c = rng.integers(img.shape[1] - size + 1)
        out[i] = img[r : r + size, c : c + size]
    out = out.reshape(n, size * size)
    out *= 2.0
    out -= 1.0
    return ImageData(f"patches{size}", torch.from_numpy(out), (size, size))


# The synthetic medical patches (samplerlab.scenarios.medical) build on these; the scenario loader adds them.
DATASETS = {"digits": _digits, "faces": _faces, "patches": _patches}


def load_images(name: str, **params) -> ImageData:
    """Load a bundled data set by name (``digits``, ``faces``, ``patches``)."""
    if name not in DATASETS:
        raise ValueError(f"images: unknown data set {name!r}, expected one of {sorted(DATASETS)}")
    return DATASETS[name](**params)


def finite_sample_prior(data: ImageData, bandwidth: float, n: int | None = None,
                        generator: torch.Generator | None = None, *, device=None,
                        dtype=torch.float64, max_elements: int | None = None) -> GaussianMixture:
    """``Σ_i (1/n) N(x_i, h² I)`` over ``n`` images (all when ``n`` is None; a seeded subset otherwise)."""
    x, labels = data.images, data.labels
    if n is not None:
        if not 1 <= n <= len(x):
            raise ValueError(f"n: expected 1 <= n <= {len(x)} images of {data.name!r}, got {n}")
        pick = torch.randperm(len(x), generator=generator)[:n]
        x = x[pick]
        labels = None if labels is None else tuple(labels[i] for i in pick.tolist())
    kw = {} if max_elements is None else {"max_elements": max_elements}
    return GaussianMixture.from_samples(x, bandwidth, device=device, dtype=dtype, labels=labels, **kw)


def fitted_prior(data: ImageData, components: int = 200, covariance: str = "diag", seed: int = 0,
                 *, device=None, dtype=torch.float64) -> GaussianMixture:
    """A smooth prior: a mixture fitted by EM (scikit-learn), ``diag`` or ``full`` covariances."""
    if covariance not in ("diag", "full"):
        raise ValueError(f"covariance: expected 'diag' or 'full', got {covariance!r}")
    mixture = _require("sklearn.mixture", "scikit-learn")
    em = mixture.GaussianMixture(components, covariance_type=covariance, reg_covar=1e-3,
                                 random_state=seed, max_iter=200)
    em.fit(data.images.numpy())
    return GaussianMixture(em.weights_, em.means_, em.covariances_, device=device, dtype=dtype)
