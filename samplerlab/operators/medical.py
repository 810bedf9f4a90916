"""MRI-like and CT-like linear operators on flattened ``H × W`` images (row-major, ``d = H·W``).

**MRI: undersampled Fourier** (:class:`UndersampledFourier`). An MRI scanner measures the
2-D Fourier transform ``F x`` of the image (k-space) one line at a time; it is accelerated by
skipping lines. Here ``F`` is the unitary 2-D DFT and ``M`` keeps whole rows ``k₁`` of k-space
(the phase-encode lines) with every column ``k₂``: a fully sampled centre band of low
frequencies plus further lines, so that about ``H / R`` of the ``H`` lines are kept at
acceleration ``R``. The kept line set is symmetric under ``k₁ ↦ −k₁ (mod H)``, so the kept
frequencies are closed under conjugation ``k ↦ −k``.

For a real image ``F x`` is Hermitian: ``(F x)[−k] = conj((F x)[k])``, so k and −k carry the same
information. Each conjugate pair ``{k, −k}`` (``k ≠ −k``) of kept frequencies contributes two
real measurements, ``√2 Re (F x)[k]`` and ``√2 Im (F x)[k]`` (``k`` the member with the smaller
row-major index); a self-conjugate frequency (``2k ≡ 0``: both coordinates 0 or half the size)
contributes ``Re (F x)[k]`` only, its imaginary part being zero. With ``f_k`` the rows of ``F``,
``Re f_k = (f_k + f_{−k})/2`` and ``Im f_k = (f_k − f_{−k})/2i``; since the ``f_k`` are orthonormal
these real rows are orthonormal too: ``A Aᵀ = I_m``, ``m = (kept lines) · W``. The SVD is then
closed form, ``U = I``, ``S = 1``, ``V = Aᵀ``, and ``A⁺ = Aᵀ`` (zero-filled reconstruction).
``forward`` uses ``torch.fft.fft2``; ``adjoint`` writes ``c_k y_k − i √2 z_k`` into an empty
spectrum and returns the real part of its (unitary, symmetric) DFT.

**CT: sparse-view parallel beam** (:class:`ParallelBeamProjection`). The sinogram of the image
at ``n`` equally spaced angles ``θ_j = 180° j / n`` (or explicit angles), computed exactly as
``skimage.transform.radon(x, theta, circle=False)`` computes it: the image is zero-padded to a
square of side ``⌈√2 max(H, W)⌉`` (so every pixel is seen at every angle), rotated about the
centre with bilinear interpolation, and summed along columns — line integrals with pixel size
1 (a ray crossing ``L`` pixels of value 1 reads about ``L``). The matrix is built once per
shape and angles (vectorised, no loop over pixels) and cached; detector bins whose rays miss
the image are dropped, so every row is non-zero. Measurements are ordered angle by angle
(``radon(x).T`` flattened). The SVD is the dense one.

Example:
    >>> import torch
    >>> mri = UndersampledFourier((8, 8), acceleration=2, centre=0.4, pattern="equispaced")
    >>> mri.lines, mri.shape  # centre band {7, 0, 1} and every second line
    ((0, 1, 2, 4, 6, 7), (48, 64))
    >>> A = mri.matrix()
    >>> bool(torch.allclose(A @ A.T, torch.eye(48, dtype=torch.float64)))
    True
    >>> ct = ParallelBeamProjection((8, 8), angles=4)
    >>> ct.angles, ct.in_dim
    ((0.0, 45.0, 90.0, 135.0), 64)
"""

from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import numpy as np
import torch
from torch import Tensor

from samplerlab.operators import SVD, Dense, LinearOperator

__all__ = ["UndersampledFourier", "ParallelBeamProjection", "cartesian_lines", "projection_matrix",
           "PATTERNS"]

PATTERNS = ("random", "equispaced")


def _hw(name: str, shape) -> tuple[int, int]:
    ok = isinstance(shape, (tuple, list)) and len(shape) == 2 and all(
        isinstance(v, Integral) and not isinstance(v, bool) and v >= 2 for v in shape)
    if not ok:
        raise ValueError(f"{name}: shape must be (H, W) with integers H, W >= 2, got {shape!r}")
    return int(shape[0]), int(shape[1])


