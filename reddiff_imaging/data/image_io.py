r"""Image files as they come: PNG, TIFF, JPEG (and what else Pillow reads), ``.npy``, DICOM.

:func:`read_image` returns a float32 tensor ``(C, H, W)`` in ``[0, 1]`` and an :class:`ImageInfo`
saying what the file held and what reading changed. Samples are scaled, never quantised (float32
holds every 8- and 16-bit level exactly):

.. math::
    x = \frac{v}{2^{b} - 1} \ \text{(unsigned, } b\text{-bit)}, \qquad
    x = \frac{v - v_{\min}}{v_{\max} - v_{\min}} \ \text{(signed, the dtype's range)}, \qquad
    x = v \ \text{(float, which must lie in } [0, 1]\text{)}, \qquad
    x = [v] \ \text{(bool)}.

With ``rescale=True`` the image's own range :math:`[x_{\min}, x_{\max}]` (after the scaling above;
for floats, the raw values, which may then lie anywhere) is stretched onto ``[0, 1]``: for a
12-bit scan stored in 16-bit samples, or a float image in physical units such as Hounsfield units.
:attr:`ImageInfo.value_range` keeps :math:`(x_{\min}, x_{\max})`, and :func:`write_image` maps a
result back with it. Without it, an integer image that spans less than an eighth of its dtype's
range gets a note saying so, and 32- or 64-bit integers that float32 cannot keep apart on their
dtype's scale (NumPy's default int64 holding 0 to 255 would all become 0.5) are refused; with it,
integers are stretched from their exact values.

Gray files give ``C = 1``, colour files ``C = 3``; an alpha channel is dropped and palette images are
expanded to their colours (each said in a note). Nothing is resized, cropped or turned gray unless
asked (``channels``, ``size``); anything changed is one sentence of :attr:`ImageInfo.notes`.

The file's content, not its suffix, decides how it is decoded (a PNG named ``.jpg`` is read as the
PNG it is, with a note): Pillow for PNG, JPEG, BMP, GIF, WebP, PNM and the other formats it knows,
tifffile for TIFF, NumPy for ``.npy``/``.npz`` (never unpickling) and pydicom (the ``dicom``
extra) for DICOM; 16-bit PNGs with colour or alpha go through pypng, because Pillow decodes (and
writes) those at 8 bits only. An image is shown the way viewers show it: an EXIF orientation tag
(phone photos) turns it upright, with a note. Files that hold more than one image — animated GIF,
PNG or WebP — are refused, except the previews of a camera's MPO JPEG (the first image is read).

TIFF files hold one image: stacks (several pages, e.g. ImageJ or tifffile stacks) are refused,
while reduced-resolution copies (thumbnails, pyramid levels) are not images of their own. Planar
(``C, H, W``) samples and the Orientation tag are followed, MINISWHITE images inverted (bright means
high), palette images expanded, CMYK converted to RGB, and samples of 2 to 15 bits (12-bit
scans) scaled by :math:`2^b - 1`; extra samples other than one alpha channel are refused (a
2-channel or multispectral TIFF is not an image to guess at). Compressions that tifffile decodes
only with imagecodecs (LZW, JPEG, CCITT) are decoded by Pillow when it keeps every bit, else the
message asks for ``pip install imagecodecs``.

DICOM: stored values :math:`v` are rescaled to :math:`s v + i` (RescaleSlope :math:`s`,
RescaleIntercept :math:`i`, e.g. Hounsfield units) and the range the stored bit depth allows,
:math:`[s v_{\min} + i,\ s v_{\max} + i]` with :math:`v \in [0, 2^{\text{BitsStored}} - 1]` (or the
signed range), is mapped linearly onto ``[0, 1]``; MONOCHROME1 images are inverted so that bright
means high. The note states the window: the stored range, not the display window (WindowCenter and
WindowWidth are not applied). YBR colours are converted to RGB and PALETTE COLOR images expanded by
their lookup tables (with a note); files without the 128-byte preamble are read too. Multi-frame
files (counted from the header, before decoding), files without pixel data, a RescaleSlope of 0 or
a non-finite rescaling, and compressed pixel data without an installed decoder (the message names
the packages to install) are refused.

:func:`write_image` writes 8-bit, 16-bit or float32 samples where the format holds them;
:func:`output_bit_depth` picks the depth that keeps an input's precision in a given format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from reddiff_imaging.data._decoders import Decoded, decode
from reddiff_imaging._validation import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    _is_int,
    check_bool,
    check_int,
    check_not_hdf5,
    check_writable,
    replace_whole,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "WRITE_FORMATS",
    "ImageInfo",
    "adjust_image",
    "check_image_suffix",
    "check_images_agree",
    "fits_bit_depth",
    "image_from_array",
    "output_bit_depth",
    "read_image",
    "read_image_folder",
    "read_images",
    "write_image",
]

#: default bound on height × width, checked from the file's header before decoding (the project's
#: one image-size bound, :data:`reddiff_imaging._validation.MAX_IMAGE_PIXELS`)
MAX_PIXELS = MAX_IMAGE_PIXELS

#: suffixes read as images by :func:`read_images` and :func:`read_image_folder`
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy", ".dcm", ".dicom")

#: bit depths :func:`write_image` can store, per suffix (32 means float32)
WRITE_FORMATS: dict[str, tuple[int, ...]] = {
    ".png": (8, 16),
    ".tif": (8, 16, 32),
    ".tiff": (8, 16, 32),
    ".jpg": (8,),
    ".jpeg": (8,),
    ".npy": (8, 16, 32),
}

@dataclass(frozen=True)
class ImageInfo:
    """What an image file held, and what reading changed.

    Attributes:
        path: the file read.
        format: ``png``, ``tiff``, ``jpeg``, ``npy``, ``npz``, ``dicom``, ... (from the content).
        dtype: NumPy dtype of the stored samples (``uint8``, ``uint16``, ``float32``, ``bool``, ...).
        bit_depth: bits per stored sample (DICOM: ``BitsStored``; bool: 1).
        channels: colour channels in the file, alpha not counted (1 or 3).
        height, width: the file's image size.
        notes: one sentence per change made while reading (a suffix that names another format,
            alpha dropped, palette expanded, EXIF orientation applied, gray conversion, crop/resize,
            DICOM rescaling), empty when the image is as stored.
        value_range: with ``rescale=True``, the values that 0 and 1 of the image stand for, on the
            scale the file is read at without it (unsigned integers divided by their dtype's
            maximum, signed ones mapped from their dtype's range, DICOM from its window, floats as
            stored); ``None`` when nothing was stretched, or when float64 cannot hold the ends of
            a narrow 64-bit integer range apart (a note says so).
    """

    path: str
    format: str
    dtype: str
    bit_depth: int
    channels: int
    height: int
    width: int
    notes: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None

    @property
    def is_float(self) -> bool:
        """Whether the file stored floating-point samples."""
        return self.dtype.startswith("float")

    def describe(self) -> str:
        """One line, e.g. ``ct.png: 512×512 gray, 16-bit uint16``."""
        kind = "gray" if self.channels == 1 else "colour"
        return f"{Path(self.path).name}: {self.height}×{self.width} {kind}, {self.bit_depth}-bit {self.dtype}"


#: what the functions below take as a file or folder name
PathName = str | bytes | os.PathLike[str]


def read_image(
    path: PathName,
    *,
    channels: int | None = None,
    size: int | None = None,
    rescale: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> tuple[Tensor, ImageInfo]:
    """Read an image file as a float32 tensor ``(C, H, W)`` in ``[0, 1]`` at its own size and bit depth.

    Args:
        path: a PNG, TIFF, JPEG, BMP, GIF, WebP (any single image Pillow reads), NumPy ``.npy``
            array or ``.npz`` archive of one array (``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``:
            channels last when the last axis has at most 4 entries) or DICOM file (needs pydicom);
            the content decides, whatever the suffix.
        channels: ``1`` converts colour to gray (luminance, :func:`skimage.color.rgb2gray`), ``3``
            repeats a gray image into three channels; ``None`` keeps the file's channels.
        size: crop the centred square and resize it to ``size × size`` (bicubic, antialiased);
            ``None`` keeps the file's size.
        rescale: stretch the image's own range onto ``[0, 1]`` (see the module docstring); its
            :attr:`ImageInfo.value_range` says what 0 and 1 stand for. Float images outside
            ``[0, 1]`` need it.
        max_pixels: refuse files whose header claims more than this many pixels (height × width).

    ``path`` may be a ``str``, ``bytes`` (as :func:`open` takes them) or :class:`os.PathLike`.

    Returns:
        The image and its :class:`ImageInfo` (what the file held; ``notes`` lists every change).

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: a folder at ``path``.
        ValueError: an empty ``path``; a pipe or device at ``path``; not a readable image (a text
            file, a pickle, an HDF5 file, a truncated or damaged image, a compression no installed
            decoder reads at full depth); more than one image (an animation, a TIFF stack, a
            multi-frame DICOM, an ``.npz`` of several arrays); too many pixels; 32- or 64-bit
            integers float32 cannot keep apart, or float samples outside ``[0, 1]``, without
            ``rescale``; a constant image with ``rescale``; an array shape that is not an image; a
            bad ``channels``/``size``.
        TypeError: a ``path`` that is not a file name, ``rescale`` not a bool, ``max_pixels`` not an int.
        ImportError: a DICOM file without pydicom installed.
    """
    file = _path(path, "path", "file")
    _check_request(channels, size)
    check_bool(rescale, "rescale")
    check_int(max_pixels, "max_pixels")
    _check_regular_file(file)
    image, info = _to_tensor(decode(file, max_pixels), file, rescale)
    image, changes = adjust_image(image, channels=channels, size=size)
    if changes:
        info = replace(info, notes=info.notes + tuple(changes))
    return image, info


def read_images(
    path: PathName,
    *,
    channels: int | None = None,
    size: int | None = None,
    limit: int | None = None,
    rescale: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> tuple[list[Tensor], list[ImageInfo]]:
    """Read the images of a folder (not recursive, sorted by name; suffixes in
    :data:`IMAGE_SUFFIXES`, hidden files skipped) with :func:`read_image`, each ``(C, H, W)`` at its
    own size, channels and bit depth unless ``channels``/``size`` change them.

    Args:
        path: the folder.
        channels, size, max_pixels: as for :func:`read_image`.
        rescale: stretch each image's own range onto ``[0, 1]`` (as for :func:`read_image`).
        limit: read at most this many images (the first by name).

    Raises:
        FileNotFoundError: no folder at ``path``.
        NotADirectoryError: a file at ``path``.
        TypeError: a ``path`` that is not a folder name, a ``limit`` or ``max_pixels`` that is not an int.
        ValueError: no images in it (the message names its subfolders, which are not read), an
            unreadable image, a ``limit`` or ``max_pixels`` below 1.
    """
    folder = _path(path, "path", "folder")
    _check_request(channels, size)
    check_bool(rescale, "rescale")
    check_int(max_pixels, "max_pixels")
    if limit is not None:
        check_int(limit, "limit")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"image folder {str(folder)!r} is a file, not a folder; read_image reads one image")
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
    # hidden files are no images of the user's: macOS leaves '._name.png' resource forks on other disks
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        inside = f"; its subfolders ({', '.join(subfolders[:5])}{', ...' if len(subfolders) > 5 else ''}) are not read: give one of them" if subfolders else ""
        raise ValueError(f"image folder {str(folder)!r} contains no images with suffixes {list(IMAGE_SUFFIXES)}{inside}")
    read = [read_image(file, channels=channels, size=size, rescale=rescale, max_pixels=max_pixels) for file in files[:limit]]
    return [image for image, _ in read], [info for _, info in read]


def read_image_folder(
    path: PathName,
    *,
    channels: int | None = None,
    size: int | None = None,
    limit: int | None = None,
    rescale: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> tuple[Tensor, list[ImageInfo]]:
    """Read the images of a folder with :func:`read_images` into one batch ``(N, C, H, W)``.

    The images must share their channels and size unless ``channels``/``size`` make them agree
    (:func:`read_images` keeps each at its own size).

    Args and errors as for :func:`read_images`, and a ``ValueError`` for images of different
    channels or sizes (the message names two that differ and the option that makes them agree).
    """
    images, infos = read_images(path, channels=channels, size=size, limit=limit, rescale=rescale, max_pixels=max_pixels)
    check_images_agree(images, infos, "channels" if channels is None else None, "size")
    return torch.stack(images), infos


def check_images_agree(images: list[Tensor], infos: list[ImageInfo], channels: str | None, size: str | None) -> None:
    """Refuse images of :func:`read_images` whose channels differ (when ``channels``, the option
    that makes them agree, is given) or whose sizes differ (when ``size`` is given), naming the
    first two files that differ and that option.

    Raises:
        ValueError: two images differ in what is checked.
    """
    for image, info in zip(images[1:], infos[1:], strict=True):
        option = channels if image.shape[0] != images[0].shape[0] else size if image.shape[1:] != images[0].shape[1:] else None
        if option is not None:
            folder = Path(info.path).parent
            raise ValueError(
                f"images of folder {str(folder)!r} differ: {Path(infos[0].path).name} is {_shape_text(images[0])}, "
                f"{Path(info.path).name} is {_shape_text(image)}; pass {option} to make them agree"
            )


#: the sample type :func:`write_image` stores per bit depth
_WRITTEN_DTYPES = {8: "uint8", 16: "uint16", 32: "float32"}


def output_bit_depth(
    path: PathName, info: ImageInfo
) -> tuple[int, str | None]:
    """The bit depth (8, 16, or 32 for float32) to write ``path`` with so that it keeps the
    precision of the image ``info`` describes as far as the format allows, and a note when the
    format holds less (e.g. a float input written as PNG) or when the samples written have another
    type than the input's (float64 or int32 written as float32, int16 as uint16, bool as uint8).

    Args:
        path: the file to write (its suffix decides).
        info: what the input file held.

    Raises:
        ValueError: a suffix :func:`write_image` cannot write.
        TypeError: an ``info`` that is not an :class:`ImageInfo`.
    """
    suffix = check_image_suffix(path)
    if not isinstance(info, ImageInfo):
        raise TypeError(f"info must be an ImageInfo, got {type(info).__name__}")
    wanted = 32 if info.is_float else 8 if info.bit_depth <= 8 else 16 if info.bit_depth <= 16 else 32
    depth = max(d for d in WRITE_FORMATS[suffix] if d <= wanted)
    if depth == wanted:
        written = _WRITTEN_DTYPES[depth]
        if written == info.dtype:
            return depth, None
        # float64, (u)int32, signed or bool samples: said, not silently turned into another type
        note = f"{suffix} is written with {written} samples here, not the input's {info.dtype}"
        if info.dtype.startswith("int") and depth == info.bit_depth and depth < 32:  # read as (v + 2^(b-1)) / (2^b - 1)
            note += f" (a value v of the input is stored as v + {2 ** (depth - 1)})"
        elif not info.is_float and depth == 32:
            note += " (values on the [0, 1] scale the input was read at)"
        return depth, note
    stored = "float" if info.is_float else f"{info.bit_depth}-bit"
    return depth, f"{suffix} cannot hold the input's {stored} samples here: wrote {depth}-bit (use .tif to keep them)"


def write_image(
    image: Tensor, path: PathName, *, bit_depth: int = 8, value_range: tuple[float, float] | None = None
) -> Path:
    """Write an image ``(C, H, W)`` or ``(1, C, H, W)`` in ``[0, 1]`` (C = 1 or 3; clipped to
    ``[0, 1]``) with ``bit_depth`` bits per sample.

    The samples go to a temporary file beside ``path``, renamed over it once complete: an existing
    file (the input image itself, say) is replaced whole or, if writing fails, left as it was. A
    link is followed; an existing file keeps its permissions. JPEG is written at quality 95 without
    chroma subsampling.

    Args:
        image: the image.
        path: ``.png`` (8 or 16), ``.tif``/``.tiff`` (8, 16 or 32 = float32),
            ``.jpg``/``.jpeg`` (8), ``.npy`` (8, 16 or 32, saved as ``(H, W)`` or ``(H, W, C)``).
        bit_depth: 8 and 16 store :math:`\\mathrm{round}(x (2^b - 1))` as unsigned integers, 32
            stores float32.
        value_range: the values that 0 and 1 of ``image`` stand for (the
            :attr:`ImageInfo.value_range` of a rescaled input): :math:`x` becomes
            :math:`x_{\\min} + x\\,(x_{\\max} - x_{\\min})` before it is stored, so a result goes
            back to the scale the input is read at without rescaling. With 8 or 16 bits that range must lie in ``[0, 1]``
            (:func:`fits_bit_depth`).

    Raises:
        TypeError: an image that is not a real floating-point (or bool) tensor (an 8-bit image
            in ``[0, 255]`` would be clipped to white), a ``path`` that is not a file name (str, bytes or os.PathLike), a
            ``bit_depth`` that is not an int.
        ValueError: a bad or empty shape, NaN or Inf samples, an empty ``path``, an unknown suffix, a bit depth the
            format cannot hold, a JPEG side above 65,500 pixels, a ``value_range`` outside ``[0, 1]``
            with integer samples, or a ``path`` that is a folder or an existing HDF5 file.
        PermissionError: a ``path`` that cannot be written. All are raised before anything is written.
    """
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.is_complex() or not (image.is_floating_point() or image.dtype == torch.bool):
        raise TypeError(f"image must hold real floating-point samples in [0, 1], got dtype {image.dtype}; scale integer images first (e.g. x / 255)")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.numel() == 0:
        raise ValueError(f"image must have shape (C, H, W) or (1, C, H, W) with C = 1 or 3 and H, W >= 1, got {tuple(image.shape)}")
    if image.device.type == "meta":
        raise ValueError("image is on the 'meta' device, which holds no data; use a cpu or cuda tensor")
    if not bool(torch.isfinite(image).all()):
        bad = int((~torch.isfinite(image)).sum())
        raise ValueError(f"image contains NaN or Inf ({bad} of {image.numel()} samples)")
    file = _path(path, "path", "file")
    suffix = check_image_suffix(file)
    channels = int(image.shape[0])
    check_int(bit_depth, "bit_depth")
    if bit_depth not in WRITE_FORMATS[suffix]:
        raise ValueError(f"bit_depth {bit_depth!r} cannot be written to {suffix}; possible: {list(WRITE_FORMATS[suffix])}")
    if suffix in (".jpg", ".jpeg") and max(image.shape[1:]) > _JPEG_MAX_SIDE:
        h, w = image.shape[1:]
        raise ValueError(f"JPEG holds at most {_JPEG_MAX_SIDE:,} pixels a side, got {h}×{w}; write .png or .tif")
    array = image.detach().to("cpu", torch.float64).clamp(0, 1).permute(1, 2, 0).numpy()
    array = array[..., 0] if channels == 1 else array
    if value_range is not None:
        lo, hi = _check_value_range(value_range)
        if not fits_bit_depth(value_range, bit_depth):
            raise ValueError(
                f"value_range [{lo:g}, {hi:g}] cannot be stored as {bit_depth}-bit integers, which hold [0, 1]; "
                "write float32 (bit_depth=32, .tif or .npy)"
            )
        array = lo + array * (hi - lo)
    check_writable(file, "path")
    check_not_hdf5(file, "path", "an image")
    if bit_depth == 32:
        data: np.ndarray = array.astype(np.float32)
    else:
        data = np.round(array * (2**bit_depth - 1)).astype(np.uint8 if bit_depth == 8 else np.uint16)
    replace_whole(file, lambda temporary: _write_samples(temporary, data, suffix, channels))
    return file


def fits_bit_depth(value_range: tuple[float, float] | None, bit_depth: int) -> bool:
    """Whether :func:`write_image` can store an image with ``value_range`` at ``bit_depth``: float32
    holds any range, integer samples the range ``[0, 1]`` of their scale.

    Raises:
        ValueError: a ``value_range`` that is not a finite pair (low, high) with low < high, a
            ``bit_depth`` other than 8, 16 or 32.
        TypeError: a ``bit_depth`` that is not an int.
    """
    check_int(bit_depth, "bit_depth")
    if bit_depth not in (8, 16, 32):
        raise ValueError(f"bit_depth must be 8, 16 or 32, got {bit_depth}")
    if value_range is None:
        return True
    lo, hi = _check_value_range(value_range)
    return bit_depth == 32 or (0.0 <= lo and hi <= 1.0)


def _check_value_range(value_range: Any) -> tuple[float, float]:
    if isinstance(value_range, (tuple, list)) and any(isinstance(v, (bool, np.bool_)) for v in value_range):
        raise ValueError(f"value_range must be a pair of numbers (low, high), got {value_range!r}")
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair of numbers (low, high), got {value_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    return lo, hi


# -- reading ------------------------------------------------------------------------------------
def _to_tensor(decoded: Decoded, file: Path, rescale: bool = False) -> tuple[Tensor, ImageInfo]:
    """Decoded samples ``(H, W)``, ``(H, W, C)`` (or, for arrays, ``(C, H, W)``) → ``(C, H, W)``
    float32 in ``[0, 1]`` and what the file held."""
    array, fmt, notes = decoded.array, decoded.format, decoded.notes
    if not array.dtype.isnative:  # big-endian files: '>f4' is float32 (and is_float)
        array = array.astype(array.dtype.newbyteorder("="))
    dtype = decoded.dtype if decoded.dtype is not None else array.dtype
    dtype = dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype
    shape = array.shape
    if array.ndim == 2:
        array = array[..., None]
    elif decoded.planar_guess and array.ndim == 3 and array.shape[-1] > 4 and array.shape[0] in (1, 2, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W)
    if array.ndim != 3 or array.shape[-1] > 4 or min(array.shape) < 1:
        raise ValueError(f"{str(file)!r} holds an array of shape {tuple(shape)}; expected one image (H, W), (H, W, C) or (C, H, W) with C ≤ 4")
    top = decoded.sample_max
    if array.shape[-1] in (2, 4):
        opaque = _is_opaque(array[..., -1], top)
        notes = [*notes, "alpha channel dropped" + (" (it was fully opaque)" if opaque else " (transparent pixels keep their colour)")]
        array = array[..., :-1]
    unit, bit_depth, scale_note = _unit_range(array, file, allow_any_float=rescale, sample_max=top)
    if scale_note:
        notes = [*notes, scale_note]
    value_range = None
    if rescale:
        unit, value_range, stretch_notes = _stretch(unit, array, file, of_window=decoded.windowed, sample_max=top)
        notes = [*notes, *stretch_notes]
    elif array.dtype.kind in "iu" and np.ptp(unit) < 1 / 8:
        _check_levels_kept(array, unit, file, top)
        notes = [*notes, _narrow_note(array, unit, top)]
    image = torch.from_numpy(np.ascontiguousarray(np.moveaxis(unit, -1, 0), dtype=np.float32))
    info = ImageInfo(
        path=str(file),
        format=fmt,
        dtype=str(dtype),
        bit_depth=decoded.bit_depth if decoded.bit_depth is not None else bit_depth,
        channels=int(image.shape[0]),
        height=int(image.shape[1]),
        width=int(image.shape[2]),
        notes=tuple(notes),
        value_range=value_range,
    )
    return image, info


def image_from_array(array: np.ndarray, name: str) -> tuple[Tensor, ImageInfo]:
    """An image already decoded into an array, ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``, scaled as
    :func:`read_image` scales file samples; ``name`` stands for the file in messages and the info."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy.ndarray, got {type(array).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return _to_tensor(Decoded(array, "array", planar_guess=True), Path(name))


