"""Decoders behind :func:`~reddiff_imaging.data.image_io.read_image`: a file's format told from its
content, and one reader per format that returns the samples as stored.

imageio picks its plugin by the suffix (a 16-bit PNG named ``.jpg`` would be decoded at 8 bits, a
text file named ``.png`` would get a plugin's message) and hides what a reader must check: frame
counts, EXIF orientation, palette transparency. So the first bytes decide the format
(:func:`sniff`), and each reader calls its library directly: Pillow, tifffile, NumPy, pydicom.
"""

from __future__ import annotations

import importlib.util
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: the format a suffix promises (a different content is read as what it is, with a note)
SUFFIX_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".jpe": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
    ".gif": "gif",
    ".webp": "webp",
    ".pgm": "ppm",
    ".ppm": "ppm",
    ".pbm": "ppm",
    ".pnm": "ppm",
    ".npy": "npy",
    ".npz": "npz",
    ".dcm": "dicom",
    ".dicom": "dicom",
}

#: first bytes of the formats read here without Pillow, and of files that are no images at all
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "npz"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
)

#: what Pillow and the file libraries raise on a file they cannot decode
DECODE_ERRORS = (OSError, ValueError, SyntaxError, RuntimeError, IndexError, KeyError, EOFError, struct.error)


@dataclass
class Decoded:
    """The samples of one image as the file stores them.

    Attributes:
        array: ``(H, W)`` or ``(H, W, C)``, an alpha channel last (C = 2 or 4); NumPy files may give
            ``(C, H, W)``, told from the shape (``planar_guess``).
        format: the format found in the content (``png``, ``jpeg``, ``tiff``, ``npy``, ...).
        notes: one sentence per change made while decoding.
        bit_depth: bits per stored sample where the dtype of ``array`` has more (a 4-bit PNG,
            which Pillow scales to 8 bits; a 12-bit TIFF, decoded into uint16).
        sample_max: the value that stands for 1 in unsigned samples, where it is not the dtype's
            maximum (4095 for a 12-bit TIFF).
        dtype: the stored samples' dtype where ``array`` holds converted values (DICOM).
        windowed: ``array`` holds fractions of a DICOM window, already in ``[0, 1]``.
        planar_guess: the axes are not recorded in the file (NumPy arrays).
    """

    array: np.ndarray
    format: str
    notes: list[str] = field(default_factory=list)
    bit_depth: int | None = None
    sample_max: int | None = None
    dtype: np.dtype | None = None
    windowed: bool = False
    planar_guess: bool = False


def sniff(file: Path) -> str | None:
    """The format of ``file`` told from its first bytes (``None``: not one of :data:`_SIGNATURES`,
    a DICOM preamble or a pickle; Pillow may still know it)."""
    with open(file, "rb") as handle:
        head = handle.read(132)
    if len(head) == 132 and head[128:] == b"DICM":
        return "dicom"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"  # the opcode PROTO that starts every pickle of protocol 2 to 5
    return next((name for signature, name in _SIGNATURES if head.startswith(signature)), None)


def decode(file: Path, max_pixels: int) -> Decoded:
    """Decode ``file`` by its content, refusing images of more than ``max_pixels`` pixels from
    their header; a suffix that promises another format gets a note."""
    promised = SUFFIX_FORMATS.get(file.suffix.lower())
    found = sniff(file)
    if found == "pickle":
        raise ValueError(
            f"image file {str(file)!r} ({file.stat().st_size:,} bytes) is a Python pickle; pickles are never loaded (they can run code)"
        )
    if found == "hdf5":
        raise ValueError(f"image file {str(file)!r} ({file.stat().st_size:,} bytes) is an HDF5 file, not an image")
    if found is None and promised == "dicom":
        found = "dicom"  # DICOM files without the preamble exist (older ones); pydicom decides
    readers: dict[str | None, Callable[[Path, int], Decoded]] = {
        "npy": _read_npy,
        "npz": _read_npz,
        "dicom": _read_dicom,
        "tiff": _read_tiff,
    }
    decoded = readers.get(found, _read_pillow)(file, max_pixels)
    if promised is not None and decoded.format != promised:
        found_name = decoded.format.upper()
        decoded.notes.insert(0, f"{found_name} content in a file named {file.suffix}: read as {found_name}")
    return decoded


