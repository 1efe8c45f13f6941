"""Solvers by name: build any solver from its registry name and keyword overrides."""

from __future__ import annotations

import dataclasses
from typing import Any

from reddiff_imaging.solvers import presets
from reddiff_imaging.solvers.base import Solver

_SOLVERS: dict[str, type[Solver]] = {}


def register(cls: type[Solver]) -> type[Solver]:
    """Add a solver class to the registry under ``cls.name``.

    Raises:
        TypeError: ``cls`` is not a subclass of :class:`~reddiff_imaging.solvers.Solver`, or its
            ``name`` is not a non-empty string.
    """
    if not (isinstance(cls, type) and issubclass(cls, Solver)):
        raise TypeError(f"cls must be a subclass of reddiff_imaging.solvers.Solver, got {cls!r} ({type(cls).__name__})")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"cls must set the class attribute name to a non-empty string (its registry name), got {name!r}")
    _SOLVERS[name] = cls
    return cls


def available() -> list[str]:
    """The registered solver names."""
    return sorted(_SOLVERS)


def solver_class(name: str) -> type[Solver]:
    """The class registered as ``name`` (a ValueError lists the valid names)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a solver name (a str), one of {', '.join(available())}; got {name!r} ({type(name).__name__})")
    if name not in _SOLVERS:
        raise ValueError(f"unknown solver {name!r}; available: {', '.join(available())}")
    return _SOLVERS[name]


def get(name: str, *, preset: str | None = None, task: str | None = None, **overrides: Any) -> Solver:
    """Build the solver ``name`` with its defaults, overridden by the options of ``preset`` for
    ``task`` (see :mod:`reddiff_imaging.solvers.presets`, e.g. ``preset="paper"``), then by
    ``overrides`` (deprecated option names, :attr:`Solver.renamed`, are accepted with a warning).

    Raises:
        TypeError: a name that is not a string.
        ValueError: unknown name (the message lists the valid ones) or unknown option (the message
            lists the solver's options); an unknown preset, a task without a setting in it, or a
            ``preset`` without a ``task`` (or the other way round).
    """
    cls = solver_class(name)
    overrides = cls.current_options(overrides)
    options = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for solver {name!r}; its options are {options}")
    if (preset is None) != (task is None):
        raise ValueError(f"preset and task go together (a preset holds one setting per task), got preset={preset!r}, task={task!r}")
    if preset is not None and task is not None:
        overrides = {**presets.options(name, preset, task), **overrides}
    return cls(**overrides)
