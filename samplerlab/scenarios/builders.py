"""Builders for the three parts of a scenario file: prior, operator, observation.

Each builder reads one TOML table through a :class:`Fields` reader (which names the file and
the field in every error) and returns torch objects built on the CPU in float64 from a seeded
``torch.Generator`` — so the same file and seed give the same problem, bit for bit. The
schema itself is documented in :mod:`samplerlab.scenarios`.

Example:
    >>> f = Fields("demo.toml", "prior", {"kind": "grid25", "dim": 4})
    >>> prior = build_prior(f, torch.Generator().manual_seed(0))
    >>> prior.n_components, prior.dim, prior.means[24].tolist()
    (25, 4, [16.0, 16.0, 16.0, 16.0])
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import Tensor

from samplerlab.core.memory import require
from samplerlab.core.mixture import GaussianMixture
from samplerlab.errors import ScenarioError
from samplerlab.operators import Blur, Dense, Identity, LinearOperator, Mask, Subsample

__all__ = ["Fields", "Raw", "build_prior", "build_operator", "build_observation",
           "PRIOR_KINDS", "OPERATOR_KINDS", "OBSERVATION_KINDS"]

_REQUIRED = object()
WEIGHT_RTOL = 1e-6  # explicit mixture weights must sum to 1 within this, unless normalize = true


class Raw(str):
    """Text shown as is after "got" (a description rather than the offending value)."""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shape(value, field: str, fail) -> tuple[int, ...]:
    """Shape of a rectangular nested list of numbers (``fail(expected, got)`` raises)."""
    if isinstance(value, bool) or isinstance(value, Real):
        return ()
    if not isinstance(value, list) or not value:
        fail("a number or a non-empty array of numbers", value)
    shapes = [_shape(v, field, fail) for v in value]
    if any(s != shapes[0] for s in shapes):
        fail("rows of equal length (a rectangular array)", Raw(f"row shapes {sorted(set(shapes))}"))
    return (len(value),) + shapes[0]


_WORDS = {"int": "an integer", "pos_int": "a positive integer", "nonneg_int": "a non-negative integer",
          "float": "a finite number", "pos_float": "a positive finite number", "fraction": "a number in [0, 1]",
          "str": "a string", "bool": "true or false", "array": "an array"}


class Fields:
    """Typed access to one TOML table; every error names ``file: section.key``.

    Keys read are remembered; :meth:`finish` rejects the keys nobody asked for.
    """

    def __init__(self, file: str, section: str, data: dict):
        self.file, self.section, self.data, self.used = file, section, data, set()

    def fail(self, key: str, expected: str, got=_REQUIRED):
        where = f"{self.section}.{key}" if self.section else key
        tail = "" if got is _REQUIRED else f", got {got if isinstance(got, Raw) else _show(got)}"
        raise ScenarioError(f"{self.file}: {where}: expected {expected}{tail}")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: str, default=_REQUIRED, choices=None):
        """Read ``key`` as ``kind``: int, pos_int, float, pos_float, fraction, str, bool, array."""
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                what = "a string" if choices is None and kind == "str" else _WORDS[kind]
                self.fail(key, f"{what if choices is None else f'one of {list(choices)}'}, but the key is missing")
            return default
        v = self.data[key]
        number = isinstance(v, Real) and not isinstance(v, bool)
        integer = isinstance(v, Integral) and not isinstance(v, bool)
        checks = {
            "int": (integer, "an integer"),
            "pos_int": (integer and v >= 1, "a positive integer"),
            "nonneg_int": (integer and v >= 0, "a non-negative integer"),
            "float": (number and math.isfinite(v), "a finite number"),
            "pos_float": (number and math.isfinite(v) and v > 0, "a positive finite number"),
            "fraction": (number and 0 <= v <= 1, "a number in [0, 1]"),
            "str": (isinstance(v, str), "a string"),
            "bool": (isinstance(v, bool), "true or false"),
            "array": (True, ""),
        }
        ok, expected = checks[kind]
        if not ok:
            self.fail(key, expected, v)
        if choices is not None and v not in choices:
            self.fail(key, f"one of {list(choices)}", v)
        return v

    def array(self, key: str, ndims, default=_REQUIRED) -> Tensor | None:
        """A rectangular numeric array with ``ndim`` in ``ndims`` as a float64 tensor."""
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                self.fail(key, "an array, but the key is missing")
            return default
        v = self.data[key]
        shape = _shape(v, key, lambda e, g: self.fail(key, e, g))
        ndims = (ndims,) if isinstance(ndims, int) else ndims
        if len(shape) not in ndims:
            self.fail(key, f"a {' or '.join(f'{k}-D' for k in ndims)} array",
                      Raw(f"a {len(shape)}-D array of shape {shape}"))
        t = torch.tensor(v, dtype=torch.float64)
        if not torch.isfinite(t).all():
            self.fail(key, "finite numbers", Raw("NaN or Inf"))
        return t

    def finish(self) -> None:
        self._reject(set(self.data) - self.used, self.used)

    def expect(self, keys) -> None:
        """Reject keys outside ``keys`` now, before a missing key is reported: a misspelt key
        (``A`` for ``rows``) is the likelier mistake, and naming it says what to fix."""
        self._reject(set(self.data) - set(keys) - {"kind"}, set(keys) | {"kind"})

    def _reject(self, unknown: set, known: set) -> None:
        if unknown:
            where = f"[{self.section}]" if self.section else "the top level"
            raise ScenarioError(f"{self.file}: {self.section + '.' if self.section else ''}{sorted(unknown)[0]}: "
                                f"unknown key in {where}, expected one of {sorted(known)}")


def _weights(f: Fields, k: int, g: torch.Generator) -> Tensor:
    """``weights = "uniform"`` (1/K each) or ``"random"`` (seeded Uniform(0, 1) draws, normalised)."""
    mode = f.get("weights", "str", "uniform", choices=("uniform", "random"))
    if mode == "uniform":
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    w = torch.rand(k, generator=g, dtype=torch.float64)
    return w / w.sum()


def _haar(rows: int, cols: int, g: torch.Generator) -> Tensor:
    """``cols`` orthonormal columns in ``R^rows``, Haar-distributed (QR with the sign fix)."""
    q, r = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def _prior_mixture(f: Fields, g) -> GaussianMixture:
    means = f.array("means", 2)
    k, d = means.shape
    weights = f.array("weights", 1)
    if weights.shape != (k,):
        f.fail("weights", f"{k} weights (one per row of means)", Raw(f"{weights.shape[0]}"))
    total = float(weights.sum())
    if not f.get("normalize", "bool", False) and abs(total - 1.0) > WEIGHT_RTOL:
        f.fail("weights", "weights summing to 1 (or normalize = true in [prior] to rescale them)",
               Raw(f"{_show(weights.tolist())}, summing to {total:.9g}"))
    cov = f.array("covariances", (1, 2, 3))
    if cov.shape[0] != k or (cov.dim() >= 2 and any(s != d for s in cov.shape[1:])):
        f.fail("covariances", f"shape ({k},), ({k}, {d}) or ({k}, {d}, {d}) for {k} components in R^{d}",
               Raw(f"shape {tuple(cov.shape)}"))
    return GaussianMixture(weights, means, cov)


def _prior_grid25(f: Fields, g) -> GaussianMixture:
    """The MCGdiff grid benchmark (Cardoso et al. 2024): 25 components, means ``(s i, s j)`` on every
    coordinate pair, ``i, j ∈ {−2..2}``."""
    d = f.get("dim", "pos_int")
    if d % 2:
        f.fail("dim", "an even dimension (the grid repeats over coordinate pairs)", d)
    require(25 * d * 8, f"a 25-component prior in {d} dimensions", lambda e, got: f.fail("dim", e, Raw(got)))
    spacing = f.get("spacing", "pos_float", 8.0)
    variance = f.get("variance", "pos_float", 1.0)
    ij = torch.tensor([(i, j) for i in range(-2, 3) for j in range(-2, 3)], dtype=torch.float64)
    means = (spacing * ij).repeat(1, d // 2)
    return GaussianMixture(_weights(f, 25, g), means, torch.full((25,), float(variance), dtype=torch.float64))


def _prior_random(f: Fields, g) -> GaussianMixture:
    """Random full covariances ``Q diag(λ) Qᵀ``, ``Q`` Haar, ``λ ~ U(lo, hi)``; means ``~ N(0, scale² I)``."""
    k = f.get("components", "pos_int")
    d = f.get("dim", "pos_int")
    # the covariances, their Haar factors and the eigen-factorisation: three K·d² arrays
    require(3 * k * d * d * 8, f"{k} full {d}×{d} covariances", lambda e, got: f.fail("dim", e, Raw(got)))
    scale = f.get("mean_scale", "pos_float", 4.0)
    lo_hi = f.array("eigenvalues", 1, torch.tensor([0.1, 1.0], dtype=torch.float64))
    if lo_hi.shape != (2,) or not 0 < lo_hi[0] <= lo_hi[1]:
        f.fail("eigenvalues", "[lo, hi] with 0 < lo <= hi", lo_hi.tolist())
    weights = _weights(f, k, g)
    means = scale * torch.randn(k, d, generator=g, dtype=torch.float64)
    lam = lo_hi[0] + (lo_hi[1] - lo_hi[0]) * torch.rand(k, d, generator=g, dtype=torch.float64)
    q = torch.stack([_haar(d, d, g) for _ in range(k)])
    cov = q @ torch.diag_embed(lam) @ q.transpose(-1, -2)
    return GaussianMixture(weights, means, 0.5 * (cov + cov.transpose(-1, -2)))


def _prior_images(f: Fields, g) -> GaussianMixture:
    """Finite-sample prior ``Σ_i (1/n) N(x_i, h² I)`` over (a seeded subset of) a bundled data set."""
    from samplerlab.scenarios.images import DATASETS, finite_sample_prior
    from samplerlab.scenarios.medical import medical_patches

    datasets = {**DATASETS, "medical": medical_patches}
    name = f.get("dataset", "str", choices=tuple(datasets))
    h = f.get("bandwidth", "pos_float")
    n = f.get("components", "pos_int", None)
    params = {}
    if name == "patches":  # patches are cut at seeded places; how many and how large is part of the prior
        params = {"size": f.get("patch_size", "pos_int", 8), "n": f.get("patches", "pos_int", 2000),
                  "seed": f.get("patch_seed", "nonneg_int", 0)}
    elif name == "medical":  # also a seeded fraction of synthetic lesions (samplerlab.scenarios.medical)
        params = _medical_params(f)
    try:
        data = datasets[name](**params)
    except ImportError as exc:
        raise ScenarioError(f"{f.file}: {f.section}.dataset: {exc}") from None
    if n is not None and n > len(data.images):
        f.fail("components", f"at most {len(data.images)} (the size of {name!r})", n)
    return finite_sample_prior(data, h, n=n, generator=g)


def _medical_params(f: Fields) -> dict:
    """``patch_size = 16`` (8..64), ``patches = 2000``, ``patch_seed = 0``, ``lesion_fraction = 0.5``,
    ``lesion_contrast = 0.6`` (at most 0.6), ``lesion_radius`` (default ``max(1, patch_size / 8)``)."""
    from samplerlab.scenarios.medical import HEADROOM

    size = f.get("patch_size", "pos_int", 16)
    if not 8 <= size <= 64:
        f.fail("patch_size", "an integer between 8 and 64", size)
    contrast = f.get("lesion_contrast", "pos_float", HEADROOM)
    if contrast > HEADROOM:
        f.fail("lesion_contrast", f"a contrast in (0, {HEADROOM}] (healthy tissue leaves that much headroom)", contrast)
    radius = f.get("lesion_radius", "pos_float", None)
    if radius is not None and not 0.5 <= radius <= (size - 3) / 2:
        f.fail("lesion_radius", f"a radius in [0.5, {(size - 3) / 2:g}] for patch_size {size}", radius)
    return {"size": size, "n": f.get("patches", "pos_int", 2000), "seed": f.get("patch_seed", "nonneg_int", 0),
            "fraction": float(f.get("lesion_fraction", "fraction", 0.5)), "contrast": float(contrast),
            "radius": None if radius is None else float(radius)}


PRIOR_KINDS = {"mixture": _prior_mixture, "grid25": _prior_grid25, "random": _prior_random,
               "images": _prior_images}


def _op_identity(f: Fields, d: int, g) -> LinearOperator:
    return Identity(d)


def _op_matrix(f: Fields, d: int, g) -> LinearOperator:
    a = f.array("rows", 2)
    if a.shape[1] != d:
        f.fail("rows", f"rows of length {d} (the prior dimension)", Raw(f"length {a.shape[1]}"))
    return Dense(a)


def _op_random(f: Fields, d: int, g) -> LinearOperator:
    """``A = U diag(s) Vᵀ`` (m × d), ``U, V`` Haar, ``s`` sorted Uniform(0, 1) draws (the grid
    benchmark's operator)."""
    m = f.get("m", "pos_int")
    if m > d:
        f.fail("m", f"at most the prior dimension {d}", m)
    u, v = _haar(m, m, g), _haar(d, m, g)
    s = torch.rand(m, generator=g, dtype=torch.float64).sort(descending=True).values
    return Dense(u @ torch.diag(s) @ v.T)


def _shape_of(f: Fields, key: str, d: int) -> tuple[int, ...]:
    shape = f.array(key, 1).long().tolist()
    if len(shape) not in (1, 2) or math.prod(shape) != d:
        f.fail(key, f"[n] or [H, W] with n = H·W = {d} (the prior dimension)", shape)
    return tuple(shape)


def _op_mask(f: Fields, d: int, g) -> LinearOperator:
    """``keep = [indices]``, or ``image = [H, W]`` with ``box = [top, left, h, w]`` hidden, or ``missing`` fraction."""
    from samplerlab.operators import images as io

    chosen = [k for k in ("keep", "box", "missing") if f.has(k)]
    if len(chosen) != 1:
        f.fail("keep", "exactly one of keep, box (with image) or missing", Raw(f"{chosen or 'none'}"))
    try:
        if chosen[0] == "keep":
            return Mask(d, f.array("keep", 1).long())
        shape = _shape_of(f, "image", d) if f.has("image") else (1, d)
        if chosen[0] == "box":
            box = f.array("box", 1).long().tolist()
            if len(box) != 4:
                f.fail("box", "[top, left, height, width]", box)
            return io.box_inpainting(shape, *box)
        return io.random_inpainting(shape, f.get("missing", "fraction"), generator=g)
    except ValueError as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{f.file}: {f.section}.{chosen[0]}: {exc}") from None


def _op_subsample(f: Fields, d: int, g) -> LinearOperator:
    shape = _shape_of(f, "shape", d)
    try:
        return Subsample(shape if len(shape) == 2 else shape[0], f.get("factor", "pos_int"))
    except ValueError as exc:
        raise ScenarioError(f"{f.file}: {f.section}.factor: {exc}") from None


def _op_blur(f: Fields, d: int, g) -> LinearOperator:
    shape = _shape_of(f, "shape", d)
    boundary = f.get("boundary", "str", "circular", choices=Blur.BOUNDARIES)
    return Blur.gaussian(shape if len(shape) == 2 else shape[0], float(f.get("std", "pos_float")),
                         boundary=boundary)


def _image_shape(f: Fields, d: int) -> tuple[int, int]:
    shape = _shape_of(f, "shape", d)
    if len(shape) != 2 or min(shape) < 2:
        f.fail("shape", f"[H, W] with H, W >= 2 and H·W = {d} (the prior dimension)", list(shape))
    return shape


def _op_mri(f: Fields, d: int, g) -> LinearOperator:
    """Undersampled 2-D Fourier (MRI-like): ``shape``, ``acceleration``, ``centre = 0.08``, ``pattern = "random"``."""
    from samplerlab.operators.medical import PATTERNS, UndersampledFourier

    shape = _image_shape(f, d)
    acceleration = f.get("acceleration", "pos_int")
    if acceleration > shape[0]:
        f.fail("acceleration", f"at most the number of k-space lines H = {shape[0]}", acceleration)
    centre = float(f.get("centre", "fraction", 0.08))
    pattern = f.get("pattern", "str", "random", choices=PATTERNS)
    return UndersampledFourier(shape, acceleration, centre, pattern, generator=g)


def _op_ct(f: Fields, d: int, g) -> LinearOperator:
    """Sparse-view parallel-beam projection (CT-like): ``shape``, ``angles`` (equally spaced in [0°, 180°))."""
    from samplerlab.operators.medical import ParallelBeamProjection

    shape = _image_shape(f, d)
    return ParallelBeamProjection(shape, f.get("angles", "pos_int"))


OPERATOR_KINDS = {"identity": _op_identity, "matrix": _op_matrix, "random": _op_random, "mask": _op_mask,
                  "subsample": _op_subsample, "blur": _op_blur, "mri": _op_mri, "ct": _op_ct}


def _noise(f: Fields, op: LinearOperator, sigma_y: float, g, default: bool) -> Tensor:
    if not f.get("noise", "bool", default):
        return torch.zeros(op.out_dim, dtype=torch.float64)
    return sigma_y * torch.randn(op.out_dim, generator=g, dtype=torch.float64)


def _mode(f: Fields, key: str, k: int, value=None) -> int:
    i = f.get(key, "nonneg_int") if value is None else value
    if not 0 <= i < k:
        f.fail(key, f"a component index in [0, {k - 1}]", i)
    return i


def build_observation(f: Fields, prior: GaussianMixture, op: LinearOperator, sigma_y: float,
                      g: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """``(y, x_star)``; ``x_star`` is ``None`` when ``y`` was given or placed without a signal."""
    kind = f.get("kind", "str", "simulated", choices=("simulated", "explicit", "point", "between", "outlier"))
    f.expect(OBSERVATION_KEYS)
    m, d = op.out_dim, prior.dim
    if kind == "simulated":  # x* ~ prior, y = A x* + σ_y n
        x = prior.sample(1, generator=g)[0]
        return op.forward(x) + _noise(f, op, sigma_y, g, True), x
    if kind == "explicit":
        y = f.array("y", 1)
        if y.shape != (m,):
            f.fail("y", f"{m} values (the operator's output dimension)", Raw(f"{y.shape[0]}"))
        return y, None
    if kind == "point":
        x = f.array("x", 1)
        if x.shape != (d,):
            f.fail("x", f"{d} values (the prior dimension)", Raw(f"{x.shape[0]}"))
    elif kind == "between":  # on the segment between two prior means
        pair = f.array("modes", 1).long().tolist()
        if len(pair) != 2:
            f.fail("modes", "two component indices [i, j]", pair)
        i, j = (_mode(f, "modes", prior.n_components, v) for v in pair)
        t = f.get("fraction", "fraction", 0.5)
        x = (1 - t) * prior.means[i] + t * prior.means[j]
    else:  # outlier: a prior mean, then y pushed `offset` away along a unit direction
        x = prior.means[_mode(f, "mode", prior.n_components)]
        offset = f.get("offset", "float")
        u = f.array("direction", 1, None)
        if u is None:
            u = torch.randn(m, generator=g, dtype=torch.float64)
        elif u.shape != (m,) or not u.abs().sum() > 0:
            f.fail("direction", f"a non-zero vector of {m} values (the operator's output dimension)", u.tolist())
        return op.forward(x) + offset * u / u.norm() + _noise(f, op, sigma_y, g, False), None
    return op.forward(x) + _noise(f, op, sigma_y, g, False), x


PRIOR_KEYS = {"mixture": {"weights", "means", "covariances", "normalize"},
              "grid25": {"dim", "spacing", "variance", "weights"},
              "random": {"components", "dim", "eigenvalues", "mean_scale", "weights"},
              "images": {"dataset", "bandwidth", "components", "patch_size", "patches", "patch_seed",
                         "lesion_fraction", "lesion_contrast", "lesion_radius"}}
OPERATOR_KEYS = {"identity": set(), "matrix": {"rows"}, "random": {"m"}, "mask": {"keep", "box", "image", "missing"},
                 "subsample": {"shape", "factor"}, "blur": {"shape", "std", "boundary"},
                 "mri": {"shape", "acceleration", "centre", "pattern"}, "ct": {"shape", "angles"}}
OBSERVATION_KEYS = {"x", "y", "noise", "mode", "modes", "fraction", "offset", "direction"}


def build_prior(f: Fields, g: torch.Generator) -> GaussianMixture:
    kind = f.get("kind", "str", choices=tuple(PRIOR_KINDS))
    f.expect(PRIOR_KEYS[kind])
    try:
        prior = PRIOR_KINDS[kind](f, g)
    except ScenarioError:
        raise
    except ValueError as exc:  # the core constructors name the field (e.g. covariances[1]: not SPD)
        raise ScenarioError(f"{f.file}: {f.section}.{exc}") from None
    f.finish()
    return prior


def build_operator(f: Fields, d: int, g: torch.Generator) -> LinearOperator:
    kind = f.get("kind", "str", choices=tuple(OPERATOR_KINDS))
    f.expect(OPERATOR_KEYS[kind])
    try:
        op = OPERATOR_KINDS[kind](f, d, g)
    except ScenarioError:
        raise
    except ValueError as exc:  # an operator's constructor: "Blur: kernel sizes must be ..."
        raise ScenarioError(f"{f.file}: [{f.section}]: {exc}") from None
    f.finish()
    return op


OBSERVATION_KINDS = ("simulated", "explicit", "point", "between", "outlier")
