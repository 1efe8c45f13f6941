"""The workbench on torch.distributed: 2 CPU ranks (gloo) launched by torchrun against one process.

The single-process reference runs in this process with one thread, and every rank with one thread
(``OMP_NUM_THREADS=1``, as torchrun sets it): CPU results are bitwise reproducible for a given
thread count. The speed-up is printed (``pytest -s``) and recorded as a property, not asserted:
on a shared machine it depends on the load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reddiff_imaging import cli
from reddiff_imaging.workbench import compare
from reddiff_imaging.workbench.distributed import CRASH_AFTER
from reddiff_imaging.workbench.store import (
    ResultsStore,
    UnitResult,
    completed_units,
    merge_shards,
    shard_path,
    shard_paths,
)

#: the tiny comparison: 2 tasks × 3 methods × 4 images = 24 units
TINY = {
    "tasks": ["inpainting-box", "sr4-block"],
    "solvers": ["reddiff/default", "ddrm/default", "red/gaussian"],
    "num_images": 4,
    "steps": 15,
    "device": "cpu",
}
UNITS = 2 * 3 * 4

#: runs compare() and writes its wall time (not counting start-up and imports) beside the output
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from reddiff_imaging.workbench import compare
    from reddiff_imaging.workbench.distributed import is_main_process

    output, options = sys.argv[1], json.loads(sys.argv[2])
    start = time.perf_counter()
    compare(output=output, progress=False, **options)
    if is_main_process():
        open(output + ".seconds", "w").write(str(time.perf_counter() - start))
    """
)


