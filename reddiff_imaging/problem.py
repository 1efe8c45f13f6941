"""An inverse problem: forward operator, measurement, noise model and optional ground truth."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from reddiff_imaging._validation import check_device, check_generator, check_tensor
from reddiff_imaging.noise import Gaussian, NoiseModel
from reddiff_imaging.operators.base import Operator

__all__ = ["InverseProblem"]


@dataclass(frozen=True)
class InverseProblem:
    r"""Recover :math:`x` from :math:`y \sim p(y \mid A x)`.

    Validated on construction: ``y`` has shape ``(B, *operator.out_shape)``, is finite and lives on
    the operator's device; ``x_true`` (optional, for metrics) has shape ``(B, *operator.in_shape)``
    with the same batch size, device and precision.

    Args:
        operator: the forward model :math:`A`.
        y: measurements.
        noise: the noise model that produced ``y``.
        x_true: ground truth images in ``[0, 1]``, if known.
    """

    operator: Operator
    y: Tensor
    noise: NoiseModel
    x_true: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.operator, Operator):
            raise TypeError(f"operator must be a reddiff_imaging Operator, got {type(self.operator).__name__}")
        if not isinstance(self.noise, NoiseModel):
            raise TypeError(f"noise must be a NoiseModel (e.g. Gaussian(0.05)), got {type(self.noise).__name__}")
        self.operator.check_output(self.y, "y")
        self.noise.check_measurement(self.y, "y")
        if self.x_true is not None:
            self.operator.check_input(self.x_true, "x_true")
            if self.x_true.shape[0] != self.y.shape[0]:
                raise ValueError(
                    f"x_true and y must have the same batch size, got {self.x_true.shape[0]} and {self.y.shape[0]}"
                )
            if self.x_true.device != self.y.device:
                raise ValueError(f"x_true is on {self.x_true.device} but y is on {self.y.device}")
            if self.x_true.dtype != self.dtype:
                raise TypeError(f"x_true must have dtype {self.dtype} (the precision of y), got {self.x_true.dtype}")

    @classmethod
    def simulate(
        cls,
        operator: Operator,
        x_true: Tensor,
        noise: NoiseModel,
        generator: torch.Generator | None = None,
    ) -> InverseProblem:
        """Simulate a measurement ``y = noise(operator(x_true))`` and build the problem."""
        if not isinstance(operator, Operator):
            raise TypeError(f"operator must be a reddiff_imaging Operator, got {type(operator).__name__}")
        if not isinstance(noise, NoiseModel):
            raise TypeError(f"noise must be a NoiseModel (e.g. Gaussian(0.05)), got {type(noise).__name__}")
        check_generator(generator)
        clean = operator(check_tensor(x_true, "x_true"))
        return cls(operator, noise.sample(clean, generator), noise, x_true)

    @property
    def batch_size(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.y.device

    @property
    def dtype(self) -> torch.dtype:
        """Real precision of the problem (float32 or float64), also for complex measurements."""
        return self.y.real.dtype if self.y.is_complex() else self.y.dtype

    @property
    def sigma(self) -> float:
        """Standard deviation of Gaussian noise; a clear error for other noise models."""
        if not isinstance(self.noise, Gaussian):
            raise TypeError(f"this problem's noise is {type(self.noise).__name__}, not Gaussian: it has no sigma")
        return self.noise.sigma

    def to(self, device: torch.device | str) -> InverseProblem:
        """The same problem on another device (the operator is copied, not moved in place)."""
        device = check_device(device)
        x_true = None if self.x_true is None else self.x_true.to(device)
        return InverseProblem(copy.deepcopy(self.operator).to(device), self.y.to(device), self.noise, x_true)
