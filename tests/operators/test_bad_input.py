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


def test_zero_padded_blur_needs_an_odd_kernel() -> None:
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


@pytest.mark.parametrize(
    "call",
    [
        lambda g: ops.random_mask((8, 8), 0.5, generator=g),
        lambda g: ops.freeform_mask((8, 8), generator=g),
        lambda g: ops.cartesian_mask((8, 8), generator=g),
    ],
)
@pytest.mark.parametrize("generator", [0, "seed", 1.5])
def test_mask_factories_refuse_what_is_not_a_generator(call, generator) -> None:
    # random_mask and freeform_mask failed inside torch.randperm / torch.rand
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got"):
        call(generator)


def test_a_seed_given_as_generator_is_told_how_to_make_one() -> None:
    with pytest.raises(TypeError, match=r"for a seed pass torch.Generator\(\).manual_seed\(seed\)"):
        ops.random_mask((8, 8), 0.5, generator=3)  # type: ignore[arg-type]


def test_freeform_mask_checks_its_counts() -> None:
    for name in ("num_strokes", "vertices"):
        for wrong in (1.5, True, "3", None):  # 1.5 failed inside torch.rand, True drew one stroke
            with pytest.raises(TypeError, match=f"{name} must be an int, got"):
                ops.freeform_mask((8, 8), **{name: wrong})
        with pytest.raises(ValueError, match=f"{name} must be an int >= 1, got 0"):
            ops.freeform_mask((8, 8), **{name: 0})
    with pytest.raises(ValueError, match="num_strokes=1000000000 × vertices=5 segments × 64 pixels is more than"):
        ops.freeform_mask((8, 8), num_strokes=10**9)  # it tried to allocate the strokes


def test_box_mask_checks_box_and_corner_as_pairs() -> None:
    with pytest.raises(ValueError, match=r"box must be a pair of ints \(rows, columns\), got 3 values"):
        ops.box_mask((8, 8), (1, 2, 3))  # 'too many values to unpack'
    with pytest.raises(TypeError, match=r"corner must be a pair of ints \(rows, columns\), got 2"):
        ops.box_mask((8, 8), 2, corner=2)  # type: ignore[arg-type]  # "'int' object is not iterable"
    with pytest.raises(TypeError, match=r"corner must be an int, got 1.5"):
        ops.box_mask((8, 8), 2, corner=(1.5, 2))  # was truncated to 1
    with pytest.raises(TypeError, match=r"corner must be a pair of ints \(rows, columns\), got 'ab'"):
        ops.box_mask((8, 8), 2, corner="ab")  # type: ignore[arg-type]  # "invalid literal for int()"
    with pytest.raises(ValueError, match=r"corner must keep the box inside the image, got \(-1, 0\)"):
        ops.box_mask((8, 8), 2, corner=(-1, 0))
    assert ops.box_mask((8, 8), (2, 3), corner=(0, 1))[:2, 1:4].sum() == 0


def test_kernel_sizes_are_bounded_before_they_are_allocated() -> None:
    with pytest.raises(ValueError, match="sigma=1e\\+09 gives a kernel wider than 10000 pixels"):
        ops.gaussian_kernel(1e9)  # tried to allocate 48 GB
    with pytest.raises(ValueError, match="sigma=1e\\+300 gives a kernel wider than 10000 pixels"):
        ops.gaussian_kernel(1e300)
    with pytest.raises(ValueError, match="length=1e\\+12 gives a kernel wider than 10000 pixels"):
        ops.motion_kernel(1e12)
    with pytest.raises(ValueError, match="size must be an int >= 1 and <= 10000, got 1000000000"):
        ops.uniform_kernel(10**9)
    with pytest.raises(TypeError, match="size must be an int, got None"):
        ops.uniform_kernel(None)  # type: ignore[arg-type]  # 'unsupported operand type(s) for ** or pow()'
    with pytest.raises(TypeError, match="factor must be an int, got True"):
        ops.bicubic_kernel(True)  # type: ignore[arg-type]  # was taken as factor 1
    with pytest.raises(ValueError, match="factor must be an int >= 1 and <= 2499, got 1000000000"):
        ops.bicubic_kernel(10**9)
    assert ops.gaussian_kernel(2.0, size=5).shape == (5, 5) and ops.motion_kernel(7, 30).shape == (11, 11)


