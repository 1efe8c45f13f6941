"""A registry of named forward models, built for a given image shape.

The workbench builds its tasks from these names, and the generic operator tests run every entry
through the same checks (deepinv keeps a similar list for its tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from reddiff_imaging._validation import as_shape, check_int
from reddiff_imaging.operators.base import Operator
from reddiff_imaging.operators.blur import (
    Blur,
    ZeroPaddedBlur,
    gaussian_kernel,
    motion_kernel,
    uniform_kernel,
)
from reddiff_imaging.operators.hdr import HDR
from reddiff_imaging.operators.identity import Identity
from reddiff_imaging.operators.inpainting import (
    Inpainting,
    box_mask,
    freeform_mask,
    random_mask,
)
from reddiff_imaging.operators.mri import MRI, cartesian_mask
from reddiff_imaging.operators.phase_retrieval import PhaseRetrieval
from reddiff_imaging.operators.superres import BicubicDownsampling, BlockAverage
from reddiff_imaging.operators.tomography import Radon

Shape = tuple[int, ...]
Builder = Callable[[Shape, torch.Generator], Operator]


def _box(shape: Shape, _: torch.Generator) -> Operator:
    """The 20×20 box of 64×64 images, each side scaled with the image's: ``max(1, round(20 n / 64))``
    for a side of ``n`` pixels, so it fits any image (it was the width's square, too tall for wide images)."""
    box = tuple(max(1, round(side * 20 / 64)) for side in shape[-2:])
    return Inpainting(box_mask(shape[-2:], box), shape)


def _freeform(shape: Sequence[int], generator: torch.Generator | None) -> Inpainting:
    """Brush strokes whose lengths follow the image (a share of its longer side) and whose widths do
    too above 64 pixels: up to ``6 max(64, n) / 64`` pixels for a longer side of ``n``, so that a
    stroke mask hides about the same share of a 256×256 image as of a 64×64 one (with a fixed 6 px
    it hid 15 % of 64×64 images and 4 % of 256×256 ones)."""
    width = 6.0 * max(64, *shape[-2:]) / 64
    return Inpainting(freeform_mask(shape[-2:], max_width=width, generator=generator), shape)


_BUILDERS: dict[str, tuple[Builder, str]] = {
    "denoising": (lambda s, g: Identity(s), "identity (denoising)"),
    "inpainting-box": (_box, "centred box covering 20/64 of each side"),
    "inpainting-random": (lambda s, g: Inpainting(random_mask(s[-2:], 0.3, generator=g), s), "30% of pixels kept"),
    "inpainting-freeform": (_freeform, "brush strokes, 6/64 of the longer side wide at most (6 px below 64)"),
    "deblur-gaussian": (lambda s, g: Blur(gaussian_kernel(1.5), s), "circular Gaussian blur, sigma 1.5 px"),
    "deblur-uniform": (lambda s, g: Blur(uniform_kernel(5), s), "circular 5×5 box blur"),
    "deblur-motion": (lambda s, g: Blur(motion_kernel(7, 30), s), "circular motion blur, 7 px at 30°"),
    "deblur-zero-padded": (lambda s, g: ZeroPaddedBlur(gaussian_kernel(1.5), s), "Gaussian blur, zero boundary"),
    "sr4-block": (lambda s, g: BlockAverage(4, s), "4× super-resolution, block average"),
    "sr2-bicubic": (lambda s, g: BicubicDownsampling(2, s), "2× super-resolution, bicubic"),
    "mri4": (lambda s, g: MRI(cartesian_mask(s[-2:], acceleration=4, generator=g), s), "4× Cartesian MRI"),
    "ct": (lambda s, g: Radon(s, num_angles=max(4, max(s[-2:]) // 2)), "sparse-view parallel-beam CT, max(4, ⌊max(H, W)/2⌋) angles"),
    "phase-retrieval": (lambda s, g: PhaseRetrieval(s, oversampling=2.0), "Fourier magnitude, 2× oversampled"),
    "hdr": (lambda s, g: HDR(s, scale=2.0), "clip(2x - 0.5, 0, 1): RED-diff's clip(2x', -1, 1)"),
}


def available() -> list[str]:
    """Names of the registered forward models."""
    return list(_BUILDERS)


def describe(name: str) -> str:
    """One-line description of a registered forward model."""
    return _BUILDERS[_check_name(name)][1]


def build(name: str, in_shape: Sequence[int] = (1, 64, 64), *, seed: int = 0) -> Operator:
    """Build the forward model ``name`` for images of shape ``in_shape`` (random masks from ``seed``)."""
    shape = as_shape(in_shape, "in_shape")
    check_int(seed, "seed", minimum=None)
    if len(shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {shape}")
    generator = torch.Generator().manual_seed(seed)
    return _BUILDERS[_check_name(name)][0](shape, generator)


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be an operator name (a string), got {name!r} ({type(name).__name__}); available: {', '.join(_BUILDERS)}")
    if name not in _BUILDERS:
        raise ValueError(f"unknown operator {name!r}; available: {', '.join(_BUILDERS)}")
    return name
