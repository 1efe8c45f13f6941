"""What :func:`~reddiff_imaging.workbench.compare`, :func:`~reddiff_imaging.workbench.tune.tune` and
:func:`~reddiff_imaging.workbench.restore.restore_image` share on the way from parts to results.

Each run

1. resolves its device (:func:`resolve_device`) and its parts (:func:`single_parts` for a sweep or a
   restore, one solver, prior and task);
2. builds the prior and asks the solver whether it can use it — :meth:`Solver.check
   <reddiff_imaging.solvers.Solver.check>`, never a caught exception (:func:`require_prior_support`);
3. checks the prior against the images' shape (``Prior.check_image_shape``: a channel mismatch
   fails before any work);
4. builds each task's operator and simulates the noisy measurements of every image with the
   run's seeds (:func:`measure` → :class:`Measurements`);
5. asks the solver again with each problem, which may lack what it needs (an SVD, Gaussian noise;
   :func:`require_task_support`), then solves and scores it (:func:`solve_unit`).

A comparison reports an unsupported pair and skips it; a sweep or a restore of one solver stops
with :class:`~reddiff_imaging.errors.UnsupportedProblemError`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging import metrics
from reddiff_imaging._validation import check_device
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.noise import NoiseModel
from reddiff_imaging.operators.base import Operator
from reddiff_imaging.priors.base import ImageShapeNote, Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import NonFiniteError, Solver
from reddiff_imaging.workbench.parts import Part, build_prior, check_names, one_part
from reddiff_imaging.workbench.specs import Images, build_task, image_shapes, supports, unit_seed
from reddiff_imaging.workbench.store import UnitResult

__all__ = [
    "Measurements",
    "generator",
    "image_notes",
    "measure",
    "require_prior_support",
    "require_task_support",
    "resolve_device",
    "simulate_measurements",
    "single_parts",
    "solve_unit",
    "usable_prior",
]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU (:func:`~reddiff_imaging._validation.check_device`)."""
    return check_device(device, "device", auto=True)


def generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def single_parts(solver: Any, prior: Any, task: Any) -> tuple[Part, Part, Part]:
    """The one solver, prior and task of a sweep or a restore, each a name, an object, a factory,
    ``module:attribute`` or a one-entry mapping ``{label: part}``; their names are checked first
    (:func:`~reddiff_imaging.workbench.parts.check_names`)."""
    found = one_part(solver, "solver"), one_part(prior, "prior"), one_part(task, "task")
    check_names(*found)
    return found


# -- the prior -----------------------------------------------------------------------------------------
def require_prior_support(solver: Solver, prior: Prior, solver_label: str, prior_label: str) -> None:
    """Raise :class:`~reddiff_imaging.errors.UnsupportedProblemError` when ``solver`` cannot use
    ``prior`` (its :meth:`~reddiff_imaging.solvers.Solver.check` of the prior alone)."""
    support = supports(solver, prior)
    if not support:
        raise UnsupportedProblemError(f"solver {solver_label!r} cannot run with prior {prior_label!r}: {support.message}")


def usable_prior(part: Part, device: torch.device, solver: Solver, solver_label: str) -> Prior:
    """The prior of ``part`` on ``device``, once ``solver`` is known to be able to use it
    (:func:`require_prior_support`)."""
    prior = build_prior(part.value, device)
    require_prior_support(solver, prior, solver_label, part.label)
    return prior


def image_notes(prior: Prior, shapes: list[tuple[int, ...]], label: str) -> list[str]:
    """What ``prior`` notes of images of each of ``shapes`` (``Prior.check_image_shape``; a channel
    mismatch raises, before any work), each note once; beyond three, the first two and a count."""
    notes = list(dict.fromkeys(note for shape in shapes if (note := prior.check_image_shape(shape, label))))
    return notes if len(notes) <= 3 else [*notes[:2], f"and {len(notes) - 2} more notes like these, for the other image sizes"]


