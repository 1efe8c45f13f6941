r"""Distances between sample sets, to compare a sampler's output with samples of a known distribution
(e.g. the exact posterior of :class:`~reddiff_imaging.priors.gaussian_mixture.GaussianMixture`).

The sliced Wasserstein distance (J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein barycenter and
its application to texture mixing", SSVM 2011; N. Bonneel, J. Rabin, G. Peyré, H. Pfister, "Sliced and
Radon Wasserstein barycenters of measures", JMIV 2015) averages one-dimensional Wasserstein distances
of random projections,

.. math::

    \mathrm{SW}_p(\mu, \nu) = \Big( \mathbb E_{\theta \sim \mathcal U(S^{D-1})}
        W_p^p\big(\theta_\# \mu, \theta_\# \nu\big) \Big)^{1/p},

and one-dimensional distances are computed exactly from sorted samples (quantile functions). It is
the metric used by Cardoso et al. (2023) to score diffusion posterior samplers on Gaussian mixtures.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reddiff_imaging._validation import check_allocation, check_generator, check_int, check_real

__all__ = ["sliced_wasserstein"]


def _as_samples(value: object, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of samples (N, D) or (N, C, H, W), got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must have a real floating-point dtype, got {value.dtype}")
    if value.ndim < 2 or value.numel() == 0:
        raise ValueError(f"{name} must have shape (N, D) or (N, *shape) with N >= 1 and D >= 1, got {tuple(value.shape)}")
    if value.device.type == "meta":
        raise ValueError(f"{name} is on the 'meta' device, which holds no data; use a cpu or cuda tensor")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return value.detach().reshape(value.shape[0], -1)


def sliced_wasserstein(
    a: Tensor,
    b: Tensor,
    num_projections: int = 256,
    *,
    p: float = 2.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Monte Carlo sliced Wasserstein distance :math:`\mathrm{SW}_p` between two sample sets.

    Args:
        a: samples ``(N, D)`` or ``(N, *shape)`` (flattened).
        b: samples ``(M, D)`` or ``(M, *shape)`` with the same ``D`` (and device).
        num_projections: number of random directions, uniform on the sphere; the directions and the
            projections, ``max(D, N, M) × num_projections`` values, are bounded by
            :data:`~reddiff_imaging._validation.MAX_GENERATED_ELEMENTS`.
        p: order, a finite number ``>= 1``.
        generator: source of the random directions (on the samples' device); the same generator
            state gives the same directions, hence comparable values.

    Returns:
        A 0-d tensor in the dtype of ``a``. With ``N == M`` the one-dimensional distances are those of
        the sorted projections; otherwise both projected sets are evaluated at the
        ``max(N, M)`` quantile levels :math:`(i + 1/2)/L` with linear interpolation.
        Two independent samples of one distribution give :math:`O(N^{-1/2})`, not zero.
    """
    xa = _as_samples(a, "a")
    xb = _as_samples(b, "b")
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"a and b must have the same dimension D, got {xa.shape[1]} and {xb.shape[1]}")
    if xa.device != xb.device:
        raise ValueError(f"a is on {xa.device} but b is on {xb.device}")
    num_projections = check_int(num_projections, "num_projections")
    p = check_real(p, "p", low=1.0)
    generator = check_generator(generator)
    if generator is not None and generator.device.type != xa.device.type:
        raise ValueError(f"generator is on {generator.device} but the samples are on {xa.device}; make it with torch.Generator(device=...)")
    projected = max(xa.shape[1], xa.shape[0], xb.shape[0]) * num_projections
    check_allocation(projected, "num_projections", f"{num_projections} projections of {xa.shape[0]} and {xb.shape[0]} samples of dimension {xa.shape[1]}")

    dim = xa.shape[1]
    theta = torch.randn(dim, num_projections, dtype=torch.float64, device=xa.device, generator=generator)
    theta = theta / theta.norm(dim=0, keepdim=True)
    pa = torch.sort(xa.to(torch.float64) @ theta, dim=0).values  # (N, P)
    pb = torch.sort(xb.to(torch.float64) @ theta, dim=0).values  # (M, P)
    if pa.shape[0] != pb.shape[0]:
        levels = (torch.arange(max(pa.shape[0], pb.shape[0]), dtype=torch.float64, device=xa.device) + 0.5) / max(
            pa.shape[0], pb.shape[0]
        )
        pa = _quantiles(pa, levels)
        pb = _quantiles(pb, levels)
    cost = (pa - pb).abs().pow(p).mean(dim=0)  # W_p^p per projection
    return cost.mean().pow(1.0 / p).to(a.dtype)


def _quantiles(sorted_values: Tensor, levels: Tensor) -> Tensor:
    """Linear-interpolated quantiles of sorted columns ``(N, P)`` at ``levels`` in (0, 1): ``(L, P)``."""
    n = sorted_values.shape[0]
    pos = levels * n - 0.5  # sample i sits at level (i + 1/2)/n
    pos = pos.clamp(0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    frac = (pos - lo.to(pos.dtype))[:, None]
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac
