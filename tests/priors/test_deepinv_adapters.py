"""Our priors inside deepinv: the diffusion denoiser and its score, any denoiser, TV as a deepinv
prior — checked against our own methods and run through deepinv's PnP and DiffPIR."""

from __future__ import annotations

import pytest
import torch

deepinv = pytest.importorskip("deepinv")

from reddiff_imaging import metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import (
    TV,
    DeepinvTV,
    DiffusionDenoiser,
    GaussianFilterDenoiser,
    PriorDenoiser,
)


def _on_schedule(prior, t: int) -> float:
    """A public noise level exactly on the schedule (timestep ``t``)."""
    a = float(prior.schedule.alphas_cumprod[t])
    return ((1 - a) / a) ** 0.5 / prior.range_scale


def test_diffusion_denoiser_is_our_denoiser_and_its_score_is_tweedie(default_prior, heldout) -> None:
    denoiser = DiffusionDenoiser(default_prior)
    sigma = _on_schedule(default_prior, 100)
    x = heldout[:2] + sigma * torch.randn(heldout[:2].shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        d = denoiser(x, sigma)
        torch.testing.assert_close(d, default_prior.denoise(x, sigma), atol=1e-5, rtol=0)
        score = denoiser.score(x, sigma)
        torch.testing.assert_close(score, (d - x) / sigma**2, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(deepinv.optim.ScorePrior(denoiser).score(x, sigma), score, atol=1e-2, rtol=1e-4)
        # per-image levels as deepinv passes them, (B, 1, 1, 1)
        levels = torch.tensor([sigma, _on_schedule(default_prior, 300)]).view(2, 1, 1, 1)
        torch.testing.assert_close(denoiser(x, levels)[1:], default_prior.denoise(x[1:], float(levels[1])), atol=1e-5, rtol=0)
    assert float(metrics.psnr(d, heldout[:2]).mean()) > float(metrics.psnr(x, heldout[:2]).mean()) + 3


def test_diffusion_denoiser_differentiates_for_dps(default_prior, heldout) -> None:
    x = heldout[:1].clone().requires_grad_(True)
    DiffusionDenoiser(default_prior)(x, 0.1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_deepinv_diffpir_runs_on_our_diffusion_prior(default_prior, heldout) -> None:
    op = ops.registry.build("inpainting-box", (1, 64, 64))
    physics = op.to_deepinv()
    truth = heldout[:1]
    y = physics(truth) + 0.01 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    sampler = deepinv.sampling.DiffPIR(DiffusionDenoiser(default_prior), deepinv.optim.L2(), sigma=0.01, max_iter=10, zeta=0.3, lambda_=14.0)
    torch.manual_seed(0)  # deepinv's sampler draws from the global generator
    x = sampler(y, physics)
    assert x.shape == truth.shape and torch.isfinite(x).all()
    assert float(metrics.psnr(x.clamp(0, 1), truth)) > float(metrics.psnr(y.clamp(0, 1), truth)) + 2


def test_deepinv_pnp_runs_on_our_denoiser_and_tv(heldout) -> None:
    truth = heldout[:1]
    noisy = truth + 0.1 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(1))
    physics = deepinv.physics.Denoising()
    # deepinv's PGD on ½‖x − y‖² + g(x) with stepsize 1: one step from y is prox_g(y), a fixed point
    tv = TV(weight=8.5, max_iter=500, tol=1e-7)
    model = deepinv.optim.PGD(data_fidelity=deepinv.optim.L2(), prior=DeepinvTV(tv), stepsize=1.0, lambda_reg=0.01, max_iter=3)
    torch.testing.assert_close(model(noisy, physics, init=noisy), tv.prox(noisy, 0.01), atol=1e-4, rtol=0)
    torch.testing.assert_close(DeepinvTV(tv).fn(truth), tv.value(truth))
    # deepinv's PnP with our Gaussian filter as its denoiser equals the filter applied once
    gauss = GaussianFilterDenoiser()
    pnp = deepinv.optim.PGD(data_fidelity=deepinv.optim.L2(), prior=deepinv.optim.PnP(PriorDenoiser(gauss)), stepsize=1.0, g_param=0.1, max_iter=1)
    torch.testing.assert_close(pnp(noisy, physics, init=noisy), gauss.denoise(noisy, 0.1), atol=1e-6, rtol=0)


def test_adapters_reject_the_wrong_priors() -> None:
    with pytest.raises(TypeError, match="prior must be a DiffusionModel"):
        DiffusionDenoiser(TV())
    with pytest.raises(TypeError, match="tv must be a reddiff_imaging TV prior"):
        DeepinvTV(GaussianFilterDenoiser())
    with pytest.raises(TypeError, match="prior must be a Prior with denoise"):
        PriorDenoiser(torch.nn.Identity())


def test_adapters_check_sigma_gamma_and_x_as_given(default_prior) -> None:
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    denoiser = DiffusionDenoiser(default_prior)
    cases = [
        (-1.0, ValueError, r"^sigma must be a finite number >= 0, got -1.0$"),  # was tensor([-2., -2.]): the internal value
        (float("nan"), ValueError, r"^sigma must be a finite number >= 0, got nan$"),
        ("0.1", TypeError, r"^sigma must be a real number, got '0.1' \(str\)$"),
        (None, TypeError, r"^sigma must be a real number, got None"),
        (torch.tensor([-0.1, 0.1]), ValueError, r"^sigma must be finite and >= 0, got tensor"),
    ]
    for sigma, kind, message in cases:
        with pytest.raises(kind, match=message):
            denoiser(x, sigma)
    with pytest.raises(TypeError, match="x must have a floating-point dtype, got torch.uint8"):  # was a non-finite result
        denoiser((x * 255).to(torch.uint8), 0.1)
    with pytest.raises(ValueError, match=r"^gamma must be a finite number >= 0, got -1.0$"):  # was named tau
        DeepinvTV(TV()).prox(x, gamma=-1.0)
