"""Per-solver hyperparameter sweeps on validation images, disjoint from the held-out test images.

:func:`tune` runs one solver with every configuration of a grid (or a random subset of it) on a
task, scores each configuration by a metric averaged over the validation images, and returns the
best one; it can write the choice as a TOML file of overrides for the comparison::

    [overrides.reddiff]
    lam = 0.25
    lr = 0.5

Validation images
-----------------
The default validation set is :func:`reddiff_imaging.data.validation_images`: procedural scenes
from seeds disjoint from the held-out test set and from training streams (see
:mod:`reddiff_imaging.data.synthetic`). Tuning on ``heldout`` is allowed but warns:
the chosen configuration would then be evaluated on the images it was tuned on.

Randomness
----------
Measurements and solver noise use the seeds of :func:`reddiff_imaging.workbench.compare`
(``unit_seed(seed, task, "measurement", i)`` and ``unit_seed(seed, task, method.label, i)``), the
same for every configuration: the configurations are compared on the same noise, and a trial
equals the comparison run of that configuration with the same seed on the same images.

Default grids
-------------
Each solver declares its small default grid next to its options, as the class attribute
:attr:`~reddiff_imaging.solvers.Solver.tuning_grid` (the table is in :doc:`/workbench`); a solver
of your own declares one the same way, or ``tune`` takes ``grid=``.
DDIM (unconditional) has no default grid. With 2 validation images and the solvers' default step
counts a default sweep takes minutes on a CPU (RED-diff, the longest: 12 configurations × 2 images
× 1000 steps); pass ``steps`` for a quicker, coarser sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import re
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from reddiff_imaging._validation import check_bool, check_int, check_output_file, check_real, write_text_atomic
from reddiff_imaging.data.synthetic import validation_images
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.solvers import Solver
from reddiff_imaging.solvers import registry as solvers_registry
from reddiff_imaging.workbench import distributed
from reddiff_imaging.workbench.parts import build_solver, one_part
from reddiff_imaging.workbench.plan import (
    Measurements,
    image_notes,
    measure,
    require_task_support,
    resolve_device,
    single_parts,
    solve_unit,
    usable_prior,
)
from reddiff_imaging.workbench.specs import (
    AUTO_PRIOR,
    DEFAULT_SIGMA,
    PHANTOM_DATASETS,
    Images,
    Method,
    auto_prior,
    check_dataset_spec,
    check_outside_dataset,
    dataset_spec,
    image_shapes,
    images_to,
    load_dataset,
    prior_image_shape,
    unit_seed,
)

__all__ = ["METRICS", "GridEdgeWarning", "Trial", "TuneResult", "tune"]

class GridEdgeWarning(UserWarning):
    """The best value of a swept option is the smallest or largest of its grid: the optimum may lie
    beyond it (the same sentence ends :meth:`TuneResult.to_markdown`)."""


#: the metrics a sweep can optimise, and whether higher is better
METRICS: dict[str, bool] = {"psnr": True, "ssim": True, "seconds": False}

_TOML_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Trial:
    """One configuration of a sweep and its per-image results (NaN where the solver diverged)."""

    options: dict[str, Any]
    psnr: list[float]
    ssim: list[float]
    seconds: list[float]

    def mean(self, metric: str) -> float:
        """Mean of ``metric`` over the images (NaN when any image diverged)."""
        values = getattr(self, _check_metric(metric))
        return sum(values) / len(values) if values else math.nan

    def std(self, metric: str) -> float:
        values = getattr(self, _check_metric(metric))
        mean = self.mean(metric)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else math.nan


@dataclass
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        solver, prior, task: what was tuned.
        metric: the metric optimised (mean over images).
        best: the chosen options (the grid's options of the best trial).
        best_score: its mean metric.
        trials: every configuration run, in the order run.
        output: the TOML file written, or None.
        settings: dataset, number of images, steps, sigma, seed, search of the sweep.
        at_edge: options whose best value is the smallest or largest number of their grid
            (``{"lam": "largest"}``): the optimum may lie beyond the grid, so extend it that way.
    """

    solver: str
    prior: str
    task: str
    metric: str
    best: dict[str, Any]
    best_score: float
    trials: list[Trial]
    output: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    at_edge: dict[str, str] = field(default_factory=dict)

    @property
    def scores(self) -> list[float]:
        """The metric of each trial (mean over images), in trial order."""
        return [t.mean(self.metric) for t in self.trials]

    @property
    def table(self) -> list[dict[str, Any]]:
        """One row per trial: its options, mean and std of PSNR, SSIM and seconds, and its rank by
        the metric (1 = best; diverged trials last)."""
        order = sorted(range(len(self.trials)), key=lambda k: _sort_key(self.scores[k], self.metric))
        rank = {k: r + 1 for r, k in enumerate(order)}
        return [
            {
                **t.options,
                **{f"{m}_{s}": getattr(t, s)(m) for m in METRICS for s in ("mean", "std")},
                "rank": rank[k],
            }
            for k, t in enumerate(self.trials)
        ]

    def to_markdown(self) -> str:
        """The table of trials as Markdown, best first."""
        names = list(self.trials[0].options) if self.trials else []
        lines = [
            "| " + " | ".join([*names, "PSNR (dB)", "SSIM", "seconds / image", "rank"]) + " |",
            "|" + "---|" * len(names) + "---:|---:|---:|---:|",
        ]
        for row in sorted(self.table, key=lambda r: r["rank"]):
            lines.append(
                "| " + " | ".join(str(row[n]) for n in names)
                + f" | {row['psnr_mean']:.2f} ± {row['psnr_std']:.2f} | {row['ssim_mean']:.3f} ± {row['ssim_std']:.3f}"
                + f" | {row['seconds_mean']:.2f} | {row['rank']} |"
            )
        return "\n".join([*lines, *(f"\n{note}" for note in self.edge_notes())]) + "\n"

    def edge_notes(self) -> list[str]:
        """One sentence per option whose best value lies at the edge of its grid."""
        return [
            f"note: the best {name} = {self.best[name]!r} is the {side} value of its grid; the optimum may lie "
            f"{'below' if side == 'smallest' else 'above'} it: extend the grid that way"
            for name, side in self.at_edge.items()
        ]

    def to_toml(self) -> str:
        """The chosen configuration as a ``[overrides.<solver>]`` TOML table (with a comment header)."""
        s = self.settings
        header = (
            f"# reddiff-imaging tune: solver {self.solver}, prior {self.prior}, task {self.task}\n"
            f"# best {self.metric} = {self.best_score:.4g} (mean over {s.get('num_images')} images of "
            f"{s.get('dataset')!r}), steps {s.get('steps')}, sigma {s.get('sigma')}, seed {s.get('seed')}, "
            f"{len(self.trials)} trials ({s.get('search')} search)\n"
        )
        body = "".join(f"{_toml_key(k)} = {_toml_value(v, k)}\n" for k, v in self.best.items())
        return f"{header}[overrides.{_toml_key(self.solver)}]\n{body}"


