"""The results file: one HDF5 file per comparison, written incrementally and resumable.

Layout (``format = "reddiff-imaging/results"``, ``format_version = 1`` on the root)::

    /<run>/                          attrs: config (JSON), seed, device, versions (JSON), created
    /<run>/<task>/                   attrs: description, sigma, operator
    /<run>/<task>/x_true             (N, C, H, W) float32 ground truth
    /<run>/<task>/y                  (N, *out_shape) measurements (complex ones as a trailing
                                     (real, imag) axis, attr complex=True)
    /<run>/<task>/<method>/          attrs: solver, prior, config (JSON)
    /<run>/<task>/<method>/<i>/      one image: dataset x (C, H, W) float32, dataset history
                                     (steps × columns, attr columns), attrs psnr, ssim, seconds,
                                     peak_memory_bytes, seed, and complete=True written last

Every image is flushed to disk when it is done. A unit whose group lacks ``complete`` (a crash
while writing it) is deleted and recomputed on the next run; complete units are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor

FORMAT = "reddiff-imaging/results"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class UnitResult:
    """One reconstructed image and its measurements."""

    x: Tensor
    history: list[dict[str, float]]
    psnr: float
    ssim: float
    seconds: float
    peak_memory_bytes: int
    seed: int


class ResultsStore:
    """Read and write a results file (see the module docs for the layout).

    Args:
        path: the ``.h5`` file; created when missing.
        mode: ``"a"`` (read/write, create if missing) or ``"r"``.

    Raises:
        ValueError: the file exists but is not a readable results file of a supported version.
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "a") -> None:
        self.path = Path(path)
        if mode == "r" and not self.path.is_file():
            raise FileNotFoundError(f"no results file at {str(self.path)!r}")
        if mode == "a" and self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.file = h5py.File(self.path, mode)
        except OSError as err:
            raise ValueError(
                f"{str(self.path)!r} is not a readable HDF5 results file (corrupted or another format): {err}"
            ) from err
        found = self.file.attrs.get("format")
        if found is None and len(self.file) == 0 and mode != "r":
            self.file.attrs["format"] = FORMAT
            self.file.attrs["format_version"] = FORMAT_VERSION
        elif found != FORMAT:
            self.file.close()
            raise ValueError(f"{str(self.path)!r} is not a reddiff-imaging results file (format attribute {found!r})")
        elif int(self.file.attrs.get("format_version", -1)) != FORMAT_VERSION:
            version = self.file.attrs.get("format_version")
            self.file.close()
            raise ValueError(
                f"{str(self.path)!r} has results format_version {version}; this version reads {FORMAT_VERSION}"
            )

    # -- context manager ------------------------------------------------------------------------
    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs and tasks -------------------------------------------------------------------------
    def runs(self) -> list[str]:
        return sorted(self.file)

    def open_run(self, run: str, config: dict[str, Any], *, seed: int, device: str, versions: dict[str, str]) -> None:
        """Create the run group, or check that an existing one has the same configuration."""
        if run in self.file:
            stored = json.loads(self.file[run].attrs["config"])
            if stored != json.loads(json.dumps(config)):
                raise ValueError(
                    f"run {run!r} in {str(self.path)!r} was made with another configuration; "
                    "use another output file or run name to keep both"
                )
            return
        group = self.file.create_group(run)
        group.attrs["config"] = json.dumps(config)
        group.attrs["seed"] = seed
        group.attrs["device"] = device
        group.attrs["versions"] = json.dumps(versions)
        group.attrs["created"] = np.bytes_(_now())
        self.file.flush()

    def write_task(self, run: str, task: str, x_true: Tensor, y: Tensor, attrs: dict[str, Any]) -> None:
        """Store a task's ground truth and measurements (once; later calls check nothing)."""
        group = self.file[run].require_group(task)
        if "y" in group:
            return
        for key, value in attrs.items():
            group.attrs[key] = value
        group.create_dataset("x_true", data=x_true.detach().cpu().float().numpy())
        measurement = y.detach().cpu()
        group.create_dataset("y", data=_real(measurement).numpy())
        group["y"].attrs["complex"] = bool(measurement.is_complex())
        self.file.flush()

    def task_data(self, run: str, task: str) -> tuple[Tensor, Tensor]:
        """``(x_true, y)`` of a stored task."""
        group = self.file[run][task]
        y = torch.from_numpy(group["y"][()])
        if group["y"].attrs.get("complex", False):
            y = torch.view_as_complex(y.contiguous())
        return torch.from_numpy(group["x_true"][()]), y

    def tasks(self, run: str) -> list[str]:
        return [k for k in self.file[run] if isinstance(self.file[run][k], h5py.Group)]

    def methods(self, run: str, task: str) -> list[str]:
        return [k for k in self.file[run][task] if isinstance(self.file[run][task][k], h5py.Group)]

    # -- units ----------------------------------------------------------------------------------
    def has_unit(self, run: str, task: str, method: str, index: int) -> bool:
        """True when the unit is complete; an incomplete leftover of a crash is removed."""
        name = f"{run}/{task}/{method}/{index}"
        if name not in self.file:
            return False
        if self.file[name].attrs.get("complete", False):
            return True
        del self.file[name]
        self.file.flush()
        return False

    def write_unit(self, run: str, task: str, method: str, index: int, unit: UnitResult, method_attrs: dict[str, Any]) -> None:
        """Write one image's result and flush it to disk."""
        group = self.file[run][task].require_group(method)
        for key, value in method_attrs.items():
            group.attrs[key] = value
        item = group.create_group(str(index))
        item.create_dataset("x", data=unit.x.detach().cpu().float().numpy())
        columns = sorted({k for row in unit.history for k in row})
        table = np.full((len(unit.history), len(columns)), np.nan)
        for r, row in enumerate(unit.history):
            for c, key in enumerate(columns):
                table[r, c] = row.get(key, np.nan)
        history = item.create_dataset("history", data=table)
        history.attrs["columns"] = json.dumps(columns)
        for key in ("psnr", "ssim", "seconds"):
            item.attrs[key] = float(getattr(unit, key))
        item.attrs["peak_memory_bytes"] = int(unit.peak_memory_bytes)
        item.attrs["seed"] = int(unit.seed)
        item.attrs["complete"] = True
        self.file.flush()

    def units(self, run: str) -> Iterator[tuple[str, str, int, h5py.Group]]:
        """Every complete unit of a run as ``(task, method, index, group)``."""
        for task in self.tasks(run):
            for method in self.methods(run, task):
                for key, item in self.file[run][task][method].items():
                    if item.attrs.get("complete", False):
                        yield task, method, int(key), item

    def history(self, run: str, task: str, method: str, index: int) -> list[dict[str, float]]:
        dataset = self.file[f"{run}/{task}/{method}/{index}/history"]
        columns = json.loads(dataset.attrs["columns"])
        return [{c: float(v) for c, v in zip(columns, row, strict=True) if not np.isnan(v)} for row in dataset[()]]


def _real(y: Tensor) -> Tensor:
    return torch.view_as_real(y) if y.is_complex() else y.float()


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