def _is_opaque(alpha: np.ndarray, sample_max: int | None = None) -> bool:
    full = 1.0 if alpha.dtype.kind in "fb" else _integer_range(alpha.dtype, sample_max)[1]
    return bool(np.all(alpha == full))


def _integer_range(dtype: np.dtype, sample_max: int | None = None) -> tuple[int, int]:
    """The values integer samples of ``dtype`` span: the dtype's range, or ``[0, sample_max]`` for
    unsigned samples of fewer bits (a 12-bit TIFF in uint16)."""
    info = np.iinfo(dtype)
    return (0, sample_max) if dtype.kind == "u" and sample_max is not None else (int(info.min), int(info.max))


def _unit_range(
    array: np.ndarray, file: Path, *, allow_any_float: bool = False, sample_max: int | None = None
) -> tuple[np.ndarray, int, str | None]:
    """Samples scaled to ``[0, 1]``: unsigned by the dtype's max (or ``sample_max``), signed by the
    dtype's range, float kept (checked to lie in ``[0, 1]`` unless ``allow_any_float``), bool as
    0/1. Returns the array, the bits per sample and a note."""
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.float64), 1, None
    if kind == "u":
        return array / float(_integer_range(array.dtype, sample_max)[1]), array.dtype.itemsize * 8, None
    if kind == "i":
        info = np.iinfo(array.dtype)
        note = f"signed {array.dtype} samples mapped from [{info.min}, {info.max}] to [0, 1]"
        return (array.astype(np.float64) - info.min) / (float(info.max) - info.min), array.dtype.itemsize * 8, note
    if kind == "f":
        if not np.all(np.isfinite(array)):
            bad = int(np.count_nonzero(~np.isfinite(array)))
            raise ValueError(f"image file {str(file)!r} holds NaN or infinite values ({bad} of {array.size} samples); expected finite samples")
        lo, hi = float(array.min()), float(array.max())
        if allow_any_float:
            return array.astype(np.float64), array.dtype.itemsize * 8, None
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"image file {str(file)!r} holds float samples in [{lo:.6g}, {hi:.6g}]; float images must lie in [0, 1] "
                "(read it with rescale=True, --rescale on the command line, to stretch its range onto [0, 1])"
            )
        return np.clip(array, 0.0, 1.0), array.dtype.itemsize * 8, None
    raise ValueError(f"image file {str(file)!r} holds {array.dtype} samples; expected integers, floats or bools (an image)")


