"""Every registered solver through the one interface, on every device: shapes, dtype, device,
history and configuration."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV, GaussianMixture
from reddiff_imaging.solvers import ADMM, PnPPGD, RedDiff, Result, available, get
from reddiff_imaging.solvers.registry import solver_class
from reddiff_imaging.workbench.parts import build_solver

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
    result = get(name, steps=10).solve(problem, prior, torch.Generator(device=device).manual_seed(1))
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


def test_one_name_per_concept() -> None:
    """The outer loop count is ``steps`` and the singular-value cut-off ``rcond`` in every solver."""
    for name in available():
        fields = {f.name for f in dataclasses.fields(solver_class(name))}
        assert "steps" in fields and "iterations" not in fields and "pinv_rcond" not in fields, name


@pytest.mark.parametrize(
    "build",
    [
        lambda: ADMM(iterations=7, pinv_rcond=0.1),
        lambda: get("admm", iterations=7, pinv_rcond=0.1),
        lambda: build_solver("admm", {"iterations": 7, "pinv_rcond": 0.1}),  # the workbench's --set admm.iterations=7
    ],
    ids=["class", "registry", "workbench"],
)
def test_old_option_names_still_work_with_a_deprecation_warning(build) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        solver = build()
    assert solver == ADMM(steps=7, rcond=0.1)
    messages = sorted(str(w.message) for w in caught if w.category is DeprecationWarning)
    assert "'iterations' is now called 'steps'" in messages[0] and "'pinv_rcond' is now called 'rcond'" in messages[1]


def test_renamed_options_warn_once_and_refuse_both_names() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PnPPGD(steps=3).steps == 3 and RedDiff(rcond=0.1).rcond == 0.1  # current names: no warning
    with pytest.warns(DeprecationWarning, match="'pinv_rcond' is now called 'rcond'"):
        assert RedDiff(pinv_rcond=0.2).rcond == 0.2
    with pytest.raises(TypeError, match="got both 'iterations' and 'steps'"):
        PnPPGD(iterations=3, steps=4)
    with pytest.raises(TypeError, match="got both 'iterations' and 'steps'"):
        get("red", iterations=3, steps=4)
