r"""Our priors as deepinv parts, so that deepinv's own solvers (PnP, DiffPIR, DPS, DDRM, ...) run on them.

* :class:`DiffusionDenoiser` — a diffusion prior (:class:`~reddiff_imaging.priors.DiffusionModel`)
  as a ``deepinv.models.Denoiser`` ``D(x, sigma)``, with its score :meth:`DiffusionDenoiser.score`
  (the form ``deepinv.optim.ScorePrior`` computes from a denoiser).
* :class:`PriorDenoiser` — any prior with ``denoise`` (TV, classical denoisers, ...) as a
  ``deepinv.models.Denoiser`` (for ``deepinv.optim.PnP`` and friends).
* :class:`DeepinvTV` — total variation (:class:`~reddiff_imaging.priors.TV`) as a
  ``deepinv.optim.Prior``: ``fn`` is the TV value and ``prox`` our exact TV proximal operator.

deepinv's denoisers see images in ``[0, 1]`` with white Gaussian noise of std ``sigma`` in the
same units (:math:`x = x_0 + \sigma n`). A variance-preserving network at timestep :math:`t` sees
:math:`x_t = \sqrt{\bar\alpha_t}\,x'_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon` in its own range
(:math:`x' = a x + b`, usually :math:`a = 2, b = -1`), i.e.
:math:`x_t/\sqrt{\bar\alpha_t} = x'_0 + \sigma_t\varepsilon` with
:math:`\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`. :class:`DiffusionDenoiser` therefore picks
the timestep whose :math:`\sigma_t` is nearest to :math:`a\sigma` (exact when ``sigma`` is one of the
schedule's levels), runs the network on :math:`\sqrt{\bar\alpha_t}\,x'` and returns Tweedie's
estimate :math:`\hat x_0` back in ``[0, 1]``:

.. math::

    D(x, \sigma) = x - \sigma\,\hat\varepsilon, \qquad
    \nabla_x \log p_\sigma(x) = \frac{D(x, \sigma) - x}{\sigma^2} = -\frac{\hat\varepsilon}{\sigma}.

The network is differentiated only when autograd needs it (deepinv's DPS differentiates the
denoiser; PnP and DiffPIR do not). Importing this module imports deepinv.
"""

from __future__ import annotations

from typing import Any

import deepinv
import torch
from torch import Tensor

from reddiff_imaging._validation import check_batch_shape, check_real, check_tensor
from reddiff_imaging.priors.base import DiffusionModel, Prior
from reddiff_imaging.priors.tv import TV

__all__ = ["DeepinvTV", "DiffusionDenoiser", "PriorDenoiser"]


def _levels(sigma: float | Tensor, x: Tensor, name: str = "sigma") -> Tensor:
    """deepinv's ``sigma`` (a number, ``(B,)`` or ``(B, 1, 1, 1)``) as ``(B,)`` on ``x``'s device,
    checked as given (``name``: a finite number >= 0, or a real tensor of such), as is ``x`` (a
    floating-point ``(B, C, H, W)`` tensor: an integer image would turn ``sigma`` into integers)."""
    check_tensor(x, "x", allow_complex=False, finite=False)
    check_batch_shape(x, "x")
    if not isinstance(sigma, Tensor):
        check_real(sigma, name, low=0.0)
    elif sigma.is_complex() or not (sigma.is_floating_point() or sigma.dtype in _INTEGER_DTYPES):
        raise TypeError(f"{name} must be a real number or a real tensor, got a tensor of dtype {sigma.dtype}")
    elif not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
        raise ValueError(f"{name} must be finite and >= 0, got {sigma!r}")
    level = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
    if level.numel() not in (1, x.shape[0]):
        raise ValueError(f"{name} must be a number or hold one value per image ({x.shape[0]}), got {level.numel()} values")
    return level.expand(x.shape[0])


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


