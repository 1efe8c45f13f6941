"""Closed-form pseudo-inverses and normal solves against conjugate-gradient references."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops

SHAPE = (1, 16, 16)


def _cases() -> dict[str, ops.LinearOperator]:
    g = torch.Generator().manual_seed(0)
    return {
        "identity": ops.Identity(SHAPE),
        "inpainting": ops.Inpainting(ops.random_mask((16, 16), 0.4, generator=g), SHAPE),
        "blur": ops.Blur(ops.gaussian_kernel(0.7, 5), SHAPE),
        "zero-padded": ops.ZeroPaddedBlur(ops.gaussian_kernel(0.5, 3), SHAPE),
        "block-average": ops.BlockAverage(4, SHAPE),
        "decimation": ops.Decimation(2, SHAPE),
        "bicubic": ops.BicubicDownsampling(2, SHAPE),
        "mask-after-blur": ops.Inpainting(ops.box_mask((16, 16), 6), SHAPE) @ ops.Blur(ops.gaussian_kernel(0.7, 5), SHAPE),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_pinv_recovers_points_in_the_row_space(name: str) -> None:
    op = CASES[name]
    z = torch.randn(2, *op.out_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = op.pinv(op(op.pinv(z)))  # a point of the row space
    torch.testing.assert_close(op.pinv(op(x)), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("rho", [0.05, 1.0])
def test_solve_normal_matches_cg(name: str, rho: float) -> None:
    op = CASES[name]
    b = torch.randn(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    reference = ops.conjugate_gradient(lambda v: op.H(op(v)) + rho * v, b, max_iter=2000, tol=1e-13)
    torch.testing.assert_close(op.solve_normal(b, rho), reference, rtol=1e-6, atol=1e-8)


def test_solve_normal_per_sample_rho() -> None:
    op = CASES["blur"]
    b = torch.randn(2, *SHAPE, dtype=torch.float64)
    rho = torch.tensor([0.1, 2.0], dtype=torch.float64)
    both = op.solve_normal(b, rho)
    torch.testing.assert_close(both[:1], op.solve_normal(b[:1], 0.1))
    torch.testing.assert_close(both[1:], op.solve_normal(b[1:], 2.0))


def test_solve_normal_rejects_bad_rho() -> None:
    op = CASES["blur"]
    b = torch.randn(2, *SHAPE)
    with pytest.raises(ValueError, match="rho must be a finite number > 0"):
        op.solve_normal(b, 0.0)
    with pytest.raises(ValueError, match=r"rho must be a float or a tensor of shape \(2,\)"):
        op.solve_normal(b, torch.ones(3))


@pytest.mark.parametrize("name", ["inpainting", "block-average", "decimation", "identity"])
def test_svd_reconstructs_the_operator(name: str) -> None:
    op = CASES[name]
    svd = op.svd
    assert svd is not None
    x = torch.randn(2, *SHAPE, dtype=torch.float64)
    torch.testing.assert_close(svd.forward(x), op(x))
    torch.testing.assert_close(svd.V(svd.Vt(x)), x)  # complete orthonormal basis


def test_norm_by_power_iteration() -> None:
    assert CASES["block-average"].norm() == pytest.approx(0.25, rel=1e-6)
    assert CASES["blur"].norm() == pytest.approx(1.0, rel=1e-6)
    dense = torch.randn(12, 16 * 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    op = ops.NonlinearOperator(lambda x: (x.reshape(x.shape[0], -1) @ dense.T), SHAPE, out_shape=(12,)).linearize(
        torch.zeros(1, *SHAPE, dtype=torch.float64)
    )
    assert op.norm() == pytest.approx(float(torch.linalg.matrix_norm(dense, ord=2)), rel=1e-6)


def _circular_reference(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Circular convolution by shifts: sum over kernel entries (m, n) of k[m, n] · x rolled by (m - h//2, n - w//2)."""
    kh, kw = kernel.shape
    out = torch.zeros_like(x)
    for m in range(kh):
        for n in range(kw):
            out += kernel[m, n].to(x.dtype) * torch.roll(x, shifts=(m - kh // 2, n - kw // 2), dims=(-2, -1))
    return out


def _zero_padded_reference(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Zero-boundary convolution by shifts of the image padded by the kernel's size on every side."""
    kh, kw = kernel.shape
    height, width = x.shape[-2:]
    padded = torch.nn.functional.pad(x, (kw, kw, kh, kh))
    out = torch.zeros_like(padded)
    for m in range(kh):
        for n in range(kw):
            out += kernel[m, n].to(x.dtype) * torch.roll(padded, shifts=(m - kh // 2, n - kw // 2), dims=(-2, -1))
    return out[..., kh : kh + height, kw : kw + width]


@pytest.mark.parametrize("size", [(8, 8), (1, 40), (40, 1), (1, 1), (3, 5)])
def test_kernel_larger_than_the_image_blurs_exactly(size: tuple[int, int]) -> None:
    # a 9 × 11 kernel on images smaller than it: Blur folds it onto the torus (circular convolution
    # stays exact), ZeroPaddedBlur convolves with zero boundary; both were refused before
    kernel = torch.rand(9, 11, dtype=torch.float64)
    shape = (3, *size)
    x = torch.rand(2, *shape, dtype=torch.float64)
    blur = ops.Blur(kernel, shape)
    torch.testing.assert_close(blur(x), _circular_reference(x, kernel))
    assert ops.dot_test(blur, dtype=torch.float64).passed
    zero = ops.ZeroPaddedBlur(kernel, shape)
    torch.testing.assert_close(zero(x), _zero_padded_reference(x, kernel))
    assert ops.dot_test(zero, dtype=torch.float64).passed
    torch.testing.assert_close(blur.solve_normal(blur.adjoint(blur(x)) + 0.1 * x, 0.1), x)


def test_blur_matches_the_circular_convolution_when_the_kernel_fits() -> None:
    kernel = ops.gaussian_kernel(1.5).double()
    x = torch.rand(1, 1, 17, 23, dtype=torch.float64)
    torch.testing.assert_close(ops.Blur(kernel, (1, 17, 23))(x), _circular_reference(x, kernel))


def test_bicubic_downsampling_takes_images_smaller_than_its_kernel() -> None:
    op = ops.BicubicDownsampling(2, (3, 8, 8))  # 9 × 9 kernel; was refused as "factor 2 is too large"
    assert op(torch.rand(1, 3, 8, 8)).shape == (1, 3, 4, 4)
    assert ops.dot_test(op, dtype=torch.float64).passed


@pytest.mark.parametrize(("size", "ratio", "kept"), [((1, 1), 0.3, 1), ((2, 2), 0.1, 1), ((8, 8), 0.01, 1), ((8, 8), 0.3, 19), ((16, 16), 1.0, 256)])
def test_random_mask_keeps_at_least_one_pixel(size: tuple[int, int], ratio: float, kept: int) -> None:
    # 0.3 of a 1×1 image rounded to no pixel: the registered inpainting-random task measured nothing
    mask = ops.random_mask(size, ratio, generator=torch.Generator().manual_seed(0))
    assert int(mask.sum()) == kept
