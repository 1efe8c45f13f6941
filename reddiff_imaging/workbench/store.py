"""The results file: one HDF5 file per comparison, written incrementally and resumable.

Layout (``format = "reddiff-imaging/results"``, ``format_version = 2`` on the root)::

    /<run>/                          attrs: config (JSON), seed, device, versions (JSON), created
    /<run>/<task>/                   attrs: description, sigma, operator, sha256 (of x_true and y)
    /<run>/<task>/x_true             (N, C, H, W) float32 ground truth
    /<run>/<task>/y                  (N, *out_shape) measurements (complex ones as a trailing
                                     (real, imag) axis, attr complex=True)
    /<run>/<task>/x_true/<i>         for images of different sizes, x_true and y are groups that
    /<run>/<task>/y/<i>              hold one dataset per image, (C, H, W) and out_shape
    /<run>/<task>/<method>/          attrs: solver, prior, config (JSON)
    /<run>/<task>/<method>/<i>/      one image: dataset x (C, H, W) float32, dataset history
                                     (steps × columns, attr columns), attrs psnr, ssim, seconds,
                                     peak_memory_bytes, seed, sha256 (of x, history and
                                     these attributes), and complete=True written last

Crash safety: units are never written into the results file in place. Every process of a
comparison (also a single one) writes its units into its own shard (below), each flushed and
synced to the disk (``fsync``) when it is done; a unit whose group lacks ``complete`` (a crash
while writing it) is deleted and recomputed on the next run, complete units are skipped. The
results file itself is only ever replaced whole (:func:`rewrite`): the run and its tasks at the
start of a comparison, the shards' units at its end (:func:`merge_shards`) are written into a copy
beside it, synced and renamed over it, under its lock. A crash (``kill -9``, a power cut) thus
costs at most the units in progress; a shard that HDF5 cannot read (a crash during its flush: HDF5
has no journal and records the end of allocation after the objects it covers) is moved aside to
``<shard>.damaged-<n>`` with a note, and its units are computed again. A file damaged that way by
a version that wrote units in place raises :class:`DamagedResultsError` when opened. Writing
through :class:`ResultsStore` directly is in place, like any HDF5 write.

Safety: opening a file checks its whole layout and refuses links, external storage and any
member outside the layout (:mod:`reddiff_imaging._hdf5`); a complete unit whose ``sha256`` does
not match its bytes is reported (:class:`CorruptedUnitWarning`), never served, and recomputed by
the next run; an existing file is never truncated unless ``overwrite=True`` is given; a writer
holds ``<file>.lock`` (pid, host, run), so that another process is told who uses the file.

Shards: process ``k`` of a run (the rank under :mod:`reddiff_imaging.workbench.distributed`, 0 for
a single process) writes its units to ``<name>.rank<k>.h5`` beside the results file
(``results.h5`` → ``results.h5.rank3.h5``), in this same layout (its task groups hold no data).
:func:`merge_shards` moves them into the results file; until then they count as done for a rerun
(:func:`completed_units`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import h5py
import numpy as np
import torch
from torch import Tensor

from reddiff_imaging._hdf5 import LayoutError, dataset_member, group_member
from reddiff_imaging._validation import HDF5_SUFFIXES, check_choice, check_output_file, check_path_name, fsync_path, replace_whole

FORMAT = "reddiff-imaging/results"
FORMAT_VERSION = 2
#: a task's data: the ground truths and the measurements
_TASK_DATA = ("x_true", "y")
#: attributes of a unit covered by its checksum
UNIT_ATTRS = ("psnr", "ssim", "seconds", "peak_memory_bytes", "seed")

T = TypeVar("T")


class ResultsInUseError(OSError):
    """The results file is open for writing in another running process."""


class DamagedResultsError(ValueError):
    """HDF5 cannot read part of a results file's structure: most likely a write was interrupted
    (``kill -9`` or a power cut while a unit was being flushed), which can leave the file's
    superblock behind the objects just written. The units written before are still on disk."""


class CorruptedUnitWarning(UserWarning):
    """A stored unit failed its checksum; it is skipped (and recomputed by the next run)."""


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


def check_results_file(path: str | os.PathLike[str], name: str) -> Path:
    """Refuse, naming ``name``, a results file that cannot be written, whose name does not end in
    an HDF5 suffix (``.h5``, ``.hdf5``, ``.hdf``): the results would land in a ``.txt`` or ``.json``,
    or that is named like the shard of another results file (:func:`check_not_shard_name`)."""
    check_path_name(path, name)
    check_not_shard_name(path, name)
    return check_output_file(path, name, HDF5_SUFFIXES, "an HDF5 results file")


def check_member_name(name: object, what: str) -> str:
    """Refuse, naming ``what``, a run, task or method name that cannot be one HDF5 group of the
    layout: HDF5 reads ``/`` as a path separator and ``.`` as the group itself, so ``a/b`` or ``.``
    would put members where the layout has none, and every later open of the file would refuse it
    (with the other runs in it)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty name, got {name!r}")
    if "/" in name or name == "." or "\0" in name:
        raise ValueError(
            f"{what} {name!r} cannot name a group of the results file: it must not contain '/' or a NUL character, nor be '.'"
        )
    return name


