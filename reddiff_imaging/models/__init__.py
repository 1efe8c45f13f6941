"""Networks, checkpoints and diffusion training.

* :class:`UNet`, :class:`UNetConfig` -- the project's small epsilon-prediction UNet;
* :func:`save_unet_checkpoint`, :func:`load_unet_checkpoint` -- its checkpoint format;
* :func:`deepened` -- a trained network with one more residual block per level, same function;
* :func:`train_diffusion` -- resumable DDPM training with an EMA of the weights, on
  :class:`SyntheticSource` scenes, crops of photographs (:class:`PhotoCropSource`), an HDF5 file (:func:`hdf5_source`) or an image folder
  (:func:`folder_source`).
"""

from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_unet_checkpoint,
    save_unet_checkpoint,
)
from .data_sources import (
    ImageSource,
    PhotoCropSource,
    SyntheticSource,
    TensorSource,
    folder_source,
    hdf5_source,
)
from .growth import deepened
from .training import train_diffusion
from .unet import UNet, UNetConfig

__all__ = [
    "UNet",
    "UNetConfig",
    "save_unet_checkpoint",
    "load_unet_checkpoint",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "train_diffusion",
    "deepened",
    "ImageSource",
    "SyntheticSource",
    "PhotoCropSource",
    "TensorSource",
    "hdf5_source",
    "folder_source",
]