def tune(
    solver: Any,
    *,
    prior: Any = AUTO_PRIOR,
    task: Any,
    grid: dict[str, list[Any]] | None = None,
    search: str = "grid",
    num_trials: int | None = None,
    metric: str = "psnr",
    dataset: str | os.PathLike[str] = "validation",
    num_images: int = 2,
    steps: int | None = None,
    sigma: float = DEFAULT_SIGMA,
    size: int | None = None,
    channels: int | None = None,
    rescale: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    output: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TuneResult:
    """Sweep the options of ``solver`` on ``task`` and pick the best configuration by ``metric``.

    Args:
        solver: a solver name (see :func:`reddiff_imaging.solvers.available`), a Solver object (its
            settings are the base every configuration changes) or class, or ``module:attribute``.
        prior: a prior as :func:`~reddiff_imaging.workbench.compare` takes it (name, spec, object,
            deepinv denoiser, factory or ``module:attribute``); ``auto`` (the default) is the phantom
            prior for the bundled phantom images and the natural-image prior otherwise
            (:func:`~reddiff_imaging.workbench.specs.auto_prior`), named in a note.
        task: a task as :func:`~reddiff_imaging.workbench.compare` takes it (name, operator,
            factory or ``module:attribute``).
        grid: ``{option: [values]}``; default the solver's
            :attr:`~reddiff_imaging.solvers.Solver.tuning_grid`. A best value at
            the smallest or largest number of an option's grid is reported (a warning,
            :attr:`TuneResult.at_edge` and a note in :meth:`TuneResult.to_markdown`).
        search: ``"grid"`` (every combination, in the order of :func:`itertools.product`) or
            ``"random"`` (``num_trials`` distinct combinations drawn with ``seed``).
        num_trials: number of random configurations (required by random search; all combinations
            when it is larger than the grid). Not used by grid search.
        metric: ``psnr`` or ``ssim`` (higher is better) or ``seconds`` (lower is better), averaged
            over the images; a trial that diverged on any image ranks last. Ties keep the first.
        dataset: ``validation`` (the default, see the module docs) or any spec that
            :func:`~reddiff_imaging.workbench.specs.load_dataset` accepts.
        num_images: how many images.
        steps: iteration count for the solver (its ``steps`` option) unless the grid
            sets it; default the solver's own.
        sigma: measurement noise level (public units).
        size: side of the generated ``validation``/``heldout`` images (default: the network prior's
            training side, else 64); for files, crop the centred square and resize it to
            ``size × size`` (default: their own size).
        channels: 1 converts colour images to gray, 3 repeats gray ones (see
            :func:`~reddiff_imaging.workbench.specs.load_dataset`).
        rescale: stretch each image of a folder dataset from its own range onto ``[0, 1]``.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seed of the measurements, the solvers and the random search.
        output: write the chosen options to this ``.toml`` file (``[overrides.<solver>]``). An existing
            file written by ``tune`` keeps the tables of the other solvers (a table of this solver
            is replaced), so several tunes can fill one file; any other existing file is an error
            before any work, never overwritten.
        progress: show a progress bar.

    Under ``torchrun`` the ranks share the configurations (see
    :mod:`reddiff_imaging.workbench.distributed`); every rank returns the result, rank 0 writes ``output``.

    Raises:
        ValueError: unknown solver, prior, task, metric, search or grid option (the message lists
            the solver's options), an invalid option value, a prior the solver cannot use, a task
            the solver cannot handle, or a grid value that TOML cannot hold when ``output`` is set.
        RuntimeError: every configuration diverged.
    """
    _check_metric(metric)
    if search not in ("grid", "random"):
        raise ValueError(f"search must be 'grid' or 'random', got {search!r}")
    check_int(num_images, "num_images")
    if steps is not None:
        check_int(steps, "steps")
    check_real(sigma, "sigma", low=0.0)
    check_int(seed, "seed", minimum=0)
    check_bool(rescale, "rescale")
    if output is not None:
        check_tune_output(output, "output")
    auto = isinstance(prior, str) and prior == AUTO_PRIOR
    solver_part, prior_part, task_part = single_parts(solver, "default" if auto else prior, task)
    dataset = dataset_spec(dataset)
    if dataset != "validation" or rescale:  # the other names, before the prior is built and asked what it can do
        check_dataset_spec(dataset, rescale)
        check_outside_dataset(dataset, {"output": output})
    auto_notes = []
    if auto:
        prior_name, why = auto_prior(_dataset_channels(dataset, size, channels, rescale), dataset)
        prior_part = one_part(prior_name, "prior")
        auto_notes.append(f"prior {AUTO_PRIOR!r} is {prior_name!r}: {why}; choose another with prior (--prior)")
    if output is not None:  # an existing file that tune may not replace is refused before any work
        _other_solvers_tables(Path(output), solver_part.label)
    base = build_solver(solver_part.value, {})
    solver, prior, task = solver_part.label, prior_part.label, task_part.label
    checked_grid = _check_grid(base, solver, grid)
    configs = _configurations(checked_grid, search, num_trials, seed)
    methods = [Method.of(solver_part, prior, config) for config in configs]
    for method in methods:  # invalid values fail here, before any work
        method.build(steps)
    if output is not None:
        for config in configs:
            for key, value in config.items():
                _toml_value(value, key)

    world = distributed.world(resolve_device(device))
    device = world.device
    the_prior = usable_prior(prior_part, device, base, solver)
    for method in methods:  # e.g. steps in the grid beyond a diffusion prior's timesteps
        method.build(steps).check_options(the_prior)
    images, notes = _images(dataset, num_images, size, channels, rescale, prior_image_shape(the_prior))
    images = images_to(images, device)
    shape_notes = [f"prior {prior!r}: {note}" for note in image_notes(the_prior, image_shapes(images), solver)]
    for line in [*auto_notes, *notes, *shape_notes] if world.rank == 0 else []:
        print(f"note: {line}")
    measured = measure(task_part, images, sigma, seed)

    mine: dict[int, Trial] = {}  # under torchrun the ranks share the configurations
    bar = tqdm(total=len(methods) * len(images), desc=f"tune {solver}", disable=not progress or world.rank != 0)
    try:
        for k in world.claim(len(methods)):
            mine[k] = _run_trial(methods[k], methods[k].build(steps), the_prior, measured, seed, bar)
    finally:
        bar.close()
    trials = world.gather(mine, len(methods))

    scores = [t.mean(metric) for t in trials]
    best_index = min(range(len(trials)), key=lambda k: (_sort_key(scores[k], metric), k))
    if math.isnan(scores[best_index]):
        raise RuntimeError(f"every configuration of {solver!r} diverged on {task!r}; try smaller step sizes in the grid")
    result = TuneResult(
        solver=solver,
        prior=prior,
        task=task,
        metric=metric,
        best=dict(trials[best_index].options),
        best_score=scores[best_index],
        trials=trials,
        settings={
            "dataset": dataset,
            "num_images": len(images),
            "steps": steps,
            "sigma": sigma,
            "seed": seed,
            "search": search,
            "grid": checked_grid,
        },
        at_edge=_at_edge(checked_grid, trials[best_index].options),
    )
    for note in result.edge_notes():
        warnings.warn(note, GridEdgeWarning, stacklevel=2)
    if output is not None:
        path = Path(output)
        if world.rank == 0:
            # read again: another tune may have written its table into the file meanwhile (kept), or
            # something else replaced it (refused, not overwritten); the write is atomic, so a crash
            # leaves the earlier tables whole
            write_text_atomic(path, _other_solvers_tables(path, solver_part.label) + result.to_toml())
        result.output = path
    return result


# -- helpers -----------------------------------------------------------------------------------------
def _run_trial(method: Method, built: Solver, prior: Prior, measured: Measurements, seed: int, bar: tqdm) -> Trial:
    """Solve every image with one configuration (``method.overrides``) and collect its metrics."""
    psnr, ssim, seconds = [], [], []
    for index in range(len(measured)):
        problem = measured.problem(index)
        require_task_support(built, problem, prior, method.solver, measured.task)  # e.g. DDRM without an SVD
        unit = solve_unit(built, problem, prior, unit_seed(seed, measured.task, method.label, index), metrics_every=0)
        if math.isnan(unit.psnr):
            bar.write(f"{method.solver} {method.overrides} diverged on image {index}")
        psnr.append(unit.psnr)
        ssim.append(unit.ssim)
        seconds.append(unit.seconds)
        bar.update(1)
    return Trial(dict(method.overrides), psnr, ssim, seconds)


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    return metric


def _sort_key(score: float, metric: str) -> float:
    """Smaller is better; NaN (diverged) last."""
    if math.isnan(score):
        return math.inf
    return -score if METRICS[metric] else score


def _at_edge(grid: dict[str, list[Any]], best: dict[str, Any]) -> dict[str, str]:
    """Options whose best value is the smallest or largest of two or more numbers in their grid."""
    edges = {}
    for name, values in grid.items():
        numbers = sorted({v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if len(numbers) >= 2 and best.get(name) in (numbers[0], numbers[-1]):
            edges[name] = "smallest" if best[name] == numbers[0] else "largest"
    return edges


def _check_grid(base: Solver, solver: str, grid: Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]]:
    if grid is None:
        if not base.tuning_grid:
            raise ValueError(f"solver {solver!r} has no default grid; pass grid={{option: [values]}}")
        return {k: list(v) for k, v in base.tuning_grid.items()}
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict {{option: [values]}}, got {grid!r}")
    options = [f.name for f in dataclasses.fields(base)]
    checked = {}
    for name, values in grid.items():
        if name not in options:
            raise ValueError(f"grid option {name!r} is not an option of solver {solver!r}; its options are {options}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid values of {name!r} must be a non-empty list, got {values!r}")
        checked[name] = list(values)
    return checked


def _configurations(grid: dict[str, list[Any]], search: str, num_trials: int | None, seed: int) -> list[dict[str, Any]]:
    names = list(grid)
    combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]
    if search == "grid":
        if num_trials is not None:
            raise ValueError("num_trials is for search='random'; grid search runs every combination")
        return combos
    if num_trials is None:
        raise ValueError("random search needs num_trials, a positive int, got None")
    num_trials = check_int(num_trials, "num_trials")
    picks = random.Random(seed).sample(range(len(combos)), min(num_trials, len(combos)))
    return [combos[k] for k in picks]


def _images(
    dataset: str, num_images: int, size: int | None, channels: int | None, rescale: bool, expected: tuple[int, ...] | None
) -> tuple[Images, list[str]]:
    side = size or (expected[-1] if expected is not None else 64)
    if dataset == "validation" and not rescale:
        images = validation_images(num_images, side)
        wanted = channels or (expected[0] if expected is not None else 1)
        if wanted != images.shape[1]:  # grayscale scenes for an RGB prior
            images = images.expand(-1, wanted, -1, -1).contiguous()
        return images, []
    if dataset == "heldout":
        warnings.warn(
            "tuning on the held-out test images: the chosen configuration would be evaluated on the images "
            "it was tuned on; use dataset='validation'",
            stacklevel=3,
        )
    return load_dataset(dataset, num_images, side if dataset == "heldout" else size, channels, rescale)


def _dataset_channels(dataset: str, size: int | None, channels: int | None, rescale: bool) -> int:
    """The channels of the images a sweep will read: ``channels`` when given, 1 for the bundled
    phantom images, else those of the dataset's first image (read here)."""
    if channels is not None:
        return channels
    if dataset in PHANTOM_DATASETS:
        return 1
    return int(load_dataset(dataset, 1, size, None, rescale)[0][0].shape[0])


def check_tune_output(path: str | os.PathLike[str], name: str) -> Path:
    """Refuse, naming ``name``, an output of :func:`tune` that cannot be written or whose name does
    not end in ``.toml`` (the TOML it writes would land in a ``.json`` or ``.h5``)."""
    return check_output_file(path, name, (".toml",), "a TOML configuration")


def _other_solvers_tables(path: Path, solver: str) -> str:
    """The text of the tables of other solvers than ``solver`` in an earlier output of ``tune`` at
    ``path`` (empty when there is none), or a ValueError when ``path`` holds anything else."""
    if not path.is_file():
        return ""
    refuse = f"output {str(path)!r} exists and"
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write
        keys = set(tomllib.loads(text))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise ValueError(f"{refuse} is not a TOML file; tune would replace it: choose another file") from None
    if keys - {"overrides"}:
        raise ValueError(
            f"{refuse} holds {', '.join(sorted(keys - {'overrides'}))} besides [overrides] tables (a compare configuration?); "
            "tune writes [overrides.<solver>] tables only: choose another file"
        )
    kept = []
    for block in re.split(r"(?m)^(?=# reddiff-imaging tune: )", text):  # one block per earlier tune
        if not block.strip():
            continue
        try:
            tables = tomllib.loads(block).get("overrides") if block.startswith("# reddiff-imaging tune: ") else None
        except tomllib.TOMLDecodeError:
            tables = None
        if not isinstance(tables, dict) or len(tables) != 1:
            raise ValueError(f"{refuse} was not written by tune (one commented [overrides.<solver>] table per run): choose another file")
        if solver not in tables:
            kept.append(block.rstrip("\n") + "\n\n")
    return "".join(kept)


def _toml_key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return _toml_string(key)


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for c in text:
        if c in escapes:
            out.append(escapes[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, key: str) -> str:
    """A TOML literal of a bool, int, float or str (ValueError for anything else)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise ValueError(f"option {key!r} = {value!r} cannot be written to TOML; use ints, floats, strings or bools")


def __getattr__(name: str) -> object:
    if name == "DEFAULT_GRIDS":  # deprecated alias, kept for one release: the grids moved to the solver classes
        warnings.warn(
            "reddiff_imaging.workbench.tune.DEFAULT_GRIDS is deprecated; each solver declares its grid as "
            "the class attribute tuning_grid (solvers.registry.solver_class(name).tuning_grid)",
            DeprecationWarning,
            stacklevel=2,
        )
        classes = (solvers_registry.solver_class(solver) for solver in solvers_registry.available())
        return {cls.name: {k: list(v) for k, v in cls.tuning_grid.items()} for cls in classes if cls.tuning_grid}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
