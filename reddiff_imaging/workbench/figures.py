"""Figures of a comparison, drawn from its results file (matplotlib, Agg backend, PNG).

* :func:`figure_grid` — one row per task: the ground truth, a view of the measurement, and every
  method's reconstruction of one image, titled with the method and its PSNR;
* :func:`convergence_plot` — one panel per task: a metric along the solver steps (from the stored
  per-step history, averaged over images), one line per method;
* :func:`sample_grid` — a plain mosaic of images in ``[0, 1]`` (e.g. unconditional samples of a prior);
* :func:`measurement_view` — the image shown for a measurement (used by the grid and by
  :func:`reddiff_imaging.workbench.restore.restore_image`).

Nothing opens a window: every function draws off-screen and writes a file.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from reddiff_imaging._validation import check_distinct_files, check_int, check_output_file
from reddiff_imaging.workbench.store import ResultsStore

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.typing import RcKeyType

__all__ = ["convergence_plot", "figure_grid", "measurement_view", "sample_grid"]

_PANEL = 2.1  # inches per image panel
_FONT: dict[RcKeyType, Any] = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8}


def _title_and_layout(fig: Any, title: str) -> None:
    """A figure title above the panels: ``tight_layout`` ignores suptitles, so it gets a band of
    0.35 inch at the top that the panels' titles cannot reach."""
    fig.suptitle(title, fontsize=11, y=1 - 0.05 / fig.get_figheight())
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))


def _figure(**kwargs: Any) -> Any:
    """A matplotlib figure drawn by the off-screen Agg canvas.

    Figures are built without pyplot: nothing opens a window, nothing is kept in pyplot's figure
    registry, and the user's matplotlib backend is left as it is.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _rc() -> AbstractContextManager[None]:
    import matplotlib

    return matplotlib.rc_context(_FONT)


# -- measurement views ------------------------------------------------------------------------------
def measurement_view(task: str, y: Tensor, image_shape: tuple[int, ...]) -> tuple[Tensor, str]:
    """An image in ``[0, 1]`` that shows the measurement ``y`` of one image, and its label.

    Args:
        task: the task name (see :func:`reddiff_imaging.operators.registry.available`).
        y: the measurement of one image, without batch axis (complex for MRI).
        image_shape: ``(C, H, W)`` of the unknown image.

    Returns:
        ``(view, label)`` with ``view`` a ``(C', H', W')`` float tensor in ``[0, 1]``:

        * complex k-space (MRI): the zero-filled reconstruction :math:`|A^H y|` (inverse orthonormal
          FFT of the masked k-space), which shows the aliasing the solvers must undo;
        * CT: the sinogram (angles × detector bins), scaled by its maximum;
        * phase retrieval: the log of the Fourier magnitudes (60 dB range), centred, scaled;
        * an image of the unknown's size (inpainting, deblurring, denoising, HDR): ``y`` itself,
          clipped to ``[0, 1]`` (masked pixels are 0);
        * a smaller image (super-resolution): ``y`` upsampled by nearest neighbour to the image size;
        * anything else: ``y`` rescaled to ``[0, 1]``.
    """
    y = y.detach().cpu()
    channels, height, width = image_shape[-3:]
    if y.is_complex():
        zero_filled = torch.fft.ifft2(y, norm="ortho").abs().float()
        return zero_filled.clamp(0, 1), "zero-filled |Aᴴy|"
    y = y.float()
    if y.ndim == 2:
        y = y.unsqueeze(0)
    if task == "ct":
        return _rescale(y), "sinogram (angle × detector)"
    if task == "phase-retrieval":
        magnitude = torch.fft.fftshift(y.abs(), dim=(-2, -1))
        floor = 1e-3 * float(magnitude.max()) + 1e-12
        return _rescale(torch.log10(magnitude + floor)), "log |y| (Fourier magnitude)"
    if y.ndim == 3 and y.shape[-2:] == (height, width):
        label = {
            "inpainting": "masked image y",
            "deblur": "blurred image y",
            "denoising": "noisy image y",
            "hdr": "clipped image y",
        }.get(task.split("-")[0], "measurement y")
        return y.clamp(0, 1), label
    if y.ndim == 3 and y.shape[0] == channels and height % y.shape[-2] == 0 and width % y.shape[-1] == 0:
        factor = height // y.shape[-2]
        if factor == width // y.shape[-1]:
            return F.interpolate(y[None], size=(height, width), mode="nearest")[0].clamp(0, 1), f"low-res y (nearest ×{factor})"
    return _rescale(y), "measurement y (rescaled)"


def _rescale(y: Tensor) -> Tensor:
    lo, hi = float(y.min()), float(y.max())
    return (y - lo) / (hi - lo) if hi > lo else torch.zeros_like(y)


def _as_display(image: Tensor | np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """``(C, H, W)`` → an array for ``imshow`` and its keyword arguments."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    elif array.ndim == 3 and array.shape[0] == 3:
        array = np.clip(array.transpose(1, 2, 0), 0, 1)
    elif array.ndim == 3:  # other channel counts: show the first channel
        array = array[0]
    options: dict[str, Any] = {"interpolation": "nearest"}
    if array.ndim == 2:
        options.update(cmap="gray", vmin=0.0, vmax=1.0)
    return array, options


def _blank(ax: Any, title: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=12, color="0.5", transform=ax.transAxes)
    if title:
        ax.set_title(title)


def _show(ax: Any, image: Tensor | np.ndarray, title: str, *, aspect: str = "equal") -> None:
    array, options = _as_display(image)
    ax.imshow(array, aspect=aspect, **options)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)


