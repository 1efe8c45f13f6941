"""Tests of the VP noise schedules."""

from __future__ import annotations

import math

import pytest
import torch

from reddiff_imaging.priors import VPSchedule


def test_linear_matches_ddpm() -> None:
    s = VPSchedule.linear()
    assert s.num_timesteps == 1000 and s.betas.dtype == torch.float64
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    expected = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    torch.testing.assert_close(s.alphas_cumprod, expected)
    assert bool((s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all())
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.036e-5, rel=1e-2)  # known DDPM value
    torch.testing.assert_close(s.sqrt_alphas_cumprod**2, s.alphas_cumprod)
    torch.testing.assert_close(s.sqrt_alphas_cumprod**2 + s.sqrt_one_minus_alphas_cumprod**2, torch.ones(1000, dtype=torch.float64))


def test_cosine() -> None:
    s = VPSchedule.cosine(num_timesteps=1000, s=0.008)
    f = lambda u: math.cos((u / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert s.alphas_cumprod[499].item() == pytest.approx(f(500) / f(0), rel=1e-9)
    assert float(s.betas.max()) <= 0.999


def test_sigma_over_alpha_and_inverse() -> None:
    s = VPSchedule.linear()
    ab = s.alphas_cumprod
    torch.testing.assert_close(s.sigma_over_alpha(torch.tensor([0, 10])), ((1 - ab[[0, 10]]) / ab[[0, 10]]).sqrt())
    assert s.sigma_over_alpha(5).ndim == 0
    ts = torch.tensor([0, 17, 250, 999])
    assert torch.equal(s.timestep_for_sigma(s.sigma_over_alpha(ts)), ts)
    assert s.timestep_for_sigma(0.0).item() == 0
    assert s.timestep_for_sigma(1e6).item() == 999
    t = s.timestep_for_sigma(0.2).item()
    table = s.sigma_over_alpha()
    assert abs(table[t] - 0.2) <= min(abs(table[t - 1] - 0.2), abs(table[t + 1] - 0.2))


def test_round_trip_and_equality() -> None:
    for s in (VPSchedule.linear(1e-4, 0.02, 50), VPSchedule.cosine(100, 0.01)):
        assert VPSchedule.from_dict(s.to_dict()) == s
    assert VPSchedule.linear().to_dict() == {"kind": "linear", "beta_start": 1e-4, "beta_end": 0.02, "num_timesteps": 1000}
    assert VPSchedule.linear() != VPSchedule.cosine()


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: VPSchedule.linear(num_timesteps=0), ValueError, "num_timesteps"),
        (lambda: VPSchedule.linear(num_timesteps=10.0), TypeError, "num_timesteps"),
        (lambda: VPSchedule.linear(beta_start=0.0), ValueError, "beta_start"),
        (lambda: VPSchedule.linear(beta_start=0.1, beta_end=0.01), ValueError, "beta_end"),
        (lambda: VPSchedule.cosine(s=-1.0), ValueError, "s must"),
        (lambda: VPSchedule.from_dict({"kind": "sigmoid"}), ValueError, "kind"),
        (lambda: VPSchedule.from_dict({"beta_start": 1e-4}), ValueError, "'kind'"),
        (lambda: VPSchedule.from_dict({"kind": "linear", "s": 0.1}), ValueError, r"unknown parameters \['s'\]"),
        (lambda: VPSchedule.linear().sigma_over_alpha(1000), ValueError, r"\[0, 999\]"),
        (lambda: VPSchedule.linear().sigma_over_alpha(torch.tensor([0.5])), TypeError, "integer"),
        (lambda: VPSchedule.linear().timestep_for_sigma(-1.0), ValueError, "sigma"),
        (lambda: VPSchedule.linear().timestep_for_sigma(float("nan")), ValueError, "sigma"),
    ],
)
def test_errors(call, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_timestep_sequence_checks_the_schedule_length() -> None:
    from reddiff_imaging.priors.sampling import timestep_sequence

    with pytest.raises(TypeError, match="num_timesteps must be an int, got '1000'"):
        timestep_sequence("1000", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="num_timesteps must be an int, got True"):
        timestep_sequence(True, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"num_timesteps must be an int >= 1 and <= 1000000, got 1000000000000"):
        timestep_sequence(10**12, 10)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got 3"):
        timestep_sequence(1000, 10, "random", generator=3)  # type: ignore[arg-type]
