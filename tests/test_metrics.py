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
