"""A folder of images of different sizes: compare, tune and the figures solve and show each image at
its own size, with the task's operator built for that size, and the results file keeps them."""

import h5py
import numpy as np
import pytest
import torch
from skimage import data as skdata

from reddiff_imaging import metrics
from reddiff_imaging.data import read_image, read_image_folder, read_images, write_image
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.priors import TV
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import ADMM
from reddiff_imaging.workbench import compare, figure_grid, tune
from reddiff_imaging.workbench.parts import build_operator
from reddiff_imaging.workbench.plan import generator
from reddiff_imaging.workbench.specs import load_dataset, unit_seed
from reddiff_imaging.workbench.store import ResultsStore

#: (name, rows, columns) of gray crops of the camera photograph, two of one size
CROPS = (("a.png", 24, 32), ("b.png", 40, 24), ("c.png", 24, 32))
TASKS = ["deblur-gaussian", "inpainting-box"]
ADMM_TV = {"admm": {"steps": 3}}


def _folder(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    camera = skdata.camera()
    for k, (name, rows, cols) in enumerate(CROPS):
        crop = camera[100 + 20 * k : 100 + 20 * k + rows, 150 : 150 + cols]
        write_image(torch.from_numpy(crop / 255.0).float()[None], folder / name)
    return folder


def _compare(folder, output, **kwargs):
    options = {"overrides": ADMM_TV, "dataset": str(folder), "num_images": 3, "output": output, "progress": False, "device": "cpu"}
    return compare(TASKS, ["admm/tv"], **options | kwargs)


def test_read_images_keeps_each_size_and_the_batch_reader_names_size(tmp_path) -> None:
    folder = _folder(tmp_path)
    images, infos = read_images(folder)
    assert [tuple(i.shape) for i in images] == [(1, rows, cols) for _, rows, cols in CROPS]
    for image, info in zip(images, infos, strict=True):
        torch.testing.assert_close(image, read_image(info.path)[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"a\.png is 24×32 gray, b\.png is 40×24 gray; pass size to make them agree"):
        read_image_folder(folder)
    assert read_image_folder(folder, size=16)[0].shape == (3, 1, 16, 16)


def test_a_dataset_of_different_sizes_is_a_list_with_a_note(tmp_path) -> None:
    images, notes = load_dataset(str(_folder(tmp_path)), 3, None)
    assert isinstance(images, list) and [tuple(i.shape) for i in images] == [(1, r, c) for _, r, c in CROPS]
    assert any("3 images of 2 sizes, each solved at its own size" in note for note in notes)
    same, _ = load_dataset(str(tmp_path / "scans"), 3, 16)
    assert isinstance(same, torch.Tensor) and same.shape == (3, 1, 16, 16)


def test_compare_solves_each_image_at_its_own_size(tmp_path) -> None:
    folder, output = _folder(tmp_path), tmp_path / "r.h5"
    table = _compare(folder, output)
    assert {row.task for row in table.rows} == set(TASKS) and all(row.count == 3 for row in table.rows)
    truths, _ = read_images(folder)
    with ResultsStore(output, "r") as store:
        for task in TASKS:
            (method,) = store.methods("comparison", task)
            stored_truths, stored_y = store.task_images("comparison", task)
            for index, truth in enumerate(truths):
                torch.testing.assert_close(stored_truths[index], truth)
                # the unit equals a solve of this image alone: its own operator, measurement seed and solver seed
                operator = build_operator(task, tuple(truth.shape))
                y = Gaussian(0.01).sample(operator(truth[None]), generator(torch.device("cpu"), unit_seed(0, task, "measurement", index)))
                torch.testing.assert_close(stored_y[index][None], y)
                problem = InverseProblem(operator, y, Gaussian(0.01), truth[None])
                alone = ADMM(steps=3).solve(problem, TV(), generator(torch.device("cpu"), unit_seed(0, task, method, index)))
                unit = store.unit("comparison", task, method, index)
                assert unit is not None
                torch.testing.assert_close(torch.from_numpy(unit["x"][()]), alone.x[0])
                assert float(unit.attrs["psnr"]) == pytest.approx(float(metrics.psnr(alone.x, truth[None])), abs=1e-4)
        with pytest.raises(ValueError, match="have different sizes .* read them with task_images"):
            store.task_data("comparison", TASKS[0])
    with h5py.File(output, "r") as f:  # one dataset per image
        assert f["comparison/deblur-gaussian/x_true/1"].shape == (1, 40, 24)
    done: list[int] = []
    _compare(folder, output, unit_callback=lambda task, method, index: done.append(index))
    assert done == []  # a rerun resumes: every unit is in the file
    assert figure_grid(output, "comparison", tmp_path / "b.png", index=1).stat().st_size > 0


def test_a_changed_image_size_is_refused_on_resume(tmp_path) -> None:
    folder, output = _folder(tmp_path), tmp_path / "r.h5"
    _compare(folder, output)
    write_image(torch.full((1, 40, 26), 0.5), folder / "b.png")
    with pytest.raises(ValueError, match=r"other images \(ground truth\) .*stored x_true/1 shape \(1, 40, 24\), now \(1, 40, 26\)"):
        _compare(folder, output)


def test_tune_scores_each_image_at_its_own_size_as_compare_does(tmp_path) -> None:
    folder = _folder(tmp_path)
    result = tune("admm", prior="tv", task="deblur-gaussian", grid={"steps": [3]}, dataset=str(folder), num_images=3, progress=False, device="cpu")
    table = _compare(folder, tmp_path / "r.h5")
    (row,) = [r for r in table.rows if r.task == "deblur-gaussian"]
    (trial,) = result.trials
    assert len(trial.psnr) == 3
    assert trial.mean("psnr") == pytest.approx(row.values["psnr"][0], abs=1e-4)


def test_mixed_channels_still_need_channels(tmp_path) -> None:
    folder = _folder(tmp_path)
    write_image(torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0)), folder / "d.png")
    with pytest.raises(ValueError, match=r"a\.png is 24×32 gray, d\.png is 24×32 3-channel; pass channels \(--channels\)"):
        _compare(folder, tmp_path / "r.h5", num_images=4)
    images, _ = load_dataset(str(folder), 4, None, channels=3)
    assert [i.shape[0] for i in images] == [3, 3, 3, 3]


