"""Every registered solver through the one interface, on every device: shapes, dtype, device,
history and configuration."""

from __future__ import annotations

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV, GaussianMixture
from reddiff_imaging.solvers import Result, available, get

FEW = {"steps": 10, "iterations": 10}


def _options(name: str) -> dict:
    fields = get(name).__dataclass_fields__
    return {k: v for k, v in FEW.items() if k in fields}


CLASSICAL = {"admm", "pnp-admm", "pnp-pgd", "red"}


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_solver_runs_through_the_interface(name: str, dtype: torch.dtype, device: torch.device) -> None:
    generator = torch.Generator().manual_seed(0)
    mixture = GaussianMixture.random(2, (1, 4, 4), generator=generator).to(device)
    prior = TV().to(device) if name == "admm" else mixture
    x = mixture.sample(2, generator=generator).to(device=device, dtype=dtype)
    operator = ops.Inpainting(ops.random_mask((4, 4), 0.5, generator=generator), (1, 4, 4)).to(device)
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.05), torch.Generator(device=device).manual_seed(0))
    result = get(name, **_options(name)).solve(problem, prior, torch.Generator(device=device).manual_seed(1))
    assert isinstance(result, Result)
    assert result.x.shape == x.shape and result.x.dtype == dtype and result.x.device.type == device.type
    assert torch.isfinite(result.x).all()
    # solvers whose step yields loss terms record them at every step; the classical solvers compute
    # their diagnostics every metrics_every steps (default 10) and at the last, as the PSNR
    steps = [r["step"] for r in result.history]
    assert steps[0] == 0 and steps[-1] == 9 and steps == sorted(set(steps))
    if name in CLASSICAL:
        assert steps == [0, 9]
    assert "psnr" in result.history[0] and "psnr" in result.history[-1]
    assert result.config["solver"] == name and result.seconds > 0 and result.peak_memory_bytes >= 0


def test_prior_on_another_device_is_refused() -> None:
    problem = ri.InverseProblem(ops.Identity((1, 4, 4)), torch.rand(1, 1, 4, 4), ri.noise.Gaussian(0.1))
    prior = GaussianMixture.random(1, (1, 4, 4)).to("meta")
    with pytest.raises(ValueError, match="prior is on meta but the problem is on cpu"):
        get("reddiff", steps=2).solve(problem, prior)
