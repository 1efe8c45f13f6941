r"""Measurement noise models, kept separate from the forward operators.

A noise model draws a noisy measurement from a clean one, :math:`y \sim p(y \mid A x)`, with
randomness from an explicit :class:`torch.Generator`; it never changes its own state. Noise levels
are in the units of the public image range ``[0, 1]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from reddiff_imaging._validation import check_generator, check_positive, check_tensor

__all__ = ["NoiseModel", "Gaussian", "Poisson"]


class NoiseModel(ABC):
    """Interface of a measurement noise model."""

    @abstractmethod
    def sample(self, clean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw a noisy measurement given the clean one :math:`A x`."""

    def __call__(self, clean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.sample(clean, generator)

    def check_measurement(self, y: Tensor, name: str = "y") -> None:
        """Refuse a measurement this model cannot have produced (checked by
        :class:`~reddiff_imaging.InverseProblem`); every value is possible by default."""


@dataclass(frozen=True)
class Gaussian(NoiseModel):
    r"""Additive white Gaussian noise :math:`y = Ax + \sigma n`, :math:`n \sim \mathcal N(0, I)`.

    For complex measurements the real and imaginary parts each get standard deviation
    :math:`\sigma`. ``sigma = 0`` gives noise-free measurements (and says so: it is a valid model).
    """

    sigma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_positive(self.sigma, "sigma", allow_zero=True))

    def sample(self, clean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_tensor(clean, "clean")
        check_generator(generator)
        if self.sigma == 0:
            return clean.clone()
        real = clean.real.dtype if clean.is_complex() else clean.dtype
        noise = torch.randn(clean.shape, dtype=real, device=clean.device, generator=generator)
        if clean.is_complex():
            imag = torch.randn(clean.shape, dtype=real, device=clean.device, generator=generator)
            noise = torch.complex(noise, imag)
        return clean + self.sigma * noise


@dataclass(frozen=True)
class Poisson(NoiseModel):
    r"""Scaled Poisson (shot) noise :math:`y = g \cdot \mathrm{Poisson}(Ax / g)` with gain :math:`g > 0`.

    The mean is :math:`Ax` and the variance :math:`g\,Ax`: a smaller gain means more photons and less
    noise. Needs real, non-negative clean measurements.
    """

    gain: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", check_positive(self.gain, "gain"))

    def sample(self, clean: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_tensor(clean, "clean", allow_complex=False)
        check_generator(generator)
        if bool((clean < 0).any()):
            raise ValueError("clean must be non-negative for Poisson noise, got negative values")
        return self.gain * torch.poisson(clean / self.gain, generator=generator)

    def check_measurement(self, y: Tensor, name: str = "y") -> None:
        """Poisson measurements are real and non-negative (``gain`` times a count)."""
        if y.is_complex():
            raise TypeError(f"{name} must be real for Poisson noise (gain times photon counts), got dtype {y.dtype}")
        if bool((y < 0).any()):
            raise ValueError(f"{name} must be non-negative for Poisson noise (gain times photon counts), got values down to {float(y.min()):g}")
