"""The gray path of a colour diffusion prior against the exact gray Gaussian mixture."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.priors import GaussianMixture
from reddiff_imaging.priors.gray import GrayFromColour

H = W = 3
D = H * W


def _mixtures(delta: float = 1e-6) -> tuple[GaussianMixture, GaussianMixture]:
    """A gray mixture and the colour mixture of the same images repeated over three channels."""
    g = torch.Generator().manual_seed(0)
    means = torch.rand(2, D, generator=g, dtype=torch.float64) * 0.6 + 0.2
    factors = torch.randn(2, D, D, generator=g, dtype=torch.float64) * 0.1
    cov = factors @ factors.mT + 1e-3 * torch.eye(D, dtype=torch.float64)
    weights = torch.tensor([0.3, 0.7], dtype=torch.float64)
    repeat = torch.cat([torch.eye(D, dtype=torch.float64)] * 3)  # (3D, D), channel-major
    # the colour images carry a tiny chroma jitter (covariances must be definite); its channel
    # mean adds delta / 3 to the gray covariance
    gray = GaussianMixture(means.reshape(2, 1, H, W), cov + delta / 3 * torch.eye(D, dtype=torch.float64), weights)
    colour = GaussianMixture(
        (means @ repeat.T).reshape(2, 3, H, W), repeat @ cov @ repeat.T + delta * torch.eye(3 * D, dtype=torch.float64), weights
    )
    return gray, colour


@pytest.mark.parametrize("t", [50, 200, 500, 900, 999])
def test_gray_path_matches_the_exact_gray_mixture(t: int) -> None:
    gray, colour = _mixtures()
    x0 = gray.to_model(gray.sample(64, torch.Generator().manual_seed(1)).double())
    alpha_bar = gray.alpha_bar(torch.tensor([t]), x0)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * torch.randn(x0.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    exact = gray.eps(x_t, t)
    via_colour = GrayFromColour(colour).eps(x_t, t)
    assert float((via_colour - exact).norm() / exact.norm()) < 1e-3
    if t <= 500:  # repeating the gray state over the channels at the same t is far off
        naive = colour.eps(x_t.expand(-1, 3, -1, -1), t).mean(dim=1, keepdim=True)
        assert float((naive - exact).norm() / exact.norm()) > 0.05


@pytest.mark.parametrize("t", [0, 10, 300, 942, 943, 999])
def test_the_colour_model_sees_exactly_the_noise_of_its_timestep(t: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also beyond the colour schedule's end (t >= 943), where the colour timestep is its last."""
    _, colour = _mixtures()
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    exact_eps = colour._eps

    def recording_eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append((x_t, t))
        return exact_eps(x_t, t)

    monkeypatch.setattr(colour, "_eps", recording_eps)
    alpha_bar = float(colour.alphas_cumprod[t])
    pure_noise = (1 - alpha_bar) ** 0.5 * torch.randn(4096, 1, H, W, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    GrayFromColour(colour).eps(pure_noise, t)
    ((z, t_colour),) = seen
    assert abs(float(z.var()) / (1 - float(colour.alphas_cumprod[t_colour[0]])) - 1) < 0.02


def test_gray_path_is_deterministic_differentiable_and_a_denoiser() -> None:
    _, colour = _mixtures()
    prior = GrayFromColour(colour)
    x_t = torch.randn(2, 1, H, W, dtype=torch.float64, requires_grad=True)
    a, b = prior.eps(x_t, 100), prior.eps(x_t, 100)
    assert torch.equal(a, b) and not a.requires_grad
    out = prior.eps(x_t, 100, differentiable=True)
    (grad,) = torch.autograd.grad(out.sum(), x_t)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    noisy = torch.full((1, 1, H, W), 0.5, dtype=torch.float64)
    assert prior.denoise(noisy, 0.1).shape == (1, 1, H, W)
    assert prior.channels == 1


def test_gray_path_errors() -> None:
    _, colour = _mixtures()
    with pytest.raises(TypeError, match="colour must be a DiffusionModel"):
        GrayFromColour("natural")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chroma_seed must be an int >= 0, got -1"):
        GrayFromColour(colour, chroma_seed=-1)
    for wrong in (1.5, "1", True, None):  # a wrong type is a TypeError, not a ValueError
        with pytest.raises(TypeError, match="chroma_seed must be an int, got"):
            GrayFromColour(colour, chroma_seed=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prior GrayFromColour works on 1-channel images, but the images have 3 channels; use a colour prior"):
        GrayFromColour(colour).eps(torch.zeros(1, 3, H, W, dtype=torch.float64), 10)
