"""read_image on DICOM files: rescaling, inversion, signed samples, frames, colour, compression,
and files without a preamble or pixel data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from reddiff_imaging.data.image_io import read_image

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGLSLossless, generate_uid  # noqa: E402

RNG = np.random.default_rng(3)


def _dicom(path: Path, stored: np.ndarray, bits: int | None = None, **attributes: Any) -> Path:
    """A DICOM file of ``stored`` samples (frames first when NumberOfFrames is given)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = attributes.pop("transfer_syntax", ExplicitVRLittleEndian)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
    colour = attributes.get("PhotometricInterpretation", "MONOCHROME2") in ("RGB", "YBR_FULL")
    first = int("NumberOfFrames" in attributes)  # frames first
    ds.Rows, ds.Columns = stored.shape[first : first + 2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = (3 if colour else 1), "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8 * stored.dtype.itemsize
    ds.BitsStored = bits or ds.BitsAllocated
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, int(stored.dtype.kind == "i")
    for name, value in attributes.items():
        setattr(ds, name, value)
    ds.PixelData = stored.tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_monochrome1_signed_and_rescaled(tmp_path: Path) -> None:
    stored = RNG.integers(0, 4096, (6, 7), dtype=np.uint16)
    image, info = read_image(_dicom(tmp_path / "m1.dcm", stored, 12, PhotometricInterpretation="MONOCHROME1"))
    torch.testing.assert_close(image[0], torch.from_numpy(1 - stored / 4095).float())
    assert info.notes[0].endswith("MONOCHROME1 inverted")
    signed = RNG.integers(-2048, 2048, (6, 7), dtype=np.int16)
    image, info = read_image(_dicom(tmp_path / "s.dcm", signed, 12, RescaleSlope=2, RescaleIntercept=-10))
    torch.testing.assert_close(image[0], torch.from_numpy((signed + 2048) / 4095).float())
    assert info.dtype == "int16" and "window [-4106, 4084]" in info.notes[0]


def test_frames_are_counted_from_the_header_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = RNG.integers(0, 4096, (3, 6, 7), dtype=np.uint16)
    path = _dicom(tmp_path / "multi.dcm", stack, 12, NumberOfFrames=3)

    def decoded(self: object) -> None:
        raise AssertionError("the pixel data was decoded")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(decoded))
    with pytest.raises(ValueError, match=r"multi\.dcm' holds 3 frames; give a single-frame file"):
        read_image(path)
    monkeypatch.undo()
    one = _dicom(tmp_path / "one.dcm", stack[:1], 12, NumberOfFrames=1)
    torch.testing.assert_close(read_image(one)[0][0], torch.from_numpy(stack[0] / 4095).float())


