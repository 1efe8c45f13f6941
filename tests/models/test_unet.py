"""Tests of the diffusion UNet and its configuration."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.models import UNet, UNetConfig

TINY = UNetConfig(
    in_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2), attention_resolutions=(8,),
    num_groups=4, time_embed_dim=32,
)


def test_default_config_size_and_shape() -> None:
    model = UNet()
    assert 0.6e6 < model.num_parameters() < 1.0e6
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape and out.dtype == x.dtype


@pytest.mark.parametrize("t", [5, torch.tensor(5), torch.tensor([5, 5, 5])])
def test_scalar_t_broadcasts(t: object) -> None:
    torch.manual_seed(0)  # only to initialise weights; the model draws no random numbers itself
    model = UNet(TINY).eval()
    for p in model.parameters():  # the output conv is zero-initialised: perturb it to test t's effect
        p.data.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        ref = model(x, torch.full((3,), 5))
        out = model(x, t)
        other = model(x, torch.full((3,), 500))
    torch.testing.assert_close(out, ref)
    assert not torch.allclose(ref, other)


def test_learned_variance_and_rgb() -> None:
    cfg = UNetConfig(**{**TINY.to_dict(), "in_channels": 3, "out_channels": 6})
    assert cfg.learned_variance
    out = UNet(cfg)(torch.randn(2, 3, 16, 16), torch.tensor([1, 2]))
    assert out.shape == (2, 6, 16, 16)


def test_float64_and_gradient() -> None:
    model = UNet(TINY).double()
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    out = model(x, torch.tensor([3, 4]))
    assert out.dtype == torch.float64
    out.sum().backward()
    assert x.grad is not None


def test_config_round_trip() -> None:
    cfg = UNetConfig(channel_mults=[1, 2, 2], attention_resolutions=[16], num_res_blocks=2)
    d = cfg.to_dict()
    assert d["channel_mults"] == [1, 2, 2]
    again = UNetConfig.from_dict(d)
    assert again == cfg and isinstance(again.channel_mults, tuple)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"base_channels": 12}, ValueError, "num_groups"),
        ({"out_channels": 3}, ValueError, "out_channels"),
        ({"image_size": 60}, ValueError, "divisible"),
        ({"attention_resolutions": (7,)}, ValueError, "attention_resolutions"),
        ({"num_heads": 5}, ValueError, "num_heads"),
        ({"num_res_blocks": 0}, ValueError, "num_res_blocks"),
        ({"base_channels": 16.0}, TypeError, "base_channels"),
        ({"dropout": 1.5}, ValueError, "dropout"),
    ],
)
def test_bad_config(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        UNetConfig(**kwargs)


def test_from_dict_unknown_key() -> None:
    with pytest.raises(ValueError, match="unknown UNetConfig keys"):
        UNetConfig.from_dict({"widht": 3})


def test_bad_inputs() -> None:
    model = UNet(TINY)
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 3, 16, 16), 1)
    with pytest.raises(ValueError, match="shape"):
        model(torch.randn(2, 1, 15, 16), 1)
    with pytest.raises(ValueError, match="t must"):
        model(torch.randn(2, 1, 16, 16), torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="integer"):
        model(torch.randn(2, 1, 16, 16), torch.tensor([1.5, 2.0]))
    with pytest.raises(TypeError, match="UNetConfig"):
        UNet({"in_channels": 1})  # type: ignore[arg-type]
