"""Side-by-side checks: every diffusion solver against an independent plain-loop reference of the
official update, written here from the official code's equations, on the same network (a small random
network and the exact ε of a Gaussian mixture) with the same noise draws, in float64.

References (read for these loops): NVlabs/RED-diff ``algos/reddiff.py``, ``algos/pgdm.py``,
``algos/ddim.py``; DPS2022/diffusion-posterior-sampling ``guided_diffusion/gaussian_diffusion.py``,
``posterior_mean_variance.py``, ``condition_methods.py``; bahjat-kawar/ddrm
``functions/denoising.py``; yuanzhi-zhu/DiffPIR ``main_ddpir_deblur.py``. Dense matrices and
``torch.linalg`` stand in for the official codes' operator classes. Where a reference draws random
numbers that the official code multiplies by zero (or draws several vectors that it uses on disjoint
coordinates), the loop here draws what ours does; each place says so.
"""

from __future__ import annotations

import math

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.operators import operator_matrix
from reddiff_imaging.priors import GaussianMixture
from reddiff_imaging.solvers import DDIM, DDRM, DPS, DiffPIR, PiGDM, RedDiff
from tests.solvers.diffusion_helpers import TinyEpsNetwork, tiny_prior

SHAPE = (1, 4, 4)
DIM = 16
TOL = 1e-6


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(g: torch.Generator) -> torch.Tensor:
    return torch.randn((1, *SHAPE), generator=g, dtype=torch.float64)


@pytest.fixture(scope="module", params=["tiny-network", "gaussian-mixture"])
def prior(request):
    if request.param == "tiny-network":
        return tiny_prior(SHAPE)
    return GaussianMixture.random(3, SHAPE, generator=gen(3))


def _problem(operator: ops.LinearOperator, sigma: float) -> ri.InverseProblem:
    g = gen(11)
    x = 0.2 + 0.6 * torch.rand(1, *SHAPE, generator=g, dtype=torch.float64)
    return ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(sigma), g)


def _inpainting() -> ops.Inpainting:
    return ops.Inpainting(ops.random_mask((4, 4), 5 / 16, generator=gen(5)), SHAPE)


