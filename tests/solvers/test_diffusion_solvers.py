"""DPS, DiffPIR and DDIM: exact-posterior checks on a Gaussian mixture, quality on held-out images,
reproducibility and bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.distribution_metrics import sliced_wasserstein
from reddiff_imaging.priors import TV, GaussianMixture
from reddiff_imaging.priors.base import MissingCapabilityError
from reddiff_imaging.solvers import DDIM, DPS, DiffPIR, RedDiff
from reddiff_imaging.solvers.diffusion_common import amplification

N = 400


@pytest.fixture(scope="module")
def mixture_case():
    g = torch.Generator().manual_seed(0)
    prior = GaussianMixture.random(3, (1, 4, 4), generator=g)
    x = prior.sample(1, generator=g).double()
    operator = ops.Inpainting(ops.random_mask((4, 4), 0.5, generator=g), (1, 4, 4))
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.05), g)
    exact = prior.posterior(operator, problem.y, 0.05).sample(N, torch.Generator().manual_seed(1))[0].reshape(N, -1)
    batch = ri.InverseProblem(operator, problem.y.repeat(N, 1, 1, 1), problem.noise)
    return prior, batch, exact.double()


def _distance(samples: torch.Tensor, reference: torch.Tensor) -> float:
    return float(sliced_wasserstein(samples.reshape(len(samples), -1).double(), reference, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("solver", [DPS(steps=100, zeta=0.5), DiffPIR(steps=100, lam=1.0, zeta=1.0)], ids=["dps", "diffpir"])
def test_samples_approach_the_exact_posterior(solver, mixture_case) -> None:
    prior, problem, exact = mixture_case
    samples = solver.solve(problem, prior, torch.Generator().manual_seed(3)).x
    prior_samples = prior.sample(N, generator=torch.Generator().manual_seed(2))
    ours, baseline = _distance(samples, exact), _distance(prior_samples, exact)
    print(f"{solver.name}: sliced W2 to exact posterior {ours:.4f}; prior samples {baseline:.4f}")
    assert ours < 0.5 * baseline


def test_ddim_samples_the_prior(mixture_case) -> None:
    prior, problem, _ = mixture_case
    samples = DDIM(steps=100, eta=1.0).solve(problem, prior, torch.Generator().manual_seed(3)).x
    reference = prior.sample(N, generator=torch.Generator().manual_seed(2)).reshape(N, -1).double()
    other = prior.sample(N, generator=torch.Generator().manual_seed(4))
    ours, noise_floor = _distance(samples, reference), _distance(other, reference)
    print(f"ddim: sliced W2 to prior samples {ours:.4f} (two prior samples: {noise_floor:.4f})")
    assert ours < 2.5 * noise_floor


@pytest.mark.parametrize(
    ("task", "solver"),
    [
        ("inpainting-box", DPS(steps=50)),
        ("sr4-block", DPS(steps=100, zeta=3.0)),
        ("inpainting-box", DiffPIR(steps=50, zeta=1.0)),
        ("sr4-block", DiffPIR(steps=50, zeta=1.0)),
    ],
    ids=["dps-box", "dps-sr4", "diffpir-box", "diffpir-sr4"],
)
def test_beats_pseudo_inverse_on_heldout_images(task, solver, default_prior, heldout) -> None:
    x = heldout[:1]
    operator = ops.registry.build(task, x.shape[1:])
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
    baseline = float(metrics.psnr(operator.pinv(problem.y, rcond=3e-2).clamp(0, 1), x).mean())
    psnr = float(metrics.psnr(solver.solve(problem, default_prior, torch.Generator().manual_seed(0)).x.clamp(0, 1), x).mean())
    print(f"{solver.name} on {task}: pseudo-inverse {baseline:.2f} dB, {psnr:.2f} dB")
    assert psnr > baseline


@pytest.mark.parametrize("solver", [DPS(steps=20), DiffPIR(steps=20), DDIM(steps=20, eta=1.0)], ids=["dps", "diffpir", "ddim"])
def test_same_seed_same_result(solver, mixture_case) -> None:
    prior, problem, _ = mixture_case
    small = ri.InverseProblem(problem.operator, problem.y[:3], problem.noise)
    a = solver.solve(small, prior, torch.Generator().manual_seed(0)).x
    b = solver.solve(small, prior, torch.Generator().manual_seed(0)).x
    assert torch.equal(a, b) and a.dtype == torch.float64
    assert not torch.equal(a, solver.solve(small, prior, torch.Generator().manual_seed(1)).x)


def test_diffpir_handles_nonlinear_operators_with_a_gradient_step(default_prior, heldout) -> None:
    x = heldout[:1]
    operator = ops.registry.build("hdr", x.shape[1:])
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01))
    result = DiffPIR(steps=20).solve(problem, default_prior)
    assert torch.isfinite(result.x).all()


def test_bad_input(mixture_case) -> None:
    _, problem, _ = mixture_case
    with pytest.raises(MissingCapabilityError, match="prior TV does not provide 'eps' \\(needed by dps\\)"):
        DPS(steps=5).solve(problem, TV())
    with pytest.raises(ValueError, match="zeta must be in \\[0, 1\\]"):
        DiffPIR(zeta=2.0)
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        DDIM(steps=0)
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\], got -1.0"):
        DPS(eta=-1.0)
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\], got 2"):
        DDIM(eta=2)  # was clamped without a word


def test_amplification_keeps_non_amplifying_operators_and_normalises_the_others() -> None:
    inpainting = ops.Inpainting(ops.box_mask((8, 8), 3), (1, 8, 8))
    block_average = ops.BlockAverage(4, (1, 8, 8))  # norm 1/4
    y = torch.zeros(1, 1, 8, 8)
    assert amplification(ri.InverseProblem(inpainting, y, ri.noise.Gaussian(0.1))) == 1.0
    assert amplification(ri.InverseProblem(block_average, torch.zeros(1, 1, 2, 2), ri.noise.Gaussian(0.1))) == 1.0
    assert amplification(ri.InverseProblem(5.0 * inpainting, y, ri.noise.Gaussian(0.1))) == pytest.approx(5.0, rel=1e-3)


@pytest.mark.parametrize("solver", [RedDiff(steps=20), DPS(steps=20, zeta=0.5)], ids=["reddiff", "dps"])
def test_normalize_makes_the_result_independent_of_the_operator_scale(solver, mixture_case) -> None:
    prior, problem, _ = mixture_case
    scaled = ri.InverseProblem(7.0 * problem.operator, 7.0 * problem.y, ri.noise.Gaussian(7.0 * problem.sigma))
    for normalize in (True, False):
        configured = dataclasses.replace(solver, normalize=normalize)
        runs = [configured.solve(p, prior, torch.Generator().manual_seed(3)).x for p in (problem, scaled)]
        assert torch.allclose(runs[0], runs[1], atol=1e-5) == normalize


@pytest.mark.parametrize("solver", [RedDiff, DPS])
def test_normalize_must_be_a_bool(solver) -> None:
    with pytest.raises(TypeError, match="normalize must be a bool, got 1"):
        solver(normalize=1)
