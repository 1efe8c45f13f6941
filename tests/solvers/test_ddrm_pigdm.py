"""DDRM and ΠGDM: exact-posterior checks on a Gaussian mixture, complex (Fourier) SVDs, SVD vs
conjugate gradients, reproducibility, refusals and option checks."""

from __future__ import annotations

import math

import pytest
import torch

from reddiff_imaging import InverseProblem, metrics
from reddiff_imaging.distribution_metrics import sliced_wasserstein
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.operators import (
    SVD,
    Blur,
    BlockAverage,
    Circulant,
    Decimation,
    Identity,
    Inpainting,
    LinearOperator,
    NonlinearOperator,
    ZeroPaddedBlur,
    gaussian_kernel,
    operator_matrix,
    registry,
)
from reddiff_imaging.priors.gaussian_mixture import GaussianMixture
from reddiff_imaging.solvers.ddrm import DDRM
from reddiff_imaging.solvers.pigdm import PiGDM

SHAPE = (1, 4, 4)
SIGMA = 0.05
N = 400  # posterior samples drawn as one batch


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sw(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(sliced_wasserstein(a, b, 256, generator=gen(9)))


class DenseSVD(LinearOperator):
    """A dense matrix with its real SVD from ``torch.linalg.svd`` (test helper)."""

    def __init__(self, matrix: torch.Tensor, in_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape, (1, 1, matrix.shape[0]))
        self.register_buffer("matrix", matrix.to(torch.float64))
        u, s, vh = torch.linalg.svd(self.matrix, full_matrices=True)
        self.register_buffer("u", u)
        self.register_buffer("s", s)
        self.register_buffer("vh", vh)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) @ self.matrix.to(x.dtype).T).reshape(x.shape[0], *self.out_shape)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return (y.reshape(y.shape[0], -1) @ self.matrix.to(y.dtype)).reshape(y.shape[0], *self.in_shape)

    @property
    def svd(self) -> SVD:
        n, m = self.vh.shape[1], self.u.shape[0]
        values = torch.zeros(n, dtype=torch.float64)
        values[: self.s.shape[0]] = self.s
        return SVD(
            U=lambda z: (z[:, :m] @ self.u.T.to(z.dtype)).reshape(z.shape[0], *self.out_shape),
            Ut=lambda y: torch.nn.functional.pad(y.reshape(y.shape[0], -1) @ self.u.to(y.dtype), (0, n - m)),
            V=lambda z: (z @ self.vh.to(z.dtype)).reshape(z.shape[0], *self.in_shape),
            Vt=lambda x: x.reshape(x.shape[0], -1) @ self.vh.T.to(x.dtype),
            singular_values=values,
        )


@pytest.fixture(scope="module")
def bimodal():
    """Inpainting of half the pixels of a 4×4 image, σ = 0.05, with a bimodal exact posterior
    (component weights about 0.41 / 0.59): the measured image lies between two component means."""
    prior = GaussianMixture.random(3, SHAPE, generator=gen(3))
    mask = torch.zeros(16)
    mask[torch.randperm(16, generator=gen(1))[:8]] = 1
    operator = Inpainting(mask.reshape(SHAPE))
    x_true = (0.5 * prior.means[0] + 0.5 * prior.means[1]).reshape(1, *SHAPE)
    problem = InverseProblem.simulate(operator, x_true, Gaussian(SIGMA), gen(3))
    posterior = prior.posterior(problem)
    exact = posterior.sample(1000, gen(4))[0]
    batch = InverseProblem(operator, problem.y.expand(N, -1, -1, -1).contiguous(), Gaussian(SIGMA))
    references = {
        "prior samples": sw(prior.sample(N, gen(5), dtype=torch.float64), exact),
        "posterior mean (collapsed sampler)": sw(posterior.mean().expand(N, -1, -1, -1), exact),
        "independent exact samples": sw(posterior.sample(N, gen(6))[0], exact),
    }
    assert 0.3 < float(posterior.weights.max()) < 0.7  # the test problem really is bimodal
    return prior, batch, exact, references


