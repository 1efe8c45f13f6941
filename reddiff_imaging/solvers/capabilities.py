r"""What a solver can run: the answer of :meth:`~reddiff_imaging.solvers.Solver.check`, and the typed
helpers that state a requirement once.

A solver declares what it needs from the prior in :attr:`~reddiff_imaging.solvers.Solver.requires`
(each entry a capability, or a tuple of alternatives: ``("eps", "denoise")`` reads "eps or
denoise") and what it needs from the problem in ``_unsupported`` (linear operator, SVD, a noise model
it has a data term for). :meth:`~reddiff_imaging.solvers.Solver.check` collects the reasons into a
:class:`Support`, which is true when there are none; ``solve`` raises it as
:class:`~reddiff_imaging.errors.UnsupportedProblemError` before any work, and the workbench asks
``check`` instead of catching exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reddiff_imaging._validation import check_instance
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.priors.base import DiffusionModel, MissingCapabilityError, Prior
from reddiff_imaging.problem import InverseProblem

__all__ = [
    "Requirement",
    "Support",
    "gaussian_reason",
    "linear_reason",
    "missing_capabilities",
    "normal_equation_reasons",
    "require_diffusion",
    "require_linear",
]

#: a prior capability, or alternatives of which one suffices
Requirement = str | tuple[str, ...]


@dataclass(frozen=True)
class Support:
    """Whether a solver can run a problem with a prior, and if not, why.

    Attributes:
        solver: the solver's name.
        missing: one sentence per prior capability the solver needs and the prior lacks.
        reasons: one sentence per property of the problem the solver cannot handle.
    """

    solver: str
    missing: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.solver, str) or not self.solver:
            raise TypeError(f"solver must be the solver's name (a non-empty str), got {self.solver!r} ({type(self.solver).__name__})")
        for field in ("missing", "reasons"):
            value = getattr(self, field)
            if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(isinstance(v, str) and v for v in value):
                raise TypeError(f"{field} must be a tuple of sentences (non-empty strs), got {value!r}")
            object.__setattr__(self, field, tuple(value))

    def __bool__(self) -> bool:
        return not (self.missing or self.reasons)

    @property
    def message(self) -> str:
        """All the reasons in one line (empty when supported)."""
        return "; ".join((*self.missing, *self.reasons))

    def raise_if_unsupported(self) -> None:
        """Raise :class:`~reddiff_imaging.priors.MissingCapabilityError` for a missing prior
        capability, else :class:`~reddiff_imaging.errors.UnsupportedProblemError` for an unsupported
        problem; nothing when supported."""
        if self.missing:
            raise MissingCapabilityError(self.message)
        if self.reasons:
            raise UnsupportedProblemError(f"{self.solver} {self.message}")


def missing_capabilities(requires: Sequence[Requirement], prior: Prior, solver: str) -> tuple[str, ...]:
    """One sentence per entry of ``requires`` that ``prior`` does not provide."""
    check_instance(prior, "prior", Prior, "reddiff_imaging.priors.Prior")
    if isinstance(requires, str) or not isinstance(requires, (tuple, list)):
        raise TypeError(f"requires must be a list of capabilities (each a str or a tuple of alternatives), got {requires!r}")
    for need in requires:
        if not (isinstance(need, str) or (isinstance(need, tuple) and need and all(isinstance(n, str) for n in need))):
            raise TypeError(f"each entry of requires must be a capability (str) or a non-empty tuple of alternatives, got {need!r}")
    reasons = (prior.missing(*((need,) if isinstance(need, str) else need), user=solver) for need in requires)
    return tuple(reason for reason in reasons if reason is not None)


def linear_reason(operator: Operator, why: str, alternatives: str) -> str | None:
    """None for a linear operator; for a nonlinear one a sentence naming it, why linearity is needed
    and what to use instead."""
    check_instance(operator, "operator", Operator, "reddiff_imaging.operators.Operator")
    if isinstance(operator, LinearOperator):
        return None
    return (
        f"needs a linear operator ({why}); got the nonlinear operator {type(operator).__name__} "
        f"(in_shape={operator.in_shape}, out_shape={operator.out_shape}). {alternatives}"
    )


def normal_equation_reasons(problem: InverseProblem, why: str, alternative: str) -> list[str | None]:
    """The reasons a method that solves normal equations :math:`(A^HA + \rho I)x = b` refuses
    ``problem`` (a nonlinear operator, non-Gaussian noise), each naming ``alternative``."""
    check_instance(problem, "problem", InverseProblem, "reddiff_imaging.InverseProblem")
    return [
        linear_reason(
            problem.operator, why, f"Use {alternative}, which handles nonlinear operators through vector-Jacobian products."
        ),
        gaussian_reason(problem, f"{why}; use {alternative} for other noise models"),
    ]


def require_linear(operator: Operator, solver: str) -> LinearOperator:
    """``operator`` typed as a :class:`~reddiff_imaging.operators.LinearOperator`, or
    :class:`~reddiff_imaging.errors.UnsupportedProblemError` (the narrowing a solver that was
    checked to be linear uses instead of ``type: ignore``)."""
    check_instance(operator, "operator", Operator, "reddiff_imaging.operators.Operator")
    if not isinstance(operator, LinearOperator):
        raise UnsupportedProblemError(f"{solver} needs a linear operator, got the nonlinear {type(operator).__name__}")
    return operator


def require_diffusion(prior: Prior, solver: str) -> DiffusionModel:
    """``prior`` typed as a :class:`~reddiff_imaging.priors.DiffusionModel`, or
    :class:`~reddiff_imaging.priors.MissingCapabilityError` naming what it provides (the narrowing a
    solver that requires ``"eps"`` uses)."""
    check_instance(prior, "prior", Prior, "reddiff_imaging.priors.Prior")
    if not isinstance(prior, DiffusionModel):
        raise MissingCapabilityError(prior.missing("eps", user=solver) or f"{solver} needs a diffusion prior")
    return prior


def gaussian_reason(problem: InverseProblem, why: str = "") -> str | None:
    """None for Gaussian measurement noise, else a sentence naming the problem's noise model (and
    ``why`` the method needs Gaussian noise)."""
    check_instance(problem, "problem", InverseProblem, "reddiff_imaging.InverseProblem")
    if isinstance(problem.noise, Gaussian):
        return None
    because = f" ({why})" if why else ""
    return (
        f"needs Gaussian measurement noise (reddiff_imaging.noise.Gaussian(sigma)){because}; "
        f"this problem's noise is {type(problem.noise).__name__}"
    )

