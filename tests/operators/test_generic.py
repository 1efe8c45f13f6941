"""Generic checks run on every registered operator (dot test, shapes, dtypes, devices)."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.operators import dot_test, jacobian_test, linearity_test, registry

NAMES = registry.available()
SHAPE = (2, 16, 16)


def _build(name: str, device: torch.device):
    return registry.build(name, SHAPE).to(device)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_float64(name: str, device: torch.device) -> None:
    op = _build(name, device)
    if not op.is_linear:
        pytest.skip("nonlinear operator: see test_jacobian")
    result = dot_test(op, batch=3, dtype=torch.float64)
    assert result.error < 1e-10, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_float32(name: str, device: torch.device) -> None:
    op = _build(name, device)
    if not op.is_linear:
        pytest.skip("nonlinear operator")
    result = dot_test(op, batch=3, dtype=torch.float32)
    assert result.error < 1e-4, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_complex(name: str, device: torch.device) -> None:
    op = _build(name, device)
    if not op.is_linear or op.real_domain:
        pytest.skip("operator acts on real images only")
    result = dot_test(op, batch=3, dtype=torch.float64, complex_input=True)
    assert result.error < 1e-10, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_linear_operators_are_linear(name: str) -> None:
    op = _build(name, torch.device("cpu"))
    result = linearity_test(op)
    assert result.passed == op.is_linear, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_jacobian(name: str) -> None:
    op = _build(name, torch.device("cpu"))
    x = 0.05 + 0.9 * torch.rand(2, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = jacobian_test(op, x)
    assert result.passed, str(result)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_dtype_and_device_follow_input(name: str, dtype: torch.dtype, device: torch.device) -> None:
    op = _build(name, device)
    x = torch.rand(3, *SHAPE, dtype=dtype, device=device)
    y = op(x)
    assert y.shape == (3, *op.out_shape)
    assert (y.real.dtype if y.is_complex() else y.dtype) == dtype
    assert y.device.type == device.type
    if op.is_linear:
        back = op.adjoint(y)
        assert back.shape == x.shape and back.dtype == dtype


@pytest.mark.parametrize("name", NAMES)
def test_batch_items_are_independent(name: str) -> None:
    op = _build(name, torch.device("cpu"))
    x = torch.rand(3, *SHAPE, dtype=torch.float64)
    together = op(x)
    one_by_one = torch.cat([op(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, one_by_one)


def test_unknown_registry_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown operator 'blurr'.*deblur-gaussian"):
        registry.build("blurr")