# -- the task ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurements:
    """A task on a set of images: its operator per image shape and its noise model, the images (the
    ground truths: a batch ``(N, C, H, W)``, or a list of ``(C, H, W)`` images of different sizes)
    and their simulated noisy measurements ``y`` (one per image, batched like the images)."""

    task: str
    operators: dict[tuple[int, ...], Operator]
    noise: NoiseModel
    images: Images
    y: Images

    def __len__(self) -> int:
        return len(self.images)

    @property
    def operator(self) -> Operator:
        """The operator of the first image (of every image, when they share their size)."""
        return self.operators[tuple(self.images[0].shape)]

    def problem(self, index: int) -> InverseProblem:
        """The inverse problem of image ``index`` (a batch of one, with its ground truth)."""
        image = self.images[index].unsqueeze(0)
        return InverseProblem(self.operators[tuple(image.shape[1:])], self.y[index].unsqueeze(0), self.noise, image)


def simulate_measurements(operator: Operator, noise: NoiseModel, images: Tensor, seed: int, task: str) -> Tensor:
    """The noisy measurement of every image; image ``i`` uses the seed
    ``unit_seed(seed, task, "measurement", i)``, independent of the other images."""
    return torch.cat([_measurement(operator, noise, images[i], seed, task, i) for i in range(len(images))])


def _measurement(operator: Operator, noise: NoiseModel, image: Tensor, seed: int, task: str, index: int) -> Tensor:
    """The noisy measurement ``(1, *out_shape)`` of image ``index`` ``(C, H, W)`` of a task."""
    return noise.sample(operator(image.unsqueeze(0)), generator(image.device, unit_seed(seed, task, "measurement", index)))


def measure(task: Part, images: Images, sigma: float, seed: int) -> Measurements:
    """Build the operator of ``task`` for each shape of the images, on their device (see
    :func:`~reddiff_imaging.workbench.specs.build_task`), and simulate their measurements
    (:func:`simulate_measurements`, labelled by the task's label)."""
    built = {shape: build_task(task.value, shape, sigma) for shape in image_shapes(images)}
    operators = {shape: operator.to(images[0].device) for shape, (operator, _) in built.items()}
    noise = next(iter(built.values()))[1]
    each = [_measurement(operators[tuple(image.shape)], noise, image, seed, task.label, i) for i, image in enumerate(images)]
    y: Images = torch.cat(each) if isinstance(images, Tensor) else [item[0] for item in each]
    return Measurements(task.label, operators, noise, images, y)


def require_task_support(solver: Solver, problem: InverseProblem, prior: Prior, solver_label: str, task_label: str) -> None:
    """Raise :class:`~reddiff_imaging.errors.UnsupportedProblemError` when ``solver`` cannot run
    ``problem`` (e.g. DDRM on an operator without an SVD)."""
    support = solver.check(problem, prior)
    if not support:
        raise UnsupportedProblemError(f"solver {solver_label!r} cannot run task {task_label!r}: {support.message}")


# -- one unit ------------------------------------------------------------------------------------------
def solve_unit(solver: Solver, problem: InverseProblem, prior: Prior, seed: int, *, metrics_every: int = 10) -> UnitResult:
    """Solve one image and score it against ``problem.x_true``. A diverging solve gives NaN
    metrics and its last finite iterate; a method that cannot run the problem raises
    :class:`~reddiff_imaging.errors.UnsupportedProblemError` (ask ``solver.check`` first).
    The prior's :class:`~reddiff_imaging.priors.ImageShapeNote` is not repeated here (the callers
    print it once)."""
    truth = problem.x_true
    if truth is None:
        raise ValueError("solve_unit scores against the ground truth: the problem needs x_true")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImageShapeNote)
            result = solver.solve(problem, prior, generator(problem.device, seed), metrics_every=metrics_every)
    except NonFiniteError as err:
        x = err.last_finite if err.last_finite is not None else torch.zeros_like(truth)
        return UnitResult(x[0], [], math.nan, math.nan, math.nan, 0, seed)
    x = result.x.clamp(0, 1)
    return UnitResult(
        x=x[0],
        history=result.history,
        psnr=float(metrics.psnr(x, truth)),
        ssim=float(metrics.ssim(x, truth)),
        seconds=result.seconds,
        peak_memory_bytes=result.peak_memory_bytes,
        seed=seed,
    )

