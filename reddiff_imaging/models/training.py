"""DDPM training of the project's UNet diffusion prior, resumable, with an EMA of the weights.

Each step draws clean images :math:`x \\in [0, 1]`, maps them to the network range
:math:`x_0 = 2x - 1`, draws :math:`t \\sim \\mathcal U\\{0, \\dots, T-1\\}` and
:math:`\\varepsilon \\sim \\mathcal N(0, I)`, and minimises the simple loss of Ho et al.
("Denoising Diffusion Probabilistic Models", NeurIPS 2020)

.. math::

    L(\\theta) = \\mathbb E\\, \\big\\| \\varepsilon - \\varepsilon_\\theta\\big(\\sqrt{\\bar\\alpha_t}\\,x_0
    + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon,\\; t\\big) \\big\\|^2

with Adam, optional linear learning-rate warm-up and gradient-norm clipping. An exponential moving
average of the weights, :math:`\\bar\\theta \\leftarrow d\\,\\bar\\theta + (1-d)\\,\\theta` with the
warm-started decay :math:`d = \\min(d_{\\max}, (1+k)/(10+k))` at step :math:`k`, is the network that
gets exported.

Every ``checkpoint_every`` steps (and at the end, or on Ctrl-C / SIGTERM) the full training state --
model, EMA, optimizer, step, data/noise generator state, loss log of ``(step, smoothed loss,
seconds)`` -- is written atomically (a temporary file beside it, flushed to disk, then renamed over
it: a crash midway leaves the earlier file whole and no partial one) to ``out_dir/state.pt``, and the EMA network is exported in the
checkpoint format of :mod:`reddiff_imaging.models.checkpoint` to ``out_dir/ema.pt``. Calling
:func:`train_diffusion` again with the same ``out_dir`` resumes from the state file.

Run from the command line with ``python -m reddiff_imaging.models.training --out DIR [...]``
(see :func:`main`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .._cli_types import (
    device_option,
    image_side,
    nonnegative_int,
    positive_float,
    positive_int,
    unit_float,
)
from .._validation import HDF5_SUFFIXES, check_allocation, check_bool, check_device, check_real, check_writable
from ..data.synthetic import MAX_TRAINING_SEED
from ..priors.schedules import VPSchedule
from .checkpoint import (
    check_state_dict,
    CHECKPOINT_FORMAT,
    TRAINING_STATE_FORMAT,
    check_network_size,
    check_path,
    check_plain,
    load_unet_checkpoint,
    read_torch_file,
    save_unet_checkpoint,
    save_whole,
)
from .data_sources import (
    ImageSource,
    PhotoCropSource,
    SyntheticSource,
    folder_source,
    hdf5_source,
)
from .growth import deepened
from .unet import UNet, UNetConfig

__all__ = ["train_diffusion", "default_config", "main", "STATE_FORMAT"]

STATE_FORMAT = TRAINING_STATE_FORMAT


def default_config(channels: int, size: int, *, name: str = "size", config_name: str = "config") -> UNetConfig:
    """The network trained when no configuration is given: :class:`UNetConfig`'s defaults for
    ``channels`` and ``size``. A size they cannot take is refused naming ``name`` (the argument
    as the user wrote it), the sizes they take and ``config_name``, which can change the network."""
    try:
        return UNetConfig(in_channels=channels, image_size=size)
    except ValueError:
        pass
    defaults = UNetConfig()
    levels = len(defaults.channel_mults)
    candidates = {r * 2**i for r in defaults.attention_resolutions for i in range(levels)}
    sizes = [str(s) for s in sorted(candidates) if _is_default_size(s)]
    raise ValueError(
        f"{name} must be one of {', '.join(sizes)} for the default network ({levels} levels, attention at side "
        f"{', '.join(map(str, defaults.attention_resolutions))}); got {size}: give one of those sizes or another "
        f"network with {config_name}"
    )


def _is_default_size(size: int) -> bool:
    try:
        UNetConfig(image_size=size)
    except ValueError:
        return False
    return True


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_decay(value: object, name: str) -> float:
    """``value`` as an EMA decay in ``[0, 1)`` (a decay of 1 would never move the average), or an
    error naming ``name``."""
    decay = check_real(value, name, low=0.0, high=1.0)
    if decay == 1.0:
        raise ValueError(f"{name} must be in [0, 1) (an EMA with decay 1 never moves from the initial weights), got {value!r}")
    return decay



def check_batch(batch_size: int, channels: int, size: int, name: str) -> None:
    """Refuse, naming ``name``, a batch of images too large to allocate (:func:`check_allocation`)."""
    check_allocation(batch_size * channels * size * size, name, f"batches of {batch_size} images of {channels} x {size} x {size} values")


def check_output_folder(out_dir: object, name: str) -> tuple[Path, Path]:
    """The paths of ``state.pt`` and ``ema.pt`` in the output folder ``out_dir``, checked before any
    work: a folder (or a name where one can be created) where both can be written, and no
    ``ema.pt`` there without the ``state.pt`` that would be resumed (a fresh run would overwrite
    a network it did not train)."""
    out = check_path(out_dir, name)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{name} {str(out)!r} is a file; give a folder (training writes state.pt and ema.pt in it)")
    state_path = check_writable(out / "state.pt", name)
    ema_path = check_writable(out / "ema.pt", name)
    if ema_path.exists() and not state_path.exists():
        raise FileExistsError(
            f"{name} {str(out)!r} holds ema.pt but no state.pt to resume: a fresh run would overwrite that network; "
            "give another folder, or move ema.pt away"
        )
    return state_path, ema_path


def _check_same_data(stored: object, described: dict[str, Any], state_path: Path) -> None:
    """Refuse to resume ``state_path`` on a source whose description differs from the stored one
    in an entry both have (an entry added by a later version of a source does not count), the
    ``path`` aside: a folder or file moved elsewhere still holds the same data."""
    stored = stored if isinstance(stored, dict) else {}
    shared = sorted((set(stored) & set(described)) - {"path"})
    changed = {key: (stored[key], described[key]) for key in shared if stored[key] != described[key]}
    if changed:
        shown = "; ".join(f"{key}: stored {old!r}, now {new!r}" for key, (old, new) in changed.items())
        raise ValueError(
            f"the data differ from those {str(state_path)!r} was trained on ({shown}); a run resumes on its own data: "
            "give another output folder to train on these"
        )


def train_diffusion(
    source: ImageSource,
    out_dir: str | os.PathLike[str],
    *,
    steps: int,
    config: UNetConfig | None = None,
    schedule: VPSchedule | None = None,
    init: UNet | None = None,
    batch_size: int = 32,
    lr: float = 2e-4,
    warmup_steps: int = 0,
    grad_clip: float = 1.0,
    ema_decay: float = 0.999,
    checkpoint_every: int = 250,
    log_every: int = 50,
    seed: int = 0,
    device: str | torch.device = "cpu",
    channels_last: bool = True,
    num_threads: int | None = None,
    flush_denormal: bool = True,
    half_export: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume training) an epsilon-prediction UNet on ``source`` until ``steps`` steps.

    Args:
        source: where images come from (:class:`~reddiff_imaging.models.data_sources.SyntheticSource`,
            :func:`~reddiff_imaging.models.data_sources.hdf5_source`,
            :func:`~reddiff_imaging.models.data_sources.folder_source`, or any
            :class:`~reddiff_imaging.models.data_sources.ImageSource`).
        out_dir: folder of ``state.pt`` (resumable training state) and ``ema.pt`` (exported EMA
            network); an existing ``state.pt`` is resumed.
        steps: total number of optimisation steps (counting those of earlier runs).
        config: network configuration; default :class:`UNetConfig` with the source's channels and
            size. When resuming, ``None`` takes the stored one and anything else must equal it.
        schedule: noise schedule; default ``VPSchedule.linear()``. When resuming, ``None`` takes the
            stored one and anything else must equal it.
        init: a network whose weights a fresh run starts from, for the trained weights and their EMA
            alike (e.g. a trained network made deeper by :func:`~reddiff_imaging.models.deepened`);
            ``config`` ``None`` takes its configuration. Refused when ``out_dir`` holds a state to resume.
        batch_size, lr, warmup_steps, grad_clip, ema_decay: optimisation settings (``grad_clip`` is
            the maximal global gradient norm; ``warmup_steps`` ramps the learning rate linearly).
        checkpoint_every, log_every: steps between state saves and between loss-log entries.
        seed: seed of the initial weights and of the CPU generator that draws data, timesteps and
            noise (in ``[0, 2**31)``); the same seed and settings give the same run.
        device: where the network trains (``"auto"``: CUDA when present, else the CPU).
        channels_last: use the channels-last memory format (5-25 % faster per step on CPU in our
            measurements).
        num_threads: if given, ``torch.set_num_threads`` for the duration of the call.
        flush_denormal: call ``torch.set_flush_denormal(True)`` (a process-wide setting, left on):
            without it CPU training slows down about 4x once weights and moments get tiny.
        half_export: store the exported EMA weights as float16.
        progress: show a tqdm progress bar.
        log: optional callable receiving one text line per loss-log entry and checkpoint.

    Returns:
        A dict with ``steps``, ``seconds`` (total training time), ``loss`` (last smoothed loss),
        ``state_path``, ``ema_path`` and ``loss_log``.
    """
    if not isinstance(source, ImageSource):
        raise TypeError(f"source must provide channels, size, sample() and describe(), got {type(source).__name__}")
    _check_int(steps, "steps", 0)
    for name, count in (("batch_size", batch_size), ("checkpoint_every", checkpoint_every), ("log_every", log_every)):
        _check_int(count, name, 1)
    _check_int(warmup_steps, "warmup_steps", 0)
    _check_int(seed, "seed", 0)
    if seed >= MAX_TRAINING_SEED:
        raise ValueError(f"seed must lie in [0, 2**31) (larger seeds are reserved for held-out data), got {seed}")
    for name, number in (("lr", lr), ("grad_clip", grad_clip)):
        check_real(number, name, low=0.0, open_low=True)
    check_decay(ema_decay, "ema_decay")
    if num_threads is not None:
        _check_int(num_threads, "num_threads", 1)
    for name, flag in (("channels_last", channels_last), ("flush_denormal", flush_denormal), ("half_export", half_export), ("progress", progress)):
        check_bool(flag, name)
    if log is not None and not callable(log):
        raise TypeError(f"log must be a callable taking one line of text, or None, got {type(log).__name__}")
    device = check_device(device, "device", auto=True)
    check_batch(batch_size, source.channels, source.size, "batch_size")
    meta_data = source.describe()
    check_plain(meta_data, "source.describe()")  # stored in every checkpoint's meta

    state_path, ema_path = check_output_folder(out_dir, "out_dir")
    if schedule is not None and not isinstance(schedule, VPSchedule):
        raise TypeError(f"schedule must be a VPSchedule, got {type(schedule).__name__}")

    if init is not None:
        if not isinstance(init, UNet):
            raise TypeError(f"init must be a UNet, got {type(init).__name__}")
        if config is not None and config != init.config:
            raise ValueError(f"config differs from init's network: expected {init.config}, got {config}")
        config = init.config
    state: dict[str, Any] | None = None
    if state_path.exists():
        if init is not None:
            raise ValueError(f"init starts a fresh run, but {str(state_path)!r} holds a training state to resume: give another out_dir")
        state = read_training_state(state_path)
        _check_same_data(state.get("data"), meta_data, state_path)
        stored = UNetConfig.from_dict(state["config"])
        if config is not None and config != stored:
            raise ValueError(f"config differs from the one stored in {str(state_path)!r}: expected {stored}, got {config}")
        config = stored
        stored_schedule = VPSchedule.from_dict(state["schedule"])
        if schedule is not None and stored_schedule != schedule:
            raise ValueError(f"schedule differs from the stored one in {str(state_path)!r}: expected {stored_schedule}, got {schedule}")
        schedule = stored_schedule
    if schedule is None:
        schedule = VPSchedule.linear()
    if config is None:
        config = default_config(source.channels, source.size, name="the source's image size")
    if not isinstance(config, UNetConfig):
        raise TypeError(f"config must be a UNetConfig, got {type(config).__name__}")
    if config.in_channels != source.channels or config.image_size != source.size:
        raise ValueError(
            f"config expects {config.in_channels}-channel {config.image_size}x{config.image_size} images, "
            f"but the source gives {source.channels}-channel {source.size}x{source.size} images"
        )
    if config.learned_variance:
        raise ValueError(
            "train_diffusion trains the epsilon loss only: config.out_channels must equal in_channels "
            f"({config.in_channels}), got {config.out_channels}"
        )

    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    if flush_denormal:
        torch.set_flush_denormal(True)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    with torch.random.fork_rng(devices=[]):  # reproducible initial weights; global RNG left untouched
        torch.manual_seed(seed)
        model = UNet(config)
    if init is not None:
        model.load_state_dict(init.state_dict())
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    step, seconds, smoothed, loss_log = 0, 0.0, None, []
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step, seconds = int(state["step"]), float(state["seconds"])
        smoothed = state["smoothed_loss"]
        loss_log = [tuple(entry) for entry in state["loss_log"]]
    move = getattr(source, "to", None)
    if callable(move):  # a source that can build its batches where the network trains
        source = move(device)
    model.to(device).to(memory_format=memory_format).train()
    ema.to(device).to(memory_format=memory_format).eval()
    # Optimizer moments follow the parameters' device (load_state_dict ran before .to()).
    for s in opt.state.values():
        for k, v in s.items():
            if isinstance(v, torch.Tensor) and k != "step":
                s[k] = v.to(device=device, memory_format=memory_format if v.ndim == 4 else torch.preserve_format)

    sqrt_ab = schedule.sqrt_alphas_cumprod.float().to(device)
    sqrt_1mab = schedule.sqrt_one_minus_alphas_cumprod.float().to(device)
    params: list[Tensor] = list(model.parameters())
    ema_params: list[Tensor] = list(ema.parameters())
    train_args = {
        "batch_size": batch_size, "lr": lr, "warmup_steps": warmup_steps, "grad_clip": grad_clip,
        "ema_decay": ema_decay, "seed": seed, "channels_last": channels_last,
    }

    def save() -> None:
        save_whole(
            {
                "format": STATE_FORMAT,
                "format_version": 1,
                "config": config.to_dict(),
                "schedule": schedule.to_dict(),
                "model": {k: v.cpu() for k, v in model.state_dict().items()},
                "ema": {k: v.cpu() for k, v in ema.state_dict().items()},
                "optimizer": _to_cpu(opt.state_dict()),
                "generator": gen.get_state(),
                "step": step,
                "seconds": seconds,
                "smoothed_loss": smoothed,
                "loss_log": [list(e) for e in loss_log],
                "train_args": train_args,
                "data": meta_data,
            },
            state_path,
        )
        meta = {"steps": step, "seconds": round(seconds, 1), "smoothed_loss": smoothed, "data": meta_data,
                "training": {**train_args, "ema": True}}
        save_unet_checkpoint(ema_path, ema, schedule=schedule, meta=meta, half=half_export)
        if log is not None:
            log(f"checkpoint step {step}: {state_path} and {ema_path}")

    bar = tqdm(total=steps, initial=min(step, steps), disable=not progress, dynamic_ncols=True, desc="train")
    last_saved = step
    try:
        while step < steps:
            t_start = time.perf_counter()
            x = source.sample(batch_size, gen)
            t = torch.randint(schedule.num_timesteps, (batch_size,), generator=gen)
            noise = torch.randn(x.shape, generator=gen)
            x, t, noise = x.to(device), t.to(device), noise.to(device)
            x0 = 2.0 * x - 1.0
            xt = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * noise
            pred = model(xt.contiguous(memory_format=memory_format), t)
            loss = F.mse_loss(pred, noise)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower lr")
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            decay = min(ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1.0 - decay)
            step += 1
            value = float(loss.detach())
            smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
            seconds += time.perf_counter() - t_start
            bar.update(1)
            if step % log_every == 0 or step == steps:
                loss_log.append((step, smoothed, round(seconds, 2)))
                bar.set_postfix(loss=f"{smoothed:.4f}")
                if log is not None:
                    log(f"step {step}/{steps} loss {smoothed:.5f} {seconds / max(step, 1):.3f} s/step(avg) {seconds:.0f} s")
            if step % checkpoint_every == 0:
                save()
                last_saved = step
        if last_saved != step or not ema_path.exists():
            save()
    except KeyboardInterrupt:
        if step != last_saved:
            save()
        raise
    finally:
        bar.close()
        if num_threads is not None:
            torch.set_num_threads(prev_threads)
    return {
        "steps": step, "seconds": seconds, "loss": smoothed, "state_path": state_path,
        "ema_path": ema_path, "loss_log": loss_log,
    }


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().contiguous()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _build_source(data: str, size: int, key: str | None, rgb: bool, rescale: bool = False) -> ImageSource:
    """The source ``--data`` names; ``--h5-key`` (``key``, ``None`` when not given), ``--rgb`` and
    ``--rescale`` are refused where they would be ignored, before any data is read."""
    path = Path(data)
    hdf5 = data not in ("synthetic", "photos") and not path.is_dir() and path.suffix.lower() in HDF5_SUFFIXES
    if rescale and not path.is_dir():
        raise ValueError(f"--rescale stretches the images of a folder onto [0, 1]; --data {data!r} is not a folder")
    if key is not None and not hdf5:
        raise ValueError(f"--h5-key names a dataset inside an HDF5 file ({', '.join(HDF5_SUFFIXES)}); --data {data!r} is not one")
    if rgb and (data == "synthetic" or hdf5):
        kept = "synthetic images are gray" if data == "synthetic" else "an HDF5 dataset keeps the channels it stores"
        raise ValueError(f"--rgb applies to --data photos or an image folder; {kept}")
    if data == "synthetic":
        return SyntheticSource(size)
    if data == "photos":
        return PhotoCropSource.bundled(size, channels=3 if rgb else 1)
    if path.is_dir():
        return folder_source(path, size, grayscale=not rgb, rescale=rescale)
    if hdf5:
        return hdf5_source(path, key="images" if key is None else key, size=size)
    if not path.exists():
        raise FileNotFoundError(f"--data {data!r}: expected 'synthetic', 'photos', an HDF5 file or an image folder; nothing at that path")
    raise ValueError(f"--data {data!r}: expected 'synthetic', 'photos', an .h5/.hdf5 file or an image folder")


