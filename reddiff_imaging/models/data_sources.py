"""Image sources for diffusion training: procedural scenes, an HDF5 file, or a folder of images.

Every source yields float32 batches ``(B, C, size, size)`` in ``[0, 1]`` from
``source.sample(batch_size, generator)``, drawing all randomness from the given CPU generator, so a
training run that saves the generator state resumes its data stream exactly.

* :class:`SyntheticSource` -- fresh scenes of :mod:`reddiff_imaging.data.synthetic` every batch.
* :func:`hdf5_source` -- a dataset of an HDF5 file, shape ``(N, C, H, W)`` or ``(N, H, W)``,
  dtype uint8 (divided by 255), uint16 (divided by 65535) or float (must lie in ``[0, 1]``). The dataset key defaults to
  ``"images"``; files written by deepinv's ``generate_dataset`` keep their images under
  ``"x_train"`` (pass ``key="x_train"``).
* :class:`PhotoCropSource` -- random crops at several scales, flipped and rotated, of photographs
  (by default the bundled training photographs of :mod:`reddiff_imaging.data.photos`).
* :func:`folder_source` -- every image file of a folder (see
  :data:`~reddiff_imaging.data.image_io.IMAGE_SUFFIXES`), read at full bit depth by
  :func:`~reddiff_imaging.data.image_io.read_image`, converted to gray (or colour),
  centre-cropped to a square and resized.

File-backed sources hold all images in memory (uint8 stays uint8); batches are uniform draws with
replacement.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import check_dataset_size
from ..data.image_io import IMAGE_SUFFIXES
from ..data.synthetic import MAX_TRAINING_SEED, synthetic_images

__all__ = [
    "ImageSource",
    "SyntheticSource",
    "TensorSource",
    "PhotoCropSource",
    "hdf5_source",
    "read_hdf5_images",
    "square_resize",
    "folder_source",
    "IMAGE_SUFFIXES",
]


@runtime_checkable
class ImageSource(Protocol):
    """What :func:`~reddiff_imaging.models.training.train_diffusion` needs from a data source.

    A source may also have a method ``to(device)`` that returns the source building its batches on
    ``device`` (as :meth:`PhotoCropSource.to` does); ``train_diffusion`` calls it with its device.
    """

    channels: int
    size: int

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """A float32 batch ``(batch_size, channels, size, size)`` in ``[0, 1]``."""
        ...

    def describe(self) -> dict[str, Any]:
        """A plain dict describing the data (stored in checkpoints' ``meta``)."""
        ...


class SyntheticSource:
    """Procedural grayscale scenes (:func:`~reddiff_imaging.data.synthetic.synthetic_images`)."""

    channels = 1

    def __init__(self, size: int = 64) -> None:
        synthetic_images(1, size, seed=0)  # validates size
        self.size = size

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return synthetic_images(batch_size, self.size, generator=generator)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "size": self.size,
            "channels": 1,
            "generator": "reddiff_imaging.data.synthetic.synthetic_images",
            "training_seeds": f"[0, {MAX_TRAINING_SEED})",
        }


