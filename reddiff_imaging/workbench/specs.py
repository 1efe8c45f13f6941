"""What a comparison is made of: tasks, priors, methods (solver × prior with overrides), datasets.

Names a user types (tasks, solvers, priors, overrides such as ``reddiff.lam=0.5``) are parsed
here, with errors that list the valid choices.
"""

from __future__ import annotations

import collections
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging import metrics, operators, solvers
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.priors import Prior
from reddiff_imaging.solvers import presets
from reddiff_imaging.solvers.capabilities import Support
from reddiff_imaging.workbench.parts import (
    Part,
    build_operator,
    build_prior,
    build_solver,
    deprecated_priors,
    is_reference,
    parse_value,
    parts,
)

__all__ = [
    "AUTO_PRIOR",
    "DEFAULT_SIGMA",
    "DEMO_TASKS",
    "Images",
    "Method",
    "auto_prior",
    "build_prior",
    "build_task",
    "check_overrides",
    "image_shapes",
    "images_to",
    "check_scorable",
    "dataset_spec",
    "load_dataset",
    "methods_for",
    "parse_overrides",
    "parse_value",
    "prior_image_shape",
    "supports",
    "unit_seed",
]

#: tasks of the demo and their measurement noise (public units)
DEMO_TASKS = ("inpainting-box", "inpainting-random", "sr4-block", "deblur-gaussian", "ct", "mri4")
DEFAULT_SIGMA = 0.01
#: the prior name that stands for the prior that suits the images (:func:`auto_prior`)
AUTO_PRIOR = "auto"
#: a dataset's images in ``[0, 1]``: one batch ``(N, C, H, W)`` when they share their size, else a
#: list of ``(C, H, W)`` images, each at its own size (``images[i]`` is image ``i`` either way)
Images = Tensor | list[Tensor]
#: the bundled phantom image sets (compare's and tune's default datasets), which the phantom prior was trained for
PHANTOM_DATASETS = ("heldout", "validation")


def auto_prior(channels: int, dataset: str | None = None) -> tuple[str, str]:
    """The prior :data:`AUTO_PRIOR` stands for, and why: the phantom prior ``default`` for the
    bundled phantom images (``dataset`` ``heldout`` or ``validation``), otherwise the natural-image
    prior, ``natural`` for colour images and ``gray:natural`` for gray ones."""
    if dataset in PHANTOM_DATASETS:
        return "default", f"the phantom prior for the bundled phantom images of {dataset!r}"
    if channels == 1:
        return "gray:natural", "the natural-image prior for 1-channel images"
    return "natural", f"the natural-image prior for {channels}-channel images"

@dataclass(frozen=True)
class Method:
    """A solver with a prior, an optional preset (:mod:`reddiff_imaging.solvers.presets`) and option
    overrides; its label names it in results.

    ``solver`` is the solver's label: its registry name, or the label of a user's solver given in
    ``solver_value`` (a :class:`~reddiff_imaging.solvers.Solver`, a Solver class or a
    ``module:attribute`` reference, see :mod:`reddiff_imaging.workbench.parts`).
    """

    solver: str
    prior: str
    overrides: dict[str, Any] = field(default_factory=dict)
    solver_value: Any = field(default=None, compare=False)
    preset: str | None = None

    @classmethod
    def of(cls, solver: Part, prior: str, overrides: Mapping[str, Any] | None = None) -> Method:
        """The method of a solver part (a registry name, or the user's solver kept as
        ``solver_value``) with the prior labelled ``prior`` and the option ``overrides``."""
        return cls(solver.label, prior, dict(overrides or {}), None if solver.named else solver.value)

    @property
    def label(self) -> str:
        """``solver[prior]``, usable as an HDF5 group name (slashes of paths become ``|``)."""
        return f"{self.solver.replace('/', '|')}[{self.prior.replace('/', '|')}]"

    def build(self, steps: int | None = None, task: str | None = None) -> solvers.Solver:
        """The configured solver: the preset's options for ``task`` (when the method has a preset),
        then ``steps`` as its iteration count, then the overrides, each over the one before."""
        options = dict(self.overrides)
        if self.preset is not None:
            if task is None:
                raise ValueError(f"{self.label} has preset {self.preset!r}, which needs the task to build the solver")
            chosen = presets.options(self.solver, self.preset, task)
            options = {**{k: v for k, v in chosen.items() if steps is None or k != "steps"}, **options}
        return build_solver(self.solver if self.solver_value is None else self.solver_value, options, steps)


