"""Tests of diffusion training, its resumable state and its data sources."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from reddiff_imaging.data.synthetic import synthetic_images
from reddiff_imaging.models import (
    SyntheticSource,
    TensorSource,
    UNet,
    UNetConfig,
    folder_source,
    hdf5_source,
    load_unet_checkpoint,
    train_diffusion,
)
from reddiff_imaging.models.training import main
from reddiff_imaging.priors import VPSchedule

TINY = UNetConfig(
    in_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2), attention_resolutions=(8,),
    num_groups=4, time_embed_dim=32,
)
FAST = {"progress": False, "num_threads": 1}


def _eval_loss(model: UNet, x: torch.Tensor) -> float:
    g = torch.Generator().manual_seed(99)
    s = VPSchedule.linear()
    t = torch.randint(1000, (x.shape[0],), generator=g)
    noise = torch.randn(x.shape, generator=g)
    ab = s.alphas_cumprod.float()[t].view(-1, 1, 1, 1)
    xt = ab.sqrt() * (2 * x - 1) + (1 - ab).sqrt() * noise
    with torch.no_grad():
        return float(((model(xt, t) - noise) ** 2).mean())


def test_training_lowers_the_loss(tmp_path: Path) -> None:
    source = SyntheticSource(16)
    out = train_diffusion(source, tmp_path, steps=60, config=TINY, batch_size=16, lr=2e-3, log_every=10, **FAST)
    assert out["steps"] == 60 and [e[0] for e in out["loss_log"]] == [10, 20, 30, 40, 50, 60]
    x = synthetic_images(64, 16, seed=12345)
    before = _eval_loss(UNet(TINY).eval(), x)  # zero-initialised output: loss ~ E[eps^2] = 1
    state = torch.load(out["state_path"], weights_only=True)
    trained = UNet(TINY).eval()
    trained.load_state_dict(state["model"])
    after = _eval_loss(trained, x)
    assert after < 0.7 * before
    assert out["loss_log"][-1][1] < out["loss_log"][0][1]
    ema, info = load_unet_checkpoint(out["ema_path"])
    assert info["meta"]["steps"] == 60 and info["meta"]["data"]["kind"] == "synthetic"
    assert info["config"] == TINY


def test_interrupted_run_resumes_exactly(tmp_path: Path) -> None:
    source = SyntheticSource(16)
    kwargs = dict(config=TINY, batch_size=4, checkpoint_every=2, log_every=1, warmup_steps=3, **FAST)
    straight = train_diffusion(source, tmp_path / "a", steps=6, **kwargs)
    first = train_diffusion(source, tmp_path / "b", steps=3, **kwargs)
    assert first["steps"] == 3
    resumed = train_diffusion(source, tmp_path / "b", steps=6, **{**kwargs, "config": None})
    assert resumed["steps"] == 6
    assert [e[0] for e in resumed["loss_log"]] == [1, 2, 3, 4, 5, 6]
    assert resumed["seconds"] >= first["seconds"]
    a = torch.load(straight["state_path"], weights_only=True)
    b = torch.load(resumed["state_path"], weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a["ema"][key], b["ema"][key], rtol=1e-5, atol=1e-6)
    assert torch.equal(a["generator"], b["generator"])
    assert not list((tmp_path / "b").glob("*.tmp"))
    # Already done: a further call does no step.
    assert train_diffusion(source, tmp_path / "b", steps=6, **{**kwargs, "config": None})["steps"] == 6


def test_resume_refuses_other_config_or_schedule(tmp_path: Path) -> None:
    source = SyntheticSource(16)
    train_diffusion(source, tmp_path, steps=1, config=TINY, batch_size=2, **FAST)
    other = UNetConfig(**{**TINY.to_dict(), "num_res_blocks": 2})
    with pytest.raises(ValueError, match="config differs"):
        train_diffusion(source, tmp_path, steps=2, config=other, batch_size=2, **FAST)
    with pytest.raises(ValueError, match="schedule differs"):
        train_diffusion(source, tmp_path, steps=2, schedule=VPSchedule.cosine(), batch_size=2, **FAST)


def test_command_line_resume_refuses_another_size_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train_diffusion(SyntheticSource(16), tmp_path, steps=1, config=TINY, batch_size=2, **FAST)
    with pytest.raises(ValueError, match=r"--size 32 differs from the network stored in .*state.pt', trained on 16x16 crops: resume with --size 16"):
        main(["--out", str(tmp_path), "--size", "32", "--steps", "2"])
    assert capsys.readouterr().out == ""  # nothing printed: no data was read


def test_argument_errors(tmp_path: Path) -> None:
    source = SyntheticSource(16)
    with pytest.raises(ValueError, match="source gives 1-channel 16x16"):
        train_diffusion(source, tmp_path, steps=1, config=UNetConfig(), **FAST)
    with pytest.raises(ValueError, match="out_channels"):
        train_diffusion(source, tmp_path, steps=1, config=UNetConfig(**{**TINY.to_dict(), "out_channels": 2}), **FAST)
    with pytest.raises(ValueError, match="seed"):
        train_diffusion(source, tmp_path, steps=1, config=TINY, seed=2**40, **FAST)
    with pytest.raises(ValueError, match="batch_size"):
        train_diffusion(source, tmp_path, steps=1, config=TINY, batch_size=0, **FAST)
    with pytest.raises(ValueError, match="lr"):
        train_diffusion(source, tmp_path, steps=1, config=TINY, lr=-1.0, **FAST)
    with pytest.raises(TypeError, match="source"):
        train_diffusion(torch.zeros(3), tmp_path, steps=1, **FAST)  # type: ignore[arg-type]


def test_hdf5_source(tmp_path: Path) -> None:
    data = (np.arange(5 * 20 * 24) % 256).astype(np.uint8).reshape(5, 20, 24)
    floats = np.random.default_rng(0).random((3, 1, 16, 16)).astype(np.float32)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = data
        f["x_train"] = floats
        f["bad"] = floats * 3
        f["flat"] = np.zeros((4, 16), dtype=np.float32)
    src = hdf5_source(tmp_path / "d.h5", size=16)
    assert (len(src), src.channels, src.size) == (5, 1, 16)
    batch = src.sample(7, torch.Generator().manual_seed(0))
    assert batch.shape == (7, 1, 16, 16) and batch.dtype == torch.float32
    assert 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    deepinv_style = hdf5_source(tmp_path / "d.h5", key="x_train")
    torch.testing.assert_close(deepinv_style.images, torch.from_numpy(floats))
    out = train_diffusion(deepinv_style, tmp_path / "run", steps=2, config=TINY, batch_size=2, **FAST)
    assert out["steps"] == 2
    assert load_unet_checkpoint(out["ema_path"])[1]["meta"]["data"]["key"] == "x_train"
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        hdf5_source(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match=r"no dataset 'imgs'.*\['bad', 'flat', 'images', 'x_train'\]"):
        hdf5_source(tmp_path / "d.h5", key="imgs")
    with pytest.raises(ValueError, match=r"^dataset 'bad' of '.*d.h5': float images must lie in \[0, 1\]"):
        hdf5_source(tmp_path / "d.h5", key="bad")
    with pytest.raises(ValueError, match="shape"):
        hdf5_source(tmp_path / "d.h5", key="flat")


def test_folder_source(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(40, 30), (20, 20), (33, 50)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(tmp_path / "gray.JPG")
    (tmp_path / "notes.txt").write_text("not an image")
    gray = folder_source(tmp_path, 16)
    assert (len(gray), gray.channels, gray.size) == (4, 1, 16)
    rgb = folder_source(tmp_path, 16, grayscale=False)
    assert rgb.images.shape == (4, 3, 16, 16) and rgb.images.dtype == torch.float32
    assert rgb.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, 16, 16)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        folder_source(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="contains no images"):
        folder_source(tmp_path / "empty")


def test_tensor_source_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        TensorSource(torch.zeros(2, 1, 8, 9))
    with pytest.raises(TypeError, match="uint8 or floating"):
        TensorSource(torch.zeros(2, 1, 8, 8, dtype=torch.int32))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = json.dumps({k: v for k, v in TINY.to_dict().items() if k not in ("in_channels", "image_size")})
    argv = ["--out", str(tmp_path), "--size", "16", "--steps", "2", "--batch-size", "2", "--log-every", "1", "--config", cfg, "--threads", "1"]
    assert main(argv) == 0
    assert "step 2/2" in capsys.readouterr().out
    assert (tmp_path / "state.pt").exists() and (tmp_path / "ema.pt").exists()


def test_command_line_refuses_a_size_the_default_network_cannot_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"--size must be one of 16, 32, 64, 128 .* got 8: .* --config"):
        main(["--out", str(out), "--size", "8", "--steps", "1"])
    assert capsys.readouterr().out == "" and not out.exists()  # before any output or work
    with pytest.raises(ValueError, match="source's image size must be one of 16, 32, 64, 128"):
        train_diffusion(SyntheticSource(8), out, steps=1, **FAST)
    with pytest.raises(ValueError, match=r"--config with --size 8: attention_resolutions"):
        main(["--out", str(out), "--size", "8", "--steps", "1", "--config", '{"base_channels": 8}'])


def test_command_line_refuses_options_the_data_would_ignore(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = np.zeros((2, 16, 16), dtype=np.uint8)
    (tmp_path / "folder").mkdir()
    out = ["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1"]
    with pytest.raises(ValueError, match="--rgb applies to .* synthetic images are gray"):
        main([*out, "--rgb"])
    with pytest.raises(ValueError, match="--rgb applies to .* HDF5 dataset keeps the channels it stores"):
        main([*out, "--rgb", "--data", str(tmp_path / "d.h5")])
    for data in ("synthetic", "photos", str(tmp_path / "folder")):
        with pytest.raises(ValueError, match=f"--h5-key names a dataset inside an HDF5 file .* --data '{data}'"):
            main([*out, "--h5-key", "x_train", "--data", data])
    assert not (tmp_path / "run").exists()


def test_command_line_checks_config_before_reading_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "broken.png").write_text("not an image")  # reading the folder would fail on this file
    out = ["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1", "--data", str(folder)]
    with pytest.raises(ValueError, match="--config with --size 16: every channel count must be divisible by num_groups"):
        main([*out, "--config", '{"base_channels": 6}'])
    with pytest.raises(TypeError, match="--config: base_channels must be an int, got 'a'"):
        main([*out, "--config", '{"base_channels": "a"}'])
    with pytest.raises(ValueError, match="--config: its config asks for a network of"):
        main([*out, "--config", '{"base_channels": 4096}'])
    with pytest.raises(ValueError, match=r"--seed must lie in \[0, 2\*\*31\) .* got 2147483648"):
        main([*out, "--seed", str(2**31)])
    assert capsys.readouterr().out == "" and not (tmp_path / "run" / "state.pt").exists()


def test_output_folder_is_checked_and_never_overwrites_a_network_it_did_not_train(tmp_path: Path) -> None:
    source = SyntheticSource(16)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"out_dir '.*file' is a file; give a folder"):
        train_diffusion(source, tmp_path / "file", steps=1, config=TINY, **FAST)
    other = tmp_path / "checkpoints"
    other.mkdir()
    (other / "ema.pt").write_bytes(b"someone's network")
    with pytest.raises(FileExistsError, match=r"out_dir '.*checkpoints' holds ema.pt but no state.pt to resume"):
        train_diffusion(source, other, steps=1, config=TINY, **FAST)
    with pytest.raises(FileExistsError, match=r"--out '.*checkpoints' holds ema.pt but no state.pt"):
        main(["--out", str(other), "--size", "16", "--steps", "1"])
    assert (other / "ema.pt").read_bytes() == b"someone's network" and sorted(p.name for p in other.iterdir()) == ["ema.pt"]


def test_settings_and_source_description_are_checked_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class PathSource(SyntheticSource):
        def describe(self) -> dict:
            return {"kind": "mine", "folder": tmp_path}

    with pytest.raises(TypeError, match=r"source.describe\(\)\['folder'\] must hold None, .* \(PosixPath\)"):
        train_diffusion(PathSource(16), tmp_path / "run", steps=1, config=TINY, **FAST)
    with pytest.raises(TypeError, match=r"lr must be a real number, got True \(bool\)"):
        train_diffusion(SyntheticSource(16), tmp_path / "run", steps=1, config=TINY, lr=True, **FAST)
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\) .* got 1.0"):
        train_diffusion(SyntheticSource(16), tmp_path / "run", steps=1, config=TINY, ema_decay=1.0, **FAST)
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "run"), "--ema-decay", "1"])
    assert "argument --ema-decay: must be in [0, 1)" in capsys.readouterr().err


def test_resume_refuses_other_data(tmp_path: Path) -> None:
    images = torch.rand(3, 1, 16, 16)
    train_diffusion(TensorSource(images), tmp_path, steps=1, config=TINY, batch_size=2, **FAST)
    with pytest.raises(ValueError, match=r"the data differ from those '.*state.pt' was trained on \(kind: stored 'tensor', now 'synthetic'"):
        train_diffusion(SyntheticSource(16), tmp_path, steps=2, batch_size=2, **FAST)
    with pytest.raises(ValueError, match=r"\(num_images: stored 3, now 2\)"):
        train_diffusion(TensorSource(images[:2]), tmp_path, steps=2, batch_size=2, **FAST)
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 1


def test_command_line_config_must_agree_with_size_and_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1"]
    with pytest.raises(ValueError, match=r"--config image_size 32 differs from --size 16: leave image_size out"):
        main([*out, "--config", '{"image_size": 32}'])
    with pytest.raises(ValueError, match=r"--config in_channels 3 differs from --data 'synthetic', which gives 1-channel images: leave in_channels out \(the data decide it\)$"):
        main([*out, "--config", '{"in_channels": 3, "base_channels": 8, "num_groups": 4}'])
    assert "training on" not in capsys.readouterr().out and not (tmp_path / "run" / "state.pt").exists()


def test_command_line_rescales_a_folder_of_float_images(tmp_path: Path) -> None:
    folder = tmp_path / "tiffs"
    folder.mkdir()
    Image.fromarray((np.random.default_rng(0).random((8, 8)) * 5).astype(np.float32)).save(folder / "a.tif")
    cfg = json.dumps({k: v for k, v in TINY.to_dict().items() if k not in ("in_channels", "image_size")})
    out = ["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1", "--batch-size", "1", "--config", cfg, "--threads", "1"]
    with pytest.raises(ValueError, match=r"--rescale stretches the images of a folder onto \[0, 1\]; --data 'synthetic' is not a folder"):
        main([*out, "--rescale"])
    with pytest.raises(ValueError, match="float images must lie in"):
        main([*out, "--data", str(folder)])
    assert main([*out, "--data", str(folder), "--rescale"]) == 0
    data = load_unet_checkpoint(tmp_path / "run" / "ema.pt")[1]["meta"]["data"]
    assert data["rescale"] is True and data["enlarged_to_size"] == 1  # the 8x8 image was enlarged to 16x16


def test_a_training_state_and_a_checkpoint_given_for_each_other_say_which_file_to_use(tmp_path: Path) -> None:
    run = train_diffusion(SyntheticSource(16), tmp_path / "run", steps=1, config=TINY, batch_size=2, **FAST)
    with pytest.raises(ValueError, match=r"^--init '.*state.pt': .* it is a training state: its network is exported to '.*run/ema.pt'$"):
        main(["--out", str(tmp_path / "fresh"), "--size", "16", "--steps", "1", "--init", str(run["state_path"])])
    with pytest.raises(FileNotFoundError, match=r"^--init '.*nowhere.pt': no UNet checkpoint at"):
        main(["--out", str(tmp_path / "fresh"), "--size", "16", "--steps", "1", "--init", str(tmp_path / "nowhere.pt")])
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "state.pt").write_bytes(run["ema_path"].read_bytes())
    with pytest.raises(ValueError, match=r"is not a training state .* but a UNet checkpoint: start a fresh run from its network with init="):
        train_diffusion(SyntheticSource(16), mixed, steps=2, batch_size=2, **FAST)
    assert not (tmp_path / "fresh").exists() and sorted(p.name for p in mixed.iterdir()) == ["state.pt"]


def test_a_batch_too_large_to_allocate_is_refused_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"^batch_size asks for batches of 10000000 images of 1 x 16 x 16 values, 2,560,000,000 values; the limit"):
        train_diffusion(SyntheticSource(16), tmp_path / "run", steps=1, config=TINY, batch_size=10**7, **FAST)
    with pytest.raises(ValueError, match=r"^--batch-size asks for batches of 10000000 images of 3 x 16 x 16 values"):
        main(["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1", "--batch-size", str(10**7), "--data", "photos", "--rgb"])
    assert capsys.readouterr().out == "" and not (tmp_path / "run").exists()


def test_command_line_config_that_is_no_json_text_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b"\x00\xd3\xff binary")
    (tmp_path / "folder").mkdir()
    out = ["--out", str(tmp_path / "run"), "--size", "16", "--steps", "1"]
    with pytest.raises(ValueError, match=r"^--config '.*config.json' is not a JSON text file \(byte 1 is not UTF-8\)$"):
        main([*out, "--config", str(tmp_path / "config.json")])
    with pytest.raises(IsADirectoryError, match=r"^--config '.*folder' is a folder; expected a JSON file"):
        main([*out, "--config", str(tmp_path / "folder")])
    with pytest.raises(TypeError, match=r"^--config: image_size must be an int, got '16'"):
        main([*out, "--config", '{"image_size": "16"}'])
    assert not (tmp_path / "run").exists()


def test_flags_device_and_log_are_checked_before_any_work(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cases = [
        ({"half_export": "yes"}, TypeError, r"^half_export must be a bool, got 'yes'$"),  # was refused as 'half' after training
        ({"channels_last": None}, TypeError, r"^channels_last must be a bool, got None$"),
        ({"log": 3}, TypeError, r"^log must be a callable taking one line of text, or None, got int$"),
        ({"device": "gpu"}, ValueError, r"^device 'gpu' is not a device"),
        ({"device": "meta"}, ValueError, r"^device 'meta' holds no data"),
    ]
    for options, kind, message in cases:
        with pytest.raises(kind, match=message):
            train_diffusion(SyntheticSource(16), run, steps=1, config=TINY, **{**FAST, **options})
    assert not run.exists()
    assert train_diffusion(SyntheticSource(16), run, steps=1, config=TINY, batch_size=2, device="auto", **FAST)["steps"] == 1


def test_a_damaged_training_state_is_named_before_resuming(tmp_path: Path) -> None:
    train_diffusion(SyntheticSource(16), tmp_path, steps=1, config=TINY, batch_size=2, **FAST)
    good = torch.load(tmp_path / "state.pt", weights_only=True)
    cases = [
        (lambda s: s.pop("model"), r"it lacks \['model'\]; give another output folder"),  # was KeyError 'model'
        (lambda s: s.update(step="a"), r"step must be an int >= 0, got 'a'"),  # was int()'s message
        (lambda s: s.update(generator=torch.zeros(3)), r"generator must be a uint8 tensor"),  # was torch's RNG TypeError
        (lambda s: s.update(ema={k: torch.zeros(1) for k in s["ema"]}), r"ema: state_dict does not match .* conv_in.bias: expected shape \(8,\), got \(1,\)"),
    ]
    for change, message in cases:
        state = dict(good)
        change(state)
        torch.save(state, tmp_path / "state.pt")
        with pytest.raises(ValueError, match=rf"^'.*state.pt' is a damaged training state: {message}"):
            train_diffusion(SyntheticSource(16), tmp_path, steps=2, batch_size=2, **FAST)


def test_hdf5_source_reads_16_bit_images_on_their_full_scale(tmp_path: Path) -> None:
    data = np.array([[[0, 65535], [32768, 1000]]], dtype=np.uint16)  # was refused: "must be uint8 or float"
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = data
        f["flags"] = data > 0
    images = hdf5_source(tmp_path / "d.h5").images
    assert images.dtype == torch.float32
    torch.testing.assert_close(images, torch.from_numpy(data.astype(np.float32) / 65535)[:, None])
    with pytest.raises(TypeError, match="dataset 'flags' of '.*d.h5' must be uint8, uint16 or float, got bool"):
        hdf5_source(tmp_path / "d.h5", key="flags")


def test_a_crash_while_saving_leaves_the_earlier_state_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train_diffusion(SyntheticSource(16), tmp_path, steps=1, config=TINY, batch_size=2, **FAST)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(obj: object, file: object) -> None:
        Path(str(file)).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="No space left"):
        train_diffusion(SyntheticSource(16), tmp_path, steps=2, batch_size=2, **FAST)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no partial or temporary file
    assert train_diffusion(SyntheticSource(16), tmp_path, steps=2, batch_size=2, **FAST)["steps"] == 2


def test_a_resumed_run_keeps_the_options_it_is_not_given_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Resuming with `--out DIR --steps N` alone switched the learning rate, batch size and EMA decay
    back to the defaults without a word."""
    from reddiff_imaging.models.training import read_training_state

    cfg = json.dumps({k: v for k, v in TINY.to_dict().items() if k not in ("in_channels", "image_size")})
    first = ["--out", str(tmp_path), "--size", "16", "--batch-size", "2", "--config", cfg, "--threads", "1"]
    assert main([*first, "--steps", "1", "--lr", "1e-3", "--ema-decay", "0.9"]) == 0
    assert main(["--out", str(tmp_path), "--size", "16", "--steps", "2", "--threads", "1"]) == 0
    stored = read_training_state(tmp_path / "state.pt")
    assert stored["step"] == 2
    assert (stored["train_args"]["lr"], stored["train_args"]["batch_size"], stored["train_args"]["ema_decay"]) == (1e-3, 2, 0.9)
    capsys.readouterr()
    assert main(["--out", str(tmp_path), "--size", "16", "--steps", "3", "--threads", "1", "--lr", "5e-4"]) == 0
    assert "note: resuming with --lr 0.0005 (the state was trained with 0.001)" in capsys.readouterr().out
    assert read_training_state(tmp_path / "state.pt")["train_args"]["lr"] == 5e-4
