"""Sliced Wasserstein distance: input errors, raised before any projection is drawn."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.distribution_metrics import sliced_wasserstein

A = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"p": True}, TypeError, "p must be a real number, got True"),
        ({"p": "2"}, TypeError, "p must be a real number, got '2'"),
        ({"p": 0.5}, ValueError, "p must be a finite number >= 1"),
        ({"num_projections": 10**12}, ValueError, "num_projections asks for .* the limit is"),
        ({"generator": 3}, TypeError, "generator must be a torch.Generator or None"),
    ],
)
def test_bad_options_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        sliced_wasserstein(A, A, **kwargs)


def test_empty_and_meta_samples_are_refused() -> None:
    with pytest.raises(ValueError, match=r"a must have shape \(N, D\).*D >= 1, got \(10, 0\)"):
        sliced_wasserstein(torch.randn(10, 0), torch.randn(10, 0))
    with pytest.raises(ValueError, match="b is on the 'meta' device"):
        sliced_wasserstein(A, A.to("meta"))


def test_huge_dimension_is_refused_before_allocation() -> None:
    big = torch.zeros(2, 1).expand(2, 2**27)
    with pytest.raises(ValueError, match="num_projections asks for"):
        sliced_wasserstein(big, big, num_projections=256)
