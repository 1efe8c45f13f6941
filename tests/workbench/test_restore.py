"""Restoring one image file."""

from __future__ import annotations

import math
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image

from reddiff_imaging.cli import main
from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.workbench.restore import restore_image


@pytest.fixture
def gray_png(tmp_path: Path) -> Path:
    path = tmp_path / "input.png"
    array = (heldout_images(1)[0, 0].numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def test_restore_with_the_auto_prior(gray_png: Path, tmp_path: Path) -> None:
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
    assert info["notes"] == [] and info["bit_depth"] == 8
    assert info["prior"] == "gray:natural"  # auto: the natural prior through its gray adapter


def test_a_16bit_gray_png_keeps_its_size_and_bit_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skimage.data import camera

    crop = camera()[200:236, 220:272].astype(np.uint16) * 257 + np.arange(52, dtype=np.uint16)  # 36×52, 16 bits
    iio.imwrite(tmp_path / "slice.png", crop)
    out = tmp_path / "restored.png"
    assert main(["restore", str(tmp_path / "slice.png"), "--task", "deblur-gaussian", "--solver", "diffpir", "--steps", "10",
                 "--output", str(out), "--device", "cpu"]) == 0
    written = iio.imread(out)
    assert written.dtype == np.uint16 and written.shape == (36, 52)
    assert len(np.unique(written)) > 256  # more levels than 8 bits hold
    printed = capsys.readouterr().out
    assert "note: the network takes sides divisible by 8: 36×52 images are reflect-padded to 40×56" in printed
    assert "(16-bit)" in printed
    assert "prior: gray:natural (auto: the natural-image prior for a 1-channel image; --prior to choose another)" in printed


def test_an_8bit_colour_image_stays_colour(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    iio.imwrite(tmp_path / "photo.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"1-channel images, but the images have 3 channels.*Channelwise.*--channels 1"):
        restore_image(tmp_path / "photo.png", tmp_path / "o.png", task="inpainting-random", prior="default", steps=2, device="cpu")
    assert not (tmp_path / "o.png").exists()
    auto = restore_image(tmp_path / "photo.png", tmp_path / "auto.png", task="inpainting-random", steps=2, device="cpu")
    assert auto["prior"] == "natural" and auto["shape"] == (3, 24, 32)
    for prior in ("channelwise:default", "gaussian"):
        solver = "reddiff" if prior.startswith("channelwise") else "pnp-pgd"
        info = restore_image(tmp_path / "photo.png", tmp_path / f"{solver}.png", task="inpainting-random", solver=solver,
                             prior=prior, steps=2, device="cpu")
        with Image.open(tmp_path / f"{solver}.png") as im:
            assert im.mode == "RGB" and im.size == (32, 24)
        assert info["shape"] == (3, 24, 32) and info["notes"] == []
    gray = restore_image(tmp_path / "photo.png", tmp_path / "gray.png", task="inpainting-random", steps=2, channels=1,
                         device="cpu")
    assert gray["shape"] == (1, 24, 32) and gray["notes"] == ["colour converted to gray (luminance, skimage.color.rgb2gray)"]
    assert gray["prior"] == "gray:natural"


def test_a_float_tiff_is_written_as_float(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "f.tif", heldout_images(1)[0, 0].numpy())
    info = restore_image(tmp_path / "f.tif", tmp_path / "o.tif", task="denoising", solver="pnp-pgd", prior="gaussian",
                         steps=2, device="cpu")
    assert info["bit_depth"] == 32 and tifffile.imread(tmp_path / "o.tif").dtype == np.float32
    info = restore_image(tmp_path / "f.tif", tmp_path / "o.png", task="denoising", solver="pnp-pgd", prior="gaussian",
                         steps=2, device="cpu")
    assert info["bit_depth"] == 16 and "cannot hold the input's float samples" in info["notes"][-1]


def test_rescale_stretches_a_12_bit_scan_and_writes_it_back_in_its_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skimage.data import camera

    scan = np.round(camera()[200:240, 220:260] / 255 * 4000 + 60).astype(np.uint16)  # 12-bit values in 16-bit samples
    iio.imwrite(tmp_path / "scan.png", scan)
    plain = restore_image(tmp_path / "scan.png", tmp_path / "plain.png", task="denoising", solver="pnp-pgd", prior="gaussian",
                          steps=2, device="cpu")
    assert plain["notes"][0].startswith(f"samples span [{scan.min()}, {scan.max()}], 5.1 % of the uint16 range [0, 65535]")
    out = tmp_path / "stretched.png"
    assert main(["restore", str(tmp_path / "scan.png"), "--task", "denoising", "--solver", "pnp-pgd", "--prior", "gaussian",
                 "--steps", "2", "--rescale", "--output", str(out), "--device", "cpu"]) == 0
    assert f"note: samples rescaled from their range [{scan.min()}, {scan.max()}] to [0, 1]" in capsys.readouterr().out
    written = iio.imread(out)
    assert written.dtype == np.uint16 and scan.min() <= written.min() and written.max() <= scan.max()  # the scan's own values
    assert written.max() - written.min() > 0.75 * (scan.max() - scan.min())


def test_rescale_reads_a_float_image_in_physical_units(tmp_path: Path) -> None:
    units = heldout_images(1)[0, 0].numpy() * 3000 - 1000  # e.g. Hounsfield units
    tifffile.imwrite(tmp_path / "hu.tif", units)
    with pytest.raises(ValueError, match=r"holds float samples in \[-74.4553, 1940.38\].*rescale=True, --rescale"):
        restore_image(tmp_path / "hu.tif", tmp_path / "o.tif", task="denoising", solver="pnp-pgd", prior="gaussian", steps=2)
    info = restore_image(tmp_path / "hu.tif", tmp_path / "o.tif", task="denoising", solver="pnp-pgd", prior="gaussian",
                         steps=2, rescale=True, device="cpu")
    back = tifffile.imread(tmp_path / "o.tif")
    assert info["bit_depth"] == 32 and back.dtype == np.float32 and -1000 <= back.min() < 0 and 1000 < back.max() <= 2000
    info = restore_image(tmp_path / "hu.tif", tmp_path / "o.png", task="denoising", solver="pnp-pgd", prior="gaussian",
                         steps=2, rescale=True, device="cpu")
    assert info["notes"][-1] == "16-bit samples cannot hold the input's own values: the output is written rescaled, as the solver saw it"
    assert iio.imread(tmp_path / "o.png").dtype == np.uint16


def test_restore_crops_and_resizes_on_request(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    out = tmp_path / "restored.png"
    info = restore_image(path, out, task="deblur-gaussian", solver="pnp-pgd", prior="gaussian", steps=2, size=24, device="cpu")
    with Image.open(out) as im:
        assert im.size == (24, 24) and im.mode == "RGB"
    assert info["shape"] == (3, 24, 24)
    assert info["notes"] == ["40×56 image cropped to the centred 40×40 square and resized to 24×24 (bicubic)"]


def test_restore_never_writes_over_its_input_or_its_other_output(tmp_path: Path, gray_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = gray_png.read_bytes()
    (tmp_path / "link.png").symlink_to(gray_png)
    os.link(gray_png, tmp_path / "hard.png")
    pairs = ((gray_png, gray_png), (tmp_path / "link.png", gray_png), (gray_png, tmp_path / "." / "link.png"), (tmp_path / "hard.png", gray_png))
    for image, output in pairs:
        with pytest.raises(ValueError, match=r"output '.*' is the same file as image '.*'; writing it would destroy that file"):
            restore_image(image, output, task="denoising", solver="admm", prior="tv", steps=2, device="cpu")
    with pytest.raises(ValueError, match="save_measurement 'o.png' is the same file as output 'o.png'"):
        restore_image(gray_png, "o.png", task="denoising", solver="admm", prior="tv", steps=2, save_measurement="o.png")
    common = ["restore", str(gray_png), "--task", "denoising", "--solver", "admm", "--prior", "tv", "--steps", "2"]
    assert main([*common, "--output", str(gray_png)]) == 2
    assert f"error: --output '{gray_png}' is the same file as image '{gray_png}'" in capsys.readouterr().err
    out = str(tmp_path / "o.png")
    assert main([*common, "--output", out, "--measurement", out]) == 2
    assert f"error: --measurement '{out}' is the same file as --output '{out}'" in capsys.readouterr().err
    assert main([*common, "--output", out, "--measurement", str(tmp_path / "no" / "such" / "dir" / "file.xyz")]) == 2
    assert gray_png.read_bytes() == original and not (tmp_path / "o.png").exists()


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
    with pytest.raises(ValueError, match=r"o\.gif.*suffix must be one of"):
        restore_image(gray_png, tmp_path / "o.gif", task="inpainting-box", steps=1)
    assert not (tmp_path / "o.png").exists()


def test_size_is_checked_before_any_work(tmp_path: Path, gray_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="size must be an int >= 1 and <= 10000, got 100000000"):  # not a failed allocation
        restore_image(gray_png, tmp_path / "o.png", task="denoising", solver="admm", prior="tv", steps=2, size=100_000_000, device="cpu")
    for size in ("0", "100000000"):
        with pytest.raises(SystemExit) as exit_info:  # checked when parsed, as compare and tune do
            main(["restore", str(gray_png), "--task", "denoising", "--output", str(tmp_path / "o.png"), "--size", size])
        assert exit_info.value.code == 2
        assert f"argument --size: must be an int >= 1 and <= 10000, got {size}" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_an_output_suffix_that_cannot_be_written_names_the_option(tmp_path: Path, gray_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The suffix check came from write_image's helper and said "path 'm.txt'", whichever output it was."""
    with pytest.raises(ValueError, match=r"save_measurement 'm\.txt' ends in '\.txt'; the suffix must be one of \['\.png'"):
        restore_image(gray_png, tmp_path / "o.png", task="denoising", solver="admm", prior="tv", steps=2, save_measurement="m.txt")
    with pytest.raises(ValueError, match=r"output '.*o\.gif' ends in '\.gif'; the suffix must be one of"):
        restore_image(gray_png, tmp_path / "o.gif", task="denoising", solver="admm", prior="tv", steps=2)
    common = ["restore", str(gray_png), "--task", "denoising", "--solver", "admm", "--prior", "tv", "--steps", "2"]
    assert main([*common, "--output", str(tmp_path / "o.png"), "--measurement", "m.h5"]) == 2
    assert "error: --measurement 'm.h5' ends in '.h5'; the suffix must be one of" in capsys.readouterr().err
    assert main([*common, "--output", "o"]) == 2
    assert "error: --output 'o' has no suffix; the suffix must be one of" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
