"""Priors: what we believe about the image.

One interface (:class:`Prior`) with optional capabilities — ``denoise``, ``prox``, ``grad`` and,
for diffusion models, ``eps``/``x0``/``score`` — and interchangeable implementations: diffusion
priors from networks (:class:`DiffusionPrior`, with :meth:`DiffusionPrior.default` the bundled
trained prior), total variation (:class:`TV`), classical denoisers, and an analytic Gaussian
mixture with exact scores and posteriors (:class:`GaussianMixture`). A prior declares the image
channels it works on (:attr:`Prior.channels`, ``None`` for any); :class:`Channelwise` runs a
one-channel prior on each channel of a colour image when asked to, and :class:`GrayFromColour` a
colour diffusion prior on gray images; :class:`SelfEnsemble` averages a diffusion prior over the
rotations and flips of the grid.

Adapters for deepinv (:mod:`reddiff_imaging.priors.deepinv_adapters`, loaded on first use since
they import deepinv): :class:`DiffusionDenoiser`, :class:`PriorDenoiser`, :class:`DeepinvTV`.
"""

from reddiff_imaging.priors.adapters import DenoiserDiffusion, as_diffusion
from reddiff_imaging.priors.base import DiffusionModel, ImageShapeNote, MissingCapabilityError, Prior
from reddiff_imaging.priors.channelwise import Channelwise
from reddiff_imaging.priors.gray import GrayFromColour
from reddiff_imaging.priors.ensemble import SelfEnsemble
from reddiff_imaging.priors.denoisers import (
    BM3DDenoiser,
    DeepinvDenoiser,
    DenoiserPrior,
    GaussianFilterDenoiser,
    MedianDenoiser,
    WaveletDenoiser,
)
from reddiff_imaging.priors.diffusion import DiffusionPrior
from reddiff_imaging.priors.gaussian_mixture import (
    GaussianMixture,
    GaussianMixturePosterior,
)
from reddiff_imaging.priors.schedules import VPSchedule
from reddiff_imaging.priors.tv import TV
from reddiff_imaging.priors import registry as registry  # re-exported: priors.registry.get(name)

__all__ = [
    "Prior",
    "DiffusionModel",
    "MissingCapabilityError",
    "ImageShapeNote",
    "DiffusionPrior",
    "VPSchedule",
    "DenoiserDiffusion",
    "as_diffusion",
    "Channelwise",
    "GrayFromColour",
    "SelfEnsemble",
    "TV",
    "DenoiserPrior",
    "GaussianFilterDenoiser",
    "MedianDenoiser",
    "WaveletDenoiser",
    "BM3DDenoiser",
    "DeepinvDenoiser",
    "GaussianMixture",
    "GaussianMixturePosterior",
    "DiffusionDenoiser",
    "PriorDenoiser",
    "DeepinvTV",
]

_DEEPINV_ADAPTERS = ("DiffusionDenoiser", "PriorDenoiser", "DeepinvTV")


def __getattr__(name: str) -> object:
    # the adapters subclass deepinv's classes, so importing them imports deepinv (seconds)
    if name in _DEEPINV_ADAPTERS:
        from reddiff_imaging.priors import deepinv_adapters

        return getattr(deepinv_adapters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