def check_unique_methods(methods: Sequence[Method], given: str) -> None:
    """Refuse two methods with one label (the second would find the first's units done); ``given``
    says what they came from, for the message."""
    counts = collections.Counter(method.label for method in methods)
    if repeated := sorted(label for label, count in counts.items() if count > 1):
        raise ValueError(f"methods {repeated} appear more than once ({given}); give each once")


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``solver.option=value`` strings into ``{solver: {option: value}}``.

    Values are Python literals (``0.5``, ``"adam"``, ``True``); a bare word is taken as a string.
    Whether the solver is in the run is checked by :func:`check_overrides`.
    """
    parsed: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        solver, dot, option = key.strip().partition(".")
        if not sep or not dot or not solver or not option:
            raise ValueError(f"override {item!r} must look like solver.option=value, e.g. reddiff.lam=0.5")
        parsed.setdefault(solver, {})[option] = parse_value(raw)
    return parsed



def prior_image_shape(prior: Prior) -> tuple[int, ...] | None:
    """The image shape a network prior was trained on (the default size of generated datasets), or
    None for priors without one. Network priors also run at other sizes (see
    :meth:`~reddiff_imaging.priors.Prior.check_image_shape`)."""
    network = getattr(prior, "network", None)
    config = getattr(network, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return (config.in_channels, config.image_size, config.image_size)
    return None


def supports(solver: str | solvers.Solver | type[solvers.Solver], prior: Prior) -> Support:
    """Whether ``solver`` (a name, a Solver or its class, built with its defaults) can run with
    ``prior``: its :meth:`~reddiff_imaging.solvers.Solver.check` of the prior alone (true or the
    reasons why not)."""
    built = solvers.registry.solver_class(solver)() if isinstance(solver, str) else solver() if isinstance(solver, type) else solver
    return built.check(prior=prior)


def check_overrides(overrides: dict[str, dict[str, Any]], run_solvers: Sequence[str]) -> None:
    """Raise ValueError for overrides of a solver that is not in the run (``run_solvers``: the
    labels and registry names of the run's solvers), naming the keys and the run's solvers."""
    unused = sorted(f"{solver}.{option}" for solver, options in overrides.items() if solver not in run_solvers for option in options)
    if unused:
        raise ValueError(
            f"option(s) {', '.join(unused)} set for a solver that is not in this run; "
            f"the run's solvers are {', '.join(dict.fromkeys(run_solvers))}"
        )


def methods_for(
    solver_values: Sequence[Any] | Mapping[str, Any], prior_names: Sequence[str], overrides: dict[str, dict[str, Any]]
) -> list[Method]:
    """Methods from solvers (a name is crossed with every prior in ``prior_names``, ``solver/prior``
    runs with that prior only; objects, classes and ``module:attribute`` references are crossed with
    every prior) and per-solver ``overrides`` keyed by a solver's label or registry name.

    Raises:
        ValueError: unknown solver, unknown option, or overrides of a solver not in the run.
    """
    methods = []
    run_solvers: list[str] = []
    pairs = [] if isinstance(solver_values, Mapping) else [v for v in solver_values if isinstance(v, str) and "/" in v and not is_reference(v)]
    singles = solver_values if isinstance(solver_values, Mapping) else [v for v in solver_values if v not in pairs]
    for item in pairs:
        solver, _, prior = item.partition("/")
        cls = solvers.registry.solver_class(solver)  # an unknown name fails here
        run_solvers.append(solver)
        methods.append(Method(solver, prior, cls.current_options(overrides.get(solver, {}))))
    for part in parts(singles, "solver"):
        if part.named:
            cls = solvers.registry.solver_class(part.label)
            names = [part.label]
        else:
            cls = part.value if isinstance(part.value, type) else type(part.value)
            names = [part.label, getattr(cls, "name", part.label)]
        run_solvers.extend(names)
        options = {k: v for name in reversed(names) for k, v in overrides.get(name, {}).items()}
        if isinstance(cls, type) and issubclass(cls, solvers.Solver):  # results files record current names
            options = cls.current_options(options)
        methods.extend(Method.of(part, prior, options) for prior in prior_names)
    check_overrides(overrides, run_solvers)
    check_unique_methods(methods, f"solvers {list(solver_values)} with priors {list(prior_names)}")
    for method in methods:  # validate option names and values before any work is done
        try:
            method.build()
        except (TypeError, ValueError) as err:
            if not method.overrides:
                raise
            kind = TypeError if isinstance(err, TypeError) else ValueError  # name the solver: the user typed solver.option
            raise kind(f"override of solver {method.solver!r}: {err}") from err
    return methods


def build_task(name: Any, shape: tuple[int, ...], sigma: float) -> tuple[operators.Operator, Gaussian]:
    """The operator of task ``name`` (a name, an Operator, a factory or a ``module:attribute``
    reference, see :func:`~reddiff_imaging.workbench.parts.build_operator`) for images of
    ``shape``, and its noise model."""
    return build_operator(name, shape), Gaussian(sigma)


def unit_seed(seed: int, *parts: object) -> int:
    """A seed for one unit of work, derived from the run seed and the unit's identity only (never
    from the order in which units run)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def load_dataset(
    spec: str, num_images: int, size: int | None, channels: int | None = None, rescale: bool = False
) -> tuple[Images, list[str]]:
    """The images of ``spec`` in ``[0, 1]`` (:data:`Images`: a batch ``(N, C, H, W)``, or a list of
    images of different sizes), and one note per change made to them.

    ``spec`` is ``heldout`` (the bundled gray test set, ``size`` default 64), ``photos`` (the
    held-out photographs of :mod:`reddiff_imaging.data.photos`; ``photos:NAME,NAME`` chooses bundled
    photographs by name; their centred square resized to ``size``, default 256), an HDF5 file
    (``file.h5`` or ``file.h5:key``; deepinv's ``generate_dataset`` layout is read from ``x_test``,
    ``x_val`` or ``x_train``), or a folder of images read as they come
    (:func:`~reddiff_imaging.data.image_io.read_images`: each at its own size, channels and bit
    depth; they must share their channels unless ``channels`` makes them, and images of different
    sizes come as a list, each solved at its own size). ``size`` crops the centred square and
    resizes it to ``size × size``; ``channels`` (1 or 3) converts colour to gray or gray to colour;
    ``rescale`` stretches each image of a folder from its own range onto ``[0, 1]`` (see
    :func:`~reddiff_imaging.data.image_io.read_image`; the other datasets are already in ``[0, 1]``,
    and asking it of them is an error).
    """
    from reddiff_imaging.data.image_io import adjust_image, check_images_agree, read_images
    from reddiff_imaging.data.synthetic import heldout_images
    from reddiff_imaging.models.data_sources import read_hdf5_images, square_resize

    notes: list[str] = []
    path, key = check_dataset_spec(spec, rescale)
    bundled_photos = spec == "photos" or spec.startswith("photos:")
    if spec == "heldout":
        images: Images = heldout_images(num_images, size or 64)
    elif bundled_photos:
        images, notes = _bundled_photos(spec, num_images, size or 256, channels)
    elif path.is_dir():
        read, infos = read_images(path, channels=channels, size=size, limit=num_images, rescale=rescale)
        for image, info in zip(read, infos, strict=True):
            check_scorable(tuple(image.shape), f"dataset {spec!r}: {Path(info.path).name}")
        check_images_agree(read, infos, "channels (--channels)", None)
        notes = [f"{Path(info.path).name}: {note}" for info in infos for note in info.notes]
        shapes = image_shapes(read)
        images = torch.stack(read) if len(shapes) == 1 else read
        if len(shapes) > 1:
            notes.append(
                f"dataset {spec!r}: {len(read)} images of {len(shapes)} sizes, each solved at its own size "
                "(size (--size) crops and resizes them all to one square)"
            )
    elif path.is_file():
        images = read_hdf5_images(path, key or _hdf5_key(path))[:num_images]  # at their own size unless size
        height, width = images.shape[-2:]
        if size is not None and (height, width) != (size, size):
            side = min(height, width)
            crop = f"cropped to the centred {side}×{side} square and " if height != width else ""
            notes.append(f"dataset {spec!r}: {height}×{width} images {crop}resized to {size}×{size} (bilinear)")
            images = square_resize(images, size)
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images
    else:  # check_dataset_spec refused it
        raise FileNotFoundError(f"dataset {spec!r} is neither 'heldout', 'photos[:NAME,...]', an HDF5 file nor a folder of images")
    if isinstance(images, Tensor) and len(images) and not path.is_dir():  # a folder's files are checked one by one above
        check_scorable(tuple(images.shape[1:]), f"dataset {spec!r}")
    if isinstance(images, Tensor) and channels is not None and channels != images.shape[1]:
        converted = [adjust_image(image, channels=channels) for image in images]
        images = torch.stack([image for image, _ in converted])
        notes.append(f"dataset {spec!r}: {converted[0][1][0]}")
    return images, notes


