"""dot_test, linearity_test, jacobian_test and default_tolerance: their options are checked first."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging import operators as ops
from reddiff_imaging.operators.checks import default_tolerance

OP = ops.Identity((1, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dtype": torch.int64}, TypeError, "dtype must be torch.float32 or torch.float64"),
        ({"dtype": "float64"}, TypeError, "dtype must be torch.float32 or torch.float64.*'float64'"),
        ({"dtype": torch.complex128}, TypeError, "dtype must be torch.float32 or torch.float64"),
        ({"tolerance": float("nan")}, ValueError, "tolerance must be a finite number >= 0"),
        ({"tolerance": -1.0}, ValueError, "tolerance must be a finite number >= 0"),
        ({"tolerance": "1e-3"}, TypeError, "tolerance must be a real number"),
        ({"tolerance": True}, TypeError, "tolerance must be a real number"),
        ({"seed": 2**70}, ValueError, "seed must be an int"),
        ({"batch": 10**9}, ValueError, r"batch asks for random inputs of shape \(1000000000, 1, 4, 4\).*the limit is"),
    ],
)
def test_dot_and_linearity_tests_check_their_options(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ops.dot_test(OP, **kwargs)
    with pytest.raises(error, match=match):
        ops.linearity_test(OP, **kwargs)


def test_dot_test_complex_input_is_a_bool() -> None:
    with pytest.raises(TypeError, match="complex_input must be a bool, got 'yes'"):
        ops.dot_test(OP, complex_input="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": 0.0}, ValueError, r"step must be a finite number > 0, got 0.0"),
        ({"step": float("nan")}, ValueError, "step must be a finite number > 0"),
        ({"step": "1e-6"}, TypeError, "step must be a real number"),
        ({"tolerance": -1}, ValueError, "tolerance must be a finite number >= 0"),
    ],
)
def test_jacobian_test_checks_its_options(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ops.jacobian_test(OP, **kwargs)


def test_default_tolerance_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="op must be a reddiff_imaging Operator, got NoneType"):
        default_tolerance(None, torch.float64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        default_tolerance(OP, "float64")  # type: ignore[arg-type]
    assert default_tolerance(OP, torch.float64) == 1e-10
