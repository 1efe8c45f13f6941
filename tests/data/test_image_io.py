"""Reading and writing image files at full bit depth (round trips, conversions, errors)."""

from __future__ import annotations

import gc
import warnings
import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from reddiff_imaging.data.image_io import (
    fits_bit_depth,
    ImageInfo,
    adjust_image,
    output_bit_depth,
    read_image,
    read_image_folder,
    write_image,
)

RNG = np.random.default_rng(0)


def _as_hwc(image: torch.Tensor) -> np.ndarray:
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def test_8bit_gray_png_round_trip(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", data)
    image, info = read_image(tmp_path / "a.png")
    assert image.shape == (1, 13, 17) and image.dtype == torch.float32
    np.testing.assert_array_equal(np.round(_as_hwc(image) * 255).astype(np.uint8), data)
    assert (info.format, info.dtype, info.bit_depth, info.channels, info.notes) == ("png", "uint8", 8, 1, ())
    write_image(image, tmp_path / "b.png", bit_depth=8)
    np.testing.assert_array_equal(iio.imread(tmp_path / "b.png"), data)


def test_16bit_gray_png_keeps_every_level(tmp_path: Path) -> None:
    data = RNG.integers(0, 65536, (20, 24), dtype=np.uint16)
    iio.imwrite(tmp_path / "ct.png", data)
    image, info = read_image(tmp_path / "ct.png")
    assert (info.dtype, info.bit_depth) == ("uint16", 16)
    assert len(torch.unique(image)) == len(np.unique(data)) > 400  # PIL's convert("L") left 256 at most
    np.testing.assert_array_equal(np.round(_as_hwc(image).astype(np.float64) * 65535).astype(np.uint16), data)
    depth, note = output_bit_depth(tmp_path / "out.png", info)
    assert (depth, note) == (16, None)
    write_image(image, tmp_path / "out.png", bit_depth=depth)
    back = iio.imread(tmp_path / "out.png")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, data)