@pytest.mark.parametrize(
    "solver",
    [DDRM(clip=False), DDRM(steps=50, clip=False), PiGDM(steps=50, clip=False), PiGDM(clip=False)],
    ids=["ddrm-20", "ddrm-50", "pigdm-50", "pigdm-100"],
)
def test_samples_approach_the_exact_posterior(bimodal, solver) -> None:
    prior, batch, exact, references = bimodal
    samples = solver.solve(batch, prior, gen(7)).x
    distance = sw(samples, exact)
    print(
        f"sliced Wasserstein to {len(exact)} exact posterior samples: {solver.name} ({solver.steps} steps, "
        f"{N} samples) {distance:.4f}; " + ", ".join(f"{k} {v:.4f}" for k, v in references.items())
    )
    assert distance < 0.5 * references["prior samples"]
    assert distance < 0.5 * references["posterior mean (collapsed sampler)"]
    assert samples.dtype == torch.float64 and samples.shape == (N, *SHAPE)


@pytest.mark.parametrize("solver", [DDRM(), PiGDM(steps=20)], ids=["ddrm-20", "pigdm-20"])
def test_beat_the_pseudo_inverse_on_heldout_images_with_the_trained_prior(solver, default_prior, heldout) -> None:
    x = heldout[:2]
    operator = registry.build("inpainting-box", x.shape[1:])
    problem = InverseProblem.simulate(operator, x, Gaussian(0.01), gen(0))
    baseline = float(metrics.psnr(operator.pinv(problem.y, rcond=3e-2).clamp(0, 1), x).mean())
    result = solver.solve(problem, default_prior, gen(1))
    psnr = float(metrics.psnr(result.x, x).mean())
    print(f"inpainting-box: pseudo-inverse {baseline:.2f} dB, {solver.name} ({solver.steps} steps) {psnr:.2f} dB")
    assert psnr > baseline + 3.0
    assert result.x.dtype == x.dtype and result.x.shape == x.shape
    assert 0.0 <= float(result.x.min()) and float(result.x.max()) <= 1.0


def test_ddrm_on_a_fourier_svd_matches_a_real_svd_of_the_same_blur() -> None:
    """Circular blur has the (complex) Fourier basis as SVD; DDRM there must sample the same
    distribution as DDRM on a real SVD of the same matrix (the updates depend on the basis only
    through the singular values). The covariance is the sensitive statistic: i.i.d. complex noise
    in the Fourier domain (a real part of half the variance) gives a relative difference near 0.1."""
    prior = GaussianMixture.random(3, SHAPE, generator=gen(0))
    blur = Blur(gaussian_kernel(0.8, 3), SHAPE)
    dense = DenseSVD(operator_matrix(blur), SHAPE)
    x_true = prior.sample(1, gen(2), dtype=torch.float64)
    y = blur(x_true) + SIGMA * torch.randn(x_true.shape, generator=gen(3), dtype=torch.float64)
    n = 4000

    def samples(operator: LinearOperator, measurement: torch.Tensor, seed: int) -> torch.Tensor:
        problem = InverseProblem(operator, measurement.expand(n, -1, -1, -1).contiguous(), Gaussian(SIGMA))
        return DDRM(clip=False, rcond=0.0).solve(problem, prior, gen(seed)).x.reshape(n, -1)

    def covariance_gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((torch.cov(a.T) - torch.cov(b.T)).norm() / torch.cov(b.T).norm())

    via_fourier = samples(blur, y, 7)
    via_dense = samples(dense, y.reshape(1, 1, 1, 16), 8)
    again = samples(dense, y.reshape(1, 1, 1, 16), 10)
    print(
        f"DDRM Fourier vs real SVD: sliced Wasserstein {sw(via_fourier, via_dense):.4f}, relative covariance gap "
        f"{covariance_gap(via_fourier, via_dense):.3f} (two runs on the real SVD: {sw(again, via_dense):.4f}, "
        f"{covariance_gap(again, via_dense):.3f})"
    )
    assert sw(via_fourier, via_dense) < 2 * sw(again, via_dense) + 2e-3
    assert covariance_gap(via_fourier, via_dense) < 0.06
    assert via_fourier.dtype == torch.float64


