"""The data term from the noise model: Gaussian and Poisson values and gradients against independent
references (dense matrices, ``torch.distributions``, autograd), and the solvers that use it on
photon-limited problems."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.operators import operator_matrix
from reddiff_imaging.priors import TV, GaussianFilterDenoiser
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import ADMM, DDRM, DPS, RED, DiffPIR, PiGDM, PnPADMM, PnPPGD, RedDiff
from reddiff_imaging.solvers.data_term import DataTerm, GaussianDataTerm, PoissonDataTerm
from tests.solvers.diffusion_helpers import tiny_prior

SHAPE = (1, 6, 6)
GAIN = 1 / 30  # peak 30 photons


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _image(batch: int = 2) -> torch.Tensor:
    return 0.05 + 0.9 * torch.rand(batch, *SHAPE, generator=_gen(1), dtype=torch.float64)


def _blur() -> ops.Blur:
    return ops.Blur(ops.gaussian_kernel(1.0, 5).double(), SHAPE)


def _poisson_problem(operator: ops.Operator | None = None) -> InverseProblem:
    return InverseProblem.simulate(operator or _blur(), _image(), Poisson(GAIN), _gen(2))


def test_from_problem_follows_the_noise_model() -> None:
    x = _image()
    assert isinstance(DataTerm.from_problem(InverseProblem.simulate(_blur(), x, Gaussian(0.1), _gen(0))), GaussianDataTerm)
    assert isinstance(DataTerm.from_problem(_poisson_problem()), PoissonDataTerm)


def test_gaussian_term_against_a_dense_matrix() -> None:
    problem = InverseProblem.simulate(_blur(), _image(), Gaussian(0.1), _gen(0))
    matrix = operator_matrix(problem.operator)
    x = torch.rand(2, *SHAPE, generator=_gen(3), dtype=torch.float64)
    value, gradient = DataTerm.from_problem(problem).value_and_gradient(x)
    r = x.flatten(1) @ matrix.T - problem.y.flatten(1)
    torch.testing.assert_close(value, 0.5 * r.square().sum(1))
    torch.testing.assert_close(gradient.flatten(1), r @ matrix)


def test_poisson_term_is_the_count_likelihood() -> None:
    """f = g (NLL(counts | A x / g) - NLL(counts | counts)), from torch.distributions."""
    problem = _poisson_problem()
    x = _image() * 0.8 + 0.1
    counts = problem.y / GAIN
    rate = problem.operator(x) / GAIN
    nll = -torch.distributions.Poisson(rate).log_prob(counts)
    saturated = -torch.distributions.Poisson(counts.clamp_min(1e-300)).log_prob(counts)
    mean = problem.y.flatten(1).mean(1)
    expected = GAIN * mean * (nll - saturated).flatten(1).sum(1)
    torch.testing.assert_close(DataTerm.from_problem(problem).value(x), expected)


@pytest.mark.parametrize("operator", [_blur(), ops.HDR(SHAPE)], ids=["blur", "hdr"])
def test_poisson_gradient_is_the_gradient_of_the_value(operator: ops.Operator) -> None:
    problem = _poisson_problem(operator)
    term = DataTerm.from_problem(problem)
    # points below the floor too: the Taylor continuation must be differentiable with this gradient
    x = (torch.rand(2, *SHAPE, generator=_gen(4), dtype=torch.float64) - 0.5).requires_grad_(True)
    assert bool((operator(x) < term.floor).any())
    value, gradient = term.value_and_gradient(x.detach())
    (reference,) = torch.autograd.grad(term.value(x).sum(), x)
    torch.testing.assert_close(gradient, reference)
    torch.testing.assert_close(value, term.value(x.detach()))


def test_a_batch_equals_its_items() -> None:
    problem = _poisson_problem()
    x = _image() * 0.8 + 0.1
    value, gradient = DataTerm.from_problem(problem).value_and_gradient(x)
    for b in range(2):
        single = InverseProblem(problem.operator, problem.y[b : b + 1], problem.noise)
        v, g = DataTerm.from_problem(single).value_and_gradient(x[b : b + 1])
        torch.testing.assert_close(v, value[b : b + 1])
        torch.testing.assert_close(g, gradient[b : b + 1])


def test_poisson_continuation_is_smooth_at_the_floor() -> None:
    term = DataTerm.from_problem(_poisson_problem(ops.Identity(SHAPE)))
    eps = term.floor
    below, above = [torch.full((2, *SHAPE), eps + d, dtype=torch.float64) for d in (-1e-9, 1e-9)]
    for a, b in zip(term._pointwise(below), term._pointwise(above), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_which_solvers_take_poisson_noise() -> None:
    problem = _poisson_problem()
    prior, denoiser = tiny_prior(SHAPE), GaussianFilterDenoiser()
    for solver, p in [(RedDiff(), prior), (DPS(), prior), (DiffPIR(), prior), (PnPPGD(), denoiser), (RED(method="gd"), denoiser)]:
        assert solver.check(problem, p), solver.name
    for solver, p in [(ADMM(), TV()), (PnPADMM(), denoiser), (RED(), denoiser), (DDRM(), prior), (PiGDM(), prior)]:
        support = solver.check(problem, p)
        assert not support and "Gaussian" in support.message, solver.name


def test_pnp_pgd_records_the_poisson_likelihood_of_its_iterates() -> None:
    problem = _poisson_problem()
    term = PoissonDataTerm(problem)
    iterates: list[torch.Tensor] = []
    recorded: list[float] = []

    def callback(step: int, x: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        iterates.append(x.clone())
        recorded.append(float(terms["data"]))

    PnPPGD(steps=4, clip=False).solve(problem, GaussianFilterDenoiser(), callback=callback, metrics_every=1)
    for k in range(1, 4):  # the data term is taken at the previous iterate
        assert recorded[k] == pytest.approx(float(term.value(iterates[k - 1]).mean()), rel=1e-10)


def test_noise_level_of_the_terms() -> None:
    problem = _poisson_problem()
    expected = (GAIN * problem.y.flatten(1).mean(1)).sqrt()
    torch.testing.assert_close(PoissonDataTerm(problem).noise_level, expected)
    gaussian = InverseProblem(problem.operator, problem.y, Gaussian(0.07))
    assert GaussianDataTerm(gaussian).noise_level == 0.07


@pytest.mark.parametrize("solver", [RedDiff(steps=10), DPS(steps=10), DiffPIR(steps=10)], ids=["reddiff", "dps", "diffpir"])
def test_diffusion_solvers_run_photon_limited_problems(solver) -> None:
    result = solver.solve(_poisson_problem(), tiny_prior(SHAPE), generator=_gen(5))
    assert result.x.shape == (2, *SHAPE) and bool(torch.isfinite(result.x).all())