def _takes_rgb(data: str) -> bool:
    """Whether ``--rgb`` applies to ``--data data`` (the bundled photographs or an image folder)."""
    return data == "photos" or Path(data).is_dir()


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``reddiff-imaging train-prior`` (numeric options and ``--device`` are
    checked when parsed)."""
    p = argparse.ArgumentParser(prog="reddiff-imaging train-prior", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (state.pt, ema.pt); resumes if state.pt exists")
    p.add_argument("--data", default="synthetic", help="'synthetic', 'photos' (the bundled training photographs), an HDF5 file, or a folder of images")
    p.add_argument("--h5-key", default=None, help="HDF5 dataset key (default images; deepinv's generate_dataset: x_train); HDF5 data only")
    p.add_argument(
        "--rgb", action="store_true",
        help="colour: keep colour when reading an image folder; 3-channel crops of the bundled photographs (not for synthetic or HDF5 data)",
    )
    p.add_argument(
        "--rescale", action="store_true",
        help="image folder: stretch each image's own range onto [0, 1] (float TIFFs outside [0, 1], 32-bit integers)",
    )
    p.add_argument("--size", type=image_side, default=64, help="image side in pixels")
    p.add_argument("--steps", type=positive_int, default=200_000)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=2e-4)
    p.add_argument("--warmup-steps", type=nonnegative_int, default=0)
    p.add_argument("--grad-clip", type=positive_float, default=1.0)
    p.add_argument("--ema-decay", type=unit_float, default=0.999, help="in [0, 1)")
    p.add_argument("--checkpoint-every", type=positive_int, default=250)
    p.add_argument("--log-every", type=positive_int, default=50)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--config", default=None, help="JSON file or JSON string of UNetConfig fields")
    p.add_argument(
        "--init", default=None,
        help="start a fresh run from this UNet checkpoint's network and schedule (instead of random weights; not with --config)",
    )
    p.add_argument("--deepen", action="store_true", help="with --init: first add one residual block per level, keeping what the network computes")
    p.add_argument("--device", type=device_option, default="cpu")
    p.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads (e.g. 1)")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--half-export", action="store_true", help="store ema.pt weights as float16")
    p.add_argument("--progress", action="store_true", help="show a tqdm bar instead of log lines")
    return p


def read_training_state(path: Path) -> dict[str, Any]:
    """The training state saved in ``path`` by :func:`train_diffusion` (loaded on the CPU)."""
    state = read_torch_file(path, f"a training state (format {STATE_FORMAT!r})")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        hint = " but a UNet checkpoint: start a fresh run from its network with init= (--init) and another folder" if found == CHECKPOINT_FORMAT else ""
        raise ValueError(f"{str(path)!r} is not a training state (format {STATE_FORMAT!r}){hint}")
    _check_state_entries(state, str(path))
    return state


_STATE_KEYS = ("config", "schedule", "model", "ema", "optimizer", "generator", "step", "seconds", "smoothed_loss", "loss_log")


def _check_state_entries(state: dict[str, Any], where: str) -> None:
    """Refuse a training state with missing or malformed entries (a damaged or hand-edited file)
    before anything is built from it; the networks' weights are compared with the stored config's
    shapes on the ``meta`` device."""
    damaged = f"{where!r} is a damaged training state"
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"{damaged}: it lacks {missing}; give another output folder to start afresh")
    try:
        config = UNetConfig.from_dict(state["config"])
        VPSchedule.from_dict(state["schedule"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{damaged}: invalid config or schedule: {err}") from err
    step, generator = state["step"], state["generator"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{damaged}: step must be an int >= 0, got {step!r}")
    if not isinstance(generator, Tensor) or generator.dtype != torch.uint8:
        raise ValueError(f"{damaged}: generator must be a uint8 tensor (a torch.Generator state), got {type(generator).__name__}")
    check_network_size(config, where)
    with torch.device("meta"):
        expected = UNet(config).state_dict()
    for key in ("model", "ema"):
        if not isinstance(state[key], dict):
            raise ValueError(f"{damaged}: {key} must be a dict of tensors, got {type(state[key]).__name__}")
        check_state_dict(state[key], expected, f"{damaged}: {key}")


def _config_fields(spec: str, size: int) -> dict[str, Any]:
    """The :class:`UNetConfig` fields of ``--config`` (a JSON file or string) with ``--size``
    filled in, checked before any data is read (with one input channel where the data decide)."""
    path = Path(spec)
    if path.is_dir():
        raise IsADirectoryError(f"--config {spec!r} is a folder; expected a JSON file or a JSON object of UNetConfig fields")
    try:
        fields = json.loads(path.read_text(encoding="utf-8") if path.is_file() else spec)
    except UnicodeDecodeError as err:
        raise ValueError(f"--config {spec!r} is not a JSON text file (byte {err.start} is not UTF-8)") from err
    except ValueError as err:
        raise ValueError(f"--config {spec!r} is neither a JSON file nor a JSON object: {err}") from err
    if not isinstance(fields, dict):
        raise TypeError(f"--config must be a JSON object of UNetConfig fields, got {fields!r}")
    if isinstance(fields.setdefault("image_size", size), int) and fields["image_size"] != size:
        raise ValueError(f"--config image_size {fields['image_size']!r} differs from --size {size}: leave image_size out (--size decides it)")
    try:
        config = UNetConfig.from_dict({"in_channels": 1, **fields})
    except ValueError as err:  # a default field may not suit --size, which the user typed instead
        raise ValueError(f"--config with --size {size}: {err}") from err
    except TypeError as err:
        raise TypeError(f"--config: {err}") from err
    check_network_size(config, "--config")
    return fields


def _initial_network(path: str | None, deepen: bool, size: int) -> tuple[UNet | None, VPSchedule | None]:
    """The network and schedule of ``--init`` (deepened with ``--deepen``), checked against ``--size``."""
    if path is None:
        return None, None
    try:
        network, info = load_unet_checkpoint(path)
    except (FileNotFoundError, ValueError) as err:
        raise type(err)(f"--init {path!r}: {err}") from err
    side = network.config.image_size
    if side != size:
        raise ValueError(f"--size {size} differs from the network of --init {path!r}, trained on {side}x{side} crops: give --size {side}")
    if deepen:  # the deeper network's size is checked before it is built
        check_network_size(replace(network.config, num_res_blocks=network.config.num_res_blocks + 1), f"--deepen of --init {path!r}")
        network = deepened(network)
    return network, info["schedule"]


#: the options a resumed run takes from its state unless given again (``train_args`` keys)
RESUMED_OPTIONS = ("batch_size", "lr", "warmup_steps", "grad_clip", "ema_decay")


def _given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The destinations of the options written on the command line (abbreviations included)."""
    bare = copy.deepcopy(parser)
    for action in bare._actions:
        action.default = argparse.SUPPRESS
    return set(vars(bare.parse_args(argv)))