def test_radon_bounds_its_image_and_its_projection_matrix() -> None:
    with pytest.raises(ValueError, match=r"in_shape=\(1, 30000, 30000\) claims 30000 × 30000 pixels; the limit is 100,000,000"):
        ops.Radon((1, 30000, 30000), num_angles=1, detector_size=10)  # it was built
    with pytest.raises(ValueError, match=r"in_shape=\(1, 1000000, 1000000\) claims"):
        ops.Radon((1, 10**6, 10**6), num_angles=1, detector_size=1)  # 'Unable to allocate 7.28 TiB'
    with pytest.raises(ValueError, match=r"Radon of in_shape=\(1, 5000, 5000\) with 100 angles × detector_size=7072 \('joseph' projector\) needs a projection matrix of up to 7,072,000,000 entries; the limit is 2,147,483,648"):
        ops.Radon((1, 5000, 5000), num_angles=100)  # DefaultCPUAllocator: can't allocate memory
    with pytest.raises(ValueError, match=r"'pixel' projector\) needs a projection matrix of up to"):
        ops.Radon((1, 9000, 9000), num_angles=100, detector_size=10, projector="pixel")


def test_registry_names_must_be_strings() -> None:
    with pytest.raises(TypeError, match=r"name must be an operator name \(a string\), got \['ct'\] \(list\); available: denoising"):
        ops.registry.build(["ct"])  # type: ignore[arg-type]  # "unhashable type: 'list'"


def test_scipy_bridge_names_the_length_it_needs() -> None:
    import numpy as np

    matrix = ops.BlockAverage(2, (1, 8, 8)).to_scipy()
    with pytest.raises(ValueError, match=r"matvec needs a vector of length 64, a flattened \(1, 8, 8\) image, got shape \(5,\)"):
        matrix.matvec(np.ones(5))  # scipy said 'dimension mismatch'
    with pytest.raises(ValueError, match=r"matvec needs a vector of length 64, a flattened \(1, 8, 8\) image, got shape \(5,\)"):
        matrix @ np.ones(5)
    with pytest.raises(ValueError, match=r"rmatvec needs a vector of length 16, a flattened \(1, 4, 4\) measurement, got shape \(64,\)"):
        matrix.rmatvec(np.ones(64))
    with pytest.raises(ValueError, match=r"matvec needs a vector of length 16, a flattened \(1, 4, 4\) measurement, got shape \(3,\)"):
        matrix.H.matvec(np.ones(3))
    with pytest.raises(ValueError, match=r"matmat needs a \(64, K\) array, each column a flattened \(1, 8, 8\) image, got shape \(16, 2\)"):
        matrix.matmat(np.ones((16, 2)))
    with pytest.raises(ValueError, match=r"rmatmat needs a \(16, K\) array, each column a flattened \(1, 4, 4\) measurement, got shape \(64, 2\)"):
        matrix.rmatmat(np.ones((64, 2)))
    mri = ops.MRI(ops.cartesian_mask((8, 8), generator=torch.Generator().manual_seed(0)), (1, 8, 8)).to_scipy()
    with pytest.raises(ValueError, match=r"length 128, a flattened \(1, 8, 8\) measurement \(real and imaginary parts stacked last\)"):
        mri.rmatvec(np.ones(64))
    # a complex vector meets a real matrix as a linear map (its imaginary part was dropped)
    v = np.arange(64.0) + 1j * np.ones(64)
    assert np.allclose(matrix.matvec(v), matrix.matvec(v.real) + 1j * matrix.matvec(v.imag))
    assert np.allclose(matrix.H.matvec(matrix.matvec(np.ones(64))), matrix.rmatvec(matrix.matvec(np.ones(64))))
