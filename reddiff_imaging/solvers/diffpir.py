r"""DiffPIR: Denoising Diffusion Models for Plug-and-Play Image Restoration (Zhu, Zhang, Liang, Cao,
Wen, Timofte and Van Gool, CVPRW 2023; official code: yuanzhi-zhu/DiffPIR).

At each timestep the diffusion denoiser gives :math:`\hat x_0` (clipped to the image range), a data
step pulls it towards the measurement, and the sampler re-noises with a mix of the implied and
fresh noise:

.. math::
    \tilde x_0 = \arg\min_z \|y' - A z\|^2 + \rho_t \|z - \hat x_0\|^2
               = (A^H A + \rho_t I)^{-1}(A^H y' + \rho_t \hat x_0),
    \qquad \rho_t = \lambda\,\sigma^2 / \bar\sigma_t^2,\ \bar\sigma_t^2 = (1-\bar\alpha_t)/\bar\alpha_t,

    x_s = \sqrt{\bar\alpha_s}\,\tilde x_0 + \sqrt{1-\bar\alpha_s}\,\big(\sqrt{1-\zeta}\,\hat\varepsilon(\tilde x_0) + \sqrt{\zeta}\,z\big),
    \qquad \hat\varepsilon(\tilde x_0) = (x_t - \sqrt{\bar\alpha_t}\,\tilde x_0)/\sqrt{1-\bar\alpha_t}.

As in the official code and in deepinv, :math:`\sigma` is the noise level in the public units
``[0, 1]`` while :math:`\bar\sigma_t` is in the network's units (``[-1, 1]``); the minimiser
:math:`\tilde x_0` does not depend on the range the step is written in. The data step is closed form
through :meth:`~reddiff_imaging.operators.LinearOperator.solve_normal` (mask, FFT-diagonal and SVD
operators; conjugate gradients otherwise); for a nonlinear operator it is the official code's
gradient step :math:`\tilde x_0 = \hat x_0 - \rho_t^{-1}\nabla_{\hat x_0} \tfrac12\|y - A(\hat x_0)\|^2`
(residual in public units). Poisson noise takes the gradient step for every operator, with the
Poisson data term :math:`f` (:mod:`~reddiff_imaging.solvers.data_term`) in place of
:math:`\tfrac12\|y - A\hat x_0\|^2` and its equivalent noise level :math:`\sqrt{g\bar y}` per image as
:math:`\sigma` (an extension of ours: the paper and the official code treat Gaussian noise).

**Timesteps** (the official ``skip_type``): ``quad`` (default) visits
:math:`t_i = T - 1 - \lfloor\sqrt{i\,T^2/(S-1)}\rfloor`, :math:`i = 0, \dots, S-1` (the last one
moved from :math:`-1` to 0), dense near :math:`t = 0` (100 steps: 999, 899, 857, …, 5, 0);
``uniform`` visits :math:`T-1-i\lfloor T/S\rfloor`, :math:`i < S`, then 0 (101 timesteps for
:math:`S = 100`). The chain stops at the last timestep (:math:`t = 0`,
:math:`\sqrt{1-\bar\alpha_0} = 0.01`) without a data step and returns :math:`x_0`, as the official
code and deepinv do; the network evaluation the official code spends at that timestep has no effect
on its result and is skipped here (``S - 1`` network evaluations for ``quad``; the history's last
record is that of the result).

**Repetitions** (the official ``iter_num_U``, ``repeats`` here): each step from :math:`t` to
:math:`s` is run :math:`U` times; between two runs the new :math:`x_s` is noised forward to
:math:`t` again,

.. math::
    x_t = \sqrt{\bar\alpha_t/\bar\alpha_s}\;x_s + \sqrt{1 - \bar\alpha_t/\bar\alpha_s}\;z,

the resampling of RePaint (Lugmayr et al., CVPR 2022) that lets the sampler harmonise what the
data step imposes with what the prior fills in (``(S - 1) U`` network evaluations).

Differences from the official code (``main_ddpir_*.py``): the chain starts from
:math:`x_T \sim \mathcal N(0, I)` (the official deblurring and super-resolution scripts start from
:math:`\sqrt{\bar\alpha_T}` times the measurement or its bicubic upsampling plus noise; with
:math:`\sqrt{\bar\alpha_{999}} = 0.0064` the measurement's share is below 1 %); the ``eta`` of the
re-noising is not offered (official default 0, as here).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_choice, check_int, check_positive
from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.sampling import eps_from_x0
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, randn
from reddiff_imaging.solvers.capabilities import require_diffusion
from reddiff_imaging.solvers.data_term import data_term_reason
from reddiff_imaging.solvers.diffusion_common import ModelRangeData, StepsOnTimesteps

SCHEDULES = ("quad", "uniform")


def diffpir_timesteps(num_timesteps: int, steps: int, schedule: str) -> list[int]:
    """The descending timesteps of DiffPIR's official ``skip_type`` ``quad`` or ``uniform`` (see the
    module docstring); a ``ValueError`` when ``steps`` cannot make a grid."""
    check_choice(schedule, "schedule", SCHEDULES)
    if not 2 <= steps <= num_timesteps:
        raise ValueError(f"steps must be in [2, {num_timesteps}] for DiffPIR, got {steps!r}")
    if schedule == "quad":
        # the official grid in float64 numpy, so that the rounding down matches it exactly
        seq = [int(s) for s in np.sqrt(np.linspace(0, num_timesteps**2, steps))]
        seq[-1] -= 1
    else:
        skip = num_timesteps // steps
        seq = [i * skip for i in range(steps)] + ([num_timesteps - 1] if skip > 1 else [])
    return [num_timesteps - 1 - s for s in seq]


@dataclass
class DiffPIR(StepsOnTimesteps):
    r"""DiffPIR.

    Args:
        steps: number of timesteps of the grid (100 in the official deblurring and super-resolution
            scripts, 20 for inpainting); ``steps - 1`` network evaluations with ``quad``.
        lam: :math:`\lambda`, the weight of the data step (the official deblurring script runs
            :math:`\lambda = 7`, :math:`\zeta = 0.3`; inpainting :math:`\lambda = 1`, :math:`\zeta = 1`;
            super-resolution sweeps :math:`\lambda \in \{2, \dots, 12\}` with :math:`\zeta = 0.25`;
            see :mod:`reddiff_imaging.solvers.presets`).
        zeta: :math:`\zeta \in [0, 1]`, the share of fresh noise when re-noising (0.3 by default).
        repeats: :math:`U`, the runs of each step (official ``iter_num_U``, default 1; see the
            module docstring).
        sigma_floor: lower bound of :math:`\sigma` (public units) in :math:`\rho_t`, so that
            noise-free problems keep a finite data weight (official: 0.001).
        schedule: timestep grid, ``quad`` (official default) or ``uniform``.
        clip_x0: clip :math:`\hat x_0` to the image range before the data step (official and deepinv).
        clip: clip the result to the image range ``[0, 1]``.
    """

    name: ClassVar[str] = "diffpir"
    tuning_grid = {"lam": (1.0, 7.0, 20.0), "zeta": (0.1, 0.3, 1.0)}
    requires: ClassVar[tuple[str, ...]] = ("eps",)
    min_steps: ClassVar[int] = 2  # the grid's first and last timesteps

    steps: int = 100
    lam: float = 7.0
    zeta: float = 0.3
    repeats: int = 1
    sigma_floor: float = 1e-3
    schedule: str = "quad"
    clip_x0: bool = True
    clip: bool = True

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=self.min_steps)
        check_int(self.repeats, "repeats")
        check_positive(self.lam, "lam")
        check_positive(self.sigma_floor, "sigma_floor")
        if not 0.0 <= float(self.zeta) <= 1.0:
            raise ValueError(f"zeta must be in [0, 1], got {self.zeta!r}")
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_bool(self.clip_x0, "clip_x0")

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        return [data_term_reason(problem)]

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        prior = require_diffusion(prior, self.name)
        data = ModelRangeData(problem, prior)
        term = data.term
        operator = problem.operator
        shape = (problem.batch_size, *operator.in_shape)
        level = term.noise_level
        sigma = (
            max(level, self.sigma_floor)
            if isinstance(level, float)
            else level.clamp_min(self.sigma_floor).view(-1, *(1,) * len(operator.in_shape))
        )
        timesteps = diffpir_timesteps(prior.num_timesteps, self.steps, self.schedule)
        monitor.start(len(timesteps), prior.from_model)
        zeros = torch.zeros(shape, dtype=problem.dtype, device=problem.device)
        if isinstance(operator, LinearOperator) and term.has_normal_step:
            linear = operator
            adjoint_y = linear.apply_adjoint(data.residual(zeros)).real

            def data_step(x0: Tensor, rho: float | Tensor) -> Tensor:  # Gaussian noise: rho is a float
                return linear.solve_normal(adjoint_y + rho * x0, float(rho), check=False).real.to(x0.dtype)

        else:

            def data_step(x0: Tensor, rho: float | Tensor) -> Tensor:
                # the gradient of the data term (Gaussian: (1/2)||y - A(x)||^2) in public units
                _, gradient = data.value_and_gradient(x0)
                return x0 - gradient / (data.scale**2 * rho)

        lo, hi = prior.to_model(0.0), prior.to_model(1.0)
        alphas = prior.alphas_cumprod.tolist()
        x = randn(shape, generators, zeros)
        for step, (t, s) in enumerate(itertools.pairwise(timesteps)):
            alpha_t, alpha_s = alphas[t], alphas[s]
            rho = self.lam * sigma**2 * alpha_t / (1 - alpha_t)
            for repeat in range(self.repeats):
                if repeat:  # back from s to t: x_t ~ q(x_t | x_s)
                    x = math.sqrt(alpha_t / alpha_s) * x + math.sqrt(1 - alpha_t / alpha_s) * randn(shape, generators, x)
                x0 = prior.x0(x, t)
                if self.clip_x0:
                    x0 = x0.clamp(lo, hi)
                x0 = data_step(x0, rho)
                eps = eps_from_x0(x, x0, alpha_t)
                noise = randn(shape, generators, x)
                mixed = math.sqrt(1 - self.zeta) * eps + math.sqrt(self.zeta) * noise
                x = math.sqrt(alpha_s) * x0 + math.sqrt(1 - alpha_s) * mixed
            monitor.step(step, x0)
        monitor.step(len(timesteps) - 1, x)  # the last timestep: x_0 itself, no network evaluation
        return x.clamp(lo, hi) if self.clip else x
