"""Real photographs that ship offline with installed packages, in fixed splits.

The natural-image prior is trained and evaluated on photographs bundled with scikit-image
(``skimage.data``), PyWavelets (``pywt.data``, installed with ptwt) and matplotlib
(``mpl-data/sample_data``); nothing is downloaded. The split is fixed and part of the project's
contract:

* :data:`TRAINING_PHOTOS` -- the only photographs the natural prior sees in training;
* :data:`VALIDATION_PHOTOS` -- for tuning hyper-parameters of solvers and priors (never trained on);
* :data:`HELDOUT_PHOTOS` -- every reported number is measured on crops of these; they are never
  trained or tuned on;
* :data:`RESERVED_PHOTOS` -- scikit-learn's two sample photographs, kept for independent evaluation
  by others (loaded only when scikit-learn is installed; never trained or tuned on).

Photographs load as float32 tensors ``(C, H, W)`` in ``[0, 1]``: ``C = 1`` for gray photographs,
``C = 3`` for colour ones (alpha dropped).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from reddiff_imaging._validation import check_int
from reddiff_imaging.data.image_io import _valid_channels, adjust_image, image_from_array

__all__ = [
    "HELDOUT_PHOTOS",
    "PHOTOS",
    "RESERVED_PHOTOS",
    "TRAINING_PHOTOS",
    "VALIDATION_PHOTOS",
    "Photo",
    "heldout_photos",
    "load_photo",
    "photo_crops",
    "validation_photos",
]


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[index] if index is not None else image

    return load


def _pywavelets(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import pywt.data

        return getattr(pywt.data, name)()

    return load


def _matplotlib(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import imageio.v3 as iio
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / filename
        if filename.endswith(".gz"):
            with gzip.open(path) as f:
                return iio.imread(f.read())
        return iio.imread(path)

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError as err:
            raise ImportError(
                f"the reserved photograph {filename!r} ships with scikit-learn: pip install scikit-learn"
            ) from err
        return load_sample_image(filename)

    return load


@dataclass(frozen=True)
class Photo:
    """A bundled photograph: its name, the package it ships with, and a loader of its array."""

    name: str
    package: str
    description: str
    load_array: Callable[[], np.ndarray]


def _photo(name: str, package: str, description: str, loader: Callable[[], np.ndarray]) -> tuple[str, Photo]:
    return name, Photo(name, package, description, loader)


#: every bundled photograph by name
PHOTOS: dict[str, Photo] = dict(
    [
        # held out: every reported number
        _photo("camera", "scikit-image", "cameraman, gray, 512x512", _skimage("camera")),
        _photo("astronaut", "scikit-image", "astronaut Eileen Collins, colour, 512x512", _skimage("astronaut")),
        _photo("coffee", "scikit-image", "cup of coffee, colour, 400x600", _skimage("coffee")),
        _photo("grace_hopper", "matplotlib", "Grace Hopper portrait, colour, 600x512", _matplotlib("grace_hopper.jpg")),
        # validation: tuning
        _photo("chelsea", "scikit-image", "Chelsea the cat, colour, 300x451", _skimage("chelsea")),
        _photo("rocket", "scikit-image", "rocket launch, colour, 427x640", _skimage("rocket")),
        # training
        _photo("coins", "scikit-image", "Greek coins, gray, 303x384", _skimage("coins")),
        _photo("moon", "scikit-image", "lunar surface, gray, 512x512", _skimage("moon")),
        _photo("page", "scikit-image", "scanned page, gray, 191x384", _skimage("page")),
        _photo("text", "scikit-image", "photographed text, gray, 172x448", _skimage("text")),
        _photo("clock", "scikit-image", "motion-blurred clock, gray, 300x400", _skimage("clock")),
        _photo("cell", "scikit-image", "cell micrograph, gray, 660x550", _skimage("cell")),
        _photo("brick", "scikit-image", "brick wall texture, gray, 512x512", _skimage("brick")),
        _photo("grass", "scikit-image", "grass texture, gray, 512x512", _skimage("grass")),
        _photo("gravel", "scikit-image", "gravel texture, gray, 512x512", _skimage("gravel")),
        _photo("hubble_deep_field", "scikit-image", "Hubble deep field, colour, 872x1000", _skimage("hubble_deep_field")),
        _photo("immunohistochemistry", "scikit-image", "stained tissue, colour, 512x512", _skimage("immunohistochemistry")),
        _photo("retina", "scikit-image", "retina fundus photograph, colour, 1411x1411", _skimage("retina")),
        _photo("motorcycle_left", "scikit-image", "motorcycle (stereo left view), colour, 500x741", _skimage("stereo_motorcycle", 0)),
        _photo("motorcycle_right", "scikit-image", "motorcycle (stereo right view), colour, 500x741", _skimage("stereo_motorcycle", 1)),
        _photo("aero", "PyWavelets", "aerial photograph of fields, gray, 512x512", _pywavelets("aero")),
        _photo("ascent", "PyWavelets", "people on an outdoor staircase, gray, 512x512", _pywavelets("ascent")),
        # reserved for independent evaluation (scikit-learn)
        _photo("china", "scikit-learn", "Chinese temple, colour, 427x640", _sklearn("china.jpg")),
        _photo("flower", "scikit-learn", "flower, colour, 427x640", _sklearn("flower.jpg")),
    ]
)

#: photographs every reported number is measured on (never trained or tuned on)
HELDOUT_PHOTOS: tuple[str, ...] = ("camera", "astronaut", "coffee", "grace_hopper")
#: photographs for tuning solvers and priors (never trained on)
VALIDATION_PHOTOS: tuple[str, ...] = ("chelsea", "rocket")
#: scikit-learn's sample photographs, reserved for independent evaluation (never trained or tuned on)
RESERVED_PHOTOS: tuple[str, ...] = ("china", "flower")
#: the only photographs the natural-image prior is trained on
TRAINING_PHOTOS: tuple[str, ...] = tuple(
    name for name in PHOTOS if name not in HELDOUT_PHOTOS + VALIDATION_PHOTOS + RESERVED_PHOTOS
)


def load_photo(name: str, *, channels: int | None = None) -> Tensor:
    """One bundled photograph as a float32 tensor ``(C, H, W)`` in ``[0, 1]``.

    Args:
        name: a key of :data:`PHOTOS`.
        channels: ``None`` keeps the photograph's own channels; ``1`` converts colour to luminance
            (``skimage.color.rgb2gray``); ``3`` repeats a gray photograph.

    Samples are scaled and alpha channels dropped as :func:`~reddiff_imaging.data.image_io.read_image`
    does for files.
    """
    if not isinstance(name, str) or name not in PHOTOS:
        raise ValueError(f"name must be one of {sorted(PHOTOS)}, got {name!r}")
    if not _valid_channels(channels):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
    image, _ = image_from_array(PHOTOS[name].load_array(), name)
    return adjust_image(image, channels=channels)[0]


def photo_crops(names: tuple[str, ...] | list[str], size: int = 256, *, channels: int = 3) -> Tensor:
    """Centre crops ``(len(names), channels, size, size)`` of the named photographs.

    ``names`` is a non-empty tuple or list of keys of :data:`PHOTOS`, all checked (with ``size``
    and ``channels``) before any photograph is loaded. Photographs smaller than ``size`` on a
    side are an error; nothing is resized.
    """
    size = check_int(size, "size")
    if not isinstance(names, (tuple, list)) or not names:
        raise ValueError(f"names must be a non-empty tuple or list of photograph names, got {names!r}")
    unknown = [name for name in names if not isinstance(name, str) or name not in PHOTOS]
    if unknown:
        raise ValueError(f"names must be keys of PHOTOS ({', '.join(sorted(PHOTOS))}), got unknown {unknown!r}")
    if not _valid_channels(channels):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
    crops = []
    for name in names:
        image = load_photo(name, channels=channels)
        h, w = image.shape[-2:]
        if min(h, w) < size:
            raise ValueError(f"photograph {name!r} is {h}x{w}, smaller than size={size}")
        top, left = (h - size) // 2, (w - size) // 2
        crops.append(image[:, top : top + size, left : left + size])
    return torch.stack(crops)


def heldout_photos(size: int = 256, *, channels: int = 3) -> Tensor:
    """Centre crops of the :data:`HELDOUT_PHOTOS`, ``(4, channels, size, size)``: the test images
    of every number reported for the natural-image prior."""
    return photo_crops(HELDOUT_PHOTOS, size, channels=channels)


def validation_photos(size: int = 256, *, channels: int = 3) -> Tensor:
    """Centre crops of the :data:`VALIDATION_PHOTOS`, ``(2, channels, size, size)``, for tuning."""
    return photo_crops(VALIDATION_PHOTOS, size, channels=channels)
