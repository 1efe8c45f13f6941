"""The capability layer: ``Solver.check`` says whether and why a solver can run a problem with a
prior, ``solve`` raises the same answer before any work, and the workbench asks ``check`` instead of
catching exceptions."""

from __future__ import annotations

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.errors import ReddiffImagingError, UnsupportedProblemError
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.priors import TV, GaussianFilterDenoiser, MissingCapabilityError, Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import ADMM, DDRM, DPS, RED, PnPPGD, RedDiff, available, get
from reddiff_imaging.solvers.capabilities import require_linear
from reddiff_imaging.workbench.specs import supports
from tests.solvers.diffusion_helpers import tiny_prior

SHAPE = (1, 4, 4)


def _problem(operator: ops.Operator, noise: ri.noise.NoiseModel | None = None) -> InverseProblem:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(1, *SHAPE, generator=g, dtype=torch.float64)
    return InverseProblem.simulate(operator, x, noise or Gaussian(0.05), g)


def test_errors_share_a_public_base_and_keep_their_old_types() -> None:
    assert issubclass(UnsupportedProblemError, ReddiffImagingError)
    assert issubclass(UnsupportedProblemError, TypeError) and issubclass(UnsupportedProblemError, ValueError)
    assert issubclass(MissingCapabilityError, UnsupportedProblemError)


def test_check_names_every_reason_and_solve_raises_it_before_any_work() -> None:
    hdr = _problem(ops.HDR(SHAPE), Poisson(0.01))
    support = DDRM().check(hdr, TV())
    assert not support
    assert "'eps'" in support.message and "linear operator" in support.message and "Poisson" in support.message
    calls = []

    class Watched(DDRM):
        def _run(self, *args: object) -> torch.Tensor:  # pragma: no cover - must not run
            calls.append(args)
            raise AssertionError("_run was reached")

    with pytest.raises(UnsupportedProblemError, match="linear operator"):
        Watched().solve(_problem(ops.HDR(SHAPE)), tiny_prior(SHAPE))
    assert calls == []


class GradientOnly(Prior):
    """A prior with a gradient and nothing else."""

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_alternative_capabilities_eps_or_denoise() -> None:
    assert RedDiff().check(prior=tiny_prior(SHAPE))
    assert RedDiff().check(prior=GaussianFilterDenoiser())
    support = RedDiff().check(prior=GradientOnly())
    assert not support and "'eps' or 'denoise'" in support.message
    with pytest.raises(MissingCapabilityError, match="'eps' or 'denoise'.*reddiff"):
        RedDiff(steps=2).solve(_problem(ops.Identity(SHAPE)), GradientOnly())


def test_check_depends_on_the_configuration() -> None:
    hdr = _problem(ops.HDR(SHAPE))
    assert not RED().check(hdr, GaussianFilterDenoiser())  # fixed-point solves normal equations
    assert RED(method="gd").check(hdr, GaussianFilterDenoiser())
    assert PnPPGD().check(hdr, GaussianFilterDenoiser())
    assert not ADMM().check(hdr, TV())


@pytest.mark.parametrize("name", available())
def test_supports_agrees_with_check_for_every_solver(name: str) -> None:
    for prior in (tiny_prior(SHAPE), TV(), GaussianFilterDenoiser()):
        assert bool(supports(name, prior)) == bool(get(name).check(prior=prior))


def test_a_real_type_error_inside_a_solver_is_not_read_as_a_refusal(tmp_path) -> None:
    from reddiff_imaging.workbench import compare

    class Broken(DPS):
        def _run(self, *args: object) -> torch.Tensor:
            raise TypeError("a bug inside the solver")

    with pytest.raises(TypeError, match="a bug inside the solver"):
        compare(
            tasks=["denoising"], solvers=[Broken(steps=2)], priors=[tiny_prior((1, 8, 8))],
            num_images=1, size=8, output=tmp_path / "r.h5", progress=False,
        )


def test_require_linear_narrows_or_refuses() -> None:
    blur = ops.Blur(ops.gaussian_kernel(1.0, 3).double(), SHAPE)
    assert require_linear(blur, "x") is blur
    with pytest.raises(UnsupportedProblemError, match="x needs a linear operator.*HDR"):
        require_linear(ops.HDR(SHAPE), "x")


def test_check_of_nothing_is_support() -> None:
    for name in available():
        assert get(name).check()