class ResultsStore:
    """Read and write a results file (see the module docs for the layout).

    Args:
        path: the ``.h5`` file.
        mode: ``"a"`` (read/write, created when missing), ``"r"`` (read only) or ``"w"`` (a new
            file; an existing one is refused unless ``overwrite=True``).
        overwrite: with ``mode="w"``, replace an existing file and every result in it.

    Raises:
        FileNotFoundError: ``mode="r"`` and no file.
        FileExistsError: ``mode="w"`` on an existing file without ``overwrite=True``.
        PermissionError: the file cannot be written.
        ResultsInUseError: another running process writes the file (the message names its run and pid).
        ValueError: the file is not a readable results file of a supported version, or does not
            follow the layout (:class:`~reddiff_imaging._hdf5.LayoutError`, a ValueError).
        DamagedResultsError: HDF5 cannot read part of the file (a write was interrupted; a ValueError).
    """

    def __init__(self, path: str | os.PathLike[str], mode: str = "a", *, overwrite: bool = False) -> None:
        self.path = check_path_name(path, "path")
        self.where = repr(str(self.path))
        check_choice(mode, "mode", ("r", "a", "w"))
        if mode == "r" and self.path.is_dir():
            raise IsADirectoryError(f"{self.where} is a folder, not a results file (an .h5 file written by compare)")
        if mode == "r" and not self.path.is_file():
            raise FileNotFoundError(f"no results file at {self.where}")
        if mode == "r" and self.path.stat().st_size == 0:
            raise ValueError(f"{self.where} is empty (0 bytes), not a results file: was it written by compare, and did it finish?")
        if mode == "w" and self.path.exists() and overwrite is not True:
            raise FileExistsError(
                f"{self.where} exists; mode 'w' would erase the results in it. Pass overwrite=True to replace it, "
                "or use mode 'a' to add to it"
            )
        self.lock: _Lock | None = None
        if mode != "r":
            check_output_file(self.path, "results file", HDF5_SUFFIXES, "an HDF5 results file")  # shards too
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock = _Lock.acquire(self.path)
        else:
            _Lock.check(self.path)
        self._open(mode)

    @classmethod
    def _copy(cls, temporary: Path, results: Path, mode: str) -> ResultsStore:
        """Open ``temporary``, a copy of ``results`` being written (:func:`rewrite`), with the checks
        and messages of ``results`` (whose lock the caller holds)."""
        store = cls.__new__(cls)
        store.path, store.where, store.lock = temporary, repr(str(results)), None
        store._open(mode)
        return store

    def _open(self, mode: str) -> None:
        """Open the HDF5 file and check its header and layout (every error names the file)."""
        try:
            self.file = h5py.File(self.path, mode)
        except OSError as err:
            self._release()
            if re.search(r"lock file|file locking|locking disabled|already open", str(err), re.IGNORECASE):
                raise ResultsInUseError(f"results file {self.where} is in use by another process: {err}") from err
            if isinstance(err, PermissionError) or re.search(r"permission denied|errno = 13\b", str(err), re.IGNORECASE):
                access = "read" if mode == "r" else "read and written"
                raise PermissionError(f"results file {self.where} cannot be {access} by this user (permission denied): {err}") from err
            hint = "" if self.path.suffix.lower() in HDF5_SUFFIXES else f"; its name ends in {self.path.suffix!r}, a results file is an .h5 written by compare"
            raise ValueError(f"{self.where} is not a readable HDF5 results file (corrupted or another format{hint}): {err}") from err
        try:
            try:
                self._check_header(mode)
            except (KeyError, RuntimeError, OSError) as err:  # h5py's errors for attributes it cannot read
                raise self._damaged("the attributes of /", err) from err
            for run in self._members(self.file):
                self._check_run(run)
        except BaseException:
            self.close()
            raise

    def _members(self, group: h5py.Group) -> list[str]:
        """The names in ``group``; a :class:`DamagedResultsError` when HDF5 cannot list them."""
        try:
            names = list(group)
        except (KeyError, RuntimeError, OSError) as err:
            raise self._damaged(group.name, err) from err
        if "" in names:  # HDF5 never writes an empty link name: it read a half-written name heap
            raise self._damaged(group.name, "a member without a name")
        return names

    def _damaged(self, name: str, err: object) -> DamagedResultsError:
        return DamagedResultsError(
            f"{self.where} is damaged: HDF5 cannot read {name} ({err}); a write was probably interrupted (the process "
            "killed, or the power lost, while a unit was being saved), and the units saved before cannot be reached "
            "through that part of the file. Move the file aside: a rerun of the comparison computes its units again, "
            "with the same seeds"
        )

    def _check_header(self, mode: str) -> None:
        found = self.file.attrs.get("format")
        if found is None and len(self.file) == 0 and mode != "r":
            self.file.attrs["format"] = FORMAT
            self.file.attrs["format_version"] = FORMAT_VERSION
            return
        if not isinstance(found, str) or found != FORMAT:  # an array or bytes attribute was compared element-wise
            what = "no format attribute: written by another program" if found is None else f"format attribute {_short(found)}"
            raise ValueError(f"{self.where} is not a reddiff-imaging results file ({what}; expected format {FORMAT!r})")
        version = self.file.attrs.get("format_version")
        if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)):
            raise ValueError(f"{self.where} has an unreadable results format_version {_short(version)}; this version reads {FORMAT_VERSION}")
        if int(version) != FORMAT_VERSION:
            hint = "written by a newer reddiff-imaging: upgrade to read it" if version > FORMAT_VERSION else "written by an older reddiff-imaging"
            raise ValueError(f"{self.where} has results format_version {int(version)} ({hint}); this version reads {FORMAT_VERSION}")

    def _check_run(self, run: str) -> None:
        """Check the layout of ``run`` (no links, every member where the layout puts it); units
        are checked for completeness and checksums when they are used."""
        at = f"/{run}"  # what is being read, for the message of a damaged file
        try:
            group = group_member(self.file, run, self.where)
            for key in ("config", "seed"):
                if key not in group.attrs:
                    raise LayoutError(f"{self.where}: run {run!r} has no {key!r} attribute (not written by reddiff-imaging)")
            try:
                json.loads(group.attrs["config"])
            except (TypeError, ValueError) as err:
                raise LayoutError(f"{self.where}: the config of run {run!r} is not valid JSON") from err
            for task in self._members(group):
                at = f"/{run}/{task}"
                task_group = group_member(group, task, self.where)
                for key in self._members(task_group):
                    at = f"/{run}/{task}/{key}"
                    if key in _TASK_DATA:
                        if isinstance(task_group[key], h5py.Group):  # images of different sizes: one dataset each
                            for index in self._members(task_group[key]):
                                if not index.isdigit():
                                    raise LayoutError(f"{self.where}: {task_group.name}/{key}/{index} is not an image index")
                                dataset_member(task_group[key], index, self.where)
                        else:
                            dataset_member(task_group, key, self.where)
                        continue
                    method = group_member(task_group, key, self.where)
                    for index in self._members(method):
                        if not index.isprintable():  # a name read from a half-written name heap
                            raise self._damaged(f"{method.name}/{index!r}", "an image index that is not text")
                        if not index.isdigit():
                            raise LayoutError(f"{self.where}: {method.name}/{index} is not an image index")
                        at = f"/{run}/{task}/{key}/{index}"
                        unit = group_member(method, index, self.where)
                        for name in self._members(unit):
                            if name not in ("x", "history"):
                                raise LayoutError(f"{self.where}: {unit.name}/{name} is not part of a unit")
                            at = f"/{run}/{task}/{key}/{index}/{name}"
                            dataset_member(unit, name, self.where)
        except (KeyError, RuntimeError, OSError) as err:  # h5py's errors for structure it cannot read
            raise self._damaged(at, err) from err

    # -- context manager ------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "file", None) is not None and self.file.id.valid:
            self.file.close()
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs and tasks -------------------------------------------------------------------------
    def runs(self) -> list[str]:
        return sorted(self.file)

    def run_group(self, run: str) -> h5py.Group:
        """The group of ``run`` (a ValueError lists the runs present when it is missing)."""
        if run not in self.file:
            raise ValueError(f"run {run!r} is not in {self.where}; runs present: {self.runs()}")
        return group_member(self.file, run, self.where)

    def config(self, run: str) -> dict[str, Any]:
        """The configuration ``run`` was made with."""
        return dict(json.loads(self.run_group(run).attrs["config"]))

    def open_run(self, run: str, config: dict[str, Any], *, seed: int, device: str, versions: dict[str, str]) -> None:
        """Create the run group, or check that an existing one has the same configuration."""
        check_member_name(run, "run")
        if self.lock is not None:
            self.lock.name_run(run)
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
        """Raise ValueError unless the stored ``run`` was made with ``config``; the message names
        the settings that differ, with the stored and the new value."""
        stored, new = self.config(run), json.loads(json.dumps(config))
        if stored != new:
            differ = [key for key in sorted({*stored, *new}) if stored.get(key, _ABSENT) != new.get(key, _ABSENT)]
            shown = "; ".join(f"{key}: stored {_short(stored.get(key, _ABSENT))}, now {_short(new.get(key, _ABSENT))}" for key in differ)
            raise ValueError(
                f"run {run!r} in {self.where} was made with another configuration ({shown}); "
                "use another output file or run name to keep both"
            )

    def write_task(
        self, run: str, task: str, x_true: Tensor | list[Tensor], y: Tensor | list[Tensor], attrs: dict[str, Any]
    ) -> None:
        """Store a task's ground truth and measurements (once: kept when already stored intact,
        rewritten when a crash or corruption left them incomplete): batches ``(N, C, H, W)`` and
        ``(N, *out_shape)``, or one ``(C, H, W)`` image and its measurement per list item for images
        of different sizes.

        Raises:
            ValueError: the run already holds this task with other images or measurements (the
                dataset's files changed, a relative path now names other files, or the noise was
                drawn on another device): the units still to do would be solved on other data than
                the stored ones, and the table would mix them.
        """
        check_member_name(task, "task")
        group = self.run_group(run).require_group(task)
        arrays = _task_arrays(x_true, y)
        if "y" in group and self._task_intact(group):
            self._check_same_task(run, task, group, arrays)
            return
        for key in _TASK_DATA:
            if key in group:
                del group[key]
        for key, value in attrs.items():
            group.attrs[key] = value
        for name, array in arrays.items():  # "x_true/3" creates the group x_true
            group.create_dataset(name, data=array)
        measurements = y if isinstance(y, Tensor) else y[0]
        group["y"].attrs["complex"] = bool(measurements.is_complex())
        group.attrs["sha256"] = _digest(arrays, {})
        self.file.flush()

    def _check_same_task(self, run: str, task: str, group: h5py.Group, new: dict[str, np.ndarray]) -> None:
        """Refuse to resume ``task`` of ``run`` with other ground truths or measurements than the
        stored ones (equal up to float rounding, which may differ with the number of threads)."""
        stored = self._read_task_arrays(group)
        for key, what in (("x_true", "images (ground truth)"), ("y", "noisy measurements")):
            for name in sorted({n for n in (*stored, *new) if _data_key(n) == key}):
                detail = _difference(name, stored.get(name), new.get(name))
                if detail is None:
                    continue
                device = self.run_group(run).attrs.get("device")
                raise ValueError(
                    f"run {run!r} in {self.where} holds task {task!r} with other {what} than this run computes{detail}: "
                    f"the dataset's files changed, a relative path names other files, or the noise is drawn on another "
                    f"device than the run's ({device!r}); resuming would mix results of different data. Use another "
                    "output file or run name"
                )

    def _read_task_arrays(self, group: h5py.Group) -> dict[str, np.ndarray]:
        """The stored ``x_true`` and ``y`` of a task group, named as :func:`_task_arrays` names them
        (``x_true``, or ``x_true/<i>`` for images of different sizes)."""
        arrays: dict[str, np.ndarray] = {}
        for key in _TASK_DATA:
            if key not in group:
                continue
            if isinstance(group[key], h5py.Group):
                for index in self._members(group[key]):
                    arrays[f"{key}/{index}"] = dataset_member(group[key], index, self.where)[()]
            else:
                arrays[key] = dataset_member(group, key, self.where)[()]
        return arrays

    def _task_intact(self, group: h5py.Group) -> bool:
        arrays = self._read_task_arrays(group)
        both = all(any(_data_key(n) == key for n in arrays) for key in _TASK_DATA)
        return both and group.attrs.get("sha256") == _digest(arrays, {})

    def task_data(self, run: str, task: str) -> tuple[Tensor, Tensor]:
        """``(x_true, y)`` of a stored task as batches (a ValueError when they are missing or
        corrupted, or when the images have different sizes: see :meth:`task_images`)."""
        truths, measurements = self.task_images(run, task)
        shapes = {tuple(t.shape) for t in truths}
        if len(shapes) > 1:
            raise ValueError(
                f"{self.where}: the images of task {task!r} in run {run!r} have different sizes ({len(shapes)} shapes); "
                "they make no batch: read them with task_images"
            )
        return torch.stack(truths), torch.stack(measurements)

    def task_images(self, run: str, task: str) -> tuple[list[Tensor], list[Tensor]]:
        """The ground truth ``(C, H, W)`` and the measurement of every image of a stored task, at
        each image's own size (a ValueError when they are missing or corrupted)."""
        group = group_member(self.run_group(run), task, self.where)
        if not self._task_intact(group):
            raise ValueError(
                f"{self.where}: the ground truth or measurements of task {task!r} in run {run!r} are missing or "
                "corrupted (checksum mismatch); rerun the comparison to rewrite them"
            )
        arrays = self._read_task_arrays(group)
        truths = [torch.from_numpy(a) for a in _images_of(arrays, "x_true")]
        measurements = [torch.from_numpy(a) for a in _images_of(arrays, "y")]
        if group["y"].attrs.get("complex", False):
            measurements = [torch.view_as_complex(m.contiguous()) for m in measurements]
        return truths, measurements

    def tasks(self, run: str) -> list[str]:
        group = self.run_group(run)
        return [k for k in group if isinstance(group[k], h5py.Group)]

    def methods(self, run: str, task: str) -> list[str]:
        group = group_member(self.run_group(run), task, self.where)
        return [k for k in group if k not in _TASK_DATA and isinstance(group[k], h5py.Group)]

    # -- units ----------------------------------------------------------------------------------
    def unit(self, run: str, task: str, method: str, index: int) -> h5py.Group | None:
        """The group of a complete, intact unit, or None. A unit that fails its checksum (or lacks
        ``x``/``history``) is reported with a :class:`CorruptedUnitWarning` and never returned."""
        name = f"{run}/{task}/{method}/{index}"
        if name not in self.file:
            return None
        item = self.file[name]
        return item if self._intact(item) else None

    def _intact(self, item: h5py.Group) -> bool:
        if not item.attrs.get("complete", False):
            return False
        try:
            arrays = {k: dataset_member(item, k, self.where)[()] for k in ("x", "history")}
            expected = _digest(arrays, _unit_attrs(item))
        except (LayoutError, KeyError, OSError) as err:
            expected = f"unreadable ({err})"
        if item.attrs.get("sha256") == expected:
            return True
        warnings.warn(
            f"{self.where}: unit {item.name} is corrupted (its checksum does not match its data); it is not used, "
            "and the next run of the comparison recomputes it",
            CorruptedUnitWarning,
            stacklevel=3,
        )
        return False

    def has_unit(self, run: str, task: str, method: str, index: int) -> bool:
        """True when the unit is complete and intact; an incomplete leftover of a crash, or a
        corrupted unit, is removed (writable files) so that it is recomputed."""
        name = f"{run}/{task}/{method}/{index}"
        if name not in self.file:
            return False
        if self.unit(run, task, method, index) is not None:
            return True
        if self.file.mode != "r":
            del self.file[name]
            self.file.flush()
        return False

    def write_unit(self, run: str, task: str, method: str, index: int, unit: UnitResult, method_attrs: dict[str, Any]) -> None:
        """Write one image's result and flush it to disk (replacing an incomplete leftover of a crash)."""
        check_member_name(task, "task")
        check_member_name(method, "method")
        if self.has_unit(run, task, method, index):
            raise ValueError(f"unit {run}/{task}/{method}/{index} is already complete in {self.where}")
        group = self.run_group(run).require_group(task).require_group(method)
        for key, value in method_attrs.items():
            group.attrs[key] = value
        item = group.create_group(str(index))
        x = unit.x.detach().cpu().float().numpy()
        columns = sorted({k for row in unit.history for k in row})
        table = np.full((len(unit.history), len(columns)), np.nan)
        for r, row in enumerate(unit.history):
            for c, key in enumerate(columns):
                table[r, c] = row.get(key, np.nan)
        item.create_dataset("x", data=x)
        history = item.create_dataset("history", data=table)
        history.attrs["columns"] = json.dumps(columns)
        for key in ("psnr", "ssim", "seconds"):
            item.attrs[key] = float(getattr(unit, key))
        item.attrs["peak_memory_bytes"] = int(unit.peak_memory_bytes)
        item.attrs["seed"] = int(unit.seed)
        item.attrs["sha256"] = _digest({"x": x, "history": table}, _unit_attrs(item))
        item.attrs["complete"] = True
        self.sync()

    def sync(self) -> None:
        """Flush the file and have the operating system write it to the disk (``fsync``), so that
        a power cut keeps what was written; the first call also syncs the folder's entry of the file."""
        self.file.flush()
        if self.file.driver == "sec2":  # HDF5's default driver: the handle is the file descriptor
            os.fsync(self.file.id.get_vfd_handle())
        else:  # another driver's handle is not a descriptor: any descriptor of the file syncs its data
            fsync_path(self.path)
        if not getattr(self, "_folder_synced", False):
            fsync_path(self.path.parent)
            self._folder_synced = True

    def units(self, run: str) -> Iterator[tuple[str, str, int, h5py.Group]]:
        """Every complete, intact unit of a run as ``(task, method, index, group)`` (corrupted
        ones are reported with a :class:`CorruptedUnitWarning` and left out)."""
        for task in self.tasks(run):
            for method in self.methods(run, task):
                for key in self.file[run][task][method]:
                    item = self.unit(run, task, method, int(key))
                    if item is not None:
                        yield task, method, int(key), item

    def merge(self, shard: ResultsStore, run: str) -> None:
        """Copy the complete units of ``run`` in ``shard`` that this file lacks (``run`` must exist
        here). Each copy is written like :meth:`write_unit`: data first, ``complete`` last, flushed."""
        if run not in shard.file:
            return
        for task, method, index, item in shard.units(run):
            if self.has_unit(run, task, method, index):
                continue
            group = self.run_group(run).require_group(task).require_group(method)
            group.attrs.update(item.parent.attrs)
            target = group.create_group(str(index))
            for name, dataset in item.items():
                self.file.copy(dataset, target, name=name)
            target.attrs.update({k: v for k, v in item.attrs.items() if k != "complete"})
            target.attrs["complete"] = True
            self.file.flush()

    def history(self, run: str, task: str, method: str, index: int) -> list[dict[str, float]]:
        item = self.unit(run, task, method, index)
        if item is None:
            raise ValueError(f"{self.where} holds no intact unit {run}/{task}/{method}/{index}")
        dataset = item["history"]
        columns = json.loads(dataset.attrs["columns"])
        return [{c: float(v) for c, v in zip(columns, row, strict=True) if not np.isnan(v)} for row in dataset[()]]


