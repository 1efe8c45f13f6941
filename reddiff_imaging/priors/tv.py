r"""Total variation prior: exact proximal operator by the fast dual projection method.

The (discrete) total variation of an image batch :math:`x \in \mathbb{R}^{B\times C\times H\times W}`
uses forward differences with a Neumann boundary (the difference across the last row/column is 0),

.. math::
    (D_h x)_{c,i,j} = x_{c,i,j+1} - x_{c,i,j}, \qquad (D_v x)_{c,i,j} = x_{c,i+1,j} - x_{c,i,j},

and is, per batch item,

.. math::
    \mathrm{TV}_{\mathrm{iso}}(x) = \sum_{i,j} \sqrt{\textstyle\sum_c (D_h x)_{c,i,j}^2 + (D_v x)_{c,i,j}^2},
    \qquad
    \mathrm{TV}_{\mathrm{aniso}}(x) = \sum_{c,i,j} |(D_h x)_{c,i,j}| + |(D_v x)_{c,i,j}|

(the isotropic norm couples the channels, as in colour TV). The prior is :math:`R(x) = w\,\mathrm{TV}(x)`
(Rudin, Osher & Fatemi, 1992).

References:
    L. I. Rudin, S. Osher, E. Fatemi, "Nonlinear total variation based noise removal algorithms",
    Physica D 60 (1992) 259–268.

    A. Chambolle, "An algorithm for total variation minimization and applications",
    J. Math. Imaging Vis. 20 (2004) 89–97.

    A. Beck, M. Teboulle, "Fast gradient-based algorithms for constrained total variation image
    denoising and deblurring problems", IEEE Trans. Image Process. 18(11) (2009) 2419–2434.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from reddiff_imaging._validation import check_int, check_positive
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.denoisers import _check_image, _per_item

__all__ = ["TV", "TVProxResult"]

#: FGP iterations between two convergence checks (each check synchronises with the host once).
_CHECK_EVERY = 10

# Why not deepinv.optim.TVPrior / deepinv.models.TVDenoiser (deepinv 0.5.0)?  Its prox runs an
# over-relaxed Chambolle–Pock iteration with a fixed primal step (tau=0.01) that (1) keeps the last
# primal/dual iterates on the module and warm-starts the next call from them (hidden state: the
# result of a call depends on the previous call), (2) stops on one relative change for the whole
# batch (no per-item stopping), computed and synchronised with the host at every iteration, and
# (3) uses a per-channel isotropic norm (channels are not coupled) with no anisotropic variant.
# We therefore implement FGP (Beck & Teboulle 2009) ourselves: stateless, batched, per-item
# tolerance, per-item tau, a check every few iterations.


class TVProxResult(NamedTuple):
    """Result of :meth:`TV.prox_with_info`."""

    x: Tensor
    """The proximal point, same shape/dtype/device as the input."""
    iterations: Tensor
    """FGP iterations used per batch item, ``(B,)`` int64 on the input's device."""
    converged: Tensor
    """Whether each item reached the tolerance before ``max_iter``, ``(B,)`` bool."""
    dual: tuple[Tensor, Tensor] | None = None
    """The final dual variables :math:`(p_h, p_v)` (``|p| \\le 1``), which warm-start the next prox
    of a nearby point (``warm_start``); each shaped like ``x``."""