# -- reading a run ----------------------------------------------------------------------------------
def _method_order(store: ResultsStore, run: str, tasks: list[str]) -> list[str]:
    """Method labels in the order of the run's configuration, then any others found."""
    from reddiff_imaging.workbench.specs import Method

    order: list[str] = []
    try:
        config = store.config(run)
        for m in config.get("methods", []):
            label = Method(m["solver"], m["prior"]).label
            if label not in order:
                order.append(label)
    except (KeyError, TypeError, ValueError):
        pass
    found = sorted({m for t in tasks for m in store.methods(run, t)})
    return order + [m for m in found if m not in order]


def _check_run(store: ResultsStore, run: str, tasks: list[str] | None) -> list[str]:
    if run not in store.runs():
        raise ValueError(f"run {run!r} is not in {str(store.path)!r}; runs present: {store.runs()}")
    present = store.tasks(run)
    if tasks is None:
        return present
    unknown = [t for t in tasks if t not in present]
    if unknown:
        raise ValueError(f"task(s) {unknown} are not in run {run!r}; tasks present: {present}")
    return list(tasks)


def _check_png(path: str | os.PathLike[str], results: str | os.PathLike[str] | None = None) -> None:
    """Refuse, before any drawing, a figure ``path`` that cannot be written, does not end in
    ``.png``, is an existing HDF5 file, or is the ``results`` file under another name (a link, a
    hard link): the figure would overwrite the results it is drawn from."""
    check_output_file(path, "path", (".png",), "a PNG figure")
    if results is not None:
        check_distinct_files({"results": results, "path": path})


def _check_outside_dataset(store: ResultsStore, run: str, path: str | os.PathLike[str]) -> None:
    """Refuse a figure ``path`` inside the image folder of the dataset ``run`` was made from
    (:func:`~reddiff_imaging.workbench.specs.check_outside_dataset`): rerun, the comparison would
    read the figure as one of its images."""
    from reddiff_imaging.workbench.specs import check_outside_dataset

    check_outside_dataset(store.config(run).get("dataset"), {"path": path}, where=f" (of run {run!r} in {store.where})")


