"""Noise models and the InverseProblem container."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import InverseProblem, noise
from reddiff_imaging import operators as ops

SHAPE = (1, 16, 16)


def test_gaussian_noise_statistics_and_reproducibility() -> None:
    clean = torch.zeros(4, *SHAPE, dtype=torch.float64)
    model = noise.Gaussian(0.1)
    a = model(clean, torch.Generator().manual_seed(0))
    b = model(clean, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert float(a.std()) == pytest.approx(0.1, rel=0.1)
    assert noise.Gaussian(0.0)(clean).equal(clean)


def test_gaussian_noise_on_complex_measurements_has_sigma_per_component() -> None:
    clean = torch.zeros(64, 64, 64, dtype=torch.complex128)
    y = noise.Gaussian(0.2)(clean, torch.Generator().manual_seed(0))
    assert float(y.real.std()) == pytest.approx(0.2, rel=0.02)
    assert float(y.imag.std()) == pytest.approx(0.2, rel=0.02)


def test_poisson_noise_mean_and_variance() -> None:
    clean = torch.full((1, 1, 200, 200), 0.5, dtype=torch.float64)
    y = noise.Poisson(0.01)(clean, torch.Generator().manual_seed(0))
    assert float(y.mean()) == pytest.approx(0.5, rel=0.01)
    assert float(y.var()) == pytest.approx(0.01 * 0.5, rel=0.05)
    with pytest.raises(ValueError, match="clean must be non-negative"):
        noise.Poisson(0.1)(-clean)


def test_noise_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0, got -0.1"):
        noise.Gaussian(-0.1)
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        noise.Poisson(0.0)


def test_problem_simulate_and_validation() -> None:
    op = ops.BlockAverage(4, SHAPE)
    x = torch.rand(2, *SHAPE)
    problem = InverseProblem.simulate(op, x, noise.Gaussian(0.05), torch.Generator().manual_seed(0))
    assert problem.y.shape == (2, 1, 4, 4) and problem.batch_size == 2 and problem.sigma == 0.05
    with pytest.raises(ValueError, match=r"y must have shape \(B, 1, 4, 4\), got \(2, 1, 16, 16\)"):
        InverseProblem(op, x, noise.Gaussian(0.05))
    with pytest.raises(ValueError, match="x_true and y must have the same batch size, got 3 and 2"):
        InverseProblem(op, problem.y, noise.Gaussian(0.05), torch.rand(3, *SHAPE))
    with pytest.raises(TypeError, match="noise must be a NoiseModel"):
        InverseProblem(op, problem.y, 0.05)  # type: ignore[arg-type]
    bad = problem.y.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        InverseProblem(op, bad, noise.Gaussian(0.05))
    with pytest.raises(TypeError, match="has no sigma"):
        InverseProblem(op, problem.y.abs(), noise.Poisson(0.1)).sigma


def test_problem_to_copies_the_operator() -> None:
    op = ops.Blur(ops.gaussian_kernel(1.0), SHAPE)
    problem = InverseProblem.simulate(op, torch.rand(1, *SHAPE), noise.Gaussian(0.0))
    moved = problem.to("cpu")
    assert moved.operator is not op and problem.operator is op


@pytest.mark.parametrize("generator", [3, "seed", 0.5])
def test_noise_models_refuse_what_is_not_a_generator(generator) -> None:
    clean = torch.rand(1, 1, 4, 4)
    for model in (noise.Gaussian(0.1), noise.Poisson(0.1)):  # both failed inside torch.randn / torch.poisson
        with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got"):
            model(clean, generator)
        with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got"):
            InverseProblem.simulate(ops.Identity((1, 4, 4)), clean, model, generator)


def test_simulate_checks_its_parts_before_applying_them() -> None:
    clean = torch.rand(1, 1, 4, 4)
    with pytest.raises(TypeError, match="operator must be a reddiff_imaging Operator, got str"):
        InverseProblem.simulate("blur", clean, noise.Gaussian(0.1))  # type: ignore[arg-type]  # "'str' object is not callable"
    with pytest.raises(TypeError, match=r"noise must be a NoiseModel \(e.g. Gaussian\(0.05\)\), got float"):
        InverseProblem.simulate(ops.Identity((1, 4, 4)), clean, 0.1)  # type: ignore[arg-type]  # "no attribute 'sample'"


def test_poisson_measurements_must_be_real_and_non_negative() -> None:
    op = ops.Identity((1, 4, 4))
    with pytest.raises(ValueError, match="y must be non-negative for Poisson noise .*got values down to -1"):
        InverseProblem(op, torch.full((1, 1, 4, 4), -1.0), noise.Poisson(0.1))  # was taken
    with pytest.raises(TypeError, match="y must be real for Poisson noise .*got dtype torch.complex64"):
        InverseProblem(op, torch.ones(1, 1, 4, 4, dtype=torch.complex64), noise.Poisson(0.1))
    InverseProblem(op, torch.zeros(1, 1, 4, 4), noise.Poisson(0.1))
    InverseProblem(op, torch.full((1, 1, 4, 4), -1.0), noise.Gaussian(0.1))  # any value is a Gaussian measurement


def test_problem_to_checks_the_device() -> None:
    problem = InverseProblem(ops.Identity((1, 4, 4)), torch.rand(1, 1, 4, 4), noise.Gaussian(0.1))
    with pytest.raises(ValueError, match="device 'nosuch' is not a device"):
        problem.to("nosuch")  # torch's 'Expected one of cpu, cuda, ... device type'
    with pytest.raises(TypeError, match="device must be a device name such as 'cpu' or 'cuda', got 3.5"):
        problem.to(3.5)  # type: ignore[arg-type]  # was taken
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' was requested but no CUDA device is available"):
            problem.to("cuda")
    assert problem.to("cpu").y.device.type == "cpu"
