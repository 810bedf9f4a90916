"""Precision below float64: which path float32 rows take to exact-enough isotropic logits.

The isotropic logits ``log w_k − ‖z − a m_k‖² / 2c + …`` are one GEMM through the expansion
``‖z‖² − 2a z·m_k + a²‖m_k‖²``, whose cancellation costs ``O(d ε ‖z‖‖m‖ / c)``: harmless in
float64, not in float32 at small noise. :class:`samplerlab.core.tweedie.TweedieKernel` takes one of
two paths for float32 rows:

* on cards whose float64 GEMMs run at half or full float32 rate (:func:`fast_float64`) the
  logits are computed in float64;
* elsewhere they are screened with one float32 GEMM (on CUDA on TF32 tensor cores, :func:`tf32`)
  and the leading ones recomputed in difference form; :func:`round_tf32` emulates the tensor
  cores' operand rounding off CUDA, so that path's accuracy is testable on any machine.

Example:
    >>> import torch
    >>> fast_float64("cpu"), round_tf32(torch.tensor([1 + 2**-12])).item()
    (False, 1.0)
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

__all__ = ["FAST_FLOAT64", "fast_float64", "tf32", "round_tf32"]

# compute capabilities whose float64 GEMMs run at half or full float32 rate (P100, V100, A100,
# H100/H200, B200); the others (consumer and inference cards) run float64 at 1/32 to 1/64 of it
FAST_FLOAT64 = frozenset({(6, 0), (7, 0), (8, 0), (9, 0), (10, 0)})


def fast_float64(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies float64 matrices about as fast as float32 ones (the float32
    isotropic logits are then computed in float64, see the module doc).

    >>> fast_float64("cpu")
    False
    """
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) in FAST_FLOAT64


@contextlib.contextmanager
def tf32(on: bool, device: torch.device):
    """Let CUDA float32 GEMMs use TF32 tensor cores inside the block (the setting is restored)."""
    if not (on and device.type == "cuda"):
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def round_tf32(t: Tensor) -> Tensor:
    """``t`` rounded to TF32 (10 mantissa bits, nearest), as tensor cores read float32 operands:
    off CUDA this emulates the screening GEMM's input rounding, so its accuracy is testable anywhere."""
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)