def check_pixels(file: Path, shape: tuple[int, ...], max_pixels: int) -> None:
    """Refuse more than ``max_pixels`` pixels, from an array shape ``(H, W)``, ``(H, W, C)`` or
    ``(C, H, W)`` (stacks: the last image's axes)."""
    if len(shape) < 2:
        return  # not an image; the shape check after reading says so
    h, w = shape[-3:-1] if len(shape) >= 3 and shape[-1] <= 4 else shape[-2:]
    if int(h) * int(w) > max_pixels:
        raise ValueError(f"image file {str(file)!r} claims {h}×{w} = {int(h) * int(w):,} pixels, more than max_pixels = {max_pixels:,}")


def _unreadable(file: Path, fmt: str | None, err: BaseException | str) -> ValueError:
    what = f" as {fmt.upper()}" if fmt else ""
    return ValueError(f"could not read image file {str(file)!r} ({file.stat().st_size:,} bytes){what}: {err}")


def _head(file: Path) -> bytes:
    with open(file, "rb") as handle:
        return handle.read(16)


# -- Pillow: PNG, JPEG, GIF, BMP, WebP, PNM and the rest --------------------------------------------
#: Pillow modes whose samples NumPy takes as they are (``I``: int32; ``I;16*``: uint16)
_PLAIN_MODES = ("1", "L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
#: Pillow modes converted to one of those, and the note that says so (None: nothing to say)
_CONVERTED_MODES = {
    "CMYK": ("RGB", "CMYK colours converted to RGB (Pillow)"),
    "YCbCr": ("RGB", "YCbCr colours converted to RGB (Pillow)"),
    "LAB": ("RGB", "LAB colours converted to RGB (Pillow)"),
    "HSV": ("RGB", "HSV colours converted to RGB (Pillow)"),
    "RGBX": ("RGB", None),  # the fourth byte is padding
    "RGBa": ("RGBA", "premultiplied alpha divided out (Pillow)"),
    "La": ("LA", "premultiplied alpha divided out (Pillow)"),
}


def _read_pillow(file: Path, max_pixels: int) -> Decoded:
    from PIL import Image, UnidentifiedImageError

    found = sniff(file)  # PNG or JPEG, when they start as they should
    expected = found or SUFFIX_FORMATS.get(file.suffix.lower())
    with warnings.catch_warnings():  # our own bound replaces Pillow's warning below its hard limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(file)  # reads the header only
        except Image.DecompressionBombError as err:  # more than twice Pillow's own limit
            if max_pixels <= 2 * (Image.MAX_IMAGE_PIXELS or max_pixels):
                raise ValueError(f"image file {str(file)!r} claims too many pixels ({err}); max_pixels is {max_pixels:,}") from err
            raise ValueError(
                f"image file {str(file)!r} claims more pixels than Pillow decodes ({err}); max_pixels {max_pixels:,} is above "
                "that limit, PIL.Image.MAX_IMAGE_PIXELS (twice it is the hard limit)"
            ) from err
        except UnidentifiedImageError as err:
            if found:
                what = f"it starts like a {found.upper()} file but is truncated or damaged"
            elif expected:
                what = f"it starts with {_head(file)!r}, not like a {expected.upper()} file or any image Pillow, tifffile, NumPy or pydicom reads"
            else:
                what = f"not an image file Pillow, tifffile, NumPy or pydicom reads (it starts with {_head(file)!r})"
            raise _unreadable(file, expected, what) from err
        except DECODE_ERRORS as err:
            raise _unreadable(file, expected, err) from err
        with opened as image:
            fmt = "jpeg" if image.format == "MPO" else str(image.format or "image").lower()
            check_pixels(file, (image.height, image.width), max_pixels)
            try:
                frames = int(getattr(image, "n_frames", 1))
            except DECODE_ERRORS as err:
                raise _unreadable(file, fmt, err) from err
            if frames > 1 and image.format != "MPO":
                raise ValueError(
                    f"image file {str(file)!r} holds {frames} frames (an animation); read_image reads one image: save the frame you want on its own"
                )
            notes = [f"read the first of its {frames} images (MPO: the others are previews or further views)"] if frames > 1 else []
            deep_png = fmt == "png" and _png_needs_pypng(file)
            try:
                image.load()  # before getexif, which loads a PNG itself and swallows its errors
                array, more = (np.zeros(0), []) if deep_png else _pillow_samples(image)
            except DECODE_ERRORS as err:
                raise _unreadable(file, fmt, err) from err
            orientation = _exif_orientation(image)
    decoded = Decoded(
        _read_png16(file) if deep_png else array, fmt, notes + more, bit_depth=_png_gray_depth(file) if fmt == "png" else None
    )
    decoded.array, note = orient(decoded.array, orientation, "TIFF orientation" if fmt == "tiff" else "EXIF orientation")
    decoded.notes += [note] if note else []
    return decoded


def _pillow_samples(image: Any) -> tuple[np.ndarray, list[str]]:
    """The samples of an open Pillow image with the conversions its mode needs, and their notes."""
    notes = []
    if image.mode in ("P", "PA"):
        alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if alpha else "RGB")
        notes.append("palette expanded to its colours")
    elif image.mode in _CONVERTED_MODES:
        mode, note = _CONVERTED_MODES[image.mode]
        image = image.convert(mode)
        notes += [note] if note else []
    elif image.mode not in _PLAIN_MODES:
        raise ValueError(f"Pillow decodes it in mode {image.mode!r}, which read_image does not take")
    elif "transparency" in image.info:  # a tRNS colour key: one value stands for transparent
        key = image.info["transparency"]
        notes.append(f"its transparent colour {key} (tRNS) is ignored: those pixels keep it")
    array = np.asarray(image)
    if image.mode == "I" and image.format in ("PNG", "PPM"):
        # Pillow decodes 16-bit PNM (and, in older versions, 16-bit gray PNG) as int32: the
        # formats hold at most 16 bits, so their uint16 samples are restored
        array = array.astype(np.uint16)
    return array, notes


