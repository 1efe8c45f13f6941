"""Image quality metrics, batched (one value per image, no per-image host synchronisation).

PSNR and SSIM come from deepinv's metrics (which wrap the standard definitions); images are in
the public range ``[0, 1]``.
"""

from __future__ import annotations

import deepinv
from torch import Tensor

from reddiff_imaging._validation import check_tensor

__all__ = ["psnr", "ssim"]

_PSNR = deepinv.metric.PSNR(max_pixel=1.0)
_SSIM = deepinv.metric.SSIM(max_pixel=1.0)


def _pair(estimate: Tensor, reference: Tensor) -> None:
    check_tensor(estimate, "estimate", allow_complex=False)
    check_tensor(reference, "reference", allow_complex=False)
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate and reference must have the same shape, got {tuple(estimate.shape)} and {tuple(reference.shape)}")


def psnr(estimate: Tensor, reference: Tensor, *, validate: bool = True) -> Tensor:
    r"""Peak signal-to-noise ratio :math:`10\log_{10}(1/\mathrm{MSE})` in dB, shape ``(B,)``.

    ``validate=False`` skips the input checks (no host synchronisation; solvers' progress records).
    """
    if validate:
        _pair(estimate, reference)
    return _PSNR(estimate, reference)


def ssim(estimate: Tensor, reference: Tensor) -> Tensor:
    """Structural similarity (Wang et al., 2004; Gaussian window), shape ``(B,)``."""
    _pair(estimate, reference)
    return _SSIM(estimate, reference)
