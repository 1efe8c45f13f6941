"""What the benchmarks add to the public deepinv adapters (:mod:`reddiff_imaging.priors.deepinv_adapters`).

* :class:`CountingDiffusionDenoiser` — the public ``DiffusionDenoiser`` with a call counter;
* helpers that turn our discrete timesteps into deepinv's conventions (continuous VP time for
  DPS, public noise levels for DDRM), and :func:`ddrm_without_half_variance`, which removes the
  1/√2 deepinv's DDRM puts on its noise.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import deepinv as dinv
import numpy as np
import torch
from torch import Tensor

from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.deepinv_adapters import DiffusionDenoiser


class CountingDiffusionDenoiser(DiffusionDenoiser):
    """The public :class:`~reddiff_imaging.priors.DiffusionDenoiser` that counts its network calls
    (the benchmark checks deepinv evaluates the network as often as ours)."""

    def __init__(self, prior: DiffusionModel) -> None:
        super().__init__(prior)
        self.calls = 0

    def forward(self, x: Tensor, sigma: float | Tensor, *args: object, **kwargs: object) -> Tensor:
        self.calls += 1
        return super().forward(x, sigma)


# ---------------------------------------------------------------------------- timestep conversions


def vp_time_for_alpha_bar(alpha_bar: float, beta_min: float = 0.1, beta_max: float = 20.0) -> float:
    r"""Continuous time :math:`t \in [0, 1]` of deepinv's ``VariancePreservingDiffusion`` whose
    scale :math:`s(t)^2 = e^{-B(t)}`, :math:`B(t) = \beta_{min} t + (\beta_{max}-\beta_{min}) t^2/2`,
    equals ``alpha_bar`` exactly (so :math:`\sigma(t)` is the discrete :math:`\sqrt{(1-\bar\alpha)/\bar\alpha}`)."""
    a = 0.5 * (beta_max - beta_min)
    c = math.log(alpha_bar)  # = -B(t)
    return (-beta_min + math.sqrt(beta_min**2 - 4 * a * c)) / (2 * a)


def dps_timesteps(timesteps: Sequence[int], alphas_cumprod: Sequence[float]) -> Tensor:
    """deepinv DPS solver times for our descending discrete ``timesteps``, ending at ``0`` (the
    last step then returns the denoised estimate, as our last step to :math:`\\bar\\alpha = 1`):
    ``len(timesteps) + 1`` times, ``len(timesteps)`` network evaluations."""
    times = [vp_time_for_alpha_bar(float(alphas_cumprod[t])) for t in timesteps] + [0.0]
    return torch.tensor(times, dtype=torch.float64)


def public_sigmas(timesteps: Sequence[int], alphas_cumprod: Sequence[float], scale: float = 2.0) -> list[float]:
    """Public-range noise levels :math:`\\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}/a` of our timesteps (DDRM's ``sigmas``)."""
    return [math.sqrt((1 - float(alphas_cumprod[t])) / float(alphas_cumprod[t])) / scale for t in timesteps]


# ---------------------------------------------------------------------------- DDRM noise


class _NumpyWithoutHalfVariance:
    """numpy, except ``sqrt(2.0) == 1``: removes deepinv DDRM's 1/√2 on its noise (diagnostics and tests)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def sqrt(value: Any) -> Any:
        return 1.0 if isinstance(value, float) and value == 2.0 else np.sqrt(value)


@contextlib.contextmanager
def ddrm_without_half_variance() -> Iterator[None]:
    """Within the block, deepinv's DDRM draws its noise with the paper's variance (no 1/√2)."""
    module: Any = sys.modules["deepinv.sampling.diffusion"]  # a ModuleType: its `np` global is not typed
    original = module.np
    module.np = _NumpyWithoutHalfVariance()
    try:
        yield
    finally:
        module.np = original
