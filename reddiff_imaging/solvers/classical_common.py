"""Helpers shared by the classical solvers (:mod:`~reddiff_imaging.solvers.admm`,
:mod:`~reddiff_imaging.solvers.pnp`, :mod:`~reddiff_imaging.solvers.red`): option checks, the
initial iterate, the data term and its gradient, step sizes from the operator norm, and the
per-step record."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor, NonFiniteError, Solver, pseudo_inverse_estimate
from reddiff_imaging.solvers.capabilities import normal_equation_reasons, require_linear
from reddiff_imaging.solvers.data_term import real_like

INITS = ("pinv", "adjoint", "zeros")

#: the options the classical solvers renamed to the names all solvers use (see :attr:`Solver.renamed`)
RENAMED = {"iterations": "steps", "pinv_rcond": "rcond"}


class NormalStepSolver(Solver):
    """A classical solver whose data step solves :math:`(A^HA + \rho I)x = b` (ADMM, PnP-ADMM,
    DPIR): linear operators with Gaussian noise, and an ``init`` checked against the problem."""

    if TYPE_CHECKING:  # a dataclass field of each subclass
        init: str | Tensor

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        return normal_equation_reasons(problem, "its data step solves (AᴴA + ρI)x = b", "'pnp-pgd' or 'red' with method='gd'")

    def _check_problem(self, problem: InverseProblem) -> None:
        check_init_for(self.name, self.init, problem)


def check_init_for(solver: str, init: str | Tensor, problem: InverseProblem) -> None:
    """Early checks of ``init`` against the problem (shape; ``adjoint`` needs a linear operator)."""
    operator = problem.operator
    if isinstance(init, Tensor):
        shape = (problem.batch_size, *operator.in_shape)
        if tuple(init.shape) != shape:
            raise ValueError(f"{solver}: init must have shape {shape}, got {tuple(init.shape)}")
        if init.is_complex() or not init.is_floating_point():
            raise TypeError(f"{solver}: init must be a real floating-point tensor, got dtype {init.dtype}")
        if not bool(torch.isfinite(init).all()):
            raise ValueError(f"{solver}: init contains NaN or Inf")
    elif init == "adjoint" and not operator.is_linear:
        raise ValueError(
            f"{solver}: init='adjoint' needs a linear operator, got the nonlinear {type(operator).__name__}; "
            "use init='pinv' or 'zeros' or pass a tensor"
        )


def initial_iterate(init: str | Tensor, problem: InverseProblem, rcond: float) -> Tensor:
    """The initial image ``(B, *in_shape)`` in the problem's real dtype (see the module docs)."""
    operator = problem.operator
    dtype, device = problem.dtype, problem.device
    shape = (problem.batch_size, *operator.in_shape)
    if isinstance(init, Tensor):
        return init.detach().to(device=device, dtype=dtype).clone()
    if init == "zeros":
        return torch.zeros(shape, dtype=dtype, device=device)
    if init == "adjoint":
        return require_linear(operator, "init='adjoint'").apply_adjoint(problem.y).real.to(dtype).clone()
    estimate = pseudo_inverse_estimate(problem, rcond)
    if estimate is None:  # nonlinear operator without an inverse heuristic
        return torch.full(shape, 0.5, dtype=dtype, device=device)
    return estimate.clone()


def item_norm(v: Tensor) -> Tensor:
    """Euclidean norm per batch item, shape ``(B,)``."""
    return v.flatten(1).norm(dim=1)


def lipschitz(solver: str, problem: InverseProblem, x0: Tensor) -> float | Tensor:
    r""":math:`\|A\|^2`, the Lipschitz constant of the data gradient (a float).

    For a nonlinear operator: :math:`\|J_A(x_0)\|^2` at the initial point, one value per image
    (a tensor ``(B, 1, ..., 1)``), so that each image gets the step it would get alone."""
    operator = problem.operator
    if isinstance(operator, LinearOperator):
        operator_norm_sq = float(operator.norm()) ** 2
        if not operator_norm_sq > 0:
            raise ValueError(
                f"{solver}: problem.operator ({type(operator).__name__}) has norm 0, expected a nonzero norm: "
                "it measures nothing of x (e.g. a mask that hides every pixel), and the data step 1/||A||^2 is undefined"
            )
        return operator_norm_sq
    norm_sq = _jacobian_norm_sq(operator, x0)
    if not bool((norm_sq > 0).all()):
        raise ValueError(
            f"{solver}: the Jacobian of {type(operator).__name__} vanishes at the initial point of "
            f"{int((norm_sq <= 0).sum())} image(s); pass an explicit step or another init"
        )
    return norm_sq.view((-1,) + (1,) * (x0.ndim - 1))


def _jacobian_norm_sq(operator: Operator, x0: Tensor, *, max_iter: int = 100, tol: float = 1e-4, seed: int = 0) -> Tensor:
    r"""Per-image :math:`\|J_A(x_0)\|^2` by power iteration on :math:`J^H J` (deterministic start,
    each image stops when its estimate changed by less than ``tol`` relative)."""
    jacobian = operator.linearize(x0)
    generator = torch.Generator(device=x0.device).manual_seed(seed)
    # the same start for every image (not one draw per batch position): a batch equals its items
    v = torch.randn((1, *x0.shape[1:]), generator=generator, dtype=x0.dtype, device=x0.device).expand(x0.shape)
    view = (-1,) + (1,) * (x0.ndim - 1)
    v = v / item_norm(v).view(view)
    estimate = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
    active = torch.ones(x0.shape[0], dtype=torch.bool, device=x0.device)
    for _ in range(max_iter):
        w = real_like(jacobian.apply_adjoint(jacobian.apply_forward(v)), x0)
        new = item_norm(w)
        converged = (new - estimate).abs() <= tol * new
        # each image stops on its own, so that its estimate does not depend on the rest of the batch
        estimate = torch.where(active, new, estimate)
        v = torch.where(active.view(view), w / new.clamp_min(torch.finfo(x0.dtype).tiny).view(view), v)
        active = active & ~converged
        if not bool(active.any()):
            break
    return estimate


def call_prior(
    solver: str, fn: Callable[[Tensor, float], Tensor], x: Tensor, level: float, step: int, monitor: Monitor
) -> Tensor:
    """Run ``fn(x, level)`` (a prior's prox or denoiser); when it refuses a non-finite input, raise the
    solver's :class:`NonFiniteError` instead of the prior's ValueError."""
    try:
        return fn(x, level)
    except ValueError as err:
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError(solver, step, monitor.last_finite) from err
        raise


def finish(x: Tensor, clip: bool) -> Tensor:
    return x.clamp(0.0, 1.0) if clip else x