def _stretch(
    unit: np.ndarray, stored: np.ndarray, file: Path, *, of_window: bool = False, sample_max: int | None = None
) -> tuple[np.ndarray, tuple[float, float] | None, list[str]]:
    """``unit`` stretched from its own range onto ``[0, 1]``, that range, and the notes (in the
    stored samples' values; for DICOM, ``of_window``, in fractions of the window read). Integer
    samples are stretched from the integers themselves: float64 cannot hold every int64 apart."""
    if stored.dtype.kind not in "iu" or of_window:
        lo, hi = float(unit.min()), float(unit.max())
        if not hi > lo:
            raise ValueError(f"image file {str(file)!r} cannot be rescaled: all its samples equal {_sample_text(stored.flat[0])}")
        stretched = (unit - lo) / (hi - lo)
    else:
        offsets, low, high = _integer_offsets(stored)
        if high == low:
            raise ValueError(f"image file {str(file)!r} cannot be rescaled: all its samples equal {low}")
        stretched = offsets / float(high - low)
        first, last = _integer_range(stored.dtype, sample_max)
        lo, hi = (low - first) / (last - first), (high - first) / (last - first)  # exact integers, one rounding
    where = " (fractions of the DICOM window)" if of_window else ""
    notes = [f"samples rescaled from their range [{_sample_text(stored.min())}, {_sample_text(stored.max())}]{where} to [0, 1]"]
    if not hi > lo:
        notes.append(f"their range cannot be mapped back to the {stored.dtype} scale (float64 cannot hold its ends apart): value_range is None")
        return stretched, None, notes
    return stretched, (lo, hi), notes


