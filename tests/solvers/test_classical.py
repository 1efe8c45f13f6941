"""Classical solvers: ADMM, PnP-ADMM, PnP-PGD (ISTA/FISTA) and RED.

Correctness against independent references (a Chambolle–Pock TV solver written here, closed-form
ridge and linear-RED solutions from dense matrices), quality against the pseudo-inverse, bad input,
reproducibility and precision. Everything runs on tiny images (16×16 or 32×32).
"""

from __future__ import annotations

import dataclasses

import warnings

import pytest
import torch
from torch import Tensor

from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.metrics import psnr
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.operators import Blur, Inpainting, NonlinearOperator, box_mask, gaussian_kernel
from reddiff_imaging.priors.base import MissingCapabilityError, Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.admm import ADMM, PnPADMM
from reddiff_imaging.solvers.base import NonFiniteError
from reddiff_imaging.solvers.pnp import PnPPGD
from reddiff_imaging.solvers.red import RED

try:
    from reddiff_imaging.priors.tv import TV
except ImportError:  # pragma: no cover - TV is written concurrently
    TV = None  # type: ignore[assignment,misc]

try:
    from reddiff_imaging.priors.denoisers import GaussianFilterDenoiser
except ImportError:  # pragma: no cover
    GaussianFilterDenoiser = None  # type: ignore[assignment,misc]


# ---------------------------------------------------------------------------- test priors


class Ridge(Prior):
    r""":math:`R(x) = \tfrac12\|x\|^2`, exact prox :math:`x/(1+\tau)`."""

    def prox(self, x: Tensor, tau: float | Tensor) -> Tensor:
        return x / (1.0 + tau)


def circular_smoothing(x: Tensor) -> Tensor:
    """A symmetric linear filter W (circular [1, 2, 1]/4 in each direction), eigenvalues in [0, 1]."""
    x = 0.25 * (torch.roll(x, 1, -1) + 2 * x + torch.roll(x, -1, -1))
    return 0.25 * (torch.roll(x, 1, -2) + 2 * x + torch.roll(x, -1, -2))


class LinearDenoiser(Prior):
    """D(x, sigma) = W x, independent of sigma."""

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        return circular_smoothing(x)


