"""Every bad-input path names the argument, what was expected and what came."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops

SHAPE = (1, 16, 16)


@pytest.fixture
def blur() -> ops.LinearOperator:
    return ops.Blur(ops.gaussian_kernel(1.0), SHAPE)


def test_wrong_shape(blur) -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 16, 16\), got \(1, 16, 16\)"):
        blur(torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match=r"y must have shape \(B, 1, 16, 16\), got \(2, 1, 8, 8\)"):
        blur.adjoint(torch.rand(2, 1, 8, 8))


def test_wrong_dtype(blur) -> None:
    with pytest.raises(TypeError, match="x must have a floating-point dtype, got torch.int64"):
        blur(torch.ones(1, *SHAPE, dtype=torch.int64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        blur(torch.rand(1, *SHAPE).numpy())
    mri = ops.MRI(ops.cartesian_mask((16, 16), acceleration=2, generator=torch.Generator().manual_seed(0)), SHAPE)
    with pytest.raises(TypeError, match="x must be real"):
        mri(torch.rand(1, *SHAPE, dtype=torch.complex64))


def test_wrong_device(blur) -> None:
    with pytest.raises(ValueError, match="x is on device meta, but the operator lives on cpu"):
        blur(torch.empty(1, *SHAPE, device="meta"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf(blur, bad: float) -> None:
    x = torch.rand(2, *SHAPE)
    x[1, 0, 3, 4] = bad
    with pytest.raises(ValueError, match=r"x contains NaN or Inf \(1 of 512 entries\)"):
        blur(x)
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        blur.adjoint(x)


def test_mask_of_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"mask must have shape \(H, W\), \(1, H, W\) or \(C, H, W\) matching in_shape \(3, 16, 16\), got \(8, 8\)"):
        ops.Inpainting(torch.ones(8, 8), (3, 16, 16))
    with pytest.raises(ValueError, match="mask must contain only 0 and 1"):
        ops.Inpainting(torch.full((16, 16), 0.5))


@pytest.mark.parametrize(
    "build,name",
    [
        (lambda: ops.Blur(torch.ones(0, 3), SHAPE), "kernel"),
        (lambda: ops.ZeroPaddedBlur(torch.ones(3, 0), SHAPE), "kernel"),
        (lambda: ops.Circulant(torch.ones(0, 16), SHAPE), "transfer"),
        (lambda: ops.Inpainting(torch.ones(1, 0, 16), SHAPE), "mask"),
        (lambda: ops.Diagonal([], SHAPE), "weights"),
        (lambda: ops.MRI(torch.ones(0, 16), SHAPE), "mask"),
    ],
)
def test_empty_parameters_are_refused(build, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must not be empty, got shape \("):
        build()


def test_mri_mask_goes_through_the_shared_parameter_check() -> None:
    mask = torch.ones(16, 16)
    mask[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^mask contains NaN or Inf \(1 of 256 entries\)"):
        ops.MRI(mask, SHAPE)
    assert ops.MRI(torch.ones(16, 16, dtype=torch.bool), SHAPE).mask.dtype == torch.float32  # bool masks stay accepted


def test_kernel_larger_than_image() -> None:
    with pytest.raises(ValueError, match=r"kernel of size \(19, 19\) is larger than the image \(16, 16\)"):
        ops.Blur(ops.gaussian_kernel(3.0), SHAPE)
    with pytest.raises(ValueError, match="kernel must have odd height and width"):
        ops.ZeroPaddedBlur(torch.ones(4, 4) / 16, SHAPE)


def test_unknown_and_invalid_options() -> None:
    with pytest.raises(ValueError, match="factor 3 must divide the image size"):
        ops.BlockAverage(3, SHAPE)
    with pytest.raises(ValueError, match="ratio must be in \\(0, 1\\], got 1.5"):
        ops.random_mask((16, 16), 1.5)
    with pytest.raises(ValueError, match="box must fit in the image"):
        ops.box_mask((16, 16), 20)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        ops.gaussian_kernel(-1.0)
    with pytest.raises(ValueError, match="in_shape must be a non-empty tuple of positive ints"):
        ops.Identity((1, 0, 16))


def test_dot_test_needs_linear_operator() -> None:
    with pytest.raises(TypeError, match="dot_test needs a linear operator"):
        ops.dot_test(ops.HDR(SHAPE))


def test_checks_refuse_what_is_not_an_operator() -> None:
    for check in (ops.dot_test, ops.linearity_test, ops.jacobian_test):
        with pytest.raises(TypeError, match="op must be a reddiff_imaging Operator, got int"):
            check(3)


@pytest.mark.parametrize("op", [ops.PhaseRetrieval(SHAPE), ops.Blur(ops.gaussian_kernel(1.0), SHAPE)], ids=["nonlinear", "linear"])
def test_jacobian_products_check_their_direction(op: ops.Operator) -> None:
    x = torch.rand(2, *SHAPE)
    with pytest.raises(ValueError, match=r"v must have shape \(B, 1, 16, 16\), got \(2, 1, 8, 8\)"):
        op.jvp(x, torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"w must have shape \(B, [0-9, ]+\), got \(2, 1, 3, 3\)"):
        op.vjp(x, torch.rand(2, 1, 3, 3))
    with pytest.raises(ValueError, match="need one batch size, got 2 and 3"):
        op.jvp(x, torch.rand(3, *SHAPE))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 16, 16\)"):
        op.vjp(torch.rand(2, 1, 4, 4), torch.rand(2, *op.out_shape))
    assert op.jvp(x, x).shape == (2, *op.out_shape) and op.vjp(x, torch.rand(2, *op.out_shape)).shape == x.shape


def test_failing_adjoint_is_caught_by_dot_test() -> None:
    class WrongAdjoint(ops.LinearOperator):
        def __init__(self) -> None:
            super().__init__(SHAPE, SHAPE)

        def _forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.roll(x, 1, dims=-1)

        def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
            return torch.roll(y, 1, dims=-1)  # should roll by -1

    result = ops.dot_test(WrongAdjoint())
    assert not result.passed and result.error > 1e-3


def test_jacobian_products_of_a_linearization() -> None:
    op = ops.PhaseRetrieval(SHAPE)
    x, w = torch.rand(2, *SHAPE, dtype=torch.float64), torch.rand(2, *op.out_shape, dtype=torch.float64)
    jacobian = op.linearize(x)
    torch.testing.assert_close(jacobian.vjp(x, w), op.vjp(x, w))
    torch.testing.assert_close(jacobian.jvp(x, x), op.jvp(x, x))


def test_inpainting_takes_a_boolean_mask_as_its_0_1_mask() -> None:
    observed = torch.rand(16, 16, generator=torch.Generator().manual_seed(0)) > 0.5
    x = torch.rand(2, *SHAPE)
    operator = ops.Inpainting(observed, SHAPE)
    assert operator.mask.dtype == torch.get_default_dtype()
    torch.testing.assert_close(operator(x), ops.Inpainting(observed.float(), SHAPE)(x))
