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

(``Subsample`` and ``Blur``, the image-structured operators, are in :mod:`samplerlab.operators.structured`.)

Example:
    >>> import torch
    >>> from samplerlab.operators.structured import Subsample
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
from torch import Tensor

from samplerlab.operators.fingerprint import fingerprint

__all__ = ["SVD", "LinearOperator", "Identity", "Dense", "Mask"]

SVD_RTOL = 1e-12


class SVD(NamedTuple):
    """Thin SVD ``A = U diag(S) Vᵀ``: ``U (m, r)``, ``S (r,)`` positive descending, ``V (d, r)``.

    From ``svd(full=True)``: ``U (m, m)`` and ``V (d, d)`` orthonormal, ``S (r,)`` unchanged, and
    ``A = U[:, :r] diag(S) V[:, :r]ᵀ``.
    """

    U: Tensor
    S: Tensor
    V: Tensor


def positive_int(name: str, field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name}: {field} must be a positive integer, got {value!r}")
    return int(value)


class LinearOperator(ABC):
    """Abstract linear map ``R^d -> R^m``. Subclasses implement ``_apply``, ``_apply_adjoint``
    and ``to``; they may override ``matrix`` and ``_compute_svd`` with closed forms."""

    def __init__(self, in_dim: int, out_dim: int, *, device=None, dtype=torch.float64):
        name = type(self).__name__
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"{name}: dtype must be a floating-point torch.dtype, got {dtype!r}")
        self.in_dim = positive_int(name, "in_dim", in_dim)
        self.out_dim = positive_int(name, "out_dim", out_dim)
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
        n = positive_int(type(self).__name__, "n", n)
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
        d = positive_int("Identity", "d", d)
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
        d = positive_int("Mask", "d", d)
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
