"""The project's own checkpoint format for :class:`~reddiff_imaging.models.unet.UNet` diffusion priors.

A checkpoint is one file written by ``torch.save`` holding a plain dict (so it loads with
``torch.load(..., weights_only=True)``, which never runs pickled code):

============== =====================================================================
key            value
============== =====================================================================
format         ``"reddiff-imaging/unet"``
format_version ``1``
config         :meth:`UNetConfig.to_dict` of the network
state_dict     the network weights (float32, or float16 to halve the file)
schedule       :meth:`VPSchedule.to_dict`, e.g. ``{"kind": "linear", "beta_start": 1e-4,
               "beta_end": 0.02, "num_timesteps": 1000}``
prediction     ``"eps"``: the network predicts the added noise
data_range     ``"[-1,1]"``: the network sees images mapped :math:`x' = 2x - 1`
meta           free dict (training steps, seconds, data set description, ...)
============== =====================================================================
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .._validation import check_bool, check_device, check_writable, replace_whole
from ..priors.schedules import VPSchedule
from .unet import UNet, UNetConfig

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "save_unet_checkpoint", "load_unet_checkpoint"]

CHECKPOINT_FORMAT = "reddiff-imaging/unet"
CHECKPOINT_VERSION = 1
#: the format of the training states of :func:`~reddiff_imaging.models.train_diffusion` (not checkpoints)
TRAINING_STATE_FORMAT = "reddiff-imaging/training-state"
#: the largest network (parameters; residual blocks) a checkpoint's config may ask for
MAX_PARAMETERS = 1_000_000_000
MAX_BLOCKS = 256
_REQUIRED = ("format", "format_version", "config", "state_dict", "schedule", "prediction", "data_range", "meta")


def save_unet_checkpoint(
    path: str | os.PathLike[str],
    model: UNet,
    *,
    schedule: VPSchedule | dict[str, Any],
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``model`` as a checkpoint file, whole or not at all (a temporary file beside ``path``,
    then renamed over it: an earlier file at ``path`` survives a crash midway).

    Args:
        path: destination file (parent folders are created).
        model: the network; its weights are copied to CPU.
        schedule: the noise schedule it was trained with (a :class:`VPSchedule` or its dict).
        meta: free information: a dict with string keys whose values are ``None``, bools, ints,
            floats, strings, tensors, and lists, tuples and string-keyed dicts of those (what
            :func:`load_unet_checkpoint` reads back without unpickling code).
        half: store the floating-point weights as float16 (the loader converts back to float32).

    Returns:
        The path written.
    """
    path = check_writable(check_path(path, "path"), "path")
    if not isinstance(model, UNet):
        raise TypeError(f"model must be a reddiff_imaging UNet, got {type(model).__name__}")
    check_bool(half, "half")
    if isinstance(schedule, dict):
        schedule = VPSchedule.from_dict(schedule)
    if not isinstance(schedule, VPSchedule):
        raise TypeError(f"schedule must be a VPSchedule or its dict, got {type(schedule).__name__}")
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict or None, got {type(meta).__name__}")
    check_plain(meta, "meta")
    store = torch.float16 if half else torch.float32
    state = {
        k: (v.detach().to("cpu", store) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
        "schedule": schedule.to_dict(),
        "prediction": "eps",
        "data_range": "[-1,1]",
        "meta": dict(meta or {}),
    }
    save_whole(payload, path)
    return path


def save_whole(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)``, replacing an earlier ``path`` whole or not at all."""
    replace_whole(path, lambda temporary: torch.save(obj, temporary))


def check_path(path: object, name: str) -> Path:
    """``path`` as a :class:`Path`, or a TypeError naming ``name`` for anything but a str or
    :class:`os.PathLike` (an empty name would be the current folder: a ValueError)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {path!r} ({type(path).__name__})")
    if str(path) == "":
        raise ValueError(f"{name} must be a file name, got an empty one")
    return Path(path)


_PLAIN = (type(None), bool, int, float, str, torch.Tensor)


def check_plain(value: object, name: str) -> None:
    """Raise a TypeError naming the entry (``meta['data'][0]``) of ``value`` that
    ``torch.load(..., weights_only=True)`` would refuse to read back: anything but ``None``, bools,
    ints, floats, strings, tensors, and lists, tuples and string-keyed dicts of those."""
    if type(value) in (dict, OrderedDict):
        assert isinstance(value, dict)
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be strings, got {key!r} ({type(key).__name__})")
            check_plain(item, f"{name}[{key!r}]")
    elif type(value) in (list, tuple):
        assert isinstance(value, (list, tuple))
        for index, item in enumerate(value):
            check_plain(item, f"{name}[{index}]")
    elif type(value) not in _PLAIN and not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must hold None, bools, ints, floats, strings, tensors, lists, tuples and dicts only (a checkpoint "
            f"never unpickles other objects), got {value!r} ({type(value).__name__}); convert it, e.g. str() or float()"
        )


def load_unet_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[UNet, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_unet_checkpoint` onto ``map_location`` (a device,
    or ``"auto"``: CUDA when present, else the CPU).

    Returns:
        ``(model, info)``: the float32 network in eval mode on ``map_location``, and a dict with the
        keys ``schedule`` (a :class:`VPSchedule`), ``prediction``, ``data_range``, ``config``
        (a :class:`UNetConfig`), ``format_version`` and ``meta``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a checkpoint of this format, an unsupported version, missing keys, or
            weights that do not match the configured network.
    """
    path = check_path(path, "path")
    map_location = check_device(map_location, "map_location", auto=True)
    if not path.is_file():
        raise FileNotFoundError(f"no UNet checkpoint at {str(path)!r} (path does not exist or is not a file)")
    payload = read_torch_file(path, f"a checkpoint with format {CHECKPOINT_FORMAT!r}")
    if not isinstance(payload, dict):
        raise ValueError(f"{str(path)!r} holds a {type(payload).__name__}, expected a dict with format {CHECKPOINT_FORMAT!r}")
    if payload.get("format") != CHECKPOINT_FORMAT:
        hint = f"; it is a training state: its network is exported to {str(path.with_name('ema.pt'))!r}" if payload.get("format") == TRAINING_STATE_FORMAT else ""
        raise ValueError(
            f"{str(path)!r} has format {payload.get('format')!r}, expected {CHECKPOINT_FORMAT!r} "
            f"(a checkpoint written by reddiff_imaging.models.save_unet_checkpoint){hint}"
        )
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(
            f"{str(path)!r} has unsupported format_version {version!r}; this version of reddiff_imaging reads "
            f"format_version {CHECKPOINT_VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"{str(path)!r} lacks the checkpoint keys {missing}; expected keys {list(_REQUIRED)}")
    if payload["prediction"] != "eps":
        raise ValueError(f"{str(path)!r} has prediction {payload['prediction']!r}, expected 'eps'")
    if payload["data_range"] != "[-1,1]":
        raise ValueError(f"{str(path)!r} has data_range {payload['data_range']!r}, expected '[-1,1]'")
    try:
        config = UNetConfig.from_dict(payload["config"])
        schedule = VPSchedule.from_dict(payload["schedule"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{str(path)!r} has an invalid config or schedule: {err}") from err

    check_network_size(config, str(path))
    model = UNet(config)
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r}: state_dict must be a dict of tensors, got {type(state).__name__}")
    check_state_dict(state, model.state_dict(), str(path))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model = model.to(map_location).eval()
    info = {
        "schedule": schedule,
        "config": config,
        "prediction": payload["prediction"],
        "data_range": payload["data_range"],
        "format_version": version,
        "meta": payload["meta"],
    }
    return model, info


def read_torch_file(path: Path, expected: str) -> Any:
    """What ``torch.save`` wrote at ``path`` (tensors and plain containers only: ``weights_only``),
    or a ValueError that says why the file is not such a file and what was ``expected``."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); expected {expected}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable content; re-raised with the path
        raise ValueError(
            f"{str(path)!r} ({size:,} bytes) is not a file written by torch.save, or holds objects other than tensors "
            f"and plain containers, which are never unpickled ({type(err).__name__}); expected {expected}"
        ) from err


def check_network_size(config: UNetConfig, where: str) -> None:
    """Refuse a configuration whose network would exceed :data:`MAX_PARAMETERS` parameters (or
    :data:`MAX_BLOCKS` residual blocks), before any memory is allocated: the parameters are
    counted on PyTorch's ``meta`` device, which records shapes only."""
    blocks = config.num_res_blocks * len(config.channel_mults)
    if blocks > MAX_BLOCKS:
        raise ValueError(f"{where}: its config asks for {blocks} residual blocks; the limit is {MAX_BLOCKS}")
    with torch.device("meta"):
        count = sum(p.numel() for p in UNet(config).parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"{where}: its config asks for a network of {count:,} parameters; the limit is {MAX_PARAMETERS:,}")


def check_state_dict(got: dict[str, Any], expected: dict[str, torch.Tensor], where: str) -> None:
    """Raise a ValueError listing missing/unexpected keys and shape mismatches."""
    problems = []
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for key in sorted(set(expected) & set(got)):
        value = got[key]
        if not isinstance(value, torch.Tensor):
            problems.append(f"{key}: expected a tensor, got {type(value).__name__}")
        elif tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"{key}: expected shape {tuple(expected[key].shape)}, got {tuple(value.shape)}")
        elif expected[key].is_floating_point() and not value.is_floating_point():
            problems.append(f"{key}: expected floating-point weights, got {value.dtype}")
        elif value.is_floating_point() and not bool(torch.isfinite(value).all()):
            problems.append(f"{key}: holds NaN or Inf")
    if problems:
        raise ValueError(f"{where}: state_dict does not match the configured UNet: " + "; ".join(problems))