def test_float_tiff_round_trip_and_range_check(tmp_path: Path) -> None:
    data = RNG.random((9, 11)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", data)
    image, info = read_image(tmp_path / "f.tif")
    assert info.is_float and info.format == "tiff"
    np.testing.assert_array_equal(_as_hwc(image), data)
    assert output_bit_depth(tmp_path / "o.tif", info) == (32, None)
    write_image(image, tmp_path / "o.tif", bit_depth=32)
    back = tifffile.imread(tmp_path / "o.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, data)
    tifffile.imwrite(tmp_path / "hu.tif", (data * 2000 - 1000).astype(np.float32))
    with pytest.raises(ValueError, match=r"hu\.tif.*float samples in \[-.*must lie in \[0, 1\]"):
        read_image(tmp_path / "hu.tif")


def test_colour_png_tiff_jpeg(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "c.png", data)
    image, info = read_image(tmp_path / "c.png")
    assert image.shape == (3, 12, 10) and info.channels == 3
    np.testing.assert_array_equal(np.round(_as_hwc(image) * 255).astype(np.uint8), data)
    deep = RNG.integers(0, 65536, (8, 6, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", deep)
    image16, info16 = read_image(tmp_path / "c16.tif")
    assert (info16.bit_depth, info16.channels) == (16, 3)
    write_image(image16, tmp_path / "o16.tiff", bit_depth=16)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o16.tiff"), deep)
    assert output_bit_depth(tmp_path / "o.png", info16) == (16, None)
    smooth = np.repeat(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], 16, axis=0).repeat(3, axis=2)
    iio.imwrite(tmp_path / "c.jpg", smooth, quality=95)
    jpeg, info_jpeg = read_image(tmp_path / "c.jpg")
    assert jpeg.shape == (3, 16, 16) and info_jpeg.format == "jpeg"
    assert float((jpeg - torch.from_numpy(smooth).permute(2, 0, 1) / 255).abs().max()) < 0.05


def test_alpha_palette_and_bool(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    iio.imwrite(tmp_path / "rgba.png", rgba)
    image, info = read_image(tmp_path / "rgba.png")
    assert image.shape == (3, 6, 7) and info.notes == ("alpha channel dropped (it was fully opaque)",)
    np.testing.assert_array_equal(np.round(_as_hwc(image) * 255).astype(np.uint8), rgba[..., :3])
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "palette.png")
    palette, info_p = read_image(tmp_path / "palette.png")
    assert palette.shape == (3, 6, 7) and "palette expanded" in info_p.notes[0]
    Image.fromarray(rgba[..., :3]).convert("CMYK").save(tmp_path / "print.jpg")
    cmyk, info_c = read_image(tmp_path / "print.jpg")
    assert cmyk.shape == (3, 6, 7) and info_c.notes == ("CMYK colours converted to RGB (Pillow)",)
    Image.fromarray(RNG.random((5, 5)) > 0.5).save(tmp_path / "mask.png")
    mask, info_b = read_image(tmp_path / "mask.png")
    assert info_b.bit_depth == 1 and set(torch.unique(mask).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("layout", ["hw", "hwc", "chw"])
def test_npy_layouts(tmp_path: Path, layout: str) -> None:
    data = RNG.random((3, 10, 14)).astype(np.float32)
    array = {"hw": data[0], "hwc": np.moveaxis(data, 0, -1), "chw": data}[layout]
    np.save(tmp_path / "x.npy", array)
    image, info = read_image(tmp_path / "x.npy")
    expected = data[:1] if layout == "hw" else data
    np.testing.assert_array_equal(image.numpy(), expected)
    assert info.format == "npy" and info.dtype == "float32"
    write_image(image, tmp_path / "y.npy", bit_depth=32)
    np.testing.assert_array_equal(read_image(tmp_path / "y.npy")[0].numpy(), expected)


def test_npy_integer_scaling_and_bad_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "u16.npy", np.array([[0, 65535], [32768, 1]], dtype=np.uint16))
    image, info = read_image(tmp_path / "u16.npy")
    assert info.bit_depth == 16
    torch.testing.assert_close(image[0], torch.tensor([[0.0, 1.0], [32768 / 65535, 1 / 65535]]))
    np.save(tmp_path / "stack.npy", np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"stack\.npy.*shape \(2, 3, 8, 8\).*one image"):
        read_image(tmp_path / "stack.npy")
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        read_image(tmp_path / "nan.npy")


def test_dicom_rescale_and_window(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    stored = RNG.integers(0, 4096, (16, 12), dtype=np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = stored.tobytes()
    pydicom.dcmwrite(tmp_path / "slice.dcm", ds, enforce_file_format=True)
    image, info = read_image(tmp_path / "slice.dcm")
    # HU = v - 1024 over the 12-bit window [-1024, 3071]: x = v / 4095
    torch.testing.assert_close(image[0], torch.from_numpy(stored / 4095).float())
    assert (info.format, info.bit_depth, info.channels) == ("dicom", 12, 1)
    assert "intercept -1024" in info.notes[0] and "[-1024, 3071]" in info.notes[0]
    assert output_bit_depth(tmp_path / "o.png", info) == (16, None)
    (tmp_path / "no_suffix").write_bytes((tmp_path / "slice.dcm").read_bytes())  # found by its preamble
    torch.testing.assert_close(read_image(tmp_path / "no_suffix")[0], image)
    stretched, info = read_image(tmp_path / "slice.dcm", rescale=True)
    assert info.value_range == pytest.approx((stored.min() / 4095, stored.max() / 4095))  # fractions of the window
    assert info.notes[-1] == (
        f"samples rescaled from their range [{stored.min() / 4095:.6g}, {stored.max() / 4095:.6g}] (fractions of the DICOM window) to [0, 1]"
    )
    torch.testing.assert_close(stretched[0], torch.from_numpy((stored - stored.min()) / float(np.ptp(stored))).float())


def test_missing_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        read_image(tmp_path / "nothere.png")
    with pytest.raises(IsADirectoryError, match=r"is a folder, not an image file; read_image_folder reads the images in a folder"):
        read_image(tmp_path)
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"broken\.png' \(12 bytes\) as PNG"):
        read_image(tmp_path / "broken.png")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.tif' is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.tif")
    (tmp_path / "broken.npy").write_text("not an array")
    with pytest.raises(ValueError, match="broken.npy"):
        read_image(tmp_path / "broken.npy")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    for side in (12000, 30000):  # below and above Pillow's own hard limit; nothing is decoded
        header = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        png = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")
        (tmp_path / f"huge{side}.png").write_bytes(png)
        with pytest.raises(ValueError, match=rf"huge{side}\.png.*max_pixels"):
            read_image(tmp_path / f"huge{side}.png")
    np.lib.format.open_memmap(tmp_path / "huge.npy", mode="w+", dtype=np.uint8, shape=(20000, 20000))
    with pytest.raises(ValueError, match=r"20000×20000 = 400,000,000 pixels"):
        read_image(tmp_path / "huge.npy")
    iio.imwrite(tmp_path / "small.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="4×4 = 16 pixels, more than max_pixels = 10"):
        read_image(tmp_path / "small.png", max_pixels=10)


def test_conversions_on_request_are_noted(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "c.png", data)
    as_is, info = read_image(tmp_path / "c.png")
    assert as_is.shape == (3, 30, 40) and info.notes == ()
    gray, info_gray = read_image(tmp_path / "c.png", channels=1, size=16)
    assert gray.shape == (1, 16, 16)
    assert info_gray.notes == (
        "colour converted to gray (luminance, skimage.color.rgb2gray)",
        "30×40 image cropped to the centred 30×30 square and resized to 16×16 (bicubic)",
    )
    from skimage.color import rgb2gray

    expected = rgb2gray(data / 255.0)[:, 5:35]
    cropped, _ = adjust_image(torch.from_numpy(expected).float()[None], size=30)
    torch.testing.assert_close(cropped[0], torch.from_numpy(expected).float())
    colour, notes = adjust_image(gray, channels=3)
    assert colour.shape == (3, 16, 16) and notes == ["gray repeated into 3 channels"]
    with pytest.raises(ValueError, match="channels must be 1, 3 or None, got 2"):
        read_image(tmp_path / "c.png", channels=2)
    with pytest.raises(ValueError, match="size must be an int >= 1 and <= 10000, got 0"):
        read_image(tmp_path / "c.png", size=0)
    with pytest.raises(ValueError, match="size must be an int >= 1 and <= 10000, got 100000000"):  # not a crash allocating the resize
        read_image(tmp_path / "c.png", size=100_000_000)


def test_folder_reads_as_they_come_and_names_disagreeing_images(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", RNG.integers(0, 256, (20, 24), dtype=np.uint8))
    iio.imwrite(tmp_path / "b.png", RNG.integers(0, 65536, (20, 24), dtype=np.uint16))
    (tmp_path / "notes.txt").write_text("skipped")
    images, infos = read_image_folder(tmp_path)
    assert images.shape == (2, 1, 20, 24) and [i.bit_depth for i in infos] == [8, 16]
    iio.imwrite(tmp_path / "c.png", RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"a\.png is 20×24 gray, c\.png is 16×16 3-channel; pass channels"):
        read_image_folder(tmp_path)
    images, _ = read_image_folder(tmp_path, channels=3, size=8)
    assert images.shape == (3, 3, 8, 8)
    assert read_image_folder(tmp_path, limit=1)[0].shape == (1, 1, 20, 24)


def test_write_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    image = torch.rand(3, 4, 4)
    with pytest.raises(ValueError, match=r"bit_depth 32 cannot be written to \.png; possible: \[8, 16\]"):
        write_image(image, tmp_path / "o.png", bit_depth=32)
    with pytest.raises(ValueError, match=r"\.bmp.*one of"):
        write_image(image, tmp_path / "o.bmp")
    with pytest.raises(ValueError, match="C = 1 or 3"):
        write_image(torch.rand(2, 4, 4), tmp_path / "o.png")
    info = ImageInfo("x.tif", "tiff", "float32", 32, 1, 4, 4)
    assert output_bit_depth("o.png", info)[0] == 16 and output_bit_depth("o.jpg", info)[0] == 8


def test_16_bit_colour_png_round_trip(tmp_path: Path) -> None:
    """Pillow decodes 16-bit colour PNGs at 8 bits; ours keep all 16 (written and read)."""
    deep = RNG.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", deep)
    image, _ = read_image(tmp_path / "c16.tif")
    write_image(image, tmp_path / "c16.png", bit_depth=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again, info = read_image(tmp_path / "c16.png")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]  # the decoder's file is closed
    assert (info.bit_depth, info.channels, info.notes) == (16, 3, ())
    np.testing.assert_array_equal(np.round(_as_hwc(again) * 65535).astype(np.uint16), deep)
    assert len(np.unique(deep >> 8)) < len(np.unique(deep))  # the low byte carries information


def test_16_bit_png_with_alpha(tmp_path: Path) -> None:
    png = pytest.importorskip("png")
    rgba = RNG.integers(0, 65536, (5, 4, 4), dtype=np.uint16)
    rgba[..., 3] = 65535  # opaque: the alpha channel is dropped
    png.from_array(rgba.reshape(5, -1), "RGBA;16").save(str(tmp_path / "a16.png"))
    image, info = read_image(tmp_path / "a16.png")
    assert image.shape == (3, 5, 4) and info.bit_depth == 16
    np.testing.assert_array_equal(np.round(_as_hwc(image) * 65535).astype(np.uint16), rgba[..., :3])


def test_rescale_stretches_the_image_range_and_write_image_maps_it_back(tmp_path: Path) -> None:
    scan = RNG.integers(100, 4001, (12, 10), dtype=np.uint16)
    iio.imwrite(tmp_path / "scan.png", scan)
    plain, info = read_image(tmp_path / "scan.png")
    assert info.value_range is None and float(plain.max()) <= 4000 / 65535
    assert info.notes == (
        f"samples span [{scan.min()}, {scan.max()}], {100 * (int(scan.max()) - int(scan.min())) / 65535:.1f} % of the uint16 range "
        f"[0, 65535], so the image lies in [{scan.min() / 65535:.3g}, {scan.max() / 65535:.3g}] "
        "(rescale=True, --rescale on the command line, stretches it onto [0, 1])",
    )
    image, info = read_image(tmp_path / "scan.png", rescale=True)
    assert float(image.min()) == 0.0 and float(image.max()) == pytest.approx(1.0)
    assert info.value_range == pytest.approx((scan.min() / 65535, scan.max() / 65535))
    assert info.notes == (f"samples rescaled from their range [{scan.min()}, {scan.max()}] to [0, 1]",)
    write_image(image, tmp_path / "back.png", bit_depth=16, value_range=info.value_range)
    np.testing.assert_array_equal(iio.imread(tmp_path / "back.png"), scan)  # the scan's own values, exactly

    units = RNG.uniform(-1000, 3000, (6, 5)).astype(np.float32)
    tifffile.imwrite(tmp_path / "hu.tif", units)
    with pytest.raises(ValueError, match=r"float images must lie in \[0, 1\] \(read it with rescale=True"):
        read_image(tmp_path / "hu.tif")
    image, info = read_image(tmp_path / "hu.tif", rescale=True)
    assert info.value_range == (float(units.min()), float(units.max()))
    write_image(image, tmp_path / "back.tif", bit_depth=32, value_range=info.value_range)
    np.testing.assert_allclose(tifffile.imread(tmp_path / "back.tif"), units, rtol=0, atol=1e-3)
    assert fits_bit_depth(info.value_range, 32) and not fits_bit_depth(info.value_range, 16) and fits_bit_depth(None, 8)
    with pytest.raises(ValueError, match=r"value_range \[-\d+.*cannot be stored as 16-bit integers"):
        write_image(image, tmp_path / "units.png", bit_depth=16, value_range=info.value_range)
    assert not (tmp_path / "units.png").exists()


def test_rescale_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.full((4, 4), 7, dtype=np.uint16))
    with pytest.raises(ValueError, match="cannot be rescaled: all its samples equal 7"):
        read_image(tmp_path / "flat.npy", rescale=True)
    with pytest.raises(TypeError, match="rescale must be a bool, got 'yes'"):
        read_image(tmp_path / "flat.npy", rescale="yes")  # type: ignore[arg-type]
    for bad in ((1.0, 0.0), (0.0, float("nan")), (0.5,), "ab"):
        with pytest.raises(ValueError, match="value_range must be"):
            write_image(torch.zeros(1, 2, 2), tmp_path / "o.tif", bit_depth=32, value_range=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="value_range must be"):
            fits_bit_depth(bad, 16)  # type: ignore[arg-type]


def test_write_image_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    image = torch.rand(1, 4, 4)
    target = tmp_path / "o.png"
    with pytest.raises(TypeError, match=r"image must hold real floating-point samples in \[0, 1\], got dtype torch.uint8"):
        write_image((image * 255).to(torch.uint8), target)
    with pytest.raises(TypeError, match="got dtype torch.complex64"):
        write_image(image.to(torch.complex64), target)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"image contains NaN or Inf \(16 of 16 samples\)"):
            write_image(torch.full((1, 4, 4), bad), target)
    with pytest.raises(ValueError, match=r"H, W >= 1, got \(1, 0, 4\)"):
        write_image(torch.rand(1, 0, 4), target)
    with pytest.raises(ValueError, match="image is on the 'meta' device"):
        write_image(image.to("meta"), target)
    with pytest.raises(TypeError, match="bit_depth must be an int, got 8.0"):
        write_image(image, target, bit_depth=8.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be a file name"):
        write_image(image, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value_range must be a pair of numbers"):
        write_image(image, tmp_path / "o.tif", bit_depth=32, value_range=(False, True))  # type: ignore[arg-type]
    assert not target.exists() and not (tmp_path / "o.tif").exists()


def test_write_image_checks_the_path_is_writable(tmp_path: Path) -> None:
    import h5py

    results = tmp_path / "results.png"
    with h5py.File(results, "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="is an existing HDF5 file"):
        write_image(torch.rand(1, 4, 4), results)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        write_image(torch.rand(1, 4, 4), tmp_path / "folder.png")


def test_paths_may_be_str_path_or_bytes_and_nothing_else(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 5), np.uint8))
    image, _ = read_image(bytes(tmp_path / "a.png"))  # os.fsencode'd names work as they do with open()
    assert image.shape == (1, 4, 5)
    assert read_image_folder(bytes(tmp_path))[0].shape == (1, 1, 4, 5)
    assert write_image(image, bytes(tmp_path / "b.png")) == tmp_path / "b.png"
    for bad in (3, None, ["a.png"]):
        with pytest.raises(TypeError, match=rf"path must be a file name \(str, bytes or os.PathLike\), got {type(bad).__name__}"):
            read_image(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"path must be a folder name \(str, bytes or os.PathLike\)"):
            read_image_folder(bad)  # type: ignore[arg-type]
    for empty in ("", b""):  # Path('') is the current folder: it would be named '.' in the message
        with pytest.raises(ValueError, match="path is empty; give a file name"):
            read_image(empty)
        with pytest.raises(ValueError, match="path is empty; give a file name"):
            write_image(image, empty)


def test_read_options_are_checked_before_reading(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 5), np.uint8))
    for bad, kind in ((1.5, TypeError), (True, TypeError), ("10", TypeError), (0, ValueError), (-1, ValueError)):
        with pytest.raises(kind, match=r"max_pixels must be an int"):
            read_image(tmp_path / "a.png", max_pixels=bad)  # type: ignore[arg-type]
        with pytest.raises(kind, match=r"max_pixels must be an int"):
            read_image_folder(tmp_path, max_pixels=bad)  # type: ignore[arg-type]
        with pytest.raises(kind, match=r"limit must be an int"):
            read_image_folder(tmp_path, limit=bad)  # type: ignore[arg-type]
    assert read_image_folder(tmp_path, limit=None)[0].shape == (1, 1, 4, 5)


def test_write_image_replaces_a_file_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    iio.imwrite(tmp_path / "in.png", data)
    image, _ = read_image(tmp_path / "in.png")
    write_image(1 - image, tmp_path / "in.png")  # the input itself, as a script may do
    np.testing.assert_array_equal(iio.imread(tmp_path / "in.png"), 255 - data)

    def fails(*args: object, **kwargs: object) -> None:
        Path(args[0]).write_bytes(b"\x89PNG half")  # a writer dying midway (disk full, Ctrl-C)
        raise OSError("No space left on device")

    monkeypatch.setattr(iio, "imwrite", fails)
    with pytest.raises(OSError, match="No space left"):
        write_image(image, tmp_path / "in.png")
    monkeypatch.undo()
    np.testing.assert_array_equal(iio.imread(tmp_path / "in.png"), 255 - data)  # the earlier content, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no temporary file left


def test_write_image_follows_links_and_keeps_permissions(tmp_path: Path) -> None:
    import os
    import stat

    target = tmp_path / "target.tif"
    tifffile.imwrite(target, np.zeros((4, 4), np.float32))
    os.chmod(target, 0o640)
    (tmp_path / "link.tif").symlink_to(target)
    write_image(torch.full((1, 4, 4), 0.5), tmp_path / "link.tif", bit_depth=32)
    assert (tmp_path / "link.tif").is_symlink() and float(tifffile.imread(target).mean()) == 0.5
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    umask = os.umask(0)
    os.umask(umask)
    write_image(torch.rand(1, 4, 4), tmp_path / "new.npy", bit_depth=16)
    assert stat.S_IMODE((tmp_path / "new.npy").stat().st_mode) == 0o666 & ~umask  # as open() would create it
    assert np.load(tmp_path / "new.npy").dtype == np.uint16


def test_write_image_refuses_jpeg_sides_beyond_the_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"JPEG holds at most 65,500 pixels a side, got 1×70000; write \.png or \.tif"):
        write_image(torch.rand(1, 1, 70000), tmp_path / "wide.jpg")
    assert not (tmp_path / "wide.jpg").exists()  # was left behind, broken, by 'broken data stream when writing'


def test_jpeg_is_written_without_chroma_subsampling(tmp_path: Path) -> None:
    from PIL import JpegImagePlugin

    colour = torch.zeros(3, 16, 16)
    colour[0, :, ::2] = 1  # one-pixel red stripes: 4:2:0 subsampling would smear them
    write_image(colour, tmp_path / "c.jpg")
    with Image.open(tmp_path / "c.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    back, _ = read_image(tmp_path / "c.jpg")
    assert float((back - colour).abs().mean()) < 0.05


def test_paths_that_are_not_regular_files_or_folders(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.png")  # was 'does not exist'; opening it would block
    with pytest.raises(ValueError, match=r"pipe\.png' is not a regular file \(a pipe, a device or a socket\)"):
        read_image(tmp_path / "pipe.png")
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(NotADirectoryError, match=r"a\.png' is a file, not a folder; read_image reads one image"):
        read_image_folder(tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match=r"image folder '.*nothere' does not exist"):
        read_image_folder(tmp_path / "nothere")


def test_folders_skip_hidden_files(tmp_path: Path) -> None:
    iio.imwrite(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 Mac resource fork")  # left by macOS on other disks
    images, infos = read_image_folder(tmp_path)
    assert images.shape == (1, 1, 4, 4) and [Path(i.path).name for i in infos] == ["a.png"]


def test_pillows_own_pixel_limit_is_named_when_max_pixels_is_above_it(tmp_path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 15000, 15000, 8, 0, 0, 0, 0))
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b""))
    with pytest.raises(ValueError, match=r"big\.png' claims more pixels than Pillow decodes \(.*PIL\.Image\.MAX_IMAGE_PIXELS"):
        read_image(tmp_path / "big.png", max_pixels=300_000_000)


def test_adjust_image_checks_its_image_and_keeps_dtype_device_and_gradients() -> None:
    from skimage.color import rgb2gray

    colour = torch.rand(3, 5, 6, dtype=torch.float64, requires_grad=True)
    gray, notes = adjust_image(colour, channels=1)  # was float32, and failed for tensors needing grad
    assert gray.dtype == torch.float64 and notes == ["colour converted to gray (luminance, skimage.color.rgb2gray)"]
    np.testing.assert_allclose(gray[0].detach().numpy(), rgb2gray(colour.detach().permute(1, 2, 0).numpy()), rtol=1e-15)
    gray.sum().backward()
    assert colour.grad is not None
    assert adjust_image(torch.rand(3, 4, 4, device="meta"), channels=1)[0].shape == (1, 4, 4)  # no copy to NumPy
    with pytest.raises(TypeError, match=r"image must be a torch.Tensor, got ndarray"):
        adjust_image(np.zeros((1, 4, 4)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"image must hold real floating-point samples in \[0, 1\], got dtype torch.uint8"):
        adjust_image(torch.zeros(3, 4, 4, dtype=torch.uint8), channels=1)  # was gray in [0, 255]
    with pytest.raises(ValueError, match=r"H, W >= 1, got \(1, 0, 4\)"):
        adjust_image(torch.zeros(1, 0, 4), size=2)  # failed inside torch's interpolate


def test_helpers_check_their_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="info must be an ImageInfo, got int"):
        output_bit_depth(tmp_path / "o.png", 3)  # type: ignore[arg-type]
    for bad in ("8", 8.0, 12):
        with pytest.raises((TypeError, ValueError), match="bit_depth must be"):
            fits_bit_depth((0.0, 1.0), bad)  # type: ignore[arg-type]
    from reddiff_imaging.data.image_io import image_from_array

    with pytest.raises(TypeError, match="name must be a str, got int"):
        image_from_array(np.zeros((4, 4)), 3)  # type: ignore[arg-type]


def test_messages_name_counts_and_the_path(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "nan.tif", np.array([[np.nan, 0.5, np.inf]], np.float32))
    with pytest.raises(ValueError, match=r"nan\.tif' holds NaN or infinite values \(2 of 3 samples\); expected finite samples"):
        read_image(tmp_path / "nan.tif", rescale=True)
    with pytest.raises(ValueError, match=r"path '.*o\.bmp' ends in '\.bmp'; the suffix must be one of \['\.png'"):
        write_image(torch.rand(1, 4, 4), tmp_path / "o.bmp")
    with pytest.raises(ValueError, match=r"path '.*noname' has no suffix"):
        write_image(torch.rand(1, 4, 4), tmp_path / "noname")


def test_a_folder_whose_images_lie_in_subfolders_says_that_subfolders_are_not_read(tmp_path: Path) -> None:
    for name in ("train", "test"):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "a.npy", np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"contains no images with suffixes .*; its subfolders \(test, train\) are not read: give one of them"):
        read_image_folder(tmp_path)


def test_output_bit_depth_says_when_the_written_sample_type_differs(tmp_path: Path) -> None:
    # a float64 .npy was written back as float32 (and an int32 one as float32) without a word
    for dtype, data in (("float64", RNG.random((6, 7))), ("int32", RNG.integers(0, 2**20, (6, 7), dtype=np.int32))):
        np.save(tmp_path / f"{dtype}.npy", data)
        _, info = read_image(tmp_path / f"{dtype}.npy")
        depth, note = output_bit_depth(tmp_path / "o.npy", info)
        scale = " (values on the [0, 1] scale the input was read at)" if dtype == "int32" else ""
        assert depth == 32 and note == f".npy is written with float32 samples here, not the input's {dtype}{scale}"
    signed = RNG.integers(-1000, 1000, (6, 7), dtype=np.int16)
    tifffile.imwrite(tmp_path / "ct.tif", signed)
    image, info = read_image(tmp_path / "ct.tif")
    depth, note = output_bit_depth(tmp_path / "o.tif", info)
    assert note == ".tif is written with uint16 samples here, not the input's int16 (a value v of the input is stored as v + 32768)"
    write_image(image, tmp_path / "o.tif", bit_depth=depth)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif").astype(np.int64), signed.astype(np.int64) + 32768)
    np.save(tmp_path / "f32.npy", RNG.random((6, 7)).astype(np.float32))
    assert output_bit_depth(tmp_path / "o.npy", read_image(tmp_path / "f32.npy")[1]) == (32, None)
