r"""DPS: Diffusion Posterior Sampling (Chung, Kim, Mccann, Klasky and Ye, ICLR 2023; official code:
DPS2022/diffusion-posterior-sampling).

Ancestral sampling whose every step is corrected by the gradient, through the network, of the
residual norm at Tweedie's estimate:

.. math::
    \hat x_0 = \mathrm{clip}\big((x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}\big), \qquad
    \tilde\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0)/\sqrt{1-\bar\alpha_t},

    x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma_t^2}\,\tilde\varepsilon + \sigma_t z
          - \zeta\,\nabla_{x_t} \big\|y' - A(\hat x_0(x_t))\big\|,

with the residual norm (not squared) of each image as in the official code. As there, :math:`\hat x_0`
is clipped to the image range *before* both the gradient and the update, and the noise
:math:`\tilde\varepsilon` of the update is recomputed from the clipped :math:`\hat x_0` (the official
DDPM step is the posterior mean :math:`q(x_s \mid x_t, \hat x_0)`, which is this update with
:math:`\eta = 1`). The step variance :math:`\sigma_t^2` is the network's learned one where it has one
(the ADM checkpoints of the paper:
:math:`\log\sigma_t^2 = \tfrac{1+v}{2}\log\beta_t + \tfrac{1-v}{2}\log\tilde\beta_t` with the
network's :math:`v`, :math:`\beta_t = 1 - \bar\alpha_t/\bar\alpha_s`,
:math:`\tilde\beta_t = \beta_t(1-\bar\alpha_s)/(1-\bar\alpha_t)`), otherwise the DDIM one,
:math:`\sigma_t^2 = \eta^2\tilde\beta_t` (``eta=1``: the DDPM "fixed small" variance). The last step
adds no noise.

The gradient needs a network backward pass per step; the network runs once per step.

Differences from the official code: the norm is taken per image (the official code takes one norm of
the whole batch's residual, which couples the images of a batch; for a batch of one they agree), and
``steps < 1000`` uses :func:`~reddiff_imaging.priors.sampling.timestep_sequence` (the
official code runs all 1000 steps; its respacing would place the timesteps at
``round(i (T-1)/(S-1))``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_choice, check_int, check_positive, check_unit_interval
from reddiff_imaging.priors.base import DiffusionModel, Prior
from reddiff_imaging.priors.sampling import ddim_step, eps_from_x0, previous_alpha_bars, timestep_sequence, x0_from_eps
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, randn
from reddiff_imaging.solvers.capabilities import require_diffusion
from reddiff_imaging.solvers.data_term import data_term_reason
from reddiff_imaging.solvers.diffusion_common import amplification, ModelRangeData, StepsOnTimesteps

VARIANCES = ("auto", "learned", "fixed")
LEARNED_VARIANCE_NEEDED = "variance='learned' needs a prior whose network returns learned variances (2C channels)"


@dataclass
class DPS(StepsOnTimesteps):
    r"""Diffusion posterior sampling.

    Args:
        steps: number of timesteps (1000 in the paper and the official code).
        zeta: step size :math:`\zeta` of the measurement gradient (official configurations: 1.0 for
            phase retrieval, 0.5 for random inpainting, 0.3 for super-resolution and Gaussian,
            motion and nonlinear deblurring; see :mod:`reddiff_imaging.solvers.presets`;
            1.0 by default).
        normalize: use :math:`\zeta / \max(\|A\|, 1)` for a linear operator
            (:func:`~reddiff_imaging.solvers.diffusion_common.amplification`; the gradient of the
            residual norm grows with :math:`\|A\|`): no change for the paper's tasks
            (:math:`\|A\| \le 1`); on CT (:math:`\|A\| \approx 44`) ``zeta=3`` diverged without it
            (4–10 dB) and reached 28–30 dB with it.
        eta: DDIM :math:`\eta` of the underlying sampler with the fixed variance (1: the DDPM
            ancestral step, as in the paper).
        variance: ``auto`` (the network's learned variance when the prior has one, as the
            official code with the ADM checkpoints; else the fixed one), ``learned`` (required),
            ``fixed`` (:math:`\eta^2\tilde\beta_t`).
        clip_x0: clip :math:`\hat x_0` to the image range, before the gradient and the update, and
            recompute :math:`\tilde\varepsilon` from it (official).
        clip: clip the result to the image range ``[0, 1]``.
    """

    name: ClassVar[str] = "dps"
    tuning_grid = {"zeta": (0.3, 1.0, 3.0)}
    requires: ClassVar[tuple[str, ...]] = ("eps",)

    steps: int = 1000
    zeta: float = 1.0
    eta: float = 1.0
    normalize: bool = True
    clip_x0: bool = True
    clip: bool = True
    variance: str = "auto"

    def __post_init__(self) -> None:
        check_int(self.steps, "steps")
        check_positive(self.zeta, "zeta", allow_zero=True)
        check_unit_interval(self.eta, "eta")
        check_bool(self.normalize, "normalize")
        check_choice(self.variance, "variance", VARIANCES)

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        return [data_term_reason(problem)]

    def _check_prior(self, prior: Prior) -> None:
        super()._check_prior(prior)
        if self.variance == "learned" and isinstance(prior, DiffusionModel) and prior.learned_variance is False:
            raise ValueError(LEARNED_VARIANCE_NEEDED)

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        prior = require_diffusion(prior, self.name)
        data = ModelRangeData(problem, prior)
        shape = (problem.batch_size, *problem.operator.in_shape)
        timesteps = timestep_sequence(prior.num_timesteps, self.steps)
        monitor.start(len(timesteps), prior.from_model)
        x = randn(shape, generators, problem.y.real)
        lo, hi = prior.to_model(0.0), prior.to_model(1.0)
        zeta = self.zeta / amplification(problem) if self.normalize else self.zeta
        for step, (t, alpha_t, alpha_s) in enumerate(previous_alpha_bars(timesteps, prior.alphas_cumprod.tolist())):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                eps, v = prior.eps_and_variance(x, t, differentiable=True)
                x0 = x0_from_eps(x, eps, alpha_t)
                if self.clip_x0:
                    x0 = x0.clamp(lo, hi)
                norms = data.distance(x0)
                (gradient,) = torch.autograd.grad(norms.sum(), x)
            x0, eps = x0.detach(), eps.detach()
            if self.clip_x0:
                eps = eps_from_x0(x.detach(), x0, alpha_t)
            noise = randn(shape, generators, x)
            if v is None and self.variance == "learned":
                raise ValueError(LEARNED_VARIANCE_NEEDED)
            if v is not None and self.variance != "fixed" and alpha_s < 1.0:
                x = ddim_step(x0, eps, alpha_t, alpha_s, 1.0, torch.zeros_like(noise))
                x = x + (0.5 * _learned_log_variance(v.detach(), alpha_t, alpha_s)).exp() * noise - zeta * gradient
            else:
                x = ddim_step(x0, eps, alpha_t, alpha_s, self.eta, noise) - zeta * gradient
            monitor.step(step, x0, residual=norms.detach().mean())
        x = x.detach()
        return x.clamp(lo, hi) if self.clip else x


def _learned_log_variance(v: Tensor, alpha_t: float, alpha_s: float) -> Tensor:
    r""":math:`\tfrac{1+v}{2}\log\beta_t + \tfrac{1-v}{2}\log\tilde\beta_t` between the timesteps
    :math:`t` and :math:`s` (Nichol & Dhariwal's "learned range", as guided-diffusion)."""
    beta = 1 - alpha_t / alpha_s
    beta_tilde = beta * (1 - alpha_s) / (1 - alpha_t)
    fraction = (v + 1) / 2
    return fraction * math.log(beta) + (1 - fraction) * math.log(beta_tilde)