class TensorSource:
    """Images held in memory, ``(N, C, size, size)``, uint8 (0..255) or float32 in ``[0, 1]``."""

    def __init__(self, images: Tensor, description: dict[str, Any] | None = None) -> None:
        if not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.ndim != 4 or images.shape[0] < 1 or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must have shape (N, C, S, S) with N >= 1, got {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            pass
        elif images.is_floating_point():
            images = images.float()
            lo, hi = float(images.min()), float(images.max())
            if not (torch.isfinite(images).all() and lo >= -1e-3 and hi <= 1 + 1e-3):
                raise ValueError(f"float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
            images = images.clamp(0, 1)
        else:
            raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
        self.images = images.contiguous()
        self.channels = int(images.shape[1])
        self.size = int(images.shape[2])
        self.description = dict(description or {"kind": "tensor"})

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        batch = self.images[idx]
        return batch.float() / 255.0 if batch.dtype == torch.uint8 else batch

    def describe(self) -> dict[str, Any]:
        return {**self.description, "num_images": len(self), "size": self.size, "channels": self.channels}


def square_resize(images: Tensor, size: int | None) -> Tensor:
    """Centre-crop ``(N, C, H, W)`` to a square and resize it to ``size`` (antialiased bilinear)."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top : top + side, left : left + side]
    if size is None or size == side:
        return images
    out = []
    for chunk in images.split(256):
        dtype = chunk.dtype
        res = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(res.round().clamp(0, 255).to(torch.uint8) if dtype == torch.uint8 else res.clamp(0, 1))
    return torch.cat(out)


def read_hdf5_images(path: str | os.PathLike[str], key: str = "images", size: int | None = None) -> Tensor:
    """The images of dataset ``key`` of an HDF5 file, ``(N, C, H, W)``: uint8, or float32 in
    ``[0, 1]`` (uint16 divided by 65535).

    Args:
        path: the ``.h5``/``.hdf5`` file.
        key: dataset name (``"images"`` by default; deepinv's ``generate_dataset`` uses ``"x_train"``).
        size: centre-crop to a square and resize to ``size x size``; ``None`` keeps the images
            as stored, at their own size (not cropped).
    """
    import h5py

    from .._hdf5 import dataset_member

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HDF5 data file {str(path)!r} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {err}") from err
    with f:
        if key not in f:
            available = sorted(k for k in f if isinstance(f.get(k, getlink=True), h5py.HardLink) and isinstance(f[k], h5py.Dataset))
            raise ValueError(f"HDF5 file {str(path)!r} has no dataset {key!r}; datasets present: {available}")
        dataset = dataset_member(f, key, f"HDF5 file {str(path)!r}")  # refuses links and external storage
        check_dataset_size(dataset.shape, f"dataset {key!r} of {str(path)!r}")  # a header can claim anything
        data = dataset[()]
    if data.dtype == np.uint16:  # 16-bit images, on their full scale like read_image's
        data = data.astype(np.float32) / 65535.0
    images = torch.from_numpy(data)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(
            f"dataset {key!r} of {str(path)!r} must have shape (N, C, H, W) or (N, H, W) with N >= 1, "
            f"got {tuple(data.shape)}"
        )
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):  # (N, H, W, C): C would be read as the width
        raise ValueError(
            f"dataset {key!r} of {str(path)!r} has shape {tuple(data.shape)}, which looks like (N, H, W, C) with the "
            "channels last; store it as (N, C, H, W), e.g. np.moveaxis(x, -1, 1)"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"dataset {key!r} of {str(path)!r} must be uint8, uint16 or float, got {data.dtype}")
    images = images if images.dtype == torch.uint8 else images.float()
    images = images if size is None else square_resize(images, size)
    if images.is_floating_point():
        lo, hi = float(images.min()), float(images.max())
        if not (torch.isfinite(images).all() and lo >= -1e-3 and hi <= 1 + 1e-3):
            raise ValueError(f"dataset {key!r} of {str(path)!r}: float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
        images = images.clamp(0, 1)
    return images


def hdf5_source(path: str | os.PathLike[str], key: str = "images", size: int | None = None) -> TensorSource:
    """Load dataset ``key`` of an HDF5 file as a :class:`TensorSource` (training takes square
    images: :func:`read_hdf5_images`, then centre-cropped to a square).

    Args:
        path: the ``.h5``/``.hdf5`` file.
        key: dataset name (``"images"`` by default; deepinv's ``generate_dataset`` uses ``"x_train"``).
        size: resize (after centre-cropping to a square) to ``size x size``; ``None`` keeps the
            side (the shorter one, for images that are not square).
    """
    images = square_resize(read_hdf5_images(path, key, size), size)
    path = Path(path)
    try:
        return TensorSource(images, {"kind": "hdf5", "path": str(path), "key": key})
    except ValueError as err:  # values outside [0, 1], NaN
        raise ValueError(f"dataset {key!r} of {str(path)!r}: {err}") from err


def folder_source(
    path: str | os.PathLike[str], size: int = 64, *, grayscale: bool = True, rescale: bool = False
) -> TensorSource:
    """Load every image of a folder (not recursive) as a :class:`TensorSource` of float32 images.

    Images are read at full bit depth (:func:`~reddiff_imaging.data.image_io.read_image_folder`),
    converted to gray (``grayscale=True``, 1 channel, luminance) or colour (3 channels),
    centre-cropped to a square and resized to ``size`` (bicubic, antialiased). ``rescale=True``
    stretches each image's own range onto ``[0, 1]`` (float images outside it, 32-bit integers).
    The description (:meth:`TensorSource.describe`, printed by ``train-prior`` and stored in the
    checkpoints) counts the images whose shorter side was below ``size`` and were enlarged.
    """
    from ..data.image_io import read_image_folder

    images, infos = read_image_folder(path, channels=1 if grayscale else 3, size=size, rescale=rescale)
    enlarged = sum(min(info.height, info.width) < size for info in infos)
    description: dict[str, Any] = {"kind": "folder", "path": str(path), "grayscale": grayscale, "enlarged_to_size": enlarged}
    if rescale:
        description["rescale"] = True
    return TensorSource(images, description)


class PhotoCropSource:
    """Random square crops of photographs at several scales, with the eight flips and rotations.

    Each image of a batch picks a photograph uniformly, a crop side :math:`s` log-uniformly in
    ``[size, min(H, W, max_downscale * size)]`` and a uniform position, resizes the crop to
    ``size x size`` (antialiased bilinear, so coarser scales are downsampled, never upsampled) and
    applies one of the eight symmetries of the square; colour crops also get a uniformly drawn
    permutation of their channels (the bundled colour photographs are few, and mostly red and
    orange: the permutations spread their edges and textures over every hue). Coarse crops show
    whole objects, fine crops the photographs' own grain and texture.

    Args:
        photos: float tensors ``(C, H, W)`` in ``[0, 1]`` with ``C`` equal to ``channels``, every side
            at least ``size``.
        names: the photographs' names (for :meth:`describe`).
        size: side of the crops.
        max_downscale: the largest ratio of crop side to ``size``.
    """

    def __init__(self, photos: Sequence[Tensor], names: Sequence[str], size: int = 64, *, max_downscale: float = 4.0) -> None:
        if len(photos) == 0 or len(photos) != len(names):
            raise ValueError(f"photos and names must be non-empty and of equal length, got {len(photos)} and {len(names)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not isinstance(max_downscale, (int, float)) or not 1.0 <= max_downscale < math.inf:
            raise ValueError(f"max_downscale must be a finite number >= 1, got {max_downscale!r}")
        channels = {int(p.shape[0]) for p in photos}
        if len(channels) != 1 or any(p.ndim != 3 for p in photos):
            raise ValueError(f"photos must all have shape (C, H, W) with one C, got {[tuple(p.shape) for p in photos]}")
        for name, photo in zip(names, photos):
            if min(photo.shape[-2:]) < size:
                raise ValueError(f"photo {name!r} is {tuple(photo.shape[-2:])}, smaller than size={size}")
        self.photos = [p.float().contiguous() for p in photos]
        self.names = list(names)
        self.channels = channels.pop()
        self.size = size
        self.max_downscale = float(max_downscale)

    @classmethod
    def bundled(cls, size: int = 64, *, channels: int = 3, max_downscale: float = 4.0) -> PhotoCropSource:
        """Crops of the bundled :data:`~reddiff_imaging.data.photos.TRAINING_PHOTOS` (gray photographs
        repeated to three channels when ``channels=3``, colour ones turned to luminance when ``1``)."""
        from ..data.photos import TRAINING_PHOTOS, load_photo

        photos = [load_photo(name, channels=channels) for name in TRAINING_PHOTOS]
        return cls(photos, TRAINING_PHOTOS, size, max_downscale=max_downscale)

    def to(self, device: str | torch.device) -> PhotoCropSource:
        """The same source with its photographs on ``device``, where it then builds its batches: on
        a GPU the crops are cut and resized there instead of by a CPU loop that would starve it. The
        random draws stay on the CPU generator, so every device draws the same crops (a GPU's
        resizing may round differently in the last bits)."""
        return type(self)([p.to(device) for p in self.photos], self.names, self.size, max_downscale=self.max_downscale)

    def sample(self, batch_size: int, generator: torch.Generator) -> Tensor:
        which = torch.randint(len(self.photos), (batch_size,), generator=generator)
        uniforms = torch.rand(batch_size, 3, generator=generator, dtype=torch.float64)
        symmetry = torch.randint(8, (batch_size,), generator=generator)
        permutation = torch.argsort(torch.rand(batch_size, self.channels, generator=generator), dim=1)
        batch = torch.empty(batch_size, self.channels, self.size, self.size, device=self.photos[0].device)
        for i in range(batch_size):
            photo = self.photos[int(which[i])]
            h, w = photo.shape[-2:]
            largest = min(h, w, int(self.max_downscale * self.size))
            side = min(largest, round(self.size * (largest / self.size) ** float(uniforms[i, 0])))
            top = int(float(uniforms[i, 1]) * (h - side + 1))
            left = int(float(uniforms[i, 2]) * (w - side + 1))
            crop = photo[:, top : top + side, left : left + side]
            if side != self.size:
                crop = F.interpolate(crop[None], size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)[0]
            crop = crop[permutation[i]]
            k = int(symmetry[i])
            crop = torch.rot90(crop, k % 4, dims=(1, 2))
            batch[i] = crop.flip(-1) if k >= 4 else crop
        return batch.clamp_(0.0, 1.0)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "photo-crops",
            "photos": list(self.names),
            "size": self.size,
            "channels": self.channels,
            "max_downscale": self.max_downscale,
        }
