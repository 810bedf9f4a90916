"""Component logits of :class:`~samplerlab.core.tweedie.TweedieKernel`: ``log w_k + log N(x; a m_k, C_k)``.

:class:`TweedieLogits` is the kernel's base class and holds the logits of both families:
coordinate covariances (isotropic or diagonal eigenvalues, from rotated rows ``z``) and
per-component bases (full covariances). Below float64 it also holds the precision strategy of the
isotropic GEMM expansion: the refinement of the leading logits in difference form, the TF32
screening GEMM and its redo of rows with mass outside the refined candidates, and the float64
widening on cards with fast float64 GEMMs. The kernel's ``__init__`` sets the attributes read here
(``log_w``, ``rot_means``, ``rot_means_sqnorm``, ``dim``, ``refine_top``, ``screen``,
``logits_dtype``, ``equal_variances``, ``shared_diagonal``, ``stacked``, ``_wide``) and provides
``_per_coeffs``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from samplerlab.core.logspace import logsumexp
from samplerlab.core.precision import round_tf32, tf32

__all__ = ["TweedieLogits", "REFINE_TOP", "SCREEN_MASS"]

REFINE_TOP = 32  # logits recomputed in difference form per row below float64
SCREEN_MASS = 1e-6  # TF32-screened rows with more mass outside the refined candidates are redone


class TweedieLogits:
    """The component logits of :class:`~samplerlab.core.tweedie.TweedieKernel` (its base class)."""

    def _logits_coord(self, z: Tensor, a: Tensor, c: Tensor, with_norm: bool = True, screen: bool = True) -> Tensor:
        """``log w_k + log N(x; a m_k, C_k)`` from rotated rows ``z``.

        ``log w_k − ½ (a² m̃ᵀC⁻¹m̃ + log det C + d log 2π) + a zᵀC⁻¹m̃`` is one GEMM with a bias;
        ``− ½ zᵀC⁻¹z`` is added unless ``with_norm`` is False, allowed only when every ``c_k`` is
        equal (it then cancels in the responsibilities). Below float64 the leading candidates are
        recomputed in difference form (see :meth:`_refine`); with TF32 screening, rows that keep
        more than ``SCREEN_MASS`` of their mass outside those candidates are recomputed unscreened.
        """
        m = self.rot_means
        if self.logits_dtype != z.dtype:
            return self._logits_wide(z, a, c, with_norm).to(z.dtype)
        refine = z.dtype != torch.float64 and c.shape[1] == 1 and self.refine_top < m.shape[0]
        if c.shape[1] == 1:  # isotropic: per-component scalars scale the N×K result, not the K×d means
            screened = screen and refine and self.screen == "tf32"
            lg = self._isotropic_logits(z, m, self.rot_means_sqnorm, self.log_w, a, c, with_norm or refine, screened)
        else:
            inv, bias, scaled = self._diagonal_terms(a, c)
            if scaled is None:  # one diagonal for all components: −½ zᵀC⁻¹z is a per-row number
                lg = torch.addmm(bias, z * inv[0], m.T, alpha=float(a))
                return lg.sub_(0.5 * (z.square() @ inv[0])[:, None])  # in place: lg is this GEMM's own output
            lg = torch.addmm(bias, z, scaled).sub_(0.5 * (z.square() @ inv.T))
        if not refine:
            return lg
        lg, top = self._refine(lg, z, a, c)
        if screened:
            # mass outside the refined candidates carries the screening GEMM's TF32 error: where it
            # is not negligible (spread-out responsibilities, large noise) the row is redone in float32
            outside = 1 - (torch.logsumexp(top, -1) - logsumexp(lg, -1)).exp()
            redo = outside > SCREEN_MASS
            if redo.any():
                lg[redo] = self._logits_coord(z[redo], a, c, with_norm, screen=False)
        return lg

    def _diagonal_terms(self, a: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``C⁻¹``, the logits' bias and ``(a C⁻¹ m̃)ᵀ`` for diagonal eigenvalues (``None`` when every
        component has the same ones), built once per ``(a, s)`` (see :meth:`_per_coeffs`)."""
        def build():
            if self.shared_diagonal:
                inv = 1.0 / c[:1]
                quad = self.rot_means.square() @ inv[0]
                bias = self.log_w - 0.5 * (a**2 * quad + c[0].log().sum() + self.dim * math.log(2 * math.pi))
                return inv, bias, None
            inv = 1.0 / c
            bias = self.log_w - 0.5 * (a**2 * (self.rot_means.square() * inv).sum(-1) + c.log().sum(-1)
                                       + self.dim * math.log(2 * math.pi))
            return inv, bias, (a * self.rot_means * inv).T

        return self._per_coeffs("logits", c, build)

    def _isotropic_logits(self, z: Tensor, m: Tensor, m_sq: Tensor, log_w: Tensor, a: Tensor, c: Tensor,
                          with_norm: bool, screened: bool = False) -> Tensor:
        """``log w_k − ½ (a² ‖m̃_k‖² / c_k + d log 2π c_k) + a z·m̃_k / c_k`` as one GEMM with a bias,
        less ``½ ‖z‖² / c_k`` where ``with_norm`` (or the variances differ), in ``z``'s precision;
        ``screened`` lets the GEMM run on TF32 tensor cores (emulated off CUDA)."""
        inv = 1.0 / c[:, 0]
        bias = log_w - 0.5 * (a**2 * m_sq * inv + self.dim * (c[:, 0].log() + math.log(2 * math.pi)))
        with tf32(screened, z.device):
            zs, ms = (round_tf32(z), round_tf32(m)) if screened and z.device.type != "cuda" else (z, m)
            lg = (torch.addmm(bias, zs, ms.T, alpha=float(a * inv[0])) if self.equal_variances
                  else torch.addcmul(bias, zs @ ms.T, a * inv))
        if with_norm or not self.equal_variances:
            lg.sub_(0.5 * torch.linalg.vector_norm(z, dim=-1, keepdim=True).square() * inv)
        return lg

    def _logits_wide(self, z: Tensor, a: Tensor, c: Tensor, with_norm: bool) -> Tensor:
        """Isotropic logits of float32 rows computed in float64 (``logits_dtype``), as float64.

        The GEMM expansion's cancellation (see :meth:`_refine`) then costs ``O(d ε ‖z‖‖m‖ / c)``
        with float64's ε, below float32's own rounding of the result, so nothing is refined. On
        cards with fast float64 GEMMs the float64 GEMM costs what the float32 one does, against
        the refinement's ``(rows, top, d)`` gathers. The rows are widened one chunk at a time.
        """
        if self._wide is None:  # float64 means, their norms and the weights: once
            m = self.rot_means.double()
            self._wide = m, m.square().sum(-1), self.log_w.double()
        return self._isotropic_logits(z.double(), *self._wide, a.double(), c.double(), with_norm)

    def _refine(self, lg: Tensor, z: Tensor, a: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Precision strategy for float32 (isotropic components, large K).

        The GEMM expansion ``‖z‖² − 2a z·m + a²‖m‖²`` cancels catastrophically when ``z`` is near
        ``a m_k`` and the norms are large; its absolute error is ``O(d ε ‖z‖‖m‖ / c)``. Only the
        largest logits matter to the log-sum-exp, so the ``refine_top`` largest per row are
        recomputed from the difference ``z − a m_k`` (relative error ``O(ε)``), in ``(rows, top, d)``
        chunks that the row chunking keeps within ``max_elements``.
        """
        idx = lg.topk(self.refine_top, dim=-1).indices  # (n, top)
        diff = z[:, None, :] - a * self.rot_means[idx]
        ck = c[idx, 0]
        exact = self.log_w[idx] - 0.5 * (diff.square().sum(-1) / ck
                                         + self.dim * (ck.log() + math.log(2 * math.pi)))
        return lg.scatter(1, idx, exact), exact

    def _z_full(self, x: Tensor, a: Tensor) -> Tensor:
        """``U_kᵀ (x − a m_k)`` for all k: one GEMM, shape (N, K, d)."""
        k = self.log_w.shape[0]
        return (x @ self.stacked).view(x.shape[0], k, self.dim) - a * self.rot_means

    def _logits_full(self, z: Tensor, c: Tensor) -> Tensor:
        maha = torch.einsum("nkd,nkd,kd->nk", z, z, 1.0 / c)
        return self.log_w - 0.5 * (maha + c.log().sum(-1) + self.dim * math.log(2 * math.pi))
