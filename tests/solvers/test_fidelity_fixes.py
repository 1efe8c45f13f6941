"""Fixes found by comparing the diffusion solvers with their official code: the timestep grid keeps
the largest timesteps, DiffPIR weighs its data step with the public noise level, RED-diff starts
from the pseudo-inverse in the network's range."""

from __future__ import annotations

import math

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors.sampling import timestep_sequence
from reddiff_imaging.priors.schedules import VPSchedule
from reddiff_imaging.solvers import DDIM, DDRM, DPS, DiffPIR, PiGDM, RedDiff
from tests.solvers.diffusion_helpers import RecordingPrior, tiny_prior

SHAPE = (1, 4, 4)


@pytest.mark.parametrize(("steps", "largest"), [(100, 990), (600, 998), (300, 996), (400, 997), (1000, 999), (7, 857)])
def test_timestep_grid_spans_the_schedule_whatever_the_step_count(steps: int, largest: int) -> None:
    ts = timestep_sequence(1000, steps)
    assert len(ts) == len(set(ts)) == steps
    assert ts[0] == largest and ts[-1] == 0 and ts == sorted(ts, reverse=True)
    if 1000 % steps == 0:  # the official DDIM / DDRM / RED-diff grid
        assert ts == list(range(0, 1000, 1000 // steps))[::-1]


@pytest.mark.parametrize(
    "solver",
    [RedDiff(steps=300), DPS(steps=300), PiGDM(steps=300), DDRM(steps=300), DDIM(steps=300), DiffPIR(steps=300, schedule="uniform")],
    ids=["reddiff", "dps", "pigdm", "ddrm", "ddim", "diffpir"],
)
def test_every_diffusion_solver_starts_at_the_largest_timesteps(solver) -> None:
    prior = RecordingPrior()
    operator = ops.Inpainting(ops.box_mask((4, 4), 2), SHAPE)
    problem = ri.InverseProblem(operator, torch.full((1, *SHAPE), 0.5, dtype=torch.float64), ri.noise.Gaussian(0.05))
    solver.solve(problem, prior, torch.Generator().manual_seed(0))
    assert max(prior.timesteps) >= 996, f"{solver.name} visited at most t = {max(prior.timesteps)}"
    assert prior.timesteps[0] == max(prior.timesteps)


def test_diffpir_data_weight_uses_the_public_noise_level() -> None:
    # two timesteps (quad grid [1, 0]) of a short schedule, where rho_1 is of order one
    schedule = VPSchedule.linear(0.3, 0.4, num_timesteps=2)
    prior = tiny_prior(SHAPE, schedule=schedule)
    sigma, lam = 0.1, 7.0
    g = torch.Generator().manual_seed(0)
    x_true = torch.rand(1, *SHAPE, generator=g, dtype=torch.float64)
    problem = ri.InverseProblem.simulate(ops.Identity(SHAPE), x_true, ri.noise.Gaussian(sigma), g)
    out = DiffPIR(steps=2, lam=lam, zeta=0.0, clip=False).solve(problem, prior, torch.Generator().manual_seed(1)).x
    # by hand: x_1 ~ N(0, I); x0 = clip(Tweedie); x0~ = (y' + rho x0) / (1 + rho) with rho = lam sigma^2 / sigma_1^2
    a1, a0 = (float(a) for a in schedule.alphas_cumprod.flip(0))
    x = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x0 = prior.x0(x, 1).clamp(-1, 1)
    rho = lam * sigma**2 * a1 / (1 - a1)
    corrected = (2 * problem.y - 1 + rho * x0) / (1 + rho)
    eps = (x - math.sqrt(a1) * corrected) / math.sqrt(1 - a1)
    expected = (math.sqrt(a0) * corrected + math.sqrt(1 - a0) * eps + 1) / 2
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_reddiff_pseudo_inverse_start_is_mid_grey_on_unobserved_pixels() -> None:
    mask = ops.box_mask((4, 4), 2)
    operator = ops.Inpainting(mask, SHAPE)
    y = operator(torch.full((1, *SHAPE), 0.9, dtype=torch.float64))
    problem = ri.InverseProblem(operator, y, ri.noise.Gaussian(0.0))
    first: list[torch.Tensor] = []
    RedDiff(steps=1, lr=1e-12).solve(problem, tiny_prior(SHAPE), callback=lambda s, it, terms: first.append(it))
    start = (first[0] + 1) / 2  # the iterate is in the network's range
    observed = operator.mask.expand(SHAPE).bool()[None]
    torch.testing.assert_close(start[observed], torch.full_like(start[observed], 0.9), atol=1e-9, rtol=0)
    torch.testing.assert_close(start[~observed], torch.full_like(start[~observed], 0.5), atol=1e-9, rtol=0)
