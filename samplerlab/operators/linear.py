"""Linear measurement operators ``y = A x`` for inverse problems.

Every operator acts on flattened signals: ``forward`` maps ``(..., d) -> (..., m)`` and
``adjoint`` maps ``(..., m) -> (..., d)``, batched over leading dimensions and differentiable by
autograd. ``svd()`` returns a cached thin SVD ``A = U diag(S) Vᵀ`` (closed form for
``Identity``, ``Mask`` and ``Subsample``; a dense ``torch.linalg.svd`` otherwise), with singular
values that are numerically zero dropped, so rank-deficient operators have ``r < min(m, d)``.
``svd(full=True)`` completes ``U`` and ``V`` to orthonormal bases of ``R^m`` and ``R^d`` (the
first ``r`` columns are the thin SVD's; the rest span the null spaces of ``Aᵀ`` and ``A``), as
DDRM-style samplers and deepinv's ``DecomposablePhysics`` need. The cached factorisations are
handed out by reference (a copy per call would cost a dense operator its size each step), so the
operator keeps a :func:`~samplerlab.auditing.guard.fingerprint` of each, taken when it was computed, and
lists them in ``cached()``: the audit checks them after every sampler run (:mod:`samplerlab.auditing.guard`).

* ``Identity(d)`` — denoising.
* ``Dense(A)`` — any explicit ``(m, d)`` matrix.
* ``Mask(d, keep)`` — inpainting: observes ``x[keep]`` in increasing index order.
* ``Subsample(shape, factor)`` — super-resolution by average pooling of 1-D or 2-D signals.
* ``Blur(shape, kernel, boundary)`` — 1-D or 2-D convolution, circular or zero boundary.

Example:
    >>> import torch
    >>> op = Subsample(4, 2)
    >>> op(torch.tensor([1.0, 3.0, 5.0, 7.0], dtype=torch.float64)).tolist()
    [2.0, 6.0]
    >>> op.svd().S.tolist()  # 1 / sqrt(block size)
    [0.7071067811865475, 0.7071067811865475]
    >>> Mask(5, [3, 1]).pinv(torch.tensor([1.0, 2.0], dtype=torch.float64)).tolist()
    [0.0, 1.0, 0.0, 2.0, 0.0]
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from numbers import Integral
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from samplerlab.operators.fingerprint import fingerprint

__all__ = ["SVD", "LinearOperator", "Identity", "Dense", "Mask", "Subsample", "Blur"]

SVD_RTOL = 1e-12


class SVD(NamedTuple):
    """Thin SVD ``A = U diag(S) Vᵀ``: ``U (m, r)``, ``S (r,)`` positive descending, ``V (d, r)``.

    From ``svd(full=True)``: ``U (m, m)`` and ``V (d, d)`` orthonormal, ``S (r,)`` unchanged, and
    ``A = U[:, :r] diag(S) V[:, :r]ᵀ``.
    """

    U: Tensor
    S: Tensor
    V: Tensor


def _positive_int(name: str, field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name}: {field} must be a positive integer, got {value!r}")
    return int(value)


def _signal_shape(name: str, shape) -> tuple[int, ...]:
    """An int ``n`` (1-D signal) or a tuple ``(H, W)`` (2-D, flattened row-major)."""
    if isinstance(shape, Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) not in (1, 2):
        raise ValueError(f"{name}: shape must be an int or a tuple (H, W), got {shape!r}")
    return tuple(_positive_int(name, "shape", s) for s in shape)


class LinearOperator(ABC):
    """Abstract linear map ``R^d -> R^m``. Subclasses implement ``_apply``, ``_apply_adjoint``
    and ``to``; they may override ``matrix`` and ``_compute_svd`` with closed forms."""

    def __init__(self, in_dim: int, out_dim: int, *, device=None, dtype=torch.float64):
        name = type(self).__name__
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"{name}: dtype must be a floating-point torch.dtype, got {dtype!r}")
        self.in_dim = _positive_int(name, "in_dim", in_dim)
        self.out_dim = _positive_int(name, "out_dim", out_dim)
        self._dtype = dtype
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._svd: SVD | None = None
        self._svd_full: SVD | None = None
        self._seals: dict[str, Tensor] = {}

    # -- properties ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(m, d)``."""
        return (self.out_dim, self.in_dim)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.out_dim}, d={self.in_dim}, dtype={self.dtype})"

    # -- application ---------------------------------------------------------------------------
    def _check(self, v, expected: int, what: str, symbol: str) -> Tensor:
        name = type(self).__name__
        if not isinstance(v, Tensor):
            v = torch.as_tensor(v, dtype=self.dtype, device=self.device)
        if v.dim() == 0 or v.shape[-1] != expected:
            got = v.shape[-1] if v.dim() else "none (a scalar)"
            raise ValueError(f"{name}: {what} has last dimension {got}, expected {symbol} = {expected}")
        if v.dtype != self.dtype and not v.is_floating_point():
            raise ValueError(f"{name}: {what} has dtype {v.dtype}, expected {self.dtype} "
                             f"(convert the input or use .to(dtype=...))")
        return v

    def _in_own_precision(self, apply, v: Tensor) -> Tensor:
        """``apply(v)`` in the operator's dtype, returned in ``v``'s: a float32 caller (most
        libraries) gets float32 back, while the operator keeps its own precision."""
        if v.dtype == self.dtype:
            return apply(v)
        return apply(v.to(self.dtype)).to(v.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``A x`` for ``x`` of shape ``(..., d)``; returns ``(..., m)`` (in ``x``'s float dtype)."""
        return self._in_own_precision(self._apply, self._check(x, self.in_dim, "input", "d"))

    def adjoint(self, y: Tensor) -> Tensor:
        """``Aᵀ y`` for ``y`` of shape ``(..., m)``; returns ``(..., d)`` (in ``y``'s float dtype)."""
        return self._in_own_precision(self._apply_adjoint, self._check(y, self.out_dim, "adjoint input", "m"))

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    @abstractmethod
    def _apply(self, x: Tensor) -> Tensor:
        """Forward on a validated ``(..., d)`` tensor."""

    @abstractmethod
    def _apply_adjoint(self, y: Tensor) -> Tensor:
        """Adjoint on a validated ``(..., m)`` tensor."""

    @abstractmethod
    def to(self, device=None, dtype=None) -> "LinearOperator":
        """A new operator of the same kind on ``device`` / in ``dtype`` (``None`` keeps)."""

    def _target(self, device, dtype) -> dict:
        return {"device": self.device if device is None else device,
                "dtype": self.dtype if dtype is None else dtype}

    # -- dense views ---------------------------------------------------------------------------
    def matrix(self) -> Tensor:
        """The dense ``(m, d)`` matrix (built by applying ``forward`` to the identity)."""
        with torch.no_grad():
            eye = torch.eye(self.in_dim, dtype=self.dtype, device=self.device)
            return self._apply(eye).mT.contiguous()

    def svd(self, full: bool = False) -> SVD:
        """Thin SVD, computed once and cached; singular values ``<= rtol * max`` dropped.

        ``full=True``: ``U (m, m)`` and ``V (d, d)`` completed to orthonormal bases, their first
        ``r`` columns the thin SVD's (same signs), ``S`` the same ``r`` values (also cached).

        Example:
            >>> U, S, V = Dense([[3.0, 0.0, 0.0]]).svd(full=True)
            >>> tuple(U.shape), S.tolist(), tuple(V.shape)
            ((1, 1), [3.0], (3, 3))
        """
        if not isinstance(full, bool):
            raise ValueError(f"{type(self).__name__}: svd(full=...) expects a bool, got {full!r}")
        if self._svd is None:
            self.keep_svd(self._compute_svd())
        if not full:
            return self._svd
        if getattr(self, "_svd_full", None) is None:
            U, S, V = self._svd
            self.keep_svd(SVD(self._complete(U), S, self._complete_v(V)), full=True)
        return self._svd_full

    def keep_svd(self, svd: SVD, full: bool = False) -> None:
        """Cache ``svd`` as this operator's thin (or, ``full=True``, completed) SVD, with the
        fingerprints that :meth:`seals` returns (for an SVD computed elsewhere, e.g. on another device)."""
        setattr(self, "_svd_full" if full else "_svd", svd)
        prefix = "svd(full=True)" if full else "svd()"
        self._seals.update({f"{prefix}.{k}": fingerprint(v) for k, v in svd._asdict().items()})

    def cached(self) -> dict[str, Tensor]:
        """The cached factorisations' tensors by name (``"svd().U"``, ``"svd(full=True).V"``, ...).

        Example:
            >>> op = Dense([[3.0, 0.0]])
            >>> list(op.cached())
            []
            >>> _ = op.svd()
            >>> list(op.cached())
            ['svd().U', 'svd().S', 'svd().V']
        """
        out = {}
        for prefix, svd in (("svd()", self._svd), ("svd(full=True)", getattr(self, "_svd_full", None))):
            if svd is not None:
                out.update({f"{prefix}.{k}": v for k, v in svd._asdict().items()})
        return out

    def seals(self) -> dict[str, Tensor]:
        """The fingerprints of :meth:`cached`'s tensors, taken when they were computed."""
        return dict(getattr(self, "_seals", {}))

    def forget_cached(self) -> None:
        """Drop the cached factorisations (recomputed when next asked for): a written one is not reused."""
        self._svd = self._svd_full = None
        self._seals = {}

    def _complete_v(self, V: Tensor) -> Tensor:
        """``V (d, r)`` completed to an orthonormal basis of ``R^d`` (closed form where known)."""
        return self._complete(V)

    @staticmethod
    def _complete(Q: Tensor) -> Tensor:
        """Orthonormal ``Q (n, r)`` completed to ``(n, n)``: ``Q`` itself, then an orthonormal
        basis of its complement from a complete QR in float64 (QR's first ``r`` columns may
        differ from ``Q`` in sign, so only the complement is taken from it)."""
        n, r = Q.shape
        if r == n:
            return Q
        with torch.no_grad():
            rest = torch.linalg.qr(Q.to(torch.float64), mode="complete")[0][:, r:]
        return torch.cat([Q, rest.to(Q.dtype)], dim=1).contiguous()

    def _rtol(self) -> float:
        # 1e-12 in float64 (for d < ~4500); scaled to the precision in lower precisions.
        return max(SVD_RTOL, torch.finfo(self.dtype).eps * max(self.shape))

    def _compute_svd(self) -> SVD:
        """Dense fallback: ``torch.linalg.svd`` of ``matrix()`` in float64, then truncated."""
        with torch.no_grad():
            U, S, Vh = torch.linalg.svd(self.matrix().to(torch.float64), full_matrices=False)
            keep = S > self._rtol() * S[0] if S.numel() and S[0] > 0 else S > math.inf
            cast = dict(dtype=self.dtype, device=self.device)
            return SVD(U[:, keep].to(**cast).contiguous(), S[keep].to(**cast),
                       Vh[keep].mT.to(**cast).contiguous())

    def pinv(self, y: Tensor) -> Tensor:
        """Moore-Penrose pseudo-inverse ``A⁺ y = V diag(1/S) Uᵀ y``; ``(..., m) -> (..., d)``."""
        y = self._check(y, self.out_dim, "pinv input", "m")
        U, S, V = self.svd()
        return ((y @ U) / S) @ V.mT

    def adjointness_test(self, generator: torch.Generator | None = None, n: int = 4) -> float:
        """Max over ``n`` random pairs of ``|<Ax, y> - <x, Aᵀy>| / max(|Ax||y|, |x||Aᵀy|)``.

        ``x, y`` are standard normal draws from ``generator`` (a fixed seed when ``None``).
        """
        n = _positive_int(type(self).__name__, "n", n)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        gdev = generator.device
        x = torch.randn(n, self.in_dim, generator=generator, dtype=self.dtype, device=gdev)
        y = torch.randn(n, self.out_dim, generator=generator, dtype=self.dtype, device=gdev)
        x, y = x.to(self.device), y.to(self.device)
        with torch.no_grad():
            Ax, Aty = self.forward(x), self.adjoint(y)
            gap = ((Ax * y).sum(-1) - (x * Aty).sum(-1)).abs()
            scale = torch.maximum(Ax.norm(dim=-1) * y.norm(dim=-1), x.norm(dim=-1) * Aty.norm(dim=-1))
            tiny = torch.finfo(self.dtype).tiny
            return float((gap / scale.clamp_min(tiny)).max())


class Identity(LinearOperator):
    """``A = I_d`` (``m = d``). ``forward`` returns its input unchanged (no copy)."""

    def __init__(self, d: int, *, device=None, dtype=torch.float64):
        d = _positive_int("Identity", "d", d)
        super().__init__(d, d, device=device, dtype=dtype)

    def _apply(self, x: Tensor) -> Tensor:
        return x

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        return y

    def to(self, device=None, dtype=None) -> "Identity":
        return Identity(self.in_dim, **self._target(device, dtype))

    def matrix(self) -> Tensor:
        return torch.eye(self.in_dim, dtype=self.dtype, device=self.device)

    def _compute_svd(self) -> SVD:
        eye = self.matrix()
        return SVD(eye, torch.ones(self.in_dim, dtype=self.dtype, device=self.device), eye.clone())


class Dense(LinearOperator):
    """An explicit matrix ``A (m, d)`` (tensor or array-like); SVD by ``torch.linalg.svd``."""

    def __init__(self, A, *, device=None, dtype=torch.float64):
        try:
            M = torch.as_tensor(A, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"Dense: A must be a finite 2-D matrix, could not convert: {err}") from err
        if M.dim() != 2 or M.numel() == 0 or not torch.isfinite(M).all():
            raise ValueError(f"Dense: A must be a finite 2-D matrix, got shape {tuple(M.shape)}"
                             + ("" if M.dim() != 2 or M.numel() == 0 else " with NaN or Inf"))
        super().__init__(M.shape[1], M.shape[0], device=M.device, dtype=dtype)
        self.A = M

    def _apply(self, x: Tensor) -> Tensor:
        return x @ self.A.mT

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        return y @ self.A

    def to(self, device=None, dtype=None) -> "Dense":
        t = self._target(device, dtype)
        return Dense(self.A.to(**t), **t)

    def matrix(self) -> Tensor:
        return self.A.clone()


class Mask(LinearOperator):
    """Inpainting: ``A x = x[keep]`` with the kept indices in increasing order (``m = |keep|``).

    ``keep`` is an index list/tensor (any order, unique) or a boolean mask of length ``d``.
    """

    def __init__(self, d: int, keep, *, device=None, dtype=torch.float64):
        d = _positive_int("Mask", "d", d)
        k = keep if isinstance(keep, Tensor) else torch.as_tensor(keep)
        if k.dim() != 1:
            raise ValueError(f"Mask: keep must be a 1-D index list or boolean mask, got shape {tuple(k.shape)}")
        if k.dtype == torch.bool:
            if k.numel() != d:
                raise ValueError(f"Mask: boolean keep has length {k.numel()}, expected d = {d}")
            k = torch.nonzero(k.cpu()).flatten()
        elif k.numel() and (k.dtype.is_floating_point or k.dtype.is_complex):
            raise ValueError(f"Mask: keep must hold integer indices or booleans, got dtype {k.dtype}")
        k = k.to(device="cpu", dtype=torch.long)
        if k.numel() == 0:
            raise ValueError("Mask: keep must select at least one index, got none")
        if k.min() < 0 or k.max() >= d:
            raise ValueError(f"Mask: keep indices must lie in [0, {d - 1}], got range "
                             f"[{int(k.min())}, {int(k.max())}]")
        k = torch.sort(k).values
        if (k[1:] == k[:-1]).any():
            raise ValueError(f"Mask: keep indices must be unique, got duplicate {int(k[1:][k[1:] == k[:-1]][0])}")
        super().__init__(d, k.numel(), device=device, dtype=dtype)
        self.indices = k.to(self.device)

    def _apply(self, x: Tensor) -> Tensor:
        return x.index_select(-1, self.indices)

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        return y.new_zeros(*y.shape[:-1], self.in_dim).index_copy(-1, self.indices, y)

    def to(self, device=None, dtype=None) -> "Mask":
        return Mask(self.in_dim, self.indices, **self._target(device, dtype))

    def _compute_svd(self) -> SVD:
        kw = dict(dtype=self.dtype, device=self.device)
        m = self.out_dim
        V = torch.zeros(self.in_dim, m, **kw)
        V[self.indices, torch.arange(m, device=self.device)] = 1.0
        return SVD(torch.eye(m, **kw), torch.ones(m, **kw), V)

    def _complete_v(self, V: Tensor) -> Tensor:
        # closed form: the kept coordinates' unit vectors, then the hidden ones in index order
        hidden = torch.ones(self.in_dim, dtype=torch.bool, device=self.device)
        hidden[self.indices] = False
        return torch.cat([V, torch.eye(self.in_dim, dtype=self.dtype, device=self.device)[:, hidden]], dim=1)


class Subsample(LinearOperator):
    """Super-resolution by average pooling: each output is the mean of one ``factor`` block
    (1-D, ``shape = n``) or ``factor × factor`` block (2-D, ``shape = (H, W)``, row-major).

    ``factor`` is an int (same for every axis) or one int per axis, dividing the axis length.
    Rows are orthogonal, so the SVD is closed form: ``U = I_m``, ``S = 1/sqrt(block size)``,
    ``V`` = normalised block indicators in output order.
    """

    def __init__(self, shape, factor, *, device=None, dtype=torch.float64):
        self.signal_shape = _signal_shape("Subsample", shape)
        f = (factor,) * len(self.signal_shape) if isinstance(factor, Integral) else factor
        if not isinstance(f, (tuple, list)) or len(f) != len(self.signal_shape):
            raise ValueError(f"Subsample: factor must be an int or one int per axis of shape "
                             f"{self.signal_shape}, got {factor!r}")
        self.factor = tuple(_positive_int("Subsample", "factor", v) for v in f)
        if any(n % v for n, v in zip(self.signal_shape, self.factor)):
            shown = factor if isinstance(factor, Integral) else self.factor
            raise ValueError(f"Subsample: factor {shown} does not divide shape {self.signal_shape}")
        self.out_shape = tuple(n // v for n, v in zip(self.signal_shape, self.factor))
        self.block_size = math.prod(self.factor)
        super().__init__(math.prod(self.signal_shape), math.prod(self.out_shape), device=device, dtype=dtype)

    def _blocked(self) -> tuple[int, ...]:
        return tuple(v for pair in zip(self.out_shape, self.factor) for v in pair)

    def _apply(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        k = len(self.signal_shape)
        xb = x.reshape(*lead, *self._blocked())
        return xb.mean(dim=tuple(-1 - 2 * i for i in range(k))).reshape(*lead, self.out_dim)

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        lead = y.shape[:-1]
        ones = tuple(v for n in self.out_shape for v in (n, 1))
        yb = y.reshape(*lead, *ones).expand(*lead, *self._blocked())
        return (yb / self.block_size).reshape(*lead, self.in_dim)

    def to(self, device=None, dtype=None) -> "Subsample":
        return Subsample(self.signal_shape, self.factor, **self._target(device, dtype))

    def _compute_svd(self) -> SVD:
        kw = dict(dtype=self.dtype, device=self.device)
        m = self.out_dim
        V = (self._apply_adjoint(torch.eye(m, **kw)) * math.sqrt(self.block_size)).mT.contiguous()
        return SVD(torch.eye(m, **kw), torch.full((m,), 1.0 / math.sqrt(self.block_size), **kw), V)


class Blur(LinearOperator):
    """Convolution ``y[i] = Σ_j k[j] x[i - j + c]`` (``c`` the kernel centre), same size out.

    ``shape`` is ``n`` (1-D, kernel 1-D) or ``(H, W)`` (2-D, kernel 2-D, row-major flattening).
    Kernel sizes are odd and at most the signal size. ``boundary="circular"`` wraps around
    (circulant ``A``); ``"zero"`` pads with zeros. The adjoint is the matching correlation.
    The SVD is the dense fallback.
    """

    BOUNDARIES = ("circular", "zero")

    def __init__(self, shape, kernel, boundary: str = "circular", *, device=None, dtype=torch.float64):
        self.signal_shape = _signal_shape("Blur", shape)
        k = torch.as_tensor(kernel, dtype=dtype, device=device)
        nd = len(self.signal_shape)
        if k.dim() != nd:
            raise ValueError(f"Blur: kernel must be {nd}-D for shape {self.signal_shape}, "
                             f"got shape {tuple(k.shape)}")
        if any(s % 2 == 0 or s > n for s, n in zip(k.shape, self.signal_shape)):
            raise ValueError(f"Blur: kernel sizes must be odd and at most shape {self.signal_shape}, "
                             f"got kernel shape {tuple(k.shape)}")
        if not torch.isfinite(k).all():
            raise ValueError("Blur: kernel contains NaN or Inf")
        if boundary not in self.BOUNDARIES:
            raise ValueError(f"Blur: boundary must be one of {self.BOUNDARIES}, got {boundary!r}")
        d = math.prod(self.signal_shape)
        super().__init__(d, d, device=device, dtype=dtype)
        self.kernel = k.to(self.device)
        self.boundary = boundary
        self._pad = tuple(p for s in reversed(k.shape) for p in ((s - 1) // 2,) * 2)
        self._conv = F.conv1d if nd == 1 else F.conv2d

    @classmethod
    def gaussian(cls, shape, std: float, size: int | None = None, boundary: str = "circular", *,
                 device=None, dtype=torch.float64) -> "Blur":
        """Normalised Gaussian blur; ``size`` defaults to ``2 ceil(3 std) + 1`` (capped to fit)."""
        sig = _signal_shape("Blur", shape)
        if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
            raise ValueError(f"Blur: std must be a positive finite number, got {std!r}")
        if size is None:
            size = 2 * math.ceil(3 * std) + 1
            size = min(size, *(n if n % 2 else n - 1 for n in sig))
        size = _positive_int("Blur", "size", size)
        r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        g = torch.exp(-0.5 * (r / std) ** 2)
        k = g if len(sig) == 1 else torch.outer(g, g)
        return cls(shape, k / k.sum(), boundary, device=device, dtype=dtype)

    def _run(self, v: Tensor, weight: Tensor) -> Tensor:
        lead = v.shape[:-1]
        z = v.reshape(-1, 1, *self.signal_shape)
        mode = "circular" if self.boundary == "circular" else "constant"
        z = F.pad(z, self._pad, mode=mode)
        return self._conv(z, weight[None, None]).reshape(*lead, self.in_dim)

    def _apply(self, x: Tensor) -> Tensor:
        # torch convs are correlations: convolving with k = correlating with flipped k.
        return self._run(x, self.kernel.flip(tuple(range(self.kernel.dim()))))

    def _apply_adjoint(self, y: Tensor) -> Tensor:
        return self._run(y, self.kernel)

    def to(self, device=None, dtype=None) -> "Blur":
        t = self._target(device, dtype)
        return Blur(self.signal_shape, self.kernel.to(**t), self.boundary, **t)
