"""A crash never costs more than the units in progress, or a damaged shard's units: units go into
shards, synced to the disk one by one, and the results file itself is only ever replaced whole
(a copy written and renamed over it)."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from reddiff_imaging.workbench import ResultsStore, compare
from reddiff_imaging.workbench.store import UnitResult, merge_shards, shard_path, shard_paths

#: the module (``reddiff_imaging.workbench.compare`` is also the name of the function)
compare_module = importlib.import_module("reddiff_imaging.workbench.compare")

FAST = {"overrides": {"admm": {"steps": 2}}, "size": 16, "progress": False, "device": "cpu"}


def _compare(path: Path, run: str = "comparison", num_images: int = 3, **kwargs):
    return compare(["inpainting-box"], ["admm/tv"], output=path, run=run, num_images=num_images, **FAST, **kwargs)


def _units(path: Path, run: str = "comparison") -> dict[tuple[str, str, int], tuple[bytes, float, int]]:
    """The complete units of ``run``: reconstruction bytes, PSNR and seed."""
    with ResultsStore(path, "r") as store:
        return {(t, m, i): (item["x"][()].tobytes(), float(item.attrs["psnr"]), int(item.attrs["seed"])) for t, m, i, item in store.units(run)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _beside(path: Path) -> list[str]:
    return sorted(entry.name for entry in path.parent.iterdir())


#: a second invocation killed (os._exit, as kill -9) while the superblock of the file its second
#: unit went into still records the end of allocation of before its first unit: the damage HDF5
#: leaves when killed during a flush (it writes the superblock after the objects it covers)
KILLED = textwrap.dedent(
    """
    import os, sys
    from reddiff_imaging.workbench import compare
    from reddiff_imaging.workbench.store import ResultsStore

    original, ends = ResultsStore.write_unit, []

    def write_unit(self, *args, **kwargs):
        self.file.flush()
        with open(self.path, "rb") as handle:
            ends.append(handle.read(48)[40:48])
        original(self, *args, **kwargs)
        if len(ends) == 2:
            with open(self.path, "r+b") as handle:
                handle.seek(40)
                handle.write(ends[0])
            os._exit(9)

    ResultsStore.write_unit = write_unit
    options = {"overrides": {"admm": {"steps": 2}}, "size": 16, "progress": False, "device": "cpu"}
    compare(["inpainting-box"], ["admm/tv"], output=sys.argv[1], run="second", num_images=3, **options)
    """
)


def test_a_kill_while_a_unit_is_written_costs_neither_the_file_nor_the_units_of_earlier_invocations(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r.h5"
    _compare(path, run="first")
    first = _units(path, "first")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLED, str(path)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == 9, killed.stderr[-3000:]
    assert _units(path, "first") == first  # the results file opens, every unit of the first invocation intact
    computed: list[tuple[str, str, int]] = []
    _compare(path, run="second", unit_callback=lambda *unit: computed.append(unit))
    assert "cannot be read, most likely damaged by a crash" in capsys.readouterr().out  # the shard, not the file
    assert len(computed) == 3  # the units of the damaged shard, computed again
    _compare(tmp_path / "uninterrupted.h5", run="second")
    assert _units(path, "second") == _units(tmp_path / "uninterrupted.h5", "second")
    assert _units(path, "first") == first and shard_paths(path) == []


def _interrupted(path: Path, monkeypatch: pytest.MonkeyPatch, after: int = 2) -> list[tuple[str, str, int]]:
    """A run of 3 units killed after ``after`` of them, as ``kill -9`` leaves it: no merge at the end."""
    done: list[tuple[str, str, int]] = []

    def crash(*unit: object) -> None:
        done.append(unit)  # type: ignore[arg-type]
        if len(done) == after:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(compare_module, "_merge_interrupted", lambda output, run: None)
        _compare(path, unit_callback=crash)
    return done


def test_a_killed_run_keeps_its_units_in_its_shard_and_the_rerun_merges_them(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "r.h5"
    done = _interrupted(path, monkeypatch)
    assert _units(path) == {} and shard_paths(path) == [shard_path(path, 0)]
    kept = _units(shard_path(path, 0))
    assert set(kept) == set(done)
    computed: list[tuple[str, str, int]] = []
    in_file: list[set] = []

    def record(*unit: object) -> None:
        computed.append(unit)  # type: ignore[arg-type]
        in_file.append(set(_units(path)))

    _compare(path, unit_callback=record)
    assert len(computed) == 1 and not set(computed) & set(done)
    assert in_file == [set(done)]  # merged at the start: a crash that damages the new shard cannot cost them
    units = _units(path)
    assert len(units) == 3 and all(units[key] == value for key, value in kept.items())
    _compare(tmp_path / "uninterrupted.h5")
    assert units == _units(tmp_path / "uninterrupted.h5")
    assert _beside(path) == ["r.h5", "uninterrupted.h5"]  # no shard, lock or copy left


def test_an_interrupted_single_process_run_merges_what_it_did(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"

    def crash(*unit: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _compare(path, unit_callback=crash)
    assert len(_units(path)) == 1 and _beside(path) == ["r.h5"]


def test_a_damaged_shard_is_moved_aside_with_a_note_and_its_units_recomputed(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "r.h5"
    done = _interrupted(path, monkeypatch)
    shard = shard_path(path, 0)
    data = bytearray(shard.read_bytes())
    data[40:48] = (1024).to_bytes(8, "little")  # the superblock's end of allocation, before the shard's objects
    shard.write_bytes(bytes(data))
    computed: list[tuple[str, str, int]] = []
    _compare(path, unit_callback=lambda *unit: computed.append(unit))
    aside = shard.with_name("r.h5.rank0.h5.damaged-1")
    out = capsys.readouterr().out
    assert f"note: shard {str(shard)!r} cannot be read, most likely damaged by a crash" in out
    assert f"moved aside to {str(aside)!r}: its units are computed again" in out
    assert aside.read_bytes() == bytes(data)  # kept as it was, for whoever wants to look
    assert set(done) <= set(computed) and len(computed) == 3
    _compare(tmp_path / "uninterrupted.h5")
    assert _units(path) == _units(tmp_path / "uninterrupted.h5")
    shard.write_bytes(b"")  # a shard killed before HDF5 wrote anything: also moved aside, as damaged-2
    merge_shards(path, "comparison")
    assert "moved aside to" in capsys.readouterr().out and aside.with_name("r.h5.rank0.h5.damaged-2").is_file()


def _write(path: Path, indices: list[int]) -> None:
    with ResultsStore(path) as store:
        store.open_run("a", {"n": 1}, seed=0, device="cpu", versions={})
        for index in indices:
            unit = UnitResult(torch.full((1, 2, 2), float(index)), [{"loss": 1.0}], 20.0, 0.5, 0.1, 0, index)
            store.write_unit("a", "t", "m", index, unit, {"solver": "m"})


def test_a_crash_during_the_merge_leaves_the_results_file_and_the_shards_as_they_were(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "r.h5"
    _write(path, [0])
    _write(shard_path(path, 0), [1, 2])
    _write(shard_path(path, 1), [3])
    before = {file: _digest(file) for file in [path, *shard_paths(path)]}
    merged = []
    original = ResultsStore.merge

    def crash_after_one_shard(self: ResultsStore, shard: ResultsStore, run: str) -> None:
        original(self, shard, run)
        merged.append(shard.path)
        raise RuntimeError("killed during the merge")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError, match="killed during the merge"):
        patched.setattr(ResultsStore, "merge", crash_after_one_shard)
        merge_shards(path, "a")
    assert merged == [shard_path(path, 0)]  # the first shard's units were copied when it stopped
    assert {file: _digest(file) for file in [path, *shard_paths(path)]} == before
    assert _beside(path) == ["r.h5", "r.h5.rank0.h5", "r.h5.rank1.h5"]  # no copy, no lock left
    merge_shards(path, "a")
    assert sorted(_units(path, "a")) == [("t", "m", index) for index in range(4)] and shard_paths(path) == []


def test_every_unit_is_synced_to_the_disk_before_it_counts_as_stored(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "r.h5"
    events: list[str] = []
    fsync = os.fsync

    def counted(descriptor: int) -> None:
        events.append(f"fsync {os.readlink(f'/proc/self/fd/{descriptor}')}")
        fsync(descriptor)

    monkeypatch.setattr(os, "fsync", counted)
    _compare(path, unit_callback=lambda task, method, index: events.append(f"unit {index}"))
    units = [position for position, event in enumerate(events) if event.startswith("unit")]
    assert len(units) == 3
    for previous, position in zip([0, *units], units, strict=False):  # on the disk before the unit is reported stored
        assert f"fsync {shard_path(path, 0)}" in events[previous:position]
    assert f"fsync {path}" not in events  # the results file is never synced in place: its copies are
    assert sum(event.startswith(f"fsync {path.parent}/.r.") for event in events) == 2  # the run's start, the merge


def test_a_link_to_the_results_file_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "data" / "r.h5"
    real.parent.mkdir()
    link = tmp_path / "link.h5"
    _compare(real, num_images=1, run="first")
    link.symlink_to(real)
    _compare(link, num_images=1)  # the file is replaced through the link, twice
    _compare(link, num_images=1, run="third")
    assert link.is_symlink() and real.is_file() and not real.is_symlink()
    assert len(_units(link)) == 1 and _beside(real) == ["r.h5"]
    with ResultsStore(real, "r") as store:
        np.testing.assert_array_equal(store.file["comparison/inpainting-box/x_true"].shape, (1, 1, 16, 16))


def test_a_refused_rerun_leaves_the_results_file_as_it_was_and_no_copy_behind(tmp_path: Path) -> None:
    path = tmp_path / "r.h5"
    _compare(path, num_images=1)
    before = _digest(path)
    with pytest.raises(ValueError, match="was made with another configuration"):
        _compare(path, num_images=1, sigma=0.05)  # refused inside the copy, which is then deleted
    assert _digest(path) == before and _beside(path) == ["r.h5"]
