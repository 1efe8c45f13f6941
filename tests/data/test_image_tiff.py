"""read_image on TIFF files as tifffile, Pillow and other writers make them: stacks, photometric
interpretations, planar samples, extra samples, orientation, compressions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from reddiff_imaging.data.image_io import read_image

RNG = np.random.default_rng(2)


def _levels(image: torch.Tensor, bits: int) -> np.ndarray:
    array = np.round(image.permute(1, 2, 0).double().numpy() * (2**bits - 1)).astype(np.int64)
    return array[..., 0] if array.shape[-1] == 1 else array


def _stack_of_pages(path: Path, pages: list[np.ndarray]) -> None:
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, photometric="minisblack")


@pytest.mark.parametrize(
    ("pages", "described"),
    [
        ([RNG.integers(0, 256, (50, 60), dtype=np.uint8) for _ in range(3)], "3 images (pages of 50×60)"),  # was read as RGB
        ([RNG.integers(0, 256, (5, 6), dtype=np.uint8), RNG.integers(0, 256, (7, 8), dtype=np.uint8)], "2 images (pages of 5×6, 7×8)"),
        ([RNG.integers(0, 256, (40, 50), dtype=np.uint8) for _ in range(2)], "2 images (pages of 40×50)"),  # was gray + alpha
    ],
)
def test_stacks_are_refused(tmp_path: Path, pages: list[np.ndarray], described: str) -> None:
    _stack_of_pages(tmp_path / "stack.tif", pages)
    with pytest.raises(ValueError, match=r"stack\.tif' holds " + re.escape(described) + "; read_image reads one image"):
        read_image(tmp_path / "stack.tif")


def test_a_stack_written_by_tifffile_from_one_array_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "volume.tif", RNG.integers(0, 256, (40, 50, 2), dtype=np.uint8))  # 40 pages of 50×2
    with pytest.raises(ValueError, match=r"volume\.tif' holds 40 images \(pages of 50×2\)"):
        read_image(tmp_path / "volume.tif")


def test_thumbnails_and_pyramid_levels_are_not_images_of_their_own(tmp_path: Path) -> None:
    main = RNG.integers(0, 256, (50, 60), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(main)
        tif.write(main[::10, ::10], subfiletype=1)  # a reduced-resolution copy
    image, info = read_image(tmp_path / "thumb.tif")
    np.testing.assert_array_equal(_levels(image, 8), main)
    with tifffile.TiffWriter(tmp_path / "pyramid.tif") as tif:
        tif.write(main, subifds=1)
        tif.write(main[::2, ::2], subfiletype=1)
    np.testing.assert_array_equal(_levels(read_image(tmp_path / "pyramid.tif")[0], 8), main)


def test_planar_samples(tmp_path: Path) -> None:
    planes = RNG.integers(0, 65536, (3, 20, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planes, photometric="rgb", planarconfig="separate")
    image, info = read_image(tmp_path / "planar.tif")
    assert (info.channels, info.bit_depth) == (3, 16)
    np.testing.assert_array_equal(_levels(image, 16), np.moveaxis(planes, 0, -1))
    tifffile.imwrite(tmp_path / "tiny.tif", planes[:, :1, :3], photometric="rgb", planarconfig="separate")  # 1×3 RGB
    assert read_image(tmp_path / "tiny.tif")[0].shape == (3, 1, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, bool])
def test_min_is_white_is_inverted(tmp_path: Path, dtype: type) -> None:
    stored = RNG.integers(0, 2 if dtype is bool else np.iinfo(dtype).max + 1, (5, 6)).astype(dtype)
    tifffile.imwrite(tmp_path / "white.tif", stored, photometric="miniswhite")
    image, info = read_image(tmp_path / "white.tif")
    expected = 1 - stored.astype(np.float64) / (1 if dtype is bool else np.iinfo(dtype).max)
    np.testing.assert_allclose(image[0].double().numpy(), expected, atol=1e-7)
    assert info.notes == ("MINISWHITE: inverted so that bright means high (0 is white in the file)",)


def test_palette_tiff_is_expanded_to_its_colours(tmp_path: Path) -> None:
    picture = Image.fromarray(RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)).convert("P")
    picture.save(tmp_path / "palette.tif")  # before: read as the gray indices
    image, info = read_image(tmp_path / "palette.tif")
    assert (info.channels, info.bit_depth, info.notes) == (3, 8, ("palette expanded to its colours",))
    np.testing.assert_array_equal(_levels(image, 8), np.asarray(picture.convert("RGB")))
    colormap = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)  # a 16-bit palette keeps its 16 bits
    indices = RNG.integers(0, 256, (4, 5), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "deep.tif", indices, photometric="palette", colormap=colormap)
    image, info = read_image(tmp_path / "deep.tif")
    assert info.bit_depth == 16
    np.testing.assert_array_equal(_levels(image, 16), np.moveaxis(colormap[:, indices], 0, -1))


def test_cmyk_tiff_is_converted_not_read_as_rgb_and_alpha(tmp_path: Path) -> None:
    picture = Image.fromarray(RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)).convert("CMYK")
    picture.save(tmp_path / "print.tif")  # before: C, M, Y read as R, G, B and K dropped as 'alpha'
    image, info = read_image(tmp_path / "print.tif")
    assert info.notes == ("CMYK colours converted to RGB (Pillow)",)
    np.testing.assert_array_equal(_levels(image, 8), np.asarray(picture.convert("RGB")))


def test_extra_samples_that_are_not_alpha_are_refused(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, (10, 12, 2), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "two.tif", data, photometric="minisblack", planarconfig="contig")
    with pytest.raises(ValueError, match=r"two\.tif' holds 2 samples per pixel: 1 gray and 1 extra sample that is not alpha"):
        read_image(tmp_path / "two.tif")
    five = RNG.integers(0, 256, (10, 12, 5), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "five.tif", five, photometric="rgb", planarconfig="contig", extrasamples=[0, 0])
    with pytest.raises(ValueError, match=r"five\.tif' holds 5 samples per pixel: 3 RGB and 2 extra samples"):
        read_image(tmp_path / "five.tif")
    rgba = RNG.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    image, info = read_image(tmp_path / "rgba.tif")
    assert info.notes == ("alpha channel dropped (transparent pixels keep their colour)",)
    np.testing.assert_array_equal(_levels(image, 8), rgba[..., :3])


def test_orientation_tag(tmp_path: Path) -> None:
    stored = RNG.integers(0, 65536, (4, 7), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "turned.tif", stored, extratags=[(274, "H", 1, 6, True)])
    image, info = read_image(tmp_path / "turned.tif")
    np.testing.assert_array_equal(_levels(image, 16), np.rot90(stored, -1))
    assert info.notes == ("turned upright as its TIFF orientation 6 says (rotated 90° clockwise)",)


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits", "tiff_adobe_deflate"])
@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "F"])
def test_compressions_pillow_writes(tmp_path: Path, compression: str, mode: str) -> None:
    """LZW needs imagecodecs in tifffile; without it, Pillow decodes what it can at full depth."""
    if mode == "RGB":
        data = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    elif mode == "F":
        data = RNG.random((6, 7)).astype(np.float32)
    else:
        data = RNG.integers(0, 65536 if mode == "I;16" else 256, (6, 7)).astype(np.uint16 if mode == "I;16" else np.uint8)
    Image.fromarray(data).save(tmp_path / "c.tif", compression=compression)
    image, info = read_image(tmp_path / "c.tif")
    assert info.dtype == str(data.dtype) and info.notes == ()
    if mode == "F":
        np.testing.assert_array_equal(image[0].numpy(), data)
    else:
        np.testing.assert_array_equal(_levels(image, 8 * data.itemsize), data)


def test_a_codec_tifffile_lacks_and_pillow_decodes_at_lower_depth_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tifffile.imwrite(tmp_path / "deep.tif", RNG.integers(0, 65536, (6, 7, 3), dtype=np.uint16))

    def missing_codec(self: object, *args: object, **kwargs: object) -> None:
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", missing_codec)  # Pillow decodes 16-bit RGB at 8 bits
    with pytest.raises(
        ValueError, match=r"deep\.tif' .* as TIFF: <COMPRESSION.LZW: 5> requires the 'imagecodecs' package.*8-bit.*pip install imagecodecs"
    ):
        read_image(tmp_path / "deep.tif")


def test_twelve_bit_samples(tmp_path: Path) -> None:
    """BitsPerSample 12: scaled by 4095, not by the uint16 they are decoded into (by tifffile with
    imagecodecs, else by Pillow)."""
    levels = RNG.integers(0, 4096, (4, 8))
    packed = bytearray()
    for a, b in levels.reshape(-1, 2):
        packed += bytes([a >> 4, ((a & 15) << 4) | (b >> 8), b & 255])
    tifffile.imwrite(tmp_path / "b12.tif", np.frombuffer(bytes(packed), np.uint8).reshape(4, 12), photometric="minisblack")
    raw = bytearray((tmp_path / "b12.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "b12.tif") as tif:
        tags = tif.pages[0].tags
        width, bits = tags["ImageWidth"].valueoffset, tags["BitsPerSample"].valueoffset
    raw[width : width + 2] = (8).to_bytes(2, "little")
    raw[bits : bits + 2] = (12).to_bytes(2, "little")
    (tmp_path / "b12.tif").write_bytes(bytes(raw))
    image, info = read_image(tmp_path / "b12.tif")
    assert info.bit_depth == 12
    np.testing.assert_array_equal(_levels(image, 12), levels)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint32, np.float64])
def test_sample_formats(tmp_path: Path, dtype: type) -> None:
    if np.dtype(dtype).kind == "f":
        data = RNG.random((5, 6)).astype(dtype)
        expected = data.astype(np.float64)
    else:
        info = np.iinfo(dtype)
        data = RNG.integers(info.min, info.max, (5, 6), endpoint=True).astype(dtype)
        expected = (data.astype(np.float64) - info.min) / (float(info.max) - info.min)
    tifffile.imwrite(tmp_path / "s.tif", data)
    image, info = read_image(tmp_path / "s.tif")
    assert info.dtype == np.dtype(dtype).name
    np.testing.assert_allclose(image[0].double().numpy(), expected, rtol=0, atol=6e-8)


def test_fax_compressed_bilevel_tiff(tmp_path: Path) -> None:
    """CCITT group 4 needs imagecodecs in tifffile; Pillow decodes it (and inverts MINISWHITE)."""
    mask = RNG.random((9, 13)) > 0.5
    for photometric, notes in ((1, ()), (0, ("MINISWHITE: inverted so that bright means high (0 is white in the file)",))):
        Image.fromarray(mask).save(tmp_path / "fax.tif", compression="group4", tiffinfo={262: photometric})
        with tifffile.TiffFile(tmp_path / "fax.tif") as tif:
            assert tif.pages[0].photometric == photometric
        image, info = read_image(tmp_path / "fax.tif")
        np.testing.assert_array_equal(image[0].numpy(), mask.astype(np.float32))
        assert info.notes == notes


def test_a_16_bit_palette_that_pillow_would_cut_to_8_bits_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    colormap = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", RNG.integers(0, 256, (4, 5), dtype=np.uint8), photometric="palette", colormap=colormap)

    def missing_codec(self: object, *args: object, **kwargs: object) -> None:
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", missing_codec)
    with pytest.raises(ValueError, match=r"deep\.tif' .* Pillow would decode it with 8-bit colours where its palette holds 16-bit ones"):
        read_image(tmp_path / "deep.tif")
