"""``svd(full=True)`` on every operator: orthonormal completed bases whose first ``r`` columns are
the thin SVD's, reproducing ``A``; closed forms (identity, mask) kept; float32 operators too."""

from __future__ import annotations

import pytest
import torch

from samplerlab.operators import Blur, Dense, Identity, Mask, Subsample
from samplerlab.operators.images import box_inpainting, gaussian_blur, random_inpainting, superresolution
from samplerlab.operators.medical import ParallelBeamProjection, UndersampledFourier

G = torch.Generator().manual_seed(0)
OPERATORS = {
    "identity": Identity(4),
    "dense_wide": Dense(torch.randn(3, 5, generator=G, dtype=torch.float64)),
    "dense_tall": Dense(torch.randn(6, 3, generator=G, dtype=torch.float64)),
    "dense_rank_deficient": Dense([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]),
    "mask": Mask(6, [4, 1, 2]),
    "subsample_1d": Subsample(8, 2),
    "subsample_2d": Subsample((4, 4), 2),
    "blur_circular": Blur.gaussian(7, 1.0),
    "blur_zero_2d": Blur.gaussian((4, 4), 0.8, boundary="zero"),
    "box_inpainting": box_inpainting((5, 5), 1, 1, 2, 3),
    "random_inpainting": random_inpainting((4, 4), 0.5, generator=torch.Generator().manual_seed(1)),
    "superresolution": superresolution((4, 4), 2),
    "gaussian_blur": gaussian_blur((4, 4), 1.0),
    "mri": UndersampledFourier((8, 8), acceleration=2, centre=0.4, pattern="equispaced"),
    "ct": ParallelBeamProjection((6, 6), 3),
}


@pytest.mark.parametrize("op", list(OPERATORS.values()), ids=list(OPERATORS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_full_svd_completes_the_thin_one(op, dtype):
    op = op.to(dtype=dtype)
    tol = dict(rtol=0, atol=1e-10 if dtype == torch.float64 else 2e-5)
    U, S, V = op.svd(full=True)
    thin = op.svd()
    m, d = op.shape
    r = S.numel()
    assert U.shape == (m, m) and V.shape == (d, d) and U.dtype == V.dtype == dtype
    assert torch.equal(S, thin.S) and torch.equal(U[:, :r], thin.U) and torch.equal(V[:, :r], thin.V)
    torch.testing.assert_close(U.T @ U, torch.eye(m, dtype=dtype), **tol)
    torch.testing.assert_close(V.T @ V, torch.eye(d, dtype=dtype), **tol)
    torch.testing.assert_close((U[:, :r] * S) @ V[:, :r].T, op.matrix(), **tol)
    torch.testing.assert_close(op.matrix() @ V[:, r:], torch.zeros(m, d - r, dtype=dtype), **tol)  # null space
    assert op.svd(full=True) is op.svd(full=True)  # cached


def test_mask_completion_is_the_closed_form_permutation():
    U, S, V = Mask(5, [3, 1]).svd(full=True)
    assert (torch.equal(V, torch.eye(5, dtype=torch.float64)[:, [1, 3, 0, 2, 4]])
            and torch.equal(U, torch.eye(2).double()))


def test_full_must_be_a_bool():
    with pytest.raises(ValueError, match=r"Identity: svd\(full=...\) expects a bool, got 'yes'"):
        Identity(2).svd(full="yes")
