r"""Any denoiser as a diffusion model, so that diffusion solvers (RED-diff first) can run with TV,
BM3D or any classical denoiser.

At timestep :math:`t` the noisy iterate :math:`x_t = \sqrt{\bar\alpha_t}x' + \sqrt{1-\bar\alpha_t}\varepsilon`
(model range) is a scaled copy of :math:`x' + \sigma_t\varepsilon` with
:math:`\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`. The denoiser cleans
:math:`x_t/\sqrt{\bar\alpha_t}` at that noise level (in public units :math:`\sigma_t / a`), and the
noise prediction follows from Tweedie's relation:

.. math::
    \hat\varepsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}{\sqrt{1-\bar\alpha_t}}.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from reddiff_imaging.priors.base import DiffusionModel, Prior
from reddiff_imaging.priors.schedules import VPSchedule
from reddiff_imaging.priors.sampling import eps_from_x0


class DenoiserDiffusion(DiffusionModel):
    """A prior that offers ``denoise(x, sigma)``, seen as a diffusion model on a VP schedule.

    Args:
        prior: the denoising prior (TV, a classical or deepinv denoiser, ...).
        schedule: the VP schedule (default: linear β from 1e-4 to 0.02, T = 1000).
    """

    def __init__(self, prior: Prior, schedule: VPSchedule | None = None) -> None:
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a reddiff_imaging Prior, got {type(prior).__name__}")
        super().__init__(VPSchedule.linear() if schedule is None else schedule)
        prior.require("denoise", "DenoiserDiffusion")
        self.prior = prior
        self.channels = prior.channels

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """The wrapped prior's check."""
        return self.prior.check_image_shape(shape, user)

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        alpha_bar = self.alpha_bar(t, x_t)
        sigma_public = ((1 - alpha_bar) / alpha_bar).sqrt().reshape(-1) / self.range_scale
        shared = bool((t == t[0]).all())
        sigma: float | Tensor = float(sigma_public[0]) if shared else sigma_public
        denoised = self.to_model(self.prior.denoise(self.from_model(x_t / alpha_bar.sqrt()), sigma))
        return eps_from_x0(x_t, denoised, alpha_bar)


def as_diffusion(prior: Prior) -> DiffusionModel:
    """``prior`` itself when it is a diffusion model, else a :class:`DenoiserDiffusion` of it."""
    return prior if isinstance(prior, DiffusionModel) else DenoiserDiffusion(prior)
