r"""The data term of a problem, built from its noise model: :math:`f(x) = -\kappa\log p(y \mid A(x))`
up to a constant, its gradient through the operator's adjoint (linear) or a vector-Jacobian product
(nonlinear), and the normal-equation step where the noise model has one.

The scale :math:`\kappa` keeps the units the solvers' step sizes and weights were tuned in (a
Gaussian term of unit curvature):

* **Gaussian** noise :math:`y = A x + \sigma n`: :math:`\kappa = \sigma^2` and

  .. math:: f(x) = \tfrac12\|A(x) - y\|^2, \qquad \nabla f(x) = J_A(x)^H (A(x) - y),

  with the step :math:`(A^H A + \rho I)^{-1}` of ADMM-type solvers.

* **Poisson** noise :math:`y = g\,\mathrm{Poisson}(A x / g)` (gain :math:`g`, so :math:`y/g` are
  counts): :math:`\kappa = g\bar y` with :math:`\bar y` the mean of the image's measurement and,
  with :math:`t = A(x)`,

  .. math::
      f(x) = \bar y \sum_i \Big(t_i - y_i + y_i \log\frac{y_i}{t_i}\Big), \qquad
      \nabla f(x) = \bar y\, J_A(x)^H \Big(1 - \frac{y}{t}\Big),

  the negative log-likelihood of the counts times :math:`g\bar y` (a generalised Kullback–Leibler
  divergence, 0 when :math:`A x = y`). Near :math:`y_i` it is
  :math:`\tfrac12 (t_i - y_i)^2\,\bar y / y_i`: the Gaussian term of the noise level
  :math:`\sqrt{g\bar y}` at the mean intensity, reweighted pixel by pixel by the variance
  :math:`g\,y_i` of the counts, so that bright pixels weigh less than dark ones and the step sizes
  and weights of the solvers carry over. The logarithm needs :math:`t > 0`; below
  :math:`\varepsilon = g/2` (half a photon) each term continues as its second-order Taylor polynomial
  at :math:`\varepsilon`, so that iterates that stray below zero get a finite gradient back.
  There is no closed-form normal-equation step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.problem import InverseProblem

__all__ = ["DataTerm", "GaussianDataTerm", "PoissonDataTerm", "data_term_reason"]


class DataTerm(ABC):
    """:math:`f(x)` of a problem in the public range (see the module docs); build one with
    :meth:`from_problem`."""

    #: whether :meth:`solve_normal` exists (Gaussian noise only)
    has_normal_step: bool = False

    def __init__(self, problem: InverseProblem) -> None:
        self.problem = problem
        self.operator = problem.operator

    @staticmethod
    def from_problem(problem: InverseProblem) -> DataTerm:
        """The data term of ``problem``'s noise model; :class:`~reddiff_imaging.errors.UnsupportedProblemError`
        for a noise model without one."""
        if isinstance(problem.noise, Gaussian):
            return GaussianDataTerm(problem)
        if isinstance(problem.noise, Poisson):
            return PoissonDataTerm(problem)
        raise UnsupportedProblemError(data_term_reason(problem) or "")

    @abstractmethod
    def _pointwise(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """The per-item value of the term at the measurement-domain point ``out = A(x)`` and its
        gradient with respect to ``out``."""

    def value_and_gradient(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """:math:`f(x)` per image ``(B,)`` and :math:`\\nabla f(x)` (a real image like ``x``)."""
        out, pullback = self._forward(x)
        value, out_gradient = self._pointwise(out)
        return value, real_like(pullback(out_gradient), x)

    def value(self, x: Tensor) -> Tensor:
        """:math:`f(x)` per image ``(B,)``."""
        return self._pointwise(self.operator.apply_forward(x))[0]

    def distance(self, x: Tensor) -> Tensor:
        r""":math:`\sqrt{2 f(x)}` per image (for Gaussian noise the residual norm :math:`\|A(x) - y\|`),
        differentiable; DPS steps along its gradient."""
        return (2 * self.value(x)).sqrt()

    @property
    @abstractmethod
    def noise_level(self) -> float | Tensor:
        r"""The Gaussian noise level :math:`\sigma` this term behaves like near the data (the weight
        of solvers that balance the data against the prior by :math:`\sigma^2`): a float, or one per
        image ``(B,)``."""

    def solve_normal(self, b: Tensor, rho: float) -> Tensor:
        """:math:`(A^H A + \\rho I)^{-1} b` (Gaussian noise, linear operator only)."""
        raise UnsupportedProblemError(f"the {type(self.problem.noise).__name__} data term has no normal-equation step")

    def _forward(self, x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        operator = self.operator
        if isinstance(operator, LinearOperator):
            return operator.apply_forward(x), operator.apply_adjoint
        out, pullback = torch.func.vjp(operator.apply_forward, x)[:2]
        return out, lambda w: pullback(w)[0]


class GaussianDataTerm(DataTerm):
    r""":math:`\tfrac12\|A(x) - y\|^2` (see the module docs)."""

    has_normal_step = True

    @property
    def noise_level(self) -> float:
        """The noise model's :math:`\\sigma`."""
        return self.problem.sigma

    def _pointwise(self, out: Tensor) -> tuple[Tensor, Tensor]:
        r = out - self.problem.y
        # the norm's reduction does not depend on the number of threads (a sum of squares does)
        return 0.5 * r.flatten(1).norm(dim=1).square(), r

    def distance(self, x: Tensor) -> Tensor:
        return (self.operator.apply_forward(x) - self.problem.y).abs().flatten(1).norm(dim=1)

    def solve_normal(self, b: Tensor, rho: float) -> Tensor:
        operator = self.operator
        if not isinstance(operator, LinearOperator):
            raise UnsupportedProblemError(f"the normal equations need a linear operator, got {type(operator).__name__}")
        return real_like(operator.solve_normal(b, rho, check=False), b)