def _exif_orientation(image: Any) -> int:
    """The EXIF (or TIFF) orientation tag of an open Pillow image, 1 when absent or unreadable."""
    try:
        value = image.getexif().get(0x0112, 1)
    except DECODE_ERRORS + (TypeError,):
        return 1  # a damaged EXIF block says nothing reliable about the orientation
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


#: EXIF/TIFF orientation → what turns the stored samples upright, as Pillow's exif_transpose does;
#: on the array, because 16-bit PNG (pypng) and TIFF (tifffile) samples never become Pillow images
_ORIENTATIONS: dict[int, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    2: ("mirrored left to right", lambda a: a[:, ::-1]),
    3: ("rotated 180°", lambda a: a[::-1, ::-1]),
    4: ("mirrored top to bottom", lambda a: a[::-1]),
    5: ("transposed", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90° clockwise", lambda a: np.rot90(a, -1)),
    7: ("transposed and rotated 180°", lambda a: a.swapaxes(0, 1)[::-1, ::-1]),
    8: ("rotated 90° counter-clockwise", lambda a: np.rot90(a, 1)),
}


def orient(array: np.ndarray, orientation: int, tag: str) -> tuple[np.ndarray, str | None]:
    """``array`` ``(H, W[, C])`` turned as its orientation tag (1 to 8) says viewers show it, and the note."""
    if orientation not in _ORIENTATIONS:
        return array, None
    what, turn = _ORIENTATIONS[orientation]
    return np.ascontiguousarray(turn(array)), f"turned upright as its {tag} {orientation} says ({what})"


def _png_header(file: Path) -> tuple[int, int]:
    """The bit depth and colour type of a PNG's IHDR chunk (bytes 24 and 25 of the file)."""
    with open(file, "rb") as handle:
        head = handle.read(26)
    return (head[24], head[25]) if len(head) >= 26 and head[:8] == b"\x89PNG\r\n\x1a\n" else (0, 0)


def _png_gray_depth(file: Path) -> int | None:
    """The bit depth of a gray PNG below 8 bits (Pillow scales 2- and 4-bit samples to 8 bits)."""
    depth, colour_type = _png_header(file)
    return depth if colour_type == 0 and depth < 8 else None


def _png_needs_pypng(file: Path) -> bool:
    """Whether ``file`` is a 16-bit PNG with colour or alpha, which Pillow decodes at 8 bits."""
    depth, colour_type = _png_header(file)
    return depth == 16 and colour_type in (2, 4, 6)


def _read_png16(file: Path) -> np.ndarray:
    """The ``(H, W, C)`` uint16 samples of a 16-bit PNG with colour or alpha, decoded by pypng (a
    tRNS colour key becomes an alpha channel)."""
    import png

    try:
        with open(file, "rb") as handle:  # pypng leaves a file it opened itself unclosed
            width, height, rows, info = png.Reader(file=handle).asDirect()
            samples = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    except (png.Error, ValueError) as err:
        raise _unreadable(file, "png", err) from err
    return samples.reshape(height, width, info["planes"])


# -- TIFF --------------------------------------------------------------------------------------------
#: TIFF photometric interpretations read, and their colour samples per pixel
_PHOTOMETRIC = {0: ("MINISWHITE", 1), 1: ("MINISBLACK", 1), 2: ("RGB", 3), 3: ("PALETTE", 1), 5: ("CMYK", 4), 6: ("YCbCr", 3)}
_COLOUR_NAMES = {1: "gray", 3: "RGB", 4: "CMYK"}
_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA = 1, 2  # TIFF ExtraSamples values


def _read_tiff(file: Path, max_pixels: int) -> Decoded:
    import tifffile

    try:
        tif = tifffile.TiffFile(file)
    except DECODE_ERRORS as err:  # tifffile.TiffFileError is a ValueError
        raise _unreadable(file, "tiff", err) from err
    with tif:
        try:
            # reduced-resolution copies and transparency masks (NewSubfileType bits 0 and 2) are
            # not images of their own; pyramid levels in SubIFDs are not among the pages at all
            pages = [page for page in tif.pages if not int(getattr(page, "subfiletype", 0)) & 0b101]
        except DECODE_ERRORS as err:
            raise _unreadable(file, "tiff", err) from err
        page = _one_tiff_page(file, pages)
        check_pixels(file, (page.imagelength, page.imagewidth), max_pixels)
        photometric, alpha_note = _tiff_layout(file, page)
        if photometric == "YCbCr" and page.compression != 7:  # tifffile converts JPEG-compressed YCbCr only
            return _tiff_by_pillow(file, page, "tifffile does not convert uncompressed YCbCr", max_pixels)
        try:
            array = page.asarray()
        except DECODE_ERRORS as err:  # e.g. LZW or JPEG compression without imagecodecs
            return _tiff_by_pillow(file, page, err, max_pixels)
        orientation = int(page.tags.valueof(274, 1) or 1)
        colormap = page.colormap if photometric == "PALETTE" else None
    if page.axes not in ("YX", "YXS", "SYX") or array.ndim != len(page.axes):
        raise _unreadable(file, "tiff", f"tifffile gives samples of axes {page.axes!r}; expected one image (YX, YXS or SYX)")
    if page.axes == "SYX":  # planar configuration 'separate'
        array = np.moveaxis(array, 0, -1)
    bits = _narrow_bits(page, array.dtype)
    array, notes = _tiff_colours(file, array, photometric, colormap, bits)
    array, note = orient(array, orientation, "TIFF orientation")
    notes += [n for n in (alpha_note, note) if n]
    return Decoded(array, "tiff", notes, bit_depth=bits, sample_max=None if bits is None else 2**bits - 1)


def _narrow_bits(page: Any, dtype: np.dtype) -> int | None:
    """The bits per sample of a gray TIFF page whose unsigned samples are decoded into a wider
    dtype (12 bits in uint16), else None."""
    bits = page.bitspersample
    gray = int(page.photometric) in (0, 1)
    return int(bits) if gray and dtype.kind == "u" and isinstance(bits, int) and 1 < bits < 8 * dtype.itemsize else None


def _one_tiff_page(file: Path, pages: list[Any]) -> Any:
    """The page of a TIFF that holds one image; stacks (several pages) are refused."""
    if not pages:
        raise _unreadable(file, "tiff", "it holds no image (no page)")
    if len(pages) > 1:
        sizes = list(dict.fromkeys(f"{page.imagelength}×{page.imagewidth}" for page in pages))
        raise ValueError(
            f"image file {str(file)!r} holds {len(pages)} images (pages of {', '.join(sizes[:3])}{', ...' if len(sizes) > 3 else ''}); "
            "read_image reads one image: save the page you want on its own, e.g. tifffile.imwrite('page.tif', tifffile.imread(path, key=0))"
        )
    page = pages[0]
    if int(getattr(page, "imagedepth", 1)) > 1:
        raise ValueError(f"image file {str(file)!r} holds a volume of {page.imagedepth} slices in one page; read_image reads one image")
    return page


def _tiff_layout(file: Path, page: Any) -> tuple[str, str | None]:
    """The photometric interpretation of a TIFF page, checked against its samples per pixel and
    extra samples (one alpha channel at most), and a note on premultiplied alpha."""
    value = int(page.photometric)
    if value not in _PHOTOMETRIC or (value == 5 and int(page.tags.valueof(332, 1) or 1) != 1):  # InkSet 1: CMYK
        raise ValueError(
            f"image file {str(file)!r} has the TIFF photometric interpretation {value}; read_image reads gray, RGB, palette, CMYK or YCbCr"
        )
    name, colour = _PHOTOMETRIC[value]
    samples, extras = int(page.samplesperpixel), tuple(int(e) for e in page.extrasamples)
    kind = _COLOUR_NAMES.get(colour, name)
    alpha = len(extras) == 1 and extras[0] in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA) and name != "PALETTE"
    if samples - len(extras) != colour or (extras and not alpha):
        extra = (
            f" and {len(extras)} extra sample{'s' if len(extras) != 1 else ''} that {'are' if len(extras) != 1 else 'is'} not alpha"
            if extras
            else ""
        )
        raise ValueError(
            f"image file {str(file)!r} holds {samples} samples per pixel: {samples - len(extras)} {kind}{extra}; "
            f"read_image reads {kind} images with at most one alpha channel (split the channels into separate images)"
        )
    premultiplied = "alpha is associated (premultiplied): colours are read as stored" if extras == (_ASSOCIATED_ALPHA,) else None
    return name, premultiplied


