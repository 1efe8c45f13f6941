"""Priors declare their channels; a channel mismatch fails before any work; Channelwise on request;
network priors at any size."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import InverseProblem, noise, operators, solvers
from reddiff_imaging.priors import (
    TV,
    Channelwise,
    DiffusionPrior,
    GaussianFilterDenoiser,
    GaussianMixture,
    ImageShapeNote,
)
from reddiff_imaging.priors.base import Prior


class GrayTV(TV):
    """TV declared for gray images only, counting its calls (to see that nothing ran)."""

    channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def denoise(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().denoise(x, sigma)

    def prox(self, x: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().prox(x, tau)


class _CountingNetwork(torch.nn.Module):
    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network, self.config, self.calls = network, network.config, 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.network(x, t)


def _colour_problem(shape: tuple[int, int, int] = (3, 16, 16)) -> InverseProblem:
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0))
    operator = operators.registry.build("inpainting-random", shape)
    return InverseProblem(operator, operator(x), noise.Gaussian(0.01), x)


@pytest.mark.parametrize("name", solvers.available())
def test_a_channel_mismatch_fails_before_any_work(name: str, default_prior: DiffusionPrior) -> None:
    counting = _CountingNetwork(default_prior.network)
    diffusion = DiffusionPrior(counting, default_prior.schedule)
    assert diffusion.channels == 1  # read from the UNet's configuration
    prior: Prior = diffusion if "eps" in solvers.registry.solver_class(name).requires or name == "reddiff" else GrayTV()
    steps: list[int] = []
    solver = solvers.get(name)
    with pytest.raises(ValueError, match=rf"{name}: prior \w+ works on 1-channel images, but the images have 3 channels"):
        solver.solve(_colour_problem(), prior, callback=lambda step, *_: steps.append(step))
    assert steps == [] and counting.calls == 0 and getattr(prior, "calls", 0) == 0


def test_channelwise_equals_the_prior_on_each_channel(default_prior: DiffusionPrior) -> None:
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    for inner in (GaussianFilterDenoiser(), TV(weight=2.0)):
        wrapped = Channelwise(inner)
        assert wrapped.capabilities() == inner.capabilities() and wrapped.channels is None
        sigma = torch.tensor([0.05, 0.2])
        expected = torch.cat([inner.denoise(x[:, c : c + 1], sigma) for c in range(3)], dim=1)
        torch.testing.assert_close(wrapped.denoise(x, sigma), expected)
    wrapped = Channelwise(default_prior)
    assert wrapped.capabilities() == ("denoise", "eps") and wrapped.num_timesteps == default_prior.num_timesteps
    t = torch.tensor([10, 500])
    expected = torch.cat([default_prior.eps(x[:, c : c + 1], t) for c in range(3)], dim=1)
    torch.testing.assert_close(wrapped.eps(x, t), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(wrapped.x0(x, t)[:, 1:2], default_prior.x0(x[:, 1:2], t), rtol=1e-4, atol=1e-5)


def test_channelwise_runs_every_solver_kind_on_colour(default_prior: DiffusionPrior) -> None:
    problem = _colour_problem()
    for name, prior in (("reddiff", Channelwise(default_prior)), ("admm", Channelwise(GrayTV())), ("ddrm", Channelwise(default_prior))):
        result = solvers.get(name, steps=2).solve(problem, prior)
        assert result.x.shape == (1, 3, 16, 16) and torch.isfinite(result.x).all()


def test_channelwise_refuses_a_colour_prior_and_non_priors(default_prior: DiffusionPrior) -> None:
    colour = DiffusionPrior(default_prior.network, default_prior.schedule, channels=3)
    with pytest.raises(ValueError, match="one channel at a time; prior DiffusionPrior works on 3-channel images"):
        Channelwise(colour)
    with pytest.raises(TypeError, match="must be a reddiff_imaging Prior"):
        Channelwise(torch.nn.Identity())  # type: ignore[arg-type]


def test_network_prior_at_sizes_it_was_not_trained_on(default_prior: DiffusionPrior) -> None:
    assert default_prior.size_multiple == 8  # four UNet levels: 2 ** 3
    assert default_prior.check_image_shape((1, 128, 96)) is None
    note = default_prior.check_image_shape((1, 30, 45))
    assert note == (
        "the network takes sides divisible by 8: 30×45 images are reflect-padded to 32×48 for it and its predictions cropped back"
    )
    x = torch.rand(1, 1, 30, 45, generator=torch.Generator().manual_seed(2)) * 2 - 1
    t = torch.tensor([300])
    padded = torch.nn.functional.pad(x, (0, 3, 0, 2), mode="reflect")
    torch.testing.assert_close(default_prior.eps(x, t), default_prior.network(padded, t)[..., :30, :45])
    problem = _colour_problem((1, 30, 45))
    with pytest.warns(ImageShapeNote, match="reddiff: the network takes sides divisible by 8: 30×45"):
        result = solvers.get("reddiff", steps=2).solve(problem, default_prior)
    assert result.x.shape == (1, 1, 30, 45)


def test_gaussian_mixture_takes_its_own_shape_only() -> None:
    mixture = GaussianMixture.random(2, (1, 2, 2), generator=torch.Generator().manual_seed(0))
    assert mixture.check_image_shape((1, 2, 2)) is None
    with pytest.raises(ValueError, match=r"ddim: the GaussianMixture is a distribution of images of shape \(1, 2, 2\), got images of shape \(3, 2, 2\)"):
        mixture.check_image_shape((3, 2, 2), "ddim")


def test_errors_show_the_callers_shapes_not_the_per_channel_ones() -> None:
    """The batch was reshaped to (B·C, 1, H, W) before the wrapped prior checked it, so a 3-D image
    was reported as shape (48, 1, 16) and a level for 2 images as one for 6."""
    prior = Channelwise(TV())
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\), got \(3, 16, 16\)"):
        prior.denoise(torch.rand(3, 16, 16), 0.1)
    with pytest.raises(ValueError, match=r"sigma must be a number or a tensor of shape \(2,\) \(one per item\), got shape \(3,\)"):
        prior.denoise(torch.rand(2, 3, 16, 16), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"tau must be a number or a tensor of shape \(2,\) \(one per item\), got shape \(3,\)"):
        prior.prox(torch.rand(2, 3, 16, 16), torch.tensor([0.1, 0.2, 0.3]))
    per_item = prior.denoise(torch.rand(2, 3, 16, 16), torch.tensor([0.1, 0.2]))
    assert per_item.shape == (2, 3, 16, 16)