class GaussianDenoiser(Prior):
    """Fallback denoiser when the project's is absent: a reflect-padded Gaussian filter of std 11·sigma px."""

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        std = 11.0 * float(sigma)
        radius = max(1, int(4 * std + 0.999))
        t = torch.arange(-radius, radius + 1, dtype=x.dtype)
        k = torch.exp(-0.5 * (t / std) ** 2)
        k = k / k.sum()
        c = x.shape[1]
        z = torch.nn.functional.pad(x, (radius,) * 4, mode="reflect")
        z = torch.nn.functional.conv2d(z, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        return torch.nn.functional.conv2d(z, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


class DenoiseOnly(Prior):
    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        return x


def denoiser() -> Prior:
    return GaussianFilterDenoiser() if GaussianFilterDenoiser is not None else GaussianDenoiser()


def dense(apply, n_pixels: int, shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> Tensor:
    """The matrix of a linear map on images of ``shape`` (C, H, W), from its action on the basis."""
    basis = torch.eye(n_pixels, dtype=dtype).view(n_pixels, *shape)
    return apply(basis).reshape(n_pixels, -1).T


# ---------------------------------------------------------------------------- problems


def box_problem(size: int, n: int, sigma: float, dtype: torch.dtype = torch.float32, seed: int = 0) -> InverseProblem:
    x = heldout_images(n, size).to(dtype)
    op = Inpainting(box_mask((size, size), max(1, round(size * 20 / 64))), (1, size, size))
    return InverseProblem.simulate(op, x, Gaussian(sigma), torch.Generator().manual_seed(seed))


def blur_problem(size: int, n: int, sigma: float, dtype: torch.dtype = torch.float32, seed: int = 0) -> InverseProblem:
    x = heldout_images(n, size).to(dtype)
    op = Blur(gaussian_kernel(1.5), (1, size, size))
    return InverseProblem.simulate(op, x, Gaussian(sigma), torch.Generator().manual_seed(seed))


def nonlinear_problem(size: int, n: int, sigma: float = 0.02) -> InverseProblem:
    """A smooth pointwise nonlinearity after a blur: y = b + b²/2 with b = k * x."""
    blur = Blur(gaussian_kernel(1.0), (1, size, size))
    op = NonlinearOperator(lambda x: blur.apply_forward(x) + 0.5 * blur.apply_forward(x).square(), (1, size, size), (1, size, size))
    x = heldout_images(n, size)
    return InverseProblem.simulate(op, x, Gaussian(sigma), torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------- (a) ADMM + TV


def forward_differences(x: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences with a Neumann boundary, written independently of the TV prior."""
    dh = torch.zeros_like(x)
    dv = torch.zeros_like(x)
    dh[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    dv[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return dh, dv


def forward_differences_adjoint(ph: Tensor, pv: Tensor) -> Tensor:
    out = torch.zeros_like(ph)
    out[..., :, :-1] -= ph[..., :, :-1]
    out[..., :, 1:] += ph[..., :, :-1]
    out[..., :-1, :] -= pv[..., :-1, :]
    out[..., 1:, :] += pv[..., :-1, :]
    return out


def isotropic_tv(x: Tensor) -> Tensor:
    dh, dv = forward_differences(x)
    return (dh.square() + dv.square()).sum(1).sqrt().flatten(1).sum(1)


def chambolle_pock_tv_inpainting(mask: Tensor, y: Tensor, lam: float, iterations: int) -> Tensor:
    r"""Reference: :math:`\min_x \tfrac12\|m\odot x - y\|^2 + \lambda\,\mathrm{TV}(x)` by the primal-dual
    method of Chambolle & Pock (2011), :math:`K = \nabla`, :math:`\|K\|^2 \le 8`, :math:`\theta = 1`."""
    x = y.clone()
    x_bar = x.clone()
    ph = torch.zeros_like(x)
    pv = torch.zeros_like(x)
    tau = sigma = 0.99 / 8**0.5
    for _ in range(iterations):
        dh, dv = forward_differences(x_bar)
        ph, pv = ph + sigma * dh, pv + sigma * dv
        scale = ((ph.square() + pv.square()).sum(1, keepdim=True).sqrt() / lam).clamp_min(1.0)
        ph, pv = ph / scale, pv / scale
        x_new = x - tau * forward_differences_adjoint(ph, pv)
        x_new = (x_new + tau * mask * y) / (1.0 + tau * mask)
        x_bar = 2 * x_new - x
        x = x_new
    return x


@pytest.mark.skipif(TV is None, reason="reddiff_imaging.priors.tv is not available")
def test_admm_tv_decreases_objective_and_matches_chambolle_pock() -> None:
    lam = 0.02
    problem = box_problem(16, 2, 0.02, torch.float64)
    mask = problem.operator.mask
    assert torch.allclose(isotropic_tv(problem.x_true), TV().value(problem.x_true))

    def objective(z: Tensor) -> Tensor:
        return 0.5 * (mask * z - problem.y).square().flatten(1).sum(1) + lam * isotropic_tv(z)

    values: list[Tensor] = []
    prior = TV(max_iter=300, tol=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a few inner FGP solves stop at max_iter
        result = ADMM(steps=150, lam=lam, clip=False).solve(
            problem, prior, callback=lambda step, z, terms: values.append(objective(z))
        )
    history = torch.stack(values)  # (iterations, B)
    # ADMM is not a descent method: near the optimum the objective at z may wobble by ~1e-5 relative
    increases = (history[6:] - history[5:-1]).max(dim=0).values
    assert bool((increases <= 1e-4 * (history[0] - history[-1])).all()), increases
    assert bool((history[-1] < 0.7 * history[0]).all())

    reference = chambolle_pock_tv_inpainting(mask, problem.y, lam, 3000)
    f_admm, f_ref = objective(result.x), objective(reference)
    assert torch.allclose(f_admm, f_ref, rtol=1e-4), (f_admm, f_ref)
    distance = (result.x - reference).flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1)
    assert float(distance.max()) < 1e-3, distance
    assert {"data", "primal_residual", "dual_residual"} <= set(result.history[-1])
    assert result.history[-1]["primal_residual"] < 1e-3


# ---------------------------------------------------------------------------- (b) exact prox


def test_admm_with_quadratic_prior_converges_to_ridge_solution() -> None:
    lam = 0.3
    problem = blur_problem(16, 2, 0.02, torch.float64)
    a = dense(problem.operator.apply_forward, 256, (1, 16, 16))
    b = (a.T @ problem.y.reshape(2, -1).T).T
    ridge = torch.linalg.solve(a.T @ a + lam * torch.eye(256, dtype=torch.float64), b.T).T.reshape(problem.y.shape)
    for rho in (0.1, 1.0):
        result = ADMM(steps=300, lam=lam, rho=rho, clip=False).solve(problem, Ridge())
        assert torch.allclose(result.x, ridge, atol=1e-8, rtol=0), (rho, (result.x - ridge).abs().max())


def test_admm_early_stopping() -> None:
    problem = blur_problem(16, 2, 0.02, torch.float64)
    result = ADMM(steps=300, lam=0.3, tol=1e-6, clip=False).solve(problem, Ridge())
    last = result.history[-1]["step"]
    assert last < 299 and (last + 1) % 10 == 0  # stopped at a check (every 10 iterations)
    assert [r["step"] for r in result.history[:3]] == [0, 9, 10]  # metrics_every=10 records and the checks
    full = ADMM(steps=300, lam=0.3, clip=False).solve(problem, Ridge())
    assert float((result.x - full.x).norm() / full.x.norm()) < 1e-4


# ---------------------------------------------------------------------------- (c) quality


SOLVERS = {
    "pnp-admm": lambda: PnPADMM(),
    "pnp-admm-growth": lambda: PnPADMM(rho=0.1, rho_growth=1.02),
    "pnp-pgd": lambda: PnPPGD(),
    "pnp-fista": lambda: PnPPGD(fista=True),
    "red-fixed-point": lambda: RED(method="fixed-point"),
    "red-gd": lambda: RED(method="gd"),
}
PROBLEMS = {
    "box-inpainting": lambda: box_problem(32, 3, 0.01),
    "deblurring": lambda: blur_problem(32, 3, 0.05),
}
MEASURED: dict[tuple[str, str], tuple[float, float]] = {}


@pytest.mark.parametrize("task", list(PROBLEMS))
@pytest.mark.parametrize("solver_name", list(SOLVERS))
def test_denoiser_solvers_beat_pseudo_inverse(solver_name: str, task: str) -> None:
    problem = PROBLEMS[task]()
    baseline = problem.operator.pinv(problem.y, rcond=3e-2).real.clamp(0, 1)
    result = SOLVERS[solver_name]().solve(problem, denoiser())
    gain_db = psnr(result.x, problem.x_true) - psnr(baseline, problem.x_true)
    MEASURED[(solver_name, task)] = (float(psnr(baseline, problem.x_true).mean()), float(psnr(result.x, problem.x_true).mean()))
    print(f"{solver_name:16s} {task:15s} pinv {MEASURED[(solver_name, task)][0]:.2f} dB -> {MEASURED[(solver_name, task)][1]:.2f} dB")
    assert bool((gain_db > 2.0).all()), gain_db
    assert result.x.min() >= 0 and result.x.max() <= 1
    steps = SOLVERS[solver_name]().steps
    assert [r["step"] for r in result.history] == [*range(0, steps, 10), steps - 1]
    assert {"psnr", "data"} <= set(result.history[0]) and "psnr" in result.history[-1]


@pytest.mark.parametrize("solver_name", ["pnp-admm", "pnp-pgd", "red-gd", "red-fixed-point"])
def test_diagnostics_follow_metrics_every(solver_name: str) -> None:
    problem = box_problem(16, 2, 0.01)
    solver = dataclasses.replace(SOLVERS[solver_name](), steps=7)
    every = solver.solve(problem, denoiser(), metrics_every=1)
    assert [r["step"] for r in every.history] == list(range(7)) and all("data" in r for r in every.history)
    sparse = solver.solve(problem, denoiser(), metrics_every=3)
    assert [r["step"] for r in sparse.history] == [0, 3, 6]
    assert sparse.history[1] == pytest.approx(every.history[3])  # the records do not change the iteration
    assert torch.equal(solver.solve(problem, denoiser(), metrics_every=0).x, every.x)


@pytest.mark.skipif(TV is None, reason="reddiff_imaging.priors.tv is not available")
def test_admm_tv_beats_pseudo_inverse() -> None:
    problem = box_problem(32, 2, 0.01)
    baseline = problem.operator.pinv(problem.y).clamp(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ADMM(steps=40).solve(problem, TV())
    gain_db = psnr(result.x, problem.x_true) - psnr(baseline, problem.x_true)
    print(f"admm-tv box pinv {float(psnr(baseline, problem.x_true).mean()):.2f} -> {float(psnr(result.x, problem.x_true).mean()):.2f} dB")
    assert bool((gain_db > 5.0).all()), gain_db


@pytest.mark.parametrize("method", ["fixed-point", "gd"])
def test_red_with_linear_denoiser_reaches_closed_form_fixed_point(method: str) -> None:
    lam = 0.5
    problem = blur_problem(16, 2, 0.02, torch.float64)
    a = dense(problem.operator.apply_forward, 256, (1, 16, 16))
    w = dense(circular_smoothing, 256, (1, 16, 16))
    b = a.T @ problem.y.reshape(2, -1).T
    fixed_point = torch.linalg.solve(a.T @ a + lam * (torch.eye(256, dtype=torch.float64) - w), b).T.reshape(problem.y.shape)
    steps = 300 if method == "fixed-point" else 1500
    result = RED(lam=lam, method=method, steps=steps, clip=False).solve(problem, LinearDenoiser())
    error = float((result.x - fixed_point).norm() / fixed_point.norm())
    assert error < 1e-6, error
    assert result.history[-1]["change"] < 1e-6


def test_pnp_pgd_and_red_gd_handle_nonlinear_operators() -> None:
    problem = nonlinear_problem(16, 2)
    for solver in (PnPPGD(steps=60), PnPPGD(steps=60, fista=True), RED(method="gd", steps=60)):
        result = solver.solve(problem, denoiser())
        assert torch.isfinite(result.x).all()
        assert result.history[-1]["data"] < 0.2 * result.history[0]["data"], solver
        # the step comes from the Jacobian norm of each image alone: a batch equals its items
        single = solver.solve(
            InverseProblem(problem.operator, problem.y[1:], problem.noise, problem.x_true[1:]), denoiser()
        )
        assert torch.allclose(result.x[1:], single.x, atol=1e-5), solver


# ---------------------------------------------------------------------------- (d) bad input


def test_missing_capability_names_prox_and_solver() -> None:
    problem = box_problem(16, 1, 0.01)
    with pytest.raises(MissingCapabilityError, match="prox") as info:
        ADMM().solve(problem, DenoiseOnly())
    assert "admm" in str(info.value)
    with pytest.raises(MissingCapabilityError, match="denoise"):
        PnPPGD().solve(problem, Ridge())
    for solver in (PnPADMM(), RED()):
        with pytest.raises(MissingCapabilityError, match=solver.name):
            solver.solve(problem, Ridge())


def test_nonlinear_operator_refused_where_a_linear_one_is_needed() -> None:
    problem = nonlinear_problem(16, 1)
    for solver, prior in ((ADMM(), Ridge()), (PnPADMM(), DenoiseOnly()), (RED(method="fixed-point"), DenoiseOnly())):
        with pytest.raises(ValueError, match="NonlinearOperator") as info:
            solver.solve(problem, prior)
        assert "linear operator" in str(info.value) and solver.name in str(info.value)
    with pytest.raises(ValueError, match="init='adjoint'"):
        PnPPGD(init="adjoint").solve(problem, DenoiseOnly())


@pytest.mark.parametrize(
    ("cls", "option", "value"),
    [
        (ADMM, "steps", 0),
        (ADMM, "lam", -1.0),
        (ADMM, "lam", 0.0),
        (ADMM, "rho", 0.0),
        (ADMM, "tol", -1e-3),
        (ADMM, "init", "random"),
        (ADMM, "rcond", float("nan")),
        (PnPADMM, "sigma", 0.0),
        (PnPADMM, "rho_growth", 0.5),
        (PnPADMM, "steps", -3),
        (PnPPGD, "step_scale", 0.0),
        (PnPPGD, "step", -0.1),
        (PnPPGD, "sigma", float("inf")),
        (RED, "method", "admm"),
        (RED, "lam", 0.0),
        (RED, "sigma", -0.05),
        (RED, "init", "noise"),
    ],
)
def test_bad_options_raise_value_error_naming_the_option(cls: type, option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        cls(**{option: value})


def test_bad_option_types() -> None:
    with pytest.raises(TypeError, match="steps"):
        ADMM(steps=10.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fista"):
        PnPPGD(fista="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="init"):
        RED(init=3)  # type: ignore[arg-type]


def test_init_tensor_checked_against_problem() -> None:
    problem = box_problem(16, 2, 0.01)
    with pytest.raises(ValueError, match="init must have shape"):
        PnPPGD(init=torch.zeros(1, 1, 16, 16)).solve(problem, denoiser())
    start = torch.full((2, 1, 16, 16), 0.5)
    result = PnPPGD(init=start, steps=5).solve(problem, denoiser())
    assert result.x.shape == start.shape


def test_divergence_raises_non_finite_error() -> None:
    problem = blur_problem(16, 1, 0.01)
    with pytest.raises(NonFiniteError) as info:
        RED(method="gd", step=1e4, steps=200).solve(problem, denoiser())
    assert info.value.step < 200


# ---------------------------------------------------------------------------- (e) reproducibility, precision


ALL = {  # case -> (solver factory, prior factory, registry name)
    "admm": (lambda: ADMM(steps=15), Ridge, "admm"),
    "pnp-admm": (lambda: PnPADMM(steps=15), denoiser, "pnp-admm"),
    "pnp-fista": (lambda: PnPPGD(steps=15, fista=True), denoiser, "pnp-pgd"),
    "red": (lambda: RED(steps=15), denoiser, "red"),
    "red-gd": (lambda: RED(steps=15, method="gd"), denoiser, "red"),
}


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reproducible_and_dtype_preserving(name: str, dtype: torch.dtype) -> None:
    make_solver, make_prior, registry_name = ALL[name]
    problem = blur_problem(16, 2, 0.02, dtype)
    first = make_solver().solve(problem, make_prior())
    second = make_solver().solve(problem, make_prior())
    assert torch.equal(first.x, second.x)
    assert first.x.dtype == dtype and first.x.device == problem.y.device
    assert first.x.requires_grad is False
    assert first.config["solver"] == registry_name
    assert first.config["steps"] == 15
    assert [r["step"] for r in first.history] == [0, 10, 14]
    assert all(isinstance(v, float) for record in first.history for k, v in record.items() if k != "step")


@pytest.mark.parametrize("name", list(ALL))
def test_follows_the_problem_device(name: str, device: torch.device) -> None:
    make_solver, make_prior, _ = ALL[name]
    problem = blur_problem(16, 2, 0.02).to(device)
    result = make_solver().solve(problem, make_prior().to(device))
    assert result.x.device == problem.device and result.x.dtype == torch.float32
    assert torch.isfinite(result.x).all()


@pytest.mark.parametrize("solver", [ADMM(steps=2), PnPADMM(steps=2), PnPPGD(steps=2)])
def test_an_operator_that_measures_nothing_is_named_with_what_is_expected(solver) -> None:
    from reddiff_imaging.priors import TV

    operator = Inpainting(torch.zeros(4, 4), (1, 4, 4))  # a mask that hides every pixel
    problem = InverseProblem(operator, torch.zeros(1, 1, 4, 4), Gaussian(0.05))
    with pytest.raises(ValueError, match=rf"^{solver.name}: problem.operator \(Inpainting\) has norm 0, expected a nonzero norm: it measures nothing"):
        solver.solve(problem, TV())
