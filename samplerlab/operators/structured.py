"""Image-structured measurement operators on 1-D or 2-D signals flattened row-major.

* ``Subsample(shape, factor)`` — super-resolution by average pooling of ``factor`` blocks, with a
  closed-form SVD (orthogonal rows).
* ``Blur(shape, kernel, boundary)`` — convolution with an odd-sized kernel, circular or zero
  boundary; ``Blur.gaussian`` builds a normalised Gaussian kernel. The SVD is the dense fallback.

Both are :class:`~samplerlab.operators.linear.LinearOperator` subclasses; the generic operators
(``Identity``, ``Dense``, ``Mask``) and the SVD machinery are in :mod:`samplerlab.operators.linear`.
"""

from __future__ import annotations

import math
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor

from samplerlab.operators.linear import SVD, LinearOperator, positive_int

__all__ = ["Subsample", "Blur"]


def _signal_shape(name: str, shape) -> tuple[int, ...]:
    """An int ``n`` (1-D signal) or a tuple ``(H, W)`` (2-D, flattened row-major)."""
    if isinstance(shape, Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) not in (1, 2):
        raise ValueError(f"{name}: shape must be an int or a tuple (H, W), got {shape!r}")
    return tuple(positive_int(name, "shape", s) for s in shape)


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
        self.factor = tuple(positive_int("Subsample", "factor", v) for v in f)
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
        size = positive_int("Blur", "size", size)
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