def _dense(problem: ri.InverseProblem, observed_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The operator's matrix and the measurement in the network range, y' = 2y - A1; with
    ``observed_only`` restricted to the rows the operator observes (an inpainting mask's zero rows
    carry noise only, as the official codes' image-sized inpainting measurements)."""
    matrix = operator_matrix(problem.operator)
    y = 2 * problem.y.reshape(-1) - matrix.sum(1)
    rows = matrix.abs().sum(1) > 0 if observed_only else torch.ones(len(y), dtype=torch.bool)
    return matrix[rows], y[rows]


def _public(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).reshape(1, *SHAPE)


def _alphas(prior) -> list[float]:
    return prior.alphas_cumprod.tolist()


def _official_grid(steps: int, T: int = 1000) -> list[int]:
    """``range(0, T, T // steps)`` of the RED-diff, DDIM and DDRM codes (ascending)."""
    return list(range(0, T, T // steps))


# ------------------------------------------------------------------------------------ RED-diff


def reddiff_reference(prior, problem, steps: int, lr: float, lam: float) -> torch.Tensor:
    """NVlabs/RED-diff ``REDDIFF.sample`` (awd, sigma_x0 = 0, linear weighting, obs_weight 1)."""
    A, y = _dense(problem)
    mu = (torch.linalg.pinv(A) @ y).reshape(1, *SHAPE).clone().requires_grad_(True)  # H_pinv(y_0)
    optimizer = torch.optim.Adam([mu], lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    g = gen(7)
    alphas = _alphas(prior)
    x0_pred = mu
    for t in reversed(_official_grid(steps)):
        a = alphas[t]
        noise_xt = randn(g)  # the official code also draws noise_x0, multiplied by sigma_x0 = 0
        x0_pred = mu + 0.0
        xt = math.sqrt(a) * x0_pred + math.sqrt(1 - a) * noise_xt
        et = prior.eps(xt.detach(), t).detach()
        e_obs = y - A @ x0_pred.reshape(-1)
        loss_obs = (e_obs**2).mean() / 2
        loss_noise = ((et - noise_xt).detach() * x0_pred).mean()
        w_t = lam * math.sqrt(1 - a) / math.sqrt(a)
        loss = w_t * loss_noise + 1.0 * loss_obs
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return _public(x0_pred.detach())  # main.py keeps x0_pred, the point of the last step


@pytest.mark.parametrize("operator", [_inpainting(), ops.BlockAverage(2, SHAPE)], ids=["inpainting", "block-average"])
def test_reddiff_matches_the_official_update(prior, operator) -> None:
    problem = _problem(operator, 0.05)
    ours = RedDiff(steps=50, lr=0.25, lam=0.25, clip=False, rcond=1e-6).solve(problem, prior, gen(7)).x
    torch.testing.assert_close(ours, reddiff_reference(prior, problem, 50, 0.25, 0.25), rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------ DDIM


def ddim_reference(prior, steps: int, eta: float) -> torch.Tensor:
    """NVlabs/RED-diff ``DDIM.sample`` (= ermongroup/ddim ``generalized_steps``, no clipping)."""
    g = gen(4)
    alphas = _alphas(prior)
    ts = _official_grid(steps)
    xt = randn(g)
    for ti, si in zip(reversed(ts), reversed([-1, *ts[:-1]]), strict=True):
        a_t, a_s = alphas[ti], (alphas[si] if si >= 0 else 1.0)
        c1 = math.sqrt((1 - a_t / a_s) * (1 - a_s) / (1 - a_t)) * eta
        c2 = math.sqrt(1 - a_s - c1**2)
        et = prior.eps(xt, ti)
        x0_pred = (xt - et * math.sqrt(1 - a_t)) / math.sqrt(a_t)
        xt = math.sqrt(a_s) * x0_pred + c1 * randn(g) + c2 * et
    return _public(xt)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_matches_the_official_update(prior, eta: float) -> None:
    problem = ri.InverseProblem(ops.Identity(SHAPE), torch.zeros(1, *SHAPE, dtype=torch.float64), ri.noise.Gaussian(0.0))
    ours = DDIM(steps=50, eta=eta, clip_x0=False, clip=False).solve(problem, prior, gen(4)).x
    torch.testing.assert_close(ours, ddim_reference(prior, 50, eta), rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------ DPS


def dps_reference(network_eps, problem, steps: int, zeta: float, learned: bool) -> torch.Tensor:
    """DPS2022 ``p_sample_loop`` with the DDPM sampler of ``SpacedDiffusion`` on the timesteps
    ``range(0, T, T // steps)``, ``clip_denoised``, ``epsilon`` mean and ``learned_range`` or
    ``fixed_small`` variance, and the ``ps`` conditioning (``x_t -= scale * grad ||y - A x0||``)."""
    A, y = _dense(problem)
    ts = _official_grid(steps)
    base = network_eps.alphas_cumprod.tolist()
    betas, last = [], 1.0
    for t in ts:  # SpacedDiffusion: betas of the kept timesteps
        betas.append(1 - base[t] / last)
        last = base[t]
    betas_t = torch.tensor(betas, dtype=torch.float64)
    ac = torch.cumprod(1 - betas_t, 0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    post_var = betas_t * (1 - ac_prev) / (1 - ac)
    post_log_var_clipped = torch.log(torch.cat([post_var[1:2], post_var[1:]]))
    coef1 = betas_t * ac_prev.sqrt() / (1 - ac)
    coef2 = (1 - ac_prev) * (1 - betas_t).sqrt() / (1 - ac)
    g = gen(8)
    img = randn(g)
    for idx in reversed(range(len(ts))):
        img = img.detach().requires_grad_(True)
        eps, v = network_eps.eps_and_variance(img, ts[idx], differentiable=True)
        x0 = ((1 / ac[idx]).sqrt() * img - (1 / ac[idx] - 1).sqrt() * eps).clamp(-1, 1)
        mean = coef1[idx] * x0 + coef2[idx] * img
        if learned:
            frac = (v + 1) / 2
            log_var = frac * torch.log(betas_t[idx]) + (1 - frac) * post_log_var_clipped[idx]
        else:
            log_var = torch.log(post_var[idx]) * torch.ones_like(img)
        noise = randn(g)
        sample = mean + torch.exp(0.5 * log_var) * noise if idx != 0 else mean
        norm = torch.linalg.norm(y - A @ x0.reshape(-1))
        (grad,) = torch.autograd.grad(norm, img)
        img = (sample - grad * zeta).detach()
    return _public(img)


class _TwoHeaded(torch.nn.Module):
    """:class:`TinyEpsNetwork` plus a second random head: a network with learned variances (2C channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.eps = TinyEpsNetwork(SHAPE, seed=0)
        self.var = TinyEpsNetwork(SHAPE, seed=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.eps(x, t), self.var(x, t)], dim=1)


@pytest.mark.parametrize("operator", [_inpainting(), ops.BlockAverage(2, SHAPE)], ids=["inpainting", "block-average"])
def test_dps_matches_the_official_update(prior, operator) -> None:
    problem = _problem(operator, 0.05)
    ours = DPS(steps=100, zeta=0.5, clip=False).solve(problem, prior, gen(8)).x
    torch.testing.assert_close(ours, dps_reference(prior, problem, 100, 0.5, learned=False), rtol=0, atol=TOL)


def test_dps_uses_the_learned_variance_as_the_official_code() -> None:
    network = ri.priors.DiffusionPrior(_TwoHeaded(), channels=1)
    problem = _problem(_inpainting(), 0.05)
    ours = DPS(steps=100, zeta=0.5, clip=False).solve(problem, network, gen(8)).x
    torch.testing.assert_close(ours, dps_reference(network, problem, 100, 0.5, learned=True), rtol=0, atol=TOL)
    fixed = DPS(steps=100, zeta=0.5, clip=False, variance="fixed").solve(problem, network, gen(8)).x
    assert (fixed - ours).abs().max() > 1e-3  # the learned variance does change the chain


# ------------------------------------------------------------------------------------ ΠGDM


def pigdm_reference(prior, problem, steps: int, mask: torch.Tensor | None) -> torch.Tensor:
    """NVlabs/RED-diff ``PGDM.sample`` (awd, grad_term_weight 1, eta 1, sigma_y 0), with the ``in2``
    inpainting variant when ``mask`` is given; x_T ~ N(0, I) (ours' default, the paper's)."""
    A, y = _dense(problem)
    pinv = torch.linalg.pinv(A)
    pinv_y = (pinv @ y).reshape(1, *SHAPE)
    g = gen(9)
    alphas = _alphas(prior)
    ts = _official_grid(steps)
    xt = randn(g)
    for ti, si in zip(reversed(ts), reversed([-1, *ts[:-1]]), strict=True):
        a_t, a_s = alphas[ti], (alphas[si] if si >= 0 else 1.0)
        c1 = math.sqrt((1 - a_t / a_s) * (1 - a_s) / (1 - a_t)) * 1.0
        c2 = math.sqrt(1 - a_s - c1**2)
        xt = xt.detach().requires_grad_(True)
        et = prior.eps(xt, ti, differentiable=True)
        x0_pred = (xt - et * math.sqrt(1 - a_t)) / math.sqrt(a_t)
        mat = pinv_y - (pinv @ (A @ x0_pred.reshape(-1))).reshape(1, *SHAPE)
        (grad_term,) = torch.autograd.grad((mat.detach() * x0_pred).sum(), xt)
        x0_pred, et = x0_pred.detach(), et.detach()
        if mask is not None:  # 'in2' tasks: observed pixels from y, guidance on the others
            x0_pred = x0_pred * (1 - mask) + pinv_y * mask
            grad_term = grad_term * (1 - mask)
        coeff = math.sqrt(a_s) * math.sqrt(a_t) * 1.0
        z = randn(g) if c1 > 0 else 0.0  # the official code also draws at the last step, times c1 = 0
        xt = math.sqrt(a_s) * x0_pred + c1 * z + c2 * et + grad_term * coeff
    return _public(xt.detach())


def test_pigdm_matches_the_reference_inpainting_variant(prior) -> None:
    operator = _inpainting()
    problem = _problem(operator, 0.0)
    ours = PiGDM(steps=50, clip=False, project="auto").solve(problem, prior, gen(9)).x
    torch.testing.assert_close(ours, pigdm_reference(prior, problem, 50, operator.mask), rtol=0, atol=TOL)


@pytest.mark.parametrize("operator", [_inpainting(), ops.BlockAverage(2, SHAPE)], ids=["inpainting", "block-average"])
def test_pigdm_matches_the_reference_update(prior, operator) -> None:
    problem = _problem(operator, 0.0)
    ours = PiGDM(steps=50, clip=False).solve(problem, prior, gen(9)).x  # project="never": the paper's update
    torch.testing.assert_close(ours, pigdm_reference(prior, problem, 50, None), rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------ DDRM


def ddrm_reference(prior, problem, steps: int, eta: float, eta_b: float) -> torch.Tensor:
    """bahjat-kawar/ddrm ``efficient_generalized_steps`` with a dense SVD (``torch.linalg.svd``).

    Compensated: the official code draws x_T's noise in the spectral domain and one vector per case
    of Eq. 8; here (as ours) one image-domain normal vector z per step, used as :math:`V^T z` on all
    coordinates (the cases are disjoint, so the distribution is the same); x_T is scaled by
    :math:`\\sqrt{\\bar\\alpha_T}` where the official code divides by :math:`\\sigma_T` (a factor
    :math:`\\sqrt{1-\\bar\\alpha_T}` = 0.99998 apart)."""
    A, y = _dense(problem, observed_only=True)
    sigma_0 = 2 * problem.sigma
    U, singulars, Vh = torch.linalg.svd(A, full_matrices=True)
    m, n = A.shape
    Sigma = torch.zeros(n, dtype=torch.float64)
    Sigma[:m] = singulars
    U_t_y = (y @ U)[None]
    Sig_inv_U_t_y = U_t_y / singulars
    alphas = _alphas(prior)
    ts = _official_grid(steps)
    g = gen(10)

    def Vt(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(1, -1) @ Vh.T

    def V(z: torch.Tensor) -> torch.Tensor:
        return (z @ Vh).reshape(1, *SHAPE)

    a_T = alphas[ts[-1]]
    largest_sigma = math.sqrt(1 - a_T) / math.sqrt(a_T)
    large = singulars * largest_sigma > sigma_0
    inv_singulars_and_zero = torch.zeros(n, dtype=torch.float64)
    inv_singulars_and_zero[:m][large] = sigma_0 / singulars[large]
    init_y = torch.zeros(1, n, dtype=torch.float64)
    init_y[:, :m][:, large] = U_t_y[:, large] / singulars[large]
    remaining = (largest_sigma**2 - inv_singulars_and_zero**2).clamp_min(0).sqrt()
    init_y = init_y + remaining * Vt(randn(g))
    x = V(init_y) * math.sqrt(a_T)
    falses = torch.zeros(n - m, dtype=torch.bool)
    for i, j in zip(reversed(ts), reversed([-1, *ts[:-1]]), strict=True):
        at, at_next = alphas[i], (alphas[j] if j >= 0 else 1.0)
        et = prior.eps(x, i)
        x0_t = (x - et * math.sqrt(1 - at)) / math.sqrt(at)
        sigma_next = math.sqrt(1 - at_next) / math.sqrt(at_next)
        V_t_x0 = Vt(x0_t)
        SVt_x0 = (V_t_x0 * Sigma)[:, :m]
        before_lite = singulars * sigma_next > sigma_0
        after_lite = singulars * sigma_next < sigma_0
        before, after = torch.hstack((before_lite, falses)), torch.hstack((after_lite, falses))
        std_next = sigma_next * eta
        sigma_tilde_next = math.sqrt(sigma_next**2 - std_next**2)
        diff_sigma_B = torch.sqrt(sigma_next**2 - sigma_0**2 / singulars[before_lite] ** 2 * eta_b**2)
        z = Vt(randn(g))
        nxt = V_t_x0 + sigma_tilde_next * Vt(et) + std_next * z
        nxt[:, after] = V_t_x0[:, after] + sigma_tilde_next * ((U_t_y - SVt_x0) / sigma_0)[:, after_lite] + std_next * z[:, after]
        nxt[:, before] = Sig_inv_U_t_y[:, before_lite] * eta_b + (1 - eta_b) * V_t_x0[:, before] + diff_sigma_B * z[:, before]
        x = math.sqrt(at_next) * V(nxt)
    return _public(x)


@pytest.mark.parametrize("operator", [_inpainting(), ops.BlockAverage(2, SHAPE)], ids=["inpainting", "block-average"])
def test_ddrm_matches_the_official_update(prior, operator) -> None:
    problem = _problem(operator, 0.05)
    ours = DDRM(steps=20, eta=0.85, eta_b=1.0, clip=False).solve(problem, prior, gen(10)).x
    torch.testing.assert_close(ours, ddrm_reference(prior, problem, 20, 0.85, 1.0), rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------ DiffPIR


def diffpir_reference(prior, problem, steps: int, lam: float, zeta: float, repeats: int = 1) -> torch.Tensor:
    """yuanzhi-zhu/DiffPIR ``main_ddpir_deblur.py`` (``pred_xstart``, ``sub_1_analytic``, ``quad``,
    eta = 0, iter_num_U = ``repeats``), its data step in [0, 1] solved densely. Compensated: x_T ~ N(0, I)
    (the script starts from the measurement plus noise), and the noise the script multiplies by
    eta_sigma = 0 is not drawn."""
    A, _ = _dense(problem)
    y01 = problem.y.reshape(-1)
    T = 1000
    alphas = torch.tensor(_alphas(prior), dtype=torch.float64)
    sqrt_ac, sqrt_1m_ac = alphas.sqrt(), (1 - alphas).sqrt()
    reduced = sqrt_1m_ac / sqrt_ac
    sigma = max(0.001, problem.sigma)
    rhos = lam * sigma**2 / reduced**2
    sigmas = reduced.flip(0)  # sigmas[i] = reduced[T - 1 - i]
    seq = [int(s) for s in torch.linspace(0, T**2, steps, dtype=torch.float64).sqrt()]
    seq[-1] -= 1
    g = gen(12)
    x = randn(g)
    for i in range(len(seq)):
        t_i = int((reduced - sigmas[seq[i]]).abs().argmin())  # find_nearest
        for u in range(repeats):
            x0 = prior.x0(x, t_i).clamp(-1, 1)  # model_fn(pred_xstart), clip_denoised
            if seq[i] != seq[-1]:
                x0_p = (x0 / 2 + 0.5).reshape(-1)
                x0_p = torch.linalg.solve(A.T @ A + rhos[t_i] * torch.eye(DIM, dtype=torch.float64), A.T @ y01 + rhos[t_i] * x0_p)
                x0 = (x0_p * 2 - 1).reshape(1, *SHAPE)
                t_im1 = int((reduced - sigmas[seq[i + 1]]).abs().argmin())
                eps = (x - sqrt_ac[t_i] * x0) / sqrt_1m_ac[t_i]
                x = sqrt_ac[t_im1] * x0 + math.sqrt(1 - zeta) * sqrt_1m_ac[t_im1] * eps + math.sqrt(zeta) * sqrt_1m_ac[t_im1] * randn(g)
            if u < repeats - 1 and seq[i] != seq[-1]:  # set back to x_t from x_{t-1}
                a_eff = sqrt_ac[t_i] / sqrt_ac[t_im1]
                x = a_eff * x + (sqrt_1m_ac[t_i] ** 2 - a_eff**2 * sqrt_1m_ac[t_im1] ** 2).sqrt() * randn(g)
    return x / 2 + 0.5


@pytest.mark.parametrize("operator", [_inpainting(), ops.BlockAverage(2, SHAPE)], ids=["inpainting", "block-average"])
def test_diffpir_matches_the_official_update(prior, operator) -> None:
    problem = _problem(operator, 0.05)
    ours = DiffPIR(steps=100, lam=7.0, zeta=0.3, clip=False).solve(problem, prior, gen(12)).x
    torch.testing.assert_close(ours, diffpir_reference(prior, problem, 100, 7.0, 0.3), rtol=0, atol=TOL)


def test_diffpir_repeats_match_the_official_inner_iterations(prior) -> None:
    problem = _problem(_inpainting(), 0.05)
    ours = DiffPIR(steps=20, lam=1.0, zeta=1.0, repeats=3, clip=False).solve(problem, prior, gen(12)).x
    torch.testing.assert_close(ours, diffpir_reference(prior, problem, 20, 1.0, 1.0, repeats=3), rtol=0, atol=TOL)
