"""Images the project generates or ships: the procedural synthetic scenes, their fixed held-out
test set, and (in ``assets/``) the bundled default prior; and reading and writing image files as
they come (:mod:`reddiff_imaging.data.image_io`)."""

from reddiff_imaging.data.image_io import ImageInfo, read_image, read_image_folder, write_image

from reddiff_imaging.data.synthetic import (
    HELDOUT_SEED,
    VALIDATION_SEED,
    heldout_images,
    synthetic_batches,
    synthetic_images,
    validation_images,
)

__all__ = [
    "ImageInfo",
    "read_image",
    "read_image_folder",
    "write_image",
    "synthetic_images",
    "synthetic_batches",
    "heldout_images",
    "validation_images",
    "HELDOUT_SEED",
    "VALIDATION_SEED",
]
