"""Batched conjugate gradients for Hermitian positive (semi-)definite operators."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def batch_dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample real inner product :math:`\\mathrm{Re}\\langle a, b\\rangle`, shape ``(B,)``."""
    return (a.conj() * b).real.reshape(a.shape[0], -1).sum(dim=1)


def conjugate_gradient(
    apply: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> Tensor:
    r"""Solve :math:`M x = b` for a Hermitian positive semi-definite ``apply`` = :math:`M`.

    Each batch item is solved independently (per-sample step sizes), in one vectorised loop; the
    loop stops when every item satisfies :math:`\|b - Mx\| \le \mathrm{tol}\,\|b\|` or after
    ``max_iter`` iterations. Started from zero on a consistent singular system, CG returns the
    minimum-norm solution.
    """
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply(x) if x0 is not None else b.clone()
    p = r.clone()
    rr = batch_dot(r, r)
    threshold = (tol**2) * batch_dot(b, b).clamp_min(torch.finfo(rr.dtype).tiny)
    view = (-1,) + (1,) * (b.ndim - 1)
    for _ in range(max_iter):
        if bool((rr <= threshold).all()):
            break
        mp = apply(p)
        curvature = batch_dot(p, mp)
        active = (rr > threshold) & (curvature > 0)
        alpha = torch.where(active, rr / curvature.where(active, torch.ones_like(curvature)), 0.0)
        x = x + alpha.view(view) * p
        r = r - alpha.view(view) * mp
        rr_new = batch_dot(r, r)
        beta = torch.where(active, rr_new / rr.where(active, torch.ones_like(rr)), 0.0)
        p = r + beta.view(view) * p
        rr = torch.where(active, rr_new, rr)
    return x
