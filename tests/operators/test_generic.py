"""Generic checks run on every registered operator (dot test, shapes, dtypes, devices), on gray
square images and on colour images of another, non-square size."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops
from reddiff_imaging.operators import dot_test, jacobian_test, linearity_test, registry

NAMES = registry.available()
SHAPES = [(1, 16, 16), (3, 12, 20)]  # gray; colour at a size that is neither square nor a power of 2


@pytest.fixture(params=SHAPES, ids=lambda s: "x".join(map(str, s)))
def shape(request: pytest.FixtureRequest) -> tuple[int, int, int]:
    return request.param


def _build(name: str, device: torch.device, shape: tuple[int, int, int]):
    return registry.build(name, shape).to(device)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_float64(name: str, device: torch.device, shape: tuple[int, int, int]) -> None:
    op = _build(name, device, shape)
    if not op.is_linear:
        pytest.skip("nonlinear operator: see test_jacobian")
    result = dot_test(op, batch=3, dtype=torch.float64)
    assert result.error < 1e-10, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_float32(name: str, device: torch.device, shape: tuple[int, int, int]) -> None:
    op = _build(name, device, shape)
    if not op.is_linear:
        pytest.skip("nonlinear operator")
    result = dot_test(op, batch=3, dtype=torch.float32)
    assert result.error < 1e-4, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_dot_test_complex(name: str, device: torch.device, shape: tuple[int, int, int]) -> None:
    op = _build(name, device, shape)
    if not op.is_linear or op.real_domain:
        pytest.skip("operator acts on real images only")
    result = dot_test(op, batch=3, dtype=torch.float64, complex_input=True)
    assert result.error < 1e-10, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_linear_operators_are_linear(name: str, shape: tuple[int, int, int]) -> None:
    op = _build(name, torch.device("cpu"), shape)
    result = linearity_test(op)
    assert result.passed == op.is_linear, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_jacobian(name: str, shape: tuple[int, int, int]) -> None:
    op = _build(name, torch.device("cpu"), shape)
    x = 0.05 + 0.9 * torch.rand(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    result = jacobian_test(op, x)
    assert result.passed, str(result)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_dtype_and_device_follow_input(name: str, dtype: torch.dtype, device: torch.device, shape: tuple[int, int, int]) -> None:
    op = _build(name, device, shape)
    x = torch.rand(3, *shape, dtype=dtype, device=device)
    y = op(x)
    assert y.shape == (3, *op.out_shape)
    assert (y.real.dtype if y.is_complex() else y.dtype) == dtype
    assert y.device.type == device.type
    if op.is_linear:
        back = op.adjoint(y)
        assert back.shape == x.shape and back.dtype == dtype


@pytest.mark.parametrize("name", NAMES)
def test_batch_items_are_independent(name: str, shape: tuple[int, int, int]) -> None:
    op = _build(name, torch.device("cpu"), shape)
    x = torch.rand(3, *shape, dtype=torch.float64)
    together = op(x)
    one_by_one = torch.cat([op(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, one_by_one)


def test_unknown_registry_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown operator 'blurr'.*deblur-gaussian"):
        registry.build("blurr")


ODD_SIZES = [(8, 8), (9, 100), (100, 9), (1, 40), (40, 1), (1, 1), (2, 3), (17, 23), (8, 40)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_task_builds_for_any_image_size(name: str, channels: int) -> None:
    # every registered task takes gray and colour images of any size; a super-resolution factor that
    # does not divide the sides is the one refusal, and it names the factor and the size
    for size in ODD_SIZES:
        shape = (channels, *size)
        factor = {"sr4-block": 4, "sr2-bicubic": 2}.get(name)
        if factor is not None and (size[0] % factor or size[1] % factor):
            with pytest.raises(ValueError, match=f"factor {factor} must divide the image size"):
                registry.build(name, shape)
            continue
        op = registry.build(name, shape)
        x = torch.rand(2, *shape, dtype=torch.float64)
        y = op(x)
        assert op.in_shape == shape and y.shape == (2, *op.out_shape) and torch.isfinite(y).all()
        if op.is_linear:
            assert dot_test(op, dtype=torch.float64).passed, (name, shape)


@pytest.mark.parametrize("size", [(64, 64), (32, 32), (9, 100), (100, 9), (1, 40)])
def test_box_inpainting_hides_20_64_of_each_side(size: tuple[int, int]) -> None:
    mask = registry.build("inpainting-box", (1, *size)).mask.reshape(size)
    hidden_rows = int((mask == 0).any(dim=1).sum())
    hidden_cols = int((mask == 0).any(dim=0).sum())
    assert (hidden_rows, hidden_cols) == tuple(max(1, round(n * 20 / 64)) for n in size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_freeform_strokes_hide_the_same_share_at_every_size_above_64(seed: int) -> None:
    """The same draws make the same strokes, scaled with the image: the hidden shares agree."""
    hidden = {n: float((registry.build("inpainting-freeform", (1, n, n), seed=seed).mask == 0).float().mean()) for n in (64, 128, 256)}
    assert hidden[64] > 0.05
    assert hidden[128] == pytest.approx(hidden[64], abs=0.02) and hidden[256] == pytest.approx(hidden[64], abs=0.02)
    small = registry.build("inpainting-freeform", (1, 32, 32), seed=seed).mask
    torch.testing.assert_close(small.reshape(32, 32), ops.freeform_mask((32, 32), generator=torch.Generator().manual_seed(seed)).to(small.dtype))


@pytest.mark.parametrize("name", NAMES)
def test_a_transposed_image_gets_the_transposed_task(name: str) -> None:
    # size-dependent settings (box sides, CT angles) follow both sides, not the width alone: ct gave a
    # 100×9 image 4 angles and a 9×100 one 50, inpainting-box refused the wide one
    wide, tall = registry.build(name, (1, 8, 40)), registry.build(name, (1, 40, 8))
    if name == "ct":
        assert wide.num_angles == tall.num_angles == 20
    if name == "inpainting-box":
        torch.testing.assert_close(wide.mask.transpose(-2, -1), tall.mask)
    assert sorted(wide.out_shape[-2:]) == sorted(tall.out_shape[-2:]) or name == "ct"
