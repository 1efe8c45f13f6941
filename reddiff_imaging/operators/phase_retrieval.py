r"""Fourier phase retrieval: the magnitude of an oversampled Fourier transform.

.. math::
    y = |F P x|,

where :math:`P` zero-pads the image to ``(round(oversampling * H), round(oversampling * W))`` and
:math:`F` is the orthonormal 2-D FFT over the last two axes (``torch.fft.fft2(norm="ortho")``).
The phase of the far-field diffraction pattern is lost; oversampling (zero padding) makes the
problem determined up to the trivial ambiguities (global sign/phase, translation, conjugate
flip) for generic images (Fienup, "Phase retrieval algorithms: a comparison", Appl. Opt. 1982;
Hayes, 1982). Used as a nonlinear benchmark by DPS (Chung et al., ICLR 2023) and RED-diff
(Mardani et al., ICLR 2024).

Conventions: the image sits in the middle of the padded frame (``(H' - H) // 2`` zeros above and
to the left, the rest below and to the right, as in the official DPS and RED-diff code). The
placement does not change the measurement: moving the image inside the frame only multiplies
:math:`FPx` by a linear phase. The output is in the unshifted FFT order (``torch.fft.fftshift`` it
to display). The official DPS/RED-diff operator pads ``oversample / 8 * 256`` pixels on each side
of 256×256 images, so their ``oversample=2.0`` is ``oversampling=1.5`` here; it also works on
images in ``[-1, 1]``, whereas here the image is in the public range ``[0, 1]``, padded with zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor

from reddiff_imaging._validation import as_shape, check_image_size
from reddiff_imaging.operators.base import Operator


class PhaseRetrieval(Operator):
    r"""Oversampled Fourier magnitude :math:`y = |F P x|` (nonlinear).

    Args:
        in_shape: image shape without the batch axis, at least ``(H, W)``, usually ``(C, H, W)``.
        oversampling: padded size over image size, :math:`\ge 1`; one number for both axes or a
            pair ``(along H, along W)``. The padded size is ``round(oversampling * H)`` by
            ``round(oversampling * W)``.

    The output is real, of shape ``(*in_shape[:-2], H', W')``, with the input's precision. Real and
    complex images are accepted. Derivatives come from :mod:`torch.func`; at frequencies where
    :math:`FPx = 0` the derivative of :math:`|\cdot|` is taken as zero (``torch.sgn(0) = 0``), so
    gradients stay finite.

    Example:
        >>> import torch
        >>> A = PhaseRetrieval((1, 32, 32), oversampling=2.0)
        >>> A(torch.rand(4, 1, 32, 32)).shape
        torch.Size([4, 1, 64, 64])
    """

    def __init__(self, in_shape: Sequence[int], oversampling: float | Sequence[float] = 2.0) -> None:
        shape = as_shape(in_shape, "in_shape")
        if len(shape) < 2:
            raise ValueError(f"in_shape must have at least two axes (..., H, W), got {shape}")
        factors = _check_oversampling(oversampling)
        height, width = shape[-2:]
        padded = (round(factors[0] * height), round(factors[1] * width))
        check_image_size(*padded, f"oversampling={oversampling!r} of the {height} × {width} image (its padded frame)")
        super().__init__(shape, (*shape[:-2], *padded))
        self.oversampling = factors
        top, left = (padded[0] - height) // 2, (padded[1] - width) // 2
        #: ``(left, right, top, bottom)`` zeros, in the order of ``torch.nn.functional.pad``
        self.padding = (left, padded[1] - width - left, top, padded[0] - height - top)

    def pad(self, x: Tensor) -> Tensor:
        """Zero-pad ``(B, *in_shape)`` images to the oversampled frame :math:`Px`."""
        return F.pad(x, self.padding)

    def crop(self, z: Tensor) -> Tensor:
        """Cut the image window out of a padded frame (the adjoint :math:`P^T` of :meth:`pad`)."""
        left, _, top, _ = self.padding
        height, width = self.in_shape[-2:]
        return z[..., top : top + height, left : left + width]

    def _forward(self, x: Tensor) -> Tensor:
        return torch.fft.fft2(self.pad(x), norm="ortho").abs()

    def pinv(self, y: Tensor, *, rcond: float = 1e-6, max_iter: int = 1000, tol: float | None = None) -> Tensor:
        r"""Heuristic initial guess :math:`|P^T \mathrm{shift}(F^{-1} y)|`, as ``H_pinv`` of RED-diff.

        Not a pseudo-inverse (the operator is nonlinear): the inverse FFT of the magnitudes is the
        square root of the image's autocorrelation in Fourier, centred and cropped to the image
        window. The official RED-diff code initialises its iterate with it. ``rcond``, ``max_iter``
        and ``tol`` are unused (the signature of :meth:`LinearOperator.pinv`).
        """
        self.check_output(y, "y")
        z = torch.fft.ifft2(y, norm="ortho").abs()
        return self.crop(torch.fft.fftshift(z, dim=(-2, -1)))

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, out_shape={self.out_shape}, oversampling={self.oversampling}"


def _check_oversampling(oversampling: object) -> tuple[float, float]:
    values = oversampling if isinstance(oversampling, (tuple, list)) else (oversampling, oversampling)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, Real) for v in values):
        raise TypeError(f"oversampling must be a number >= 1 or a pair of them, got {oversampling!r}")
    factors = (float(values[0]), float(values[1]))
    if not all(math.isfinite(v) and v >= 1.0 for v in factors):
        raise ValueError(f"oversampling must be >= 1 (and finite), got {oversampling!r}")
    return factors
