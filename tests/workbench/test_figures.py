"""Figures drawn from a results file: a tiny comparison, then the grid and convergence plots."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from reddiff_imaging.workbench import ResultsStore, compare
from reddiff_imaging.workbench.figures import (
    convergence_plot,
    figure_grid,
    measurement_view,
    sample_grid,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASKS = ["inpainting-box", "phase-retrieval"]  # DDRM skips phase retrieval (nonlinear): a missing cell


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("figures") / "results.h5"
    compare(TASKS, ["reddiff", "ddrm"], steps=3, num_images=1, output=path, run="tiny", progress=False)
    return path


def _read_png(path: Path):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def test_figure_grid_is_a_png_with_one_row_per_task(results: Path, tmp_path: Path) -> None:
    with ResultsStore(results, "r") as store:
        assert "ddrm[default]" not in store.methods("tiny", "phase-retrieval")  # the cell to draw as n/a
        assert "ddrm[default]" in store.methods("tiny", "inpainting-box")
    out = figure_grid(results, "tiny", tmp_path / "sub" / "grid.png")
    assert out == tmp_path / "sub" / "grid.png"
    image = _read_png(out)
    height, width = image.shape[:2]
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert width > height > 200  # 2 rows × 4 columns (truth, measurement, 2 methods)
    one_row = _read_png(figure_grid(results, "tiny", tmp_path / "one.png", tasks=["phase-retrieval"]))
    assert one_row.shape[1] == width and one_row.shape[0] < 0.75 * height


def test_figure_grid_rejects_bad_arguments(results: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="index"):
        figure_grid(results, "tiny", tmp_path / "g.png", index=5)
    for index in ("0", 0.0, True):  # '0' failed in a comparison, 0.0 and True were taken as 0 and 1
        with pytest.raises(TypeError, match=rf"index must be an int, got {index!r}"):
            figure_grid(results, "tiny", tmp_path / "g.png", index=index)
    with pytest.raises(ValueError, match="index must be an int >= 0, got -1"):
        figure_grid(results, "tiny", tmp_path / "g.png", index=-1)
    with pytest.raises(TypeError, match="tasks must be a list of task names, got 'inpainting-box'"):
        figure_grid(results, "tiny", tmp_path / "g.png", tasks="inpainting-box")
    with pytest.raises(ValueError, match="deblur"):
        figure_grid(results, "tiny", tmp_path / "g.png", tasks=["deblur-gaussian"])
    with pytest.raises(ValueError, match="nope"):
        figure_grid(results, "nope", tmp_path / "g.png")
    for draw in (lambda p: figure_grid(results, "tiny", p), lambda p: convergence_plot(results, "tiny", p), lambda p: sample_grid(torch.rand(1, 1, 4, 4), p)):
        with pytest.raises(ValueError, match=r"path '.*g.pdf' ends in '.pdf', but a PNG figure is written there: give a name ending in .png"):
            draw(tmp_path / "g.pdf")
    assert not (tmp_path / "g.pdf").exists()


def test_convergence_plot(results: Path, tmp_path: Path) -> None:
    image = _read_png(convergence_plot(results, "tiny", tmp_path / "psnr.png"))
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100  # two panels side by side
    _read_png(convergence_plot(results, "tiny", tmp_path / "data.png", metric="data"))
    with pytest.raises(ValueError, match="recorded"):
        convergence_plot(results, "tiny", tmp_path / "x.png", metric="no-such-column")


def test_sample_grid_is_pixel_exact(tmp_path: Path) -> None:
    images = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    image = _read_png(sample_grid(images, tmp_path / "samples.png", ncols=3))
    assert image.shape[:2] == (2 * 18 + 2, 3 * 18 + 2)
    top_left = image[2:18, 2:18, 0]
    assert abs(float(top_left.mean()) - float(images[0, 0].mean())) < 0.01
    rgb = _read_png(sample_grid(torch.rand(2, 3, 8, 8), tmp_path / "rgb.png"))
    assert rgb.shape[:2] == (12, 22)
    with pytest.raises(ValueError, match="shape"):
        sample_grid(torch.rand(2, 8, 8), tmp_path / "bad.png")


def test_measurement_views() -> None:
    from reddiff_imaging.operators import registry

    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    for task, label in [("sr4-block", "nearest"), ("mri4", "zero-filled"), ("ct", "sinogram"), ("inpainting-box", "masked")]:
        y = registry.build(task, (1, 32, 32))(x)[0]
        view, text = measurement_view(task, y, (1, 32, 32))
        assert label in text
        assert view.ndim == 3 and not view.is_complex()
        assert float(view.min()) >= 0 and float(view.max()) <= 1
        if task != "ct":
            assert view.shape == (1, 32, 32)