def _integer_offsets(stored: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``stored - min`` as exact uint64, the minimum and the maximum (signed values are shifted
    into unsigned order first, so no difference overflows)."""
    if stored.dtype.kind == "i":
        shifted = stored.astype(np.int64).view(np.uint64) ^ np.uint64(1 << 63)
        shift = 1 << 63
    else:
        shifted, shift = stored.astype(np.uint64), 0
    low = shifted.min()
    return shifted - low, int(low) - shift, int(shifted.max()) - shift


def _check_levels_kept(stored: np.ndarray, unit: np.ndarray, file: Path, sample_max: int | None) -> None:
    """Refuse integer samples whose distinct values the float32 image merges although stretching
    their own range would keep them apart: a narrow range of a 32- or 64-bit dtype (NumPy's default
    int64 holding 0..255 becomes a constant 0.5)."""
    if stored.dtype.itemsize <= 2:
        return  # float32 holds every 8- and 16-bit level
    low, high = int(stored.min()), int(stored.max())
    if high - low > 2**24:
        return  # more levels than float32 holds in [0, 1] anyway: its precision is the limit
    levels, kept = len(np.unique(stored)), len(np.unique(unit.astype(np.float32)))
    if kept < levels:
        first, last = _integer_range(stored.dtype, sample_max)
        raise ValueError(
            f"image file {str(file)!r} holds {stored.dtype} samples spanning [{low}, {high}], too narrow a part of the "
            f"{stored.dtype} range [{first}, {last}]: float32 cannot keep its {levels} levels apart ({kept} remain). "
            "Read it with rescale=True (--rescale on the command line), which stretches its own range onto [0, 1], "
            "or store it as uint8, uint16 or float32"
        )


def _narrow_note(stored: np.ndarray, unit: np.ndarray, sample_max: int | None = None) -> str:
    low, high = _integer_range(stored.dtype, sample_max)
    kind = f"{stored.dtype}" if sample_max is None else f"{sample_max.bit_length()}-bit"
    return (
        f"samples span [{stored.min()}, {stored.max()}], {100 * float(np.ptp(unit)):.1f} % of the {kind} range "
        f"[{low}, {high}], so the image lies in [{float(unit.min()):.3g}, {float(unit.max()):.3g}] "
        "(rescale=True, --rescale on the command line, stretches it onto [0, 1])"
    )


def _sample_text(value: Any) -> str:
    kind = np.asarray(value).dtype.kind
    return f"{float(value):.6g}" if kind == "f" else str(int(value)) if kind == "b" else str(value)


# -- changes on request ---------------------------------------------------------------------------
def adjust_image(image: Tensor, *, channels: int | None = None, size: int | None = None) -> tuple[Tensor, list[str]]:
    """Convert an image ``(C, H, W)`` in ``[0, 1]`` as :func:`read_image` does on request.

    Args:
        image: the image (C = 1 or 3).
        channels: 1 converts colour to gray (luminance, :func:`skimage.color.rgb2gray`), 3 repeats
            gray into three channels; ``None`` keeps the channels.
        size: crop the centred square and resize it to ``size × size`` (bicubic, antialiased).

    Returns:
        The image (same dtype and device) and one note per change made (none when it already matches).

    Raises:
        TypeError: an ``image`` that is not a real floating-point tensor.
        ValueError: a shape other than ``(C, H, W)`` with C = 1 or 3 and H, W >= 1, or a bad
            ``channels``/``size``.
    """
    _check_request(channels, size)
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.is_complex() or not image.is_floating_point():
        raise TypeError(f"image must hold real floating-point samples in [0, 1], got dtype {image.dtype}; scale integer images first (e.g. x / 255)")
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.numel() == 0:
        raise ValueError(f"image must have shape (C, H, W) with C = 1 or 3 and H, W >= 1, got {tuple(image.shape)}")
    changes = []
    if channels is not None and channels != image.shape[0]:
        if channels == 1:
            # skimage.color.rgb2gray's weights, applied in torch: skimage would need a CPU NumPy copy
            # (no CUDA, no autograd) and returns float64 whatever came in
            weights = torch.tensor(_LUMINANCE, dtype=torch.float64, device=image.device).view(3, 1, 1)
            image = (image.double() * weights).sum(0, keepdim=True).to(image.dtype)
            changes.append("colour converted to gray (luminance, skimage.color.rgb2gray)")
        else:
            image = image.expand(3, -1, -1).contiguous()
            changes.append("gray repeated into 3 channels")
    if size is not None and tuple(image.shape[1:]) != (size, size):
        h, w = image.shape[1:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[:, top : top + side, left : left + side]
        steps = [] if h == w else [f"cropped to the centred {side}×{side} square"]
        if side != size:
            image = F.interpolate(image[None], size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
            image = image.clamp(0, 1)
            steps.append(f"resized to {size}×{size} (bicubic)")
        changes.append(f"{h}×{w} image " + " and ".join(steps))
    return image.contiguous(), changes


#: the luminance weights of :func:`skimage.color.rgb2gray` (ITU-R BT.709)
_LUMINANCE = (0.2125, 0.7154, 0.0721)


def _valid_channels(channels: object) -> bool:
    """Whether ``channels`` is None, 1 or 3 (an int: ``True`` and ``1.0`` are not)."""
    return channels is None or (_is_int(channels) and int(channels) in (1, 3))


def _check_request(channels: int | None, size: int | None) -> None:
    if not _valid_channels(channels):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    if size is not None:  # a side beyond the bound on any image would exhaust memory when resized to
        check_int(size, "size", maximum=MAX_IMAGE_SIDE)


def _check_regular_file(file: Path) -> None:
    """Refuse a ``file`` that does not exist, is a folder, or is no regular file (opening a pipe
    would block), before anything is read."""
    if file.is_dir():
        raise IsADirectoryError(f"image file {str(file)!r} is a folder, not an image file; read_image_folder reads the images in a folder")
    if not file.exists():
        raise FileNotFoundError(f"image file {str(file)!r} does not exist")
    if not file.is_file():
        raise ValueError(f"image file {str(file)!r} is not a regular file (a pipe, a device or a socket)")
    if file.stat().st_size == 0:
        raise ValueError(f"image file {str(file)!r} is empty (0 bytes); expected an image ({', '.join(IMAGE_SUFFIXES)})")


def _path(path: object, name: str, kind: str) -> Path:
    """``path`` (a ``kind``, file or folder, name) as a Path; bytes are decoded as :func:`open` does.
    An empty name is refused: ``Path('')`` is the current folder."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a {kind} name (str, bytes or os.PathLike), got {type(path).__name__}")
    text = os.fsdecode(os.fspath(path))
    if not text:
        raise ValueError(f"{name} is empty; give a {kind} name")
    return Path(text)


