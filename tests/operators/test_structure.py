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
