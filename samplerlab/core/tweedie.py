"""Exact Tweedie kernels of a Gaussian mixture under noise ``x_t = a x0 + s ε``.

For component ``k`` with eigen-factored ``S_k = B diag(λ_k) Bᵀ`` and ``C_k = a² S_k + s² I``
(see ``samplerlab.core.mixture``), with ``z = Bᵀ x``:

* responsibilities ``π_k(x) ∝ w_k N(x; a m_k, C_k)``;
* ``μ_k = m_k + B diag(f_k) Bᵀ (x − a m_k)`` with ``f_k = a λ_k / (a² λ_k + s²)``;
* ``P_k = B diag(p_k) Bᵀ`` with ``p_k = λ_k s² / (a² λ_k + s²)``;
* ``E[x0|x] = Σ π_k μ_k`` and ``Cov[x0|x] · g = Σ π_k (P_k g + μ_k (μ_k·g)) − E (E·g)``.

All products are GEMMs of shape ``N×d`` by ``d×K`` (coordinate family) or ``N×d`` by
``d×Kd`` (per-component bases); rows are processed in chunks so that no ``N×K×d`` tensor
larger than ``max_elements`` is ever formed. The logits ``log w_k + log N(x; a m_k, C_k)`` and
their float32 precision strategy are in :mod:`samplerlab.core.tweedie_logits`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from samplerlab.core.covariance import ComponentCovariance, CoordinateCovariance, Covariance
from samplerlab.core.logspace import logsumexp
from samplerlab.core.logspace import softmax as _softmax
from samplerlab.core.precision import fast_float64
from samplerlab.core.tweedie_logits import REFINE_TOP, TweedieLogits

__all__ = ["TweedieKernel"]

DEFAULT_MAX_ELEMENTS = 2**26
NORM_BLOCK = 2**20  # elements per block of the component norms (8 MB in float64): reused memory, not fresh pages
GATHER_MIN_K = 64  # from this many components one-component rows are gathered, not multiplied
RELATIVE_MAX_K = 256  # up to this many components the denoiser's logits are taken less the last one's


def _as_scalar(v, like: Tensor) -> Tensor:
    return torch.as_tensor(v, dtype=like.dtype, device=like.device)


def _weighted_rows(pi: Tensor, table: Tensor, out: Tensor | None = None) -> Tensor:
    """``π @ table`` (N×K by K×d), reading off the rows whose weight sits on one component.

    Where a row's largest responsibility is 1 to the last bit (the others sum below half an ulp
    of 1, the usual case once components are told apart), its row is that component's row of
    ``table``: a gather instead of a ``K``-long dot product per entry, and no GEMM over
    ``K = 20,000`` images. The other rows (NaN ones included) take the GEMM; when they are most
    rows, or ``K`` is below ``GATHER_MIN_K``, so does the whole block (on this project's CPU the
    gather and its bookkeeping cost more than a 25-column GEMM row). Under autograd the plain GEMM
    is used (and ``out`` is not).
    """
    if torch.is_grad_enabled() and (pi.requires_grad or table.requires_grad):
        return pi @ table
    if pi.shape[1] < GATHER_MIN_K:  # a short GEMM row costs less than the detour
        return torch.mm(pi, table, out=out)
    top, index = pi.max(-1)
    mixed = (top != 1).nonzero()[:, 0]
    if 2 * len(mixed) > len(pi):
        return torch.mm(pi, table, out=out)
    out = torch.index_select(table, 0, index, out=out)
    if len(mixed):
        out.index_copy_(0, mixed, pi[mixed] @ table)
    return out


def _cat(parts: list[Tensor]) -> Tensor:
    """Concatenate row chunks without copying the common single-chunk case."""
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class TweedieKernel(TweedieLogits):
    """Pre-rotated parameters of one mixture and the exact Tweedie computations on them."""

    def __init__(self, log_weights: Tensor, means: Tensor, cov: Covariance,
                 max_elements: int = DEFAULT_MAX_ELEMENTS):
        self.log_w = log_weights
        self.means = means
        self.cov = cov
        self.max_elements = max_elements
        self.dim = means.shape[1]
        if isinstance(cov, CoordinateCovariance):
            self.rot_means = cov.rotate(means)  # m̃_k = Qᵀ m_k
            self.stacked = None
        else:
            assert isinstance(cov, ComponentCovariance)
            self.stacked = cov.stacked_basis()  # (d, K d)
            self.rot_means = torch.einsum("kd,kde->ke", means, cov.basis)  # U_kᵀ m_k
        # (K,), in blocks of NORM_BLOCK elements: no K×d temporary (3.3 GB at the image track's size)
        rows = max(1, NORM_BLOCK // max(self.dim, 1))
        self.rot_means_sqnorm = _cat([c.square().sum(-1) for c in self.rot_means.split(rows)])
        self.equal_variances = cov.lam.shape[1] == 1 and cov.equal_eigenvalues()
        self.shared_diagonal = cov.lam.shape[1] > 1 and cov.lam.shape[0] > 1 and cov.equal_eigenvalues()
        self.refine_top = REFINE_TOP
        # The float32 screening GEMM may run on tensor cores (TF32): the refinement recomputes the
        # leading logits in full float32, and the rest only rank candidates (see _refine).
        self.screen = "tf32" if means.is_cuda and means.dtype == torch.float32 else "exact"
        # Below float64 on a card whose float64 GEMMs run at float32 speed, isotropic logits are
        # computed in float64 instead: no cancellation to refine, at no extra GEMM time (see _logits_wide)
        wide = means.dtype != torch.float64 and cov.lam.shape[1] == 1 and fast_float64(means.device)
        self.logits_dtype = torch.float64 if wide else means.dtype
        self._rel_means: Tensor | None = None  # m̃_k − m̃_K, k < K (see _mean_equal)
        self._wide: tuple[Tensor, Tensor, Tensor] | None = None  # float64 terms of _logits_wide

    # -- spectral coefficients -------------------------------------------------------------
    def _coeffs(self, a: Tensor, s: Tensor):
        """``C``'s eigenvalues, ``f`` and ``p`` (module doc), kept for the last ``(a, s)``: they are
        ``K×d`` for diagonal covariances, and callers evaluate row chunks with the same ``(a, s)``."""
        key = None if a.requires_grad or s.requires_grad else (float(a), float(s))
        memo = getattr(self, "_coeff_memo", None)
        if key is not None and memo is not None and memo[0] == key:
            return memo[1]
        lam = self.cov.lam[:1] if self.shared_diagonal else self.cov.lam
        c = a**2 * lam + s**2
        out = c, a * lam / c, lam * s**2 / c
        if self.shared_diagonal:  # one diagonal for every component: computed once, seen as K rows
            out = tuple(v.expand(self.cov.lam.shape) for v in out)
        self._coeff_memo = (key, out)
        return out

    def _per_coeffs(self, name: str, c: Tensor, build):
        """``build()`` kept while the coefficients ``c`` (one object per ``(a, s)``, see
        :meth:`_coeffs`) stay the same: ``K×d`` terms that row chunks and repeated calls share."""
        memos = self.__dict__.setdefault("_memos", {})
        hit = memos.get(name)
        if hit is not None and hit[0] is c:
            return hit[1]
        value = build()
        memos[name] = (c, value)
        return value

    def _row_chunk(self, n: int) -> int:
        k = self.log_w.shape[0]
        per_row = k * (self.dim if self.stacked is not None else 1)  # (rows, K, d) only with per-component bases
        refines = (self.log_w.dtype != torch.float64 and self.stacked is None and self.cov.lam.shape[1] == 1
                   and self.refine_top < k)
        if self.logits_dtype != self.log_w.dtype:  # the rows' float64 copy
            per_row = max(per_row, self.dim)
        elif refines:  # the float32 refinement gathers (rows, top, d) blocks
            per_row = max(per_row, self.refine_top * self.dim)
        return max(1, min(n, self.max_elements // max(per_row, 1)))

    # -- logits ----------------------------------------------------------------------------
    def logits(self, x: Tensor, alpha, sigma) -> Tensor:
        """``log w_k + log N(x; a m_k, C_k)``, shape (N, K)."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, _, _ = self._coeffs(a, s)
        out = []
        for xc in x.split(self._row_chunk(x.shape[0])):
            if self.stacked is None:
                out.append(self._logits_coord(self.cov.rotate(xc), a, c))
            else:
                out.append(self._logits_full(self._z_full(xc, a), c))
        return _cat(out)

    # -- Tweedie mean ----------------------------------------------------------------------
    def _equal_terms(self, a: Tensor, c: Tensor, f: Tensor) -> tuple:
        """Equal isotropic variances, once per ``(a, s)``: the logits' bias without ``d log c``,
        their scale ``a/c``, ``κ m̃``, ``f`` and the bias less the last component's."""
        def build():
            inv = 1.0 / c[0, 0]
            bias = self.log_w - 0.5 * a**2 * inv * self.rot_means_sqnorm
            return bias, float(a * inv), (1 - a * f[0, 0]) * self.rot_means, float(f[0, 0]), bias[:-1] - bias[-1]

        return self._per_coeffs("equal", c, build)

    def _mean_equal(self, z: Tensor, a: Tensor, c: Tensor, f: Tensor, need_logp: bool,
                    out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Equal isotropic variances without refinement (finite-sample priors, the grid).

        ``μ_k = κ m̃_k + f z`` with one ``κ = 1 − a f`` and one ``f``, so ``E = f z + κ Σ π_k m̃_k``:
        two GEMMs and one pass over ``z``. The logits are one ``N×K`` GEMM (``z m̃ᵀ`` is faster than
        ``m̃ zᵀ`` at small K). Without ``need_logp`` and for ``K ≤ RELATIVE_MAX_K`` they are taken
        less the last component's, ``z·(m̃_k − m̃_K)``: responsibilities need only differences, and
        ``K − 1`` columns can spare the GEMM a whole SIMD register block (K = 25 on AVX-512). The
        second GEMM (or, for one-component rows, a gather: :func:`_weighted_rows`) writes ``E``
        and ``f z`` is added in place (a BLAS ``beta`` would first copy ``z`` into the output).
        The bias, ``a/c`` and ``κ m̃`` are kept per ``(a, s)``.
        """
        k = self.rot_means.shape[0]
        relative = not need_logp and 1 < k <= RELATIVE_MAX_K
        bias, scale, mbar, f0, rel_bias = self._equal_terms(a, c, f)
        if self.logits_dtype != z.dtype:  # float32 rows, logits and weights in float64
            lg = self._logits_wide(z, a, c, with_norm=need_logp)
            e = _weighted_rows(_softmax(lg).to(z.dtype), mbar, out).add_(z, alpha=f0)
            return e, (logsumexp(lg, overwrite=True) if need_logp else lg[:, 0]).to(z.dtype)
        if relative:  # logits less the last component's: K − 1 GEMM columns, the last logit 0
            if self._rel_means is None:  # independent of (a, s): once
                self._rel_means = self.rot_means[:-1] - self.rot_means[-1]
            lg = torch.nn.functional.pad(torch.addmm(rel_bias, z, self._rel_means.T, alpha=scale), (0, 1))
        else:
            lg = torch.addmm(bias, z, self.rot_means.T, alpha=scale)  # (N, K), up to a per-row constant
        pi = _softmax(lg)
        e = _weighted_rows(pi, mbar, out).add_(z, alpha=f0)
        if not need_logp:
            return e, lg[:, 0]
        norm = (torch.linalg.vector_norm(z, dim=-1).square() / c[0, 0]
                + self.dim * (c[0, 0].log() + math.log(2 * math.pi)))
        return e, logsumexp(lg, overwrite=True) - 0.5 * norm  # the logits are not needed after

    def _mean_coord(self, x: Tensor, a: Tensor, c: Tensor, f: Tensor, need_logp: bool,
                    out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The mean of one row chunk; ``out``, where given, may receive it (the caller checks)."""
        z = self.cov.rotate(x)
        m = self.rot_means
        if self.equal_variances and (self.logits_dtype == torch.float64 or self.refine_top >= m.shape[0]):
            e, lp = self._mean_equal(z, a, c, f, need_logp, out=out if self.cov.basis is None else None)
            return self.cov.unrotate(e), lp
        lg = self._logits_coord(z, a, c, with_norm=need_logp)
        pi = _softmax(lg)
        lp = logsumexp(lg, -1, overwrite=True) if need_logp else lg[:, 0]  # lg: only π is used after
        # Σ π_k ((1 − a f_k) m̃_k + f_k z): the GEMM accumulates into the rescaled z (BLAS beta = 1)
        if self.equal_variances:  # refined float32 logits, then the same mean as _mean_equal's
            _, _, mbar, f0, _ = self._equal_terms(a, c, f)
            e = _weighted_rows(pi, mbar, out if self.cov.basis is None else None).add_(z, alpha=f0)
        elif self.shared_diagonal:  # Σ π_k f_k = f: one diagonal
            e = torch.addmm(z * f[0], pi, self._per_coeffs("mbar", c, lambda: (1 - a * f) * m))
        elif f.shape[1] == 1:
            e = torch.addmm(z * (pi @ f), pi * (1 - a * f[:, 0]), m)
        else:
            e = torch.addmm(z * (pi @ f), pi, self._per_coeffs("mbar", c, lambda: (1 - a * f) * m))
        return self.cov.unrotate(e), lp

    def _mean_full(self, x: Tensor, a: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Whitened rotation ``y'_k = c_k^{-1/2} U_kᵀ x`` by one GEMM; offsets by small GEMMs.

        ``μ_k = m_k + U_k (h_k ⊙ (y'_k − b'_k))`` with ``h_k = f_k c_k^{1/2}``: ``h`` is folded
        into the second GEMM's bases ``U_k diag(h_k)``, so the ``(N, K d)`` rows are only weighted
        by ``π`` in place. Every ``K×d`` and ``d×K d`` term is built once per ``(a, s)``.
        """
        k, d, n = self.log_w.shape[0], self.dim, x.shape[0]

        def build():
            u, lam = self.cov.basis, self.cov.lam
            rc = c.rsqrt()  # (K, d)
            whiten = (u * rc[:, None, :]).permute(1, 0, 2).reshape(d, k * d)  # U_k diag(c^{-1/2})
            b = a * self.rot_means * rc  # b'_k = c^{-1/2} U_kᵀ (a m_k)
            cross = torch.einsum("kde,ke->dk", u, b * rc)  # x ↦ y'_k · b'_k
            bias = self.log_w - 0.5 * (c.log().sum(-1) + d * math.log(2 * math.pi))
            h = a * lam * rc  # f_k c_k^{1/2}
            offset = self.means - torch.einsum("kde,ke->kd", u, h * b)
            lift = (u * h[:, None, :]).permute(1, 0, 2).reshape(d, k * d)  # U_k diag(h_k)
            return whiten, cross, b.square().sum(-1), bias, offset, lift

        whiten, cross, b_sq, bias, offset, lift = self._per_coeffs("full", c, build)
        yp = (x @ whiten).view(n, k, d)
        maha = torch.linalg.vector_norm(yp, dim=-1).square() - 2 * (x @ cross) + b_sq
        lg = bias - 0.5 * maha.clamp_min(0)
        lp = logsumexp(lg, -1)
        pi = _softmax(lg)
        grad = yp.requires_grad or torch.is_grad_enabled() and x.requires_grad
        w = yp * pi[:, :, None] if grad else yp.mul_(pi[:, :, None])
        return torch.addmm(pi @ offset, w.view(n, k * d), lift.T), lp

    def mean(self, x: Tensor, alpha, sigma, need_logp: bool = True) -> tuple[Tensor, Tensor]:
        """``E[x0|x_t]`` (N, d) and ``log p_t(x_t)`` (N,; meaningless if ``need_logp`` is False)."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, f, _ = self._coeffs(a, s)
        step = self._row_chunk(x.shape[0])
        if step >= x.shape[0]:
            return self._mean_coord(x, a, c, f, need_logp) if self.stacked is None else self._mean_full(x, a, c)
        # several chunks: each is written into its rows of one output (no concatenation), except under autograd
        grad = torch.is_grad_enabled() and any(v.requires_grad for v in (x, a, s))
        means, logps = [], []
        out = None if grad else torch.empty_like(x)
        for i, xc in enumerate(x.split(step)):
            rows = None if out is None else out[i * step:i * step + len(xc)]
            if self.stacked is None:
                e, lp = self._mean_coord(xc, a, c, f, need_logp, out=rows)
            else:
                e, lp = self._mean_full(xc, a, c)
            if rows is None:
                means.append(e)
            elif e is not rows:
                rows.copy_(e)
            logps.append(lp)
        return (_cat(means) if out is None else out), _cat(logps)

    # -- forward/backward pair for autograd ----------------------------------------------
    def mean_with_state(self, x: Tensor, alpha, sigma) -> tuple[Tensor, tuple]:
        """``E[x0|x_t]`` and what :meth:`cov_vec_from_state` needs to apply the Jacobian.

        For equal isotropic variances (finite-sample priors, the grid benchmark) the state keeps
        the responsibilities, so the backward pass costs two GEMMs: with ``μ_k = κ m_k + f z``,
        ``Cov g = p g + κ² (π ⊙ g mᵀ) m − ē (ē·g)`` where ``ē = E − f z``.
        """
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        if not (self.equal_variances and self.stacked is None and self.cov.basis is None
                and self._row_chunk(x.shape[0]) >= x.shape[0]):
            return self.mean(x, a, s, need_logp=False)[0], ("generic", x, a, s)
        c, f, p = self._coeffs(a, s)
        lg = self._logits_coord(x, a, c, with_norm=False)
        pi = _softmax(lg)
        f0, p0 = float(f[0, 0]), float(p[0, 0])
        kappa = 1 - float(a) * f0
        e = torch.addmm(x, pi, self.means, beta=f0, alpha=kappa)
        return e, ("equal", pi, e - f0 * x, kappa, p0)

    def cov_vec_from_state(self, state: tuple, g: Tensor) -> Tensor:
        """``Cov[x0|x_t] g`` from the state of :meth:`mean_with_state`."""
        if state[0] == "generic":
            _, x, a, s = state
            return self.cov_vec(x, g, a, s)
        _, pi, ebar, kappa, p0 = state
        h = torch.addmm(g, pi * (g @ self.means.T), self.means, beta=p0, alpha=kappa**2)
        return h - ebar * (ebar * g).sum(-1, keepdim=True)

    # -- score ---------------------------------------------------------------------------
    def score(self, x: Tensor, alpha, sigma) -> Tensor:
        """``∇ log p_t(x) = Σ π_k C_k⁻¹ (a m_k − x)``, (N, d)."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, _, _ = self._coeffs(a, s)
        out = []
        if self.stacked is None:  # K×d terms: once per (a, s), not per row chunk
            pulled, inv = self._per_coeffs("score", c, lambda: (a * self.rot_means / c, 1.0 / c))
        for xc in x.split(self._row_chunk(x.shape[0])):
            if self.stacked is None:
                z = self.cov.rotate(xc)
                pi = _softmax(self._logits_coord(z, a, c))
                out.append(self.cov.unrotate(pi @ pulled - z * (pi @ inv)))
            else:
                z = self._z_full(xc, a)
                pi = _softmax(self._logits_full(z, c))
                out.append(-((z / c) * pi[:, :, None]).view(xc.shape[0], -1) @ self.stacked.T)
        return _cat(out)

    # -- Tweedie covariance applied to vectors ---------------------------------------------
    def cov_vec(self, x: Tensor, g: Tensor, alpha, sigma) -> Tensor:
        """``Cov[x0|x_t] g`` row by row, (N, d): the denoiser's Jacobian is ``(a/s²) Cov``."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, f, p = self._coeffs(a, s)
        out = []
        step = self._row_chunk(x.shape[0])
        # μ̃_k = mbar_k + f_k ⊙ z; K×d, once per (a, s)
        mbar = self._per_coeffs("mbar", c, lambda: (1 - a * f) * self.rot_means) if self.stacked is None else None
        for xc, gc in zip(x.split(step), g.split(step)):
            if self.stacked is None:
                z, gz = self.cov.rotate(xc), self.cov.rotate(gc)
                lg = self._logits_coord(z, a, c)
                pi = _softmax(lg)
                if self.shared_diagonal:  # one f and p for all components: Σ π_k f_k = f
                    f0, p0 = f[0], p[0]
                    dots = gz @ mbar.T + ((z * gz) @ f0)[:, None]
                    e = pi @ mbar + z * f0
                    pc = pi * dots
                    res = gz * p0 + pc @ mbar + z * pc.sum(-1, keepdim=True) * f0
                else:
                    dots = (gz @ mbar.T + (z * gz) @ f.T if f.shape[1] > 1
                            else gz @ mbar.T + (z * gz).sum(-1, keepdim=True) * f.T)
                    e = pi @ mbar + z * (pi @ f)
                    pc = pi * dots
                    res = gz * (pi @ p) + pc @ mbar + z * (pc @ f)
                res = res - e * (e * gz).sum(-1, keepdim=True)
                out.append(self.cov.unrotate(res))
            else:
                z = self._z_full(xc, a)
                pi = _softmax(self._logits_full(z, c))
                gz = (gc @ self.stacked).view(xc.shape[0], -1, self.dim)
                fz = z * f
                dots = gc @ self.means.T + (fz * gz).sum(-1)  # μ_k · g
                e = pi @ self.means + (fz * pi[:, :, None]).view(xc.shape[0], -1) @ self.stacked.T
                pc = pi * dots
                w = (gz * p).mul_(pi[:, :, None]).add_(fz.mul_(pc[:, :, None]))
                res = pc @ self.means + w.view(xc.shape[0], -1) @ self.stacked.T
                out.append(res - e * (e * gc).sum(-1, keepdim=True))
        return _cat(out)

    def cov_quadratic(self, x: Tensor, u: Tensor, alpha, sigma) -> Tensor:
        """``u_iᵀ Cov[x0|x_t] u_i`` per row for the columns of ``u`` (d, k): (N, k).

        With one ``f`` and ``p`` for all components (equal isotropic variances, or one shared
        diagonal), ``μ_k·u = m̄_k·u + f (z·u)`` and the second term is the same for every k, so
        ``uᵀ Cov u = uᵀ P u + Var_π(m̄_k·u)``: two small GEMMs after the responsibilities, shared
        by all k directions. Other covariances apply :meth:`cov_vec` per direction.
        """
        if self.stacked is not None or not (self.equal_variances or self.shared_diagonal):
            return torch.stack([(self.cov_vec(x, u[:, i].expand_as(x), alpha, sigma) * u[:, i]).sum(-1)
                                for i in range(u.shape[1])], -1)
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, f, p = self._coeffs(a, s)
        ur = self.cov.rotate(u.T).T  # (d, k) in the eigenbasis
        proj = self._per_coeffs("mbar", c, lambda: (1 - a * f) * self.rot_means) @ ur  # m̄_k·u, (K, k)
        quad_p = (ur.square() * p[0][:, None]).sum(0)  # uᵀ P u, (k,)
        out = []
        for xc in x.split(self._row_chunk(x.shape[0])):
            pi = _softmax(self._logits_coord(self.cov.rotate(xc), a, c))
            mean = pi @ proj
            out.append(quad_p + pi @ proj.square() - mean.square())
        return _cat(out)

    # -- exact draws of x0 given x_t ------------------------------------------------------
    def sample(self, x: Tensor, alpha, sigma, generator: torch.Generator | None) -> Tensor:
        """One exact draw of ``x0 ~ p(x0 | x_t)`` per row: ``k ~ π(x_t)``, then ``N(μ_k, P_k)``."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, f, p = self._coeffs(a, s)
        out = []
        for xc in x.split(self._row_chunk(x.shape[0])):
            if self.stacked is None:
                z = self.cov.rotate(xc)
                pi = _softmax(self._logits_coord(z, a, c))
                k = torch.multinomial(pi, 1, generator=generator)[:, 0]
                eps = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
                mu = (1 - a * f[k]) * self.rot_means[k] + f[k] * z
                out.append(self.cov.unrotate(mu + p[k].sqrt() * eps))
            else:
                z = self._z_full(xc, a)
                pi = _softmax(self._logits_full(z, c))
                k = torch.multinomial(pi, 1, generator=generator)[:, 0]
                eps = torch.randn(xc.shape, generator=generator, device=xc.device, dtype=xc.dtype)
                zk = z[torch.arange(len(k), device=k.device), k]
                u = self.cov.basis[k]
                out.append(self.means[k] + torch.einsum("nij,nj->ni", u, f[k] * zk + p[k].sqrt() * eps))
        return _cat(out)

    # -- per-component quantities (small problems, tests, exact likelihoods) ---------------
    def components(self, x: Tensor, alpha, sigma) -> tuple[Tensor, Tensor, Tensor]:
        """``(π (N, K), μ (N, K, d), p (K, d) eigenvalues of P_k)``."""
        a, s = _as_scalar(alpha, x), _as_scalar(sigma, x)
        c, f, p = self._coeffs(a, s)
        if self.stacked is None:
            z = self.cov.rotate(x)
            pi = _softmax(self._logits_coord(z, a, c))
            mu = (1 - a * f) * self.rot_means + f[None] * z[:, None, :]
            mu = self.cov.unrotate(mu)
        else:
            z = self._z_full(x, a)
            pi = _softmax(self._logits_full(z, c))
            mu = self.means + torch.einsum("kij,nkj->nki", self.cov.basis, z * f)
        return pi, mu, p.expand(-1, self.dim)