class _Lock:
    """``<file>.lock``: who writes a results file (pid, host, run), created exclusively.

    A lock left by a process that no longer runs on this host (a crash, ``kill -9``) is stale and
    taken over; any other lock makes the file "in use".
    """

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self.info = info

    @staticmethod
    def file_of(results: Path) -> Path:
        """The lock beside the file ``results`` names, links resolved: every spelling of one file
        (``r.h5``, ``./r.h5``, a link to it) takes the same lock, also where HDF5's own file
        locking is off (``HDF5_USE_FILE_LOCKING=FALSE``, common on network file systems)."""
        real = Path(os.path.realpath(results))
        return real.with_name(real.name + ".lock")

    @classmethod
    def acquire(cls, results: Path) -> _Lock | None:
        """Take the lock of ``results`` (None when this process already holds it; see :meth:`file_of`)."""
        lock = cls.file_of(results)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "run": None}
        for _ in range(3):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = cls.check(results)
                if holder is not None and holder.get("pid") == os.getpid():
                    return None
                continue  # the stale lock was removed by check
            with os.fdopen(fd, "w") as handle:
                json.dump(info, handle)
            return cls(lock, info)
        raise ResultsInUseError(f"could not take the lock {str(lock)!r} of results file {str(results)!r}")

    @classmethod
    def check(cls, results: Path) -> dict[str, Any] | None:
        """Raise :class:`ResultsInUseError` when another live process holds the lock of ``results``;
        remove a stale lock; return the holder's record when it is this process."""
        lock = cls.file_of(results)
        try:
            holder = json.loads(lock.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # unreadable: being written by a process that just created it, or left half-written
            if time.time() - _mtime(lock) < _LOCK_WRITE_SECONDS:
                raise ResultsInUseError(f"results file {str(results)!r} is being opened by another process") from None
            holder, pid, host = {}, -1, socket.gethostname()
        if host == socket.gethostname():
            if pid == os.getpid():
                return holder
            if not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                return None
        run = f"run {holder.get('run')!r}" if holder.get("run") else "a run"
        raise ResultsInUseError(
            f"results file {str(results)!r} is in use by {run} (pid {pid} on {host}); wait for it to finish, "
            f"or remove {str(lock)!r} if that process no longer runs"
        )

    def name_run(self, run: str) -> None:
        self.info["run"] = run
        self.path.write_text(json.dumps(self.info))

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


#: a lock file younger than this whose record cannot be read yet is being written, not stale
_LOCK_WRITE_SECONDS = 10.0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unit_attrs(item: h5py.Group) -> dict[str, Any]:
    values: dict[str, Any] = {key: item.attrs.get(key) for key in UNIT_ATTRS}
    if "history" in item:
        values["columns"] = item["history"].attrs.get("columns")
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()}


