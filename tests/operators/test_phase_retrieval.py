"""Tests of Fourier phase retrieval (reddiff_imaging.operators.phase_retrieval)."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.operators.phase_retrieval import PhaseRetrieval


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_and_rounding() -> None:
    op = PhaseRetrieval((3, 10, 7), oversampling=2.0)
    assert op.out_shape == (3, 20, 14)
    assert PhaseRetrieval((1, 10, 7), oversampling=1.5).out_shape == (1, 15, 10)  # round(10.5) = 10
    assert PhaseRetrieval((1, 8, 8), oversampling=(1.0, 3.0)).out_shape == (1, 8, 24)
    assert PhaseRetrieval((8, 8), oversampling=2).out_shape == (16, 16)
    assert PhaseRetrieval((1, 8, 8), oversampling=1.0).padding == (0, 0, 0, 0)


def test_forward_is_the_magnitude_of_the_padded_fft() -> None:
    op = PhaseRetrieval((2, 6, 5), oversampling=2.0)
    x = torch.rand(3, 2, 6, 5, dtype=torch.float64, generator=_gen(0))
    padded = torch.zeros(3, 2, 12, 10, dtype=torch.float64)
    padded[..., 3:9, 2:7] = x  # centred: (12 - 6) // 2 = 3 rows and (10 - 5) // 2 = 2 columns before
    torch.testing.assert_close(op(x), torch.fft.fft2(padded, norm="ortho").abs())
    # the placement of the image in the frame does not change the magnitudes
    at_the_end = torch.zeros_like(padded)
    at_the_end[..., :6, :5] = x
    torch.testing.assert_close(op(x), torch.fft.fft2(at_the_end, norm="ortho").abs())
    # orthonormal FFT: Parseval
    torch.testing.assert_close(op(x).pow(2).sum(dim=(-2, -1)), x.pow(2).sum(dim=(-2, -1)))


def test_trivial_ambiguities() -> None:
    op = PhaseRetrieval((1, 6, 6))
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, generator=_gen(1))
    torch.testing.assert_close(op(-x), op(x))
    torch.testing.assert_close(op(x.flip(-1, -2)), op(x))  # conjugate flip (real image)


def test_dtype_complex_input_and_batch() -> None:
    op = PhaseRetrieval((1, 6, 6))
    for dtype in (torch.float32, torch.float64):
        y = op(torch.rand(2, 1, 6, 6, dtype=dtype))
        assert y.dtype == dtype and y.shape == (2, 1, 12, 12) and bool((y >= 0).all())
    z = torch.complex(torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6))
    assert op(z).dtype == torch.float32
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(op(x), torch.cat([op(x[i : i + 1]) for i in range(3)]))


def _inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.conj() * b).real.sum()


def test_jvp_and_vjp_match_finite_differences() -> None:
    op = PhaseRetrieval((2, 5, 4), oversampling=1.6)
    g = _gen(2)
    x = torch.rand(2, 2, 5, 4, dtype=torch.float64, generator=g) + 0.1
    v = torch.randn(x.shape, dtype=torch.float64, generator=g)
    w = torch.randn((2, *op.out_shape), dtype=torch.float64, generator=g)
    step = 1e-6
    finite_difference = (op(x + step * v) - op(x - step * v)) / (2 * step)
    jv = op.jvp(x, v)
    torch.testing.assert_close(jv, finite_difference, atol=1e-7, rtol=1e-6)
    jtw = op.vjp(x, w)
    assert jtw.shape == x.shape and jtw.dtype == torch.float64
    assert abs(float(_inner(jv, w) - _inner(v, jtw))) < 1e-10 * float(jv.norm() * w.norm())
    linear = op.linearize(x)
    torch.testing.assert_close(linear(v), jv)
    torch.testing.assert_close(linear.adjoint(w), jtw)


def test_gradients_are_finite_where_the_spectrum_vanishes() -> None:
    op = PhaseRetrieval((1, 4, 4))
    zero = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    v = torch.randn(zero.shape, dtype=torch.float64, generator=_gen(3))
    w = torch.randn((2, *op.out_shape), dtype=torch.float64, generator=_gen(4))
    assert bool(torch.isfinite(op.jvp(zero, v)).all())
    assert bool(torch.isfinite(op.vjp(zero, w)).all())
    # an image whose padded spectrum has exact zeros (a constant on an even grid with 2x padding)
    x = torch.ones(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    spectrum = op(x)
    assert int((spectrum.detach() == 0).sum()) > 0
    y = torch.rand(1, *op.out_shape, dtype=torch.float64, generator=_gen(5))
    ((spectrum - y) ** 2).sum().backward()
    assert bool(torch.isfinite(x.grad).all())


def test_pinv_initial_guess() -> None:
    op = PhaseRetrieval((1, 8, 8))
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=_gen(6))
    guess = op.pinv(op(x))
    assert guess.shape == x.shape and guess.dtype == torch.float64 and bool(torch.isfinite(guess).all())
    # pad and crop are adjoint (crop is a left inverse of pad)
    torch.testing.assert_close(op.crop(op.pad(x)), x)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"oversampling": 0.5}, ValueError, "oversampling"),
        ({"oversampling": float("inf")}, ValueError, "oversampling"),
        ({"oversampling": (2.0, 0.9)}, ValueError, "oversampling"),
        ({"oversampling": (2.0, 2.0, 2.0)}, TypeError, "oversampling"),
        ({"oversampling": "2"}, TypeError, "oversampling"),
        ({"oversampling": True}, TypeError, "oversampling"),
        ({"in_shape": (8,)}, ValueError, "in_shape"),
        ({"in_shape": (1, -8, 8)}, ValueError, "in_shape"),
        # the padded frame is bounded at construction, not when the operator is first applied
        ({"oversampling": 1e9}, ValueError, r"oversampling=1000000000.0 .* 8000000000 × 8000000000 pixels; the limit"),
        ({"oversampling": (1.0, 2e7)}, ValueError, "oversampling=.* the limit is 100,000,000 pixels"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"in_shape": (1, 8, 8), **kwargs}
    with pytest.raises(error, match=match):
        PhaseRetrieval(**arguments)


def test_rejects_bad_tensors() -> None:
    op = PhaseRetrieval((1, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        op(torch.rand(1, 1, 8, 9))
    with pytest.raises(ValueError, match="NaN"):
        op(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="y must have shape"):
        op.pinv(torch.rand(1, 1, 8, 8))
