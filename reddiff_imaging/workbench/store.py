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

Shards: when several processes share a run (:mod:`reddiff_imaging.workbench.distributed`), rank
``k`` writes its units to ``<stem>.rank<k>.h5`` beside the results file, in this same layout (its
task groups hold no data). :func:`merge_shards` moves them into the results file; until then
they count as done for a rerun (:func:`completed_units`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs and tasks -------------------------------------------------------------------------
    def runs(self) -> list[str]:
        return sorted(self.file)

    def open_run(self, run: str, config: dict[str, Any], *, seed: int, device: str, versions: dict[str, str]) -> None:
        """Create the run group, or check that an existing one has the same configuration."""
        if run in self.file:
            self.check_config(run, config)
            return
        group = self.file.create_group(run)
        group.attrs["config"] = json.dumps(config)
        group.attrs["seed"] = seed
        group.attrs["device"] = device
        group.attrs["versions"] = json.dumps(versions)
        group.attrs["created"] = np.bytes_(_now())
        self.file.flush()

    def check_config(self, run: str, config: dict[str, Any]) -> None:
        """Raise ValueError unless the stored ``run`` was made with ``config``."""
        if json.loads(self.file[run].attrs["config"]) != json.loads(json.dumps(config)):
            raise ValueError(
                f"run {run!r} in {str(self.path)!r} was made with another configuration; "
                "use another output file or run name to keep both"
            )

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
        """Write one image's result and flush it to disk (replacing an incomplete leftover of a crash)."""
        if self.has_unit(run, task, method, index):
            raise ValueError(f"unit {run}/{task}/{method}/{index} is already complete in {str(self.path)!r}")
        group = self.file[run].require_group(task).require_group(method)
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

    def merge(self, shard: ResultsStore, run: str) -> None:
        """Copy the complete units of ``run`` in ``shard`` that this file lacks (``run`` must exist
        here). Each copy is written like :meth:`write_unit`: data first, ``complete`` last, flushed."""
        if run not in shard.file:
            return
        for task, method, index, item in shard.units(run):
            if self.has_unit(run, task, method, index):
                continue
            group = self.file[run].require_group(task).require_group(method)
            group.attrs.update(item.parent.attrs)
            target = group.create_group(str(index))
            for name, dataset in item.items():
                self.file.copy(dataset, target, name=name)
            target.attrs.update({k: v for k, v in item.attrs.items() if k != "complete"})
            target.attrs["complete"] = True
            self.file.flush()

    def history(self, run: str, task: str, method: str, index: int) -> list[dict[str, float]]:
        dataset = self.file[f"{run}/{task}/{method}/{index}/history"]
        columns = json.loads(dataset.attrs["columns"])
        return [{c: float(v) for c, v in zip(columns, row, strict=True) if not np.isnan(v)} for row in dataset[()]]


def shard_path(path: str | os.PathLike[str], rank: int) -> Path:
    """The shard of rank ``rank`` beside the results file ``path`` (``results.h5`` → ``results.rank3.h5``)."""
    return Path(path).with_suffix(f".rank{rank}.h5")


def shard_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The shards beside the results file ``path``, of any rank, sorted by rank."""
    folder = Path(path).parent
    pattern = re.compile(re.escape(Path(path).with_suffix("").name) + r"\.rank(\d+)\.h5")
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := pattern.fullmatch(p.name))] if folder.is_dir() else []
    return [p for _, p in sorted(found)]


def completed_units(path: str | os.PathLike[str], run: str, config: dict[str, Any]) -> set[tuple[str, str, int]]:
    """``(task, method, index)`` of the complete units of ``run`` in the results file and its shards.

    Raises:
        ValueError: a file holds ``run`` made with another configuration.
    """
    done = set()
    for file in [Path(path), *shard_paths(path)]:
        if not file.is_file():
            continue
        with ResultsStore(file, "r") as store:
            if run in store.file:
                store.check_config(run, config)
                done |= {(task, method, index) for task, method, index, _ in store.units(run)}
    return done


def merge_shards(path: str | os.PathLike[str], run: str) -> None:
    """Move the units of ``run`` from every shard into the results file ``path``; a shard that
    holds no other run is then deleted. Safe to repeat after a crash: copied units are skipped."""
    shards = shard_paths(path)
    if not shards:
        return
    with ResultsStore(path) as main:
        for shard in shards:
            with ResultsStore(shard) as part:
                main.merge(part, run)
                others = [r for r in part.runs() if r != run]
                if others and run in part.file:
                    del part.file[run]
            if not others:
                shard.unlink()


def _real(y: Tensor) -> Tensor:
    return torch.view_as_real(y) if y.is_complex() else y.float()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