def check_scorable(shape: tuple[int, ...], name: str) -> None:
    """Refuse an image ``(C, H, W)`` too small to be scored, before any work: every result of
    compare, tune and restore is scored by SSIM, whose window needs sides of at least
    :data:`~reddiff_imaging.metrics.SSIM_MIN_SIDE` pixels (a solve would run and then fail)."""
    side = metrics.SSIM_MIN_SIDE
    height, width = shape[-2:]
    if min(height, width) < side:
        raise ValueError(
            f"{name} is {height}×{width} pixels: every result is scored by SSIM, whose 11-pixel window needs "
            f"images of at least {side} × {side}; use larger images or a size (--size) of at least {side}"
        )


def image_shapes(images: Images) -> list[tuple[int, ...]]:
    """The distinct shapes ``(C, H, W)`` of ``images``, in the order of the images."""
    return list(dict.fromkeys(tuple(image.shape) for image in images))


def images_to(images: Images, device: torch.device) -> Images:
    """``images`` on ``device``, batched as they were."""
    return images.to(device) if isinstance(images, Tensor) else [image.to(device) for image in images]


def dataset_spec(spec: str | os.PathLike[str]) -> str:
    """A dataset given as a path object (``pathlib.Path("scans")``, any ``os.PathLike``) as the
    text spec :func:`check_dataset_spec` and :func:`load_dataset` take; anything else as it is
    (:func:`check_dataset_spec` refuses what it cannot take)."""
    return os.fspath(spec) if isinstance(spec, os.PathLike) else spec


