"""Image degradations built on :mod:`samplerlab.operators`, keeping their structure.

Inpainting is a :class:`~samplerlab.operators.Mask` (closed-form SVD, diagonal posteriors for
isotropic priors), super-resolution a :class:`~samplerlab.operators.Subsample` (closed-form
SVD: orthogonal block averages), blur a :class:`~samplerlab.operators.Blur` (convolution).
Images are flattened row-major, ``d = H·W``; no ``d × d`` matrix is formed for masks or
pooling.

Example:
    >>> op = box_inpainting((8, 8), top=2, left=2, height=4, width=4)
    >>> op.shape
    (48, 64)
    >>> superresolution((8, 8), 2).shape
    (16, 64)
"""

from __future__ import annotations

import torch

from samplerlab.operators import Blur, Mask, Subsample

__all__ = ["box_inpainting", "random_inpainting", "superresolution", "gaussian_blur", "IMAGE_OPERATORS"]


def _hw(shape) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape: expected (H, W) with H, W >= 1, got {shape}")
    return int(shape[0]), int(shape[1])


def box_inpainting(shape, top: int, left: int, height: int, width: int, **kw) -> Mask:
    """Observe every pixel outside the box ``[top, top+height) × [left, left+width)``."""
    h, w = _hw(shape)
    if not (0 <= top and 0 <= left and height >= 1 and width >= 1 and top + height <= h and left + width <= w):
        raise ValueError(f"box: ({top}, {left}, {height}, {width}) does not fit in an image of shape {(h, w)}")
    keep = torch.ones(h, w, dtype=torch.bool)
    keep[top : top + height, left : left + width] = False
    if not keep.any():
        raise ValueError("box: covers the whole image, nothing is observed")
    return Mask(h * w, keep.flatten(), **kw)


def random_inpainting(shape, missing: float, generator: torch.Generator | None = None, **kw) -> Mask:
    """Observe a seeded random subset of pixels, a fraction ``missing`` of them hidden."""
    h, w = _hw(shape)
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing: expected a fraction in [0, 1), got {missing}")
    d = h * w
    n_keep = max(1, round(d * (1 - missing)))
    keep = torch.randperm(d, generator=generator)[:n_keep].sort().values
    return Mask(d, keep, **kw)


def superresolution(shape, factor: int, **kw) -> Subsample:
    """``factor``× super-resolution: observe ``factor × factor`` block averages."""
    return Subsample(_hw(shape), factor, **kw)


def gaussian_blur(shape, std: float, size: int | None = None, **kw) -> Blur:
    """Circular Gaussian blur with standard deviation ``std`` pixels."""
    return Blur.gaussian(_hw(shape), std, size=size, **kw)


IMAGE_OPERATORS = {
    "box_inpainting": box_inpainting,
    "random_inpainting": random_inpainting,
    "superresolution": superresolution,
    "gaussian_blur": gaussian_blur,
}