class PoissonDataTerm(DataTerm):
    r""":math:`\sum_i t_i - y_i + y_i\log(y_i/t_i)`, :math:`t = A(x)` (see the module docs)."""

    def __init__(self, problem: InverseProblem) -> None:
        super().__init__(problem)
        noise = problem.noise
        assert isinstance(noise, Poisson)
        self.gain = noise.gain
        self.floor = 0.5 * noise.gain
        y = problem.y
        #: the mean intensity of each image's measurement, (B, 1, ..., 1)
        self.mean = y.flatten(1).mean(1).clamp_min(self.floor).view((-1,) + (1,) * (y.ndim - 1))

    @property
    def noise_level(self) -> Tensor:
        r""":math:`\sqrt{g\bar y}` per image ``(B,)``, the noise level at the mean intensity."""
        return (self.gain * self.mean.flatten(1)[:, 0]).sqrt()

    def _pointwise(self, out: Tensor) -> tuple[Tensor, Tensor]:
        y, eps = self.problem.y, self.floor
        t = out.clamp_min(eps)
        value = t - y + torch.xlogy(y, y) - torch.xlogy(y, t)
        gradient = 1 - y / t
        below = out < eps
        if bool(below.any()):  # the second-order Taylor continuation under the floor
            d = out - eps
            value = torch.where(below, value + gradient * d + 0.5 * y / eps**2 * d * d, value)
            gradient = torch.where(below, gradient + y / eps**2 * d, gradient)
        return (self.mean * value).flatten(1).sum(1), self.mean * gradient


def data_term_reason(problem: InverseProblem) -> str | None:
    """None when the problem's noise model has a data term, else a sentence saying which do."""
    if isinstance(problem.noise, (Gaussian, Poisson)):
        return None
    return f"has data terms for Gaussian and Poisson noise; this problem's noise is {type(problem.noise).__name__}"


def real_like(v: Tensor, like: Tensor) -> Tensor:
    """``v`` as the real tensor of ``like``'s dtype when ``like`` is real (the gradient of a
    real-valued function of a real image is the real part of the complex one)."""
    if v.is_complex() and not like.is_complex():
        v = v.real
    return v.to(like.dtype)