def _digest(arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> str:
    """SHA-256 over arrays (name, dtype, shape, bytes) and attributes (JSON)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    return digest.hexdigest()


#: the name of a shard: the results file's whole name (its suffix included), ``.rank<k>.h5``
_SHARD_NAME = re.compile(r"(?P<owner>.+)\.rank(?P<rank>[0-9]+)\.h5", re.IGNORECASE)


def shard_path(path: str | os.PathLike[str], rank: int) -> Path:
    """The shard of rank ``rank`` of the results file ``path``: its whole name followed by
    ``.rank<rank>.h5``, beside the file itself, links resolved (``results.h5`` →
    ``results.h5.rank3.h5``). Keeping the suffix gives ``r.h5`` and ``r.hdf5`` shards of their own;
    resolving links gives every spelling of one file (``r.h5``, ``./r.h5``, a link) the same
    shards, as it gets the same lock."""
    real = Path(os.path.realpath(path))
    return real.with_name(f"{real.name}.rank{int(rank)}.h5")


def shard_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The shards of the results file ``path``, of any rank, sorted by rank: exactly the files
    :func:`shard_path` names (no pattern of the file's name is expanded, so names with ``[``, ``*``
    or ``?`` find their own shards only; ``r.rank1.h5`` is never a shard of ``r.h5``)."""
    real = Path(os.path.realpath(path))
    found = []
    for entry in real.parent.iterdir() if real.parent.is_dir() else ():
        match = _SHARD_NAME.fullmatch(entry.name)
        if match is None or match["owner"].lower() != real.name.lower():  # the name's case: see below
            continue
        expected = shard_path(real, int(match["rank"]))
        # the very file shard_path names (rank03 is not rank 3); on a case-insensitive file system
        # R.h5.rank0.h5 is the shard of r.h5, which only the file system can tell
        if entry.name == expected.name or (expected.exists() and os.path.samefile(entry, expected)):
            found.append((int(match["rank"]), entry))
    return [p for _, p in sorted(found)]


def check_not_shard_name(path: str | os.PathLike[str], name: str) -> None:
    """Refuse, naming ``name``, a results file named like the shard of another results file
    (``r.h5.rank1.h5``): a distributed run into ``r.h5`` would write into it, merge its units and
    delete it."""
    match = _SHARD_NAME.fullmatch(Path(path).name)
    if match is not None and Path(match["owner"]).suffix.lower() in HDF5_SUFFIXES:
        raise ValueError(
            f"{name} {str(path)!r} is named like the shard of rank {int(match['rank'])} of the results file "
            f"{match['owner']!r} (a distributed run writes its shards under such names, then merges and deletes them): "
            "choose another name"
        )


def legacy_shards(path: str | os.PathLike[str], run: str) -> list[Path]:
    """Results files beside ``path`` named ``<stem>.rank<k>.h5`` that hold ``run``: shards left by
    an interrupted distributed run of a version that named shards without the results file's suffix
    (``r.h5`` and ``r.hdf5`` both had ``r.rank<k>.h5``). They are never merged: whose they are
    cannot be told."""
    real = Path(os.path.realpath(path))
    pattern = re.compile(re.escape(real.stem) + r"\.rank[0-9]+\.h5")
    found = []
    for entry in sorted(real.parent.iterdir()) if real.parent.is_dir() else ():
        if not pattern.fullmatch(entry.name) or not entry.is_file():
            continue
        try:
            with ResultsStore(entry, "r") as store:
                if run in store.file:
                    found.append(entry)
        except (OSError, ValueError):  # another program's file, or one in use
            continue
    return found


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike[str], run: str | None = None) -> Iterator[None]:
    """Hold the lock of the results file ``path`` (``<file>.lock``, naming ``run``) for the block, as
    an open :class:`ResultsStore` does; nothing when this process already holds it.

    Raises:
        ResultsInUseError: another running process holds it.
    """
    target = check_output_file(path, "results file", HDF5_SUFFIXES, "an HDF5 results file")
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = _Lock.acquire(target)
    try:
        if lock is not None and run is not None:
            lock.name_run(run)
        yield
    finally:
        if lock is not None:
            lock.release()


