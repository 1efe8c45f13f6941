"""How an operator's SVD treats the real images of a diffusion prior, and its kept singular values:
the spectral helpers of :mod:`~reddiff_imaging.solvers.ddrm` and :mod:`~reddiff_imaging.solvers.pigdm`."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reddiff_imaging._validation import check_device, check_instance, check_real
from reddiff_imaging.operators.base import Operator
from reddiff_imaging.operators.svd import SVD

__all__ = ["kept_singular_values", "probe_image", "spectral_kind"]

#: relative tolerance on the imaginary part of spectral filters applied to a real probe image
_REAL_TOL = 1e-6


def probe_image(operator: Operator, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A deterministic, non-symmetric real test image ``(1, *in_shape)`` (no random state involved)."""
    check_instance(operator, "operator", Operator, "reddiff_imaging.operators.Operator")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a real floating torch.dtype such as torch.float32, got {dtype!r}")
    device = check_device(device)
    n = math.prod(operator.in_shape)
    k = torch.arange(n, dtype=torch.float64, device=device)
    values = torch.frac(0.5 + k * 0.6180339887498949) - 0.5 + 0.3 * torch.sin(1.0 + 2.3 * k)
    return values.reshape(1, *operator.in_shape).to(dtype)


def spectral_kind(operator: Operator, svd: SVD, device: torch.device) -> str:
    r"""How the SVD of ``operator`` treats real images.

    Returns:
        ``"real"`` when :math:`V^H` maps real images to real coefficients; ``"hermitian"`` when the
        coefficients are complex but every spectral filter :math:`V f(s) V^H` maps real images to
        real images (checked with :math:`f(s) = s` on a probe image, which suffices almost surely
        since :math:`s \mapsto s` is injective); ``"complex"`` otherwise.
    """
    check_instance(operator, "operator", Operator, "reddiff_imaging.operators.Operator")
    check_instance(svd, "svd", SVD, "reddiff_imaging.operators.SVD (an operator's .svd)")
    device = check_device(device)
    dtype = torch.float64 if device.type == "cpu" else torch.float32
    x = probe_image(operator, dtype, device)
    coefficients = svd.Vt(x)
    if not coefficients.is_complex():
        return "real"
    s = svd.singular_values.to(device=device, dtype=coefficients.real.dtype)
    filtered = svd.V(s * coefficients)
    if not filtered.is_complex():
        return "hermitian"
    scale = float(filtered.abs().max()) or 1.0
    tol = _REAL_TOL if dtype == torch.float64 else 1e-4
    return "hermitian" if float(filtered.imag.abs().max()) <= tol * scale else "complex"


def kept_singular_values(svd: SVD, rcond: float, like: Tensor) -> tuple[Tensor, Tensor]:
    """Singular values (in ``like``'s real precision and device) with those at or below ``rcond``
    times the largest set to zero, and the mask of the kept ones."""
    check_instance(svd, "svd", SVD, "reddiff_imaging.operators.SVD (an operator's .svd)")
    rcond = check_real(rcond, "rcond", low=0.0)
    if rcond >= 1:
        raise ValueError(f"rcond must be in [0, 1) (at 1 or above no singular value is kept), got {rcond!r}")
    if not isinstance(like, Tensor):
        raise TypeError(f"like must be a tensor (its precision and device are used), got {type(like).__name__}")
    if not (like.is_floating_point() or like.is_complex()):
        raise TypeError(f"like must be a floating or complex tensor, got dtype {like.dtype}")
    s = svd.singular_values.to(device=like.device, dtype=like.real.dtype if like.is_complex() else like.dtype)
    largest = s.max() if s.numel() else s.new_zeros(())
    keep = (s > rcond * largest) & (s > 0)
    return torch.where(keep, s, torch.zeros_like(s)), keep

