"""Thin adapters so that deepinv 0.5.0 runs exactly our networks, operators and denoisers.

* :class:`EpsNetDenoiser` — our ε-prediction diffusion network (``DiffusionPrior``) as a
  ``deepinv.models.Denoiser``: deepinv's DPS, DDRM and DiffPIR call their denoiser as
  ``D(x, sigma)`` on images in ``[0, 1]`` corrupted by white Gaussian noise of std ``sigma`` in
  ``[0, 1]`` units ("variance exploding" form: ``x = x0 + sigma * n``). A VP network at timestep
  :math:`t` sees :math:`x_t = \\sqrt{\\bar\\alpha_t}\\,x'_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon` in
  ``[-1, 1]``, i.e. :math:`x_t/\\sqrt{\\bar\\alpha_t} = x'_0 + \\sigma_t \\varepsilon` with
  :math:`\\sigma_t = \\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}`. So the adapter maps
  ``x' = 2x - 1``, ``sigma' = 2 sigma``, picks the timestep whose :math:`\\sigma_t` is nearest to
  ``sigma'`` (exact when deepinv is given our timesteps, see the ``*_for_timesteps`` helpers),
  runs the network on :math:`\\sqrt{\\bar\\alpha_t}\\,x'` and returns Tweedie's
  :math:`\\hat x_0` mapped back to ``[0, 1]``. It is differentiable in ``x`` (DPS).
* :class:`DenoiserAsDeepinv` — one of our classical denoisers (e.g. ``GaussianFilterDenoiser``) as
  a deepinv denoiser for ``deepinv.optim.PnP``; it calls the denoiser's raw kernel
  (``_run``), without our input validation, so deepinv is charged only for the filtering itself.
* helpers that turn our discrete timesteps into deepinv's conventions (continuous VP time for
  DPS, public noise levels for DDRM), and :func:`ddrm_without_half_variance`, which removes the
  1/√2 deepinv's DDRM puts on its noise.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import deepinv as dinv
import numpy as np
import torch
from torch import Tensor

from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.denoisers import DenoiserPrior


class EpsNetDenoiser(dinv.models.Denoiser):
    """Our diffusion prior's network as a deepinv ``Denoiser`` on ``[0, 1]`` images (see module docs)."""

    def __init__(self, prior: DiffusionModel) -> None:
        super().__init__()
        # the very same module (shared weights); a prior without one (the Gaussian mixture) through its exact eps
        self.network = getattr(prior, "network", None) or (lambda x_t, t: prior.eps(x_t, t, differentiable=True))
        alphas = prior.alphas_cumprod.detach().to(torch.float64).cpu()
        self.register_buffer("alphas_cumprod", alphas, persistent=False)
        self.log_sigmas = (((1 - alphas) / alphas).sqrt()).log()  # model range, increasing in t
        self.scale = float(prior.range_scale)
        self.shift = float(prior.range_shift)
        self.calls = 0

    def timesteps_for_sigma(self, sigma: float | Tensor, batch: int) -> Tensor:
        """Nearest discrete timesteps (B,) for public noise levels ``sigma``."""
        s = torch.as_tensor(sigma, dtype=torch.float64).detach().cpu().reshape(-1) * self.scale
        s = s.clamp_min(1e-12)
        t = (self.log_sigmas[None, :] - s.log()[:, None]).abs().argmin(dim=1)
        return t.expand(batch) if t.numel() == 1 else t

    def forward(self, x: Tensor, sigma: float | Tensor, *args: object, **kwargs: object) -> Tensor:
        self.calls += 1
        t = self.timesteps_for_sigma(sigma, x.shape[0])
        a = self.alphas_cumprod[t].to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 1)))
        x_t = a.sqrt() * (self.scale * x + self.shift)
        eps = self.network(x_t, t.to(x.device))
        x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        return (x0 - self.shift) / self.scale


class DenoiserAsDeepinv(dinv.models.Denoiser):
    """One of our :class:`DenoiserPrior` kernels as a deepinv denoiser ``D(x, sigma)``."""

    def __init__(self, prior: DenoiserPrior) -> None:
        super().__init__()
        self.prior = prior

    def forward(self, x: Tensor, sigma: float | Tensor, *args: object, **kwargs: object) -> Tensor:
        if isinstance(sigma, Tensor):
            sigma = sigma.reshape(-1).to(device=x.device, dtype=x.dtype).expand(x.shape[0])
        return self.prior._run(x, sigma)


# ---------------------------------------------------------------------------- timestep conversions


def vp_time_for_alpha_bar(alpha_bar: float, beta_min: float = 0.1, beta_max: float = 20.0) -> float:
    r"""Continuous time :math:`t \in [0, 1]` of deepinv's ``VariancePreservingDiffusion`` whose
    scale :math:`s(t)^2 = e^{-B(t)}`, :math:`B(t) = \beta_{min} t + (\beta_{max}-\beta_{min}) t^2/2`,
    equals ``alpha_bar`` exactly (so :math:`\sigma(t)` is the discrete :math:`\sqrt{(1-\bar\alpha)/\bar\alpha}`)."""
    a = 0.5 * (beta_max - beta_min)
    c = math.log(alpha_bar)  # = -B(t)
    return (-beta_min + math.sqrt(beta_min**2 - 4 * a * c)) / (2 * a)


def dps_timesteps(timesteps: Sequence[int], alphas_cumprod: Sequence[float]) -> Tensor:
    """deepinv DPS solver times for our descending discrete ``timesteps``, ending at ``0`` (the
    last step then returns the denoised estimate, as our last step to :math:`\\bar\\alpha = 1`):
    ``len(timesteps) + 1`` times, ``len(timesteps)`` network evaluations."""
    times = [vp_time_for_alpha_bar(float(alphas_cumprod[t])) for t in timesteps] + [0.0]
    return torch.tensor(times, dtype=torch.float64)


def public_sigmas(timesteps: Sequence[int], alphas_cumprod: Sequence[float], scale: float = 2.0) -> list[float]:
    """Public-range noise levels :math:`\\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}/a` of our timesteps (DDRM's ``sigmas``)."""
    return [math.sqrt((1 - float(alphas_cumprod[t])) / float(alphas_cumprod[t])) / scale for t in timesteps]


# ---------------------------------------------------------------------------- DDRM noise


class _NumpyWithoutHalfVariance:
    """numpy, except ``sqrt(2.0) == 1``: removes deepinv DDRM's 1/√2 on its noise (diagnostics and tests)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def sqrt(value: Any) -> Any:
        return 1.0 if isinstance(value, float) and value == 2.0 else np.sqrt(value)


@contextlib.contextmanager
def ddrm_without_half_variance() -> Iterator[None]:
    """Within the block, deepinv's DDRM draws its noise with the paper's variance (no 1/√2)."""
    module = sys.modules["deepinv.sampling.diffusion"]
    original = module.np
    module.np = _NumpyWithoutHalfVariance()
    try:
        yield
    finally:
        module.np = original