def _tiff_colours(
    file: Path, array: np.ndarray, photometric: str, colormap: np.ndarray | None, bits: int | None
) -> tuple[np.ndarray, list[str]]:
    """Samples of a TIFF page as gray or RGB (+ alpha): MINISWHITE inverted, palettes expanded,
    CMYK converted."""
    if photometric == "MINISWHITE":
        if array.dtype.kind == "f":
            raise ValueError(
                f"image file {str(file)!r} holds float samples with MINISWHITE (0 is white), whose inversion TIFF does not define"
            )
        if array.dtype.kind == "u":
            top = 2**bits - 1 if bits is not None else np.iinfo(array.dtype).max
            inverted = (top - array).astype(array.dtype)
        else:  # bool and signed integers: ~v maps the range onto itself reversed
            inverted = ~array
        return inverted, ["MINISWHITE: inverted so that bright means high (0 is white in the file)"]
    if photometric == "PALETTE":
        return _tiff_palette(file, array, colormap), ["palette expanded to its colours"]
    if photometric == "CMYK":
        from PIL import Image

        if array.dtype != np.uint8 or array.shape[-1] != 4:
            raise ValueError(
                f"image file {str(file)!r} holds {array.dtype} CMYK samples; read_image converts 8-bit CMYK without alpha only"
            )
        return np.asarray(Image.fromarray(array, "CMYK").convert("RGB")), ["CMYK colours converted to RGB (Pillow)"]
    return array, []