def rewrite(path: str | os.PathLike[str], change: Callable[[ResultsStore], T]) -> T:
    """Apply ``change`` to a copy of the results file ``path`` and rename the copy over it: the file
    is replaced whole, or (a crash, an error, ``kill -9`` or a power cut midway) left as it was.
    The copy lies beside the file (a link's target is replaced, the link kept), is opened with the
    file's checks, closed, synced to the disk and renamed, all under the file's lock; a missing file
    is created. Costs a copy of the file. Returns what ``change`` returns."""
    results = Path(path)
    source = Path(os.path.realpath(results))
    outcome: list[T] = []

    def write(temporary: Path) -> None:
        if source.exists():
            shutil.copyfile(source, temporary)
        with ResultsStore._copy(temporary, results, "a" if source.exists() else "w") as store:
            outcome.append(change(store))

    with writer_lock(results):
        replace_whole(results, write)  # synced, the rename too
    return outcome[0]


def _open_shard(shard: Path) -> ResultsStore | None:
    """``shard`` opened for reading, or None when HDF5 cannot read it: a crash while it was written
    (``kill -9``, a power cut) damaged it. It is then moved aside, with a note, and its units are
    computed again; no other file's units are lost."""
    try:
        return ResultsStore(shard, "r")
    except ValueError as err:
        unreadable = isinstance(err.__cause__, OSError) and not isinstance(err, LayoutError)
        if not (isinstance(err, DamagedResultsError) or unreadable or shard.stat().st_size == 0):
            raise
        reason = err
    number = 1
    while (aside := shard.with_name(f"{shard.name}.damaged-{number}")).exists():
        number += 1
    shard.rename(aside)
    print(f"note: shard {str(shard)!r} cannot be read, most likely damaged by a crash while a unit was written ({reason}); "
          f"moved aside to {str(aside)!r}: its units are computed again")
    return None


