"""Restore one image file: simulate a task's measurement of it, solve, and write the result as PNG.

The image is read with PIL (grayscale for 1-channel priors, RGB for 3-channel ones; priors without
a fixed shape keep the file's colour mode), centre-cropped to a square and resized (bicubic) to the
prior's image size (or ``size``). Its measurement is simulated with the seeds a comparison uses, so
``restore_image`` and :func:`~reddiff_imaging.workbench.compare` agree on the same image and seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from reddiff_imaging import metrics
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.workbench.compare import resolve_device, simulate_measurements
from reddiff_imaging.workbench.figures import measurement_view
from reddiff_imaging.workbench.parts import one_part
from reddiff_imaging.workbench.specs import (
    DEFAULT_SIGMA,
    Method,
    build_prior,
    build_task,
    prior_image_shape,
    supports,
    unit_seed,
)

__all__ = ["read_image", "restore_image", "write_image"]

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def read_image(path: str | os.PathLike[str], *, channels: int | None = None, size: int | None = None) -> Tensor:
    """Read an image file as ``(1, C, S, S)`` float32 in ``[0, 1]``.

    Args:
        path: the image file (any format PIL reads).
        channels: 1 (grayscale) or 3 (RGB); ``None`` keeps grayscale files grayscale and converts
            the others to RGB.
        size: centre-crop to a square, then resize to ``size × size`` (PIL bicubic); ``None`` keeps
            the square's side.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an image PIL can read, or a bad ``channels``/``size``.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int, got {size!r}")
    try:
        with Image.open(path) as im:
            im.load()
            if channels is None:
                channels = 1 if im.mode in _GRAY_MODES else 3
            im = im.convert("L" if channels == 1 else "RGB")
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            if size is not None and size != side:
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            array = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"could not read image file {str(path)!r}: {err}") from err
    tensor = torch.from_numpy(array.copy())
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return tensor[None].contiguous()


def write_image(image: Tensor, path: str | os.PathLike[str]) -> Path:
    """Write ``(C, H, W)`` or ``(1, C, H, W)`` in ``[0, 1]`` (C = 1 or 3) as an 8-bit PNG."""
    from PIL import Image

    image = image.detach().cpu().float()
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"image must have shape (C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
    array = (image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path, format="PNG")
    return path


def restore_image(
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    task: Any,
    solver: Any = "reddiff",
    prior: Any = "default",
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
    sigma: float = DEFAULT_SIGMA,
    size: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    save_measurement: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Simulate ``task``'s measurement of an image file, reconstruct it with ``solver`` and ``prior``,
    and write the reconstruction as a PNG.

    Args:
        image: the input image file (the ground truth of the simulation).
        output: the PNG to write (same size and channels as the processed input).
        task: a task as :func:`~reddiff_imaging.workbench.compare` takes it (name, operator,
            factory(shape) or ``module:attribute``).
        solver: a solver name, Solver object or class, or ``module:attribute``.
        prior: a prior as :func:`~reddiff_imaging.workbench.compare` takes it (name, spec such as
            ``drunet:PATH``, Prior object, deepinv denoiser, factory or ``module:attribute``).
        overrides: options of the solver, e.g. ``{"lam": 0.5}``.
        steps: iteration count (the solver's ``steps``/``iterations``) unless ``overrides`` sets it.
        sigma: measurement noise level (public units).
        size: image side; default the prior's (network priors must get their own size), or the
            input's shorter side for priors of any size.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seed of the measurement and of the solver.
        save_measurement: also write a PNG of the measurement's view
            (see :func:`~reddiff_imaging.workbench.figures.measurement_view`).
        progress: show the solver's progress bar.

    Returns:
        ``{"psnr", "ssim", "seconds", "output", "measurement", "measurement_label", "shape", "config"}``:
        PSNR (dB) and SSIM of the reconstruction against the processed input, the solve time, the
        written paths, the image shape ``(C, H, W)`` and the solver's configuration.

    Raises:
        FileNotFoundError: no file at ``image``.
        ValueError: unreadable image, unknown task/solver/prior/option, a ``size`` the prior cannot
            take, a prior the solver cannot use, or a task the solver cannot handle.
    """
    solver_part, prior_part, task_part = one_part(solver, "solver"), one_part(prior, "prior"), one_part(task, "task")
    solver, prior, task = solver_part.label, prior_part.label, task_part.label
    method = Method(solver, prior, dict(overrides or {}), None if solver_part.named else solver_part.value)
    built = method.build(steps)  # unknown solver or option fails before anything is read
    image_path = Path(image)
    if not image_path.is_file():
        raise FileNotFoundError(f"image file {str(image_path)!r} does not exist")
    device = resolve_device(device)
    the_prior = build_prior(prior_part.value, device)
    expected = prior_image_shape(the_prior)
    if expected is not None and size is not None and size != expected[-1]:
        raise ValueError(f"size {size} does not match prior {prior!r}, which expects {expected[-1]}×{expected[-1]} images")
    if not supports(built, the_prior):
        needs = ", ".join(built.requires)
        raise ValueError(f"solver {solver!r} needs {needs} from the prior; prior {prior!r} provides {', '.join(the_prior.capabilities()) or 'nothing'}")
    x = read_image(
        image_path,
        channels=expected[0] if expected is not None else None,
        size=expected[-1] if expected is not None else size,
    ).to(device)
    shape = tuple(x.shape[1:])
    operator, noise = build_task(task_part.value, shape, sigma)
    operator = operator.to(device)
    y = simulate_measurements(operator, noise, x, seed, task)
    problem = InverseProblem(operator, y, noise, x)
    generator = torch.Generator(device=device).manual_seed(unit_seed(seed, task, method.label, 0))
    try:
        result = built.solve(problem, the_prior, generator, progress=progress, metrics_every=0)
    except TypeError as err:  # the method refuses this operator (e.g. DDRM without an SVD)
        raise ValueError(f"solver {solver!r} cannot run task {task!r}: {err}") from err
    restored = result.x.clamp(0, 1)
    out = write_image(restored[0], output)
    measurement_path, label = None, None
    if save_measurement is not None:
        view, label = measurement_view(task, y[0], shape)
        measurement_path = write_image(view if view.shape[0] in (1, 3) else view[:1], save_measurement)
    return {
        "psnr": float(metrics.psnr(restored, x)),
        "ssim": float(metrics.ssim(restored, x)),
        "seconds": result.seconds,
        "output": out,
        "measurement": measurement_path,
        "measurement_label": label,
        "shape": shape,
        "config": result.config,
    }
