"""Image quality metrics, batched (one value per image, no per-image host synchronisation).

PSNR and SSIM come from deepinv's metrics (which wrap the standard definitions); images are
batches ``(B, C, H, W)`` in the public range ``[0, 1]``. Both take 1 as the peak value, so the
``reference`` must lie in ``[0, 1]`` (an 8-bit image in ``[0, 255]`` is refused, not scored); the
``estimate`` may stray outside it (unclipped reconstructions). The two must have the same shape
and device.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_device, check_tensor

__all__ = ["SSIM_MIN_SIDE", "psnr", "ssim", "LPIPS"]



@cache
def _deepinv_metric(name: str) -> Any:
    # deepinv (and torchmetrics under it) take seconds to import: load them at the first metric call
    import deepinv

    return getattr(deepinv.metric, name)(max_pixel=1.0)


#: how far the reference may stray outside [0, 1] (rounding of a conversion) before it is refused
_RANGE_SLACK = 1e-3


def _pair(estimate: Tensor, reference: Tensor, min_side: int = 1) -> None:
    check_tensor(estimate, "estimate", allow_complex=False)
    check_tensor(reference, "reference", allow_complex=False)
    if estimate.shape != reference.shape:
        raise ValueError(f"estimate and reference must have the same shape, got {tuple(estimate.shape)} and {tuple(reference.shape)}")
    if estimate.ndim != 4:
        raise ValueError(f"estimate and reference must be batches (B, C, H, W), got shape {tuple(estimate.shape)}")
    if min(estimate.shape[-2:]) < min_side:
        raise ValueError(
            f"estimate and reference must be at least {min_side} × {min_side} pixels (the 11-pixel SSIM window), got shape {tuple(estimate.shape)}"
        )
    if estimate.device != reference.device:
        raise ValueError(f"estimate is on {estimate.device} but reference is on {reference.device}; move one with .to(device)")
    low, high = float(reference.min()), float(reference.max())
    if low < -_RANGE_SLACK or high > 1 + _RANGE_SLACK:
        raise ValueError(
            f"reference must lie in [0, 1] (the metrics take 1 as the peak value), got values in [{low:g}, {high:g}]"
            + ("; divide 8-bit images by 255" if high > 1.5 else "")
        )


def psnr(estimate: Tensor, reference: Tensor, *, validate: bool = True) -> Tensor:
    r"""Peak signal-to-noise ratio :math:`10\log_{10}(1/\mathrm{MSE})` in dB, shape ``(B,)``.

    ``estimate`` and ``reference`` are batches ``(B, C, H, W)`` of the same shape and device, the
    reference in ``[0, 1]``. ``validate=False`` skips these input checks (no host synchronisation;
    solvers' progress records).
    """
    if check_bool(validate, "validate"):
        _pair(estimate, reference)
    return _deepinv_metric("PSNR")(estimate, reference)


def ssim(estimate: Tensor, reference: Tensor) -> Tensor:
    """Structural similarity (Wang et al., 2004; Gaussian window of 11 pixels), shape ``(B,)``.

    ``estimate`` and ``reference`` are batches ``(B, C, H, W)`` of the same shape and device, at
    least 6 × 6 pixels (the window is reflected at the border), the reference in ``[0, 1]``.
    """
    _pair(estimate, reference, min_side=SSIM_MIN_SIDE)
    return _deepinv_metric("SSIM")(estimate, reference)


#: the smallest side SSIM's 11-pixel window can be reflected on (its padding of 5 must be shorter)
SSIM_MIN_SIDE = 6


class LPIPS:
    """Learned perceptual similarity (Zhang et al., CVPR 2018) with the AlexNet backbone, through
    deepinv/torchmetrics; lower is better, shape ``(B,)``. Grayscale images are repeated to RGB.

    The backbone's weights are read from torch's hub cache and never downloaded here: without the
    file :class:`FileNotFoundError` says which file to place where (torchmetrics ships the LPIPS
    linear layers themselves).
    """

    WEIGHTS = "alexnet-owt-7be5be79.pth"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        device = check_device(device)
        path = Path(torch.hub.get_dir()) / "checkpoints" / self.WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"LPIPS needs torchvision's AlexNet weights {self.WEIGHTS} at {path} (they are not downloaded "
                "automatically); copy the file there or set TORCH_HOME to a folder whose hub/checkpoints holds it"
            )
        import deepinv

        self._metric = deepinv.metric.LPIPS(net_type="alex", device=device)

    def __call__(self, estimate: Tensor, reference: Tensor) -> Tensor:
        _pair(estimate, reference)
        if estimate.shape[1] == 1:
            estimate, reference = estimate.repeat(1, 3, 1, 1), reference.repeat(1, 3, 1, 1)
        return self._metric(estimate.clamp(0, 1), reference.clamp(0, 1))