def _tiff_palette(file: Path, indices: np.ndarray, colormap: np.ndarray | None) -> np.ndarray:
    """The colours ``(H, W, 3)`` of a palette TIFF's indices: 8-bit when every 16-bit entry of the
    colour map ``(3, 2**bits)`` is an 8-bit value times 256 (as Pillow writes) or 257, else 16-bit."""
    if colormap is None:
        raise _unreadable(file, "tiff", "a palette image without a colour map")
    return np.ascontiguousarray(np.moveaxis(np.take(_palette_depth(colormap), indices, axis=1), 0, -1))


def _palette_depth(colormap: np.ndarray) -> np.ndarray:
    """A TIFF colour map (16-bit entries) as uint8 when every entry is an 8-bit value times 256 or
    257, else as it is."""
    high = colormap >> 8
    exact = np.array_equal(high << 8, colormap) or np.array_equal(high * 257, colormap)
    return high.astype(np.uint8) if exact else colormap


def _tiff_by_pillow(file: Path, page: Any, why: BaseException | str, max_pixels: int) -> Decoded:
    """A TIFF page tifffile cannot decode here (a compression it needs imagecodecs for), decoded by
    Pillow when Pillow keeps every bit of its samples; else the reason, and what to install."""
    try:
        decoded = _read_pillow(file, max_pixels)
    except ValueError as err:
        raise _unreadable(file, "tiff", f"{why}; Pillow cannot decode it either ({err}): pip install imagecodecs") from err
    decoded.format = "tiff"
    wanted = np.dtype(page.dtype)
    got = decoded.array.dtype
    bits = int(page.bitspersample) if isinstance(page.bitspersample, int) else 8 * wanted.itemsize
    if got.kind in "iu" and wanted.kind in "iu" and got != wanted and np.can_cast(wanted, got):
        narrowed = decoded.array.astype(wanted)  # Pillow's int32 for 16-bit samples
        if np.array_equal(narrowed, decoded.array):
            decoded.array, got = narrowed, wanted
    colormap = page.colormap if int(page.photometric) == 3 else None
    if int(page.photometric) == 0 and bits > 8:
        lost = "without inverting its MINISWHITE samples"  # Pillow inverts 1- and 8-bit ones only
    elif colormap is not None and _palette_depth(colormap).dtype != np.uint8:
        lost = "with 8-bit colours where its palette holds 16-bit ones"
    elif got == np.bool_:
        lost = "" if bits == 1 else f"as 1-bit samples where the file holds {bits}-bit ones"
    elif got.kind != wanted.kind and int(page.photometric) not in (3, 5):  # palette and CMYK become RGB
        lost = f"as {got} where the file holds {wanted} samples"
    else:
        lost = "" if 8 * got.itemsize >= bits else f"at {8 * got.itemsize}-bit where the file holds {bits}-bit samples"
    if lost:
        raise _unreadable(file, "tiff", f"{why}; Pillow would decode it {lost}: pip install imagecodecs")
    narrow = _narrow_bits(page, got)
    if narrow is not None:  # libtiff gives 12-bit samples as uint16 in [0, 4095]
        decoded.bit_depth, decoded.sample_max = narrow, 2**narrow - 1
    if int(page.photometric) == 0:  # Pillow inverted them
        decoded.notes.append("MINISWHITE: inverted so that bright means high (0 is white in the file)")
    return decoded


