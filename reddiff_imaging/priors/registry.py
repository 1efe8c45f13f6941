"""Priors by name: build any of the project's named priors from its registry name and keyword options.

The workbench and the command line build their named priors here (``compare(priors=["tv"])``,
``--priors natural``). Specs with a path (``checkpoint:PATH``, ``drunet:PATH``), the adapters
``gray:NAME`` and ``channelwise:NAME``, ``module:attribute`` references and the user's own objects
are read on top of this registry by :mod:`reddiff_imaging.workbench.parts`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.denoisers import (
    BM3DDenoiser,
    GaussianFilterDenoiser,
    MedianDenoiser,
    WaveletDenoiser,
)
from reddiff_imaging.priors.diffusion import DiffusionPrior
from reddiff_imaging.priors.tv import TV

__all__ = ["Factory", "available", "describe", "get", "register"]

#: what builds a named prior: called with the keyword options given to :func:`get`
Factory = Callable[..., Prior]

_PRIORS: dict[str, tuple[Factory, str]] = {
    "default": (DiffusionPrior.default, "the bundled phantom diffusion prior (64×64 grayscale scenes; teaching, exact tests)"),
    "natural": (DiffusionPrior.natural, "the bundled natural-image diffusion prior (colour photographs; gray:natural for gray images)"),
    "tv": (TV, "total variation, weight 1 (for ADMM, whose lam sets the strength)"),
    "tv-denoiser": (functools.partial(TV, weight=8.5), "total variation as a MAP denoiser, weight 8.5 (best at sigma 0.1)"),
    "gaussian": (GaussianFilterDenoiser, "Gaussian filter denoiser"),
    "median": (MedianDenoiser, "median filter denoiser"),
    "wavelet": (WaveletDenoiser, "Haar wavelet soft-thresholding denoiser"),
    "bm3d": (BM3DDenoiser, "BM3D (needs the bm3d package)"),
}


def register(name: str, factory: Factory, description: str) -> Factory:
    """Add ``factory`` to the registry as ``name`` (replacing an entry of that name), with a
    one-line ``description``; returns ``factory``, so that it can decorate a function."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a non-empty string without ':' or '/' and without whitespace, got {name!r} ({type(name).__name__})")
    if not name or ":" in name or "/" in name or any(c.isspace() for c in name):
        raise ValueError(f"a prior name must be a non-empty string without ':' or '/' and without whitespace, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a one-line string, got {description!r} ({type(description).__name__})")
    if not description.strip() or "\n" in description:
        raise ValueError(f"description must be a non-empty one-line string, got {description!r}")
    _PRIORS[name] = (factory, description)
    return factory


def available() -> list[str]:
    """Names of the registered priors, in the order they were registered."""
    return list(_PRIORS)


def describe(name: str) -> str:
    """One-line description of a registered prior."""
    return _PRIORS[_check_name(name)][1]


def get(name: str, **options: Any) -> Prior:
    """Build the prior ``name`` with its defaults, overridden by ``options`` (the keyword arguments
    of its factory, e.g. ``get("tv", weight=2.0)``, ``get("default", map_location="cuda")``).

    Raises:
        TypeError: a name that is not a string, or a factory that does not return a
            :class:`~reddiff_imaging.priors.Prior`.
        ValueError: unknown name (the message lists the valid ones) or unknown option (the message
            lists the prior's options).
    """
    factory = _PRIORS[_check_name(name)][0]
    if options:
        parameters = inspect.signature(factory).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            unknown = sorted(set(options) - set(parameters))
            if unknown:
                raise ValueError(f"unknown option(s) {unknown} for prior {name!r}; its options are {list(parameters)}")
    prior = factory(**options)
    if not isinstance(prior, Prior):
        raise TypeError(
            f"the factory registered as prior {name!r} ({getattr(factory, '__name__', factory)!r}) returned "
            f"{type(prior).__name__}, not a reddiff_imaging.priors.Prior"
        )
    return prior


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a prior name (a str), one of {', '.join(_PRIORS)}; got {name!r} ({type(name).__name__})")
    if name not in _PRIORS:
        raise ValueError(f"unknown prior {name!r}; available: {', '.join(_PRIORS)}")
    return name