def test_colour_dicom(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image, info = read_image(_dicom(tmp_path / "rgb.dcm", rgb, PhotometricInterpretation="RGB"))
    assert info.channels == 3
    torch.testing.assert_close(image, torch.from_numpy(rgb / 255).permute(2, 0, 1).float())
    image, info = read_image(_dicom(tmp_path / "ybr.dcm", rgb, PhotometricInterpretation="YBR_FULL"))
    from pydicom.pixels import convert_color_space

    expected = convert_color_space(rgb, "YBR_FULL", "RGB")
    torch.testing.assert_close(image, torch.from_numpy(expected / 255).permute(2, 0, 1).float())
    assert "YBR_FULL colours converted to RGB (pydicom)" in info.notes


def test_palette_colour_dicom(tmp_path: Path) -> None:
    indices = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
    lut = RNG.integers(0, 65536, (3, 256), dtype=np.uint16)
    attributes: dict[str, Any] = {"PhotometricInterpretation": "PALETTE COLOR"}
    for channel, name in enumerate(("Red", "Green", "Blue")):
        attributes[f"{name}PaletteColorLookupTableDescriptor"] = [256, 0, 16]
        attributes[f"{name}PaletteColorLookupTableData"] = lut[channel].tobytes()
    image, info = read_image(_dicom(tmp_path / "palette.dcm", indices, **attributes))  # was read as gray indices
    assert info.channels == 3 and info.notes[-1] == "palette expanded to its colours"
    torch.testing.assert_close(image, torch.from_numpy(lut[:, indices] / 65535).float())
    without = {"PhotometricInterpretation": "PALETTE COLOR"}
    with pytest.raises(ValueError, match=r"nolut\.dcm'.*PALETTE COLOR without its colour lookup tables"):
        read_image(_dicom(tmp_path / "nolut.dcm", indices, **without))


@pytest.mark.parametrize(("slope", "intercept"), [(0, 0), (float("nan"), 0), (1, float("inf"))])
def test_bad_rescale_attributes_are_named(tmp_path: Path, slope: float, intercept: float) -> None:
    stored = RNG.integers(0, 4096, (6, 7), dtype=np.uint16)
    path = _dicom(tmp_path / "bad.dcm", stored, 12, RescaleSlope=slope, RescaleIntercept=intercept)
    with pytest.raises(
        ValueError,
        match=rf"bad\.dcm' has RescaleSlope {slope:g} and RescaleIntercept {intercept:g}; expected finite numbers and a slope other than 0",
    ):
        read_image(path)


def test_no_pixel_data_and_missing_decoders(tmp_path: Path) -> None:
    stored = RNG.integers(0, 4096, (6, 7), dtype=np.uint16)
    ds = pydicom.dcmread(_dicom(tmp_path / "a.dcm", stored, 12))
    del ds.PixelData
    ds.save_as(tmp_path / "report.dcm", enforce_file_format=True)
    with pytest.raises(ValueError, match=r"report\.dcm' holds no pixel data \(not an image: a report, a structure set\?\)"):
        read_image(tmp_path / "report.dcm")
    ds.PixelData = b""
    ds["PixelData"].VR = "OW"
    ds.save_as(tmp_path / "empty.dcm", enforce_file_format=True)
    with pytest.raises(ValueError, match=r"empty\.dcm' holds no pixel data"):  # was "object of type 'NoneType' has no len()"
        read_image(tmp_path / "empty.dcm")
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    ds = pydicom.dcmread(tmp_path / "a.dcm")
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(50)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "jpegls.dcm", enforce_file_format=True)
    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed")
    with pytest.raises(ValueError, match=r"jpegls\.dcm' is compressed \(JPEG-LS Lossless Image Compression\).*no decoder.*pylibjpeg"):
        read_image(tmp_path / "jpegls.dcm")


def test_a_dicom_file_without_preamble(tmp_path: Path) -> None:
    stored = RNG.integers(0, 4096, (6, 7), dtype=np.uint16)
    whole = _dicom(tmp_path / "a.dcm", stored, 12).read_bytes()
    (tmp_path / "bare.dcm").write_bytes(whole[132:])  # no 128-byte preamble and 'DICM' (older files)
    torch.testing.assert_close(read_image(tmp_path / "bare.dcm")[0][0], torch.from_numpy(stored / 4095).float())
    (tmp_path / "text.dcm").write_text("not a dicom file at all")
    with pytest.raises(ValueError, match=r"text\.dcm' .*not a DICOM image"):
        read_image(tmp_path / "text.dcm")


def test_float_pixel_data_is_read_as_a_float_image(tmp_path: Path) -> None:
    values = RNG.random((4, 5)).astype(np.float32)
    path = _dicom(tmp_path / "map.dcm", values)
    ds = pydicom.dcmread(path)  # Float Pixel Data instead of Pixel Data, as parametric maps store it
    del ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    ds.FloatPixelData = values.tobytes()
    ds.save_as(path, enforce_file_format=True)
    image, info = read_image(path)  # was mapped from a 32-bit integer window: about 1e-10
    assert (info.dtype, info.notes) == ("float32", ())
    np.testing.assert_array_equal(image[0].numpy(), values)
    ds.RescaleSlope, ds.RescaleIntercept = 1000, -500
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ValueError, match=r"float samples in \[-.*must lie in \[0, 1\]"):
        read_image(path)
    stretched, info = read_image(path, rescale=True)
    assert info.value_range == pytest.approx((values.min() * 1000.0 - 500, values.max() * 1000.0 - 500), rel=1e-6)
    assert info.notes[-1].startswith("samples rescaled from their range [") and "DICOM window" not in info.notes[-1]
