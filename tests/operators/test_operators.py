"""Tests for samplerlab.operators: adjointness, SVD, dense agreement, pinv, dtypes, validation."""

from __future__ import annotations

import math

import pytest
import torch

from samplerlab.operators import SVD, Blur, Dense, Identity, LinearOperator, Mask, Subsample

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int = 0, dtype=F64) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


def _rank_deficient() -> Dense:
    return Dense(_randn(6, 3, seed=1) @ _randn(3, 9, seed=2))


OPERATORS = {
    "identity": lambda: Identity(7),
    "dense_wide": lambda: Dense(_randn(4, 9, seed=3)),
    "dense_tall": lambda: Dense(_randn(9, 5, seed=4)),
    "dense_rank_deficient": _rank_deficient,
    "dense_zero": lambda: Dense(torch.zeros(3, 5)),
    "mask_indices": lambda: Mask(10, [7, 0, 3, 4]),
    "mask_bool": lambda: Mask(6, torch.tensor([True, False, True, True, False, False])),
    "subsample_1d": lambda: Subsample(12, 3),
    "subsample_2d": lambda: Subsample((4, 6), 2),
    "subsample_2d_rect_factor": lambda: Subsample((4, 6), (2, 3)),
    "blur_1d_circular": lambda: Blur(11, _randn(5, seed=5), "circular"),
    "blur_1d_zero": lambda: Blur(11, _randn(5, seed=6), "zero"),
    "blur_2d_circular": lambda: Blur((5, 6), _randn(3, 5, seed=7), "circular"),
    "blur_2d_zero": lambda: Blur((5, 6), _randn(3, 3, seed=8), "zero"),
    "blur_gaussian_2d": lambda: Blur.gaussian((6, 6), 1.0, boundary="zero"),
    "blur_gaussian_1d_circular": lambda: Blur.gaussian(16, 2.0),
}
CASES = list(OPERATORS.values())
IDS = list(OPERATORS.keys())


@pytest.fixture(params=CASES, ids=IDS)
def op(request) -> LinearOperator:
    return request.param()


def test_adjointness(op):
    assert op.adjointness_test(_gen(11), n=8) < 1e-10
    assert op.adjointness_test() < 1e-10  # default generator


def test_shape_dtype_device(op):
    m, d = op.shape
    assert (m, d) == (op.out_dim, op.in_dim)
    assert op.dtype == F64 and op.device == torch.device("cpu")
    assert op.matrix().shape == (m, d) and op.matrix().dtype == F64


def test_svd_reconstructs_matrix(op):
    U, S, V = op.svd()
    m, d = op.shape
    r = S.shape[0]
    assert isinstance(op.svd(), SVD) and op.svd() is op.svd()  # cached
    assert U.shape == (m, r) and V.shape == (d, r)
    torch.testing.assert_close((U * S) @ V.T, op.matrix(), atol=1e-10, rtol=0)
    torch.testing.assert_close(U.T @ U, torch.eye(r, dtype=F64), atol=1e-10, rtol=0)
    torch.testing.assert_close(V.T @ V, torch.eye(r, dtype=F64), atol=1e-10, rtol=0)
    assert (S > 0).all()
    assert (S[:-1] >= S[1:]).all()


def test_svd_rank():
    assert _rank_deficient().svd().S.shape == (3,)
    assert Dense(torch.zeros(3, 5)).svd().S.shape == (0,)
    assert Mask(10, [1, 2]).svd().S.shape == (2,)
    # Circular blur with a kernel whose transfer function vanishes at Nyquist: one zero mode.
    assert Blur(8, torch.tensor([0.25, 0.5, 0.25])).svd().S.shape == (7,)