def completed_units(path: str | os.PathLike[str], run: str, config: dict[str, Any]) -> set[tuple[str, str, int]]:
    """``(task, method, index)`` of the complete units of ``run`` in the results file and its shards
    (a shard HDF5 cannot read is moved aside: see :func:`merge_shards`).

    Raises:
        ValueError: a file holds ``run`` made with another configuration.
    """
    done = set()
    for file in [Path(path), *shard_paths(path)]:
        if not file.is_file():
            continue
        store = ResultsStore(file, "r") if file == Path(path) else _open_shard(file)
        if store is None:
            continue
        with store:
            if run in store.file:
                store.check_config(run, config)
                done |= {(task, method, index) for task, method, index, _ in store.units(run)}
    return done


def merge_shards(path: str | os.PathLike[str], run: str) -> None:
    """Move the units of ``run`` from every shard into the results file ``path``; a shard that
    holds no other run is then deleted, one that does is rewritten without ``run``.

    The results file is written as a copy renamed over it (:func:`rewrite`): a crash or an error
    during the merge leaves it and the shards as they were, and repeating the merge is safe (units
    already in the file are skipped). A shard that HDF5 cannot read (damaged by a crash while a
    unit was written into it) is moved aside to ``<shard>.damaged-<n>`` with a note; its units
    are computed again by the next run."""
    if not shard_paths(path):
        return
    with writer_lock(path, run):
        with contextlib.ExitStack() as opened:
            shards = []
            for shard in shard_paths(path):
                if (store := _open_shard(shard)) is not None:
                    shards.append((shard, opened.enter_context(store)))
            if any(next(store.units(run), None) is not None for _, store in shards if run in store.file):

                def merge(main: ResultsStore) -> None:
                    for _, store in shards:
                        main.merge(store, run)

                rewrite(path, merge)
            others = {shard: [r for r in store.runs() if r != run] for shard, store in shards}
            present = {shard: run in store.file for shard, store in shards}

        def drop(store: ResultsStore) -> None:
            del store.file[run]

        for shard, _ in shards:
            if not others[shard]:
                shard.unlink()
            elif present[shard]:
                rewrite(shard, drop)


