r"""RED-diff: the variational sampler of Mardani, Song, Kautz and Vahdat, "A Variational Perspective
on Solving Inverse Problems with Diffusion Models", ICLR 2024 (official code: NVlabs/RED-diff).

The posterior is approximated by :math:`q = \mathcal N(\mu, \sigma^2 I)`; as :math:`\sigma \to 0`
minimising the KL divergence becomes stochastic optimisation of :math:`\mu` over diffusion
timesteps. At each step, with :math:`\varepsilon \sim \mathcal N(0, I)` and
:math:`x_t = \sqrt{\bar\alpha_t}\,\mu + \sqrt{1-\bar\alpha_t}\,\varepsilon`,

.. math::
    \ell(\mu) = \frac{v}{2}\,\|y' - A(\mu)\|^2
              + \lambda_t\,\big\langle \mathrm{sg}[\hat\varepsilon(x_t, t) - \varepsilon],\, \mu \big\rangle,
    \qquad \lambda_t = \lambda\, f\!\left(\sqrt{(1-\bar\alpha_t)/\bar\alpha_t}\right),

and :math:`\mu` takes one Adam step on :math:`\ell`. As in the official code, the result is the
point the last step evaluates, :math:`\mu + \sigma_{x_0} n` before that step's update (the
official ``sample`` returns ``x0_pred``), so ``steps`` steps make ``steps - 1`` updates. The network
runs forward only (no Jacobian, no backward): one network evaluation per step, memory like inference. Everything happens in the
network's range (see :mod:`reddiff_imaging.solvers.diffusion_common`).

Loss normalisation:

* ``loss="mean"`` (default, as the official code): both terms are averaged over their elements,
  per image — the data term over the measurement's :math:`m` entries, the prior term over the
  image's :math:`n` pixels — so the published :math:`\lambda` and learning rates carry over. The
  balance then depends on :math:`m/n`.
* ``loss="sum"``: the variational objective itself,
  :math:`\|y' - A\mu\|^2/(2\sigma'^2) + \lambda_t\langle\cdot,\mu\rangle` with sums and the noise level
  :math:`\sigma' = 2\sigma`; needs Gaussian noise with :math:`\sigma > 0`.

Batch items are independent: the losses are per image and summed over the batch, so a batch gives
the same results as single runs (with one generator per item).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_choice, check_init, check_int, check_positive
from reddiff_imaging.priors.adapters import as_diffusion
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.sampling import ORDERS, timestep_sequence
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, randn
from reddiff_imaging.solvers.classical_common import check_init_for
from reddiff_imaging.solvers.capabilities import Requirement, gaussian_reason
from reddiff_imaging.solvers.data_term import data_term_reason
from reddiff_imaging.solvers.diffusion_common import amplification, ModelRangeData, pseudo_inverse_in_model_range, StepsOnTimesteps

#: the weightings f of the paper's ablation, applied to sigma_t / alpha_t
WEIGHTINGS = {
    "linear": lambda s: s,
    "sqrt": math.sqrt,
    "square": lambda s: s * s,
    "log": lambda s: math.log1p(s),
    "trunc_linear": lambda s: min(s, 1.0),
    "power2over3": lambda s: s ** (2 / 3),
    "const": lambda s: 1.0,
}
INITS = ("pinv", "zeros", "noise")


@dataclass
class RedDiff(StepsOnTimesteps):
    r"""RED-diff with every option of the paper's ablations.

    Args:
        steps: number of timesteps, evenly spaced over ``[0, T)`` (1000 in the paper, 100 in the
            official quick start).
        lr: learning rate (official: 0.25 for inpainting, 0.5 for other tasks).
        lam: :math:`\lambda`, the weight of the denoising (prior) term (official: 0.25).
        weighting: :math:`f` in :math:`\lambda_t = \lambda f(\sigma_t/\alpha_t)`: ``linear``, ``sqrt``,
            ``square``, ``log`` (:math:`\log(1+\cdot)`), ``trunc_linear`` (:math:`\min(\cdot, 1)`),
            ``power2over3``, ``const``.
        order: timestep order: ``descending`` (paper), ``ascending``, ``random``.
        optimizer: ``adam`` (betas ``(0.9, 0.99)`` as the official code) or ``sgd``.
        momentum: SGD momentum, in ``[0, 1)``.
        sigma_x0: std of the jitter added to :math:`\mu` before diffusing (official default 0).
        init: ``pinv`` (the official :math:`A^+ y'` in the network's range, so unobserved pixels
            start mid-grey; for nonlinear operators their own ``pinv`` of :math:`y` when they
            have one, as HDR and phase retrieval do, else ``zeros``),
            ``zeros`` (:math:`\mu = 0` in the network's range: mid-gray), ``noise`` (standard
            normal in the network's range), or a tensor in ``[0, 1]`` of the problem's shape.
        loss: ``mean`` (official normalisation) or ``sum`` (see the module docs).
        normalize: with ``loss="mean"``, divide the data term by :math:`\max(\|A\|, 1)^2` for a
            linear operator (:func:`~reddiff_imaging.solvers.diffusion_common.amplification`): no
            change for the official tasks, whose operators have :math:`\|A\| \le 1`; on CT
            (:math:`\|A\| \approx 44`) it lifted the default RED-diff from 22 to 29 dB. ``loss="sum"``
            is the exact objective and is never rescaled.
        obs_weight: :math:`v`, the weight of the data term (official: 1).
        rcond: singular values below this fraction of the largest are dropped in the
            pseudo-inverse initialisation (the official SVD operators drop those below 3e-2).
        clip: clip the result to ``[0, 1]`` (the official evaluation clips to the image range).
    """

    name: ClassVar[str] = "reddiff"
    tuning_grid = {"lam": (0.05, 0.1, 0.25, 0.5), "lr": (0.1, 0.25, 0.5)}
    requires: ClassVar[tuple[Requirement, ...]] = (("eps", "denoise"),)
    renamed: ClassVar[Mapping[str, str]] = {"pinv_rcond": "rcond"}

    steps: int = 1000
    lr: float = 0.25
    lam: float = 0.25
    weighting: str = "linear"
    order: str = "descending"
    optimizer: str = "adam"
    momentum: float = 0.9
    sigma_x0: float = 0.0
    init: str | Tensor = "pinv"
    loss: str = "mean"
    obs_weight: float = 1.0
    normalize: bool = True
    rcond: float = 3e-2
    clip: bool = True

    def __post_init__(self) -> None:
        check_int(self.steps, "steps")
        check_positive(self.lr, "lr")
        check_positive(self.lam, "lam", allow_zero=True)
        check_positive(self.obs_weight, "obs_weight", allow_zero=True)
        check_positive(self.sigma_x0, "sigma_x0", allow_zero=True)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        check_choice(self.weighting, "weighting", tuple(WEIGHTINGS))
        check_choice(self.order, "order", ORDERS)
        check_choice(self.optimizer, "optimizer", ("adam", "sgd"))
        check_choice(self.loss, "loss", ("mean", "sum"))
        check_bool(self.normalize, "normalize")
        check_init(self.init, INITS)

    def _check_problem(self, problem: InverseProblem) -> None:
        check_init_for(self.name, self.init, problem)

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        return [data_term_reason(problem), self._sum_loss_reason(problem) if self.loss == "sum" else None]

    @staticmethod
    def _sum_loss_reason(problem: InverseProblem) -> str | None:
        why = "loss='sum' weighs the data term by 1/σ²; use loss='mean'"
        reason = gaussian_reason(problem, why)
        if reason is None and problem.sigma <= 0:
            return f"the measurement is noise-free (σ = 0) and {why}"
        return reason

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        diffusion = as_diffusion(prior)
        data = ModelRangeData(problem, diffusion)
        timesteps = timestep_sequence(diffusion.num_timesteps, self.steps, self.order, generators[0])
        mu = self._initial(problem, data, generators).detach().clone()
        optimizer = (
            torch.optim.Adam([mu], lr=self.lr, betas=(0.9, 0.99))
            if self.optimizer == "adam"
            else torch.optim.SGD([mu], lr=self.lr, momentum=self.momentum)
        )
        n = math.prod(problem.operator.in_shape)
        m = math.prod(problem.operator.out_shape)
        if self.loss == "mean":
            data_weight = self.obs_weight / m / (amplification(problem) ** 2 if self.normalize else 1.0)
        else:
            data_weight = self.obs_weight / data.sigma**2
        alphas = diffusion.alphas_cumprod.tolist()
        monitor.start(len(timesteps), data.to_public)
        batch_t = torch.empty(problem.batch_size, dtype=torch.long, device=problem.device)
        for step, t in enumerate(timesteps):
            alpha_bar = alphas[t]
            snr_inv = math.sqrt((1 - alpha_bar) / alpha_bar)
            prior_weight = self.lam * WEIGHTINGS[self.weighting](snr_inv) / (n if self.loss == "mean" else 1)
            x0 = mu if self.sigma_x0 == 0 else mu + self.sigma_x0 * randn(mu.shape, generators, mu)
            noise = randn(mu.shape, generators, mu)
            x_t = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * noise
            eps_error = diffusion.eps(x_t, batch_t.fill_(t)) - noise
            data_value, data_grad = data.value_and_gradient(x0)
            mu.grad = data_weight * data_grad + prior_weight * eps_error
            if step < len(timesteps) - 1:  # the result is the last step's x0, before its update (official)
                optimizer.step()
            monitor.step(
                step,
                x0,
                data=data_weight * data_value.mean(),
                prior=prior_weight * (eps_error * x0).flatten(1).sum(1).mean(),
            )
        x = x0.detach()
        return x.clamp(diffusion.to_model(0.0), diffusion.to_model(1.0)) if self.clip else x

    def _initial(self, problem: InverseProblem, data: ModelRangeData, generators: list[torch.Generator]) -> Tensor:
        r"""The initial :math:`\mu` in the network's range."""
        shape = (problem.batch_size, *problem.operator.in_shape)
        if isinstance(self.init, Tensor):
            init = problem.operator.check_input(self.init.to(device=problem.device, dtype=problem.dtype), "init")
            if init.shape != shape:
                raise ValueError(f"init must have shape {shape}, got {tuple(init.shape)}")
            return data.scale * init + data.shift
        if self.init == "pinv":
            estimate = pseudo_inverse_in_model_range(problem, data, self.rcond)
            if estimate is not None:
                return estimate
        if self.init in ("pinv", "zeros"):
            return torch.full(shape, data.scale * 0.5 + data.shift, dtype=problem.dtype, device=problem.device)
        return data.scale * (0.5 + 0.5 * randn(shape, generators, problem.y.real)) + data.shift
