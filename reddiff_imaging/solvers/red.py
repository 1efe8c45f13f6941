r"""Classical regularisation by denoising (RED) of Romano, Elad & Milanfar (2017).

RED minimises, without the noise level in the data term,

.. math::
    E(x) = \tfrac12\|A(x) - y\|^2 + \frac{\lambda}{2}\, x^\top\big(x - D(x, \sigma)\big),

whose gradient is :math:`J_A^H(A(x) - y) + \lambda\,(x - D(x, \sigma))` when the denoiser :math:`D` is
locally homogeneous with a symmetric Jacobian (Romano et al. §3; Reehorst & Schniter 2019 show that
without these properties RED is best read as finding the fixed point of that field, which both
methods below do). The denoiser is the prior's ``denoise`` at the solver's ``sigma`` (so any
denoiser works, including diffusion and TV priors).

Two methods of the paper:

* ``method="gd"`` (steepest descent, Romano et al. Alg. "SD"):
  :math:`x_{k+1} = x_k - \mu\big(J_A^H(A(x_k) - y) + \lambda(x_k - D(x_k))\big)` with
  :math:`\mu = s/(\|A\|^2 + \lambda)` — the inverse of the Lipschitz constant of the field when the
  denoiser's Jacobian has eigenvalues in :math:`[0, 1]`. Works for nonlinear operators
  (vector-Jacobian product; :math:`\|J_A(x_0)\|^2` at the initial point, or an explicit ``step``).
* ``method="fixed-point"`` (Romano et al. Alg. "FP"): set the gradient to zero with the denoiser
  output frozen, :math:`(A^H A + \lambda I)\,x_{k+1} = A^H y + \lambda D(x_k)`, solved by
  :meth:`LinearOperator.solve_normal` (closed form for masks, FFT and SVD operators, conjugate
  gradients otherwise). Linear operators only.

With a linear denoiser :math:`D(x) = Wx` both converge to the solution of
:math:`(A^H A + \lambda(I - W))\,x = A^H y`. Conventions (``init``, ``clip``, no autograd,
determinism) as in :mod:`~reddiff_imaging.solvers.admm`.

References:
    Y. Romano, M. Elad, P. Milanfar, "The little engine that could: regularization by denoising
    (RED)", SIAM J. Imaging Sci. 10(4) (2017) 1804–1844.

    E. T. Reehorst, P. Schniter, "Regularization by denoising: clarifications and new
    interpretations", IEEE Trans. Comput. Imaging 5(1) (2019) 52–67.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_choice, check_init, check_int, check_positive
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, Solver
from reddiff_imaging.solvers.capabilities import normal_equation_reasons, require_linear
from reddiff_imaging.solvers.classical_common import (
    INITS,
    RENAMED,
    call_prior,
    check_init_for,
    finish,
    initial_iterate,
    item_norm,
    lipschitz,
    real_like,
)
from reddiff_imaging.solvers.data_term import DataTerm, data_term_reason

__all__ = ["RED"]

METHODS = ("gd", "fixed-point")


@dataclass
class RED(Solver):
    r"""Classical RED (Romano, Elad & Milanfar 2017) by steepest descent or fixed-point iteration
    (equations in the module docs).

    History (every ``metrics_every`` steps and at the last), evaluated at the step's input :math:`x_k` (where the denoiser runs; as RED-diff
    records its loss before the update): ``data`` :math:`\tfrac12\|A(x_k) - y\|^2`, ``regularizer``
    :math:`\tfrac\lambda2\langle x_k, x_k - D(x_k)\rangle`, and ``change`` :math:`\|x_{k+1} - x_k\|`
    (per image, averaged over the batch).

    Args:
        steps: number of iterations.
        lam: :math:`\lambda > 0`, the weight of the RED term.
        sigma: denoiser level in public units.

            Defaults ``lam=0.2``, ``sigma=0.1``: the best pair of the grid ``lam`` in
            {0.05, 0.2, 0.5} × ``sigma`` in {0.02, 0.05, 0.1} in mean PSNR over box inpainting and
            Gaussian deblurring of held-out 32×32 images at noise 0.01 and 0.05, with the
            Gaussian-filter denoiser (fixed-point method, 100 iterations). For reference, Romano et
            al.'s deblurring setting (:math:`\lambda = 0.02` with the data term divided by
            :math:`\sigma_y^2 = 2` on the 0–255 scale) is :math:`\lambda = 0.04` in this form, with a
            much weaker denoiser level (3.25/255); stronger denoisers want smaller levels.
        method: ``gd`` (steepest descent) or ``fixed-point``.
        step_scale: ``gd`` only: :math:`s` in :math:`\mu = s/(\|A\|^2 + \lambda)`. Default 1.0 (the
            inverse Lipschitz constant; the paper's :math:`2/L` is the stability limit).
        step: ``gd`` only: an absolute step :math:`\mu` replacing ``step_scale / (L + lam)``.
        init: ``pinv``, ``adjoint``, ``zeros`` or a tensor (see :mod:`~reddiff_imaging.solvers.admm`).
        rcond: relative cut-off of the singular values in the ``pinv`` start.
        clip: clip the returned image to ``[0, 1]``.
    """

    name: ClassVar[str] = "red"
    tuning_grid = {"lam": (0.05, 0.2, 0.5), "sigma": (0.02, 0.05)}
    requires: ClassVar[tuple[str, ...]] = ("denoise",)
    renamed: ClassVar[Mapping[str, str]] = RENAMED

    steps: int = 100
    lam: float = 0.2
    sigma: float = 0.1
    method: str = "fixed-point"
    step_scale: float = 1.0
    step: float | None = None
    init: str | Tensor = "pinv"
    rcond: float = 3e-2
    clip: bool = True

    def __post_init__(self) -> None:
        check_int(self.steps, "steps")
        check_positive(self.lam, "lam")
        check_positive(self.sigma, "sigma")
        check_choice(self.method, "method", METHODS)
        check_positive(self.step_scale, "step_scale")
        if self.step is not None:
            check_positive(self.step, "step")
        check_init(self.init, INITS)
        check_positive(self.rcond, "rcond", allow_zero=True)
        check_bool(self.clip, "clip")

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        if self.method != "fixed-point":
            return [data_term_reason(problem)]
        return normal_equation_reasons(problem, "method='fixed-point' solves (AᴴA + λI)x = Aᴴy + λD(x)", "method='gd'")

    def _check_problem(self, problem: InverseProblem) -> None:
        check_init_for(self.name, self.init, problem)

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        with torch.no_grad():
            term = DataTerm.from_problem(problem)
            x = initial_iterate(self.init, problem, self.rcond)
            lam = float(self.lam)
            if self.method == "gd":
                mu = self.step if self.step is not None else self.step_scale / (lipschitz(self.name, problem, x) + lam)
            else:  # right-hand side A^H y of the fixed-point equation, computed once
                aty = real_like(require_linear(problem.operator, self.name).apply_adjoint(problem.y), x)
            monitor.start(self.steps)
            for step in range(self.steps):
                d = call_prior(self.name, prior.denoise, x, self.sigma, step, monitor)
                prior_field = x - d
                if self.method == "gd":
                    value, g = term.value_and_gradient(x)
                    x_next = x - mu * (g + lam * prior_field)
                else:
                    value = None
                    x_next = term.solve_normal(aty + lam * d, lam)
                if monitor.due(step):
                    monitor.step(
                        step,
                        x_next,
                        data=(term.value(x) if value is None else value).mean(),
                        regularizer=0.5 * lam * (x * prior_field).flatten(1).sum(1).mean(),
                        change=item_norm(x_next - x).mean(),
                    )
                else:
                    monitor.step(step, x_next)
                x = x_next
            return finish(x, self.clip)