# -- NumPy -------------------------------------------------------------------------------------------
def _npy_header(handle: Any) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype in a ``.npy`` header, nothing else read."""
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(handle)  # version 3.0 differs from 2.0 in the header's text encoding only
    return tuple(shape), np.dtype(dtype)


def _check_npy(file: Path, shape: tuple[int, ...], dtype: np.dtype, max_pixels: int) -> None:
    if dtype.hasobject:
        raise ValueError(f"image file {str(file)!r} holds Python objects (dtype {dtype}), which are never unpickled; save numeric samples")
    check_pixels(file, shape, max_pixels)


def _read_npy(file: Path, max_pixels: int) -> Decoded:
    try:
        with open(file, "rb") as handle:
            shape, dtype = _npy_header(handle)
    except DECODE_ERRORS as err:
        raise _unreadable(file, "npy", err) from err
    _check_npy(file, shape, dtype, max_pixels)
    try:
        array = np.load(file, allow_pickle=False)
    except DECODE_ERRORS as err:
        raise _unreadable(file, "npy", err) from err
    return Decoded(array, "npy", planar_guess=True)


def _read_npz(file: Path, max_pixels: int) -> Decoded:
    try:
        with zipfile.ZipFile(file) as archive:
            names = [name for name in archive.namelist() if name.endswith(".npy")]
            if len(names) != 1:
                listed = ", ".join(repr(name[:-4]) for name in names)
                raise ValueError(f"image file {str(file)!r} holds {len(names)} arrays ({listed}); expected one (np.savez with one image)")
            with archive.open(names[0]) as member:
                shape, dtype = _npy_header(member)
    except (zipfile.BadZipFile, *DECODE_ERRORS) as err:
        if isinstance(err, ValueError) and str(err).startswith("image file"):
            raise
        raise _unreadable(file, "npz", err) from err
    _check_npy(file, shape, dtype, max_pixels)
    try:
        with np.load(file, allow_pickle=False) as archive:
            array = archive[names[0][:-4]]
    except DECODE_ERRORS as err:
        raise _unreadable(file, "npz", err) from err
    return Decoded(array, "npz", planar_guess=True)


# -- DICOM -------------------------------------------------------------------------------------------
_PIXEL_DATA = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _read_dicom(file: Path, max_pixels: int) -> Decoded:
    if importlib.util.find_spec("pydicom") is None:
        raise ImportError(f"reading the DICOM file {str(file)!r} needs pydicom: pip install 'reddiff-imaging[dicom]'")
    force = sniff(file) != "dicom"  # no preamble (older files): pydicom parses what it can, checked below
    header = _dicom_dataset(file, force, pixels=False)
    if "Rows" not in header or "Columns" not in header:
        raise _unreadable(file, "dicom", "not a DICOM image (no Rows and Columns)")
    check_pixels(file, (int(header.Rows), int(header.Columns)), max_pixels)
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ValueError(f"DICOM file {str(file)!r} holds {frames} frames; give a single-frame file (one slice)")
    slope, intercept = _dicom_rescale(file, header)
    photometric = str(header.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR" and "RedPaletteColorLookupTableDescriptor" not in header:
        raise _unreadable(file, "dicom", "PALETTE COLOR without its colour lookup tables")
    ds = _dicom_dataset(file, force, pixels=True)
    if not any(name in ds and ds[name].value for name in _PIXEL_DATA):  # absent or empty
        raise ValueError(f"DICOM file {str(file)!r} holds no pixel data (not an image: a report, a structure set?)")
    _check_dicom_decoder(file, ds)
    try:
        stored = np.asarray(ds.pixel_array)
    except (AttributeError, TypeError, NotImplementedError, *DECODE_ERRORS) as err:
        raise _unreadable(file, "dicom", err) from err
    if photometric == "PALETTE COLOR":
        return _dicom_palette(file, ds, stored)
    if stored.dtype.kind == "f":  # Float Pixel Data (parametric maps): read as float images are
        changed = (slope, intercept) != (1.0, 0.0)
        values = slope * stored.astype(np.float64) + intercept if changed else stored
        notes = [f"DICOM: float values rescaled by slope {slope:g} and intercept {intercept:g}"] if changed else []
        return Decoded(values, "dicom", notes, dtype=stored.dtype)
    bits = int(ds.get("BitsStored", stored.dtype.itemsize * 8))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    lo, hi = sorted((slope * low + intercept, slope * high + intercept))
    unit = (slope * stored.astype(np.float64) + intercept - lo) / (hi - lo)
    note = f"DICOM: values rescaled by slope {slope:g} and intercept {intercept:g}, window [{lo:g}, {hi:g}] ({bits} bits stored) mapped to [0, 1]"
    if photometric == "MONOCHROME1":
        unit = 1.0 - unit
        note += ", MONOCHROME1 inverted"
    notes = [note] + ([f"{photometric} colours converted to RGB (pydicom)"] if photometric.startswith("YBR") else [])
    return Decoded(np.clip(unit, 0.0, 1.0), "dicom", notes, bit_depth=bits, dtype=stored.dtype, windowed=True)


def _dicom_dataset(file: Path, force: bool, *, pixels: bool) -> Any:
    """The DICOM data set of ``file`` (without the pixel data unless ``pixels``); a file read with
    ``force`` and no transfer syntax gets the one pydicom read it in."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(file, stop_before_pixels=not pixels, force=force)
    except (InvalidDicomError, *DECODE_ERRORS) as err:
        raise _unreadable(file, "dicom", err) from err
    if pixels and "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    return ds


