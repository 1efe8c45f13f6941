"""What a comparison is made of: tasks, priors, methods (solver × prior with overrides), datasets.

Names a user types (tasks, solvers, priors, overrides such as ``reddiff.lam=0.5``) are parsed
here, with errors that list the valid choices.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reddiff_imaging import operators, solvers
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.priors import (
    TV,
    BM3DDenoiser,
    DiffusionPrior,
    GaussianFilterDenoiser,
    MedianDenoiser,
    Prior,
    WaveletDenoiser,
)
from reddiff_imaging.priors.base import DiffusionModel

#: tasks of the demo and their measurement noise (public units)
DEMO_TASKS = ("inpainting-box", "inpainting-random", "sr4-block", "deblur-gaussian", "ct", "mri4")
DEFAULT_SIGMA = 0.01

#: priors by name; ``checkpoint:PATH`` and ``adm-ffhq256:PATH``/``adm-imagenet256:PATH`` load files
PRIORS = {
    "default": ("the bundled diffusion prior (64×64 grayscale)", DiffusionPrior.default),
    "tv": ("total variation, weight 1 (for ADMM, whose lam sets the strength)", TV),
    "tv-denoiser": ("total variation as a MAP denoiser, weight 8.5 (best at sigma 0.1)", lambda: TV(weight=8.5)),
    "gaussian": ("Gaussian filter denoiser", GaussianFilterDenoiser),
    "median": ("median filter denoiser", MedianDenoiser),
    "wavelet": ("Haar wavelet soft-thresholding denoiser", WaveletDenoiser),
    "bm3d": ("BM3D (needs the bm3d package)", BM3DDenoiser),
}

#: the option that counts iterations, per solver (``--steps`` sets it)
ITERATION_FIELDS = ("steps", "iterations")


@dataclass(frozen=True)
class Method:
    """A solver with a prior, an optional preset (:mod:`reddiff_imaging.solvers.presets`) and option
    overrides; its label names it in results."""

    solver: str
    prior: str
    overrides: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None

    @property
    def label(self) -> str:
        """``solver[prior]``, usable as an HDF5 group name (slashes of paths become ``|``)."""
        return f"{self.solver}[{self.prior.replace('/', '|')}]"

    def build(self, steps: int | None = None, task: str | None = None) -> solvers.Solver:
        """The configured solver: the preset's options for ``task`` (when the method has a preset),
        then ``steps`` as its iteration count, then the overrides, each over the one before."""
        options = dict(self.overrides)
        if steps is not None:
            names = [f.name for f in dataclasses.fields(solvers.registry.solver_class(self.solver))]  # type: ignore[arg-type]
            for name in ITERATION_FIELDS:
                if name in names and name not in options:
                    options[name] = steps
                    break
        if self.preset is not None:
            if task is None:
                raise ValueError(f"{self.label} has preset {self.preset!r}, which needs the task to build the solver")
            return solvers.get(self.solver, preset=self.preset, task=task, **options)
        return solvers.get(self.solver, **options)


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``solver.option=value`` strings into ``{solver: {option: value}}``.

    Values are Python literals (``0.5``, ``"adam"``, ``True``); a bare word is taken as a string.
    """
    parsed: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        solver, dot, option = key.strip().partition(".")
        if not sep or not dot or not solver or not option:
            raise ValueError(f"override {item!r} must look like solver.option=value, e.g. reddiff.lam=0.5")
        if solver not in solvers.available():
            raise ValueError(f"override {item!r} names unknown solver {solver!r}; available: {', '.join(solvers.available())}")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        parsed.setdefault(solver, {})[option] = value
    return parsed


