"""Image quality metrics, batched (one value per image, no per-image host synchronisation).

PSNR and SSIM come from deepinv's metrics (which wrap the standard definitions); images are in
the public range ``[0, 1]``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging._validation import check_tensor

__all__ = ["psnr", "ssim", "LPIPS"]



@cache
def _deepinv_metric(name: str) -> Any:
    # deepinv (and torchmetrics under it) take seconds to import: load them at the first metric call
    import deepinv

    return getattr(deepinv.metric, name)(max_pixel=1.0)


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
    return _deepinv_metric("PSNR")(estimate, reference)


def ssim(estimate: Tensor, reference: Tensor) -> Tensor:
    """Structural similarity (Wang et al., 2004; Gaussian window), shape ``(B,)``."""
    _pair(estimate, reference)
    return _deepinv_metric("SSIM")(estimate, reference)


class LPIPS:
    """Learned perceptual similarity (Zhang et al., CVPR 2018) with the AlexNet backbone, through
    deepinv/torchmetrics; lower is better, shape ``(B,)``. Grayscale images are repeated to RGB.

    The backbone's weights are read from torch's hub cache and never downloaded here: without the
    file :class:`FileNotFoundError` says which file to place where (torchmetrics ships the LPIPS
    linear layers themselves).
    """

    WEIGHTS = "alexnet-owt-7be5be79.pth"

    def __init__(self, device: str | torch.device = "cpu") -> None:
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