def test_the_results_layout_of_images_of_different_sizes_is_checked(tmp_path) -> None:
    output = tmp_path / "r.h5"
    _compare(_folder(tmp_path), output)
    with h5py.File(output, "a") as f:
        f["comparison/deblur-gaussian/x_true"].create_dataset("first", data=np.zeros(3))
    with pytest.raises(ValueError, match=r"x_true/first is not an image index"):
        ResultsStore(output, "r")


def test_the_prior_notes_of_many_sizes_are_counted_not_listed() -> None:
    from reddiff_imaging.workbench.parts import build_prior
    from reddiff_imaging.workbench.plan import image_notes

    prior = build_prior("gray:natural")
    shapes = [(1, 20 + k, 20) for k in range(1, 8)]  # seven sides that are no multiple of 8
    notes = image_notes(prior, shapes, "pnp-admm")
    assert len(notes) == 3 and "21×20 images are reflect-padded to 24×24" in notes[0]
    assert notes[2] == "and 5 more notes like these, for the other image sizes"
    assert image_notes(prior, shapes[:2] + [(1, 24, 24)], "pnp-admm") == notes[:2]


def test_images_too_small_for_ssim_are_refused_before_any_work(tmp_path) -> None:
    # a 1×40 line was solved (and restore's output written) before SSIM's 6-pixel minimum failed inside metrics.ssim
    from reddiff_imaging.workbench.restore import restore_image

    line = tmp_path / "line.png"
    write_image(torch.rand(1, 1, 40, generator=torch.Generator().manual_seed(0)), line)
    output = tmp_path / "o.png"
    with pytest.raises(ValueError, match=r"image 'line\.png' is 1×40 pixels: every result is scored by SSIM.*size \(--size\) of at least 6"):
        restore_image(line, output, task="denoising", solver="admm", prior="tv", steps=2, device="cpu")
    assert not output.exists()
    folder = _folder(tmp_path)
    write_image(torch.rand(1, 5, 30, generator=torch.Generator().manual_seed(1)), folder / "d.png")
    results = tmp_path / "r.h5"
    with pytest.raises(ValueError, match=r"dataset '.*scans': d\.png is 5×30 pixels: every result is scored by SSIM"):
        _compare(folder, results, num_images=4)
    assert not results.exists()
    with pytest.raises(ValueError, match=r"d\.png is 5×30 pixels"):
        tune("admm", prior="tv", task="deblur-gaussian", grid={"steps": [2]}, dataset=str(folder), num_images=4, progress=False, device="cpu")