def check_dataset_spec(spec: object, rescale: bool = False) -> tuple[Path, str]:
    """Refuse a dataset spec :func:`load_dataset` cannot read — not a string, a bundled photograph
    it does not have, a path that is neither a file nor a folder, ``rescale`` for anything but a
    folder — without reading anything (callers check it with the other names, before any work).
    Returns the path and the HDF5 key the spec names (``file.h5:key``)."""
    from reddiff_imaging.data.image_io import IMAGE_SUFFIXES
    from reddiff_imaging.data.photos import PHOTOS

    if not isinstance(spec, str) or not spec:
        raise TypeError(f"dataset must be a non-empty string or path (a name, a file or a folder), got {spec!r}")
    path_text, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    bundled_photos = spec == "photos" or spec.startswith("photos:")
    if rescale and (spec == "heldout" or bundled_photos or not path.is_dir()):  # names win over folders of that name
        raise ValueError(
            f"rescale (--rescale) stretches image files by their own range; dataset (--dataset) {spec!r} is not a folder of "
            "image files"
        )
    if bundled_photos and spec != "photos":
        unknown = [n.strip() for n in spec.removeprefix("photos:").split(",") if n.strip() not in PHOTOS]
        if unknown:
            raise ValueError(f"dataset {spec!r}: no bundled photograph {unknown[0]!r}; bundled: {', '.join(sorted(PHOTOS))}")
    elif spec != "heldout" and not bundled_photos and not path.is_dir() and not path.is_file():
        where = "" if path.is_absolute() else f" (a relative path, taken from the current folder {os.getcwd()!r})"
        raise FileNotFoundError(
            f"dataset {spec!r} is neither 'heldout', 'photos[:NAME,...]', an HDF5 file nor a folder of images{where}"
        )
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:  # else h5py's "file signature not found"
        raise ValueError(
            f"dataset (--dataset) {spec!r} is one image file; a dataset is 'heldout', 'photos[:NAME,...]', an HDF5 file "
            f"or a folder of images: pass the folder {str(path.parent)!r} (all its images), or restore this image alone"
        )
    return path, key


