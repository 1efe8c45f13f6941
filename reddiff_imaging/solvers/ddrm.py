r"""DDRM: Denoising Diffusion Restoration Models, B. Kawar, M. Elad, S. Ermon and J. Song, NeurIPS 2022
(arXiv 2201.11793; official code: bahjat-kawar/ddrm).

DDRM samples the posterior of a linear problem :math:`y' = A x' + \sigma' n` in the spectral basis of
:math:`A = U \Sigma V^H`. With the spectral coefficients :math:`\bar x = V^H x` of the image, the
coefficients of the measurement :math:`\bar y = \Sigma^{+} U^H y'` (defined where :math:`s_i > 0`) and
the diffusion in "variance exploding" form :math:`x_t = x_0 + \sigma_t \varepsilon`,
:math:`\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}` (the network sees
:math:`\sqrt{\bar\alpha_t}\,x_t`), every coordinate is updated on its own. The chain starts at the
largest timestep :math:`T` with

.. math::
    \bar x_T^{(i)} \sim \begin{cases}
        \mathcal N\big(\bar y^{(i)},\; \sigma_T^2 - \sigma'^2/s_i^2\big) & s_i > 0 \text{ and } \sigma_T s_i > \sigma',\\
        \mathcal N(0, \sigma_T^2) & \text{otherwise},
    \end{cases}

and moves from timestep :math:`t` to the next (smaller) one :math:`t'` of the sequence with
:math:`\bar x_{\theta} = V^H \hat x_0(x_t, t)`, :math:`\bar\varepsilon_\theta = V^H \hat\varepsilon(x_t, t)`
(so that :math:`(\bar x_t - \bar x_\theta)/\sigma_t = \bar\varepsilon_\theta`) and fresh noise
:math:`\bar z = V^H z`, :math:`z \sim \mathcal N(0, I)`:

.. math::
    \bar x_{t'}^{(i)} = \begin{cases}
        \bar x_\theta^{(i)} + \sqrt{1-\eta^2}\,\sigma_{t'}\,\bar\varepsilon_\theta^{(i)} + \eta\,\sigma_{t'}\,\bar z^{(i)}
            & s_i = 0,\\[2pt]
        \bar x_\theta^{(i)} + \sqrt{1-\eta^2}\,\sigma_{t'}\,\dfrac{\bar y^{(i)} - \bar x_\theta^{(i)}}{\sigma'/s_i}
            + \eta\,\sigma_{t'}\,\bar z^{(i)}
            & \sigma_{t'} < \sigma'/s_i,\\[2pt]
        (1-\eta_b)\,\bar x_\theta^{(i)} + \eta_b\,\bar y^{(i)}
            + \sqrt{\sigma_{t'}^2 - \eta_b^2\,\sigma'^2/s_i^2}\;\bar z^{(i)}
            & \sigma_{t'} \ge \sigma'/s_i,
    \end{cases}

(Eq. 7–8 of the paper). The last step goes to :math:`\sigma_{t'} = 0` (:math:`\bar\alpha = 1`), as in the
official code; the result is :math:`V \bar x_0`. One network evaluation per step, no network
gradient. The defaults are the paper's main results: ``steps=20`` DDIM-spaced timesteps, ``eta=0.85``,
``eta_b=1``.

Ranges: as every diffusion solver here, DDRM works in the network's range (see
:mod:`reddiff_imaging.solvers.diffusion_common`): :math:`y' = a y + b A\mathbf 1` (``2y - A1`` for
``[-1, 1]``) and :math:`\sigma' = a\sigma` — the :math:`\sigma_y` of the paper's tables is this
:math:`\sigma'` (the official code doubles the public :math:`\sigma`).

Differences from the official code, both at measure-zero boundaries: the ":math:`\ge`" case uses
:math:`\sigma_{t'} s_i \ge \sigma'` as in the paper (the official code uses ``>``, so that with
:math:`\sigma' = 0` the last step keeps the network's estimate rather than :math:`\bar y` on the
observed coordinates), and :math:`x_T = \sqrt{\bar\alpha_T}\,V\bar x_T` exactly (the official code
divides by :math:`\sigma_T`, the same up to :math:`\sqrt{1-\bar\alpha_T}`).

**Operators.** DDRM needs ``problem.operator.svd`` (identity, masks/inpainting, decimation, block
averaging, FFT-diagonal blur, MRI); operators without one are refused with a ``TypeError`` that
suggests ``pigdm``, ``reddiff``, ``dps`` or ``diffpir``. Singular values at or below
``rcond`` times the largest are treated as zero (the official deblurring operators drop those below
``3e-2``); for masks, decimation, block averaging and identity this changes nothing.

**Complex spectral coefficients.** FFT-diagonal operators (circular blur) have the Fourier basis,
:math:`V^H = F`: the coefficients of a real image are complex with Hermitian symmetry
:math:`\bar x(-k) = \overline{\bar x(k)}`, and i.i.d. complex noise in that domain is *not* the image
of real white noise. DDRM stays exact there when (i) every spectral filter that depends on
:math:`s` maps real images to real images (:math:`s(-k) = s(k)`, true for real kernels) and (ii) the
operator maps real images to real measurements. Then the DDRM conditionals act on each conjugate
pair with the same real coefficients, and all the Gaussian variables involved — the diffusion noise
:math:`V^H\varepsilon`, the measurement noise :math:`\Sigma^+U^H n` and the fresh noise — have the
distribution of :math:`V^H` applied to real white noise (for the measurement noise because
:math:`A^T n \sim V\Sigma V^H\varepsilon` when :math:`V\Sigma V^H` is real). So this implementation
draws fresh noise as :math:`\bar z = V^H z` with :math:`z` real white noise in the image domain (for
real bases this is just white noise), and takes the real part of :math:`V\bar x` (zero imaginary
part up to rounding). Operators with complex coefficients that violate (i) or (ii) — a circulant
with a complex transfer function, MRI with ``complex_images=True`` of a real image — are refused
(for MRI use ``complex_images=False``, whose SVD is real, in the Hartley basis). For real bases with
a complex measurement (MRI of real images) the coefficients :math:`U^H y'` are taken real: the SVD
is that of the operator for the real inner product.

Batch items are independent; with one generator per item, each result equals a single run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_int, check_positive, check_unit_interval
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.sampling import previous_alpha_bars, timestep_sequence, x0_from_eps
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, randn
from reddiff_imaging.solvers.capabilities import gaussian_reason, linear_reason, require_diffusion, require_linear
from reddiff_imaging.solvers.diffusion_common import measurement_in_model_range, ModelRangeData, StepsOnTimesteps
from reddiff_imaging.solvers.spectral import kept_singular_values, probe_image, spectral_kind


@dataclass
class DDRM(StepsOnTimesteps):
    r"""DDRM (Kawar, Elad, Ermon & Song, NeurIPS 2022): spectral posterior sampling for linear
    operators with an SVD. Update equations in the module docstring.

    Args:
        steps: number of timesteps (:func:`~reddiff_imaging.priors.sampling.timestep_sequence`), visited from the largest
            (20 in the paper's main results).
        eta: :math:`\eta`, the stochasticity of the updates on the unobserved coordinates and on
            those less noisy than the measurement (0.85 in the paper), in ``[0, 1]``.
        eta_b: :math:`\eta_b`, the weight of the measurement on the coordinates noisier than it
            (1 in the paper), in ``[0, 1]``.
        rcond: singular values at or below ``rcond`` times the largest count as zero (the official
            deblurring operators drop those below 3e-2); no effect on masks, decimation, block
            averaging and identity.
        clip: clip the result to ``[0, 1]`` (the official evaluation clips to the image range).

    Raises:
        UnsupportedProblemError: at ``solve`` (and in :meth:`check`'s answer) for a nonlinear
            operator, an operator without an SVD, an SVD with complex coefficients that does not
            respect real images (see the module docstring), or non-Gaussian noise.
    """

    name: ClassVar[str] = "ddrm"
    tuning_grid = {"eta": (0.5, 0.85, 1.0)}
    requires: ClassVar[tuple[str, ...]] = ("eps",)

    steps: int = 20
    eta: float = 0.85
    eta_b: float = 1.0
    rcond: float = 3e-2
    clip: bool = True

    def __post_init__(self) -> None:
        check_int(self.steps, "steps")
        check_unit_interval(self.eta, "eta")
        check_unit_interval(self.eta_b, "eta_b")
        rcond = check_positive(self.rcond, "rcond", allow_zero=True)
        if rcond >= 1:
            raise ValueError(f"rcond must be in [0, 1), got {self.rcond!r}")
        if not isinstance(self.clip, bool):
            raise TypeError(f"clip must be a bool, got {self.clip!r}")

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        return [self._operator_reason(problem.operator, problem), gaussian_reason(problem)]

    @staticmethod
    def _operator_reason(operator: Operator, problem: InverseProblem) -> str | None:
        if not isinstance(operator, LinearOperator):
            return linear_reason(operator, "DDRM's updates are spectral", "Use 'reddiff' or 'dps' for nonlinear forward models.")
        svd = operator.svd
        if svd is None:
            return (
                f"needs an operator with an SVD (operator.svd); {type(operator).__name__} has none. "
                "Use 'pigdm' (which falls back to conjugate gradients), 'reddiff', 'dps' or 'diffpir' for it"
            )
        kind = spectral_kind(operator, svd, problem.device)
        if kind == "hermitian" and operator.apply_forward(probe_image(operator, problem.dtype, problem.device)).is_complex():
            kind = "complex"  # complex measurements of real images: the noise has no conjugate symmetry
        if kind != "complex":
            return None
        return (
            f"cannot use the SVD of {type(operator).__name__}: its spectral coefficients are complex "
            "and either its spectral filters do not map real images to real images or its measurements of real "
            "images are complex (e.g. a complex transfer function, or MRI with complex_images=True), so the "
            "per-coefficient DDRM updates are not defined "
            "for the real images of a diffusion prior. Use MRI(complex_images=False), or 'pigdm' or 'reddiff'"
        )

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        diffusion = require_diffusion(prior, self.name)
        data = ModelRangeData(problem, diffusion)
        operator = require_linear(problem.operator, self.name)
        svd = operator.svd
        if svd is None:  # refused by check() before any work
            raise UnsupportedProblemError(self._operator_reason(operator, problem) or "DDRM needs an operator with an SVD")
        timesteps = timestep_sequence(diffusion.num_timesteps, self.steps, "descending")
        real_basis = spectral_kind(operator, svd, problem.device) == "real"
        shape = (problem.batch_size, *operator.in_shape)
        dtype = problem.dtype

        def coefficients(x: Tensor) -> Tensor:
            z = svd.Vt(x)
            return z.real if real_basis and z.is_complex() else z

        def image(z: Tensor) -> Tensor:
            x = svd.V(z)
            return (x.real if x.is_complex() else x).to(dtype)

        def fresh_noise() -> Tensor:
            return coefficients(randn(shape, generators, problem.y.real))

        # measurement in spectral form: y_bar = S^+ U^H y' on the kept singular values
        y_model = measurement_in_model_range(problem, data)
        uy = svd.Ut(y_model)
        if real_basis and uy.is_complex():
            uy = uy.real
        s, keep = kept_singular_values(svd, self.rcond, uy)
        safe_s = torch.where(keep, s, torch.ones_like(s))
        y_bar = torch.where(keep, uy / safe_s, torch.zeros_like(uy))
        sigma_y = data.sigma
        noise_over_s = torch.where(keep, sigma_y / safe_s, torch.zeros_like(s))  # sigma'/s_i

        alphas = diffusion.alphas_cumprod.to(torch.float64).tolist()

        def sigma_of(alpha_bar: float) -> float:
            return math.sqrt((1 - alpha_bar) / alpha_bar)

        # x_T: y_bar plus the remaining noise where s_i sigma_T > sigma', pure noise elsewhere
        alpha_first = alphas[timesteps[0]]
        sigma_first = sigma_of(alpha_first)
        informative = keep & (s * sigma_first > sigma_y)
        mean = torch.where(informative, y_bar, torch.zeros_like(y_bar))
        remaining_first = (sigma_first**2 - noise_over_s**2).clamp_min(0).sqrt()
        std = torch.where(informative, remaining_first, torch.full_like(s, sigma_first))
        x = math.sqrt(alpha_first) * image(mean + std * fresh_noise())

        eta, eta_b = self.eta, self.eta_b
        monitor.start(len(timesteps), data.to_public)
        batch_t = torch.empty(problem.batch_size, dtype=torch.long, device=problem.device)
        for step, (t, alpha_t, alpha_next) in enumerate(previous_alpha_bars(timesteps, alphas)):
            sigma_next = sigma_of(alpha_next)
            eps = diffusion.eps(x, batch_t.fill_(t))
            x0 = x0_from_eps(x, eps, alpha_t)
            x0_bar = coefficients(x0)
            eps_bar = coefficients(eps)
            z = fresh_noise()

            # the three cases of Eq. 8, coordinate by coordinate
            unobserved = x0_bar + math.sqrt(1 - eta**2) * sigma_next * eps_bar + eta * sigma_next * z
            safe_noise = torch.where(keep & (noise_over_s > 0), noise_over_s, torch.ones_like(s))
            less_noisy = (
                x0_bar + math.sqrt(1 - eta**2) * sigma_next * (y_bar - x0_bar) / safe_noise + eta * sigma_next * z
            )
            remaining = (sigma_next**2 - eta_b**2 * noise_over_s**2).clamp_min(0).sqrt()
            noisier = (1 - eta_b) * x0_bar + eta_b * y_bar + remaining * z
            noisier_than_y = keep & (s * sigma_next >= sigma_y)
            x_bar = torch.where(noisier_than_y, noisier, torch.where(keep, less_noisy, unobserved))
            x = math.sqrt(alpha_next) * image(x_bar)

            residual = data.residual(x0)
            monitor.step(step, x0, data=0.5 * residual.abs().square().flatten(1).sum(1).mean())
        return x.clamp(diffusion.to_model(0.0), diffusion.to_model(1.0)) if self.clip else x
