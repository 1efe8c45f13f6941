"""Results files are never mixed, overwritten or damaged through a public path, and a file that is
not a readable results file is named with what was expected and what came."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from reddiff_imaging.workbench import ComparisonTable, ResultsStore, compare
from reddiff_imaging.workbench.figures import convergence_plot, figure_grid, sample_grid
from reddiff_imaging.workbench.restore import restore_image
from reddiff_imaging.workbench.store import UnitResult

FAST = {"overrides": {"admm": {"steps": 2}}, "size": 16, "progress": False, "device": "cpu"}


def _results(path, **kwargs):
    options = {**FAST, "num_images": 1, "output": path, **kwargs}
    return compare(["inpainting-box"], ["admm/tv"], **options)


def _units(path, run: str = "comparison") -> list[tuple[str, str, int]]:
    with ResultsStore(path, "r") as store:
        return sorted((task, method, index) for task, method, index, _ in store.units(run))


def _folder(folder, values) -> None:
    folder.mkdir(exist_ok=True)
    for index, value in enumerate(values):
        Image.fromarray(np.asarray(value, dtype=np.uint8)).save(folder / f"{index}.png")


# -- resuming never mixes data -------------------------------------------------------------------------
def test_resuming_after_the_dataset_changed_is_refused_instead_of_mixing(tmp_path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    _folder(folder, [rng.integers(0, 256, (16, 16)) for _ in range(2)])
    path = tmp_path / "r.h5"
    options = {"dataset": str(folder), "num_images": 2, "size": None}
    _results(path, **options)
    with h5py.File(path, "a") as f:  # as a crash after the first image would leave it
        del f["comparison/inpainting-box/admm[tv]/1"]
    _folder(folder, [rng.integers(0, 256, (16, 16)) for _ in range(2)])  # the files changed meanwhile
    with pytest.raises(ValueError, match=r"holds task 'inpainting-box' with other images \(ground truth\) .* would mix results"):
        _results(path, **options)
    assert _units(path) == [("inpainting-box", "admm[tv]", 0)]  # nothing computed on the new images


def test_resuming_with_other_measurements_is_refused(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _results(path, num_images=2)
    with h5py.File(path, "a") as f:  # measurements drawn elsewhere (another device draws other noise)
        del f["comparison/inpainting-box/admm[tv]/1"]
    with ResultsStore(path) as store:
        x_true, y = store.task_data("comparison", "inpainting-box")
        with pytest.raises(ValueError, match="with other noisy measurements than this run computes"):
            store.write_task("comparison", "inpainting-box", x_true, y + 0.01, {})
        store.write_task("comparison", "inpainting-box", x_true, y + 1e-7, {})  # float rounding is not a change
    assert _units(path) == [("inpainting-box", "admm[tv]", 0)]
    assert _results(path, num_images=2).rows[0].count == 2  # the same data resume


def test_another_configuration_names_the_settings_that_differ(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _results(path)
    with pytest.raises(ValueError, match=r"another configuration \(sigma: stored 0.01, now 0.05; size: stored 16, now 32\)"):
        _results(path, sigma=0.05, size=32)
    with pytest.raises(ValueError, match=r"another configuration \(preset: stored \(not set\), now 'paper'\)"):
        _results(path, preset="paper")


@pytest.mark.parametrize("label", ["a/b", "."])
def test_task_labels_that_are_not_one_hdf5_group_are_refused(tmp_path, label) -> None:
    path = tmp_path / "r.h5"
    _results(path)
    with pytest.raises(ValueError, match=rf"tasks: label '{label}' cannot name a group of the results file"):
        compare({label: "inpainting-box"}, ["admm/tv"], **FAST, num_images=1, output=path, run="other")
    assert _units(path) == [("inpainting-box", "admm[tv]", 0)]  # the file stays readable
    with ResultsStore(path) as store:
        store.open_run("run", {}, seed=0, device="cpu", versions={})
        with pytest.raises(ValueError, match="task 'a/b' cannot name a group"):
            store.write_task("run", "a/b", torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), {})
        unit = UnitResult(torch.zeros(1, 4, 4), [], 1.0, 1.0, 1.0, 0, 0)
        with pytest.raises(ValueError, match=r"method 'x/y\[tv\]' cannot name a group"):
            store.write_unit("run", "task", "x/y[tv]", 0, unit, {})
        with pytest.raises(ValueError, match="run '.' cannot name a group"):
            store.open_run(".", {}, seed=0, device="cpu", versions={})


# -- tables and figures never overwrite a results file ------------------------------------------------
def test_figures_and_tables_never_overwrite_the_results_file(tmp_path) -> None:
    path = tmp_path / "r.h5"
    table = _results(path)
    before = path.read_bytes()
    link = tmp_path / "figure.png"
    link.symlink_to(path)
    hard = tmp_path / "hard.png"
    os.link(path, hard)
    for target in (link, hard):
        for draw in (figure_grid, convergence_plot):
            with pytest.raises(ValueError, match=r"path '.*\.png' .*is an existing HDF5 file \(results or data\); writing a PNG figure"):
                draw(path, "comparison", target)
        with pytest.raises(ValueError, match="is an existing HDF5 file"):
            sample_grid(torch.zeros(1, 1, 4, 4), target)
        with pytest.raises(ValueError, match="is an existing HDF5 file"):
            table.plot(target)
    with pytest.raises(ValueError, match=r"path '.*r\.h5' ends in '\.h5', but a CSV table is written there"):
        table.to_csv(path)
    with pytest.raises(ValueError, match=r"path '.*r\.h5' ends in '\.h5'; a figure is written as \.png or another format"):
        table.plot(path)
    with pytest.raises(ValueError, match="has no suffix; a figure is written as .png"):
        table.plot(tmp_path / "bars")  # matplotlib wrote bars.png, another file than the one asked for
    assert path.read_bytes() == before
    assert table.plot(tmp_path / "bars.pdf").read_bytes()[:4] == b"%PDF"  # formats matplotlib writes stay


def test_restore_never_writes_its_image_over_a_results_file(tmp_path) -> None:
    path = tmp_path / "r.h5"
    _results(path)
    before = path.read_bytes()
    image = tmp_path / "in.npy"
    np.save(image, np.full((16, 16), 0.5, np.float32))
    link = tmp_path / "restored.png"
    link.symlink_to(path)
    for options in ({"output": link}, {"output": tmp_path / "out.png", "save_measurement": link}):
        name = "save_measurement" if "save_measurement" in options else "output"
        output = options.pop("output")
        with pytest.raises(ValueError, match=rf"{name} '.*restored\.png' \(a link to .*r\.h5'\) is an existing HDF5 file"):
            restore_image(image, output, task="inpainting-box", solver="admm", prior="tv", steps=2, device="cpu", **options)
    assert path.read_bytes() == before


# -- files that are not results files --------------------------------------------------------------------
def _write_attrs(path, **attrs) -> None:
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: p.write_bytes(b""), ValueError, r"is empty \(0 bytes\), not a results file"),
        (lambda p: p.mkdir(), IsADirectoryError, "is a folder, not a results file"),
        (lambda p: _write_attrs(p, format=np.array([1, 2]), format_version=2), ValueError,
         r"is not a reddiff-imaging results file \(format attribute array\(\[1, 2\]\); expected format 'reddiff-imaging/results'\)"),
        (lambda p: _write_attrs(p, format=np.bytes_(b"reddiff-imaging/results"), format_version=2), ValueError,
         "is not a reddiff-imaging results file"),
        (lambda p: _write_attrs(p, other=1), ValueError, r"\(no format attribute: written by another program"),
        (lambda p: _write_attrs(p, format="reddiff-imaging/results", format_version="two"), ValueError,
         "has an unreadable results format_version 'two'; this version reads 2"),
        (lambda p: _write_attrs(p, format="reddiff-imaging/results", format_version=3), ValueError,
         r"format_version 3 \(written by a newer reddiff-imaging: upgrade to read it\); this version reads 2"),
        (lambda p: _write_attrs(p, format="reddiff-imaging/results", format_version=1), ValueError,
         r"format_version 1 \(written by an older reddiff-imaging\)"),
    ],
)
def test_a_file_that_is_not_a_results_file_is_named_with_what_was_expected(tmp_path, make, error, message) -> None:
    path = tmp_path / "r.h5"
    make(path)
    with pytest.raises(error, match=message):
        ComparisonTable.from_results(path, "comparison")
    with pytest.raises(error, match=message):
        figure_grid(path, "comparison", tmp_path / "figure.png")


def test_a_tune_output_given_as_results_says_what_a_results_file_is(tmp_path) -> None:
    path = tmp_path / "tuned.toml"
    path.write_text("[overrides.admm]\nlam = 0.1\n")
    with pytest.raises(ValueError, match=r"not a readable HDF5 results file \(.*its name ends in '\.toml', a results file is an \.h5"):
        ComparisonTable.from_results(path, "comparison")


def test_a_results_file_without_permission_is_a_permission_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "r.h5"
    _results(path)

    def refuse(name, mode="r", **kwargs):  # what h5py raises for a file the user may not read
        raise PermissionError(13, f"Unable to synchronously open file (unable to open file: name = '{name}', errno = 13, "
                                  "error message = 'Permission denied', flags = 0, o_flags = 0)")

    monkeypatch.setattr(h5py, "File", refuse)
    with pytest.raises(PermissionError, match=r"results file '.*r\.h5' cannot be read by this user \(permission denied\)"):
        ComparisonTable.from_results(path, "comparison")