def _resumed_options(args: argparse.Namespace, given: set[str], stored: dict[str, Any]) -> list[str]:
    """Set the options of :data:`RESUMED_OPTIONS` not given on the command line to the stored
    ones (a resumed run would otherwise switch to the defaults), and say what changed."""
    notes = []
    for key in RESUMED_OPTIONS:
        if key not in stored:
            continue
        option = "--" + key.replace("_", "-")
        if key not in given:
            setattr(args, key, stored[key])
        elif getattr(args, key) != stored[key]:
            notes.append(f"resuming with {option} {getattr(args, key)} (the state was trained with {stored[key]})")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m reddiff_imaging.models.training --out DIR [...]``."""
    p = build_parser()
    args = p.parse_args(argv)
    if args.ema_decay == 1.0:  # unit_float takes [0, 1]
        p.error("argument --ema-decay: must be in [0, 1) (an EMA with decay 1 never moves from the initial weights), got 1.0")
    state, _ = check_output_folder(args.out, "--out")  # before any data is read
    if args.seed >= MAX_TRAINING_SEED:
        raise ValueError(f"--seed must lie in [0, 2**31) (larger seeds are reserved for held-out data), got {args.seed}")
    check_batch(args.batch_size, 3 if args.rgb else 1, args.size, "--batch-size")
    if args.deepen and args.init is None:
        raise ValueError("--deepen deepens the network of --init; give --init CHECKPOINT")
    if args.init is not None and (args.config is not None or state.exists()):
        clash = "--config (the network is the checkpoint's)" if args.config is not None else f"resuming {str(state)!r}: give another --out"
        raise ValueError(f"--init {args.init!r} starts a fresh run from its network; it does not go with {clash}")
    init, schedule = _initial_network(args.init, args.deepen, args.size)
    if state.exists():  # a resumed run keeps its stored network
        stored = read_training_state(state)
        side = UNetConfig.from_dict(stored["config"]).image_size
        if side != args.size:
            raise ValueError(f"--size {args.size} differs from the network stored in {str(state)!r}, trained on {side}x{side} crops: resume with --size {side}, or give another --out")
        for line in _resumed_options(args, _given_options(p, argv), stored.get("train_args", {})):
            print(f"note: {line}", flush=True)
    elif args.config is None and init is None:
        default_config(1, args.size, name="--size", config_name="--config")
    fields = None if args.config is None else _config_fields(args.config, args.size)

    source = _build_source(args.data, args.size, args.h5_key, args.rgb, args.rescale)
    if init is not None and init.config.in_channels != source.channels:
        raise ValueError(
            f"--init {args.init!r} holds a {init.config.in_channels}-channel network, but --data {args.data!r} gives "
            f"{source.channels}-channel images" + (" (add --rgb)" if init.config.in_channels == 3 else "")
        )
    config = None
    if fields is not None:
        channels = fields.setdefault("in_channels", source.channels)
        if channels != source.channels:
            raise ValueError(
                f"--config in_channels {channels!r} differs from --data {args.data!r}, which gives {source.channels}-channel "
                "images: leave in_channels out (the data decide it)" + (" or add --rgb" if channels == 3 and _takes_rgb(args.data) else "")
            )
        config = UNetConfig.from_dict(fields)
        check_network_size(config, "--config")

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    t0 = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{t0}] training on {source.describe()} -> {args.out}", flush=True)
    try:
        result = train_diffusion(
            source, args.out, steps=args.steps, config=config, schedule=schedule, init=init,
            batch_size=args.batch_size, lr=args.lr,
            warmup_steps=args.warmup_steps, grad_clip=args.grad_clip, ema_decay=args.ema_decay,
            checkpoint_every=args.checkpoint_every, log_every=args.log_every, seed=args.seed,
            device=args.device, channels_last=not args.no_channels_last, num_threads=args.threads,
            half_export=args.half_export, progress=args.progress,
            log=None if args.progress else (lambda s: print(f"[{time.strftime('%H:%M:%S')}] {s}", flush=True)),
        )
    except KeyboardInterrupt:
        print("interrupted; training state saved", flush=True)
        return 130
    print(f"done: {result['steps']} steps, {result['seconds']:.0f} s, loss {result['loss']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