def test_a_dataset_may_be_a_path_object_and_an_image_file_is_not_a_dataset(tmp_path) -> None:
    # compare(dataset=Path(folder)) was refused ("must be a non-empty string"); one image file as the
    # dataset failed with h5py's "file signature not found", and restore of a folder said the folder did not exist
    from reddiff_imaging.workbench.restore import restore_image

    folder = _folder(tmp_path)
    table = _compare(folder, tmp_path / "r.h5", dataset=folder)
    assert all(row.count == 3 for row in table.rows)
    result = tune("admm", prior="tv", task="denoising", grid={"steps": [2]}, dataset=folder, num_images=2, progress=False, device="cpu")
    assert len(result.trials[0].psnr) == 2
    with pytest.raises(ValueError, match=r"dataset \(--dataset\) '.*a\.png' is one image file; .*pass the folder '.*scans'"):
        _compare(folder, tmp_path / "s.h5", dataset=str(folder / "a.png"))
    assert not (tmp_path / "s.h5").exists()
    with pytest.raises(ValueError, match=r"image '.*scans' is a folder; restore takes one image file"):
        restore_image(folder, tmp_path / "o.png", task="denoising", solver="admm", prior="tv", steps=2, device="cpu")


def test_a_task_that_cannot_take_a_size_names_the_size_option() -> None:
    # "crop them or choose a size that fits" named no option
    with pytest.raises(ValueError, match=r"task 'sr4-block' cannot run on 17×23 images: .*choose a size \(--size\) that fits"):
        build_operator("sr4-block", (1, 17, 23))


def test_a_missing_relative_dataset_names_the_folder_it_was_looked_for_in(tmp_path, monkeypatch) -> None:
    # a config file's dataset = "../scans" run from another folder said only that it was no folder of images
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"dataset '\.\./scans' is neither .* \(a relative path, taken from the current folder '.*'\)"):
        _compare("../scans", tmp_path / "r.h5")


def test_file_names_of_another_type_are_refused_naming_the_argument(tmp_path) -> None:
    # bytes or int file names failed inside pathlib ("argument should be a str object ...", no argument named)
    from reddiff_imaging.workbench import convergence_plot
    from reddiff_imaging.workbench.restore import restore_image

    folder, output = _folder(tmp_path), tmp_path / "r.h5"
    image = str(folder / "a.png")
    options = {"task": "denoising", "solver": "admm", "prior": "tv", "steps": 2, "device": "cpu"}
    with pytest.raises(TypeError, match=r"^image must be a file name \(str or os\.PathLike\), got bytes; decode bytes with os\.fsdecode$"):
        restore_image(image.encode(), tmp_path / "o.png", **options)
    with pytest.raises(TypeError, match=r"^output must be a file name .*got bytes"):
        restore_image(image, str(tmp_path / "o.png").encode(), **options)
    with pytest.raises(TypeError, match=r"^output must be a file name .*got bytes"):
        _compare(folder, str(output).encode())
    with pytest.raises(TypeError, match=r"^output must be a file name .*got int$"):
        tune("admm", prior="tv", task="denoising", grid={"steps": [2]}, dataset=str(folder), output=12, progress=False, device="cpu")
    _compare(folder, output)
    with pytest.raises(TypeError, match=r"^results must be a file name .*got bytes"):
        figure_grid(str(output).encode(), "comparison", tmp_path / "g.png")
    with pytest.raises(TypeError, match=r"^path must be a file name .*got int$"):
        convergence_plot(output, "comparison", 3)


def test_an_hdf5_dataset_keeps_its_image_size_and_refuses_channels_last(tmp_path) -> None:
    # compare cropped 17×23 HDF5 images to 17×17 without a note (the training loader's square crop);
    # (N, H, W, 3) images were read as 32 channels of 32×3 pixels
    images = torch.rand(3, 1, 17, 23, generator=torch.Generator().manual_seed(0))
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = images.numpy()
        f["rgb"] = (images.permute(0, 2, 3, 1).repeat(1, 1, 1, 3) * 255).to(torch.uint8).numpy()
    output = tmp_path / "r.h5"
    table = compare(["denoising"], ["admm/tv"], dataset=str(tmp_path / "d.h5"), num_images=3, output=output,
                    overrides=ADMM_TV, progress=False, device="cpu")
    assert table.rows[0].count == 3
    with h5py.File(output, "r") as f:
        stored = torch.from_numpy(f["comparison/denoising/x_true"][()])
    torch.testing.assert_close(stored, images)
    resized, notes = load_dataset(str(tmp_path / "d.h5"), 3, 16)
    assert resized.shape == (3, 1, 16, 16)
    assert any("17×23 images cropped to the centred 17×17 square and resized to 16×16" in note for note in notes)
    with pytest.raises(ValueError, match=r"dataset 'rgb' of '.*d\.h5' has shape \(3, 17, 23, 3\), which looks like \(N, H, W, C\)"):
        load_dataset(str(tmp_path / "d.h5") + ":rgb", 3, None)
