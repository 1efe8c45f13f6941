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
from reddiff_imaging.solvers.capabilities import Support, require_linear
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


@pytest.mark.parametrize("name", [3, None, True, ["reddiff"], b"reddiff"])
def test_a_solver_name_that_is_not_a_string_is_a_type_error_listing_the_names(name: object) -> None:
    # before: a list failed inside the dict lookup ('unhashable type'), 3 or True read 'unknown solver 3'
    with pytest.raises(TypeError, match=r"name must be a solver name \(a str\), one of admm.*reddiff; got"):
        get(name)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a solver name"):
        ri.solvers.registry.solver_class(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [3, None, "reddiff", int])
def test_registering_something_that_is_not_a_solver_class_is_refused(cls: object) -> None:
    # before: AttributeError "'int' object has no attribute 'name'" from inside the registry
    with pytest.raises(TypeError, match="cls must be a subclass of reddiff_imaging.solvers.Solver, got"):
        ri.solvers.register(cls)  # type: ignore[arg-type]
    assert "reddiff" in available()


def test_capability_helpers_refuse_arguments_of_the_wrong_kind() -> None:
    from reddiff_imaging.solvers import capabilities as cap

    tv, problem = TV(), _problem(ops.Identity(SHAPE))
    # before: "s needs a linear operator, got the nonlinear str" (a string is no operator at all)
    with pytest.raises(TypeError, match="operator must be a reddiff_imaging.operators.Operator, got str"):
        require_linear("x", "s")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="operator must be a reddiff_imaging.operators.Operator, got NoneType"):
        cap.linear_reason(None, "why", "alternatives")  # type: ignore[arg-type]
    # before: AttributeError "'str' object has no attribute 'missing'" / "... 'noise'" / "... 'operator'"
    with pytest.raises(TypeError, match="prior must be a reddiff_imaging.priors.Prior, got str"):
        cap.require_diffusion("x", "s")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prior must be a reddiff_imaging.priors.Prior, got str"):
        cap.missing_capabilities(["eps"], "x", "s")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="problem must be a reddiff_imaging.InverseProblem, got str"):
        cap.gaussian_reason("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="problem must be a reddiff_imaging.InverseProblem, got str"):
        cap.normal_equation_reasons("x", "why", "other")  # type: ignore[arg-type]
    # before: requires="eps" was read letter by letter ("capabilities must be among ..., got ['e']")
    with pytest.raises(TypeError, match="requires must be a list of capabilities"):
        cap.missing_capabilities("eps", tv, "s")
    with pytest.raises(TypeError, match="each entry of requires must be a capability"):
        cap.missing_capabilities([3], tv, "s")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="each entry of requires must be a capability"):
        cap.missing_capabilities([()], tv, "s")
    # valid input keeps its answers
    assert cap.missing_capabilities([("eps", "denoise"), "prox"], tv, "s") == ()
    assert cap.gaussian_reason(problem) is None and cap.linear_reason(problem.operator, "w", "a") is None


def test_support_refuses_fields_that_are_not_sentences() -> None:
    # before: Support("s", missing="abc").message was 'a; b; c', Support(3) and missing=None were taken
    with pytest.raises(TypeError, match="missing must be a tuple of sentences"):
        Support("s", missing="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing must be a tuple of sentences"):
        Support("s", missing=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reasons must be a tuple of sentences"):
        Support("s", reasons=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="solver must be the solver's name"):
        Support(3)  # type: ignore[arg-type]
    support = Support("s", reasons=["needs a linear operator"])  # type: ignore[arg-type]
    assert support.reasons == ("needs a linear operator",) and not support


def test_spectral_helpers_check_their_arguments() -> None:
    from reddiff_imaging.solvers import spectral

    operator = ops.BlockAverage(2, (1, 8, 8))
    svd, cpu, like = operator.svd, torch.device("cpu"), torch.zeros(1, 1, 4, 4)
    assert svd is not None
    # before: NaN, inf or 2.0 kept no singular value at all, -1 kept all, True read as 1; None and
    # '1e-3' failed inside the tensor product
    for rcond in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="rcond must be a finite number >= 0"):
            spectral.kept_singular_values(svd, rcond, like)
    with pytest.raises(ValueError, match=r"rcond must be in \[0, 1\)"):
        spectral.kept_singular_values(svd, 2.0, like)
    for rcond in (True, None, "1e-3"):
        with pytest.raises(TypeError, match="rcond must be a real number"):
            spectral.kept_singular_values(svd, rcond, like)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="like must be a tensor"):
        spectral.kept_singular_values(svd, 1e-3, [1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="like must be a floating or complex tensor, got dtype torch.int64"):
        spectral.kept_singular_values(svd, 1e-3, torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="svd must be a reddiff_imaging.operators.SVD"):
        spectral.kept_singular_values(None, 1e-3, like)  # type: ignore[arg-type]
    # before: an int64 or complex probe image was returned silently, 'float32' failed as a device string
    for dtype in (torch.int64, torch.complex64, "float32"):
        with pytest.raises(TypeError, match="dtype must be a real floating torch.dtype"):
            spectral.probe_image(operator, dtype, cpu)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="operator must be a reddiff_imaging.operators.Operator, got str"):
        spectral.probe_image("x", torch.float32, cpu)  # type: ignore[arg-type]
    # before: AttributeError "'str' object has no attribute 'type'" / "'NoneType' ... 'Vt'"
    with pytest.raises(TypeError, match="svd must be a reddiff_imaging.operators.SVD"):
        spectral.spectral_kind(operator, None, cpu)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="device must be a device name"):
        spectral.spectral_kind(operator, svd, 3)  # type: ignore[arg-type]
    # valid input keeps its answers
    assert spectral.spectral_kind(operator, svd, cpu) == "real" == spectral.spectral_kind(operator, svd, "cpu")  # type: ignore[arg-type]
    assert int(spectral.kept_singular_values(svd, 1e-3, like)[1].sum()) == 16
