"""Laws of the operator algebra, checked numerically, and structure kept by the builders."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops

SHAPE = (2, 16, 16)


def _rand(*shape: int, complex_: bool = False, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, dtype=torch.float64, generator=g)
    if complex_:
        x = torch.complex(x, torch.randn(*shape, dtype=torch.float64, generator=g))
    return x


@pytest.fixture
def blur() -> ops.LinearOperator:
    return ops.Blur(ops.motion_kernel(5, 20), SHAPE)


@pytest.fixture
def zero_padded() -> ops.LinearOperator:
    return ops.ZeroPaddedBlur(ops.gaussian_kernel(1.0), SHAPE)


@pytest.fixture
def mask() -> ops.LinearOperator:
    return ops.Inpainting(ops.random_mask((16, 16), 0.5, generator=torch.Generator().manual_seed(3)), SHAPE)


def test_adjoint_of_composition_is_reversed_product(mask, zero_padded) -> None:
    y = _rand(3, *SHAPE)
    composed = mask @ zero_padded
    torch.testing.assert_close(composed.H(y), zero_padded.H(mask.H(y)))
    torch.testing.assert_close((mask @ zero_padded).H(y), (zero_padded.H @ mask.H)(y))


def test_sum_and_difference_act_termwise(blur, zero_padded) -> None:
    x = _rand(3, *SHAPE)
    torch.testing.assert_close((blur + zero_padded)(x), blur(x) + zero_padded(x))
    torch.testing.assert_close((blur - zero_padded)(x), blur(x) - zero_padded(x))
    torch.testing.assert_close((-zero_padded)(x), -zero_padded(x))


@pytest.mark.parametrize("c", [2.5, -1.0, 1.5 - 2.0j])
def test_scaled_adjoint_conjugates_the_scalar(zero_padded, c) -> None:
    y = _rand(3, *SHAPE, complex_=True)
    scaled = c * zero_padded
    expected = (c.conjugate() if isinstance(c, complex) else c) * zero_padded.H(y)
    torch.testing.assert_close(scaled.H(y), expected)
    assert ops.dot_test(scaled, complex_input=True).passed


def test_gram_is_adjoint_times_forward(zero_padded, blur, mask) -> None:
    x = _rand(3, *SHAPE)
    for op in (zero_padded, blur, mask, ops.BlockAverage(4, SHAPE)):
        torch.testing.assert_close(op.gram(x), op.H(op(x)))


def test_transpose_equals_adjoint_for_real_operators_and_conjugates_for_complex(zero_padded) -> None:
    y = _rand(2, *SHAPE, complex_=True)
    torch.testing.assert_close(zero_padded.T(y), zero_padded.H(y))
    c = 1.0 + 1.0j
    torch.testing.assert_close((c * zero_padded).T(y), c * zero_padded.H(y))


def test_stack_and_split(blur, mask) -> None:
    sr = ops.BlockAverage(4, SHAPE)
    stacked = ops.Stack([blur, sr, mask])
    assert isinstance(stacked, ops.LinearOperator)
    x = _rand(3, *SHAPE)
    parts = stacked.split(stacked(x))
    for part, op in zip(parts, (blur, sr, mask), strict=True):
        torch.testing.assert_close(part, op(x))
    y = _rand(3, *stacked.out_shape)
    pieces = stacked.split(y)
    torch.testing.assert_close(stacked.H(y), blur.H(pieces[0]) + sr.H(pieces[1]) + mask.H(pieces[2]))


def test_stack_of_nonlinear_parts_is_nonlinear(blur) -> None:
    stacked = ops.Stack([blur, ops.HDR(SHAPE)])
    assert not stacked.is_linear
    assert stacked(_rand(1, *SHAPE)).shape == (1, 2 * 2 * 16 * 16)


def test_linear_results_are_linear_operators_and_keep_real_domain(blur) -> None:
    mask = ops.cartesian_mask((16, 16), 2.0, generator=torch.Generator().manual_seed(0))
    mri = ops.MRI(mask, SHAPE)  # real images, complex measurements: real_domain
    assert mri.real_domain and not blur.real_domain
    identity = ops.Identity(mri.out_shape)
    results = {
        "composition": (2.0 * identity) @ mri,
        "sum": mri + mri,
        "difference": mri - mri,
        "scaled": 2.0 * mri,
        "negated": -mri,
        "gram": mri.gram,
        "stack": ops.Stack([mri, mri]),
    }
    for name, op in results.items():
        assert isinstance(op, ops.LinearOperator), name
        assert op.real_domain, name
    assert not (blur @ blur).real_domain and not (blur + blur).real_domain
    # the parts of sums and stacks are kept, typed, beside the registered module list
    total = blur + ops.ZeroPaddedBlur(ops.gaussian_kernel(1.0), SHAPE) + blur
    assert list(total.operators) == list(total.parts)


def test_parts_move_with_to(blur, mask) -> None:
    composed = mask @ ops.ZeroPaddedBlur(ops.gaussian_kernel(1.0), SHAPE) + blur
    moved = composed.to(torch.float64)
    assert all(b.dtype in (torch.float64, torch.complex128) for b in moved.buffers())


def test_structure_is_kept(blur, mask) -> None:
    other_mask = ops.Inpainting(ops.box_mask((16, 16), 4), SHAPE)
    assert isinstance(mask @ other_mask, ops.Inpainting)
    assert isinstance(2.0 * mask, ops.Diagonal)
    assert isinstance(0.5 * blur, ops.Circulant)
    assert isinstance(blur @ blur, ops.Circulant)
    assert isinstance(blur + blur, ops.Circulant)
    assert isinstance(blur.H, ops.Circulant) and isinstance(blur.gram, ops.Circulant)
    assert isinstance(mask.gram, ops.Diagonal)
    scaled_sr = (2.0 - 1.0j) * ops.BlockAverage(4, SHAPE)
    svd = scaled_sr.svd
    assert svd is not None
    torch.testing.assert_close(svd.singular_values.max().item(), abs(2.0 - 1.0j) / 4)
    x = _rand(2, *SHAPE)
    torch.testing.assert_close(svd.forward(x.to(torch.complex128)), scaled_sr(x.to(torch.complex128)))


def test_structured_results_agree_with_generic(blur, mask) -> None:
    x = _rand(2, *SHAPE)
    generic = ops.algebra.LinearComposition(blur, blur)
    torch.testing.assert_close((blur @ blur)(x), generic(x))
    torch.testing.assert_close((mask @ mask)(x), mask(mask(x)))
    torch.testing.assert_close((3.0 * blur)(x), 3.0 * blur(x))


def test_incompatible_shapes_fail_at_construction(blur) -> None:
    sr = ops.BlockAverage(4, SHAPE)
    with pytest.raises(ValueError, match=r"out_shape \(2, 4, 4\) does not match .* in_shape \(2, 16, 16\)"):
        blur @ sr
    with pytest.raises(ValueError, match="cannot add operators of different shapes"):
        blur + sr
    with pytest.raises(ValueError, match="share one in_shape"):
        ops.Stack([blur, ops.Identity((1, 16, 16))])
    with pytest.raises(TypeError):
        blur * blur  # type: ignore[operator]


def test_linearization_of_nonlinear_operator_matches_jvp() -> None:
    op = ops.NonlinearOperator(lambda x: torch.sin(x) * x, SHAPE)
    x = _rand(2, *SHAPE)
    lin = op.linearize(x)
    assert isinstance(lin, ops.LinearOperator)
    v = _rand(2, *SHAPE, seed=1)
    torch.testing.assert_close(lin(v), (torch.cos(x) * x + torch.sin(x)) * v)
    assert ops.dot_test(lin, batch=2).passed


def test_apply_is_torch_module_apply_again() -> None:
    """``Operator.apply_forward`` is the unchecked forward model; ``apply`` is ``torch.nn.Module.apply``
    again, so ``net.apply(init_fn)`` on a module holding an operator visits it instead of running it."""
    from torch import nn

    from reddiff_imaging import operators as ops

    blur = ops.Blur(ops.gaussian_kernel(1.0, 3), (1, 4, 4))
    assert type(blur).apply is nn.Module.apply
    net = nn.Sequential(nn.Linear(2, 2), blur)
    visited: list[nn.Module] = []
    assert net.apply(visited.append) is net
    assert blur in visited
    x = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(blur.apply_forward(x), blur(x))
