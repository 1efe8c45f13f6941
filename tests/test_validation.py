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


def test_check_device_offers_auto_only_where_it_takes_it() -> None:
    """check_device's message said "use auto, cpu, cuda or cuda:N" to callers that refused "auto"."""
    from reddiff_imaging._validation import check_device

    with pytest.raises(ValueError, match=r"^device 'gpu' is not a device; use cpu, cuda or cuda:N$"):
        check_device("gpu")
    with pytest.raises(ValueError, match=r"^device 'auto' is not a device; use cpu, cuda or cuda:N$"):
        check_device("auto")
    with pytest.raises(ValueError, match=r"^device 'gpu' is not a device; use auto, cpu, cuda or cuda:N$"):
        check_device("gpu", auto=True)
    assert check_device("auto", auto=True).type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_build_prior_checks_its_device() -> None:
    from reddiff_imaging.workbench.parts import build_prior

    with pytest.raises(ValueError, match=r"^device 'gpu' is not a device; use auto, cpu, cuda or cuda:N$"):
        build_prior("tv", "gpu")
    assert build_prior("tv", "auto") is not None
