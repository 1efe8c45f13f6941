"""DPIR against a plain loop of the official deblurring script (cszn/DPIR ``main_dpir_deblur.py``)
and against deepinv's ``DPIR`` (0.5.0) with the same denoiser, float64.

The denoiser is a small linear filter that is *not* invariant under rotations and flips (a
one-sided shift), so that the periodic geometric self-ensemble changes the result and its order of
the eight symmetries is checked.
"""

from __future__ import annotations

import deepinv as dinv
import numpy as np
import pytest
import torch
from torch import Tensor

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import Prior
from reddiff_imaging.solvers import DPIR, get

SHAPE = (1, 8, 8)


class Skewed(Prior):
    """A denoiser-like filter with a preferred direction: ``(x + s * roll(x, 1, W)) / (1 + s)``."""

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        s = 4.0 * float(sigma)
        return (x + s * torch.roll(x, 1, -1) + 0.5 * s * torch.roll(x, -1, -2)) / (1 + 1.5 * s)


def _official_augment(x: Tensor, mode: int) -> Tensor:
    """``utils_image.augment_img_tensor4`` of the official code."""
    return [
        lambda v: v,
        lambda v: v.rot90(1, [2, 3]).flip([2]),
        lambda v: v.flip([2]),
        lambda v: v.rot90(3, [2, 3]),
        lambda v: v.rot90(2, [2, 3]).flip([2]),
        lambda v: v.rot90(1, [2, 3]),
        lambda v: v.rot90(2, [2, 3]),
        lambda v: v.rot90(3, [2, 3]).flip([2]),
    ][mode](x)


