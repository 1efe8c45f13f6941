"""Run solvers × priors × tasks on a dataset and store everything in one HDF5 results file.

A comparison is a set of independent units — (task, method, image) — each with a seed derived
from the run seed and the unit itself. Units are written one by one, each synced to the disk, into
a shard of the results file (:mod:`reddiff_imaging.workbench.store`); rerunning the same comparison
into the same file skips the units already in the file or a shard. The results file itself is only
replaced whole: with the run and its tasks at the start, with the shards' units at the end (also
when a single process is interrupted by an exception such as Ctrl-C).

Under ``torchrun`` the ranks share the units (see :mod:`reddiff_imaging.workbench.distributed`):
each writes its own shard of the results file, and rank 0 merges the shards into the file at the
end, which then holds what a single process would have written."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version as _installed_version
from typing import Any

import torch
from tqdm.auto import tqdm

from reddiff_imaging import __version__
from reddiff_imaging._validation import (
    MAX_IMAGE_SIDE,
    check_bool,
    check_choice,
    check_int,
    check_real,
)
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import Solver, presets
from reddiff_imaging.workbench import distributed
from reddiff_imaging.workbench.parts import Part, parts
from reddiff_imaging.workbench.plan import (
    Measurements,
    image_notes,
    measure,
    resolve_device,
    simulate_measurements,
    solve_unit,
)
from reddiff_imaging.workbench.specs import (
    AUTO_PRIOR,
    DEFAULT_SIGMA,
    Method,
    auto_prior,
    build_prior,
    check_dataset_spec,
    check_outside_dataset,
    dataset_spec,
    check_unique_methods,
    image_shapes,
    images_to,
    load_dataset,
    methods_for,
    parse_overrides,
    supports,
    unit_seed,
)
from reddiff_imaging.workbench.store import (
    ResultsStore,
    check_member_name,
    check_results_file,
    completed_units,
    legacy_shards,
    merge_shards,
    rewrite,
    shard_path,
    writer_lock,
)
from reddiff_imaging.workbench.table import ComparisonTable

#: ``resolve_device``, ``simulate_measurements`` and ``solve_unit`` live in
#: :mod:`reddiff_imaging.workbench.plan` (shared with tune and restore) and stay importable from here
__all__ = ["UnitCallback", "check_options", "compare", "resolve_device", "simulate_measurements", "solve_unit"]

UnitCallback = Callable[[str, str, int], None]


def compare(
    tasks: Sequence[Any] | Mapping[str, Any],
    solvers: Sequence[Any] | Mapping[str, Any],
    priors: Sequence[Any] | Mapping[str, Any] = (AUTO_PRIOR,),
    *,
    overrides: dict[str, dict[str, Any]] | Sequence[str] | None = None,
    preset: str | None = None,
    dataset: str | os.PathLike[str] = "heldout",
    num_images: int = 4,
    size: int | None = None,
    channels: int | None = None,
    rescale: bool = False,
    steps: int | None = None,
    sigma: float = DEFAULT_SIGMA,
    device: str | torch.device = "auto",
    seed: int = 0,
    output: str | os.PathLike[str] = "results.h5",
    run: str = "comparison",
    progress: bool = True,
    unit_callback: UnitCallback | None = None,
) -> ComparisonTable:
    """Compare methods on tasks and return the table; all results go to ``output``.

    Every part can be the user's own (see :mod:`reddiff_imaging.workbench.parts`): a list of
    names, objects, factories and ``module:attribute`` references, or a mapping ``{label: part}``
    that chooses the labels shown in the table. The results file records the spec and a SHA-256
    fingerprint of every part that is not a registry name, so a rerun into it checks them.

    Args:
        tasks: task names (see :func:`reddiff_imaging.operators.registry.available`), operators
            (their ``in_shape`` must be the images' shape) or factories ``factory(shape)``.
        solvers: solver names, Solver objects or classes; each runs with every prior in ``priors``
            that it supports; ``"solver/prior"`` runs a named solver with that prior only.
        priors: prior names (:func:`reddiff_imaging.priors.registry.available`), specs
            (``checkpoint:PATH``, ``drunet:PATH``, ``adm-ffhq256:PATH``,
            ``adm-imagenet256:PATH``, with ``?option=value`` options; ``channelwise:NAME``,
            ``gray:NAME``), Prior objects, deepinv denoisers or factories. ``auto`` (the
            default; also in ``"solver/auto"``) stands for the prior that suits the images, named
            in a note: the phantom prior ``default`` for the bundled phantom images (``heldout``),
            otherwise ``natural`` for colour images and ``gray:natural`` for gray ones
            (:func:`~reddiff_imaging.workbench.specs.auto_prior`).
        overrides: solver options, as ``{"reddiff": {"lam": 0.5}}`` or ``["reddiff.lam=0.5"]``,
            keyed by a solver's label or registry name; a key of a solver not in the run is an error.
        preset: a preset of :mod:`reddiff_imaging.solvers.presets` (``"paper"``) for the named
            solvers that have it, per task; ``steps`` and ``overrides`` still win. A task without a
            setting in the preset is an error before any work.
        dataset: ``heldout``, an HDF5 file (``file.h5[:key]``) or a folder of images, as text or a
            path object (images read at their own size, channels and bit depth; images of different sizes are each solved at
            their own size, with the task's operator built for it; see
            :func:`~reddiff_imaging.workbench.specs.load_dataset`).
        num_images: how many images of the dataset.
        size: crop the centred square of each image and resize it to ``size × size`` (the side of
            the generated ``heldout`` images; default 64 there, the images' own size otherwise).
        channels: 1 converts colour images to gray, 3 repeats gray ones; default: as stored. A
            prior that cannot take the images' channels is an error before any work (run a
            one-channel prior on colour images with ``channelwise:NAME``).
        rescale: stretch each image of a folder dataset from its own range onto ``[0, 1]`` (for
            scans that use part of their type's range, or float images in physical units); σ and
            the metrics then refer to that range.
        steps: iteration count for every solver (its ``steps`` option) unless
            an override sets it.
        sigma: standard deviation of the Gaussian measurement noise (public units).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: run seed; every unit's seed derives from it and the unit's identity.
        output: the HDF5 results file, named ``.h5``, ``.hdf5`` or ``.hdf`` (created, or resumed when it
            holds this run); not in the image folder ``dataset`` reads, nor its HDF5 file.
        run: name of the run inside the file.
        progress: show a progress bar.
        unit_callback: called as ``unit_callback(task, method, index)`` after each unit is stored
            (on the rank that computed it).

    Under ``torchrun`` every rank calls this with the same arguments and gets the table; the ranks
    share the units (:mod:`reddiff_imaging.workbench.distributed`).
    """
    check_options(tasks=tasks, solvers=solvers, priors=priors, num_images=num_images, size=size, steps=steps,
                  sigma=sigma, seed=seed, output=output, run=run)
    world = distributed.world(resolve_device(device))
    device = world.device
    parsed = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides or [])
    task_parts = parts(tasks, "task")
    for part in task_parts:  # each is a group of the results file
        check_member_name(part.label, "tasks: label")
    prior_parts = {part.label: part for part in parts(priors, "prior")}
    methods = methods_for(solvers, list(prior_parts), parsed)
    check_bool(rescale, "rescale")
    dataset = dataset_spec(dataset)
    check_dataset_spec(dataset, rescale)
    check_outside_dataset(dataset, {"output": output})  # the figures drawn beside it would be read as images
    if preset is not None:
        check_choice(preset, "preset", presets.names())  # a name no solver has would be ignored by every one
        methods = [dataclasses.replace(m, preset=preset) if m.solver_value is None and preset in presets.available(m.solver) else m for m in methods]
        for method in methods:
            for part in task_parts:
                method.build(steps, part.label)  # an unknown preset or a task without a setting fails here
    check_bool(rescale, "rescale")
    images, notes = load_dataset(dataset, num_images, size, channels, rescale)
    images = images_to(images, device)
    if len(images) < num_images and world.rank == 0:
        print(f"dataset {dataset!r} holds {len(images)} images; using all of them")
    shapes = image_shapes(images)
    auto = prior_parts.get(AUTO_PRIOR)
    if any(m.prior == AUTO_PRIOR for m in methods) and (auto is None or auto.value == AUTO_PRIOR):
        resolved, why = auto_prior(shapes[0][0], dataset)
        methods = [dataclasses.replace(m, prior=resolved) if m.prior == AUTO_PRIOR else m for m in methods]
        check_unique_methods(methods, f"prior {AUTO_PRIOR!r} is {resolved!r} here")
        notes.append(f"prior {AUTO_PRIOR!r} is {resolved!r}: {why}; choose another with priors (--priors)")
    records: dict[str, dict[str, str]] = {}  # what was used of the user's own parts
    prior_cache: dict[str, Prior] = {}
    for method in methods:
        if method.prior not in prior_cache:
            part = prior_parts.get(method.prior) or Part(method.prior, method.prior, method.prior)
            prior = build_prior(part.value, device)
            notes += [f"prior {method.prior!r}: {note}" for note in image_notes(prior, shapes, method.label)]
            prior_cache[method.prior] = prior
            if not part.named:
                records[f"prior {part.label}"] = part.record(prior)
    for method in methods:  # e.g. more steps than a diffusion prior has timesteps: refused before any unit
        for part in task_parts:
            method.build(steps, part.label).check_options(prior_cache[method.prior])
    for method in methods:
        if method.solver_value is not None:
            records[f"solver {method.solver}"] = {"spec": _solver_spec(method.solver_value), "config": _json(method.build())}
    for note in notes if world.rank == 0 else []:
        print(f"note: {note}")
    config: dict[str, Any] = {
        "tasks": [part.label for part in task_parts],
        "methods": [{"solver": m.solver, "prior": m.prior, "overrides": m.overrides} for m in methods],
        "dataset": dataset,
        "num_images": len(images),
        "size": size,
        **({"channels": channels} if channels is not None else {}),  # files written before the option stay resumable
        **({"rescale": True} if rescale else {}),
        "steps": steps,
        "sigma": sigma,
        "seed": seed,
    }
    if preset is not None:  # only then, so that results files written before presets still resume
        config["preset"] = preset
    versions = {"reddiff_imaging": __version__, "torch": torch.__version__, "deepinv": _installed_version("deepinv"), "python": platform.python_version()}
    problems: dict[str, Measurements] = {}
    for part in task_parts:
        problems[part.label] = measure(part, images, sigma, seed)
        if not part.named:
            records[f"task {part.label}"] = part.record(problems[part.label].operator)
    if records:  # only then, so that files of runs with registry names alone stay resumable
        config["parts"] = records
    runnable = []
    for method in methods:
        built = method.build(steps, next(iter(problems)))  # what it requires does not depend on the task
        support = supports(built, prior_cache[method.prior])
        if support:
            runnable.append(method)
        elif world.rank == 0:
            print(f"skipped {method.label} on every task: {support.message}")
    units = [(task, method, index) for task in problems for method in runnable for index in range(len(images))]

    def start(store: ResultsStore) -> None:  # the run and its tasks, written into a copy of the results file
        store.open_run(run, config, seed=seed, device=str(device), versions=versions)
        for task, measured in problems.items():
            store.write_task(run, task, images, measured.y, {"description": task, "sigma": sigma, "operator": "; ".join(map(repr, measured.operators.values()))})

    pending: list[tuple[str, Method, int]] = []
    with contextlib.ExitStack() as held:
        if world.rank == 0:  # holds the results file's lock until the merge; writes the list of units still to do
            held.enter_context(writer_lock(output, run))
            rewrite(output, start)
            done = completed_units(output, run, config)
            merge_shards(output, run)  # units an interrupted run left in shards: safe from a crash that damages a shard
            for old in legacy_shards(output, run):
                print(
                    f"note: {str(old)!r} looks like a shard left by an interrupted distributed run of an older reddiff-imaging "
                    "(named without the results file's suffix, so r.h5 and r.hdf5 shared it); it is not merged: its units, "
                    "if they belong to this run, are computed again. Delete it when you no longer need it"
                )
            pending = [(task, method, index) for task, method, index in units if (task, method.label, index) not in done]
        pending = world.broadcast(pending)

        bar = tqdm(total=len(units), initial=len(units) - len(pending), desc="compare", disable=not progress or world.rank != 0)
        refused: set[tuple[str, str]] = set()  # (task, method) pairs whose solver refused the operator
        try:  # every process writes its units into its own shard, never into the results file
            with ResultsStore(shard_path(output, world.rank), "a") as store:
                store.open_run(run, config, seed=seed, device=str(device), versions=versions)
                for claimed in world.claim(len(pending)):
                    task, method, index = pending[claimed]
                    problem = problems[task].problem(index)
                    stored = (task, method.label) not in refused and _run_unit(
                        store, run, task, method, index, problem, prior_cache[method.prior], steps, seed, bar, refused
                    )
                    if stored and unit_callback is not None:
                        unit_callback(task, method.label, index)
                    bar.update(len(units) - len(pending) + claimed + 1 - bar.n)  # the bar counts units claimed by any rank
        except BaseException:
            if world.size == 1:  # interrupted (Ctrl-C, an error): the units done so far go into the results file
                _merge_interrupted(output, run)
            raise
        world.barrier()
        if world.rank == 0:
            merge_shards(output, run)
    bar.update(bar.total - bar.n)
    bar.close()
    world.barrier()
    return ComparisonTable.from_results(output, run)


def check_options(
    *,
    tasks: object,
    solvers: object,
    priors: object,
    num_images: object,
    size: object,
    steps: object,
    sigma: object,
    seed: object,
    output: str | os.PathLike[str],
    run: object,
) -> None:
    """Check the arguments of :func:`compare` before any work (each error names its argument)."""
    for name, names in (("tasks", tasks), ("solvers", solvers), ("priors", priors)):
        if isinstance(names, str) or not isinstance(names, (Sequence, Mapping)) or not names:  # items: see parts()
            raise TypeError(f"{name} must be a non-empty list or mapping of parts (names, objects, factories), got {names!r}")
    check_int(num_images, "num_images")
    if size is not None:
        check_int(size, "size", maximum=MAX_IMAGE_SIDE)
    if steps is not None:
        check_int(steps, "steps")
    check_real(sigma, "sigma", low=0.0)
    check_int(seed, "seed", minimum=0)
    if not isinstance(run, str) or not run or "/" in run or run in (".", ".."):
        raise ValueError(f"run must be a non-empty name without '/', got {run!r}")
    check_results_file(output, "output")


def _run_unit(
    store: ResultsStore,
    run: str,
    task: str,
    method: Method,
    index: int,
    problem: InverseProblem,
    prior: Prior,
    steps: int | None,
    seed: int,
    bar: tqdm,
    refused: set[tuple[str, str]],
) -> bool:
    """Solve one unit and store it. A solver that refuses the operator stores nothing, adds
    ``(task, method.label)`` to ``refused`` and returns False."""
    solver = method.build(steps, task)
    support = solver.check(problem, prior)
    if not support:  # e.g. DDRM without an SVD
        bar.write(f"skipped {method.label} on {task}: {support.message}")
        refused.add((task, method.label))
        return False
    unit = solve_unit(solver, problem, prior, unit_seed(seed, task, method.label, index))
    if math.isnan(unit.psnr):
        bar.write(f"{method.label} on {task}, image {index}: the iterate stopped being finite")
    store.write_unit(run, task, method.label, index, unit, {"solver": method.solver, "prior": method.prior, "config": _json(solver)})
    return True


def _merge_interrupted(output: str | os.PathLike[str], run: str) -> None:
    """Merge the shard of an interrupted single-process run; a failure is a note (the shard stays,
    and the next run merges it), never an error that would hide the interruption."""
    try:
        merge_shards(output, run)
    except Exception as err:
        print(f"note: the units of this run stay in {str(shard_path(output, 0))!r} (not merged: {err}); the next run merges them")


def _solver_spec(value: object) -> str:
    if isinstance(value, str):
        return value
    cls = value if isinstance(value, type) else type(value)
    return f"{cls.__module__}:{cls.__qualname__}"


def _json(solver: Solver) -> str:
    """The solver's options as JSON: numbers, strings, booleans and None as they are, the ``repr`` of the rest."""
    return json.dumps({k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)) for k, v in dataclasses.asdict(solver).items()})
