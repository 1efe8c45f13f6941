"""RED-diff: exact-posterior checks, quality on held-out images, reproducibility, cost, options, faults."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

import reddiff_imaging as ri
from reddiff_imaging import metrics
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import DiffusionModel, DiffusionPrior, GaussianMixture, TV
from reddiff_imaging.solvers import NonFiniteError, RedDiff, get
from reddiff_imaging.solvers.reddiff import WEIGHTINGS


@pytest.fixture(scope="module")
def mixture_problem():
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixture.random(3, (1, 4, 4), generator=g)
    x = prior.sample(1, generator=g).double()
    operator = ops.Inpainting(ops.random_mask((4, 4), 0.5, generator=g), (1, 4, 4))
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.05), g)
    return prior, problem, prior.posterior(operator, problem.y, 0.05)


def test_reddiff_ends_at_high_exact_posterior_density(mixture_problem) -> None:
    prior, problem, posterior = mixture_problem
    result = RedDiff(steps=1000, lr=0.1).solve(problem, prior, torch.Generator().manual_seed(1))
    typical = posterior.log_prob(posterior.sample(2000, torch.Generator().manual_seed(2))[0].double())
    start = float(posterior.log_prob(problem.operator.pinv(problem.y)))
    end = float(posterior.log_prob(result.x))
    best = float(posterior.log_prob(posterior.mode()))
    print(f"log posterior: pinv start {start:.1f}, RED-diff {end:.1f}, median sample {typical.median():.1f}, mode {best:.1f}")
    assert end > start + 50  # far better than its initial point
    assert end > float(typical.median())  # denser than a typical exact posterior sample
    assert end > best - 5  # near a mode


@pytest.mark.parametrize("task", ["inpainting-box", "sr4-block"])
def test_beats_pseudo_inverse_on_heldout_images(task: str, default_prior, heldout) -> None:
    x = heldout[:2]
    operator = ops.registry.build(task, x.shape[1:])
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
    baseline = float(metrics.psnr(operator.pinv(problem.y, rcond=3e-2).clamp(0, 1), x).mean())
    result = RedDiff(steps=100).solve(problem, default_prior, torch.Generator().manual_seed(0))
    psnr = float(metrics.psnr(result.x, x).mean())
    print(f"{task}: pseudo-inverse {baseline:.2f} dB, RED-diff (100 steps) {psnr:.2f} dB")
    assert psnr > baseline + 1.0
    assert result.x.dtype == x.dtype and result.x.shape == x.shape
    assert 0.0 <= float(result.x.min()) and float(result.x.max()) <= 1.0


def test_same_seed_same_result_and_batch_equals_single_runs(mixture_problem) -> None:
    prior, problem, _ = mixture_problem
    two = ri.InverseProblem(problem.operator, problem.y.repeat(2, 1, 1, 1) + torch.tensor([0.0, 0.02]).double().view(2, 1, 1, 1), problem.noise)
    solver = RedDiff(steps=50)
    a = solver.solve(two, prior, [torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)]).x
    b = solver.solve(two, prior, [torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)]).x
    assert torch.equal(a, b)
    first = solver.solve(ri.InverseProblem(problem.operator, two.y[:1], problem.noise), prior, [torch.Generator().manual_seed(3)]).x
    second = solver.solve(ri.InverseProblem(problem.operator, two.y[1:], problem.noise), prior, [torch.Generator().manual_seed(4)]).x
    torch.testing.assert_close(a, torch.cat([first, second]))
    other = solver.solve(two, prior, torch.Generator().manual_seed(5)).x
    assert not torch.equal(a, other)


class _CountingNetwork(nn.Module):
    """A tiny ε-network that records whether autograd was enabled at each call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.grad_modes: list[bool] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.grad_modes.append(torch.is_grad_enabled())
        return self.conv(x)


def test_network_runs_forward_only_once_per_step_and_memory_does_not_grow(heldout) -> None:
    network = _CountingNetwork()
    prior = DiffusionPrior(network)
    x = heldout[:1, :, :16, :16]
    problem = ri.InverseProblem.simulate(ops.BlockAverage(4, (1, 16, 16)), x, ri.noise.Gaussian(0.01))
    large_tensors: dict[int, int] = {}

    def count(step: int, iterate: torch.Tensor, terms: dict) -> None:
        if step in (15, 150):
            gc.collect()
            large_tensors[step] = sum(1 for o in gc.get_objects() if torch.is_tensor(o) and o.numel() >= x.numel())

    RedDiff(steps=200).solve(problem, prior, callback=count)
    assert len(network.grad_modes) == 200 and not any(network.grad_modes)
    assert large_tensors[150] == large_tensors[15]