def _dense(operator: ops.LinearOperator) -> Tensor:
    n = int(np.prod(operator.in_shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *operator.in_shape)
    return operator(basis).reshape(n, -1).T


def official_deblur_loop(problem: ri.InverseProblem, denoiser: Skewed, iter_num: int, x8: bool) -> Tensor:
    """The main loop of ``main_dpir_deblur.py`` with its ``get_rho_sigma`` (``w = 1``), the data step
    solved with the dense matrix, starting from the measurement."""
    sigma_y = problem.sigma
    noise_level_model = sigma_y
    model_sigmas = np.logspace(np.log10(49.0), np.log10(noise_level_model * 255.0), iter_num).astype(np.float32)
    sigmas = model_sigmas / 255.0
    rhos = [0.23 * max(0.255 / 255.0, noise_level_model) ** 2 / s**2 for s in sigmas]
    a = _dense(problem.operator)
    y = problem.y.reshape(-1)
    x = problem.y.clone()
    for i in range(iter_num):
        tau = float(rhos[i])
        x = torch.linalg.solve(a.T @ a + tau * torch.eye(a.shape[1], dtype=a.dtype), a.T @ y + tau * x.reshape(-1)).reshape(x.shape)
        if x8:
            x = _official_augment(x, i % 8)
        x = denoiser.denoise(x, float(sigmas[i]))
        if x8:
            x = _official_augment(x, 8 - i % 8) if i % 8 in (3, 5) else _official_augment(x, i % 8)
    return x


def _blur_problem(sigma: float) -> ri.InverseProblem:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(1, *SHAPE, generator=g, dtype=torch.float64)
    blur = ops.Blur(ops.gaussian_kernel(1.0).to(torch.float64), SHAPE)
    return ri.InverseProblem.simulate(blur, x, ri.noise.Gaussian(sigma), g)


@pytest.mark.parametrize("x8", [True, False])
def test_dpir_matches_the_official_deblurring_loop(x8: bool) -> None:
    problem = _blur_problem(0.03)
    steps = 10  # more than 8, so that the symmetries come round again
    ours = DPIR(steps=steps, geometric=x8, init=problem.y, clip=False).solve(problem, Skewed()).x
    reference = official_deblur_loop(problem, Skewed(), steps, x8)
    # the official levels are float32 (np.logspace(...).astype(np.float32))
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    other = DPIR(steps=steps, geometric=not x8, init=problem.y, clip=False).solve(problem, Skewed()).x
    assert float((other - reference).abs().max()) > 1e-3  # the self-ensemble matters for this denoiser


class _AsDeepinv(dinv.models.Denoiser):
    def __init__(self, prior: Prior) -> None:
        super().__init__()
        self.prior = prior

    def forward(self, x: Tensor, sigma: float | Tensor, *args: object, **kwargs: object) -> Tensor:
        return self.prior.denoise(x, float(sigma))


def test_dpir_without_the_self_ensemble_matches_deepinv() -> None:
    sigma = 0.05  # above deepinv's floor of 0.01 on the noise level in its step sizes
    g = torch.Generator().manual_seed(1)
    mask = ops.random_mask(SHAPE[1:], 0.6, generator=g)
    x = 0.2 + 0.6 * torch.rand(1, *SHAPE, generator=g, dtype=torch.float64)
    problem = ri.InverseProblem.simulate(ops.Inpainting(mask, SHAPE), x, ri.noise.Gaussian(sigma), g)
    physics = dinv.physics.Inpainting(img_size=SHAPE, mask=mask.to(torch.float64)[None], noise_model=dinv.physics.GaussianNoise(sigma))
    # deepinv starts from the adjoint (its default initial iterate) and has no self-ensemble
    ours = DPIR(geometric=False, init="adjoint", clip=False).solve(problem, Skewed()).x
    theirs = dinv.optim.DPIR(sigma=sigma, denoiser=_AsDeepinv(Skewed()))(problem.y, physics)
    print(f"DPIR vs deepinv: {float((ours - theirs).abs().max()):.1e} (deepinv's levels in float32)")
    torch.testing.assert_close(ours, theirs.to(torch.float64), rtol=0, atol=1e-6)


def test_dpir_takes_the_paper_presets_and_refuses_bad_options() -> None:
    assert get("dpir", preset="paper", task="deblur-gaussian").steps == 8
    sr = get("dpir", preset="paper", task="sr4-block")
    assert (sr.steps, sr.sigma_end) == (24, pytest.approx(4 / 255))
    with pytest.raises(ValueError, match="sigma_end"):
        DPIR(sigma_end=0.0)
    with pytest.raises(TypeError, match="geometric"):
        DPIR(geometric="yes")  # type: ignore[arg-type]


def test_dpir_restores_a_photograph_beyond_its_start() -> None:
    from reddiff_imaging.data.photos import validation_photos
    from reddiff_imaging.priors import GaussianFilterDenoiser

    truth = validation_photos(32)[:1]
    blur = ops.Blur(ops.gaussian_kernel(1.5), tuple(truth.shape[1:]))
    problem = ri.InverseProblem.simulate(blur, truth, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
    start = ri.metrics.psnr(blur.pinv(problem.y, rcond=3e-2).clamp(0, 1), truth)
    restored = ri.metrics.psnr(DPIR().solve(problem, GaussianFilterDenoiser()).x, truth)
    assert float(restored) > float(start) + 1.0


def test_the_self_ensemble_on_a_non_square_image_needs_a_prior_that_takes_it_turned() -> None:
    from reddiff_imaging.priors import GaussianMixture

    shape = (1, 4, 6)
    prior = GaussianMixture.random(3, shape, generator=torch.Generator().manual_seed(0))
    x = prior.sample(1, generator=torch.Generator().manual_seed(1)).clamp(0, 1)
    problem = ri.InverseProblem.simulate(ops.Blur(ops.gaussian_kernel(1.0), shape), x, ri.noise.Gaussian(0.05), torch.Generator().manual_seed(2))
    steps: list[int] = []
    with pytest.raises(ValueError, match=r"dpir: geometric=True shows the denoiser the 4×6 image .* as 6×4, which this prior refuses .*pass geometric=False"):
        DPIR().solve(problem, prior, callback=lambda step, x, terms: steps.append(step))
    assert steps == []  # refused before the first step (it failed at the second, inside the prior)
    assert DPIR(geometric=False).solve(problem, prior).x.shape == (1, *shape)
    square = (1, 5, 5)
    mixture = GaussianMixture.random(2, square, generator=torch.Generator().manual_seed(0))
    y = ri.InverseProblem.simulate(ops.Blur(ops.gaussian_kernel(1.0), square), mixture.sample(1).clamp(0, 1), ri.noise.Gaussian(0.05))
    assert DPIR().solve(y, mixture).x.shape == (1, *square)
