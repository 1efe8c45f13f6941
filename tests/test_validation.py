"""The shared input checks: the NaN/Inf scan and the block in which solver loops skip it."""

from __future__ import annotations

import math

import pytest
import torch

from reddiff_imaging._validation import check_bool, check_tensor, monitored_finiteness


def test_nan_is_refused_outside_solver_loops_and_left_to_the_monitor_inside() -> None:
    bad = torch.tensor([[1.0, math.nan]])
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        check_tensor(bad, "x")
    with monitored_finiteness():
        assert check_tensor(bad, "x") is bad
        with pytest.raises(TypeError, match="x must have a floating-point dtype"):
            check_tensor(torch.tensor([[1, 2]]), "x")  # the other checks stay
    with pytest.raises(ValueError, match="contains NaN"):  # the block restores the scan on exit
        check_tensor(bad, "x")


def test_check_bool_names_the_argument() -> None:
    assert check_bool(True, "clip") is True
    with pytest.raises(TypeError, match="clip must be a bool, got 1"):
        check_bool(1, "clip")