def check_outside_dataset(
    spec: object, outputs: Mapping[str, str | os.PathLike[str] | None], *, dataset_name: str = "dataset", where: str = ""
) -> None:
    """Refuse, before any work, an output that would be written into the data the dataset ``spec``
    reads, links resolved: the file of an HDF5 dataset, or any file in the folder of a folder
    dataset — the next run would read the figures written there as images (a results file is
    refused there too: its tables, figures and shards are written beside it).

    ``outputs`` maps each output's name as the caller wrote it (``output``, ``--output``) to its
    path (``None``: not given); ``dataset_name`` and ``where`` name the dataset in the message.
    Bundled datasets (``heldout``, ``photos``) and specs :func:`check_dataset_spec` refuses (the
    caller reports those) take no check."""
    if not isinstance(spec, str) or spec == "heldout" or spec == "photos" or spec.startswith("photos:"):
        return
    try:
        source, _ = check_dataset_spec(spec)
    except (OSError, ValueError):
        return
    real = Path(os.path.realpath(source))
    folder = source.is_dir()
    for name, output in outputs.items():
        if output is None:
            continue
        target = Path(os.path.realpath(output))
        place = target.parent if folder else target
        if place != real and not (place.exists() and os.path.samefile(place, real)):
            continue
        shown = f" (links resolved: {str(target)!r})" if target != Path(os.path.abspath(output)) else ""
        if folder:
            raise ValueError(
                f"{name} {str(output)!r}{shown} is inside the image folder of {dataset_name} {spec!r}{where}: the next run "
                "would read the figures and images written there as data; write it outside that folder"
            )
        raise ValueError(
            f"{name} {str(output)!r}{shown} is the HDF5 file of {dataset_name} {spec!r}{where}: writing there would "
            f"mix the results into the data; choose another {name}"
        )


def _bundled_photos(spec: str, num_images: int, size: int, channels: int | None) -> tuple[torch.Tensor, list[str]]:
    """The photographs of a ``photos`` or ``photos:NAME,NAME`` spec, ``(N, C, size, size)``; gray
    photographs are repeated into 3 channels when others are colour (``channels`` decides if given)."""
    from reddiff_imaging.data.image_io import adjust_image
    from reddiff_imaging.data.photos import HELDOUT_PHOTOS, PHOTOS, load_photo

    names = HELDOUT_PHOTOS if spec == "photos" else tuple(n.strip() for n in spec.removeprefix("photos:").split(","))
    unknown = [name for name in names if name not in PHOTOS]
    if unknown:
        raise ValueError(f"dataset {spec!r}: no bundled photograph {unknown[0]!r}; bundled: {', '.join(sorted(PHOTOS))}")
    photos = [load_photo(name, channels=channels) for name in names[:num_images]]
    common = channels or max(int(p.shape[0]) for p in photos)
    images, notes = [], []
    for name, photo in zip(names, photos):
        image, changes = adjust_image(photo, channels=common, size=size)
        images.append(image)
        notes += [f"photo {name!r}: {change}" for change in changes]
    return torch.stack(images), notes


def _hdf5_key(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = [k for k in ("images", "x_test", "x_val", "x_train") if f.get(k, getlink=True) is not None]
    except OSError as err:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {err}") from err
    if not keys:
        raise ValueError(f"{str(path)!r} has none of the datasets images, x_test, x_val, x_train; name one as {path}:KEY")
    return keys[0]


def __getattr__(name: str) -> object:
    if name == "PRIORS":
        return deprecated_priors(stacklevel=2)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