@pytest.mark.parametrize(
    "operator",
    [Identity(SHAPE), Decimation(2, SHAPE), BlockAverage(2, SHAPE), Blur(gaussian_kernel(0.8, 3), SHAPE)],
    ids=["identity", "decimation", "block-average", "fft-blur"],
)
def test_pigdm_svd_and_conjugate_gradients_agree(operator) -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    problem = InverseProblem.simulate(operator, prior.sample(3, gen(1), dtype=torch.float64), Gaussian(SIGMA), gen(2))
    closed = PiGDM(steps=10, rcond=0.0).solve(problem, prior, gen(4)).x
    iterative = PiGDM(steps=10, use_svd=False, cg_tol=1e-12).solve(problem, prior, gen(4)).x
    torch.testing.assert_close(closed, iterative, atol=1e-6, rtol=0)


def test_noise_free_ddrm_reproduces_the_observed_pixels() -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    mask = (torch.arange(16) % 2).reshape(SHAPE).double()
    problem = InverseProblem.simulate(Inpainting(mask), prior.sample(4, gen(1), dtype=torch.float64), Gaussian(0.0))
    x = DDRM(clip=False).solve(problem, prior, gen(2)).x
    torch.testing.assert_close(mask * x, problem.y)
    x = PiGDM(steps=20, clip=False).solve(problem, prior, gen(2)).x
    assert float((mask * x - problem.y).abs().max()) < 0.02


@pytest.mark.parametrize("solver", [DDRM(steps=10), PiGDM(steps=10)], ids=["ddrm", "pigdm"])
def test_same_seed_same_result_and_batch_equals_single_runs(solver) -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    operator = Inpainting((torch.arange(16) % 3 > 0).reshape(SHAPE).float())
    problem = InverseProblem.simulate(operator, prior.sample(2, gen(1)), Gaussian(SIGMA), gen(2))
    pair = [gen(3), gen(4)]
    a = solver.solve(problem, prior, pair).x
    b = solver.solve(problem, prior, [gen(3), gen(4)]).x
    assert torch.equal(a, b)
    first = solver.solve(InverseProblem(operator, problem.y[:1], problem.noise), prior, [gen(3)]).x
    second = solver.solve(InverseProblem(operator, problem.y[1:], problem.noise), prior, [gen(4)]).x
    torch.testing.assert_close(a, torch.cat([first, second]))
    assert not torch.equal(a, solver.solve(problem, prior, gen(5)).x)
    assert a.dtype == torch.float32 and 0.0 <= float(a.min()) and float(a.max()) <= 1.0  # clip=True by default


class _RecordingMixture(GaussianMixture):
    """A mixture that records whether autograd was enabled at each evaluation of ε."""

    grad_modes: list[bool]

    def _eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.grad_modes.append(torch.is_grad_enabled())
        return super()._eps(x_t, t)


def test_network_gradients_only_where_the_method_needs_them() -> None:
    base = GaussianMixture.random(2, SHAPE, generator=gen(0))
    prior = _RecordingMixture(base.means.reshape(2, *SHAPE), base.covariances, base.weights)
    problem = InverseProblem.simulate(Identity(SHAPE), base.sample(2, gen(1)), Gaussian(SIGMA), gen(2))
    prior.grad_modes = []
    result = DDRM(steps=7).solve(problem, prior, gen(3))
    assert prior.grad_modes == [False] * 7  # one network evaluation per step, no autograd
    assert [r["step"] for r in result.history] == list(range(7)) and "data" in result.history[0]
    prior.grad_modes = []
    PiGDM(steps=7).solve(problem, prior, gen(3))
    assert prior.grad_modes == [True] * 7  # one differentiable evaluation per step (the VJP)


