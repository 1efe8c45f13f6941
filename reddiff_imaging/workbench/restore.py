"""Restore one image file: simulate a task's measurement of it, solve, and write the result.

The image is read with :func:`reddiff_imaging.data.image_io.read_image` as it comes: its own size,
channels and bit depth. It is converted only on request (``channels``, ``size``, ``rescale``), and every change
is listed in the report's ``notes``. A prior that cannot take the image (a one-channel prior on a
colour image) is an error before any work, which names
:class:`~reddiff_imaging.priors.Channelwise` (``channelwise:NAME``) and ``channels=1``. The result
keeps the input's bit depth where the output format holds it (16-bit PNG or TIFF for 16-bit input,
float32 TIFF for float input; see :func:`~reddiff_imaging.data.image_io.output_bit_depth`) and, when
the input was rescaled, the scale it is read at without rescaling (a 12-bit scan comes back in its
12-bit values, a float image in its own units; signed integers and DICOM in the ``[0, 1]`` mapping
of their type's range or window) wherever the output's samples can hold it.

The default prior, ``auto``, is the natural-image prior (``natural``) for a colour image and the same
network through its gray adapter (``gray:natural``) for a gray one: a user's own photograph or scan
gets the prior made for real images; the phantom prior (``default``) is there for its 64×64 scenes.

The measurement is simulated with the seeds a comparison uses, so ``restore_image`` and
:func:`~reddiff_imaging.workbench.compare` agree on the same image and seed.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from reddiff_imaging import metrics
from reddiff_imaging._validation import (
    check_distinct_files,
    check_int,
    check_not_hdf5,
    check_path_name,
    check_real,
    check_writable,
)
from reddiff_imaging.data.image_io import check_image_suffix, fits_bit_depth, output_bit_depth, read_image, write_image
from reddiff_imaging.priors.base import ImageShapeNote
from reddiff_imaging.workbench.figures import measurement_view
from reddiff_imaging.workbench.parts import one_part
from reddiff_imaging.workbench.plan import (
    generator,
    measure,
    require_task_support,
    resolve_device,
    single_parts,
    usable_prior,
)
from reddiff_imaging.workbench.specs import AUTO_PRIOR, DEFAULT_SIGMA, Method, auto_prior, check_scorable, unit_seed

__all__ = ["AUTO_PRIOR", "restore_image"]


def restore_image(
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    task: Any,
    solver: Any = "reddiff",
    prior: Any = AUTO_PRIOR,
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
    sigma: float = DEFAULT_SIGMA,
    size: int | None = None,
    channels: int | None = None,
    rescale: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    save_measurement: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Simulate ``task``'s measurement of an image file, reconstruct it with ``solver`` and ``prior``,
    and write the reconstruction.

    Args:
        image: the input image file (the ground truth of the simulation): PNG, TIFF, JPEG, ``.npy``
            or DICOM (see :func:`~reddiff_imaging.data.image_io.read_image`).
        output: the file to write (``.png``, ``.tif``, ``.jpg`` or ``.npy``), of the processed
            input's size and channels, at the input's bit depth where the format holds it.
        task: a task as :func:`~reddiff_imaging.workbench.compare` takes it (name, operator,
            factory(shape) or ``module:attribute``).
        solver: a solver name, Solver object or class, or ``module:attribute``.
        prior: a prior as :func:`~reddiff_imaging.workbench.compare` takes it (name, spec such as
            ``drunet:PATH``, Prior object, deepinv denoiser, factory or ``module:attribute``), or
            ``auto`` (default): ``natural`` for a colour image, ``gray:natural`` for a gray one.
        overrides: options of the solver, e.g. ``{"lam": 0.5}``.
        steps: iteration count (the solver's ``steps``) unless ``overrides`` sets it.
        sigma: measurement noise level (public units).
        size: crop the centred square and resize it to ``size × size``; default: the image's own size.
        channels: 1 converts a colour image to gray, 3 repeats a gray one; default: the file's.
        rescale: stretch the image's own range onto ``[0, 1]`` before the simulation (for an image
            that uses a small part of its dtype's range, or a float image in physical units); the
            noise level and the PSNR then refer to that range, and the result is written back in
            the input's scale (see the module docstring).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seed of the measurement and of the solver.
        save_measurement: also write an image of the measurement's view
            (see :func:`~reddiff_imaging.workbench.figures.measurement_view`).
        progress: show the solver's progress bar.

    Returns:
        ``{"psnr", "ssim", "seconds", "output", "measurement", "measurement_label", "shape", "config",
        "prior", "input", "bit_depth", "notes"}``: PSNR (dB) and SSIM of the reconstruction against the
        processed input, the solve time, the written paths, the image shape ``(C, H, W)``, the
        solver's configuration, the prior's label (what ``auto`` chose), the input's :class:`~reddiff_imaging.data.image_io.ImageInfo`, the
        bit depth written (32: float) and one line per change made to the image (reading,
        conversion, the prior's padding, a bit depth the output format cannot hold).

    Raises:
        FileNotFoundError: no file at ``image``.
        ValueError: an ``image`` that is a folder, an unreadable image, an image under 6 pixels a
            side (SSIM scores the result), unknown task/solver/prior/option, an output suffix that
            cannot be written, a prior that cannot take the image's channels, a prior the solver
            cannot use, or a task the solver cannot handle.
    """
    for path, name in ((output, "output"), (save_measurement, "save_measurement")):
        if path is not None:
            check_image_suffix(path, name)
            check_writable(path, name)
            check_not_hdf5(path, name, "an image")  # a link named restored.png may lead to a results file
    if steps is not None:
        check_int(steps, "steps")
    check_real(sigma, "sigma", low=0.0)
    check_int(seed, "seed", minimum=0)
    auto = isinstance(prior, str) and prior == AUTO_PRIOR
    solver_part, prior_part, task_part = single_parts(solver, auto_prior(3)[0] if auto else prior, task)
    solver, task = solver_part.label, task_part.label
    built = Method.of(solver_part, prior_part.label, overrides).build(steps)  # unknown solver or option fails before anything is read
    image_path = check_path_name(image, "image")
    if image_path.is_dir():
        raise ValueError(
            f"image {str(image_path)!r} is a folder; restore takes one image file (compare and tune take a folder of "
            "images as dataset, --dataset)"
        )
    if not image_path.is_file():
        raise FileNotFoundError(f"image file {str(image_path)!r} does not exist")
    check_distinct_files({"image": image_path, "output": output, "save_measurement": save_measurement})
    device = resolve_device(device)
    x, info = read_image(image_path, channels=channels, size=size, rescale=rescale)
    check_scorable(tuple(x.shape), f"image {image_path.name!r}")
    if auto:
        prior_part = one_part(auto_prior(x.shape[0])[0], "prior")
    method = Method.of(solver_part, prior_part.label, overrides)
    the_prior = usable_prior(prior_part, device, built, solver)
    notes = list(info.notes)
    prior_note = the_prior.check_image_shape(tuple(x.shape), solver)
    notes += [prior_note] if prior_note else []
    bit_depth, depth_note = output_bit_depth(output, info)
    notes += [depth_note] if depth_note else []
    value_range = info.value_range if fits_bit_depth(info.value_range, bit_depth) else None
    if info.value_range is not None and value_range is None:
        notes.append(f"{bit_depth}-bit samples cannot hold the input's own values: the output is written rescaled, as the solver saw it")
    x = x[None].to(device)
    shape = tuple(x.shape[1:])
    measured = measure(task_part, x, sigma, seed)
    problem = measured.problem(0)
    require_task_support(built, problem, the_prior, solver, task)  # e.g. DDRM without an SVD
    with warnings.catch_warnings():  # the prior's note is in ``notes``
        warnings.simplefilter("ignore", ImageShapeNote)
        result = built.solve(problem, the_prior, generator(device, unit_seed(seed, task, method.label, 0)), progress=progress, metrics_every=0)
    restored = result.x.clamp(0, 1)
    out = write_image(restored[0], output, bit_depth=bit_depth, value_range=value_range)
    measurement_path, label = None, None
    if save_measurement is not None:
        view, label = measurement_view(task, measured.y[0], shape)
        view = view if view.shape[0] in (1, 3) else view[:1]
        depth = output_bit_depth(save_measurement, info)[0]
        measurement_path = write_image(view, save_measurement, bit_depth=depth)
    return {
        "psnr": float(metrics.psnr(restored, x)),
        "ssim": float(metrics.ssim(restored, x)),
        "seconds": result.seconds,
        "output": out,
        "measurement": measurement_path,
        "measurement_label": label,
        "shape": shape,
        "config": result.config,
        "prior": prior_part.label,
        "input": info,
        "bit_depth": bit_depth,
        "notes": notes,
    }
