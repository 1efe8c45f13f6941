"""Tests of the analytic Gaussian-mixture prior, its exact posterior and the sliced Wasserstein distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from reddiff_imaging import InverseProblem
from reddiff_imaging.distribution_metrics import sliced_wasserstein
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.operators import MRI, BlockAverage, Identity, Inpainting, LinearOperator, NonlinearOperator, operator_matrix
from reddiff_imaging.priors.base import MissingCapabilityError
from reddiff_imaging.priors.gaussian_mixture import GaussianMixture, GaussianMixturePosterior
from reddiff_imaging.priors.schedules import VPSchedule

SHAPE = (1, 4, 4)
D = 16


class Matrix(LinearOperator):
    """A dense matrix acting on flattened images (test helper)."""

    def __init__(self, matrix: torch.Tensor, in_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape, (1, 1, matrix.shape[0]))
        self.register_buffer("matrix", matrix.to(torch.float64))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) @ self.matrix.to(x.dtype).T).reshape(x.shape[0], *self.out_shape)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return (y.reshape(y.shape[0], -1) @ self.matrix.to(y.dtype)).reshape(y.shape[0], *self.in_shape)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def prior() -> GaussianMixture:
    return GaussianMixture.random(3, SHAPE, generator=gen(0))


def prior_2d() -> GaussianMixture:
    """A 2-D three-component mixture with correlated, well-separated components."""
    means = torch.tensor([[0.3, 0.3], [0.7, 0.4], [0.5, 0.75]], dtype=torch.float64)
    cov = torch.tensor(
        [
            [[0.010, 0.004], [0.004, 0.008]],
            [[0.006, -0.002], [-0.002, 0.012]],
            [[0.015, 0.0], [0.0, 0.005]],
        ],
        dtype=torch.float64,
    )
    return GaussianMixture(means, cov, torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64), shape=(1, 1, 2))


def scipy_mixture_logpdf(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    terms = [np.log(w) + np.atleast_1d(multivariate_normal(m, c).logpdf(x)) for w, m, c in zip(weights, means, covs)]
    return logsumexp(np.stack(terms, axis=-1), axis=-1)


# ----------------------------------------------------------------------------------------------------
# the prior and its diffusion
# ----------------------------------------------------------------------------------------------------
def test_construction_and_moments(prior: GaussianMixture) -> None:
    assert prior.shape == SHAPE and prior.dim == D and prior.num_components == 3
    assert prior.means.dtype == torch.float64 and prior.covariances.shape == (3, D, D)
    assert bool((prior.means >= 0.2).all() and (prior.means <= 0.8).all())
    evals = torch.linalg.eigvalsh(prior.covariances)
    assert float(evals.max() / evals.min()) <= 9.0 + 1e-9
    assert prior.capabilities() == ("denoise", "grad", "eps")
    with pytest.raises(MissingCapabilityError, match="prox"):
        prior.require("prox", "ADMM")
    # mixture mean / covariance by Monte Carlo
    x = prior.sample(40000, generator=gen(1), dtype=torch.float64).reshape(-1, D)
    torch.testing.assert_close(x.mean(0), prior.mean().reshape(D), atol=4e-3, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), prior.covariance(), atol=3e-3, rtol=0)
    # reproducible sampling, default dtype float32
    assert torch.equal(prior.sample(5, gen(3)), prior.sample(5, gen(3)))
    assert prior.sample(2).dtype == torch.float32 and prior.sample(2).shape == (2, *SHAPE)


def test_log_prob_matches_scipy(prior: GaussianMixture) -> None:
    x = prior.sample(7, generator=gen(2), dtype=torch.float64)
    expected = scipy_mixture_logpdf(
        x.reshape(7, D).numpy(), prior.weights.numpy(), prior.means.numpy(), prior.covariances.numpy()
    )
    np.testing.assert_allclose(prior.log_prob(x).numpy(), expected, rtol=1e-10)
    assert prior.log_prob(x.float()).dtype == torch.float32


def test_grad_is_minus_autograd_of_log_prob(prior: GaussianMixture) -> None:
    x = prior.sample(4, generator=gen(4), dtype=torch.float64).requires_grad_(True)
    (auto,) = torch.autograd.grad(prior._data_terms(x)[0].sum(), x)
    torch.testing.assert_close(prior.grad(x.detach()), -auto, rtol=1e-9, atol=1e-9)


def test_score_matches_autograd_with_mixed_t(prior: GaussianMixture) -> None:
    t = torch.tensor([0, 3, 50, 250, 500, 999])
    x0 = prior.to_model(prior.sample(6, generator=gen(5), dtype=torch.float64))
    ab = prior.schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, dtype=torch.float64, generator=gen(6))
    x_req = x_t.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(prior.log_prob_t(x_req, t).sum(), x_req)
    score = prior.score(x_t, t)
    torch.testing.assert_close(score, auto, rtol=1e-8, atol=1e-8)
    # eps and score agree, also item by item (batch items are independent)
    torch.testing.assert_close(prior.eps(x_t, t), -(1 - ab).sqrt() * auto, rtol=1e-8, atol=1e-10)
    for i in range(6):
        torch.testing.assert_close(prior.eps(x_t[i : i + 1], int(t[i])), prior.eps(x_t, t)[i : i + 1], rtol=1e-12, atol=1e-14)
    # Tweedie (x0) from the inherited formula is the exact posterior mean of x0 given x_t, and dtype follows input
    assert prior.eps(x_t.float(), t).dtype == torch.float32
    assert prior.x0(x_t.float(), t).dtype == torch.float32


def test_log_prob_t_is_the_diffused_density(prior: GaussianMixture) -> None:
    t = 300
    ab = float(prior.schedule.alphas_cumprod[t])
    x = torch.randn(3, *SHAPE, dtype=torch.float64, generator=gen(7))
    means = math.sqrt(ab) * (2 * prior.means - 1)
    covs = ab * 4 * prior.covariances + (1 - ab) * torch.eye(D, dtype=torch.float64)
    expected = scipy_mixture_logpdf(x.reshape(3, D).numpy(), prior.weights.numpy(), means.numpy(), covs.numpy())
    np.testing.assert_allclose(prior.log_prob_t(x, t).numpy(), expected, rtol=1e-10)


def test_eps_at_small_noise_gives_the_data_score(prior: GaussianMixture) -> None:
    x = prior.sample(4, generator=gen(8), dtype=torch.float64)
    data_score_model = -prior.grad(x) / prior.range_scale  # d/dx' log p'(x') with x' = 2x - 1
    sharp = GaussianMixture(prior.means, prior.covariances, prior.weights, SHAPE, schedule=VPSchedule.linear(1e-9, 0.02))
    ab0 = float(sharp.schedule.alphas_cumprod[0])
    x_t = math.sqrt(ab0) * sharp.to_model(x)
    torch.testing.assert_close(sharp.score(x_t, 0), data_score_model, rtol=1e-5, atol=1e-5)
    # the default schedule (beta_0 = 1e-4) is close too
    x_t = float(prior.schedule.alphas_cumprod[0]) ** 0.5 * prior.to_model(x)
    err = (prior.score(x_t, 0) - data_score_model).norm() / data_score_model.norm()
    assert float(err) < 0.05


def test_differentiable_eps_for_dps(prior: GaussianMixture) -> None:
    x_t = torch.randn(2, *SHAPE, dtype=torch.float64, generator=gen(9), requires_grad=True)
    out = prior.x0(x_t, torch.tensor([100, 400]), differentiable=True)
    (g,) = torch.autograd.grad(out.square().sum(), x_t)
    assert g.shape == x_t.shape and bool(torch.isfinite(g).all())
    assert not prior.eps(x_t, 10).requires_grad  # default: no autograd


def test_denoise_is_tweedie_and_zero_sigma_is_identity(prior: GaussianMixture) -> None:
    x = prior.sample(3, generator=gen(10), dtype=torch.float64)
    torch.testing.assert_close(prior.denoise(x, 0.0), x)
    sigma = torch.tensor([0.01, 0.1, 0.3], dtype=torch.float64)
    out = prior.denoise(x, sigma)
    # per item equals the scalar call
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], prior.denoise(x[i : i + 1], float(sigma[i])))
    assert prior.denoise(x.float(), 0.1).dtype == torch.float32


# ----------------------------------------------------------------------------------------------------
# the posterior
# ----------------------------------------------------------------------------------------------------
def _grid_posterior(prior: GaussianMixture, matrix: torch.Tensor, y: torch.Tensor, sigma: float, n: int = 401):
    """Brute-force posterior of a 2-D prior on a grid: normalised density, mean, covariance, evidence."""
    u = torch.linspace(-0.6, 1.6, n, dtype=torch.float64)
    h = float(u[1] - u[0])
    xx, yy = torch.meshgrid(u, u, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    log_prior = prior.log_prob(pts.reshape(-1, 1, 1, 2))
    resid = y.reshape(1, -1) - pts @ matrix.T
    log_lik = -0.5 * (resid**2).sum(1) / sigma**2 - 0.5 * matrix.shape[0] * math.log(2 * math.pi * sigma**2)
    log_joint = log_prior + log_lik
    log_evidence = torch.logsumexp(log_joint, 0) + 2 * math.log(h)
    dens = torch.exp(log_joint - log_evidence)  # posterior density
    mean = (dens[:, None] * pts).sum(0) * h * h
    centred = pts - mean
    cov = (dens[:, None, None] * centred[:, :, None] * centred[:, None, :]).sum(0) * h * h
    return pts, dens, mean, cov, float(log_evidence), h


@pytest.mark.parametrize("matrix", [[[1.0, 0.5]], [[1.0, 0.0], [0.3, -0.8]]], ids=["1x2", "2x2"])
def test_posterior_matches_brute_force_2d(matrix: list[list[float]]) -> None:
    prior = prior_2d()
    a = torch.tensor(matrix, dtype=torch.float64)
    op = Matrix(a, (1, 1, 2))
    sigma = 0.08
    y = op(torch.tensor([[[[0.55, 0.5]]]], dtype=torch.float64))
    post = prior.posterior(op, y, sigma)
    pts, dens, mean, cov, log_evidence, h = _grid_posterior(prior, a, y, sigma)
    torch.testing.assert_close(post.mean().reshape(2), mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(post.covariance()[0], cov, atol=1e-6, rtol=0)
    assert float(post.log_evidence[0]) == pytest.approx(log_evidence, abs=1e-6)
    # the posterior density everywhere it matters
    lp = post.log_prob(pts.reshape(-1, 1, 1, 2))
    assert float((lp.exp() - dens).abs().max()) < 1e-6 * float(dens.max())
    # the mode: the best grid point is within a grid cell of it, and it is a stationary point
    mode = post.mode()
    best = pts[dens.argmax()]
    assert float((mode.reshape(2) - best).abs().max()) <= h
    assert float(post.log_prob(mode)) >= float(dens.max().log()) - 1e-9


def test_posterior_log_prob_and_bayes_rule(prior: GaussianMixture) -> None:
    op = BlockAverage(2, SHAPE)  # M = 4 < D = 16
    x_true = prior.sample(3, generator=gen(11), dtype=torch.float64)
    sigma = 0.05
    y = Gaussian(sigma).sample(op(x_true), generator=gen(12))
    post = prior.posterior(op, y, sigma)
    assert post.batch_size == 3 and post.support_dim == D and post.dtype == torch.float64
    # against scipy's mixture of multivariate normals, posterior by posterior
    x = prior.sample(3, generator=gen(13), dtype=torch.float64)
    for b in range(3):
        expected = scipy_mixture_logpdf(
            x[b].reshape(1, D).numpy(), post.weights[b].numpy(), post.means[b].numpy(), post.covariances.numpy()
        )
        np.testing.assert_allclose(post.log_prob(x)[b].item(), expected[0], rtol=1e-9)
    # Bayes: log p(x|y) = log p(x) + log p(y|x) - log p(y)
    resid = (y - op(x)).reshape(3, -1)
    log_lik = -0.5 * (resid**2).sum(1) / sigma**2 - 0.5 * resid.shape[1] * math.log(2 * math.pi * sigma**2)
    torch.testing.assert_close(post.log_prob(x), prior.log_prob(x) + log_lik - post.log_evidence, rtol=1e-9, atol=1e-9)
    # a posterior of batch 1 evaluates any number of points
    single = prior.posterior(op, y[:1], sigma)
    repeated = prior.posterior(op, y[:1].expand(3, -1, -1, -1), sigma)
    torch.testing.assert_close(single.log_prob(x), repeated.log_prob(x), rtol=1e-12, atol=1e-12)


def test_posterior_with_identity_is_denoise(prior: GaussianMixture) -> None:
    x = prior.sample(4, generator=gen(14), dtype=torch.float64)
    y = x + 0.1 * torch.randn(x.shape, dtype=torch.float64, generator=gen(15))
    post = prior.posterior(Identity(SHAPE), y, 0.1)
    torch.testing.assert_close(post.mean(), prior.denoise(y, 0.1), rtol=1e-10, atol=1e-12)
    # InverseProblem and a noise model are accepted too
    problem = InverseProblem(Identity(SHAPE), y, Gaussian(0.1))
    torch.testing.assert_close(prior.posterior(problem).mean(), post.mean())
    torch.testing.assert_close(prior.posterior(Identity(SHAPE), y, Gaussian(0.1)).means, post.means)


def test_posterior_samples_have_the_right_moments(prior: GaussianMixture) -> None:
    op = Inpainting((torch.rand(1, 4, 4, generator=gen(16)) < 0.5).to(torch.float32))
    y = op(prior.sample(2, generator=gen(17)))  # float32 measurement
    post = prior.posterior(op, y, 0.1)
    assert post.dtype == torch.float32
    samples = post.sample(30000, generator=gen(18))
    assert samples.shape == (2, 30000, *SHAPE) and samples.dtype == torch.float32
    flat = samples.double().reshape(2, 30000, D)
    for b in range(2):
        torch.testing.assert_close(flat[b].mean(0), post.mean()[b].double().reshape(D), atol=4e-3, rtol=0)
        torch.testing.assert_close(torch.cov(flat[b].T), post.covariance()[b].double(), atol=2e-3, rtol=0)
    assert torch.equal(post.sample(3, gen(19)), post.sample(3, gen(19)))


def test_noise_free_rank_deficient_posterior_2d() -> None:
    prior = prior_2d()
    a = torch.tensor([[1.0, 1.0], [2.0, 2.0]], dtype=torch.float64)  # rank 1, sigma = 0
    op = Matrix(a, (1, 1, 2))
    y = op(torch.tensor([[[[0.5, 0.6]]]], dtype=torch.float64))
    post = prior.posterior(op, y, 0.0)
    assert post.support_dim == 1
    # the limit of small noise
    near = prior.posterior(op, y, 1e-5)
    torch.testing.assert_close(post.mean(), near.mean(), atol=1e-6, rtol=0)
    torch.testing.assert_close(post.covariance(), near.covariance(), atol=1e-6, rtol=0)
    # samples satisfy A x = y
    s = post.sample(500, generator=gen(20))[0]
    torch.testing.assert_close(op(s), y.expand(500, -1, -1, -1), atol=1e-12, rtol=0)
    assert float(post.distance_to_support(s).max()) < 1e-12
    # density on the line x1 + x2 = 1.1 against a 1-D brute force
    direction = torch.tensor([1.0, -1.0], dtype=torch.float64) / math.sqrt(2)
    u = torch.linspace(-1.2, 1.2, 4001, dtype=torch.float64)
    pts = torch.tensor([0.55, 0.55], dtype=torch.float64) + u[:, None] * direction
    log_prior = prior.log_prob(pts.reshape(-1, 1, 1, 2))
    du = float(u[1] - u[0])
    dens = torch.exp(log_prior - torch.logsumexp(log_prior, 0) - math.log(du))
    lp = post.log_prob(pts.reshape(-1, 1, 1, 2))
    assert float((lp.exp() - dens).abs().max()) < 1e-6 * float(dens.max())
    # the mode lies on the line and is at least as dense as the best grid point
    mode = post.mode()
    assert float(post.distance_to_support(mode)) < 1e-12
    assert float(post.log_prob(mode)) >= float(dens.max().log()) - 1e-9
    # a measurement outside the range of A has no posterior when sigma = 0
    with pytest.raises(ValueError, match="range"):
        prior.posterior(op, torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64), 0.0)


def test_noise_free_injective_posterior_is_a_point_mass(prior: GaussianMixture) -> None:
    y = prior.sample(2, generator=gen(32), dtype=torch.float64)
    post = prior.posterior(Identity(SHAPE), y, 0.0)
    assert post.support_dim == 0
    torch.testing.assert_close(post.mean(), y)
    torch.testing.assert_close(post.mode(), y)
    torch.testing.assert_close(post.sample(3, gen(33)), y[:, None].expand(2, 3, *SHAPE))
    torch.testing.assert_close(post.log_prob(y), torch.zeros(2, dtype=torch.float64))
    # tiny noise is still a proper (non-degenerate) posterior
    assert prior.posterior(Identity(SHAPE), y, 1e-6).support_dim == D


def test_complex_mri_is_stacked(prior: GaussianMixture) -> None:
    op = MRI(torch.ones(4, 4), SHAPE)  # orthonormal FFT of real images: as informative as the identity
    x = prior.sample(2, generator=gen(21), dtype=torch.float64)
    a = operator_matrix(op)
    assert a.shape == (2 * D, D)
    torch.testing.assert_close(a.T @ a, torch.eye(D, dtype=torch.float64), atol=1e-12, rtol=0)
    post = prior.posterior(op, op(x), 0.05)
    torch.testing.assert_close(post.mean(), prior.posterior(Identity(SHAPE), x, 0.05).mean(), atol=1e-10, rtol=0)


def test_mode_of_a_multimodal_posterior(prior: GaussianMixture) -> None:
    op = Inpainting(torch.zeros(1, 4, 4).index_fill_(2, torch.tensor([0]), 1.0))  # first column observed
    y = op(prior.sample(1, generator=gen(22), dtype=torch.float64))
    post = prior.posterior(op, y, 0.2)
    modes, log_p = post.mode(return_all=True)
    best = post.mode()
    assert modes.shape == (1, 3, *SHAPE) and log_p.shape == (1, 3)
    torch.testing.assert_close(post.log_prob(best), log_p.max(1).values)
    # the best mode beats every component mean and many samples
    assert float(post.log_prob(best)) >= float(post.log_prob(post.means.reshape(3, *SHAPE)).max()) - 1e-12
    assert float(post.log_prob(best)) >= float(post.log_prob(post.sample(2000, gen(23))[0]).max())
    # stationary: the gradient of the log density vanishes there
    m = best.clone().requires_grad_(True)
    diff = m.reshape(1, 1, D) - post.means
    prec = torch.linalg.inv(post.covariances)
    quad = torch.einsum("bkd,kde,bke->bk", diff, prec, diff)
    logdet = torch.logdet(post.covariances)
    log_p_auto = torch.logsumexp(post.log_weights - 0.5 * (quad + logdet), dim=1).sum()
    (g,) = torch.autograd.grad(log_p_auto, m)
    assert float(g.abs().max()) < 1e-6


# ----------------------------------------------------------------------------------------------------
# sliced Wasserstein
# ----------------------------------------------------------------------------------------------------
def test_sliced_wasserstein(prior: GaussianMixture) -> None:
    a = prior.sample(2000, generator=gen(24), dtype=torch.float64)
    b = prior.sample(2000, generator=gen(25), dtype=torch.float64)
    assert float(sliced_wasserstein(a, a, generator=gen(0))) == 0.0
    same = float(sliced_wasserstein(a, b, generator=gen(0)))
    other = GaussianMixture.random(3, SHAPE, generator=gen(99)).sample(1500, generator=gen(26), dtype=torch.float64)
    different = float(sliced_wasserstein(a, other, generator=gen(0)))  # unequal sizes: quantiles
    assert same < 0.01 and different > 5 * same
    # a shift v: SW_2 = |v| / sqrt(D) exactly in expectation over directions
    v = torch.full((1, *SHAPE), 0.2, dtype=torch.float64)
    shifted = float(sliced_wasserstein(a[:200], a[:200] + v, num_projections=2000, generator=gen(0)))
    assert shifted == pytest.approx(float(v.norm()) / math.sqrt(D), rel=0.05)
    assert sliced_wasserstein(a.float(), b.float()).dtype == torch.float32
    # reproducible with a generator
    assert float(sliced_wasserstein(a, b, generator=gen(5))) == float(sliced_wasserstein(a, b, generator=gen(5)))


# ----------------------------------------------------------------------------------------------------
# bad input names the argument
# ----------------------------------------------------------------------------------------------------
def _good() -> dict:
    means = torch.rand(2, D, generator=gen(30), dtype=torch.float64)
    cov = 0.01 * torch.eye(D, dtype=torch.float64).expand(2, D, D).clone()
    return {"means": means, "covariances": cov, "weights": torch.tensor([0.4, 0.6], dtype=torch.float64), "shape": SHAPE}


def _bad_cov_nonsym() -> torch.Tensor:
    cov = _good()["covariances"]
    cov[0, 0, 1] = 0.005
    return cov


def _bad_cov_nonspd() -> torch.Tensor:
    cov = _good()["covariances"]
    cov[1, 3, 3] = -0.01
    return cov


@pytest.mark.parametrize(
    ("override", "exc", "match"),
    [
        ({"means": torch.rand(D)}, ValueError, "means must have shape"),
        ({"means": torch.tensor([[float("nan")] * D] * 2)}, ValueError, "means contains NaN"),
        ({"means": "abc"}, TypeError, "means must"),
        ({"shape": (1, 3, 3)}, ValueError, "shape must"),
        ({"covariances": torch.eye(D)}, ValueError, "covariances must have shape"),
        ({"covariances": torch.eye(D).expand(3, D, D)}, ValueError, r"covariances must have shape \(K, D, D\) = \(2, 16, 16\)"),
        ({"covariances": _bad_cov_nonsym()}, ValueError, "covariances must be symmetric"),
        ({"covariances": _bad_cov_nonspd()}, ValueError, r"covariances must be symmetric positive definite; component\(s\) \[1\]"),
        ({"weights": torch.tensor([0.5, 0.5, 0.0])}, ValueError, "weights must have shape"),
        ({"weights": torch.tensor([1.2, -0.2])}, ValueError, "weights must be positive"),
        ({"weights": torch.tensor([1.0, 1.0])}, ValueError, "weights must sum to 1"),
        ({"weights": torch.tensor([0.5, 0.5], dtype=torch.complex64)}, TypeError, "weights must hold real"),
    ],
)
def test_constructor_errors_name_the_argument(override: dict, exc: type, match: str) -> None:
    kwargs = {**_good(), **override}
    with pytest.raises(exc, match=match):
        GaussianMixture(**kwargs)


def test_means_with_image_shape_and_weight_renormalisation() -> None:
    good = _good()
    gm = GaussianMixture(good["means"].reshape(2, *SHAPE), good["covariances"], torch.tensor([0.4, 0.6 + 1e-8]))
    assert gm.shape == SHAPE and float(gm.weights.sum()) == pytest.approx(1.0, abs=1e-15)
    assert GaussianMixture(good["means"], good["covariances"], good["weights"]).shape == (1, 1, D)
    with pytest.raises(ValueError, match="shape must match"):
        GaussianMixture(good["means"].reshape(2, *SHAPE), good["covariances"], good["weights"], shape=(1, 2, 8))


def test_call_errors_name_the_argument(prior: GaussianMixture) -> None:
    x = prior.sample(2, generator=gen(31))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 1, 4, 4\)"):
        prior.eps(torch.zeros(2, 16), torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="t must hold integer"):
        prior.eps(x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="t must lie in"):
        prior.eps(x, torch.tensor([0, 1000]))
    with pytest.raises(ValueError, match="t must have shape"):
        prior.eps(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="x must have shape"):
        prior.log_prob(torch.zeros(2, 1, 2, 8))
    with pytest.raises(ValueError, match="x contains NaN"):
        prior.grad(torch.full((1, *SHAPE), float("nan")))
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        prior.denoise(x, -0.1)
    with pytest.raises(ValueError, match=r"sigma must be a float or a tensor of shape \(2,\)"):
        prior.denoise(x, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        prior.sample(0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        prior.sample(3, generator=1)
    with pytest.raises(ValueError, match="num_components must be an int >= 1"):
        GaussianMixture.random(0, SHAPE)
    with pytest.raises(ValueError, match="std_range"):
        GaussianMixture.random(2, SHAPE, std_range=(0.0, 0.1))


def test_posterior_errors_name_the_argument(prior: GaussianMixture) -> None:
    op = Identity(SHAPE)
    y = torch.rand(1, *SHAPE)
    with pytest.raises(TypeError, match="operator must be a LinearOperator.*nonlinear"):
        prior.posterior(NonlinearOperator(torch.sin, SHAPE, SHAPE), y, 0.1)
    with pytest.raises(TypeError, match="operator must be a LinearOperator"):
        prior.posterior("identity", y, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="operator.in_shape must equal"):
        prior.posterior(Identity((1, 2, 8)), torch.rand(1, 1, 2, 8), 0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        prior.posterior(op, torch.rand(1, 16), 0.1)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        prior.posterior(op, y, -1.0)
    with pytest.raises(TypeError, match="sigma must be a float or a Gaussian noise model"):
        prior.posterior(op, y, Poisson(0.1))
    with pytest.raises(ValueError, match="y is complex but the operator's output is real"):
        prior.posterior(op, torch.complex(y, y), 0.1)
    with pytest.raises(TypeError, match="sigma is required"):
        prior.posterior(op, y)
    with pytest.raises(ValueError, match="y and sigma must be omitted"):
        prior.posterior(InverseProblem(op, y, Gaussian(0.1)), y)
    post = prior.posterior(op, torch.rand(2, *SHAPE), 0.1)
    with pytest.raises(ValueError, match="x must have batch size 2"):
        post.log_prob(torch.rand(3, *SHAPE))
    with pytest.raises(ValueError, match="log_weights must be normalised"):
        GaussianMixturePosterior(post.means, post.covariances, torch.zeros(2, 3), SHAPE)
    with pytest.raises(ValueError, match="a and b must have the same dimension"):
        sliced_wasserstein(torch.rand(5, 3), torch.rand(5, 4))
    with pytest.raises(ValueError, match="num_projections must be an int >= 1"):
        sliced_wasserstein(torch.rand(5, 3), torch.rand(5, 3), num_projections=0)
    with pytest.raises(ValueError, match="p must be a finite number >= 1"):
        sliced_wasserstein(torch.rand(5, 3), torch.rand(5, 3), p=0.5)
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        sliced_wasserstein([[0.0]], torch.rand(5, 1))  # type: ignore[arg-type]



def test_follows_device_and_dtype(device: torch.device) -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(40)).to(device)
    x = torch.rand(3, *SHAPE, generator=gen(41)).to(device)
    t = torch.tensor([0, 10, 999], device=device)
    for out in (prior.eps(x, t), prior.score(x, t), prior.x0(x, t), prior.denoise(x, 0.1), prior.grad(x)):
        assert out.device == x.device and out.dtype == torch.float32 and out.shape == x.shape
    assert prior.log_prob(x).device == x.device and prior.log_prob_t(x, t).dtype == torch.float32
    assert prior.sample(4).device == x.device
    op = Inpainting(torch.ones(1, 4, 4).index_fill_(1, torch.tensor([1]), 0.0)).to(device)
    post = prior.posterior(op, op(x), 0.05)
    assert post.mean().device == x.device and post.mean().dtype == torch.float32
    samples = post.sample(5)
    assert samples.device == x.device and samples.shape == (3, 5, *SHAPE)
    assert post.mode().device == x.device and post.log_prob(x).device == x.device
    assert sliced_wasserstein(samples[0], samples[1]).device == x.device


def test_sample_takes_the_diffusion_model_signature(prior: GaussianMixture) -> None:
    # the keywords of DiffusionModel.sample are accepted; steps and eta change nothing (exact draws)
    expected = prior.sample(5, gen(3))
    torch.testing.assert_close(prior.sample(5, gen(3), shape=SHAPE, steps=10, eta=1.0), expected, atol=0, rtol=0)
    torch.testing.assert_close(prior.sample(5, gen(3), shape=list(SHAPE)), expected, atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"shape must be the mixture's image shape \(1, 4, 4\)"):
        prior.sample(2, shape=(1, 8, 2))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        prior.sample(2, steps=0)
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        prior.sample(2, eta=1.5)


def test_operator_matrix_alias_is_deprecated() -> None:
    from reddiff_imaging import priors
    from reddiff_imaging.priors import gaussian_mixture

    with pytest.warns(DeprecationWarning, match="reddiff_imaging.operators.operator_matrix"):
        alias = gaussian_mixture.operator_matrix
    assert alias is operator_matrix
    assert "operator_matrix" not in gaussian_mixture.__all__ and "operator_matrix" not in priors.__all__
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        gaussian_mixture.nothing  # noqa: B018