def build_prior(name: str, device: torch.device) -> Prior:
    """The prior called ``name`` (see :data:`PRIORS`, plus ``checkpoint:PATH``, ``adm-ffhq256:PATH``,
    ``adm-imagenet256:PATH``), on ``device``."""
    kind, _, path = name.partition(":")
    if path:
        if kind == "checkpoint":
            return DiffusionPrior.from_checkpoint(path, map_location=device)
        if kind in ("adm-ffhq256", "adm-imagenet256"):
            return DiffusionPrior.from_adm(path, kind.removeprefix("adm-"), map_location=device)
        raise ValueError(f"unknown prior kind {kind!r} in {name!r}; use checkpoint:PATH, adm-ffhq256:PATH or adm-imagenet256:PATH")
    if name not in PRIORS:
        raise ValueError(
            f"unknown prior {name!r}; available: {', '.join(PRIORS)}, checkpoint:PATH, adm-ffhq256:PATH, adm-imagenet256:PATH"
        )
    return PRIORS[name][1]().to(device)


def prior_image_shape(prior: Prior) -> tuple[int, ...] | None:
    """The image shape a network prior expects, or None when any shape works."""
    network = getattr(prior, "network", None)
    config = getattr(network, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return (config.in_channels, config.image_size, config.image_size)
    return None


def supports(solver: str, prior: Prior) -> bool:
    """Whether ``solver`` can run with ``prior`` (RED-diff also runs on any denoiser)."""
    cls = solvers.registry.solver_class(solver)
    if solver == "reddiff":
        return isinstance(prior, DiffusionModel) or "denoise" in prior.capabilities()
    return all(c in prior.capabilities() for c in cls.requires)


def methods_for(solver_names: Sequence[str], prior_names: Sequence[str], overrides: dict[str, dict[str, Any]]) -> list[Method]:
    """Methods from solver names (``solver`` crossed with every prior, or ``solver/prior``)."""
    methods = []
    for item in solver_names:
        solver, _, prior = item.partition("/")
        if solver not in solvers.available():
            raise ValueError(f"unknown solver {solver!r}; available: {', '.join(solvers.available())}")
        for name in [prior] if prior else prior_names:
            methods.append(Method(solver, name, overrides.get(solver, {})))
    for solver, options in overrides.items():  # validate option names before any work is done
        solvers.get(solver, **options)
    return methods


def build_task(name: str, shape: tuple[int, ...], sigma: float) -> tuple[operators.Operator, Gaussian]:
    """The operator of task ``name`` for images of ``shape``, and its noise model."""
    if name not in operators.registry.available():
        raise ValueError(f"unknown task {name!r}; available: {', '.join(operators.registry.available())}")
    return operators.registry.build(name, shape), Gaussian(sigma)


def unit_seed(seed: int, *parts: object) -> int:
    """A seed for one unit of work, derived from the run seed and the unit's identity only (never
    from the order in which units run)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def load_dataset(spec: str, num_images: int, size: int | None) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` from ``spec``: ``heldout`` (the bundled test set),
    an HDF5 file (``file.h5`` or ``file.h5:key``; deepinv's ``generate_dataset`` layout is read
    from ``x_test``, ``x_val`` or ``x_train``), or a folder of images."""
    from reddiff_imaging.data.synthetic import heldout_images
    from reddiff_imaging.models.data_sources import folder_source, hdf5_source

    if spec == "heldout":
        return heldout_images(num_images, size or 64)
    path_text, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if path.is_dir():
        source = folder_source(path, size or 64)
    elif path.is_file():
        source = hdf5_source(path, key or _hdf5_key(path), size)
    else:
        raise FileNotFoundError(f"dataset {spec!r} is neither 'heldout', an HDF5 file nor a folder of images")
    images = source.images[:num_images]
    return images.float() / 255.0 if images.dtype == torch.uint8 else images


def _hdf5_key(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = [k for k in ("images", "x_test", "x_val", "x_train") if k in f]
    except OSError as err:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {err}") from err
    if not keys:
        raise ValueError(f"{str(path)!r} has none of the datasets images, x_test, x_val, x_train; name one as {path}:KEY")
    return keys[0]
