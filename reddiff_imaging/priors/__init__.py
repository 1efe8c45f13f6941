"""Priors: what we believe about the image.

One interface (:class:`Prior`) with optional capabilities — ``denoise``, ``prox``, ``grad`` and,
for diffusion models, ``eps``/``x0``/``score`` — and interchangeable implementations: diffusion
priors from networks (:class:`DiffusionPrior`, with :meth:`DiffusionPrior.default` the bundled
trained prior), total variation (:class:`TV`), classical denoisers, and an analytic Gaussian
mixture with exact scores and posteriors (:class:`GaussianMixture`).
"""

from reddiff_imaging.priors.adapters import DenoiserDiffusion, as_diffusion
from reddiff_imaging.priors.base import DiffusionModel, MissingCapabilityError, Prior
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

__all__ = [
    "Prior",
    "DiffusionModel",
    "MissingCapabilityError",
    "DiffusionPrior",
    "VPSchedule",
    "DenoiserDiffusion",
    "as_diffusion",
    "TV",
    "DenoiserPrior",
    "GaussianFilterDenoiser",
    "MedianDenoiser",
    "WaveletDenoiser",
    "BM3DDenoiser",
    "DeepinvDenoiser",
    "GaussianMixture",
    "GaussianMixturePosterior",
]
