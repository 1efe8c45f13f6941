"""Restoring one image file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.workbench.restore import restore_image


@pytest.fixture
def gray_png(tmp_path: Path) -> Path:
    path = tmp_path / "input.png"
    array = (heldout_images(1)[0, 0].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def test_restore_with_the_default_prior(gray_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "restored.png"
    info = restore_image(
        gray_png, out, task="inpainting-box", steps=3, device="cpu", save_measurement=tmp_path / "measurement.png"
    )
    with Image.open(out) as im:
        assert im.size == (64, 64) and im.mode == "L"
    with Image.open(tmp_path / "measurement.png") as im:
        assert im.size == (64, 64)
    assert info["output"] == out and info["shape"] == (1, 64, 64)
    assert math.isfinite(info["psnr"]) and 0 <= info["ssim"] <= 1 and info["seconds"] > 0
    assert info["measurement_label"] == "masked image y"


def test_restore_crops_and_resizes_rgb_for_a_classical_prior(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    out = tmp_path / "restored.png"
    info = restore_image(path, out, task="deblur-gaussian", solver="pnp-pgd", prior="gaussian", steps=2, size=24, device="cpu")
    with Image.open(out) as im:
        assert im.size == (24, 24) and im.mode == "RGB"
    assert info["shape"] == (3, 24, 24)


def test_missing_and_unreadable_files(tmp_path: Path, gray_png: Path) -> None:
    missing = tmp_path / "missing.png"
    with pytest.raises(FileNotFoundError, match="missing.png"):
        restore_image(missing, tmp_path / "o.png", task="inpainting-box", steps=1)
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    with pytest.raises(ValueError, match="broken.png"):
        restore_image(broken, tmp_path / "o.png", task="inpainting-box", steps=1)
    with pytest.raises(ValueError, match="unknown task"):
        restore_image(gray_png, tmp_path / "o.png", task="nosuch", steps=1)
    with pytest.raises(ValueError, match="unknown solver"):
        restore_image(gray_png, tmp_path / "o.png", task="inpainting-box", solver="nosuch")
    with pytest.raises(ValueError, match="unknown prior"):
        restore_image(gray_png, tmp_path / "o.png", task="inpainting-box", prior="nosuch")
    assert not (tmp_path / "o.png").exists()
