"""Bad arguments of prior constructors and helpers: a wrong type is a TypeError, a value out of range
a ValueError, each naming the argument — before any work."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from reddiff_imaging.priors import TV, DiffusionPrior, GaussianMixture, VPSchedule, WaveletDenoiser
from reddiff_imaging.priors.gray import GrayFromColour
from reddiff_imaging.priors.sampling import timestep_sequence


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _colour() -> GaussianMixture:
    return GaussianMixture(torch.rand(2, 3, 2, 2, dtype=torch.float64), 0.1 * torch.eye(12, dtype=torch.float64).expand(2, 12, 12), torch.tensor([0.5, 0.5], dtype=torch.float64))


#: (argument name, a call that passes the value as that argument)
INT_ARGUMENTS: list[tuple[str, Callable[[object], object]]] = [
    ("chroma_seed", lambda v: GrayFromColour(_colour(), chroma_seed=v)),  # type: ignore[arg-type]
    ("n", lambda v: DiffusionPrior(_Zero(), image_shape=(1, 4, 4)).sample(v, steps=1)),  # type: ignore[arg-type]
    ("level", lambda v: WaveletDenoiser(level=v)),  # type: ignore[arg-type]
    ("size_multiple", lambda v: DiffusionPrior(_Zero(), size_multiple=v)),  # type: ignore[arg-type]
    ("max_iter", lambda v: TV(0.1, max_iter=v)),  # type: ignore[arg-type]
    ("num_timesteps", lambda v: VPSchedule.linear(num_timesteps=v)),  # type: ignore[arg-type]
    ("num_timesteps", lambda v: VPSchedule.cosine(num_timesteps=v)),  # type: ignore[arg-type]
    ("steps", lambda v: timestep_sequence(100, v)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call"), INT_ARGUMENTS)
@pytest.mark.parametrize("wrong", [1.5, 2.0, "2", True, None, 1 + 0j])
def test_int_arguments_of_a_wrong_type_are_type_errors(name: str, call: Callable[[object], object], wrong: object) -> None:
    if name == "size_multiple" and wrong is None:
        return  # None: the network's own multiple
    with pytest.raises(TypeError, match=f"{name} must be an int, got"):
        call(wrong)


@pytest.mark.parametrize(("name", "call"), INT_ARGUMENTS)
def test_int_arguments_out_of_range_are_value_errors(name: str, call: Callable[[object], object]) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an int >= "):
        call(-1)


@pytest.mark.parametrize(("name", "call"), INT_ARGUMENTS)
def test_int_arguments_take_numpy_ints(name: str, call: Callable[[object], object]) -> None:
    call(np.int64(2))


def test_schedule_bounds_and_types() -> None:
    with pytest.raises(ValueError, match="num_timesteps must be an int >= 1 and <= 1000000, got 1000000000000"):
        VPSchedule.linear(num_timesteps=10**12)  # it tried to allocate the betas
    with pytest.raises(TypeError, match="beta_start must be a real number, got '0.1'"):
        VPSchedule.linear(beta_start="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta_end must be a finite number, got nan"):
        VPSchedule.linear(beta_end=float("nan"))
    with pytest.raises(TypeError, match="s must be a real number, got '0.1'"):
        VPSchedule.cosine(s="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="s must be a finite number >= 0, got -1"):
        VPSchedule.cosine(s=-1)
    with pytest.raises(ValueError, match=r"steps must be an int >= 1 and <= 100, got 101"):
        timestep_sequence(100, 101)


def test_diffusion_prior_checks_channels_and_checkpoint_path() -> None:
    for wrong in (1.5, "3", True):  # each was taken as the channel count
        with pytest.raises(TypeError, match="channels must be an int, got"):
            DiffusionPrior(_Zero(), channels=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="channels must be an int >= 1, got 0"):
        DiffusionPrior(_Zero(), channels=0)
    assert DiffusionPrior(_Zero(), channels=3).channels == 3
    with pytest.raises(TypeError, match=r"path must be a file path \(str or os.PathLike\), got 3 \(int\)"):
        DiffusionPrior.from_checkpoint(3)  # type: ignore[arg-type]  # pathlib's 'expected str, bytes or os.PathLike'


def test_wavelet_level_is_bounded() -> None:
    with pytest.raises(ValueError, match="level must be an int >= 1 and <= 14, got 1000000000"):
        WaveletDenoiser(level=10**9)  # failed with std::bad_alloc when denoising


def test_random_gaussian_mixture_is_bounded_before_it_is_drawn() -> None:
    with pytest.raises(ValueError, match=r"num_components=1000000000 covariances of 4 × 4 \(shape=\(1, 2, 2\)\) are 16,000,000,000 values; the limit is"):
        GaussianMixture.random(10**9, (1, 2, 2))  # tried to allocate 32 GB
    with pytest.raises(ValueError, match=r"num_components=1 covariances of 1000000 × 1000000"):
        GaussianMixture.random(1, (1, 1000, 1000))  # tried to allocate 8 TB


def test_sampling_arithmetic_refuses_what_it_cannot_compute() -> None:
    from reddiff_imaging.priors.sampling import ddim_coefficients, ddim_step, eps_from_x0, x0_from_eps

    x, eps = torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"eps must have x_t's shape \(2, 1, 4, 4\), got \(1, 1, 4, 4\)"):
        x0_from_eps(x, eps[:1], 0.5)  # it broadcast silently
    with pytest.raises(ValueError, match=r"alpha_bar must be in \(0, 1\], got 0"):
        x0_from_eps(x, eps, 0.0)  # a division by zero
    with pytest.raises(ValueError, match=r"alpha_bar must be in \[0, 1\], got nan"):
        eps_from_x0(x, eps, float("nan"))
    with pytest.raises(ValueError, match="alpha_bar must be below 1"):
        eps_from_x0(x, eps, 1.0)
    with pytest.raises(ValueError, match=r"alpha_bar must broadcast to x_t's shape \(2, 1, 4, 4\), got shape \(3, 1, 1, 1\)"):
        x0_from_eps(x, eps, torch.full((3, 1, 1, 1), 0.5))
    with pytest.raises(TypeError, match="alpha_bar must be a real number"):
        x0_from_eps(x, eps, "0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alpha_bar_s must be in \[0.6, 1\], got 0.5"):
        ddim_coefficients(0.6, 0.5, 1.0)  # s after t: math domain error before
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        ddim_coefficients(0.5, 0.6, -1.0)
    with pytest.raises(ValueError, match=r"noise must have x0's shape"):
        ddim_step(x, eps, 0.5, 0.6, 1.0, torch.zeros(1, 1, 4, 4))
    torch.testing.assert_close(x0_from_eps(x + 1, eps, torch.full((2, 1, 1, 1), 0.25)), torch.full_like(x, 2.0))


@pytest.mark.parametrize("method", ["denoise", "eps", "x0", "score", "eps_and_variance"])
def test_a_diffusion_prior_names_the_channel_counts_before_calling_its_network(method: str) -> None:
    """A 1-channel batch reached the network of the colour prior, whose error spoke of
    'H and W divisible by 8', which the prior pads for."""
    prior = DiffusionPrior.natural()
    call = getattr(prior, method)
    argument = 0.1 if method == "denoise" else 5
    with pytest.raises(ValueError, match="prior DiffusionPrior works on 3-channel images, but the images have 1 channel; run it on gray"):
        call(torch.rand(1, 1, 16, 16), argument)
    name = "x" if method == "denoise" else "x_t"
    with pytest.raises(ValueError, match=rf"{name} must have shape \(B, C, H, W\), got \(3, 16, 16\)"):
        call(torch.rand(3, 16, 16), argument)
