"""read_image on files as they come: the format told by content, frames, orientation, palettes,
low and high bit depths, NumPy archives (each case a file made here with the library that writes it)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from reddiff_imaging.data.image_io import read_image

RNG = np.random.default_rng(1)


def _levels(image: torch.Tensor, bits: int) -> np.ndarray:
    """The image as ``(H, W)`` or ``(H, W, C)`` integer levels of ``bits`` bits."""
    array = np.round(image.permute(1, 2, 0).double().numpy() * (2**bits - 1)).astype(np.int64)
    return array[..., 0] if array.shape[-1] == 1 else array


def test_the_content_decides_the_format_not_the_suffix(tmp_path: Path) -> None:
    deep = RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    png.from_array(deep.reshape(5, -1), "RGB;16").save(str(tmp_path / "deep.jpg"))  # a 16-bit PNG named .jpg
    image, info = read_image(tmp_path / "deep.jpg")
    assert (info.format, info.bit_depth) == ("png", 16)  # not decoded as a JPEG at 8 bits
    np.testing.assert_array_equal(_levels(image, 16), deep)
    assert info.notes == ("PNG content in a file named .jpg: read as PNG",)
    (tmp_path / "no_suffix").write_bytes((tmp_path / "deep.jpg").read_bytes())
    assert read_image(tmp_path / "no_suffix")[1].format == "png" and read_image(tmp_path / "no_suffix")[1].notes == ()
    gray = RNG.integers(0, 256, (4, 5), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "t.png", gray)
    image, info = read_image(tmp_path / "t.png")
    assert info.format == "tiff" and info.notes[0] == "TIFF content in a file named .png: read as TIFF"
    np.testing.assert_array_equal(_levels(image, 8), gray)
    iio.imwrite(tmp_path / "upper.TIF", gray, extension=".tif")
    assert read_image(tmp_path / "upper.TIF")[1].notes == ()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("text.png", b"hello world", r"text\.png' \(11 bytes\) as PNG: .*starts with b'hello world'"),
        ("text", b"hello world", r"'.*text' \(11 bytes\): not an image file .*starts with b'hello world'"),
        ("notes.txt", b"1 2 3", r"notes\.txt' \(5 bytes\): not an image file"),
        ("x.tif", b"\xff\xd8\xff\xe0" + b"\0" * 20, r"x\.tif' \(24 bytes\) as JPEG"),  # a cut-off JPEG named .tif
        ("pickle.npy", pickle.dumps({"a": 1}), r"pickle\.npy' \(\d+ bytes\) is a Python pickle.*never loaded"),
    ],
)
def test_files_that_are_not_images_are_named_as_such(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_image(tmp_path / name)


def test_hdf5_and_truncated_files(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "data.png", "w") as f:
        f["x"] = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"data\.png' .* is an HDF5 file, not an image"):
        read_image(tmp_path / "data.png")
    iio.imwrite(tmp_path / "a.png", RNG.integers(0, 256, (32, 32), dtype=np.uint8))
    whole = (tmp_path / "a.png").read_bytes()
    for cut in (20, len(whole) // 2):
        (tmp_path / "cut.png").write_bytes(whole[:cut])
        with pytest.raises(ValueError, match=rf"cut\.png' \({cut} bytes\) as PNG"):
            read_image(tmp_path / "cut.png")


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animations_are_refused(tmp_path: Path, suffix: str) -> None:
    frames = [Image.fromarray(RNG.integers(0, 256, (8, 9, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / f"anim{suffix}", save_all=True, append_images=frames[1:], lossless=True)
    with pytest.raises(ValueError, match=rf"anim\{suffix}' holds 3 frames \(an animation\); read_image reads one image"):
        read_image(tmp_path / f"anim{suffix}")
    frames[0].save(tmp_path / f"still{suffix}", lossless=True)
    image, info = read_image(tmp_path / f"still{suffix}")
    assert image.shape == (3, 8, 9)
    if suffix == ".webp":
        np.testing.assert_array_equal(_levels(image, 8), np.asarray(frames[0]))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_do(tmp_path: Path, orientation: int) -> None:
    stored = RNG.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[0x0112] = orientation
    picture.save(tmp_path / "photo.png", exif=exif)
    image, info = read_image(tmp_path / "photo.png")
    with Image.open(tmp_path / "photo.png") as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened))  # Pillow's reading is the reference
    np.testing.assert_array_equal(_levels(image, 8), upright)
    if orientation == 1:
        assert info.notes == ()
    else:
        assert len(info.notes) == 1 and info.notes[0].startswith(f"turned upright as its EXIF orientation {orientation} says (")
    assert (info.height, info.width) == upright.shape[:2]


def test_exif_orientation_of_a_jpeg(tmp_path: Path) -> None:
    stored = np.zeros((8, 16, 3), np.uint8)
    stored[:, :8] = 255  # white left half
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[0x0112] = 6  # the camera was turned: show it rotated 90° clockwise
    picture.save(tmp_path / "photo.jpg", exif=exif, quality=100, progressive=True)
    image, info = read_image(tmp_path / "photo.jpg")
    assert image.shape == (3, 16, 8) and info.notes == ("turned upright as its EXIF orientation 6 says (rotated 90° clockwise)",)
    assert float(image[:, :8].mean()) > 0.9 and float(image[:, 8:].mean()) < 0.1  # the white half is now on top


def test_palettes_and_transparency_are_noted(tmp_path: Path) -> None:
    colours = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    palette = Image.fromarray(colours).convert("P")
    palette.save(tmp_path / "p.png", transparency=palette.getpixel((0, 0)))  # one pixel transparent
    image, info = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(_levels(image, 8), np.asarray(palette.convert("RGB")))
    assert info.notes == ("palette expanded to its colours", "alpha channel dropped (transparent pixels keep their colour)")
    Image.fromarray(colours).save(tmp_path / "key.png", transparency=tuple(int(v) for v in colours[0, 0]))
    image, info = read_image(tmp_path / "key.png")
    np.testing.assert_array_equal(_levels(image, 8), colours)
    assert info.notes == (f"its transparent colour {tuple(int(v) for v in colours[0, 0])} (tRNS) is ignored: those pixels keep it",)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_depth_gray_png(tmp_path: Path, bits: int) -> None:
    stored = RNG.integers(0, 2**bits, (5, 6))
    png.from_array(stored.tolist(), f"L;{bits}").save(str(tmp_path / "low.png"))
    image, info = read_image(tmp_path / "low.png")
    assert info.bit_depth == bits and info.channels == 1
    np.testing.assert_array_equal(_levels(image, bits), stored)


def test_16_bit_netpbm(tmp_path: Path) -> None:
    stored = RNG.integers(0, 65536, (5, 6), dtype=np.uint16)
    (tmp_path / "a.pgm").write_bytes(b"P5\n6 5\n65535\n" + stored.astype(">u2").tobytes())
    image, info = read_image(tmp_path / "a.pgm")  # Pillow decodes it as 32-bit signed integers
    assert (info.dtype, info.bit_depth, info.notes) == ("uint16", 16, ())
    np.testing.assert_array_equal(_levels(image, 16), stored)


def test_npz_archives(tmp_path: Path) -> None:
    data = RNG.random((4, 5)).astype(np.float32)
    np.savez(tmp_path / "one.npz", image=data)
    image, info = read_image(tmp_path / "one.npz")
    assert info.format == "npz"
    np.testing.assert_array_equal(image[0].numpy(), data)
    (tmp_path / "one.npy").write_bytes((tmp_path / "one.npz").read_bytes())  # named .npy: no AttributeError
    assert read_image(tmp_path / "one.npy")[1].notes == ("NPZ content in a file named .npy: read as NPZ",)
    np.savez(tmp_path / "two.npz", x=data, y=data)
    with pytest.raises(ValueError, match=r"two\.npz' holds 2 arrays \('x', 'y'\); expected one"):
        read_image(tmp_path / "two.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([[{"a": 1}]], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz' holds Python objects \(dtype object\), which are never unpickled"):
        read_image(tmp_path / "obj.npz")
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy' holds Python objects \(dtype object\), which are never unpickled"):
        read_image(tmp_path / "obj.npy")


def test_a_damaged_png_is_refused_not_read_in_part(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    damaged = bytearray((tmp_path / "a.png").read_bytes())
    damaged[60:80] = bytes(20)  # inside the image data
    (tmp_path / "damaged.png").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"damaged\.png' \([\d,]+ bytes\) as PNG: broken data stream"):
        read_image(tmp_path / "damaged.png")


@pytest.mark.parametrize("dtype", [">u2", ">i2", ">f4", ">f8"])
def test_big_endian_arrays_report_their_native_dtype(tmp_path: Path, dtype: str) -> None:
    native = np.dtype(dtype).newbyteorder("=")
    data = RNG.random((3, 4)) if native.kind == "f" else RNG.integers(np.iinfo(native).min, np.iinfo(native).max, (3, 4))
    np.save(tmp_path / "be.npy", data.astype(dtype))
    image, info = read_image(tmp_path / "be.npy")
    assert info.dtype == native.name and info.is_float == (native.kind == "f")  # '>f4' was not a float
    assert image.dtype == torch.float32
    tifffile.imwrite(tmp_path / "be.tif", data.astype(dtype), byteorder=">")
    again, info = read_image(tmp_path / "be.tif")
    assert info.dtype == native.name
    torch.testing.assert_close(again, image, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint64])
def test_wide_integers_float32_cannot_keep_apart_need_rescale(tmp_path: Path, dtype: type) -> None:
    """np.save of integers gives int64: values 0..11 mapped from the int64 range all became 0.5."""
    data = (np.arange(12, dtype=dtype) + dtype(2**63 if dtype is np.uint64 else 0)).reshape(3, 4)
    np.save(tmp_path / "wide.npy", data)
    with pytest.raises(
        ValueError,
        match=rf"wide\.npy' holds {np.dtype(dtype).name} samples spanning \[{data.min()}, {data.max()}\].*float32 cannot keep .*12 levels apart.*rescale=True",
    ):
        read_image(tmp_path / "wide.npy")
    image, info = read_image(tmp_path / "wide.npy", rescale=True)  # stretched from the integers, exactly
    torch.testing.assert_close(image[0], torch.from_numpy(np.arange(12).reshape(3, 4) / 11).float())
    if dtype is np.int32:
        low = (0 + 2**31) / (2**32 - 1)
        assert info.value_range == (low, (11 + 2**31) / (2**32 - 1))
    else:  # float64 cannot tell the ends apart on the 64-bit scale
        assert info.value_range is None and "cannot be mapped back" in info.notes[-1]


def test_wide_integers_that_float32_keeps_apart_are_read(tmp_path: Path) -> None:
    data = np.array([[0, 5, 2**31], [7, 1, 2**32 - 1]], dtype=np.uint32)  # small values keep their own resolution
    np.save(tmp_path / "u32.npy", data)
    image, _ = read_image(tmp_path / "u32.npy")
    assert len(torch.unique(image)) == 6
    full = RNG.integers(0, 2**32, (8, 8), dtype=np.uint64).astype(np.uint32)  # float32 rounds large values, as it must
    np.save(tmp_path / "full.npy", full)
    np.testing.assert_allclose(read_image(tmp_path / "full.npy")[0][0].double().numpy(), full / (2**32 - 1), rtol=2**-23)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((3, 4), np.complex64), r"holds complex64 samples; expected integers, floats or bools"),
        (np.array([["a", "b"]]), r"holds <U1 samples; expected integers, floats or bools"),
        (np.zeros((0, 4), np.float32), r"holds an array of shape \(0, 4\); expected one image"),
        (np.zeros((1, 3, 4, 5), np.float32), r"holds an array of shape \(1, 3, 4, 5\); expected one image"),
        (np.float32(0.5), r"holds an array of shape \(\); expected one image"),
    ],
)
def test_arrays_that_are_not_images(tmp_path: Path, array: np.ndarray, message: str) -> None:
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ValueError, match=message):
        read_image(tmp_path / "x.npy")


def test_fortran_order_and_bool_arrays(tmp_path: Path) -> None:
    data = np.asfortranarray(RNG.random((5, 7)).astype(np.float32))
    np.save(tmp_path / "f.npy", data)
    np.testing.assert_array_equal(read_image(tmp_path / "f.npy")[0][0].numpy(), data)
    mask = RNG.random((4, 6)) > 0.5
    np.save(tmp_path / "mask.npy", mask)
    image, info = read_image(tmp_path / "mask.npy")
    assert (info.dtype, info.bit_depth) == ("bool", 1)
    np.testing.assert_array_equal(image[0].numpy(), mask.astype(np.float32))


def test_a_camera_mpo_jpeg_reads_its_primary_image(tmp_path: Path) -> None:
    primary = RNG.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    Image.fromarray(primary).save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[Image.new("RGB", (5, 4))])
    image, info = read_image(tmp_path / "camera.jpg")
    assert image.shape == (3, 8, 10) and info.format == "jpeg"
    assert info.notes == ("read the first of its 2 images (MPO: the others are previews or further views)",)
