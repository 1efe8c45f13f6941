"""Metrics: PSNR/SSIM values and checks, LPIPS's offline behaviour."""

from __future__ import annotations

import math

import pytest
import torch

from reddiff_imaging import metrics


def test_psnr_matches_its_definition_per_image() -> None:
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    mse = (x - y).square().flatten(1).mean(1)
    torch.testing.assert_close(metrics.psnr(y, x), -10 * torch.log10(mse), rtol=1e-5, atol=1e-4)


def test_ssim_is_one_for_identical_images_and_lower_otherwise() -> None:
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(metrics.ssim(x, x), torch.ones(2), atol=1e-5)
    assert bool((metrics.ssim(x.flip(-1), x) < 0.5).all())


def test_metric_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="estimate and reference must have the same shape"):
        metrics.psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="estimate contains NaN or Inf"):
        metrics.psnr(torch.full((1, 1, 4, 4), math.nan), torch.rand(1, 1, 4, 4))


def test_lpips_without_local_weights_says_which_file_to_place_where(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"alexnet-owt-7be5be79.pth at .*checkpoints"):
        metrics.LPIPS()


@pytest.mark.parametrize(
    ("estimate", "reference", "match"),
    [
        (torch.rand(2, 16), torch.rand(2, 16), r"batches \(B, C, H, W\), got shape \(2, 16\)"),
        (torch.rand(1, 16, 16), torch.rand(1, 16, 16), r"batches \(B, C, H, W\), got shape \(1, 16, 16\)"),
        (torch.rand(1, 1, 0, 4), torch.rand(1, 1, 0, 4), r"estimate must not be empty, got shape \(1, 1, 0, 4\)"),
        (torch.rand(1, 1, 8, 8), 255 * torch.rand(1, 1, 8, 8) + 2, r"reference must lie in \[0, 1\].*divide 8-bit images by 255"),
    ],
)
def test_psnr_and_ssim_refuse_what_they_cannot_score(estimate, reference, match) -> None:
    for metric in (metrics.psnr, metrics.ssim):
        with pytest.raises(ValueError, match=match):
            metric(estimate, reference)


def test_ssim_names_its_smallest_image_and_psnr_checks_validate() -> None:
    with pytest.raises(ValueError, match=r"at least 6 × 6 pixels .*got shape \(1, 1, 5, 5\)"):
        metrics.ssim(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5))
    assert metrics.ssim(torch.rand(1, 1, 6, 6), torch.rand(1, 1, 6, 6)).shape == (1,)
    with pytest.raises(TypeError, match="validate must be a bool, got 'no'"):
        metrics.psnr(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), validate="no")  # type: ignore[arg-type]
    # an unclipped estimate outside [0, 1] is still scored
    assert metrics.psnr(torch.full((1, 1, 4, 4), 1.2), torch.ones(1, 1, 4, 4)).shape == (1,)


def test_lpips_checks_its_device_first() -> None:
    with pytest.raises(ValueError, match=r"device 'nonsense' is not a device"):
        metrics.LPIPS(device="nonsense")
