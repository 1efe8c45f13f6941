r"""What the diffusion solvers share: the data term in the network's range (their timestep grid and
DDIM update are :mod:`reddiff_imaging.priors.sampling`, which priors use too).

The published hyperparameters of RED-diff, DPS, ΠGDM and DDRM refer to images in the network's
range :math:`x' = a x + b` (``[-1, 1]``: :math:`a = 2, b = -1`) and to measurements of such images.
The solvers therefore iterate on :math:`x'` and use the residual

.. math::
    r' = a\,\big(y - A((x' - b)/a)\big),

which for a linear :math:`A` is exactly :math:`y' - A x'` with :math:`y' = a y + b A\mathbf 1`, and a
noise level :math:`\sigma' = a\sigma`. The public API stays in ``[0, 1]``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.priors.base import DiffusionModel, Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Solver
from reddiff_imaging.solvers.data_term import DataTerm


class StepsOnTimesteps(Solver):
    """Base of the diffusion solvers whose ``steps`` are timesteps of the prior's schedule: it
    refuses more steps than the prior has timesteps (or fewer than :attr:`min_steps`) in
    :meth:`~reddiff_imaging.solvers.Solver.check_options`, before any work."""

    #: the fewest steps the method's timestep grid allows
    min_steps: ClassVar[int] = 1
    if TYPE_CHECKING:  # a field of every subclass, declared there in its own place
        steps: int

    def _check_prior(self, prior: Prior) -> None:
        if isinstance(prior, DiffusionModel) and not self.min_steps <= self.steps <= prior.num_timesteps:
            raise ValueError(
                f"steps must be from {self.min_steps} to the prior's {prior.num_timesteps} timesteps for {self.name}, got {self.steps!r}"
            )


def amplification(problem: InverseProblem) -> float:
    r""":math:`\max(\|A\|, 1)` for a linear operator (exact from its SVD, power iteration to 0.1 %
    otherwise), 1 for a nonlinear one.

    The published step sizes and weights of RED-diff and DPS were tuned on operators that do not
    amplify (masks, block averages, normalised blur kernels: :math:`\|A\| \le 1`); dividing by this
    factor keeps them exactly for such operators and brings an amplifying one (a Radon transform
    sums along rays: :math:`\|A\| \approx 44` for 64×64 images) to unit norm.
    """
    operator = problem.operator
    if not isinstance(operator, LinearOperator):
        return 1.0
    return max(float(operator.norm(tol=1e-3)), 1.0)


class ModelRangeData:
    """The data term of a problem, seen from the network's range."""

    def __init__(self, problem: InverseProblem, prior: DiffusionModel) -> None:
        self.problem = problem
        self.operator = problem.operator
        self.scale = prior.range_scale
        self.shift = prior.range_shift

    def to_public(self, x_model: Tensor) -> Tensor:
        return (x_model - self.shift) / self.scale

    def residual(self, x_model: Tensor) -> Tensor:
        """:math:`r' = a(y - A((x' - b)/a))`."""
        return self.scale * (self.problem.y - self.operator.apply_forward(self.to_public(x_model)))

    @cached_property
    def term(self) -> DataTerm:
        """The problem's data term in the public range (from its noise model)."""
        return DataTerm.from_problem(self.problem)

    def value_and_gradient(self, x_model: Tensor) -> tuple[Tensor, Tensor]:
        r"""The data term in the network's range, :math:`a^2 f((x' - b)/a)` per image, and its gradient
        in :math:`x'`, :math:`a\nabla f` (for Gaussian noise :math:`\tfrac12\|r'\|^2` and :math:`-J_A^H r'`)."""
        value, gradient = self.term.value_and_gradient(self.to_public(x_model))
        return self.scale**2 * value, self.scale * gradient

    def distance(self, x_model: Tensor) -> Tensor:
        r""":math:`a\sqrt{2 f}` per image, differentiable (for Gaussian noise :math:`\|r'\|`)."""
        return self.scale * self.term.distance(self.to_public(x_model))

    @property
    def sigma(self) -> float:
        r"""Noise level in the network's range, :math:`\sigma' = a\sigma` (Gaussian noise only)."""
        return self.scale * self.problem.sigma


def measurement_in_model_range(problem: InverseProblem, data: ModelRangeData) -> Tensor:
    r""":math:`y' = a y + b A\mathbf 1` for a linear operator (exactly :math:`a(y - A((x'-b)/a)) + A x'`)."""
    ones = torch.ones((1, *problem.operator.in_shape), dtype=problem.dtype, device=problem.device)
    return data.scale * problem.y + data.shift * problem.operator.apply_forward(ones)


def pseudo_inverse_in_model_range(problem: InverseProblem, data: ModelRangeData, rcond: float) -> Tensor | None:
    r"""The usual starting point of the diffusion solvers in the network's range: :math:`A^+ y'` for a
    linear operator, as the official RED-diff and ΠGDM codes take it (so pixels an inpainting mask
    does not observe start at 0, mid-grey, not at the image of a black pixel); for a nonlinear
    operator its own inverse heuristic of :math:`y` (HDR, phase retrieval) mapped to the network's
    range; None when the operator has neither. Singular values below ``rcond`` times the largest are
    dropped; at most 100 CG iterations without an SVD."""
    operator = problem.operator
    pinv = getattr(operator, "pinv", None)
    if pinv is None:
        return None
    if operator.is_linear:
        return pinv(measurement_in_model_range(problem, data), rcond=rcond, max_iter=100).real.to(problem.dtype)
    estimate = pinv(problem.y, rcond=rcond, max_iter=100).real.to(problem.dtype)
    return data.scale * estimate + data.shift
