"""The user's own parts in a comparison: operators, priors and solvers given as objects, factories,
``module:attribute`` references or prior specs with a path, next to the registry names.

Every part gets a *label* (its name in tables and results files) and a *record* — the spec it was
given as, and a SHA-256 fingerprint of what was built (class, description and every tensor of its
state) — which the workbench stores with a run so that a rerun checks it uses the same parts.

Accepted forms
--------------
* a registry name: ``"deblur-gaussian"`` (:mod:`reddiff_imaging.operators.registry`), ``"reddiff"``
  (:mod:`reddiff_imaging.solvers.registry`), ``"tv"`` (:mod:`reddiff_imaging.priors.registry`);
* ``"module:attribute"`` (as pytest plugins and setuptools entry points name objects): the
  attribute (dotted paths allowed) of an importable module, then treated like an object;
* an object: an :class:`~reddiff_imaging.operators.Operator`, a
  :class:`~reddiff_imaging.priors.Prior`, a deepinv denoiser (wrapped as
  :class:`~reddiff_imaging.priors.DeepinvDenoiser`), a :class:`~reddiff_imaging.solvers.Solver`;
* a factory: a callable that returns such an object (operators: ``factory(shape)`` with the image
  shape ``(C, H, W)``; priors: ``factory()``); a Solver class counts as a factory of its defaults;
* priors also: ``checkpoint:PATH`` (the project's UNet checkpoints), ``drunet:PATH`` (deepinv's
  DRUNet with local weights), ``adm-ffhq256:PATH`` / ``adm-imagenet256:PATH``, each optionally
  followed by ``?option=value&...`` (see :func:`build_prior`).

Labels of objects and factories derive from their class or function name and fingerprint
(``TV-1a2b3c4d``); pass a mapping ``{label: part}`` to choose them.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reddiff_imaging import operators, solvers
from reddiff_imaging._validation import check_device, check_int, check_real
from reddiff_imaging.models.checkpoint import MAX_BLOCKS, MAX_PARAMETERS, read_torch_file
from reddiff_imaging.operators.base import Operator
from reddiff_imaging.priors import (
    Channelwise,
    DeepinvDenoiser,
    DiffusionPrior,
    GrayFromColour,
    Prior,
    SelfEnsemble,
)
from reddiff_imaging.priors import registry as prior_registry
from reddiff_imaging.solvers.base import Solver

__all__ = [
    "PRIOR_ADAPTERS",
    "PRIOR_SPECS",
    "Part",
    "build_operator",
    "build_prior",
    "build_solver",
    "fingerprint",
    "is_reference",
    "one_part",
    "parse_value",
    "parts",
    "resolve_reference",
]

#: prior specs with a path, and the options each takes after ``?``
PRIOR_SPECS: dict[str, tuple[str, ...]] = {
    "checkpoint": ("compile",),
    "drunet": ("channels", "nc", "nb", "sigma", "compile"),
    "adm-ffhq256": ("compile",),
    "adm-imagenet256": ("compile",),
}

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


# -- module:attribute ----------------------------------------------------------------------------------
#: prefixes that adapt the prior named after them: ``channelwise:NAME`` runs a one-channel prior on
#: each channel (:class:`~reddiff_imaging.priors.Channelwise`), ``gray:NAME`` a colour diffusion
#: prior on gray images (:class:`~reddiff_imaging.priors.GrayFromColour`), ``ensemble:NAME`` averages a
#: diffusion prior over the eight rotations and flips (:class:`~reddiff_imaging.priors.SelfEnsemble`);
#: they nest (``ensemble:gray:natural``)
PRIOR_ADAPTERS: dict[str, Callable[[Any], Prior]] = {"channelwise": Channelwise, "gray": GrayFromColour, "ensemble": SelfEnsemble}


def is_reference(text: object) -> bool:
    """Whether ``text`` looks like ``module:attribute`` (and is not a prior spec such as ``drunet:PATH``
    or ``gray:NAME``)."""
    prefix = text.partition(":")[0] if isinstance(text, str) else ""
    return isinstance(text, str) and prefix not in PRIOR_SPECS and prefix not in PRIOR_ADAPTERS and bool(_REFERENCE.match(text))


def resolve_reference(text: str, what: str = "part") -> Any:
    """The object ``module:attribute`` names (the module is imported; the attribute may be dotted).

    Raises:
        ValueError: the module cannot be imported or lacks the attribute (the message names ``text``).
    """
    module_name, _, attribute = text.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what} {text!r}: cannot import module {module_name!r} ({err})") from err
    for name in attribute.split("."):
        if not hasattr(obj, name):
            raise ValueError(f"{what} {text!r}: {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, name)
    return obj


# -- fingerprints and labels ---------------------------------------------------------------------------
def fingerprint(obj: object) -> str:
    """SHA-256 (hex) of an object's class, description and, for modules, every tensor of its state.

    The description is a dataclass's fields, or the ``repr`` when it does not embed a memory
    address (a module's ``repr`` shows its settings and architecture; its state adds the weights).
    """
    digest = hashlib.sha256(f"{type(obj).__module__}.{type(obj).__qualname__}".encode())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        digest.update(repr(dataclasses.asdict(obj)).encode())
    elif " at 0x" not in repr(obj):
        digest.update(repr(obj).encode())
    if isinstance(obj, nn.Module):
        for name, tensor in sorted(obj.state_dict().items()):
            data = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Part:
    """One part of a run as the user gave it.

    Attributes:
        label: its name in tables and results files.
        value: the registry name or spec (a ``str``), or the object or factory.
        spec: ``value`` as text: the name or spec, or ``module:qualname`` of a factory or class,
            or the object's ``repr`` (first line).
    """

    label: str
    value: Any
    spec: str

    @property
    def named(self) -> bool:
        """Whether the part is a registry name (it needs no record in results files)."""
        return isinstance(self.value, str) and not is_reference(self.value) and ":" not in self.value

    def record(self, built: object) -> dict[str, str]:
        """What a results file keeps of the part: its spec and the fingerprint of ``built``."""
        return {"spec": self.spec, "sha256": fingerprint(built)}


def _spec(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, type) or callable(value) and not isinstance(value, nn.Module) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', type(value).__name__)}"
    return repr(value).splitlines()[0]


def _auto_label(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, type) or callable(value) and hasattr(value, "__name__") and not isinstance(value, nn.Module):
        return str(value.__name__)
    return f"{type(value).__name__}-{fingerprint(value)[:8]}"


def parts(values: Sequence[Any] | Mapping[str, Any], what: str) -> list[Part]:
    """The parts of a run from a list (labels derived) or a mapping ``{label: part}``.

    ``module:attribute`` strings are resolved here and labelled by the reference itself.

    Raises:
        TypeError: an item that is neither a name nor an object or factory (a number, say).
        ValueError: two parts with the same label, or an empty label.
    """
    if isinstance(values, str):
        values = [values]
    items = list(values.items()) if isinstance(values, Mapping) else [(None, v) for v in values]
    result = []
    for label, value in items:
        if not (isinstance(value, (str, nn.Module, Solver)) or callable(value)):
            raise TypeError(f"{what}s must hold {what} names, objects or factories, got {value!r} ({type(value).__name__})")
        spec = _spec(value)
        if is_reference(value):
            value = resolve_reference(value, what)
            label = spec if label is None else label
        label = _auto_label(value) if label is None else label
        if not isinstance(label, str) or not label:
            raise ValueError(f"{what} labels must be non-empty strings, got {label!r}")
        result.append(Part(label, value, spec))
    labels = [p.label for p in result]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{what}s {repeated} appear more than once; pass a mapping {{label: {what}}} to tell them apart")
    return result


def one_part(value: Any, what: str) -> Part:
    """The single part of a sweep or a restore: a name, an object, a factory, ``module:attribute``
    or a one-entry mapping ``{label: part}``."""
    found = parts(value if isinstance(value, Mapping) else [value], what)
    if len(found) != 1:
        raise ValueError(f"one {what} is expected, got {len(found)}: {[p.label for p in found]}")
    return found[0]


def check_names(solver: Part, prior: Part, task: Part) -> None:
    """Refuse an unknown solver, prior or task name, in this order, before anything is built: a
    name is checked before what the parts can do together (an unknown task is named as such, not
    reported as a prior the solver cannot use)."""
    if isinstance(solver.value, str):
        solvers.registry.solver_class(solver.value)
    elif not isinstance(solver.value, Solver) and not (isinstance(solver.value, type) and issubclass(solver.value, Solver)):
        raise TypeError(f"solver {solver.label!r}: a solver must be a solver name, a Solver or a Solver class, got {type(solver.value).__name__}")
    if isinstance(prior.value, str):
        check_prior_name(prior.value)
    elif not isinstance(prior.value, nn.Module) and not callable(prior.value):  # what a factory returns is checked when built
        raise TypeError(
            f"prior {prior.label!r}: a prior must be a prior name or spec, a Prior, a deepinv denoiser or a factory returning one, "
            f"got {type(prior.value).__name__}"
        )
    if isinstance(task.value, str) and not is_reference(task.value):
        check_task_name(task.value)
    elif not isinstance(task.value, (str, Operator)) and not callable(task.value):
        raise TypeError(f"task {task.label!r}: a task must be a task name, an Operator or a factory(shape) -> Operator, got {type(task.value).__name__}")


def check_task_name(name: str) -> None:
    """Refuse a task name the operator registry does not have (the message lists those it has)."""
    if name not in operators.registry.available():
        raise ValueError(f"unknown task {name!r}; available: {', '.join(operators.registry.available())}, or module:attribute")


def check_prior_name(text: str, written: str | None = None) -> None:
    """Refuse a prior name or spec kind that :func:`build_prior` does not know, without building it
    (inside adapters, the message also quotes the whole spec as ``written``)."""
    if is_reference(text):
        return
    written = written or text
    kind, colon, rest = text.partition(":")
    if kind in PRIOR_ADAPTERS and colon:
        check_prior_name(rest, written)
    elif not colon and text not in prior_registry.available():
        where = f" in {written!r}" if written != text else ""
        raise ValueError(
            f"unknown prior {text!r}{where}; available: {', '.join(prior_registry.available())}, "
            + ", ".join(f"{k}:PATH" for k in PRIOR_SPECS) + ", " + ", ".join(f"{k}:NAME" for k in PRIOR_ADAPTERS)
            + ", or module:attribute"
        )
    elif colon and kind not in PRIOR_SPECS:
        raise ValueError(f"unknown prior kind {kind!r} in {written!r}; use " + ", ".join(f"{k}:PATH" for k in PRIOR_SPECS) + " or module:attribute")


# -- builders ------------------------------------------------------------------------------------------
def build_operator(value: Any, shape: tuple[int, ...]) -> Operator:
    """The operator of a task: a registry name, an :class:`Operator` (its ``in_shape`` must be
    ``shape``) or a factory called as ``factory(shape)``."""
    if isinstance(value, str):
        if is_reference(value):
            return build_operator(resolve_reference(value, "task"), shape)
        check_task_name(value)
        try:
            return operators.registry.build(value, shape)
        except ValueError as err:  # e.g. a super-resolution factor that does not divide the sides
            sides = "×".join(str(side) for side in shape[1:])
            raise ValueError(f"task {value!r} cannot run on {sides} images: {err}; crop them or choose a size (--size) that fits") from err
    operator = value
    if not isinstance(value, Operator) and callable(value):
        operator = value(shape)
    if not isinstance(operator, Operator):
        raise TypeError(f"a task must be a task name, an Operator or a factory(shape) -> Operator, got {type(operator).__name__}")
    if tuple(operator.in_shape) != tuple(shape):
        raise ValueError(f"operator {type(operator).__name__} takes images of shape {tuple(operator.in_shape)}, the images have {tuple(shape)}")
    return operator


def build_prior(value: Any, device: torch.device | str = "cpu") -> Prior:
    """A prior on ``device`` from a name (:func:`reddiff_imaging.priors.registry.available`), a spec
    with a path, a :class:`Prior`, a deepinv denoiser, or a factory ``factory()`` returning one of those.

    Specs: ``checkpoint:PATH``, ``adm-ffhq256:PATH``, ``adm-imagenet256:PATH`` and ``drunet:PATH``
    (deepinv's DRUNet with the state dict at ``PATH``, never downloaded), each optionally followed by
    ``?option=value&...`` with Python-literal values: ``compile=True`` for every network prior
    (see :meth:`~reddiff_imaging.priors.Prior.compile`); for DRUNet also ``channels`` (default 1),
    ``nc`` and ``nb`` (its architecture, default deepinv's) and ``sigma`` (RED's level).
    """
    device = check_device(device, "device", auto=True)
    if isinstance(value, str):
        if is_reference(value):
            return build_prior(resolve_reference(value, "prior"), device)
        return _prior_from_text(value, device)
    prior = value
    if not isinstance(value, nn.Module) and callable(value):
        prior = value()
    if _is_deepinv_denoiser(prior):
        prior = DeepinvDenoiser(prior)
    if not isinstance(prior, Prior):
        raise TypeError(
            f"a prior must be a prior name or spec, a Prior, a deepinv denoiser or a factory returning one, got {type(prior).__name__}"
        )
    return prior.to(device)


def _is_deepinv_denoiser(obj: object) -> bool:
    deepinv = sys.modules.get("deepinv")  # a deepinv object implies deepinv is imported already
    return deepinv is not None and isinstance(obj, deepinv.models.Denoiser)


def _prior_from_text(text: str, device: torch.device) -> Prior:
    check_prior_name(text)
    kind, colon, rest = text.partition(":")
    if kind in PRIOR_ADAPTERS and colon:
        inner = build_prior(rest, device)  # NAME may be a spec, an adapter or module:attribute
        try:
            return PRIOR_ADAPTERS[kind](inner).to(device)
        except (TypeError, ValueError) as err:
            raise ValueError(f"prior {text!r}: {err}") from err
    if not colon:
        return prior_registry.get(text).to(device)
    path_text, _, query = rest.partition("?")
    options = _options(query, text, PRIOR_SPECS[kind])
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"prior {text!r}: no file at {path_text!r}")
    compile_network = options.pop("compile", False)
    if kind == "checkpoint":
        prior: Prior = DiffusionPrior.from_checkpoint(path, map_location=device)
    elif kind == "drunet":
        from deepinv.models import DRUNet

        channels, sigma, architecture = _drunet_options(options, text)
        state = read_torch_file(path, "a DRUNet state dict")  # read here: deepinv's own reading names no file
        if not isinstance(state, dict):
            raise ValueError(f"prior {text!r}: {str(path)!r} holds a {type(state).__name__}, expected a DRUNet state dict")
        network = DRUNet(in_channels=channels, out_channels=channels, pretrained=None, **architecture)
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as err:  # the state dict does not fit the architecture
            detail = " ".join(str(err).split())  # torch's message spans lines; the command line shows one
            raise ValueError(f"prior {text!r}: the weights do not fit DRUNet({channels} channels, {architecture}): {detail}") from err
        prior = DeepinvDenoiser(network.eval(), sigma=sigma)
    else:
        prior = DiffusionPrior.from_adm(path, kind.removeprefix("adm-"), map_location=device)
    prior = prior.to(device)
    return prior.compile() if compile_network else prior


def _options(query: str, text: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The ``?option=value&...`` of a prior spec: known options, each once; ``compile`` a bool."""
    options: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, eq, raw = item.partition("=")
        if not eq or key not in allowed:
            raise ValueError(f"prior {text!r}: option {item!r} must be one of {', '.join(f'{a}=VALUE' for a in allowed)}")
        if key in options:
            raise ValueError(f"prior {text!r}: option {key} is given twice; give it once")
        value = parse_value(raw)
        options[key] = {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
    if not isinstance(options.get("compile", False), bool):
        raise TypeError(f"prior {text!r}: option compile must be True or False, got {options['compile']!r}")
    return options


def _drunet_options(options: dict[str, Any], text: str) -> tuple[int, float, dict[str, Any]]:
    """``channels``, ``sigma`` and the architecture (``nc``, ``nb``) of a ``drunet:PATH`` spec,
    checked before the network is built, whose size is counted on the ``meta`` device first."""
    from deepinv.models import DRUNet

    try:
        channels = check_int(options.pop("channels", 1), "option channels")
        sigma = check_real(options.pop("sigma", 0.05), "option sigma", low=0.0, open_low=True)
        architecture = dict(options)
        if "nb" in architecture:
            check_int(architecture["nb"], "option nb", maximum=MAX_BLOCKS)
        if "nc" in architecture:
            nc = architecture["nc"]
            if not isinstance(nc, (tuple, list)) or len(nc) != 4:
                raise TypeError(f"option nc must be 4 channel counts such as (64,128,256,512), got {nc!r}")
            architecture["nc"] = tuple(check_int(n, f"option nc[{i}]") for i, n in enumerate(nc))
    except (TypeError, ValueError) as err:
        raise type(err)(f"prior {text!r}: {err}") from err
    with torch.device("meta"):
        network = DRUNet(in_channels=channels, out_channels=channels, pretrained=None, **architecture)
    count = sum(p.numel() for p in network.parameters())
    if count > MAX_PARAMETERS:
        raise ValueError(f"prior {text!r}: asks for a DRUNet of {count:,} parameters; the limit is {MAX_PARAMETERS:,}")
    return channels, sigma, architecture


def parse_value(text: str) -> Any:
    """A Python literal (``0.5``, ``"adam"``, ``True``, ``(8, 8)``), or the stripped text itself."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def build_solver(value: Any, options: Mapping[str, Any], steps: int | None = None) -> Solver:
    """A solver from a registry name, a :class:`Solver` (copied with ``options`` applied) or a
    Solver class; ``steps`` sets its ``steps`` option unless ``options`` does."""
    shown = repr(value) if isinstance(value, str) else getattr(value, "__name__", type(value).__name__)
    if isinstance(value, str):
        value = resolve_reference(value, "solver") if is_reference(value) else solvers.registry.solver_class(value)
    if isinstance(value, type) and issubclass(value, Solver):
        value = value()
    if not isinstance(value, Solver):
        raise TypeError(f"a solver must be a solver name, a Solver or a Solver class, got {type(value).__name__}")
    options = type(value).current_options(options)  # deprecated option names, with a warning
    names = [f.name for f in dataclasses.fields(value)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for solver {shown}; its options are {names}")
    if steps is not None and "steps" in names and "steps" not in options:
        options["steps"] = steps
    return dataclasses.replace(value, **options) if options else value


def deprecated_priors(stacklevel: int = 2) -> dict[str, tuple[str, Callable[[], Prior]]]:
    """The former ``PRIORS`` table ``{name: (description, factory)}``, built from
    :mod:`reddiff_imaging.priors.registry`, with a DeprecationWarning (the alias stays one release)."""
    warnings.warn(
        "reddiff_imaging.workbench PRIORS is deprecated; use reddiff_imaging.priors.registry (available(), describe(name), get(name))",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return {key: (prior_registry.describe(key), functools.partial(prior_registry.get, key)) for key in prior_registry.available()}


def __getattr__(name: str) -> object:
    if name == "PRIORS":
        return deprecated_priors(stacklevel=2)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