def test_forward_adjoint_match_matrix(op):
    m, d = op.shape
    M = op.matrix()
    x = _randn(d, seed=20)
    y = _randn(m, seed=21)
    torch.testing.assert_close(op.forward(x), M @ x, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(op(x), M @ x, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(op.adjoint(y), M.T @ y, atol=1e-12, rtol=1e-12)
    # Batched leading dimensions.
    X = _randn(2, 3, d, seed=22)
    Y = _randn(2, 3, m, seed=23)
    assert op.forward(X).shape == (2, 3, m) and op.adjoint(Y).shape == (2, 3, d)
    torch.testing.assert_close(op.forward(X), X @ M.T, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(op.adjoint(Y), Y @ M, atol=1e-12, rtol=1e-12)


def test_forward_is_differentiable(op):
    m, d = op.shape
    x = _randn(3, d, seed=30).requires_grad_(True)
    y = _randn(3, m, seed=31)
    (op(x) * y).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(y), atol=1e-12, rtol=1e-12)


def test_pinv_projects_on_row_space(op):
    U, S, V = op.svd()
    x = _randn(4, op.in_dim, seed=40)
    torch.testing.assert_close(op.pinv(op(x)), x @ V @ V.T, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(op.pinv(op(x)[0]), (x @ V @ V.T)[0], atol=1e-9, rtol=1e-9)


def test_pinv_matches_torch_pinv(op):
    y = _randn(op.out_dim, seed=41)
    expected = torch.linalg.pinv(op.matrix(), rtol=1e-10) @ y
    torch.testing.assert_close(op.pinv(y), expected, atol=1e-9, rtol=1e-9)


def test_float32(op):
    op32 = op.to(dtype=torch.float32)
    assert type(op32) is type(op) and op32.dtype == torch.float32 and op32.shape == op.shape
    assert op.dtype == F64  # original untouched
    x = _randn(2, op.in_dim, seed=50)
    torch.testing.assert_close(op32(x.float()), op(x).float(), atol=1e-5, rtol=1e-4)
    assert op32.adjointness_test(_gen(3)) < 1e-5
    U, S, V = op32.svd()
    assert U.dtype == S.dtype == V.dtype == torch.float32
    torch.testing.assert_close((U * S) @ V.T, op32.matrix(), atol=1e-5, rtol=1e-4)
    back = op32.to(dtype=F64)
    assert back.dtype == F64 and back.adjointness_test() < 1e-10


def test_closed_form_svds():
    U, S, V = Subsample((4, 4), 2).svd()
    torch.testing.assert_close(S, torch.full((4,), 0.5, dtype=F64))
    torch.testing.assert_close(U, torch.eye(4, dtype=F64))
    assert torch.equal((V[:, 0] > 0).nonzero().flatten(), torch.tensor([0, 1, 4, 5]))
    U, S, V = Mask(5, [4, 1]).svd()
    assert torch.equal(V.argmax(0), torch.tensor([1, 4]))
    U, S, V = Identity(3).svd()
    assert torch.equal(S, torch.ones(3, dtype=F64))


def test_subsample_and_mask_semantics():
    x = torch.arange(16, dtype=F64)
    torch.testing.assert_close(Subsample((4, 4), 2)(x), torch.tensor([2.5, 4.5, 10.5, 12.5], dtype=F64))
    torch.testing.assert_close(Subsample(16, 4)(x), torch.tensor([1.5, 5.5, 9.5, 13.5], dtype=F64))
    torch.testing.assert_close(Mask(16, [9, 2, 5])(x), torch.tensor([2.0, 5.0, 9.0], dtype=F64))


def _conv_matrix(shape, kernel, circular):
    """Reference: ``A[i, j] = k[i - j + c]`` built with explicit loops."""
    shape = (1, shape) if isinstance(shape, int) else shape
    kernel = kernel.reshape(1, -1) if kernel.dim() == 1 else kernel
    H, W = shape
    ch, cw = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
    A = torch.zeros(H * W, H * W, dtype=F64)
    for i in range(H):
        for j in range(W):
            for a in range(kernel.shape[0]):
                for b in range(kernel.shape[1]):
                    p, q = i - a + ch, j - b + cw
                    if circular:
                        p, q = p % H, q % W
                    elif not (0 <= p < H and 0 <= q < W):
                        continue
                    A[i * W + j, p * W + q] += kernel[a, b]
    return A


@pytest.mark.parametrize("boundary", ["circular", "zero"])
@pytest.mark.parametrize("shape,kshape", [(9, (3,)), (7, (7,)), ((4, 5), (3, 3)), ((5, 4), (1, 3))],
                         ids=["1d", "1d_full_kernel", "2d", "2d_flat_kernel"])
def test_blur_matches_explicit_convolution(shape, kshape, boundary):
    k = _randn(*kshape, seed=60)
    op = Blur(shape, k, boundary)
    torch.testing.assert_close(op.matrix(), _conv_matrix(shape, k, boundary == "circular"),
                               atol=1e-12, rtol=0)


def test_blur_gaussian_kernel():
    op = Blur.gaussian((8, 8), 1.0)
    assert op.kernel.shape == (7, 7)
    assert math.isclose(float(op.kernel.sum()), 1.0, rel_tol=1e-12)
    torch.testing.assert_close(op.kernel, op.kernel.T)
    x = torch.ones(64, dtype=F64)
    torch.testing.assert_close(op(x), x)  # normalised kernel, circular: constants preserved
    assert Blur.gaussian(5, 3.0).kernel.shape == (5,)  # capped to fit the signal
    assert Blur.gaussian(10, 1.0, size=3).kernel.shape == (3,)


@pytest.mark.parametrize("make,match", [
    (lambda: Identity(0), r"Identity: d must be a positive integer, got 0"),
    (lambda: Identity(4, dtype=torch.int64), r"Identity: dtype must be a floating-point"),
    (lambda: Dense(torch.zeros(3)), r"Dense: A must be a finite 2-D matrix, got shape \(3,\)"),
    (lambda: Dense([[1.0, float("nan")]]), r"Dense: A must be a finite 2-D matrix, got shape \(1, 2\)"),
    (lambda: Dense(torch.zeros(0, 3)), r"Dense: A must be a finite 2-D matrix, got shape \(0, 3\)"),
    (lambda: Mask(8, [1, 8]), r"Mask: keep indices must lie in \[0, 7\], got range \[1, 8\]"),
    (lambda: Mask(8, [-1, 2]), r"Mask: keep indices must lie in \[0, 7\]"),
    (lambda: Mask(8, [2, 3, 2]), r"Mask: keep indices must be unique, got duplicate 2"),
    (lambda: Mask(8, []), r"Mask: keep must select at least one index"),
    (lambda: Mask(8, [False] * 8), r"Mask: keep must select at least one index"),
    (lambda: Mask(8, [True] * 5), r"Mask: boolean keep has length 5, expected d = 8"),
    (lambda: Mask(8, [1.5]), r"Mask: keep must hold integer indices or booleans"),
    (lambda: Mask(8, [[1, 2]]), r"Mask: keep must be a 1-D"),
    (lambda: Subsample((8, 8), 3), r"Subsample: factor 3 does not divide shape \(8, 8\)"),
    (lambda: Subsample(8, 0), r"Subsample: factor must be a positive integer, got 0"),
    (lambda: Subsample((8, 8), (2, 2, 2)), r"Subsample: factor must be an int or one int per axis"),
    (lambda: Subsample((2, 2, 2), 1), r"Subsample: shape must be an int or a tuple \(H, W\)"),
    (lambda: Blur(8, torch.ones(2)), r"Blur: kernel sizes must be odd"),
    (lambda: Blur(3, torch.ones(5)), r"Blur: kernel sizes must be odd and at most shape \(3,\)"),
    (lambda: Blur((4, 4), torch.ones(3)), r"Blur: kernel must be 2-D for shape \(4, 4\)"),
    (lambda: Blur(8, torch.ones(3), "reflect"), r"Blur: boundary must be one of .*got 'reflect'"),
    (lambda: Blur(8, torch.tensor([1.0, float("inf"), 1.0])), r"Blur: kernel contains NaN or Inf"),
    (lambda: Blur.gaussian(8, -1.0), r"Blur: std must be a positive finite number"),
    (lambda: Blur.gaussian(8, 1.0, size=4), r"Blur: kernel sizes must be odd"),
], ids=lambda v: None if callable(v) else v.split(":")[0] + ":" + v.split(" ")[1])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs():
    op = Mask(8, [0, 1, 2])
    with pytest.raises(ValueError, match=r"^Mask: input has last dimension 5, expected d = 8$"):
        op.forward(torch.zeros(5, dtype=F64))
    with pytest.raises(ValueError, match=r"Mask: adjoint input has last dimension 8, expected m = 3"):
        op.adjoint(torch.zeros(2, 8, dtype=F64))
    with pytest.raises(ValueError, match=r"Mask: pinv input has last dimension 4, expected m = 3"):
        op.pinv(torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match=r"Mask: input has last dimension none"):
        op.forward(torch.tensor(1.0, dtype=F64))
    with pytest.raises(ValueError, match=r"Dense: input has dtype torch.int64, expected torch.float64"):
        Dense(torch.eye(2, dtype=F64))(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"Subsample: n must be a positive integer"):
        Subsample(4, 2).adjointness_test(n=0)
    # Array-likes are converted.
    torch.testing.assert_close(op([1.0, 2, 3, 4, 5, 6, 7, 8]), torch.tensor([1.0, 2, 3], dtype=F64))


@pytest.mark.parametrize("op", [Dense(torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)), Mask(3, [0, 2]),
                                Subsample(4, 2)], ids=["dense", "mask", "subsample"])
def test_float32_callers_get_float32_computed_in_the_operators_precision(op):
    # libraries (deepinv, diffusers) send float32: accepted, computed in float64, returned as float32
    x = torch.randn(5, op.in_dim, generator=torch.Generator().manual_seed(0))
    y = op.forward(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, op.forward(x.double()).float())
    assert op.adjoint(y).dtype == torch.float32
