"""The package's own exceptions.

:class:`ReddiffImagingError` is the base of the errors that say "this combination of parts cannot
work" (as opposed to a bad argument, which stays a plain ``ValueError``/``TypeError``), so a script
can catch them in one clause.
"""

from __future__ import annotations

__all__ = ["ReddiffImagingError", "UnsupportedProblemError"]


class ReddiffImagingError(Exception):
    """Base class of the package's own errors."""


class UnsupportedProblemError(ReddiffImagingError, TypeError, ValueError):
    """A solver cannot run this problem with this prior: a nonlinear operator for a method defined for
    linear ones, an operator without the SVD a method needs, a noise model the method has no data
    term for, or a prior without a capability the method needs.

    It is a ``TypeError`` and a ``ValueError`` too, the types these refusals had before they had a
    class of their own. :meth:`reddiff_imaging.solvers.Solver.check` says the same without raising.
    """
