"""Tests of parallel-beam CT (reddiff_imaging.operators.tomography)."""

from __future__ import annotations

import math
import warnings
from functools import cache

import pytest
import torch

from reddiff_imaging.operators.cg import conjugate_gradient
from reddiff_imaging.operators.hdr import HDR
from reddiff_imaging.operators.tomography import FBP_FILTERS, Radon

PROJECTORS = ["joseph", "pixel"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dot_error(op: Radon, x: torch.Tensor, y: torch.Tensor) -> float:
    lhs = (op(x).conj() * y).sum()
    rhs = (x.conj() * op.adjoint(y)).sum()
    norm = op.norm(dtype=torch.float64)
    return float((lhs - rhs).abs()) / (norm * float(x.norm()) * float(y.norm()))


def _disk(n: int, radius: float, supersample: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Anti-aliased centred disk of value 1 (n×n) and the distance of each pixel centre to the centre."""
    c = (torch.arange(n * supersample, dtype=torch.float64) + 0.5) / supersample - n / 2
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    disk = ((xx**2 + yy**2) <= radius**2).double().reshape(n, supersample, n, supersample).mean(dim=(1, 3))
    centres = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    radial = torch.sqrt(centres.view(-1, 1) ** 2 + centres.view(1, -1) ** 2)
    return disk, radial


@cache
def _radon(in_shape: tuple[int, ...], num_angles: int, projector: str = "joseph") -> Radon:
    """Operators shared between tests (construction is the slow part); tests must not modify them."""
    return Radon(in_shape, num_angles=num_angles, projector=projector)


# -- adjoint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("projector", PROJECTORS)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_dot_test(projector: str, dtype: torch.dtype, tol: float) -> None:
    op = Radon((2, 12, 9), num_angles=17, projector=projector)  # non-square, odd/even sizes
    x = torch.randn(3, 2, 12, 9, dtype=dtype, generator=_gen(1))
    y = torch.randn(3, *op.out_shape, dtype=dtype, generator=_gen(2))
    assert _dot_error(op, x, y) < tol


def test_dot_test_complex_images_and_custom_angles() -> None:
    angles = torch.tensor([0.1, 0.7, 1.3, 2.9, 4.0])
    op = Radon((1, 10, 10), angles=angles, detector_size=11)  # truncating detector
    g = _gen(3)
    x = torch.complex(torch.randn(3, 1, 10, 10, dtype=torch.float64, generator=g),
                      torch.randn(3, 1, 10, 10, dtype=torch.float64, generator=g))
    y = torch.complex(torch.randn(3, *op.out_shape, dtype=torch.float64, generator=g),
                      torch.randn(3, *op.out_shape, dtype=torch.float64, generator=g))
    assert _dot_error(op, x, y) < 1e-10
    assert op.out_shape == (1, 5, 11)


@pytest.mark.parametrize("projector", PROJECTORS)
def test_matrices_are_an_exact_transpose_pair(projector: str) -> None:
    op = Radon((1, 7, 6), num_angles=9, projector=projector)
    torch.testing.assert_close(op.matrix.to_dense().T, op.matrix_t.to_dense(), rtol=0, atol=0)


def test_batch_items_are_independent_and_shapes() -> None:
    op = Radon((2, 16, 16), num_angles=10)
    x = torch.rand(3, 2, 16, 16, dtype=torch.float64)
    y = op(x)
    assert y.shape == (3, 2, 10, 23)  # ceil(sqrt(2) * 16) = 23 bins
    torch.testing.assert_close(y, torch.cat([op(x[i : i + 1]) for i in range(3)]))
    # channels are projected independently
    torch.testing.assert_close(y[:, 1:], op(torch.cat([x[:, 1:], x[:, :1]], dim=1))[:, :1])


def test_dtype_and_double_follow_input() -> None:
    op = Radon((1, 8, 8), num_angles=6)
    assert op.matrix.dtype == torch.float32 and op.matrix.layout == torch.sparse_csr
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(2, 1, 8, 8, dtype=dtype)
        assert op(x).dtype == dtype and op.adjoint(op(x)).dtype == dtype
    op.double()
    assert op.matrix.dtype == torch.float64 and op.matrix_t.dtype == torch.float64
    assert op(torch.rand(1, 1, 8, 8)).dtype == torch.float32
    assert "matrix" not in op.state_dict()  # derived from the arguments: not saved


# -- geometry against analytic values -----------------------------------------------------------------
@pytest.mark.parametrize("projector", PROJECTORS)
def test_angle_zero_gives_column_sums_and_right_angle_row_sums(projector: str) -> None:
    x = torch.rand(2, 1, 10, 10, dtype=torch.float64, generator=_gen(0))
    op = Radon((1, 10, 10), angles=[0.0, math.pi / 2], detector_size=10, projector=projector)
    y = op(x)
    torch.testing.assert_close(y[:, 0, 0], x.sum(dim=2)[:, 0], atol=1e-6, rtol=1e-6)
    # at pi/2, s = y: detector bins read the row sums from the bottom row up
    torch.testing.assert_close(y[:, 0, 1], x.sum(dim=3)[:, 0].flip(-1), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("projector,tolerance", [("joseph", 0.03), ("pixel", 0.15)])
def test_disk_projection_matches_chord_lengths(projector: str, tolerance: float) -> None:
    n, radius = 48, 15.0
    disk, _ = _disk(n, radius)
    op = _radon((1, n, n), 36, projector)
    y = op(disk[None, None])[0, 0]
    s = torch.arange(op.detector_size, dtype=torch.float64) - (op.detector_size - 1) / 2
    chord = 2 * torch.sqrt((radius**2 - s**2).clamp_min(0))
    inner = s.abs() < 0.9 * radius
    relative = ((y[:, inner] - chord[inner]).abs() / chord[inner]).max()
    assert relative < tolerance
    outside = s.abs() > radius + 2
    assert y[:, outside].abs().max() < 1e-6


def test_pixel_projector_conserves_mass() -> None:
    op = Radon((1, 12, 12), num_angles=13, projector="pixel")
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(op(x).sum(dim=-1), x.sum(dim=(-2, -1)).expand(2, 13).unsqueeze(1), rtol=1e-6, atol=0)


def test_matches_deepinv_tomography_on_a_smooth_image() -> None:
    deepinv = pytest.importorskip("deepinv")
    n, k = 32, 12
    c = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    blob = torch.exp(-((xx - 3) ** 2 + (yy + 2) ** 2 / 2) / (2 * 3.0**2))[None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        physics = deepinv.physics.Tomography(
            angles=torch.arange(k) * 180.0 / k, img_width=n, circle=False, normalize=False, dtype=torch.float64
        )
        reference = physics.A(blob).transpose(-1, -2)  # deepinv: (B, C, detector, angles), degrees
    ours = Radon((1, n, n), num_angles=k)(blob)
    assert ours.shape == reference.shape
    assert float((ours - reference).norm() / reference.norm()) < 0.01


# -- reconstruction ------------------------------------------------------------------------------------
@pytest.mark.parametrize("filter_name", FBP_FILTERS)
def test_fbp_reconstructs_a_disk(filter_name: str) -> None:
    n, radius = 48, 15.0
    disk, radial = _disk(n, radius)
    op = _radon((1, n, n), 36)
    x = op.fbp(op(disk[None, None]), filter_name)[0, 0]
    inside, outside = radial < 0.8 * radius, radial > 1.2 * radius
    assert abs(float(x[inside].mean()) - 1) < 0.02
    assert float((x[inside] - 1).abs().max()) < 0.1
    assert float(x[outside].abs().mean()) < 0.03


def test_fbp_dtype() -> None:
    op = Radon((1, 8, 8), num_angles=8)
    y = op(torch.rand(2, 1, 8, 8))
    assert op.fbp(y).dtype == torch.float32 and op.fbp(y.double()).dtype == torch.float64


def _small() -> Radon:
    return _radon((1, 8, 8), 12)


def test_pinv_on_the_range() -> None:
    op = _small()
    z = torch.randn(3, 1, 8, 8, dtype=torch.float64, generator=_gen(4))
    x = op.pinv(op(z), tol=1e-12, max_iter=2000)
    again = op.pinv(op(x), tol=1e-12, max_iter=2000)
    torch.testing.assert_close(again, x, atol=1e-6, rtol=0)
    dense = op.matrix.to_dense().to(torch.float64)
    expected = (torch.linalg.pinv(dense) @ op(z).reshape(3, -1).T).T.reshape(3, 1, 8, 8)
    torch.testing.assert_close(x, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("rho", [0.5, torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)])
def test_solve_normal_matches_dense_and_cg(rho: float | torch.Tensor) -> None:
    op = _small()
    b = torch.randn(3, 1, 8, 8, dtype=torch.float64, generator=_gen(5))
    x = op.solve_normal(b, rho, tol=1e-12, max_iter=1000)
    rho_view = rho.view(-1, 1, 1, 1) if isinstance(rho, torch.Tensor) else rho
    reference = conjugate_gradient(lambda v: op.adjoint(op(v)) + rho_view * v, b, max_iter=1000, tol=1e-12)
    torch.testing.assert_close(x, reference, atol=1e-9, rtol=0)
    dense = op.matrix.to_dense().to(torch.float64)
    rhos = rho.tolist() if isinstance(rho, torch.Tensor) else [rho] * 3
    for i, r in enumerate(rhos):
        solution = torch.linalg.solve(dense.T @ dense + r * torch.eye(64, dtype=torch.float64), b[i].reshape(-1))
        torch.testing.assert_close(x[i].reshape(-1), solution, atol=1e-8, rtol=0)


# -- differentiation ---------------------------------------------------------------------------------
def test_autograd_and_torch_func() -> None:
    op = _small()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, generator=_gen(6), requires_grad=True)
    (op(x) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, 2 * op.adjoint(op(x.detach())))
    v = torch.randn_like(x)
    w = torch.randn(2, *op.out_shape, dtype=torch.float64, generator=_gen(7))
    torch.testing.assert_close(torch.func.jvp(op.apply_forward, (x.detach(),), (v,))[1], op(v))
    torch.testing.assert_close(torch.func.vjp(op.apply_forward, x.detach())[1](w)[0], op.adjoint(w))
    jacobian = torch.func.jacrev(lambda z: op.apply_forward(z.reshape(1, 1, 8, 8)).reshape(-1))(x[0].detach().reshape(-1))
    torch.testing.assert_close(jacobian, op.matrix.to_dense().to(torch.float64))
    # a nonlinear composition goes through torch.func jvp/vjp of the sparse product
    composite = HDR(op.out_shape, scale=0.1) @ op
    point = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=_gen(8))
    step = 1e-6
    finite_difference = (composite.apply_forward(point + step * v) - composite.apply_forward(point - step * v)) / (2 * step)
    torch.testing.assert_close(composite.jvp(point, v), finite_difference, atol=1e-7, rtol=1e-6)
    jtw = composite.vjp(point, w)
    torch.testing.assert_close((composite.jvp(point, v) * w).sum(), (v * jtw).sum())


def test_forward_of_a_batch_of_8_is_fast() -> None:
    import time

    op = Radon((1, 64, 64), num_angles=60)
    x = torch.rand(8, 1, 64, 64)
    op(x)
    start = time.perf_counter()
    for _ in range(10):
        op.apply_forward(x)
    assert (time.perf_counter() - start) / 10 < 0.1  # a few ms in practice; generous for loaded CI


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"in_shape": (8, 8)}, ValueError, "in_shape"),
        ({"in_shape": (1, 0, 8)}, ValueError, "in_shape"),
        ({"num_angles": 0}, ValueError, "num_angles"),
        ({"num_angles": 2.5}, ValueError, "num_angles"),
        ({"angles": [0.0, 1.0], "num_angles": 3}, ValueError, "num_angles"),
        ({"angles": [[0.0, 1.0]]}, ValueError, "angles"),
        ({"angles": []}, ValueError, "angles"),
        ({"angles": [0.0, float("nan")]}, ValueError, "angles"),
        ({"angles": "0 1"}, TypeError, "angles"),
        ({"detector_size": 0}, ValueError, "detector_size"),
        ({"detector_size": 12.0}, ValueError, "detector_size"),
        ({"projector": "siddon"}, ValueError, "projector"),
        # the sinogram is bounded before the angles or the matrix are allocated
        ({"detector_size": 10**9}, ValueError, "num_angles=180 × detector_size=1000000000 .* the limit"),
        ({"num_angles": 10**12}, ValueError, "num_angles=1000000000000 × detector_size=12 .* the limit"),
        ({"angles": [0.0, 1.0], "detector_size": 10**8}, ValueError, "2 angles × detector_size=100000000 .* the limit"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"in_shape": (1, 8, 8), **kwargs}
    with pytest.raises(error, match=match):
        Radon(**arguments)


def test_rejects_bad_tensors() -> None:
    op = _small()
    with pytest.raises(ValueError, match="x must have shape"):
        op(torch.rand(1, 1, 8, 9))
    with pytest.raises(ValueError, match="y must have shape"):
        op.adjoint(torch.rand(1, 1, 11, op.detector_size))
    with pytest.raises(ValueError, match="filter_name"):
        op.fbp(op(torch.rand(1, 1, 8, 8)), "ram-lak")


def test_building_a_few_angles_at_a_time_gives_the_same_matrices(monkeypatch) -> None:
    from reddiff_imaging.operators import tomography

    angles = torch.linspace(0, math.pi, 37)[:-1]  # steep and flat angles in every chunk
    chunked = Radon((1, 20, 24), angles=angles)
    monkeypatch.setattr(tomography, "_ANGLE_CHUNK", 10_000)  # all angles at once, as before
    whole = Radon((1, 20, 24), angles=angles)
    for name in ("matrix", "matrix_t"):
        for part in ("crow", "col", "values"):
            assert torch.equal(getattr(chunked, f"_{name}_{part}"), getattr(whole, f"_{name}_{part}"))


# -- construction against a dense reference ---------------------------------------------------------
def _dense_reference(height: int, width: int, theta: torch.Tensor, detector_size: int, projector: str) -> torch.Tensor:
    """The projection matrix written out densely, angle by angle, from the module docstring's formulas."""
    matrix = torch.zeros(theta.numel(), detector_size, height * width, dtype=torch.float64)
    s_d = torch.arange(detector_size, dtype=torch.float64) - (detector_size - 1) / 2
    ys = (height - 1) / 2 - torch.arange(height, dtype=torch.float64)
    xs = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
    for k, angle in enumerate(theta.tolist()):
        c, s = math.cos(angle), math.sin(angle)
        if projector == "pixel":  # every pixel splats onto the two bins around x cos + y sin
            position = (xs.view(1, -1) * c + ys.view(-1, 1) * s).reshape(-1) + (detector_size - 1) / 2
            pixel = torch.arange(height * width)
            targets = [(torch.floor(position), pixel, 1 - (position - torch.floor(position)))]
            targets.append((targets[0][0] + 1, pixel, position - torch.floor(position)))
            for bins, pixels, weight in targets:
                inside = (bins >= 0) & (bins < detector_size)
                matrix[k].index_put_((bins[inside].long(), pixels[inside]), weight[inside], accumulate=True)
            continue
        d = torch.arange(detector_size).view(-1, 1)
        if abs(c) >= abs(s):  # Joseph: one sample per image row i, at x = (s_d - y_i sin) / cos
            across = (s_d.view(-1, 1) - ys.view(1, -1) * s) / c + (width - 1) / 2
            step, length, limit = torch.arange(height).view(1, -1), 1 / abs(c), width
        else:  # one sample per image column j, at y = (s_d - x_j cos) / sin
            across = (height - 1) / 2 - (s_d.view(-1, 1) - xs.view(1, -1) * c) / s
            step, length, limit = torch.arange(width).view(1, -1), 1 / abs(s), height
        lower = torch.floor(across)
        for offset, weight in ((0, 1 - (across - lower)), (1, across - lower)):
            neighbour = (lower + offset).long()
            pixel = step * width + neighbour if abs(c) >= abs(s) else neighbour * width + step
            inside = (neighbour >= 0) & (neighbour < limit)
            rows = d.expand_as(neighbour)[inside]
            matrix[k].index_put_((rows, pixel[inside]), (weight * length)[inside], accumulate=True)
    return matrix.reshape(theta.numel() * detector_size, height * width)


@pytest.mark.parametrize("projector", PROJECTORS)
@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((1, 32, 32), {"num_angles": 1}),
        ((1, 32, 32), {"num_angles": 7}),
        ((1, 32, 32), {"num_angles": 45}),
        ((1, 20, 24), {"angles": [0.1, 2.9, 0.7, 4.0, 1.3, -0.3, 1.6], "detector_size": 15}),  # unsorted, truncated
    ],
)
def test_matrix_matches_a_dense_reference(projector: str, shape: tuple[int, int, int], kwargs: dict) -> None:
    op = Radon(shape, projector=projector, **kwargs)
    dense = _dense_reference(shape[1], shape[2], op.angles, op.detector_size, projector)
    torch.testing.assert_close(op.matrix.to_dense().double(), dense, rtol=1e-6, atol=1e-7)
    x = torch.rand(2, *shape, dtype=torch.float64, generator=_gen(4))
    forward = (dense @ x.reshape(2, -1).T).T.reshape(2, *op.out_shape)
    torch.testing.assert_close(op.double()(x), forward, rtol=1e-6, atol=1e-9)
    for name in ("matrix", "matrix_t"):  # torch's CSR invariants: sorted, distinct column indices per row
        parts = op._parts(name)
        torch.sparse_csr_tensor(parts.crow, parts.col, parts.values, parts.size, check_invariants=True)
