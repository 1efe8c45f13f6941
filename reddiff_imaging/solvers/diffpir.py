r"""DiffPIR: Denoising Diffusion Models for Plug-and-Play Image Restoration (Zhu, Zhang, Liang, Cao,
Wen, Timofte and Van Gool, CVPRW 2023).

At each timestep the diffusion denoiser gives :math:`\hat x_0`, a data step pulls it towards the
measurement, and the sampler re-noises with a mix of the implied and fresh noise:

.. math::
    \tilde x_0 = \arg\min_z \|y' - A z\|^2 + \rho_t \|z - \hat x_0\|^2
               = (A^H A + \rho_t I)^{-1}(A^H y' + \rho_t \hat x_0),
    \qquad \rho_t = \lambda\,\sigma'^2 / \bar\sigma_t^2,\ \bar\sigma_t^2 = (1-\bar\alpha_t)/\bar\alpha_t,

    x_s = \sqrt{\bar\alpha_s}\,\tilde x_0 + \sqrt{1-\bar\alpha_s}\,\big(\sqrt{1-\zeta}\,\hat\varepsilon(\tilde x_0) + \sqrt{\zeta}\,z\big).

The data step is closed form through :meth:`~reddiff_imaging.operators.LinearOperator.solve_normal`
(mask, FFT-diagonal and SVD operators; conjugate gradients otherwise); for a nonlinear operator it
is one gradient step :math:`\tilde x_0 = \hat x_0 - \rho_t^{-1}\nabla \tfrac12\|y' - A(\hat x_0)\|^2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_positive
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, Solver, randn
from reddiff_imaging.solvers.diffusion_common import (
    ModelRangeData,
    previous_alpha_bars,
    timestep_sequence,
)


@dataclass
class DiffPIR(Solver):
    r"""DiffPIR.

    Args:
        steps: number of timesteps (100 in the paper).
        lam: :math:`\lambda`, the weight of the data step (7 in the paper's deblurring setting).
        zeta: :math:`\zeta \in [0, 1]`, the share of fresh noise when re-noising (0.3 by default).
        sigma_floor: lower bound of :math:`\sigma'` (network range) in :math:`\rho_t`, so that
            noise-free problems keep a finite data weight.
        clip: clip the result to the image range ``[0, 1]``.
    """

    name: ClassVar[str] = "diffpir"
    requires: ClassVar[tuple[str, ...]] = ("eps",)

    steps: int = 100
    lam: float = 7.0
    zeta: float = 0.3
    sigma_floor: float = 1e-3
    clip: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive int, got {self.steps!r}")
        check_positive(self.lam, "lam")
        check_positive(self.sigma_floor, "sigma_floor")
        if not 0.0 <= float(self.zeta) <= 1.0:
            raise ValueError(f"zeta must be in [0, 1], got {self.zeta!r}")

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        data = ModelRangeData(problem, prior)
        sigma = max(data.sigma, self.sigma_floor)
        operator = problem.operator
        shape = (problem.batch_size, *operator.in_shape)
        timesteps = timestep_sequence(prior.num_timesteps, self.steps)
        monitor.start(len(timesteps), prior.from_model)
        zeros = torch.zeros(shape, dtype=problem.dtype, device=problem.device)
        adjoint_y = operator.apply_adjoint(data.residual(zeros)).real if operator.is_linear else None
        x = randn(shape, generators, zeros)
        x0 = x
        for step, (t, alpha_t, alpha_s) in enumerate(previous_alpha_bars(timesteps, prior.alphas_cumprod.tolist())):
            x0 = prior.x0(x, t)
            rho = self.lam * sigma**2 * alpha_t / (1 - alpha_t)
            if adjoint_y is not None:
                x0 = operator.solve_normal(adjoint_y + rho * x0, rho, check=False).real.to(x0.dtype)
            else:
                _, gradient = data.residual_and_gradient(x0)
                x0 = x0 - gradient / rho
            if alpha_s < 1.0:
                eps = (x - math.sqrt(alpha_t) * x0) / math.sqrt(1 - alpha_t)
                noise = randn(shape, generators, x)
                mixed = math.sqrt(1 - self.zeta) * eps + math.sqrt(self.zeta) * noise
                x = math.sqrt(alpha_s) * x0 + math.sqrt(1 - alpha_s) * mixed
            monitor.step(step, x0)
        return x0.clamp(prior.to_model(0.0), prior.to_model(1.0)) if self.clip else x0