def _dicom_rescale(file: Path, header: Any) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept (1 and 0 when absent), which must be finite, the slope not 0."""
    try:
        slope, intercept = float(header.get("RescaleSlope", 1.0)), float(header.get("RescaleIntercept", 0.0))
    except (TypeError, ValueError) as err:
        raise _unreadable(file, "dicom", f"RescaleSlope or RescaleIntercept is not a number ({err})") from err
    if not (np.isfinite(slope) and np.isfinite(intercept) and slope != 0):
        raise ValueError(
            f"DICOM file {str(file)!r} has RescaleSlope {slope:g} and RescaleIntercept {intercept:g}; "
            "expected finite numbers and a slope other than 0"
        )
    return slope, intercept


def _check_dicom_decoder(file: Path, ds: Any) -> None:
    """Refuse compressed pixel data that no installed pydicom plugin decodes, naming what to install."""
    from pydicom.pixels import get_decoder

    syntax = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as err:
        raise _unreadable(file, "dicom", f"pydicom has no decoder for its transfer syntax {syntax.name}") from err
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies)
        raise ValueError(f"DICOM file {str(file)!r} is compressed ({syntax.name}) and no decoder for it is installed; any one of: {needs}")


def _dicom_palette(file: Path, ds: Any, indices: np.ndarray) -> Decoded:
    """The colours of a PALETTE COLOR image, by its lookup tables (8- or 16-bit entries)."""
    from pydicom.pixels import apply_color_lut

    try:
        colours = np.asarray(apply_color_lut(indices, ds))
    except (AttributeError, TypeError, *DECODE_ERRORS) as err:
        raise _unreadable(file, "dicom", f"its colour lookup tables cannot be applied ({err})") from err
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    return Decoded(colours, "dicom", ["palette expanded to its colours"], bit_depth=bits, sample_max=2**bits - 1)
