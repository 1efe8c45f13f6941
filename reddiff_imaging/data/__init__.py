"""Images the project generates or ships: the procedural synthetic scenes and their fixed held-out
test set, real photographs bundled with installed packages in fixed splits
(:mod:`reddiff_imaging.data.photos`), reading and writing image files as they come
(:mod:`reddiff_imaging.data.image_io`), and (in ``assets/``) the bundled priors."""

from reddiff_imaging.data.image_io import (
    ImageInfo,
    read_image,
    read_image_folder,
    read_images,
    write_image,
)
from reddiff_imaging.data.photos import heldout_photos, load_photo, validation_photos
from reddiff_imaging.data.synthetic import (
    HELDOUT_SEED,
    VALIDATION_SEED,
    heldout_images,
    synthetic_batches,
    synthetic_images,
    validation_images,
)

__all__ = [
    "HELDOUT_SEED",
    "VALIDATION_SEED",
    "ImageInfo",
    "heldout_images",
    "heldout_photos",
    "load_photo",
    "read_image",
    "read_image_folder",
    "read_images",
    "synthetic_batches",
    "synthetic_images",
    "validation_images",
    "validation_photos",
    "write_image",
]
