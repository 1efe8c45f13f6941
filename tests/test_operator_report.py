"""The operator report checks all its arguments before it draws or prints anything."""

from __future__ import annotations

import pytest

from reddiff_imaging.operator_report import operator_report


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 8}, ValueError, "size must be an int >= 12"),
        ({"size": 14}, ValueError, "size must be a multiple of 4"),
        ({"size": "16"}, TypeError, "size must be an int"),
        ({"size": 10**6}, ValueError, "size must be an int >= 12 and <= 10000"),
        ({"seed": "0"}, TypeError, "seed must be an int"),
        ({"num_images": 0}, ValueError, "num_images must be an int >= 1"),
        ({"sigma": float("nan")}, ValueError, "sigma must be a finite number >= 0"),
        ({"sigma": -1.0}, ValueError, "sigma must be a finite number >= 0"),
        ({"sigma": True}, TypeError, "sigma must be a real number"),
    ],
)
def test_bad_arguments_are_refused_before_any_output(kwargs: dict, error: type, match: str, capsys) -> None:
    with pytest.raises(error, match=match):
        operator_report(**kwargs)
    assert capsys.readouterr().out == ""