def test_ddrm_refuses_operators_without_an_svd() -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    operator = ZeroPaddedBlur(gaussian_kernel(0.8, 3), SHAPE)
    problem = InverseProblem.simulate(operator, prior.sample(1, gen(1)), Gaussian(SIGMA), gen(2))
    with pytest.raises(UnsupportedProblemError, match=r"(?s)ddrm needs an operator with an SVD.*ZeroPaddedBlur.*'pigdm'"):
        DDRM().solve(problem, prior)
    assert PiGDM(steps=5).solve(problem, prior).x.shape == (1, *SHAPE)  # ΠGDM takes it (conjugate gradients)


def test_ddrm_refuses_complex_spectral_filters_of_real_images() -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    transfer = torch.fft.fft2(torch.randn(4, 4, generator=gen(1)) + 1j * torch.randn(4, 4, generator=gen(2)))
    operator = Circulant(transfer, SHAPE)
    problem = InverseProblem.simulate(operator, prior.sample(1, gen(1)), Gaussian(SIGMA), gen(2))
    with pytest.raises(UnsupportedProblemError, match="ddrm cannot use the SVD of Circulant"):
        DDRM().solve(problem, prior)
    assert torch.isfinite(PiGDM(steps=5).solve(problem, prior).x).all()


def test_refuses_nonlinear_operators_and_non_gaussian_noise() -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    square = NonlinearOperator(lambda v: v**2, SHAPE)
    problem = InverseProblem.simulate(square, prior.sample(1, gen(1)), Gaussian(SIGMA), gen(2))
    with pytest.raises(UnsupportedProblemError, match=r"pigdm needs a linear operator .*NonlinearOperator"):
        PiGDM().solve(problem, prior)
    with pytest.raises(UnsupportedProblemError, match="ddrm needs a linear operator"):
        DDRM().solve(problem, prior)
    poisson = InverseProblem.simulate(Identity(SHAPE), prior.sample(1, gen(1)), Poisson(0.1), gen(2))
    for solver in (DDRM(), PiGDM()):
        with pytest.raises(UnsupportedProblemError, match="needs Gaussian measurement noise"):
            solver.solve(poisson, prior)
        support = solver.check(poisson, prior)  # the same answer without raising
        assert not support and "Poisson" in support.message and not support.missing


@pytest.mark.parametrize(
    ("cls", "options", "name"),
    [
        (DDRM, {"steps": 0}, "steps"),
        (DDRM, {"steps": 2.5}, "steps"),
        (DDRM, {"eta": 1.5}, "eta"),
        (DDRM, {"eta_b": -0.1}, "eta_b"),
        (DDRM, {"rcond": 1.0}, "rcond"),
        (PiGDM, {"steps": -1}, "steps"),
        (PiGDM, {"eta": math.nan}, "eta"),
        (PiGDM, {"guidance_scale": -1.0}, "guidance_scale"),
        (PiGDM, {"guidance": "dps"}, "guidance"),
        (PiGDM, {"init": "zeros"}, "init"),
        (PiGDM, {"rcond": -1e-3}, "rcond"),
        (PiGDM, {"cg_max_iter": 0}, "cg_max_iter"),
        (PiGDM, {"cg_tol": 0.0}, "cg_tol"),
    ],
)
def test_bad_options_raise_an_error_naming_the_option(cls, options, name) -> None:
    with pytest.raises((TypeError, ValueError), match=rf"^{name} must"):  # TypeError: wrong type (2.5 steps)
        cls(**options)


def test_steps_beyond_the_schedule_are_refused() -> None:
    prior = GaussianMixture.random(2, SHAPE, generator=gen(0))
    problem = InverseProblem.simulate(Identity(SHAPE), prior.sample(1, gen(1)), Gaussian(SIGMA), gen(2))
    for solver in (DDRM(steps=1001), PiGDM(steps=1001)):
        with pytest.raises(ValueError, match="steps"):
            solver.solve(problem, prior)
