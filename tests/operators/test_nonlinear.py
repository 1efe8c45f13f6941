"""Tests of the nonlinear operators: HDR and the generic NonlinearOperator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.operators.hdr import HDR
from reddiff_imaging.operators.nonlinear import NonlinearOperator


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_derivatives(op, x: torch.Tensor, step: float = 1e-6) -> None:  # noqa: ANN001
    """jvp against central differences, vjp against jvp (float64), no NaN."""
    g = _gen(11)
    v = torch.randn(x.shape, dtype=torch.float64, generator=g)
    jv = op.jvp(x, v)
    finite_difference = (op(x + step * v) - op(x - step * v)) / (2 * step)
    torch.testing.assert_close(jv, finite_difference, atol=1e-7, rtol=1e-6)
    w = torch.randn(jv.shape, dtype=torch.float64, generator=g)
    jtw = op.vjp(x, w)
    assert bool(torch.isfinite(jv).all()) and bool(torch.isfinite(jtw).all())
    assert jtw.shape == x.shape
    lhs, rhs = (jv * w).sum(), (v * jtw).sum()
    assert abs(float(lhs - rhs)) < 1e-10 * float(jv.norm() * w.norm())


# -- HDR ----------------------------------------------------------------------------------------------
def test_hdr_default_is_the_official_red_diff_operator() -> None:
    op = HDR((1, 4, 4))
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=_gen(0))
    torch.testing.assert_close(op(x), torch.clamp(2 * x - 0.5, 0, 1))
    # in the network range [-1, 1] it is RED-diff's clip(2 x', -1, 1)
    x_net = 2 * x - 1
    torch.testing.assert_close(2 * op((x_net + 1) / 2) - 1, torch.clip(x_net / 0.5, -1, 1))


def test_hdr_plain_clipping_and_scale() -> None:
    op = HDR((1, 4, 4), scale=3.0, center=0.0)
    x = torch.linspace(0, 1, 16, dtype=torch.float64).view(1, 1, 4, 4)
    torch.testing.assert_close(op(x), torch.clamp(3 * x, 0, 1))
    assert op(x).dtype == torch.float64 and op(x.float()).dtype == torch.float32


def test_hdr_pinv_inverts_the_unclipped_range() -> None:
    op = HDR((1, 4, 4), scale=2.0)
    x = 0.3 + 0.4 * torch.rand(2, 1, 4, 4, dtype=torch.float64, generator=_gen(1))  # in (0.25, 0.75)
    torch.testing.assert_close(op.pinv(op(x)), x)
    torch.testing.assert_close(op.pinv(torch.full((1, 1, 4, 4), 0.0)), torch.full((1, 1, 4, 4), 0.25))


def test_hdr_derivatives() -> None:
    op = HDR((2, 5, 5))
    # away from the kinks at 0.25 and 0.75: both clipped and unclipped pixels
    x = torch.rand(2, 2, 5, 5, dtype=torch.float64, generator=_gen(2))
    x = torch.where((x - 0.25).abs() < 0.02, x + 0.05, x)
    x = torch.where((x - 0.75).abs() < 0.02, x + 0.05, x)
    _check_derivatives(op, x)
    v = torch.ones_like(x)
    jv = op.jvp(x, v)
    saturated = (2 * x - 0.5 < 0) | (2 * x - 0.5 > 1)
    assert bool((jv[saturated] == 0).all()) and bool((jv[~saturated] == 2).all())


def test_hdr_gradient_at_the_kinks_is_finite() -> None:
    op = HDR((1, 1, 3))
    x = torch.tensor([[[[0.25, 0.75, 0.5]]]], dtype=torch.float64, requires_grad=True)
    op(x).sum().backward()
    assert bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"scale": 0.0}, ValueError, "scale"),
        ({"scale": -2.0}, ValueError, "scale"),
        ({"scale": float("nan")}, ValueError, "scale"),
        ({"scale": "2"}, TypeError, "scale"),
        ({"center": float("inf")}, ValueError, "center"),
        ({"center": "0.5"}, TypeError, "center"),
        ({"scale": True}, TypeError, "scale"),
        ({"in_shape": ()}, ValueError, "in_shape"),
    ],
)
def test_hdr_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"in_shape": (1, 4, 4), **kwargs}
    with pytest.raises(error, match=match):
        HDR(**arguments)


def test_hdr_rejects_complex_and_misshaped_input() -> None:
    op = HDR((1, 4, 4))
    with pytest.raises(TypeError, match="x must be real"):
        op(torch.ones(1, 1, 4, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="x must have shape"):
        op(torch.ones(1, 4, 4))


# -- NonlinearOperator ---------------------------------------------------------------------------------
def _squash(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(2 * x).mean(dim=1, keepdim=True) ** 2


def test_out_shape_is_inferred() -> None:
    op = NonlinearOperator(_squash, (3, 6, 5))
    assert op.out_shape == (1, 6, 5) and op.in_shape == (3, 6, 5) and not op.is_linear
    x = torch.rand(4, 3, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(op(x), _squash(x))
    assert "_squash" in repr(op)


def test_declared_out_shape_and_flattening_function() -> None:
    op = NonlinearOperator(lambda x: torch.sin(x).flatten(1), (2, 3, 3), out_shape=(18,))
    assert op(torch.rand(5, 2, 3, 3)).shape == (5, 18)


def test_derivatives_of_a_wrapped_function() -> None:
    op = NonlinearOperator(_squash, (3, 6, 5))
    x = torch.rand(2, 3, 6, 5, dtype=torch.float64, generator=_gen(3))
    _check_derivatives(op, x)
    linear = op.linearize(x)
    assert isinstance(linear, LinearOperator)
    v = torch.randn(x.shape, dtype=torch.float64, generator=_gen(4))
    torch.testing.assert_close(linear(v), op.jvp(x, v))


def test_gradient_of_a_data_fidelity_is_finite_and_matches_vjp() -> None:
    op = NonlinearOperator(_squash, (3, 6, 5))
    x = torch.rand(2, 3, 6, 5, dtype=torch.float64, generator=_gen(5), requires_grad=True)
    y = torch.rand(2, 1, 6, 5, dtype=torch.float64, generator=_gen(6))
    residual = op(x) - y
    (0.5 * residual.pow(2).sum()).backward()
    torch.testing.assert_close(x.grad, op.vjp(x.detach(), residual.detach()))


def test_module_is_registered_and_moves_with_to() -> None:
    conv = nn.Conv2d(2, 1, 3, padding=1)
    op = NonlinearOperator(conv, (2, 8, 8))
    assert op.out_shape == (1, 8, 8)
    assert any(p is conv.weight for p in op.parameters())
    op.double()
    assert conv.weight.dtype == torch.float64
    assert op(torch.rand(1, 2, 8, 8, dtype=torch.float64)).dtype == torch.float64
    assert op.device == torch.device("cpu")


def test_composition_with_hdr() -> None:
    op = HDR((1, 6, 5), scale=1.5) @ NonlinearOperator(_squash, (3, 6, 5))
    x = torch.rand(2, 3, 6, 5, dtype=torch.float64, generator=_gen(7))
    torch.testing.assert_close(op(x), torch.clamp(1.5 * (_squash(x) - 0.5) + 0.5, 0, 1))


@pytest.mark.parametrize(
    "function,out_shape,error,match",
    [
        ("not callable", None, TypeError, "function must be callable"),
        (lambda x: x.reshape(-1), None, ValueError, "batch axis"),
        (lambda x: x.sum(), None, ValueError, "batch axis"),
        (lambda x: [x], None, ValueError, "function must return a torch.Tensor"),
        (lambda x: x @ torch.ones(3, 3), None, ValueError, "could not infer out_shape"),
        (lambda x: x, (0, 2), ValueError, "out_shape"),
    ],
)
def test_rejects_bad_functions(function: object, out_shape: tuple | None, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        NonlinearOperator(function, (1, 4, 4), out_shape)  # type: ignore[arg-type]


def test_checks_the_declared_shape_on_every_call() -> None:
    op = NonlinearOperator(lambda x: x[..., :3], (1, 4, 4), out_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"function must return a tensor of shape \(B, \*out_shape\)"):
        op(torch.rand(2, 1, 4, 4))
    not_a_tensor = NonlinearOperator(lambda x: x.tolist(), (1, 2, 2), out_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="function must return a torch.Tensor"):
        not_a_tensor(torch.rand(1, 1, 2, 2))