class TV(Prior):
    r"""Total variation prior :math:`R(x) = w\,\mathrm{TV}(x)` with an exact proximal operator.

    Capabilities:

    * :meth:`value` — :math:`R(x)`, one value per batch item;
    * :meth:`prox` — :math:`\mathrm{prox}_{\tau R}(x) = \arg\min_z \tau R(z) + \tfrac12\|z - x\|^2`,
      computed to a tolerance by FGP, the fast (FISTA-accelerated) gradient projection on the dual
      problem (Beck & Teboulle 2009), itself an accelerated form of Chambolle's (2004) projection.
      With :math:`\lambda = \tau w`, the dual variable :math:`p` (one vector per pixel) solves

      .. math::
          \min_{p \in P} \tfrac12 \|x - \lambda D^\top p\|^2, \qquad
          P = \{p : |p_{i,j}| \le 1\},

      where :math:`|p_{i,j}|` is the Euclidean norm over channels and both directions (isotropic)
      or the absolute value of each entry (anisotropic, then :math:`P` is a box). The iteration is

      .. math::
          p_k = \Pi_P\!\Big(r_k + \tfrac{1}{8\lambda} D(x - \lambda D^\top r_k)\Big), \quad
          t_{k+1} = \tfrac{1 + \sqrt{1 + 4t_k^2}}{2}, \quad
          r_{k+1} = p_k + \tfrac{t_k - 1}{t_{k+1}}(p_k - p_{k-1}),

      (:math:`8 \ge \|D\|^2`), and the primal iterate is :math:`z_k = x - \lambda D^\top p_k`.
      Each batch item stops when :math:`\|z_k - z_{k-1}\| \le \mathrm{tol}\,\|z_k\|`, checked every
      few iterations; converged items leave the batch, so the rest runs on fewer items. The
      distance to the exact prox is then typically 10 to 30 times ``tol`` (relative), and the
      objective within about ``10 * tol`` (relative) of its minimum;
    * :meth:`denoise` — the MAP estimate under :math:`p(x) \propto e^{-R(x)}` for Gaussian noise of
      std :math:`\sigma`: :math:`\arg\min_z \|z - x\|^2/(2\sigma^2) + R(z) = \mathrm{prox}_{\sigma^2 R}(x)`;
    * :meth:`grad` — the gradient of the smoothed TV (:meth:`smoothed_value`),

      .. math::
          R_\varepsilon(x) = w \sum_{i,j} \Big(\sqrt{|(Dx)_{i,j}|^2 + \varepsilon^2} - \varepsilon\Big), \qquad
          \nabla R_\varepsilon(x) = w\, D^\top \frac{Dx}{\sqrt{|Dx|^2 + \varepsilon^2}},

      with the same per-pixel norm as the TV (per entry when anisotropic).

    Tuning: on 16 of the project's held-out images (64×64 grayscale,
    :func:`~reddiff_imaging.data.synthetic.heldout_images`) with Gaussian noise :math:`\sigma = 0.1`,
    :meth:`denoise` reaches its best mean PSNR at ``weight = 8.5`` (isotropic, i.e.
    :math:`\lambda = w\sigma^2 = 0.085`): 29.9 dB against 20.0 dB for the noisy input (within
    0.05 dB for :math:`8 \le w \le 9`); anisotropic TV is best at ``weight = 7`` (29.7 dB). The
    default ``weight=1`` is a neutral scale, not a tuned value: scale it with the noise level of
    your problem. With such weights some items need more than the default 200 iterations to reach
    ``tol=1e-5`` (a ``RuntimeWarning`` says so); the result is then already within about 0.01 dB.

    Args:
        weight: :math:`w > 0`, the regularisation weight.
        isotropic: isotropic (coupled, default) or anisotropic (:math:`\ell_1`) TV.
        max_iter: maximal number of FGP iterations of :meth:`prox`.
        tol: relative change of the primal iterate at which an item stops.
        smoothing: :math:`\varepsilon > 0` of the smoothed TV used by :meth:`grad` (in units of
            pixel differences of ``[0, 1]`` images).
    """

    def __init__(
        self,
        weight: float = 1.0,
        *,
        isotropic: bool = True,
        max_iter: int = 200,
        tol: float = 1e-5,
        smoothing: float = 1e-2,
    ) -> None:
        super().__init__()
        self.weight = check_positive(weight, "weight")
        if not isinstance(isotropic, bool):
            raise TypeError(f"isotropic must be a bool, got {isotropic!r}")
        self.isotropic = isotropic
        self.max_iter = check_int(max_iter, "max_iter")
        self.tol = check_positive(tol, "tol")
        self.smoothing = check_positive(smoothing, "smoothing")

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, isotropic={self.isotropic}, max_iter={self.max_iter}, "
            f"tol={self.tol}, smoothing={self.smoothing}"
        )

    # ------------------------------------------------------------------ finite differences

    @staticmethod
    def _nabla(x: Tensor) -> tuple[Tensor, Tensor]:
        """Forward differences with Neumann boundary: (D_h x, D_v x), each shaped like ``x``."""
        dh = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
        dv = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
        return dh, dv

    @staticmethod
    def _nabla_adjoint(ph: Tensor, pv: Tensor) -> Tensor:
        r""":math:`D^\top p = -\mathrm{div}\,p` (the last column/row of ``ph``/``pv`` is ignored, as D is 0 there)."""
        qh = ph[..., :, :-1]
        qv = pv[..., :-1, :]
        return (F.pad(qh, (1, 0)) - F.pad(qh, (0, 1))) + (F.pad(qv, (0, 0, 1, 0)) - F.pad(qv, (0, 0, 0, 1)))

    def _project(self, ph: Tensor, pv: Tensor) -> tuple[Tensor, Tensor]:
        """Projection onto the dual unit ball P."""
        if self.isotropic:
            norm = (ph.square() + pv.square()).sum(dim=1, keepdim=True).sqrt()
            scale = norm.clamp_min(1.0)
            return ph / scale, pv / scale
        return ph.clamp(-1.0, 1.0), pv.clamp(-1.0, 1.0)

    # ------------------------------------------------------------------ values

    def value(self, x: Tensor) -> Tensor:
        r""":math:`R(x) = w\,\mathrm{TV}(x)`, shape ``(B,)``."""
        _check_image(x)
        dh, dv = self._nabla(x)
        if self.isotropic:
            tv = (dh.square() + dv.square()).sum(dim=1).sqrt().flatten(1).sum(dim=1)
        else:
            tv = (dh.abs() + dv.abs()).flatten(1).sum(dim=1)
        return self.weight * tv

    def smoothed_value(self, x: Tensor) -> Tensor:
        r"""Smoothed TV :math:`R_\varepsilon(x) = w\sum(\sqrt{|Dx|^2 + \varepsilon^2} - \varepsilon)`, shape ``(B,)``.

        :math:`0 \le R(x) - R_\varepsilon(x) \le w\,\varepsilon \cdot` (number of terms); :meth:`grad`
        is its exact gradient.
        """
        _check_image(x)
        eps = self.smoothing
        dh, dv = self._nabla(x)
        if self.isotropic:
            sq = (dh.square() + dv.square()).sum(dim=1)
            terms = (sq + eps**2).sqrt() - eps
        else:
            terms = ((dh.square() + eps**2).sqrt() - eps) + ((dv.square() + eps**2).sqrt() - eps)
        return self.weight * terms.flatten(1).sum(dim=1)

    def grad(self, x: Tensor) -> Tensor:
        r"""Gradient of :meth:`smoothed_value`: :math:`w\,D^\top\big(Dx/\sqrt{|Dx|^2 + \varepsilon^2}\big)`."""
        _check_image(x)
        eps2 = self.smoothing**2
        dh, dv = self._nabla(x)
        if self.isotropic:
            inv = (dh.square() + dv.square()).sum(dim=1, keepdim=True).add(eps2).rsqrt()
            gh, gv = dh * inv, dv * inv
        else:
            gh, gv = dh * (dh.square() + eps2).rsqrt(), dv * (dv.square() + eps2).rsqrt()
        return self.weight * self._nabla_adjoint(gh, gv)

    # ------------------------------------------------------------------ prox / denoise

    def prox(self, x: Tensor, tau: float | Tensor) -> Tensor:
        r""":math:`\mathrm{prox}_{\tau R}(x) = \arg\min_z \tau w\,\mathrm{TV}(z) + \tfrac12\|z - x\|^2`.

        Args:
            x: images ``(B, C, H, W)``.
            tau: step :math:`\tau \ge 0`, a number or a tensor ``(B,)`` (one per item); ``tau = 0``
                returns ``x``.

        Returns:
            The proximal point, same shape, dtype and device as ``x``. Warns (``RuntimeWarning``)
            when some item did not reach ``tol`` within ``max_iter`` iterations; use
            :meth:`prox_with_info` to inspect convergence.
        """
        _check_image(x)
        result = self._fgp(x, _per_item(tau, "tau", x, allow_zero=True))
        self._warn_unconverged(result)
        return result.x

    def prox_with_info(
        self,
        x: Tensor,
        tau: float | Tensor,
        *,
        tol: float | None = None,
        warm_start: tuple[Tensor, Tensor] | None = None,
    ) -> TVProxResult:
        """:meth:`prox` together with the iterations used, the convergence flag per item and the final
        dual variables (no warning).

        Args:
            x, tau: as :meth:`prox`.
            tol: the relative tolerance of this call (default the prior's ``tol``).
            warm_start: dual variables ``(p_h, p_v)`` to start from, e.g. ``dual`` of the previous
                call in an outer loop (ADMM) whose input changes little from call to call: any
                dual point is a valid start (it is projected onto ``|p| <= 1``), a nearby one saves
                most of the iterations. Default: zeros.
        """
        _check_image(x)
        if warm_start is not None and any(p.shape != x.shape for p in warm_start):
            raise ValueError(f"warm_start must hold two tensors of the shape of x {tuple(x.shape)}")
        tol = self.tol if tol is None else check_positive(tol, "tol")
        return self._fgp(x, _per_item(tau, "tau", x, allow_zero=True), tol=tol, warm_start=warm_start)

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        r"""MAP denoiser for Gaussian noise of std ``sigma`` (number or ``(B,)``): :math:`\mathrm{prox}_{\sigma^2 R}(x)`."""
        _check_image(x)
        result = self._fgp(x, _per_item(sigma, "sigma", x).square())
        self._warn_unconverged(result)
        return result.x

    def _warn_unconverged(self, result: TVProxResult) -> None:
        if not bool(result.converged.all()):
            missed = int((~result.converged).sum())
            warnings.warn(
                f"TV.prox: {missed} of {result.converged.numel()} items did not reach tol={self.tol:g} "
                f"within max_iter={self.max_iter} FGP iterations; raise max_iter or tol",
                RuntimeWarning,
                stacklevel=3,
            )

    def _fgp(
        self, x: Tensor, tau: Tensor, *, tol: float | None = None, warm_start: tuple[Tensor, Tensor] | None = None
    ) -> TVProxResult:
        """FGP on validated ``x`` and per-item ``tau`` ``(B,)`` (dual variables returned when warm-started)."""
        tol = self.tol if tol is None else tol
        lam = tau * self.weight  # (B,)
        batch = x.shape[0]
        out = torch.empty_like(x)
        keep_dual = warm_start is not None
        dual_h = torch.empty_like(x) if keep_dual else x
        dual_v = torch.empty_like(x) if keep_dual else x
        iterations = torch.full((batch,), self.max_iter, dtype=torch.int64, device=x.device)
        converged = torch.zeros(batch, dtype=torch.bool, device=x.device)

        b = x
        lam4 = lam.view(-1, 1, 1, 1)
        step = 1.0 / (8.0 * torch.where(lam4 > 0, lam4, torch.ones_like(lam4)))
        idx = torch.arange(batch, device=x.device)
        if warm_start is None:
            p_h, p_v = torch.zeros_like(x), torch.zeros_like(x)
        else:
            p_h, p_v = self._project(*(p.to(x.dtype) for p in warm_start))
        p_h_prev, p_v_prev = p_h, p_v
        r_h, r_v = p_h, p_v
        t = 1.0
        tiny = torch.finfo(x.dtype).tiny

        for k in range(1, self.max_iter + 1):
            z = b - lam4 * self._nabla_adjoint(r_h, r_v)
            gh, gv = self._nabla(z)
            p_h, p_v = self._project(r_h + step * gh, r_v + step * gv)
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_next
            r_h = p_h + beta * (p_h - p_h_prev)
            r_v = p_v + beta * (p_v - p_v_prev)
            t = t_next
            last = k == self.max_iter
            if k % _CHECK_EVERY == 0 or last:
                z_k = b - lam4 * self._nabla_adjoint(p_h, p_v)
                change = (lam4 * self._nabla_adjoint(p_h - p_h_prev, p_v - p_v_prev)).flatten(1).norm(dim=1)
                size = z_k.flatten(1).norm(dim=1).clamp_min(tiny)
                done = change <= tol * size
                if last:
                    out[idx] = z_k
                    iterations[idx[done]] = k
                    converged[idx] = done
                    if keep_dual:
                        dual_h[idx], dual_v[idx] = p_h, p_v
                    break
                n_done = int(done.sum())  # the one host synchronisation per check
                if n_done:
                    finished = idx[done]
                    out[finished] = z_k[done]
                    if keep_dual:
                        dual_h[finished], dual_v[finished] = p_h[done], p_v[done]
                    iterations[finished] = k
                    converged[finished] = True
                    if n_done == idx.numel():
                        break
                    keep = ~done
                    idx, b, lam4, step = idx[keep], b[keep], lam4[keep], step[keep]
                    p_h, p_v, r_h, r_v = p_h[keep], p_v[keep], r_h[keep], r_v[keep]
            p_h_prev, p_v_prev = p_h, p_v

        return TVProxResult(out, iterations, converged, (dual_h, dual_v) if keep_dual else None)
