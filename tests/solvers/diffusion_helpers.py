"""Test helpers for the diffusion solvers: a small random ε-network and a prior that records the
timesteps it is asked about."""

from __future__ import annotations

import math

import torch
from torch import nn

from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.schedules import VPSchedule


class TinyEpsNetwork(nn.Module):
    r"""A fixed random smooth network :math:`\varepsilon(x, t) = \tanh(W x + \cos(t/300)\,b)`, float64."""

    def __init__(self, shape: tuple[int, int, int], seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        dim = math.prod(shape)
        self.weight = nn.Parameter(torch.randn(dim, dim, generator=g, dtype=torch.float64) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1) @ self.weight.T + torch.cos(t.to(x.dtype)[:, None] / 300) * self.bias
        return torch.tanh(h).reshape(x.shape)


def tiny_prior(shape: tuple[int, int, int], seed: int = 0, schedule: VPSchedule | None = None) -> DiffusionPrior:
    """A :class:`DiffusionPrior` around :class:`TinyEpsNetwork`."""
    return DiffusionPrior(TinyEpsNetwork(shape, seed), schedule, channels=shape[0])


class RecordingPrior(DiffusionModel):
    """A smooth differentiable ε-model that records the timesteps it is evaluated at."""

    def __init__(self, schedule: VPSchedule | None = None) -> None:
        super().__init__(schedule or VPSchedule.linear())
        self.timesteps: list[int] = []

    def _eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.timesteps.append(int(t[0]))
        return 0.1 * torch.tanh(x_t)