def _save(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


# -- figures ------------------------------------------------------------------------------------------
def figure_grid(
    results: str | os.PathLike[str],
    run: str,
    path: str | os.PathLike[str],
    *,
    index: int = 0,
    tasks: list[str] | None = None,
) -> Path:
    """A PNG grid of reconstructions: one row per task, image ``index`` of the run.

    Columns: the ground truth, a view of the measurement (see :func:`measurement_view`), then
    every method of the run, each panel titled with the method label and the PSNR of that image.
    A method that has no result for a task (skipped, or not run) is drawn as a blank "n/a" panel.

    Args:
        results: the HDF5 results file written by :func:`reddiff_imaging.workbench.compare`.
        run: the run inside the file.
        path: the PNG to write.
        index: which image of the dataset.
        tasks: the tasks (rows) to show, in this order; default all tasks of the run.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    index = check_int(index, "index", minimum=0)
    if tasks is not None and (isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks)):
        raise TypeError(f"tasks must be a list of task names, got {tasks!r}")
    _check_png(path, results)
    with ResultsStore(results, "r") as store:
        tasks = _check_run(store, run, tasks)
        _check_outside_dataset(store, run, path)
        if not tasks:
            raise ValueError(f"run {run!r} in {str(results)!r} has no tasks to draw")
        methods = _method_order(store, run, tasks)
        ncols = 2 + len(methods)
        with _rc():
            fig = _figure(figsize=(_PANEL * ncols, (_PANEL + 0.35) * len(tasks)))
            axes = fig.subplots(len(tasks), ncols, squeeze=False)
            for row, task in enumerate(tasks):
                x_true, y = store.task_images(run, task)
                if not 0 <= index < len(x_true):
                    raise ValueError(f"index must be in [0, {len(x_true)}) for task {task!r} of run {run!r}, got {index}")
                truth = x_true[index]
                _show(axes[row][0], truth, "ground truth")
                axes[row][0].set_ylabel(task, fontsize=10)
                view, label = measurement_view(task, y[index], tuple(truth.shape))
                wide = view.shape[-2:] != truth.shape[-2:]
                _show(axes[row][1], view, label, aspect="auto" if wide else "equal")
                for col, method in enumerate(methods, start=2):
                    ax = axes[row][col]
                    item = store.unit(run, task, method, index)
                    if item is None:
                        _blank(ax, method)
                        continue
                    psnr = float(item.attrs["psnr"])
                    _show(ax, item["x"][()], f"{method}\n{psnr:.2f} dB" if math.isfinite(psnr) else f"{method}\ndiverged")
            _title_and_layout(fig, f"{run} — image {index}")
            return _save(fig, path)


def convergence_plot(
    results: str | os.PathLike[str],
    run: str,
    path: str | os.PathLike[str],
    *,
    metric: str = "psnr",
) -> Path:
    """Per task, ``metric`` along the solver steps, averaged over images; one line per method.

    The values come from each unit's stored ``history`` (PSNR is recorded every 10 steps by the
    comparison; loss terms such as ``data`` every step). At each step the mean is taken over the
    images that recorded the metric there. Methods without the metric on a task draw no line.

    Raises:
        ValueError: unknown run, or no unit of the run recorded ``metric`` (the message lists the
            recorded columns).
    """
    import matplotlib

    _check_png(path, results)
    with ResultsStore(results, "r") as store:
        tasks = _check_run(store, run, None)
        _check_outside_dataset(store, run, path)
        methods = _method_order(store, run, tasks)
        curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        columns: set[str] = set()
        for task in tasks:
            per_method: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
            for t, method, index, _ in store.units(run):
                if t != task:
                    continue
                for record in store.history(run, task, method, index):
                    columns.update(record)
                    if metric in record and "step" in record and math.isfinite(record[metric]):
                        per_method[method][record["step"]].append(record[metric])
            for method, by_step in per_method.items():
                steps = np.array(sorted(by_step))
                curves[task][method] = (steps, np.array([np.mean(by_step[s]) for s in steps]))
        if not any(curves.values()):
            raise ValueError(
                f"no unit of run {run!r} recorded {metric!r} in its history; recorded: {sorted(columns - {'step'})}"
            )
        ncols = min(3, len(tasks))
        nrows = math.ceil(len(tasks) / ncols)
        with _rc():
            fig = _figure(figsize=(4.2 * ncols, 3.2 * nrows))
            axes = fig.subplots(nrows, ncols, squeeze=False)
            colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
            for k, task in enumerate(tasks):
                ax = axes[k // ncols][k % ncols]
                for j, method in enumerate(methods):
                    if method in curves[task]:
                        steps, values = curves[task][method]
                        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3,
                                color=colors[j % len(colors)], label=method)
                ax.set_title(task)
                ax.set_xlabel("step")
                ax.set_ylabel(f"{metric} (dB)" if metric == "psnr" else metric)
                ax.grid(alpha=0.3)
                if curves[task]:
                    ax.legend()
                else:
                    ax.text(0.5, 0.5, "n/a", ha="center", va="center", color="0.5", transform=ax.transAxes)
            for k in range(len(tasks), nrows * ncols):
                axes[k // ncols][k % ncols].set_visible(False)
            _title_and_layout(fig, f"{run}: {metric} along the solver steps (mean over images)")
            return _save(fig, path)


def sample_grid(images: Tensor, path: str | os.PathLike[str], *, ncols: int = 8) -> Path:
    """A plain mosaic of ``images`` ``(N, C, H, W)`` in ``[0, 1]`` (C = 1 or 3), ``ncols`` per row,
    separated by 2 white pixels, written pixel for pixel as a PNG (no axes, no resampling)."""
    from matplotlib.image import imsave

    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[0] < 1:
        raise ValueError(f"images must have shape (N, C, H, W) with N >= 1 and C = 1 or 3, got {tuple(images.shape)}")
    ncols = check_int(ncols, "ncols")
    _check_png(path)
    data = images.detach().cpu().float()
    if not bool(torch.isfinite(data).all()):
        raise ValueError("images contain NaN or Inf")
    n, channels, height, width = data.shape
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    pad = 2
    mosaic = np.ones((nrows * (height + pad) + pad, ncols * (width + pad) + pad, channels), dtype=np.float32)
    array = data.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    for k in range(n):
        r, c = divmod(k, ncols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        mosaic[top : top + height, left : left + width] = array[k]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if channels == 1:
        imsave(path, mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        imsave(path, mosaic, format="png")
    return path
