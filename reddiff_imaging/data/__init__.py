"""Images the project generates or ships: the procedural synthetic scenes, their fixed held-out
test set, and (in ``assets/``) the bundled default prior."""

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
]
