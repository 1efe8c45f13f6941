"""Images the project generates or ships: the procedural synthetic scenes and their fixed held-out
test set, real photographs bundled with installed packages in fixed splits
(:mod:`reddiff_imaging.data.photos`), and (in ``assets/``) the bundled priors."""

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
    "synthetic_images",
    "synthetic_batches",
    "heldout_images",
    "validation_images",
    "HELDOUT_SEED",
    "VALIDATION_SEED",
    "load_photo",
    "heldout_photos",
    "validation_photos",
]
