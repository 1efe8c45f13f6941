"""Tests of single-coil Cartesian MRI (reddiff_imaging.operators.mri)."""

from __future__ import annotations

import math

import pytest
import torch

from reddiff_imaging.operators.cg import conjugate_gradient
from reddiff_imaging.operators.mri import MRI, cartesian_mask, hartley

SHAPE = (2, 8, 6)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _asymmetric_mask(h: int = 8, w: int = 6) -> torch.Tensor:
    """Random 0/1 mask (centred convention) that is not symmetric under k -> -k."""
    mask = (torch.rand(h, w, generator=_gen(3)) < 0.4).float()
    mask[h // 2, w // 2] = 1.0
    return mask


def _randn(shape: tuple[int, ...], dtype: torch.dtype, complex_: bool, seed: int) -> torch.Tensor:
    g = _gen(seed)
    x = torch.randn(shape, dtype=dtype, generator=g)
    return torch.complex(x, torch.randn(shape, dtype=dtype, generator=g)) if complex_ else x


def _dot_error(op: MRI, x: torch.Tensor, y: torch.Tensor) -> float:
    lhs = (op(x).conj() * y).sum()
    rhs = (x.conj() * op.adjoint(y)).sum()
    if not x.is_complex():
        lhs, rhs = lhs.real, rhs.real
    norm = op.norm(dtype=torch.float64)
    return float((lhs - rhs).abs()) / (norm * float(x.norm()) * float(y.norm()))


def _dense_dft(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    return torch.exp(-2j * math.pi * torch.outer(k, k) / n) / math.sqrt(n)


# -- adjoint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_images", [False, True])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_dot_test(complex_images: bool, dtype: torch.dtype, tol: float) -> None:
    op = MRI(_asymmetric_mask(), SHAPE, complex_images=complex_images)
    x = _randn((3, *SHAPE), dtype, complex_images, 1)
    y = _randn((3, *SHAPE), dtype, True, 2)
    assert _dot_error(op, x, y) < tol


def test_soft_mask_and_per_channel_mask_dot_test() -> None:
    mask = torch.rand(SHAPE, generator=_gen(5), dtype=torch.float64)
    for complex_images in (False, True):
        op = MRI(mask, SHAPE, complex_images=complex_images)
        x = _randn((3, *SHAPE), torch.float64, complex_images, 1)
        y = _randn((3, *SHAPE), torch.float64, True, 2)
        assert _dot_error(op, x, y) < 1e-10


# -- forward against a dense DFT --------------------------------------------------------------------
def test_forward_matches_explicit_dft_matrix() -> None:
    mask = _asymmetric_mask(8, 8)
    op = MRI(mask, (1, 8, 8), complex_images=True)
    x = _randn((3, 1, 8, 8), torch.float64, True, 4)
    f = _dense_dft(8)
    unshifted = torch.fft.ifftshift(mask, dim=(-2, -1)).to(torch.float64)
    expected = unshifted * (f @ x @ f.T)
    torch.testing.assert_close(op(x), expected, rtol=0, atol=1e-12)


def test_mask_is_in_the_centred_convention() -> None:
    mask = torch.zeros(8, 6)
    mask[4, 3] = 1.0  # (H // 2, W // 2): the zero frequency
    op = MRI(mask, (1, 8, 6))
    x = torch.rand(2, 1, 8, 6, dtype=torch.float64)
    y = op(x)
    assert torch.count_nonzero(y) == 2
    torch.testing.assert_close(y[:, 0, 0, 0].real, x.sum(dim=(1, 2, 3)) / math.sqrt(48))
    torch.testing.assert_close(op.centered_mask, mask)


def test_output_dtype_follows_input() -> None:
    op = MRI(_asymmetric_mask(), SHAPE)
    for dtype, cdtype in [(torch.float32, torch.complex64), (torch.float64, torch.complex128)]:
        x = torch.rand(2, *SHAPE, dtype=dtype)
        y = op(x)
        assert y.dtype == cdtype and y.shape == x.shape
        assert op.adjoint(y).dtype == dtype
    op64 = MRI(_asymmetric_mask(), SHAPE).double()
    assert op64.mask.dtype == torch.float64
    assert op64(torch.rand(1, *SHAPE)).dtype == torch.complex64


def test_batch_items_are_independent() -> None:
    op = MRI(_asymmetric_mask(), SHAPE)
    x = torch.rand(3, *SHAPE, dtype=torch.float64)
    torch.testing.assert_close(op(x), torch.cat([op(x[i : i + 1]) for i in range(3)]))


# -- normal operator, SVD, pinv, solve_normal -----------------------------------------------------------
def _dense_real_matrix(op: MRI) -> torch.Tensor:
    """A on real images as a real matrix R^n -> R^{2n} (real and imaginary parts stacked)."""
    n = math.prod(op.in_shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *op.in_shape)
    columns = op(basis).reshape(n, n)
    return torch.cat([columns.real, columns.imag], dim=1).T


def test_real_images_normal_operator_uses_symmetrised_mask() -> None:
    op = MRI(_asymmetric_mask(8, 6), (1, 8, 6))
    dense = _dense_real_matrix(op)
    gram = dense.T @ dense
    x = torch.randn(1, 1, 8, 6, dtype=torch.float64, generator=_gen(1))
    torch.testing.assert_close((gram @ x.reshape(-1)).reshape(x.shape), op.adjoint(op(x)))
    # spectrum of the normal operator = squared singular values (w, with values in {0, 1/2, 1})
    eigenvalues = torch.linalg.eigvalsh(gram)
    expected = (op.singular_values**2).reshape(-1).sort().values
    torch.testing.assert_close(eigenvalues, expected, atol=1e-12, rtol=0)
    assert set(torch.unique(op.gram_weight).tolist()) <= {0.0, 0.5, 1.0}
    assert 0.5 in torch.unique(op.gram_weight).tolist()  # the mask is not symmetric


@pytest.mark.parametrize("complex_images", [False, True])
def test_svd_is_exact_and_orthonormal(complex_images: bool) -> None:
    op = MRI(_asymmetric_mask(), SHAPE, complex_images=complex_images)
    svd = op.svd
    x = _randn((3, *SHAPE), torch.float64, complex_images, 1)
    torch.testing.assert_close(svd.forward(x), op(x), atol=1e-12, rtol=0)
    z = svd.Vt(x)
    assert z.shape == x.shape and svd.singular_values.shape == SHAPE  # complete V basis
    torch.testing.assert_close(svd.V(z), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(z.norm(), x.norm())
    support = (svd.singular_values > 0).to(torch.float64)
    coefficients = support * _randn((3, *SHAPE), torch.float64, complex_images, 6)
    u = svd.U(coefficients)
    torch.testing.assert_close(u.norm(), coefficients.norm())  # U is an isometry on the support
    torch.testing.assert_close(svd.Ut(u), coefficients, atol=1e-12, rtol=0)


def test_hartley_transform_is_an_orthonormal_involution() -> None:
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=_gen(0))
    torch.testing.assert_close(hartley(hartley(x)), x)
    torch.testing.assert_close(hartley(x).norm(), x.norm())


@pytest.mark.parametrize("complex_images", [False, True])
def test_pinv_on_the_range(complex_images: bool) -> None:
    op = MRI(_asymmetric_mask(), SHAPE, complex_images=complex_images)
    z = _randn((3, *SHAPE), torch.float64, complex_images, 1)
    x = op.pinv(op(z))  # in the row space
    torch.testing.assert_close(op.pinv(op(x)), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(op(x), op(z), atol=1e-12, rtol=0)
    assert x.is_complex() == complex_images


def test_pinv_matches_dense_pseudo_inverse_real_images() -> None:
    op = MRI(_asymmetric_mask(8, 6), (1, 8, 6))
    dense = _dense_real_matrix(op)
    y = _randn((2, 1, 8, 6), torch.float64, True, 3)
    stacked = torch.cat([y.real.reshape(2, -1), y.imag.reshape(2, -1)], dim=1)
    expected = (torch.linalg.pinv(dense) @ stacked.T).T.reshape(2, 1, 8, 6)
    torch.testing.assert_close(op.pinv(y), expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(op.pinv(y), op.svd.pinv(y), atol=1e-12, rtol=0)


@pytest.mark.parametrize("complex_images", [False, True])
@pytest.mark.parametrize("rho", [0.3, torch.tensor([0.1, 1.0, 5.0], dtype=torch.float64)])
def test_solve_normal_matches_cg(complex_images: bool, rho: float | torch.Tensor) -> None:
    op = MRI(_asymmetric_mask(), SHAPE, complex_images=complex_images)
    b = _randn((3, *SHAPE), torch.float64, complex_images, 7)
    rho_view = rho.view(-1, 1, 1, 1) if isinstance(rho, torch.Tensor) else rho
    reference = conjugate_gradient(lambda v: op.adjoint(op(v)) + rho_view * v, b, max_iter=200, tol=1e-13)
    x = op.solve_normal(b, rho)
    torch.testing.assert_close(x, reference, atol=1e-10, rtol=0)
    torch.testing.assert_close(op.adjoint(op(x)) + rho_view * x, b, atol=1e-10, rtol=0)
    torch.testing.assert_close(op.svd.solve_normal(b, rho_view), x, atol=1e-12, rtol=0)


def test_solve_normal_float32() -> None:
    op = MRI(_asymmetric_mask(), SHAPE)
    b = torch.randn(2, *SHAPE, generator=_gen(1))
    x = op.solve_normal(b, 0.5)
    assert x.dtype == torch.float32
    torch.testing.assert_close(op.adjoint(op(x)) + 0.5 * x, b, atol=1e-5, rtol=0)


# -- mask factory --------------------------------------------------------------------------------------
def test_cartesian_mask_lines_and_centre() -> None:
    mask = cartesian_mask((32, 40), acceleration=4, center_fraction=0.1, generator=_gen(0))
    assert mask.shape == (32, 40) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(mask, mask[:1].expand(32, 40))  # full columns
    assert int(mask[0].sum()) == 10  # 40 / 4 lines
    assert torch.all(mask[:, 18:22] == 1)  # the 4 central lines around DC (index 20)
    rows = cartesian_mask((32, 40), acceleration=4, generator=_gen(0), direction="rows")
    assert torch.equal(rows, rows[:, :1].expand(32, 40)) and int(rows[:, 0].sum()) == 8


def test_cartesian_mask_is_reproducible() -> None:
    a = cartesian_mask((16, 64), 4, generator=_gen(1))
    b = cartesian_mask((16, 64), 4, generator=_gen(1))
    c = cartesian_mask((16, 64), 4, generator=_gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cartesian_mask_keeps_centre_when_acceleration_is_large() -> None:
    mask = cartesian_mask((8, 64), acceleration=32, center_fraction=0.1)
    assert int(mask[0].sum()) == 6 and torch.all(mask[:, 29:35] == 1)


# -- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"shape": (8,)}, ValueError, "shape"),
        ({"acceleration": 0.5}, ValueError, "acceleration"),
        ({"acceleration": float("inf")}, ValueError, "acceleration"),
        ({"acceleration": "4"}, TypeError, "acceleration"),
        ({"center_fraction": 1.5}, ValueError, "center_fraction"),
        ({"center_fraction": -0.1}, ValueError, "center_fraction"),
        ({"direction": "diagonal"}, ValueError, "direction"),
        ({"generator": 0}, TypeError, "generator"),
    ],
)
def test_cartesian_mask_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"shape": (8, 8), **kwargs}
    with pytest.raises(error, match=match):
        cartesian_mask(**arguments)


@pytest.mark.parametrize(
    "mask,in_shape,error,match",
    [
        (torch.ones(8, 5), (1, 8, 6), ValueError, "mask"),
        (torch.ones(3, 8, 6), (2, 8, 6), ValueError, "mask"),
        (torch.ones(6), (1, 8, 6), ValueError, "mask"),
        (torch.full((8, 6), 2.0), (1, 8, 6), ValueError, r"mask values must lie in \[0, 1\]"),
        (torch.full((8, 6), -0.5), (1, 8, 6), ValueError, "mask"),
        (torch.full((8, 6), float("nan")), (1, 8, 6), ValueError, "mask"),
        (torch.ones(8, 6, dtype=torch.complex64), (1, 8, 6), TypeError, "mask"),
        ("mask", (1, 8, 6), TypeError, "mask"),
        (torch.ones(8, 6), (6,), ValueError, "in_shape"),
    ],
)
def test_mri_rejects_bad_mask(mask: object, in_shape: tuple, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        MRI(mask, in_shape)  # type: ignore[arg-type]


def test_mri_accepts_bool_and_broadcast_masks_and_infers_in_shape() -> None:
    op = MRI(torch.ones(8, 6, dtype=torch.bool))
    assert op.in_shape == (1, 8, 6) and op.mask.dtype == torch.float32
    per_channel = MRI(torch.ones(2, 8, 6), (2, 8, 6))
    assert per_channel.in_shape == (2, 8, 6)
    with pytest.raises(TypeError, match="complex_images"):
        MRI(torch.ones(8, 6), (1, 8, 6), complex_images=1)  # type: ignore[arg-type]


def test_real_mri_rejects_complex_images() -> None:
    op = MRI(torch.ones(8, 6), (1, 8, 6))
    with pytest.raises(TypeError, match="x must be real"):
        op(torch.ones(1, 1, 8, 6, dtype=torch.complex64))
    with pytest.raises(ValueError, match="x must have shape"):
        op(torch.ones(1, 1, 8, 5))
