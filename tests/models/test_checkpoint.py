"""Tests of the UNet checkpoint format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reddiff_imaging.models import UNet, UNetConfig, load_unet_checkpoint, save_unet_checkpoint
from reddiff_imaging.priors import VPSchedule

TINY = UNetConfig(
    in_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2), attention_resolutions=(8,),
    num_groups=4, time_embed_dim=32,
)


def _model() -> UNet:
    model = UNet(TINY)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, UNet]:
    model = _model()
    path = save_unet_checkpoint(tmp_path / "m.pt", model, schedule=VPSchedule.linear(), meta={"steps": 3})
    return path, model


def test_round_trip_identical(saved: tuple[Path, UNet]) -> None:
    path, model = saved
    loaded, info = load_unet_checkpoint(path)
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([10, 900])
    with torch.no_grad():
        assert torch.equal(loaded(x, t), model(x, t))
    assert info["schedule"] == VPSchedule.linear()
    assert info["config"] == TINY and info["meta"] == {"steps": 3}
    assert info["prediction"] == "eps" and info["data_range"] == "[-1,1]"
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "reddiff-imaging/unet" and raw["format_version"] == 1
    assert raw["schedule"] == {"kind": "linear", "beta_start": 1e-4, "beta_end": 0.02, "num_timesteps": 1000}
    assert not list(path.parent.glob("*.tmp"))


def test_half_precision(tmp_path: Path) -> None:
    model = _model()
    path = save_unet_checkpoint(tmp_path / "h.pt", model, schedule=VPSchedule.cosine(), meta={}, half=True)
    assert torch.load(path, weights_only=True)["state_dict"]["conv_in.weight"].dtype == torch.float16
    loaded, info = load_unet_checkpoint(path)
    assert loaded.conv_in.weight.dtype == torch.float32
    assert info["schedule"].kind == "cosine"
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([10, 900])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t), model(x, t), atol=1e-2, rtol=1e-2)


def _corrupt(path: Path, change) -> Path:
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_unet_checkpoint(tmp_path / "nope.pt")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"junk.pt' \(16 bytes\) is not a file written by torch.save, .* \(UnpicklingError\); expected a checkpoint with format"):
        load_unet_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "empty.pt").touch()  # torch's own message was empty
    with pytest.raises(ValueError, match=r"empty.pt' is empty \(0 bytes\); expected a checkpoint with format 'reddiff-imaging/unet'"):
        load_unet_checkpoint(tmp_path / "empty.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a dict"):
        load_unet_checkpoint(tmp_path / "list.pt")


def test_wrong_format(saved: tuple[Path, UNet]) -> None:
    path = _corrupt(saved[0], lambda p: p.update(format="guided-diffusion"))
    with pytest.raises(ValueError, match=r"format 'guided-diffusion', expected 'reddiff-imaging/unet'"):
        load_unet_checkpoint(path)


def test_unsupported_version(saved: tuple[Path, UNet]) -> None:
    path = _corrupt(saved[0], lambda p: p.update(format_version=2))
    with pytest.raises(ValueError, match="unsupported format_version 2.*format_version 1"):
        load_unet_checkpoint(path)


def test_missing_keys(saved: tuple[Path, UNet]) -> None:
    path = _corrupt(saved[0], lambda p: (p.pop("schedule"), p.pop("meta")))
    with pytest.raises(ValueError, match=r"lacks the checkpoint keys \['schedule', 'meta'\]"):
        load_unet_checkpoint(path)


def test_state_dict_missing_and_unexpected(saved: tuple[Path, UNet]) -> None:
    def change(p: dict) -> None:
        p["state_dict"]["extra.weight"] = p["state_dict"].pop("conv_in.weight")

    path = _corrupt(saved[0], change)
    with pytest.raises(ValueError, match=r"missing keys \['conv_in.weight'\].*unexpected keys \['extra.weight'\]"):
        load_unet_checkpoint(path)


def test_state_dict_shape_mismatch(saved: tuple[Path, UNet]) -> None:
    def change(p: dict) -> None:
        p["state_dict"]["conv_in.bias"] = torch.zeros(5)

    path = _corrupt(saved[0], change)
    with pytest.raises(ValueError, match=r"conv_in.bias: expected shape \(8,\), got \(5,\)"):
        load_unet_checkpoint(path)


def test_bad_config_and_prediction(saved: tuple[Path, UNet], tmp_path: Path) -> None:
    path = _corrupt(saved[0], lambda p: p["config"].update(base_channels=7))
    with pytest.raises(ValueError, match="invalid config"):
        load_unet_checkpoint(path)
    model = _model()
    other = save_unet_checkpoint(tmp_path / "o.pt", model, schedule=VPSchedule.linear())
    _corrupt(other, lambda p: p.update(prediction="v"))
    with pytest.raises(ValueError, match="prediction 'v', expected 'eps'"):
        load_unet_checkpoint(other)


def test_save_type_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="model"):
        save_unet_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2), schedule=VPSchedule.linear())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule"):
        save_unet_checkpoint(tmp_path / "x.pt", _model(), schedule="linear")  # type: ignore[arg-type]


def test_save_refuses_meta_that_would_not_load_back(tmp_path: Path) -> None:
    import numpy as np

    target = tmp_path / "m.pt"
    cases = [
        ({"loss": np.float64(0.5)}, r"meta\['loss'\] must hold None, bools, .* got np.float64\(0.5\) \(float64\)"),
        ({"data": {"path": tmp_path}}, r"meta\['data'\]\['path'\] must hold .* \(PosixPath\); convert it"),
        ({"runs": [1, {2: "a"}]}, r"meta\['runs'\]\[1\] keys must be strings, got 2 \(int\)"),
    ]
    for meta, message in cases:
        with pytest.raises(TypeError, match=message):
            save_unet_checkpoint(target, _model(), schedule=VPSchedule.linear(), meta=meta)
    assert not list(tmp_path.iterdir())  # refused before anything was written
    saved = save_unet_checkpoint(target, _model(), schedule=VPSchedule.linear(), meta={"a": [1, (2.0, None)], "t": torch.ones(2)})
    assert load_unet_checkpoint(saved)[1]["meta"]["a"] == [1, (2.0, None)]


def test_save_checks_its_path_and_half_first(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=r"path '.*folder' is a folder; give a file name"):
        save_unet_checkpoint(tmp_path / "folder", _model(), schedule=VPSchedule.linear())
    with pytest.raises(TypeError, match=r"path must be a file path \(str or os.PathLike\), got 3 \(int\)"):
        save_unet_checkpoint(3, _model(), schedule=VPSchedule.linear())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="half must be a bool, got 'no'"):
        save_unet_checkpoint(tmp_path / "h.pt", _model(), schedule=VPSchedule.linear(), half="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"path must be a file path .* got None \(NoneType\)"):
        load_unet_checkpoint(None)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_save_leaves_other_files_beside_it_alone(tmp_path: Path) -> None:
    (tmp_path / "m.pt.tmp").write_text("the user's own file")
    save_unet_checkpoint(tmp_path / "m.pt", _model(), schedule=VPSchedule.linear())
    assert (tmp_path / "m.pt.tmp").read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.tmp"]


def test_map_location_auto_is_taken_as_the_device_messages_offer_it(saved: tuple[Path, UNet]) -> None:
    from reddiff_imaging.priors import DiffusionPrior

    expected = "cuda" if torch.cuda.is_available() else "cpu"  # was refused: "'auto' is not a device; use auto, cpu, ..."
    assert next(load_unet_checkpoint(saved[0], map_location="auto")[0].parameters()).device.type == expected
    assert DiffusionPrior.from_checkpoint(saved[0], map_location="auto").network is not None
    with pytest.raises(ValueError, match=r"^map_location 'gpu' is not a device"):
        load_unet_checkpoint(saved[0], map_location="gpu")