class DiffusionDenoiser(deepinv.models.Denoiser):
    """A diffusion prior as a deepinv denoiser on ``[0, 1]`` images (see the module docs).

    Args:
        prior: the diffusion prior (its network is shared, not copied).
    """

    def __init__(self, prior: DiffusionModel) -> None:
        if not isinstance(prior, DiffusionModel):
            raise TypeError(f"prior must be a DiffusionModel (e.g. DiffusionPrior), got {type(prior).__name__}")
        super().__init__()
        self.prior = prior

    def _eps_at(self, x: Tensor, sigma: float | Tensor) -> tuple[Tensor, Tensor]:
        """(ε̂, the timesteps) of the network at the noise level nearest to ``sigma``."""
        prior = self.prior
        t = prior.timestep_for_sigma(_levels(sigma, x)).to(x.device).expand(x.shape[0])
        x_t = prior.alpha_bar(t, x).sqrt() * prior.to_model(x)
        return prior.eps(x_t, t, differentiable=torch.is_grad_enabled() and x.requires_grad), t

    def forward(self, x: Tensor, sigma: float | Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r"""Tweedie's :math:`\hat x_0 = x - \sigma_t\hat\varepsilon/a` in ``[0, 1]`` (``sigma_t``: the
        chosen timestep's level; extra arguments of deepinv's calls are ignored)."""
        eps, t = self._eps_at(x, sigma)
        alpha_bar = self.prior.alpha_bar(t, x)
        sigma_t = ((1 - alpha_bar) / alpha_bar).sqrt() / self.prior.range_scale
        return x - sigma_t * eps

    def score(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        r"""Score of the noisy image density :math:`\nabla_x\log p_\sigma(x) = -\hat\varepsilon/\sigma_t`
        in ``[0, 1]`` units (``sigma_t``: the chosen timestep's level, equal to ``sigma`` on the schedule)."""
        eps, t = self._eps_at(x, sigma)
        alpha_bar = self.prior.alpha_bar(t, x)
        return -eps / (((1 - alpha_bar) / alpha_bar).sqrt() / self.prior.range_scale)


class PriorDenoiser(deepinv.models.Denoiser):
    """Any of our priors with ``denoise(x, sigma)`` as a deepinv denoiser.

    Args:
        prior: the prior (TV, a classical denoiser, a diffusion prior, ...).
    """

    def __init__(self, prior: Prior) -> None:
        if not isinstance(prior, Prior) or "denoise" not in prior.capabilities():
            raise TypeError(f"prior must be a Prior with denoise, got {type(prior).__name__}")
        super().__init__()
        self.prior = prior

    def forward(self, x: Tensor, sigma: float | Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """``prior.denoise(x, sigma)`` (extra arguments of deepinv's calls are ignored)."""
        return self.prior.denoise(x, _levels(sigma, x))


class DeepinvTV(deepinv.optim.Prior):
    r"""Total variation as a deepinv prior: :math:`g(x) = w\,\mathrm{TV}(x)` with our exact prox.

    ``prox(x, gamma=γ)`` is :math:`\mathrm{prox}_{\gamma g}(x)` (deepinv's convention), computed by
    :meth:`TV.prox <reddiff_imaging.priors.TV.prox>` with ``tau = γ``.

    Args:
        tv: the TV prior (its weight :math:`w`, isotropy and inner iterations are used).
    """

    def __init__(self, tv: TV) -> None:
        if not isinstance(tv, TV):
            raise TypeError(f"tv must be a reddiff_imaging TV prior, got {type(tv).__name__}")
        super().__init__()
        self.tv = tv
        self.explicit_prior = True

    def fn(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        r""":math:`w\,\mathrm{TV}(x)` per image, shape ``(B,)``."""
        return self.tv.value(x)

    def prox(self, x: Tensor, *args: Any, gamma: float | Tensor = 1.0, **kwargs: Any) -> Tensor:
        r""":math:`\mathrm{prox}_{\gamma g}(x)`."""
        _levels(gamma, x, "gamma")  # checked under deepinv's name (TV.prox calls it tau)
        return self.tv.prox(x, gamma)