@pytest.mark.parametrize("weighting", list(WEIGHTINGS))
def test_every_weighting_runs(weighting: str, mixture_problem) -> None:
    prior, problem, posterior = mixture_problem
    result = RedDiff(steps=100, weighting=weighting).solve(problem, prior)
    assert torch.isfinite(result.x).all()
    assert float(posterior.log_prob(result.x)) > float(posterior.log_prob(problem.operator.pinv(problem.y)))


@pytest.mark.parametrize(
    "options",
    [
        {"order": "ascending"},
        {"order": "random"},
        {"optimizer": "sgd", "lr": 0.05},
        {"sigma_x0": 0.01},
        {"init": "zeros"},
        {"init": "noise"},
        {"loss": "sum"},
    ],
)
def test_options_run_and_are_recorded(options: dict, mixture_problem) -> None:
    prior, problem, _ = mixture_problem
    result = RedDiff(steps=60, **options).solve(problem, prior, torch.Generator().manual_seed(0))
    assert torch.isfinite(result.x).all()
    assert all(result.config[k] == v for k, v in options.items())
    assert len(result.history) == 60 and {"step", "data", "prior"} <= set(result.history[0])


def test_given_initialisation_is_used(mixture_problem) -> None:
    prior, problem, _ = mixture_problem
    start = torch.full_like(problem.y, 0.3)
    calls: list[torch.Tensor] = []
    RedDiff(steps=1, lr=1e-6, init=start).solve(problem, prior, callback=lambda s, it, terms: calls.append(it))
    torch.testing.assert_close(calls[0], 2 * start - 1, atol=1e-5, rtol=0)


def test_history_has_psnr_when_ground_truth_is_known(mixture_problem) -> None:
    prior, problem, _ = mixture_problem
    result = RedDiff(steps=30).solve(problem, prior, metrics_every=10)
    assert [row["step"] for row in result.history if "psnr" in row] == [0, 10, 20, 29]
    assert result.seconds > 0 and result.config["solver"] == "reddiff"


def test_works_with_denoiser_only_prior_tv(heldout) -> None:
    x = heldout[:1, :, :32, :32]
    operator = ops.registry.build("inpainting-box", (1, 32, 32))
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01))
    result = RedDiff(steps=30).solve(problem, TV(weight=8.5, max_iter=50, tol=1e-3))
    assert float(metrics.psnr(result.x, x)) > float(metrics.psnr(operator.pinv(problem.y), x))


@pytest.mark.parametrize("task", ["phase-retrieval", "hdr"])
def test_nonlinear_operators_through_autograd_on_the_operator_only(task: str, default_prior, heldout) -> None:
    x = heldout[:1]
    operator = ops.registry.build(task, x.shape[1:])
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01))
    result = RedDiff(steps=20).solve(problem, default_prior)
    start = torch.full_like(x, 0.5)
    assert torch.isfinite(result.x).all()
    assert float((operator(result.x) - problem.y).norm()) < float((operator(start) - problem.y).norm())


class _ExplodingPrior(DiffusionModel):
    def __init__(self) -> None:
        from reddiff_imaging.priors import VPSchedule

        super().__init__(VPSchedule.linear())
        self.calls = 0

    def _eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.full_like(x_t, float("nan")) if self.calls > 12 else torch.zeros_like(x_t)


def test_non_finite_iterate_stops_with_step_and_last_finite_iterate(mixture_problem) -> None:
    _, problem, _ = mixture_problem
    with pytest.raises(NonFiniteError, match="stopped being finite at step 12") as info:
        RedDiff(steps=50).solve(problem, _ExplodingPrior(), check_every=5)
    assert info.value.step == 12
    assert info.value.last_finite is not None and torch.isfinite(info.value.last_finite).all()


def test_bad_options_and_inputs(mixture_problem) -> None:
    prior, problem, _ = mixture_problem
    with pytest.raises(ValueError, match="weighting must be one of"):
        RedDiff(weighting="cubic")
    with pytest.raises(ValueError, match="order must be one of"):
        RedDiff(order="sideways")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        RedDiff(lr=-1)
    with pytest.raises(ValueError, match="unknown solver 'red-diff'; available: .*reddiff"):
        get("red-diff")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lambda'\] for solver 'reddiff'"):
        get("reddiff", **{"lambda": 0.5})
    with pytest.raises(ValueError, match="steps must be from 1 to the prior's 1000 timesteps for reddiff, got 2000"):
        RedDiff(steps=2000).solve(problem, prior)
    with pytest.raises(TypeError, match="prior must be a reddiff_imaging Prior"):
        RedDiff().solve(problem, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="generator must be a torch.Generator or a sequence of 1 generators"):
        RedDiff(steps=5).solve(problem, prior, [torch.Generator(), torch.Generator()])
    noiseless = ri.InverseProblem(problem.operator, problem.y, ri.noise.Gaussian(0.0))
    with pytest.raises(UnsupportedProblemError, match=r"noise-free \(σ = 0\) and loss='sum' weighs the data term by 1/σ²"):
        RedDiff(steps=5, loss="sum").solve(noiseless, prior)