def cartesian_lines(height: int, acceleration: int, centre: float = 0.08, pattern: str = "random",
                    generator: torch.Generator | None = None) -> tuple[int, ...]:
    """Kept k-space rows (sorted indices in ``[0, H)``), symmetric under ``k ↦ −k mod H``.

    The centre band is the ``2q + 1`` lowest frequencies ``|k| ≤ q`` with ``2q + 1 ≈ centre · H``
    (at least the DC line). ``pattern = "random"`` adds seeded conjugate pairs of lines (and the
    self-conjugate line ``H/2``) until ``round(H / acceleration)`` lines are kept;
    ``"equispaced"`` adds every line ``k ≡ 0 (mod acceleration)``. ``generator=None`` means
    seed 0 (the same lines every time).
    """
    if isinstance(acceleration, bool) or not isinstance(acceleration, Integral) or acceleration < 1:
        raise ValueError(f"acceleration: expected a positive integer, got {acceleration!r}")
    if not (isinstance(centre, Real) and 0.0 <= centre <= 1.0):
        raise ValueError(f"centre: expected a fraction in [0, 1], got {centre!r}")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern: expected one of {list(PATTERNS)}, got {pattern!r}")
    h = int(height)
    q = max(0, (round(centre * h) - 1) // 2)
    kept = {k % h for k in range(-q, q + 1)}
    if pattern == "equispaced":
        kept |= {k for k in range(h) if min(k, h - k) % acceleration == 0}
        return tuple(sorted(kept))
    groups = sorted({tuple(sorted({k, (-k) % h})) for k in range(h)} - {tuple(sorted({k, (-k) % h})) for k in kept})
    budget = max(len(kept), round(h / acceleration))
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    for i in torch.randperm(len(groups), generator=generator).tolist():
        if len(kept) + len(groups[i]) <= budget:
            kept |= set(groups[i])
    return tuple(sorted(kept))


class UndersampledFourier(LinearOperator):
    """MRI-like ``A``: orthonormal real rows of the unitary 2-D DFT on the kept k-space lines.

    ``shape = (H, W)``; the kept rows ``lines`` are given, or chosen by :func:`cartesian_lines`
    from ``acceleration``, ``centre``, ``pattern`` and ``generator``. See the module docstring.
    """

    def __init__(self, shape, acceleration: int = 4, centre: float = 0.08, pattern: str = "random",
                 generator: torch.Generator | None = None, *, lines=None, device=None, dtype=torch.float64):
        self.image_shape = _hw("UndersampledFourier", shape)
        h, w = self.image_shape
        if lines is None:
            lines = cartesian_lines(h, acceleration, centre, pattern, generator)
        lines = tuple(sorted({int(k) for k in lines}))
        if not lines or lines[0] < 0 or lines[-1] >= h:
            raise ValueError(f"UndersampledFourier: lines must be row indices in [0, {h - 1}], got {lines!r}")
        if {(-k) % h for k in lines} != set(lines):
            raise ValueError(f"UndersampledFourier: lines must be symmetric under k -> -k mod {h}, got {lines!r}")
        self.lines = lines
        rows = torch.tensor(lines).repeat_interleave(w)
        cols = torch.arange(w).repeat(len(lines))
        flat = rows * w + cols
        partner = ((-rows) % h) * w + (-cols) % w
        canonical = flat <= partner
        self._kept = flat[canonical]  # one member per conjugate class, row-major order
        self._paired = (flat != partner)[canonical]  # False: self-conjugate (real part only)
        n_pairs = int(self._paired.sum())
        super().__init__(h * w, len(self._kept) + n_pairs, device=device, dtype=dtype)
        self._kept = self._kept.to(self.device)
        self._pairs = self._kept[self._paired.to(self.device)]
        self._pair_pos = self._paired.nonzero().flatten().to(self.device)  # their places among kept
        scale = torch.ones(len(self._paired), dtype=torch.float64)
        scale[self._paired] = math.sqrt(2.0)  # in float64 first: a float32 √2 is off by 3e-8
        self._scale = scale.to(dtype=dtype, device=self.device)

    def _spectrum(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        return torch.fft.fft2(x.reshape(*lead, *self.image_shape), norm="ortho").reshape(*lead, self.in_dim)

    def _apply(self, x: Tensor) -> Tensor:
        z = self._spectrum(x)
        re = z.real.index_select(-1, self._kept) * self._scale
        im = z.imag.index_select(-1, self._pairs) * math.sqrt(2.0)
        return torch.cat([re, im], dim=-1).to(self.dtype)

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        lead, k = y.shape[:-1], len(self._kept)
        re = y[..., :k] * self._scale
        im = torch.zeros_like(re).index_copy(-1, self._pair_pos, y[..., k:] * math.sqrt(2.0))
        coeff = torch.complex(re, -im)
        spec = coeff.new_zeros(*lead, self.in_dim).index_copy(-1, self._kept, coeff)
        return self._spectrum(spec).real.to(self.dtype)

    def to(self, device=None, dtype=None) -> "UndersampledFourier":
        return UndersampledFourier(self.image_shape, lines=self.lines, **self._target(device, dtype))

    def _compute_svd(self) -> SVD:
        kw = dict(dtype=self.dtype, device=self.device)
        m = self.out_dim
        with torch.no_grad():
            V = self._apply_adjoint(torch.eye(m, **kw)).mT.contiguous()
        return SVD(torch.eye(m, **kw), torch.ones(m, **kw), V)


def _angles(angles) -> tuple[float, ...]:
    if isinstance(angles, Integral) and not isinstance(angles, bool):
        if angles < 1:
            raise ValueError(f"angles: expected a positive number of views, got {angles!r}")
        return tuple(180.0 * j / int(angles) for j in range(int(angles)))
    try:
        out = tuple(float(a) for a in angles)
    except (TypeError, ValueError):
        raise ValueError(f"angles: expected a positive integer or a list of degrees, got {angles!r}") from None
    if not out or not all(math.isfinite(a) for a in out):
        raise ValueError(f"angles: expected a non-empty list of finite degrees, got {angles!r}")
    return out


@functools.lru_cache(maxsize=16)
def projection_matrix(shape: tuple[int, int], angles: tuple[float, ...]) -> np.ndarray:
    """Dense ``(len(angles) · P, H·W)`` matrix of ``radon(·, angles, circle=False).T`` flattened
    (``P`` the padded side; zero rows kept), built by vectorised bilinear weights. Read-only, cached."""
    h, w = shape
    side = int(math.ceil(math.sqrt(2) * max(h, w)))
    pad = [side - s for s in (h, w)]  # skimage pads each axis to ceil(diagonal - s) + s = side
    before = [(s + p) // 2 - s // 2 for s, p in zip((h, w), pad)]
    centre = side // 2
    r, c = np.mgrid[:side, :side].astype(np.float64)
    out = np.zeros((len(angles), side, h * w))
    for j, theta in enumerate(np.deg2rad(angles)):
        cos, sin = math.cos(theta), math.sin(theta)
        src_c = cos * c + sin * r - centre * (cos + sin - 1)  # skimage.transform.warp's inverse map
        src_r = -sin * c + cos * r - centre * (cos - sin - 1)
        r0, c0 = np.floor(src_r), np.floor(src_c)
        dr, dc = src_r - r0, src_c - c0
        for rr, cc, wt in ((r0, c0, (1 - dr) * (1 - dc)), (r0, c0 + 1, (1 - dr) * dc),
                           (r0 + 1, c0, dr * (1 - dc)), (r0 + 1, c0 + 1, dr * dc)):
            ir, ic = rr.astype(np.int64) - before[0], cc.astype(np.int64) - before[1]
            ok = (ir >= 0) & (ir < h) & (ic >= 0) & (ic < w) & (wt != 0)
            det = np.broadcast_to(np.arange(side), (side, side))[ok]  # output column = detector bin
            np.add.at(out[j], (det, ir[ok] * w + ic[ok]), wt[ok])
    out = out.reshape(len(angles) * side, h * w)
    out.flags.writeable = False
    return out


class ParallelBeamProjection(Dense):
    """CT-like ``A``: the parallel-beam sinogram at ``angles`` (a count, equally spaced over
    ``[0°, 180°)``, or a list of degrees), rays missing the image dropped. See the module docstring."""

    def __init__(self, shape, angles, *, device=None, dtype=torch.float64):
        self.image_shape = _hw("ParallelBeamProjection", shape)
        try:
            self.angles = _angles(angles)
        except ValueError as exc:
            raise ValueError(f"ParallelBeamProjection: {exc}") from None
        full = projection_matrix(self.image_shape, self.angles)
        nonzero = np.abs(full).sum(1) > 0
        self.rays = torch.from_numpy(np.nonzero(nonzero)[0])  # indices into radon(x).T.ravel()
        super().__init__(torch.from_numpy(full[nonzero]), device=device, dtype=dtype)

    def to(self, device=None, dtype=None) -> "ParallelBeamProjection":
        return ParallelBeamProjection(self.image_shape, self.angles, **self._target(device, dtype))