class _Absent:
    def __repr__(self) -> str:
        return "(not set)"


_ABSENT = _Absent()


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _task_arrays(x_true: Tensor | list[Tensor], y: Tensor | list[Tensor]) -> dict[str, np.ndarray]:
    """The arrays a task stores: ``x_true`` and ``y`` for batches, ``x_true/<i>`` and ``y/<i>`` per
    image for a list of images of different sizes."""
    if isinstance(x_true, Tensor) and isinstance(y, Tensor):
        return {"x_true": x_true.detach().cpu().float().numpy(), "y": _real(y.detach().cpu()).numpy()}
    if len(x_true) != len(y):
        raise ValueError(f"x_true and y must hold as many images, got {len(x_true)} and {len(y)}")
    arrays = {f"x_true/{i}": image.detach().cpu().float().numpy() for i, image in enumerate(x_true)}
    return arrays | {f"y/{i}": _real(item.detach().cpu()).numpy() for i, item in enumerate(y)}


def _data_key(name: str) -> str:
    """``x_true`` or ``y`` for an array name of :func:`_task_arrays` (``x_true``, ``x_true/3``)."""
    return name.partition("/")[0]


def _images_of(arrays: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    """One array per image of ``key`` (``x_true`` or ``y``) in the arrays of a task, by index."""
    if key in arrays:
        return list(arrays[key])
    return [arrays[f"{key}/{i}"] for i in sorted(int(n.partition("/")[2]) for n in arrays if _data_key(n) == key)]


def _difference(name: str, stored: np.ndarray | None, fresh: np.ndarray | None) -> str | None:
    """``None`` when the stored and the fresh array ``name`` agree up to float rounding, else what
    the resume error says of them (empty for other values of the same shape)."""
    if stored is None or fresh is None:
        return f" (the stored images and the images now are not the same set: {name} is only in one)"
    if stored.shape != fresh.shape:
        return f" (stored {name} shape {stored.shape}, now {fresh.shape})"
    reference = stored.astype(np.float64)
    return None if bool(np.all(np.abs(reference - fresh) <= 1e-5 * (1.0 + np.abs(reference)))) else ""


def _real(y: Tensor) -> Tensor:
    return torch.view_as_real(y) if y.is_complex() else y.float()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