# -- writing ------------------------------------------------------------------------------------
#: imageio plugin per suffix written with imageio
_PLUGINS = {".png": "pillow", ".jpg": "pillow", ".jpeg": "pillow", ".tif": "tifffile", ".tiff": "tifffile"}


#: the largest side a JPEG file can hold (libjpeg's limit)
_JPEG_MAX_SIDE = 65500


def _write_samples(file: Path, data: np.ndarray, suffix: str, channels: int) -> None:
    """Write ``data`` (uint8, uint16 or float32 samples ``(H, W[, C])``) to ``file`` as ``suffix``."""
    import imageio.v3 as iio

    if suffix == ".npy":
        np.save(file, data)
    elif suffix == ".png" and data.dtype == np.uint16 and channels == 3:
        _write_png16(file, data)
    elif suffix in (".jpg", ".jpeg"):  # Pillow's default (quality 75, 4:2:0 chroma) blurs colour edges
        iio.imwrite(file, data, extension=suffix, plugin="pillow", quality=95, subsampling=0)
    else:
        iio.imwrite(file, data, extension=suffix, plugin=_PLUGINS[suffix])


def _write_png16(file: Path, data: np.ndarray) -> None:
    """Write ``(H, W, 3)`` uint16 samples as a 16-bit RGB PNG with pypng (Pillow writes 16-bit PNGs
    in gray only)."""
    import png

    png.from_array(data.reshape(data.shape[0], -1), "RGB;16").save(str(file))


def check_image_suffix(path: PathName, name: str = "path") -> str:
    """The lower-case suffix of ``path`` when :func:`write_image` can write it; otherwise a
    ValueError naming ``name`` (the argument or option as the caller wrote it), the suffix and the
    ones it takes."""
    file = _path(path, name, "file")
    suffix = file.suffix.lower()
    if suffix not in WRITE_FORMATS:
        got = f"ends in {file.suffix!r}" if file.suffix else "has no suffix"
        raise ValueError(f"{name} {str(path)!r} {got}; the suffix must be one of {list(WRITE_FORMATS)} (any case)")
    return suffix


def _shape_text(image: Tensor) -> str:
    c, h, w = image.shape
    return f"{h}×{w} {'gray' if c == 1 else f'{c}-channel'}"
