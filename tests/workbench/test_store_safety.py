"""Results files cannot be lost, escaped or served corrupted: truncation needs overwrite=True,
links and members outside the layout are refused, checksums catch changed bytes, a file in use
names its user, and an unwritable output fails before any work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from reddiff_imaging._hdf5 import LayoutError
from reddiff_imaging.workbench import ResultsStore, compare
from reddiff_imaging.workbench.specs import load_dataset
from reddiff_imaging.workbench.store import (
    CorruptedUnitWarning,
    ResultsInUseError,
    UnitResult,
)


def _store_with_units(path, count: int = 2) -> None:
    with ResultsStore(path) as store:
        store.open_run("run", {"a": 1}, seed=0, device="cpu", versions={})
        store.write_task("run", "task", torch.rand(count, 1, 4, 4), torch.rand(count, 1, 4, 4), {"sigma": 0.1})
        for index in range(count):
            unit = UnitResult(torch.full((1, 4, 4), float(index)), [{"step": 0, "loss": 1.0}], 20.0, 0.5, 1.0, 0, index)
            store.write_unit("run", "task", "method", index, unit, {"solver": "admm"})


def _units(path, run: str = "run") -> list[int]:
    with ResultsStore(path, "r") as store:
        return sorted(index for _, _, index, _ in store.units(run))


def test_an_existing_file_is_never_truncated_without_overwrite(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    with pytest.raises(FileExistsError, match="mode 'w' would erase the results in it. Pass overwrite=True"):
        ResultsStore(path, "w")
    assert _units(path) == [0, 1]
    with pytest.raises(ValueError, match="mode must be one of"):
        ResultsStore(path, "w+")
    with ResultsStore(path, "w", overwrite=True) as store:
        assert store.runs() == []


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_links_are_refused_and_nothing_is_written_elsewhere(tmp_path, kind) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "target.h5"
    _store_with_units(target)
    before = target.read_bytes()
    path = tmp_path / "results.h5"
    _store_with_units(path)
    with h5py.File(path, "a") as f:
        f["comparison"] = h5py.ExternalLink(str(target), "/run") if kind == "external" else h5py.SoftLink("/run")
    with pytest.raises(LayoutError, match=f"/comparison is an? {kind} link"):
        ResultsStore(path, "r")
    with pytest.raises(LayoutError, match=f"{kind} link"):
        compare(["inpainting-box"], ["admm/tv"], overrides={"admm": {"steps": 2}}, num_images=1, output=path,
                progress=False, device="cpu")
    assert target.read_bytes() == before


def test_datasets_with_external_storage_are_refused(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(16, np.float32).tobytes())
    with h5py.File(path, "a") as f:
        del f["run/task/method/0/x"]
        f["run/task/method/0"].create_dataset("x", shape=(1, 4, 4), dtype=np.float32, external=[(str(raw), 0, 64)])
    with pytest.raises(LayoutError, match="keeps its data in external files"):
        ResultsStore(path, "r")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f["run"].attrs.__delitem__("config"), "run 'run' has no 'config' attribute"),
        (lambda f: (f.__delitem__("run"), f.create_dataset("run", data=[1.0])), "/run must be a group, found a dataset"),
        (lambda f: f["run/task/method/0"].create_dataset("extra", data=[1]), "/run/task/method/0/extra is not part of a unit"),
        (lambda f: f["run/task/method"].create_group("zero"), "/run/task/method/zero is not an image index"),
        (lambda f: f["run"].attrs.__setitem__("config", "{not json"), "config of run 'run' is not valid JSON"),
    ],
)
def test_files_outside_the_layout_get_a_clear_error(tmp_path, damage, message) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    with h5py.File(path, "a") as f:
        damage(f)
    with pytest.raises(ValueError, match=message):
        ResultsStore(path, "r")


def test_a_unit_without_its_data_is_reported_and_recomputed(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    with h5py.File(path, "a") as f:
        del f["run/task/method/1/x"]
    with pytest.warns(CorruptedUnitWarning, match="unit /run/task/method/1 is corrupted"):
        assert _units(path) == [0]
    with ResultsStore(path) as store, pytest.warns(CorruptedUnitWarning):
        assert not store.has_unit("run", "task", "method", 1)  # removed, to be recomputed
        assert "1" not in store.file["run/task/method"]


def test_changed_bytes_on_disk_are_detected_and_the_unit_recomputed(tmp_path) -> None:
    path = tmp_path / "results.h5"
    options = {"overrides": {"admm": {"steps": 3}}, "num_images": 2, "output": path, "progress": False, "device": "cpu"}
    compare(["inpainting-box"], ["admm/tv"], **options)
    with h5py.File(path, "r") as f:
        dataset = f["comparison/inpainting-box/admm[tv]/1/x"]
        original, offset = dataset[()], dataset.id.get_offset()
    with open(path, "r+b") as raw:  # flip bytes of the stored image, as a disk fault would
        raw.seek(offset + 100)
        raw.write(b"\x00\x01\x02\x03")
    with pytest.warns(CorruptedUnitWarning, match=r"admm\[tv\]/1 is corrupted \(its checksum does not match"):
        assert _units(path, "comparison") == [0]
    recomputed: list[tuple[str, str, int]] = []
    with pytest.warns(CorruptedUnitWarning):
        table = compare(["inpainting-box"], ["admm/tv"], unit_callback=lambda *unit: recomputed.append(unit), **options)
    assert recomputed == [("inpainting-box", "admm[tv]", 1)] and table.rows[0].count == 2
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["comparison/inpainting-box/admm[tv]/1/x"][()], original)


def test_a_corrupted_task_is_an_error_when_read(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    with h5py.File(path, "a") as f:
        f["run/task/y"][0, 0, 0, 0] += 1.0
    with ResultsStore(path, "r") as store, pytest.raises(ValueError, match="measurements of task 'task' .* corrupted"):
        store.task_data("run", "task")


HOLDER = """
import sys, time
from reddiff_imaging.workbench import ResultsStore
store = ResultsStore(sys.argv[1])
store.open_run("busy-run", {}, seed=0, device="cpu", versions={})
print("ready", flush=True)
time.sleep(60)
"""


def test_a_file_in_use_names_the_run_and_pid(tmp_path) -> None:
    path = tmp_path / "r.h5"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for mode in ("r", "a"):
            with pytest.raises(ResultsInUseError, match=rf"in use by run 'busy-run' \(pid {holder.pid} on "):
                ResultsStore(path, mode)
    finally:
        holder.kill()
        holder.wait()
    # the holder died without cleaning up (like kill -9): its lock is stale and taken over
    assert (tmp_path / "r.h5.lock").exists()
    with ResultsStore(path) as store:
        assert store.runs() == ["busy-run"]
    assert not (tmp_path / "r.h5.lock").exists()


def test_every_spelling_of_a_file_in_use_takes_the_same_lock(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _store_with_units(path)
    link = tmp_path / "link.h5"
    link.symlink_to(path)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(link)], stdout=subprocess.PIPE, text=True, env=env)
    try:  # without HDF5's own file locking (network file systems) the lock is all that keeps a second writer out
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert (tmp_path / "r.h5.lock").exists() and not (tmp_path / "link.h5.lock").exists()
        for spelling in (path, link, tmp_path / "." / "r.h5"):
            with pytest.raises(ResultsInUseError, match=rf"in use by run 'busy-run' \(pid {holder.pid} on "):
                ResultsStore(spelling, "a")
    finally:
        holder.kill()
        holder.wait()


def test_an_output_through_a_dangling_link_is_named_before_any_work(tmp_path) -> None:
    link = tmp_path / "r.h5"
    link.symlink_to(tmp_path / "unmounted" / "r.h5")
    with pytest.raises(FileNotFoundError, match=r"output '.*r\.h5' is a link to '.*unmounted/r\.h5', which does not exist"):
        compare(["inpainting-box"], ["admm/tv"], output=link, progress=False, device="cpu")
    with pytest.raises(FileNotFoundError, match="results file '.*' is a link to .*, which does not exist"):
        ResultsStore(link, "a")
    assert not (tmp_path / "unmounted").exists()


def test_an_unwritable_output_fails_before_any_work(tmp_path) -> None:
    start = time.perf_counter()
    with pytest.raises(PermissionError, match="output '/proc/results.h5' is not writable"):
        compare(["inpainting-box"], ["reddiff/default"], output="/proc/results.h5", progress=False, device="cpu")
    with pytest.raises(ValueError, match="output .* is a folder"):
        compare(["inpainting-box"], ["reddiff/default"], output=tmp_path, progress=False, device="cpu")
    assert time.perf_counter() - start < 5


def test_a_results_file_must_be_named_as_hdf5(tmp_path) -> None:
    for name, got in (("r.txt", "ends in '.txt'"), ("r.json", "ends in '.json'"), ("results", "has no suffix")):
        with pytest.raises(ValueError, match=rf"output '.*{name}' {got}, but an HDF5 results file is written there: give a name ending in .h5 or .hdf5 or .hdf"):
            compare(["inpainting-box"], ["admm/tv"], output=tmp_path / name, progress=False, device="cpu")
        with pytest.raises(ValueError, match=rf"results file '.*{name}' {got}"):
            ResultsStore(tmp_path / name, "a")
    assert list(tmp_path.iterdir()) == []  # nothing written
    with ResultsStore(tmp_path / "upper.H5", "a"), ResultsStore(tmp_path / "r.hdf5", "w"):  # any case, any HDF5 suffix
        pass


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_dataset_files_refuse_links(tmp_path, kind) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["images"] = np.zeros((1, 1, 8, 8), np.float32)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["real"] = np.zeros((1, 1, 8, 8), np.float32)
        f["images"] = h5py.ExternalLink(str(other), "/images") if kind == "external" else h5py.SoftLink("/real")
    with pytest.raises(LayoutError, match=f"/images is an? {kind} link"):
        load_dataset(str(path), 1, None)


def test_dataset_files_bound_the_image_size_before_reading(tmp_path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(1, 1, 30000, 30000), dtype=np.uint8)  # no data written: HDF5 stores nothing
    with pytest.raises(ValueError, match="claims 30000 × 30000 pixels; the limit is 100,000,000"):
        load_dataset(str(path), 1, None)


def test_dataset_files_bound_the_number_of_values_before_reading(tmp_path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(10**9, 1, 64, 64), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"claims shape \(1000000000, 1, 64, 64\); the limit is 4,294,967,296 values"):
        load_dataset(str(path), 1, None)


def test_the_lock_records_who_writes(tmp_path) -> None:
    path = tmp_path / "r.h5"
    with ResultsStore(path) as store:
        store.open_run("mine", {}, seed=0, device="cpu", versions={})
        record = json.loads((tmp_path / "r.h5.lock").read_text())
        assert record["pid"] == os.getpid() and record["run"] == "mine"
    assert not (tmp_path / "r.h5.lock").exists()


def test_a_lock_being_written_is_respected_and_an_old_broken_one_taken_over(tmp_path) -> None:
    path = tmp_path / "r.h5"
    lock = tmp_path / "r.h5.lock"
    lock.write_text("")  # another process has just created it and not written its record yet
    with pytest.raises(ResultsInUseError, match="is being opened by another process"):
        ResultsStore(path)
    os.utime(lock, (time.time() - 60, time.time() - 60))  # a minute later it is a leftover
    with ResultsStore(path) as store:
        assert store.runs() == []


def _image_folder(folder) -> list[str]:
    import imageio.v3 as iio

    from reddiff_imaging.data.synthetic import heldout_images

    folder.mkdir()
    for i, image in enumerate(heldout_images(2, 16)):
        iio.imwrite(folder / f"{i}.png", (image[0].numpy() * 255).round().astype(np.uint8))
    return sorted(os.listdir(folder))


FAST_RUN = {"tasks": ["inpainting-box"], "solvers": ["admm/tv"], "num_images": 1, "steps": 1, "device": "cpu", "progress": False}


def test_no_output_is_written_into_the_image_folder_a_dataset_reads(tmp_path, capsys) -> None:
    from reddiff_imaging import cli
    from reddiff_imaging.workbench import convergence_plot, figure_grid, tune

    images = tmp_path / "imgs"
    before = _image_folder(images)
    (tmp_path / "link").symlink_to(images)
    inside = "is inside the image folder of dataset"
    for output, dataset, shown in (
        (images / "r.h5", images, ""),
        (images / "r.hdf5", tmp_path / "link", ""),  # the dataset through a link
        (tmp_path / "link" / "r.h5", images, f" (links resolved: '{images / 'r.h5'}')"),  # the output through one
        (images / ".." / "imgs" / "r.h5", images, ""),
    ):
        message = f"output '{output}'{shown} {inside} '{dataset}': the next run would read the figures"
        with pytest.raises(ValueError, match=re.escape(message)):
            compare(dataset=str(dataset), output=output, **FAST_RUN)
    with pytest.raises(ValueError, match=re.escape(f"output '{images / 'best.toml'}' {inside} '{images}'")):
        tune("admm", prior="tv", task="denoising", grid={"rho": [0.1]}, dataset=str(images), num_images=1, steps=1, device="cpu",
             progress=False, output=images / "best.toml")
    command = ["--tasks", "inpainting-box", "--solvers", "admm/tv", "--dataset", str(images), "--num-images", "1", "--steps", "1"]
    assert cli.main(["compare", *command, "--output", str(images / "r.h5")]) == 2
    assert f"error: --output '{images / 'r.h5'}' is inside the image folder of --dataset '{images}'" in capsys.readouterr().err
    (tmp_path / "r-figure.png").symlink_to(images / "0.png")  # the figure would be drawn over an image of the dataset
    assert cli.main(["compare", *command, "--output", str(tmp_path / "r.h5")]) == 2
    assert f"error: r-figure.png (beside --output '{tmp_path / 'r.h5'}') '{tmp_path / 'r-figure.png'}' (links resolved: " in capsys.readouterr().err
    tuning = ["tune", "admm", "--prior", "tv", "--task", "denoising", "--dataset", str(images), "--output", str(images / "t.toml")]
    assert cli.main(tuning) == 2
    assert f"error: --output '{images / 't.toml'}' is inside the image folder of --dataset '{images}'" in capsys.readouterr().err
    assert sorted(os.listdir(images)) == before and not (tmp_path / "r.h5").exists()  # all refused before any work

    compare(dataset=str(images), output=images / "sub" / "r.h5", **FAST_RUN)  # a subfolder is not read: allowed
    for draw in (figure_grid, convergence_plot):
        with pytest.raises(ValueError, match=re.escape(f"path '{images / 'f.png'}' {inside} '{images}' (of run 'comparison' in ")):
            draw(images / "sub" / "r.h5", "comparison", images / "f.png")
    assert sorted(os.listdir(images)) == [*before, "sub"]


def test_a_results_file_is_never_the_hdf5_file_of_its_dataset(tmp_path, capsys) -> None:
    from reddiff_imaging import cli

    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as f:
        f["images"] = np.random.default_rng(0).random((2, 1, 16, 16)).astype(np.float32)
    original = data.read_bytes()
    (tmp_path / "alias.h5").symlink_to(data)
    for output, dataset in ((data, str(data)), (tmp_path / "alias.h5", f"{data}:images"), (data, str(tmp_path / "alias.h5"))):
        with pytest.raises(ValueError, match=re.escape(f"output '{output}'") + r".* is the HDF5 file of dataset " + re.escape(f"'{dataset}'")):
            compare(dataset=dataset, output=output, **FAST_RUN)
    command = ["compare", "--tasks", "inpainting-box", "--solvers", "admm/tv", "--dataset", str(data), "--output", str(data)]
    assert cli.main(command) == 2
    assert f"error: --output '{data}' is the HDF5 file of --dataset '{data}': writing there would mix" in capsys.readouterr().err
    assert data.read_bytes() == original and not (tmp_path / "data.h5.lock").exists()


def _end_of_allocation(path) -> int:
    """The end-of-allocation address in the superblock (version 0, 8-byte addresses: what h5py writes by default)."""
    head = path.read_bytes()[:48]
    assert head[:8] == b"\x89HDF\r\n\x1a\n" and head[8] == 0 and head[13] == 8
    return int.from_bytes(head[40:48], "little")


@pytest.mark.parametrize("units_before", [0, 3])
def test_a_file_whose_last_write_was_interrupted_gets_a_clear_error(tmp_path, units_before: int, capsys) -> None:
    # kill -9 during a unit's flush can leave new objects beyond the end of allocation the superblock
    # records (it is written after them); h5py then raises KeyError or RuntimeError for the run's groups
    from reddiff_imaging import cli
    from reddiff_imaging.workbench.store import DamagedResultsError

    path = tmp_path / "r.h5"
    _store_with_units(path, count=6)
    with ResultsStore(path) as store:
        for index in range(units_before, 6):
            del store.file[f"run/task/method/{index}"]
    end = _end_of_allocation(path)
    with ResultsStore(path) as store:
        for index in range(units_before, 6):
            unit = UnitResult(torch.zeros(1, 4, 4), [{"step": 0, "loss": 1.0}], 20.0, 0.5, 1.0, 0, index)
            store.write_unit("run", "task", "method", index, unit, {"solver": "admm"})
    with open(path, "r+b") as handle:  # the superblock as it was before these writes
        handle.seek(40)
        handle.write(end.to_bytes(8, "little"))
    for mode in ("r", "a"):
        with pytest.raises(DamagedResultsError, match=rf"'{re.escape(str(path))}' is damaged: HDF5 cannot read /run/task/method.* a write was probably interrupted"):
            ResultsStore(path, mode)
    assert not (tmp_path / "r.h5.lock").exists()
    assert cli.main(["compare", "--tasks", "inpainting-box", "--solvers", "admm/tv", "--num-images", "1", "--output", str(path)]) == 2
    assert f"error: '{path}' is damaged: HDF5 cannot read /run/task/method" in capsys.readouterr().err
