"""No-reference image statistics: values on images whose answer is known, and input errors."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.data import synthetic_images
from reddiff_imaging.image_statistics import edge_fraction, gradient_magnitude, noise_level


def test_gradient_magnitude_of_a_ramp_is_its_slope() -> None:
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(5.0), indexing="ij")
    ramp = (0.03 * rows + 0.04 * cols)[None, None]
    magnitude = gradient_magnitude(ramp)
    assert magnitude.shape == (1, 1, 5, 4)
    torch.testing.assert_close(magnitude, torch.full_like(magnitude, 0.05))


def test_edge_fraction_counts_the_pixels_of_a_step() -> None:
    step = torch.zeros(2, 1, 9, 9)
    step[0, :, :, 4:] = 1.0  # one vertical edge: one column of the 8x8 difference grid
    fraction = edge_fraction(step)
    torch.testing.assert_close(fraction, torch.tensor([1 / 8, 0.0]))
    assert float(edge_fraction(step, threshold=2.0)[0]) == 0.0


def test_noise_level_recovers_the_noise_std() -> None:
    g = torch.Generator().manual_seed(0)
    rows, cols = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    smooth = (0.2 + 0.3 * rows + 0.2 * cols).expand(4, 1, 64, 64)
    scenes = synthetic_images(4, 64, seed=3)
    assert float(noise_level(smooth).max()) < 1e-6
    assert float(noise_level(scenes).max()) < 3e-3  # fine stripe textures reach the finest band too
    for sigma in (0.01, 0.05):
        estimate = noise_level(smooth + sigma * torch.randn(smooth.shape, generator=g))
        assert estimate.shape == (4,)
        torch.testing.assert_close(estimate, torch.full_like(estimate, sigma), rtol=0.1, atol=0.0)
    estimate = noise_level(scenes + 0.05 * torch.randn(scenes.shape, generator=g))
    torch.testing.assert_close(estimate, torch.full_like(estimate, 0.05), rtol=0.15, atol=0.0)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"images must have shape \(B, C, H, W\) with H, W >= 2, got \(8, 8\)"):
        edge_fraction(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="images.*NaN"):
        noise_level(torch.full((1, 1, 4, 4), float("nan")))


def test_empty_images_and_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match=r"images must not be empty, got shape \(1, 0, 4, 4\)"):
        noise_level(torch.rand(1, 0, 4, 4))
    with pytest.raises(ValueError, match=r"images must not be empty"):
        edge_fraction(torch.rand(1, 0, 4, 4))
    images = torch.rand(1, 1, 8, 8)
    for bad, error in ((float("nan"), ValueError), (-0.1, ValueError), ("0.1", TypeError), (True, TypeError), (1j, TypeError)):
        with pytest.raises(error, match="threshold must be"):
            edge_fraction(images, bad)  # type: ignore[arg-type]
