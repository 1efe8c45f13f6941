"""The comparison workbench end to end: results file, table, resume, datasets, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from reddiff_imaging.workbench import ComparisonTable, ResultsStore, compare
from reddiff_imaging.workbench.specs import load_dataset, parse_overrides

TASKS = ["inpainting-box", "sr4-block"]
SOLVERS = ["reddiff/default", "admm/tv"]
FAST = {"reddiff": {"steps": 3}, "admm": {"steps": 3}}


def _compare(path, **kwargs):
    in_run = {str(s).partition("/")[0] for s in kwargs.get("solvers", SOLVERS)}  # overrides of other solvers are errors
    fast = {solver: options for solver, options in FAST.items() if solver in in_run}
    options = {"overrides": fast, "num_images": 2, "output": path, "progress": False, "device": "cpu"}
    options.update(kwargs)
    return compare(kwargs.pop("tasks", TASKS), kwargs.pop("solvers", SOLVERS), **{k: v for k, v in options.items() if k not in ("tasks", "solvers")})


def test_compare_writes_every_unit_and_the_table(tmp_path) -> None:
    path = tmp_path / "results.h5"
    table = _compare(path)
    assert isinstance(table, ComparisonTable)
    assert {(r.task, r.method) for r in table.rows} == {(t, m) for t in TASKS for m in ("reddiff[default]", "admm[tv]")}
    assert all(r.count == 2 for r in table.rows)
    markdown = table.to_markdown()
    assert markdown.count("\n") == 2 + len(TASKS) * 2 and "PSNR" in markdown
    assert table.to_csv(tmp_path / "t.csv").splitlines()[0].startswith("task,method,count,psnr_mean")
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "reddiff-imaging/results"
        unit = f["comparison/inpainting-box/reddiff[default]/0"]
        assert unit["x"].shape == (1, 64, 64) and unit.attrs["complete"]
        assert np.isfinite(unit.attrs["psnr"]) and unit.attrs["seconds"] > 0
        assert f["comparison/sr4-block/y"].shape == (2, 1, 16, 16)
        assert '"lam": 0.25' in f["comparison/inpainting-box/reddiff[default]"].attrs["config"]
    assert table.plot(tmp_path / "bars.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_killed_run_resumes_without_losing_or_duplicating_units(tmp_path) -> None:
    path = tmp_path / "results.h5"
    done: list[tuple[str, str, int]] = []

    def crash_after_three(task: str, method: str, index: int) -> None:
        done.append((task, method, index))
        if len(done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _compare(path, unit_callback=crash_after_three)
    with ResultsStore(path, "r") as store:
        first = {(t, m, i): bytes(item["x"][()].tobytes()) for t, m, i, item in store.units("comparison")}
    assert set(first) == set(done)

    computed: list[tuple[str, str, int]] = []
    table = _compare(path, unit_callback=lambda t, m, i: computed.append((t, m, i)))
    assert len(computed) == len(TASKS) * 2 * 2 - 3 and not set(computed) & set(done)
    with ResultsStore(path, "r") as store:
        units = {(t, m, i): bytes(item["x"][()].tobytes()) for t, m, i, item in store.units("comparison")}
    assert len(units) == 8 and all(units[k] == v for k, v in first.items())
    assert all(r.count == 2 for r in table.rows)


def test_same_seed_same_results_in_another_file(tmp_path) -> None:
    _compare(tmp_path / "a.h5", tasks=["inpainting-box"], solvers=["reddiff/default"], num_images=1)
    _compare(tmp_path / "b.h5", tasks=["inpainting-box"], solvers=["reddiff/default"], num_images=1)
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        key = "comparison/inpainting-box/reddiff[default]/0/x"
        assert np.array_equal(a[key][()], b[key][()])


def test_incomplete_unit_from_a_crash_is_recomputed(tmp_path) -> None:
    path = tmp_path / "results.h5"
    _compare(path, tasks=["inpainting-box"], solvers=["admm/tv"], num_images=1)
    with h5py.File(path, "a") as f:
        del f["comparison/inpainting-box/admm[tv]/0"].attrs["complete"]
    computed = []
    _compare(path, tasks=["inpainting-box"], solvers=["admm/tv"], num_images=1, unit_callback=lambda *u: computed.append(u))
    assert computed == [("inpainting-box", "admm[tv]", 0)]


def test_reads_a_dataset_written_by_deepinv_generate_dataset(tmp_path) -> None:
    deepinv = pytest.importorskip("deepinv")
    from reddiff_imaging.data.synthetic import heldout_images

    images = heldout_images(3)
    dataset = torch.utils.data.TensorDataset(images)
    physics = deepinv.physics.Denoising(deepinv.physics.GaussianNoise(0.05))
    path = deepinv.datasets.generate_dataset(
        train_dataset=dataset, test_dataset=dataset, physics=physics, device="cpu", save_dir=str(tmp_path), verbose=False
    )
    loaded, notes = load_dataset(str(path), 2, None)
    torch.testing.assert_close(loaded, images[:2])
    assert notes == []
    table = _compare(tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["admm/tv"], dataset=str(path), num_images=2)
    assert table.rows[0].count == 2


def test_image_folder_dataset(tmp_path) -> None:
    from PIL import Image

    from reddiff_imaging.data.synthetic import heldout_images

    for i, image in enumerate(heldout_images(2)):
        Image.fromarray((image[0].numpy() * 255).round().astype("uint8")).save(tmp_path / f"{i}.png")
    loaded, notes = load_dataset(str(tmp_path), 5, None)
    assert loaded.shape == (2, 1, 64, 64) and 0 <= float(loaded.min()) and float(loaded.max()) <= 1
    assert notes == []
    resized, notes = load_dataset(str(tmp_path), 5, 32, channels=3)
    assert resized.shape == (2, 3, 32, 32)
    assert notes == [f"{i}.png: {change}" for i in range(2) for change in ("gray repeated into 3 channels", "64×64 image resized to 32×32 (bicubic)")]


def test_rescale_stretches_each_scan_of_a_folder(tmp_path, monkeypatch) -> None:
    import imageio.v3 as iio

    from reddiff_imaging.data.synthetic import heldout_images

    folder = tmp_path / "scans"
    folder.mkdir()
    scans = [np.round(image[0].numpy() * 3000 + 500).astype(np.uint16) for image in heldout_images(2)]  # 12-bit values
    for i, scan in enumerate(scans):
        iio.imwrite(folder / f"{i}.png", scan)
    dark, notes = load_dataset(str(folder), 2, None)
    assert float(dark.max()) < 0.06 and all("of the uint16 range" in note for note in notes)
    images, notes = load_dataset(str(folder), 2, None, rescale=True)
    assert images.amin(dim=(1, 2, 3)).tolist() == [0.0, 0.0] and images.amax(dim=(1, 2, 3)).tolist() == pytest.approx([1.0, 1.0])
    assert notes == [f"{i}.png: samples rescaled from their range [{scan.min()}, {scan.max()}] to [0, 1]" for i, scan in enumerate(scans)]
    _compare(tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["admm/tv"], dataset=str(folder), rescale=True)
    with h5py.File(tmp_path / "r.h5", "r") as f:
        torch.testing.assert_close(torch.from_numpy(f["comparison/inpainting-box/x_true"][:]), images)
    with pytest.raises(ValueError, match="was made with another configuration"):  # the stretched run is not the plain one
        _compare(tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["admm/tv"], dataset=str(folder))
    with pytest.raises(ValueError, match=r"rescale \(--rescale\) stretches image files by their own range; dataset \(--dataset\) 'heldout' is not"):
        _compare(tmp_path / "other.h5", tasks=["inpainting-box"], solvers=["admm/tv"], rescale=True)
    (tmp_path / "heldout").mkdir()  # a folder named like a bundled dataset does not make rescale apply to it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"dataset \(--dataset\) 'heldout' is not a folder of image files"):
        load_dataset("heldout", 2, None, rescale=True)
    with pytest.raises(TypeError, match="rescale must be a bool, got 'yes'"):
        _compare(tmp_path / "other.h5", tasks=["inpainting-box"], solvers=["admm/tv"], dataset=str(folder), rescale="yes")
    assert not (tmp_path / "other.h5").exists()


def test_colour_folder_at_its_own_size(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        import imageio.v3 as iio

        iio.imwrite(folder / name, rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"1-channel images, but the images have 3 channels.*channelwise:NAME"):
        _compare(tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["reddiff/default"], dataset=str(folder))
    assert not (tmp_path / "r.h5").exists()  # refused before any work
    table = _compare(
        tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["reddiff/channelwise:default"], dataset=str(folder), num_images=1
    )
    assert table.rows[0].count == 1 and np.isfinite(table.rows[0].values["psnr"][0])
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["comparison/inpainting-box/x_true"].shape == (1, 3, 20, 28)
    assert "reflect-padded to 24×32" in capsys.readouterr().out  # the prior's note, printed once


def test_the_default_prior_runs_at_other_sizes(tmp_path) -> None:
    table = _compare(tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["reddiff/default"], size=32, num_images=1)
    assert table.rows[0].count == 1
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f["comparison/inpainting-box/reddiff[default]/0/x"].shape == (1, 32, 32)


def test_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown task 'blurr'; available: .*deblur-gaussian"):
        _compare(tmp_path / "r.h5", tasks=["blurr"])
    with pytest.raises(ValueError, match="unknown solver 'redif'; available: .*reddiff"):
        _compare(tmp_path / "r.h5", solvers=["redif"])
    with pytest.raises(ValueError, match="unknown prior 'diffusion'; available: default, natural, tv"):
        _compare(tmp_path / "r.h5", solvers=["reddiff/diffusion"])
    with pytest.raises(ValueError, match="must look like solver.option=value"):
        parse_overrides(["reddiff.lam"])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lamb'\] for solver 'reddiff'"):
        _compare(tmp_path / "r.h5", overrides=["reddiff.lamb=3"])
    with pytest.raises(FileNotFoundError, match=r"neither 'heldout', 'photos\[:NAME,...\]', an HDF5 file nor a folder"):
        _compare(tmp_path / "r.h5", dataset=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match=r"images of folder .* differ: a\.png is 40×40 gray, b\.png is 20×30 3-channel; pass channels \(--channels\)"):
        _compare(tmp_path / "r.h5", dataset=str(_folder(tmp_path)))
    (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match="not a readable HDF5 results file"):
        _compare(tmp_path / "corrupt.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="is not a reddiff-imaging results file"):
        _compare(tmp_path / "other.h5")
    _compare(tmp_path / "same.h5", tasks=["inpainting-box"], solvers=["admm/tv"], num_images=1)
    with pytest.raises(ValueError, match="was made with another configuration"):
        _compare(tmp_path / "same.h5", tasks=["inpainting-box"], solvers=["admm/tv"], num_images=1, sigma=0.05)


def test_a_method_given_twice_or_an_unknown_preset_fails_before_any_work(tmp_path) -> None:
    for solvers, priors in ((["admm/tv", "admm/tv"], ["default"]), (["admm", "admm/tv"], ["tv"])):
        with pytest.raises(ValueError, match=r"methods \['admm\[tv\]'\] appear more than once"):
            _compare(tmp_path / "twice.h5", tasks=["inpainting-box"], solvers=solvers, priors=priors, num_images=1)
    with pytest.raises(ValueError, match=r"preset must be one of \['paper'\], got 'papr'"):
        _compare(tmp_path / "preset.h5", tasks=["inpainting-box"], solvers=["admm/tv"], preset="papr", num_images=1)
    assert not (tmp_path / "twice.h5").exists() and not (tmp_path / "preset.h5").exists()


def _folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 40), dtype="uint8")).save(folder / "a.png")
    Image.fromarray(np.zeros((20, 30, 3), dtype="uint8")).save(folder / "b.png")
    return folder


def test_photos_dataset_reads_the_bundled_photographs() -> None:
    from reddiff_imaging.data.image_io import adjust_image
    from reddiff_imaging.data.photos import HELDOUT_PHOTOS, load_photo

    images, notes = load_dataset("photos", 4, 64, None)
    assert images.shape == (len(HELDOUT_PHOTOS), 3, 64, 64)  # the gray cameraman repeated into 3 channels
    assert "photo 'camera': gray repeated into 3 channels" in notes
    torch.testing.assert_close(images[1], adjust_image(load_photo("astronaut"), size=64)[0])
    gray, _ = load_dataset("photos:camera,coffee", 2, 32, 1)
    assert gray.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="dataset 'photos:lena': no bundled photograph 'lena'"):
        load_dataset("photos:lena", 1, 32, None)


def test_options_that_do_not_fit_a_prior_are_refused_before_the_first_unit(tmp_path) -> None:
    """DiffPIR's steps beyond the default prior's 1000 timesteps were refused when its first unit
    ran, after the units of the methods before it had been solved and stored."""
    solved: list[tuple[str, str, int]] = []
    with pytest.raises(ValueError, match="steps must be from 2 to the prior's 1000 timesteps for diffpir, got 1001"):
        _compare(
            tmp_path / "r.h5", tasks=["inpainting-box"], solvers=["admm/tv", "diffpir/default"], num_images=1,
            overrides={"admm": {"steps": 3}, "diffpir": {"steps": 1001}}, unit_callback=lambda *unit: solved.append(unit),
        )
    assert solved == []


def test_the_auto_prior_suits_the_images(tmp_path, capsys) -> None:
    """The phantom prior was compare's default for every dataset, a researcher's photographs too."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    for kind, shape in (("colour", (16, 16, 3)), ("gray", (16, 16))):
        (tmp_path / kind).mkdir()
        iio.imwrite(tmp_path / kind / "a.png", rng.integers(0, 256, shape, dtype=np.uint8))
    colour = _compare(tmp_path / "c.h5", tasks=["inpainting-box"], solvers=["reddiff", "admm/tv"], dataset=str(tmp_path / "colour"), num_images=1)
    assert sorted(row.method for row in colour.rows) == ["admm[tv]", "reddiff[natural]"]
    assert "note: prior 'auto' is 'natural': the natural-image prior for 3-channel images" in capsys.readouterr().out
    gray = _compare(tmp_path / "g.h5", tasks=["inpainting-box"], solvers=["reddiff/auto"], dataset=str(tmp_path / "gray"), num_images=1)
    assert [row.method for row in gray.rows] == ["reddiff[gray:natural]"]
    phantoms = _compare(tmp_path / "p.h5", tasks=["inpainting-box"], solvers=["reddiff"], num_images=1, size=16)
    assert [row.method for row in phantoms.rows] == ["reddiff[default]"]
    assert "prior 'auto' is 'default': the phantom prior for the bundled phantom images of 'heldout'" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"methods \['reddiff\[natural\]'\] appear more than once \(prior 'auto' is 'natural' here\)"):
        _compare(tmp_path / "d.h5", tasks=["inpainting-box"], solvers=["reddiff", "reddiff/natural"], dataset=str(tmp_path / "colour"))