def _torchrun(args: list[str], *, ranks: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=RANKS ARGS``, one thread per rank."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    environment = {k: v for k, v in os.environ.items() if k != CRASH_AFTER} | {"OMP_NUM_THREADS": "1"} | (env or {})
    return subprocess.run([sys.executable, *launcher, *args], env=environment, capture_output=True, text=True, timeout=300, check=False)


def _timed_compare(path: Path, ranks: int) -> float:
    driver = path.parent / "driver.py"
    driver.write_text(DRIVER)
    done = _torchrun([str(driver), str(path), json.dumps(TINY)], ranks=ranks)
    assert done.returncode == 0, done.stderr[-3000:]
    return float(Path(f"{path}.seconds").read_text())


def _units(path: Path) -> dict[tuple[str, str, int], dict[str, object]]:
    """Every complete unit of the results file and its shards: its data and attributes."""
    units = {}
    for file in [path, *shard_paths(path)]:
        with ResultsStore(file, "r") as store:
            for task, method, index, item in store.units("comparison"):
                units[(task, method, index)] = {
                    "x": item["x"][()],
                    "history": item["history"][()],
                    **{key: item.attrs[key] for key in ("psnr", "ssim", "seed", "seconds")},
                }
    return units


def _assert_same_results(units: dict, reference: dict) -> None:
    assert set(units) == set(reference)
    for key, unit in units.items():
        expected = reference[key]
        assert np.array_equal(unit["x"], expected["x"]), key
        assert np.array_equal(unit["history"], expected["history"], equal_nan=True), key
        assert all(unit[k] == expected[k] for k in ("psnr", "ssim", "seed")), key


@pytest.fixture(scope="module")
def single_process(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, float]:
    """The units of a single-process run of the tiny comparison (this process, one thread), and its time."""
    path = tmp_path_factory.mktemp("single") / "results.h5"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        compare(output=path, progress=False, **TINY)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return _units(path), seconds


@pytest.mark.slow
def test_two_ranks_write_what_one_process_writes(tmp_path: Path, single_process: tuple[dict, float], record_property) -> None:
    reference, one_rank_seconds = single_process
    path = tmp_path / "results.h5"
    two_ranks_seconds = _timed_compare(path, ranks=2)
    assert shard_paths(path) == []
    _assert_same_results(_units(path), reference)
    speedup = one_rank_seconds / two_ranks_seconds
    print(f"tiny comparison ({UNITS} units): 1 process {one_rank_seconds:.1f} s, 2 ranks {two_ranks_seconds:.1f} s, speed-up {speedup:.2f}×")
    record_property("speedup_2_ranks", speedup)


@pytest.mark.slow
def test_a_killed_rank_loses_and_repeats_nothing_on_rerun(tmp_path: Path, single_process: tuple[dict, float]) -> None:
    reference, _ = single_process
    path = tmp_path / "results.h5"
    command = ["-m", "reddiff_imaging", "compare", "--output", str(path)]
    for key, value in TINY.items():
        command += [f"--{key.replace('_', '-')}", *(map(str, value) if isinstance(value, list) else [str(value)])]

    crashed = _torchrun(command, ranks=2, env={CRASH_AFTER: "1:3"})
    assert crashed.returncode != 0 and "rank 1 stops after 3 units" in crashed.stderr
    assert [p.name for p in shard_paths(path)] == ["results.h5.rank0.h5", "results.h5.rank1.h5"]
    with ResultsStore(tmp_path / "results.h5.rank1.h5", "r") as shard:
        assert len(list(shard.units("comparison"))) == 3
    before = _units(path)
    assert 3 <= len(before) < UNITS

    resumed = _torchrun(command, ranks=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert shard_paths(path) == []
    after = _units(path)
    _assert_same_results(after, reference)
    # a unit computed again would have taken another time: the units of the crashed run are kept
    assert all(after[key]["seconds"] == unit["seconds"] for key, unit in before.items())
    assert all((tmp_path / f"results-{name}").is_file() for name in ("table.md", "table.csv", "figure.png", "convergence.png"))


def _write(path: Path, run: str, units: list[tuple[str, str, int]], *, config: dict | None = None) -> None:
    unit = UnitResult(torch.zeros(1, 2, 2), [{"loss": 1.0}], 20.0, 0.5, 0.1, 0, 7)
    with ResultsStore(path) as store:
        store.open_run(run, config or {"n": 1}, seed=0, device="cpu", versions={})
        for task, method, index in units:
            store.write_unit(run, task, method, index, unit, {"solver": method})


def test_merge_moves_complete_units_and_keeps_what_else_a_shard_holds(tmp_path: Path) -> None:
    main = tmp_path / "r.h5"
    _write(main, "a", [("t", "m", 0)])
    _write(shard_path(main, 0), "a", [("t", "m", 1), ("t", "m", 2)])
    _write(shard_path(main, 3), "a", [("t", "m", 3)])
    _write(shard_path(main, 3), "b", [("t", "m", 0)])
    with ResultsStore(shard_path(main, 0)) as shard:  # a unit half-written by a crash
        del shard.file["a/t/m/2"].attrs["complete"]
    (tmp_path / "r.h5.rankings.h5").write_bytes(b"")  # not a shard
    assert [p.name for p in shard_paths(main)] == ["r.h5.rank0.h5", "r.h5.rank3.h5"]
    assert completed_units(main, "a", {"n": 1}) == {("t", "m", 0), ("t", "m", 1), ("t", "m", 3)}
    with pytest.raises(ValueError, match="was made with another configuration"):
        completed_units(main, "a", {"n": 2})

    merge_shards(main, "a")
    merge_shards(main, "a")  # repeating a merge changes nothing
    assert [p.name for p in shard_paths(main)] == ["r.h5.rank3.h5"]  # it still holds run b
    with ResultsStore(main, "r") as store:
        assert sorted((t, m, i) for t, m, i, _ in store.units("a")) == [("t", "m", 0), ("t", "m", 1), ("t", "m", 3)]
        assert store.history("a", "t", "m", 3) == [{"loss": 1.0}]
        assert store.file["a/t/m"].attrs["solver"] == "m"
    with ResultsStore(shard_path(main, 3), "r") as shard:
        assert shard.runs() == ["b"]


def test_results_files_whose_names_differ_by_suffix_keep_their_shards_apart(tmp_path: Path) -> None:
    # r.h5 and r.hdf5 once shared r.rank<k>.h5: a distributed run into one merged the other's units
    first, second = tmp_path / "r.h5", tmp_path / "r.hdf5"
    assert shard_path(first, 3).name == "r.h5.rank3.h5"
    assert shard_path(first, 3) != shard_path(second, 3)
    _write(first, "a", [("t", "m", 0)])
    _write(second, "a", [("t", "m", 0)])
    _write(shard_path(first, 0), "a", [("t", "m", 1)])
    _write(shard_path(second, 0), "a", [("t", "m", 2)])
    assert [p.name for p in shard_paths(first)] == ["r.h5.rank0.h5"]
    assert [p.name for p in shard_paths(second)] == ["r.hdf5.rank0.h5"]
    assert completed_units(first, "a", {"n": 1}) == {("t", "m", 0), ("t", "m", 1)}
    merge_shards(first, "a")
    with ResultsStore(first, "r") as store:
        assert sorted(i for _, _, i, _ in store.units("a")) == [0, 1]
    assert [p.name for p in shard_paths(second)] == ["r.hdf5.rank0.h5"]  # untouched, still waiting for its own merge


@pytest.mark.parametrize("name", ["r[1].h5", "*.h5", "r?.h5", "a.rank1.h5.h5", "R.H5"])
def test_shards_are_found_by_exact_name_only(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    for other in ("r1.h5", "rx.h5", "r.h5", "a.h5", "x.h5"):  # names a glob of the results file's name would match
        (tmp_path / f"{other}.rank0.h5").write_bytes(b"")
    (tmp_path / "r.rank1.h5").write_bytes(b"")  # a user's file, or a shard of an older version: never a shard of r.h5
    (tmp_path / f"{name}.rank01.h5").write_bytes(b"")  # not the name shard_path gives rank 1
    (tmp_path / f"{name}.rank2.h5.bak").write_bytes(b"")
    assert shard_paths(path) == []
    for rank in (10, 2):
        shard_path(path, rank).write_bytes(b"")
    assert [p.name for p in shard_paths(path)] == [f"{name}.rank2.h5", f"{name}.rank10.h5"]


def test_every_spelling_of_a_results_file_has_the_same_shards(tmp_path: Path) -> None:
    real = tmp_path / "data" / "r.h5"
    real.parent.mkdir()
    link = tmp_path / "link.h5"
    link.symlink_to(real)
    assert shard_path(link, 1) == shard_path(real, 1) == shard_path(tmp_path / "data" / ".." / "data" / "r.h5", 1)
    shard_path(real, 1).write_bytes(b"")
    assert shard_paths(link) == shard_paths(real) == [shard_path(real, 1)]


@pytest.mark.parametrize("name", ["r.h5.rank1.h5", "R.HDF5.rank0.h5", "x.hdf.rank12.h5"])
def test_a_results_file_named_like_a_shard_is_refused_before_any_work(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    with pytest.raises(ValueError, match=rf"output '{re.escape(str(path))}' is named like the shard of rank \d+ of the results file '.*'"):
        compare(["inpainting-box"], ["admm/tv"], num_images=1, steps=1, output=path, progress=False, device="cpu")
    assert cli.main(["compare", "--tasks", "inpainting-box", "--solvers", "admm/tv", "--output", str(path)]) == 2
    assert f"error: --output {str(path)!r} is named like the shard of rank" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_shards_of_an_older_version_are_named_and_never_merged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "results.h5"
    options = {"tasks": ["inpainting-box"], "solvers": ["admm/tv"], "num_images": 1, "steps": 1, "device": "cpu", "progress": False}
    compare(output=tmp_path / "first.h5", **options)
    with ResultsStore(tmp_path / "first.h5", "r") as store:
        config = store.config("comparison")
    old = tmp_path / "results.rank0.h5"  # the name an interrupted run of an older version left; r.hdf5 had the same
    _write(old, "comparison", [("inpainting-box", "admm[tv]", 5)], config=config)
    capsys.readouterr()
    compare(output=path, **options)
    out = capsys.readouterr().out
    assert f"note: {str(old)!r} looks like a shard left by an interrupted distributed run of an older reddiff-imaging" in out
    assert old.is_file()  # kept, not merged
    with ResultsStore(path, "r") as store:
        assert [i for _, _, i, _ in store.units("comparison")] == [0]


@pytest.mark.slow
def test_two_ranks_solve_a_folder_of_images_of_different_sizes_as_one_process(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    sizes = ((24, 32), (40, 24), (24, 32), (16, 40))
    for k, (rows, cols) in enumerate(sizes):
        np.save(folder / f"{k}.npy", np.random.default_rng(k).random((rows, cols), dtype=np.float32))
    options = {"tasks": ["inpainting-box"], "solvers": ["admm/tv", "red/gaussian"], "num_images": 4, "steps": 3, "device": "cpu",
               "dataset": str(folder)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        compare(output=tmp_path / "single.h5", progress=False, **options)
    finally:
        torch.set_num_threads(threads)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    done = _torchrun([str(driver), str(tmp_path / "ranks.h5"), json.dumps(options)], ranks=2)
    assert done.returncode == 0, done.stderr[-3000:]
    units = _units(tmp_path / "ranks.h5")
    assert {unit["x"].shape[1:] for unit in units.values()} == set(sizes)
    _assert_same_results(units, _units(tmp_path / "single.h5"))
