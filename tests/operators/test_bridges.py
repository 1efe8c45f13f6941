"""Bridges to scipy and deepinv, in both directions for deepinv."""

from __future__ import annotations

import deepinv
import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from reddiff_imaging import noise as ri_noise
from reddiff_imaging import operators as ops

SHAPE = (1, 12, 12)


def test_scipy_lsqr_matches_pinv() -> None:
    op = ops.BicubicDownsampling(2, SHAPE)
    y = torch.randn(1, *op.out_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = op.pinv(y, tol=1e-12, max_iter=2000)
    theirs = scipy.sparse.linalg.lsqr(op.to_scipy(), y.reshape(-1).numpy(), atol=1e-14, btol=1e-14, iter_lim=5000)[0]
    np.testing.assert_allclose(ours.reshape(-1).numpy(), theirs, rtol=1e-6, atol=1e-8)


def test_scipy_cg_matches_solve_normal() -> None:
    op = ops.Blur(ops.gaussian_kernel(1.0, 5), SHAPE)
    b = torch.randn(1, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    normal = op.gram.to_scipy() + 0.5 * scipy.sparse.linalg.aslinearoperator(np.eye(144))
    theirs, info = scipy.sparse.linalg.cg(normal, b.reshape(-1).numpy(), rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(op.solve_normal(b, 0.5).reshape(-1).numpy(), theirs, rtol=1e-7, atol=1e-9)


def test_scipy_svds_finds_block_average_singular_value() -> None:
    op = ops.BlockAverage(3, SHAPE)
    s = scipy.sparse.linalg.svds(op.to_scipy(), k=3, return_singular_vectors=False, random_state=0)
    np.testing.assert_allclose(s, 1 / 3, rtol=1e-10)


def test_scipy_view_of_real_image_mri_is_a_real_matrix() -> None:
    op = ops.MRI(ops.cartesian_mask((12, 12), acceleration=2, generator=torch.Generator().manual_seed(0)), SHAPE)
    matrix = op.to_scipy()
    assert matrix.shape == (2 * 144, 144) and matrix.dtype == np.float64
    x, w = np.random.default_rng(0).standard_normal((2, 288))[:, :144][0], np.random.default_rng(1).standard_normal(288)
    assert abs(np.dot(matrix.matvec(x), w) - np.dot(x, matrix.rmatvec(w))) < 1e-10 * np.linalg.norm(x) * np.linalg.norm(w)


@pytest.mark.parametrize("name", ops.registry.available())
def test_deepinv_adjointness_test_passes_on_exported_operators(name: str) -> None:
    op = ops.registry.build(name, (1, 16, 16))
    physics = op.to_deepinv()
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    if not op.is_linear:
        assert isinstance(physics, deepinv.physics.Physics)
        torch.testing.assert_close(physics.A(x), op(x))
        return
    assert isinstance(physics, deepinv.physics.LinearPhysics)
    error = physics.adjointness_test(x, num_samples=4)
    assert float(error) < 1e-10


def test_exported_physics_moves_with_to() -> None:
    physics = ops.Blur(ops.gaussian_kernel(1.0), SHAPE).to_deepinv().to(torch.float64)
    assert physics.operator.transfer.dtype == torch.complex128


def _deepinv_cases() -> dict[str, tuple[deepinv.physics.Physics, tuple[int, ...]]]:
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(1, 16, 16, generator=g) > 0.5).float()
    return {
        "blur": (deepinv.physics.Blur(deepinv.physics.blur.gaussian_blur(1.0), padding="circular"), (1, 16, 16)),
        "inpainting": (deepinv.physics.Inpainting(img_size=(1, 16, 16), mask=mask), (1, 16, 16)),
        "mri": (deepinv.physics.MRI(mask=mask[0], img_size=(2, 16, 16)), (2, 16, 16)),
        "tomography": (deepinv.physics.Tomography(angles=12, img_width=16), (1, 16, 16)),
    }


@pytest.mark.parametrize("name", list(_deepinv_cases()))
def test_imported_deepinv_physics_pass_our_dot_test(name: str) -> None:
    physics, shape = _deepinv_cases()[name]
    op = ops.from_deepinv(physics, shape)
    assert isinstance(op, ops.LinearOperator)
    assert op.in_shape == shape
    assert ops.dot_test(op, dtype=torch.float32).error < 1e-4
    x = torch.rand(2, *shape)
    torch.testing.assert_close(op(x), physics.A(x))


def test_imported_physics_compose_with_ours() -> None:
    physics, shape = _deepinv_cases()["blur"]
    composed = ops.Inpainting(ops.box_mask((16, 16), 4), shape) @ ops.from_deepinv(physics, shape)
    assert ops.dot_test(composed, dtype=torch.float32).passed


def test_from_deepinv_rejects_non_physics_and_missing_shape() -> None:
    with pytest.raises(TypeError, match="physics must be a deepinv.physics.Physics"):
        ops.from_deepinv(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_shape is required"):
        ops.from_deepinv(deepinv.physics.Blur(deepinv.physics.blur.gaussian_blur(1.0)))


def test_deepinv_inpainting_comes_in_as_our_mask_and_ddrm_runs_on_it() -> None:
    from reddiff_imaging import InverseProblem
    from reddiff_imaging.priors import GaussianMixture
    from reddiff_imaging.solvers import DDRM

    mask = (torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    physics = deepinv.physics.Inpainting(img_size=(1, 4, 4), mask=mask, noise_model=deepinv.physics.GaussianNoise(0.05))
    op = ops.from_deepinv(physics)
    assert isinstance(op, ops.Inpainting) and torch.equal(op.mask.expand(1, 4, 4), mask)
    noise = ops.noise_from_deepinv(physics)
    assert noise == ri_noise.Gaussian(0.05)
    prior = GaussianMixture.random(2, (1, 4, 4), generator=torch.Generator().manual_seed(1))
    y = physics(prior.sample(1, generator=torch.Generator().manual_seed(2)).float())
    x = DDRM(steps=10).solve(InverseProblem(op, y, noise), prior).x
    assert x.shape == (1, 1, 4, 4) and torch.isfinite(x).all()


@pytest.mark.parametrize("name", ["blur-fft", "denoising", "decomposable"])
def test_deepinv_decomposable_physics_keep_their_svd(name: str) -> None:
    shape = (1, 8, 8)
    physics = {
        "blur-fft": deepinv.physics.BlurFFT(img_size=shape, filter=deepinv.physics.blur.gaussian_blur(1.0)),
        "denoising": deepinv.physics.Denoising(),
        "decomposable": deepinv.physics.DecomposablePhysics(mask=torch.linspace(0.1, 1.0, 64).reshape(1, *shape)),
    }[name]
    op = ops.from_deepinv(physics, shape)
    svd = op.svd
    assert svd is not None and bool((svd.singular_values >= 0).all())
    x = torch.rand(2, *shape, dtype=torch.float64)
    torch.testing.assert_close(svd.forward(x), op(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(svd.V(svd.Vt(x)), x, rtol=0, atol=1e-6)
    # float32 filters: the dot test at float64 uses the float32 tolerance (was 8.2e-10 > 1e-10 for BlurFFT)
    result = ops.dot_test(op)
    assert result.passed and result.tolerance == (1e-4 if name == "blur-fft" else result.tolerance)


@pytest.mark.parametrize("name", ["inpainting-box", "sr4-block", "deblur-gaussian"])
def test_our_operators_with_an_svd_run_deepinvs_ddrm(name: str) -> None:
    op = ops.registry.build(name, (1, 16, 16))
    physics = op.to_deepinv(ri_noise.Gaussian(0.05))
    assert isinstance(physics, deepinv.physics.DecomposablePhysics)
    assert isinstance(physics, deepinv.physics.Inpainting) == (name == "inpainting-box")
    assert isinstance(physics.noise_model, deepinv.physics.GaussianNoise) and ops.noise_from_deepinv(physics) == ri_noise.Gaussian(0.05)
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(physics.A(x), op(x))
    torch.testing.assert_close(physics.U(physics.mask * physics.V_adjoint(x)), op(x), rtol=0, atol=1e-5)  # its SVD
    assert float(physics.adjointness_test(x.double(), num_samples=2)) < 1e-6
    denoiser = deepinv.models.DnCNN(in_channels=1, out_channels=1, depth=2, nf=4, pretrained=None)
    with torch.random.fork_rng():
        out = deepinv.sampling.DDRM(denoiser, sigmas=np.linspace(1.0, 0.05, 5))(op(x), physics, seed=1)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_noise_models_cross_both_ways() -> None:
    bridge = ops
    for ours in (ri_noise.Gaussian(0.1), ri_noise.Poisson(0.02), ri_noise.Gaussian(0.0)):
        assert bridge.noise_from_deepinv(bridge.noise_to_deepinv(ours)) == ours
    assert isinstance(bridge.noise_to_deepinv(ri_noise.Gaussian(0.0)), deepinv.physics.ZeroNoise)
    assert bridge.noise_from_deepinv(deepinv.physics.Blur(deepinv.physics.blur.gaussian_blur(1.0))) == ri_noise.Gaussian(0.0)
    with pytest.raises(TypeError, match="no reddiff_imaging noise model for deepinv's UniformNoise"):
        bridge.noise_from_deepinv(deepinv.physics.UniformNoise(0.1))
    with pytest.raises(TypeError, match="noise must be a reddiff_imaging Gaussian or Poisson"):
        ops.Identity((1, 4, 4)).to_deepinv("gaussian")
