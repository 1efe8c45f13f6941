"""Deepening a trained UNet keeps its function, and training goes on from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reddiff_imaging.models import SyntheticSource, UNet, UNetConfig, deepened, load_unet_checkpoint, save_unet_checkpoint, train_diffusion
from reddiff_imaging.models.training import main
from reddiff_imaging.priors import VPSchedule

CONFIGS = [
    UNetConfig(in_channels=3, image_size=16, base_channels=8, channel_mults=(1, 2, 2), attention_resolutions=(), num_groups=4, time_embed_dim=32),
    UNetConfig(in_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2), num_res_blocks=2, attention_resolutions=(8,), num_groups=4, time_embed_dim=32),
]


def _trained_looking(config: UNetConfig) -> UNet:
    """A network with every weight nonzero, the zero-initialised last convolutions included."""
    torch.manual_seed(0)
    net = UNet(config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("config", CONFIGS, ids=["colour-no-attention", "gray-two-blocks-attention"])
def test_deepened_network_computes_the_same_function(config: UNetConfig) -> None:
    net = _trained_looking(config).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    grown = deepened(net)
    assert grown.config == UNetConfig(**{**config.to_dict(), "num_res_blocks": config.num_res_blocks + 1})
    assert grown.num_parameters() == UNet(grown.config).num_parameters() > net.num_parameters()
    assert not grown.training
    x, t = torch.randn(2, config.in_channels, 24, 40), torch.tensor([5, 900])
    with torch.no_grad():
        expected = net(x, t)
        torch.testing.assert_close(grown(x, t), expected, rtol=1e-5, atol=1e-6)
        assert expected.abs().mean() > 0.1  # a real output, not the zero of a fresh network
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the input is left alone
    twice = deepened(grown)
    with torch.no_grad():
        torch.testing.assert_close(twice(x, t), expected, rtol=1e-5, atol=1e-6)


def test_added_blocks_learn() -> None:
    net = _trained_looking(CONFIGS[0])
    grown = deepened(net)
    grown(torch.randn(2, 3, 16, 16), torch.tensor([3, 400])).square().mean().backward()
    trained = set(net.state_dict())
    added = [name for name, p in grown.named_parameters() if name not in trained or p.shape != net.state_dict()[name].shape]
    assert added
    # Every zero-initialised last convolution of an added block gets a gradient: it does not stay the identity.
    last = [name for name in added if name.endswith("conv2.weight")]
    assert last and all(grown.get_parameter(name).grad.abs().sum() > 0 for name in last)


def test_deepened_is_reproducible_and_leaves_the_global_generator_alone() -> None:
    net = _trained_looking(CONFIGS[0])
    state = torch.get_rng_state()
    a, b, c = deepened(net), deepened(net), deepened(net, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert any(not torch.equal(a.state_dict()[k], c.state_dict()[k]) for k in a.state_dict())
    with pytest.raises(TypeError, match="unet must be a UNet, got Linear"):
        deepened(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_training_starts_from_init(tmp_path: Path) -> None:
    config = CONFIGS[1]
    init = deepened(_trained_looking(config))
    out = train_diffusion(SyntheticSource(16), tmp_path / "run", steps=0, init=init, progress=False)
    ema, info = load_unet_checkpoint(out["ema_path"])
    assert info["config"] == init.config
    assert all(torch.equal(ema.state_dict()[k], v) for k, v in init.state_dict().items())
    with pytest.raises(ValueError, match="init starts a fresh run, but .*state.pt' holds a training state"):
        train_diffusion(SyntheticSource(16), tmp_path / "run", steps=1, init=init, progress=False)
    with pytest.raises(ValueError, match="config differs from init's network"):
        train_diffusion(SyntheticSource(16), tmp_path / "other", steps=1, init=init, config=config, progress=False)
    with pytest.raises(TypeError, match="init must be a UNet"):
        train_diffusion(SyntheticSource(16), tmp_path / "other", steps=1, init=init.state_dict(), progress=False)  # type: ignore[arg-type]


def test_command_line_deepens_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIGS[1]
    net = _trained_looking(config).eval()
    checkpoint = tmp_path / "trained.pt"
    save_unet_checkpoint(checkpoint, net, schedule=VPSchedule.cosine())
    run = ["--size", "16", "--batch-size", "2", "--threads", "1", "--init", str(checkpoint)]
    # One step at a negligible learning rate: what is saved is the deepened network.
    assert main(["--out", str(tmp_path / "deep"), "--steps", "1", "--lr", "1e-12", "--deepen", *run]) == 0
    grown, info = load_unet_checkpoint(tmp_path / "deep" / "ema.pt")
    assert info["config"].num_res_blocks == config.num_res_blocks + 1
    assert info["schedule"] == VPSchedule.cosine()  # the checkpoint's schedule, not the default
    x, t = torch.randn(1, 1, 16, 16), torch.tensor([10])
    with torch.no_grad():
        torch.testing.assert_close(grown(x, t), net(x, t), rtol=1e-5, atol=1e-6)
    assert main(["--out", str(tmp_path / "deep"), "--steps", "2", "--size", "16", "--batch-size", "2", "--threads", "1"]) == 0
    capsys.readouterr()


def test_command_line_init_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / "trained.pt"
    save_unet_checkpoint(checkpoint, _trained_looking(CONFIGS[1]), schedule=VPSchedule.linear())
    out = ["--out", str(tmp_path / "run"), "--steps", "1"]
    with pytest.raises(ValueError, match="--deepen deepens the network of --init"):
        main([*out, "--deepen"])
    with pytest.raises(ValueError, match="--init .* does not go with --config"):
        main([*out, "--size", "16", "--init", str(checkpoint), "--config", "{}"])
    with pytest.raises(ValueError, match=r"--size 32 differs from the network of --init .*trained on 16x16 crops: give --size 16"):
        main([*out, "--size", "32", "--init", str(checkpoint)])
    with pytest.raises(ValueError, match=r"--init .* holds a 1-channel network, but --data 'photos' gives 3-channel images"):
        main([*out, "--size", "16", "--init", str(checkpoint), "--data", "photos", "--rgb"])
    with pytest.raises(FileNotFoundError, match="no UNet checkpoint"):
        main([*out, "--size", "16", "--init", str(tmp_path / "missing.pt")])
    assert not (tmp_path / "run" / "state.pt").exists()
    main(["--out", str(tmp_path / "run"), "--steps", "1", "--size", "16", "--batch-size", "2", "--init", str(checkpoint)])
    with pytest.raises(ValueError, match="--init .* does not go with resuming .*state.pt': give another --out"):
        main([*out, "--size", "16", "--init", str(checkpoint)])
    capsys.readouterr()
