"""Bad arguments of solver constructors and of ``solve``: refused before any step runs, naming the
argument, what was expected and what came."""

from __future__ import annotations

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV, GaussianMixture
from reddiff_imaging.priors.schedules import VPSchedule
from reddiff_imaging.solvers import ADMM, RedDiff, available, get
from tests.solvers.diffusion_helpers import RecordingPrior


def _problem() -> ri.InverseProblem:
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return ri.InverseProblem.simulate(ops.Inpainting(torch.ones(4, 4), (1, 4, 4)), x, ri.noise.Gaussian(0.05))


def _no_step(*args: object) -> None:
    raise AssertionError("a step ran before the bad argument was refused")


@pytest.mark.parametrize("generator", [3, 1.5, "seed", torch.ones(2), [1, 2], [torch.Generator(), "g"]])
def test_a_generator_of_the_wrong_type_is_a_type_error(generator: object) -> None:
    with pytest.raises(TypeError, match="generator must be a torch.Generator or a sequence of 2 generators"):
        ADMM(steps=2).solve(_problem(), TV(), generator, callback=_no_step)  # type: ignore[arg-type]


def test_a_sequence_of_generators_of_the_wrong_length_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="sequence of 2 generators .*got a sequence of 3"):
        ADMM(steps=2).solve(_problem(), TV(), [torch.Generator() for _ in range(3)], callback=_no_step)
    # any iterable of generators is taken (one per batch item)
    ADMM(steps=2).solve(_problem(), TV(), (torch.Generator().manual_seed(k) for k in range(2)))


@pytest.mark.parametrize("callback", [3, "print", [print]])
def test_a_callback_that_cannot_be_called_is_refused_before_any_step(callback: object) -> None:
    with pytest.raises(TypeError, match=r"callback must be a function callback\(step, iterate, terms\) or None, got"):
        ADMM(steps=2).solve(_problem(), TV(), callback=callback)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", available())
def test_float_options_beyond_the_float32_range_are_refused(name: str) -> None:
    """1e300 passed check_real and failed inside torch ('value cannot be converted to type float
    without overflow') or as a non-finite iterate after the first step."""
    option = {"admm": "rho", "ddim": "eta", "ddrm": "eta", "diffpir": "sigma_floor", "dpir": "lam", "dps": "zeta", "pigdm": "guidance_scale",
              "pnp-admm": "rho_growth", "pnp-pgd": "step_scale", "red": "lam", "reddiff": "lr"}[name]
    with pytest.raises(ValueError, match=f"{option} must be at most 3.403e\\+38 in magnitude \\(the float32 range\\), got 1e\\+300"):
        get(name, **{option: 1e300})


def test_reddiff_checks_its_options_and_init_before_any_step() -> None:
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got -1.0"):
        RedDiff(optimizer="sgd", momentum=-1.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.5"):
        RedDiff(momentum=1.5)
    problem = _problem()
    prior = GaussianMixture.random(2, (1, 4, 4), generator=torch.Generator().manual_seed(0))
    nan = torch.full((2, 1, 4, 4), float("nan"))
    with pytest.raises(ValueError, match="reddiff: init contains NaN or Inf"):  # it failed as a non-finite iterate at step 0
        RedDiff(steps=2, init=nan).solve(problem, prior, callback=_no_step)
    with pytest.raises(TypeError, match="reddiff: init must be a real floating-point tensor, got dtype torch.int64"):
        RedDiff(steps=2, init=torch.ones(2, 1, 4, 4, dtype=torch.int64)).solve(problem, prior, callback=_no_step)
    with pytest.raises(ValueError, match=r"reddiff: init must have shape \(2, 1, 4, 4\), got \(3, 1, 4, 4\)"):
        RedDiff(steps=2, init=torch.rand(3, 1, 4, 4)).solve(problem, prior, callback=_no_step)


DIFFUSION_SOLVERS = ("ddim", "ddrm", "diffpir", "dps", "pigdm", "reddiff")


@pytest.mark.parametrize("name", DIFFUSION_SOLVERS)
def test_more_steps_than_the_prior_has_timesteps_are_refused_before_any_step(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The bound depends on the prior, so it was checked inside the run, after the progress bar
    was drawn; the workbench met it only at the method's first unit, after other methods' work."""
    prior = RecordingPrior(VPSchedule.linear(num_timesteps=50))
    solver = get(name, steps=51)
    with pytest.raises(ValueError, match=f"steps must be from {solver.min_steps} to the prior's 50 timesteps for {name}, got 51"):
        solver.check_options(prior)
    with pytest.raises(ValueError, match="steps must be from"):
        solver.solve(_problem(), prior, callback=_no_step, progress=True)
    assert prior.timesteps == []
    assert capsys.readouterr().err == ""  # no progress bar was drawn
    get(name, steps=50).check_options(prior)


def test_diffpir_needs_two_steps_and_says_so_when_built() -> None:
    with pytest.raises(ValueError, match="steps must be an int >= 2, got 1"):
        get("diffpir", steps=1)


def test_check_options_refuses_a_non_prior() -> None:
    with pytest.raises(TypeError, match="prior must be a reddiff_imaging.priors.Prior, got str"):
        get("ddim").check_options("default")  # type: ignore[arg-type]


def test_dps_with_learned_variances_refuses_a_prior_without_them_before_any_step() -> None:
    """The missing variances were found after the first network call (and its backward pass)."""
    prior = RecordingPrior()
    assert prior.learned_variance is False
    with pytest.raises(ValueError, match=r"variance='learned' needs a prior whose network returns learned variances \(2C channels\)"):
        get("dps", steps=3, variance="learned").solve(_problem(), prior, callback=_no_step)
    assert prior.timesteps == []
