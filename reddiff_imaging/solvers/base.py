r"""The solver interface: ``solver.solve(problem, prior, ...) -> Result``.

Every solver is a dataclass whose fields are its configuration, so ``dataclasses.asdict`` gives
the configuration stored with each result, and the registry builds any solver from a name and
keyword overrides. :meth:`Solver.solve` does what all solvers share: it validates the problem and
the prior's capabilities, times the run, measures peak memory, drives the progress bar, records
the history and stops with :class:`NonFiniteError` when the iterate stops being finite.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
import typing
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor
from tqdm.auto import tqdm

from reddiff_imaging import metrics
from reddiff_imaging._validation import (
    check_bool,
    check_instance,
    check_int,
    check_real,
    monitored_finiteness,
)
from reddiff_imaging.priors.base import ImageShapeNote, Prior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.capabilities import Requirement, Support, missing_capabilities

Generators = torch.Generator | Sequence[torch.Generator] | None
Callback = Callable[[int, Tensor, dict[str, Tensor]], None]


class NonFiniteError(FloatingPointError):
    """The iterate of a solver stopped being finite.

    Attributes:
        step: the first step whose iterate (or loss) was not finite.
        last_finite: the last iterate known to be finite, in the public range, or None.
    """

    def __init__(self, solver: str, step: int, last_finite: Tensor | None) -> None:
        super().__init__(
            f"{solver}: the iterate stopped being finite at step {step}; the last finite iterate is attached "
            "as .last_finite (try a smaller step size or learning rate)"
        )
        self.step = step
        self.last_finite = last_finite


@dataclass
class Result:
    """What a solve returns.

    Attributes:
        x: the reconstruction ``(B, C, H, W)`` in ``[0, 1]``, dtype and device of the problem.
        history: records ``{"step": k, term: value, ...}``. Diffusion solvers record their loss
            terms at every step (they are by-products of the step); the classical solvers compute
            their diagnostics (data term, residuals) only on recorded steps, every
            ``metrics_every`` steps and at the last; ``psnr`` against ``x_true`` comes on those
            steps too when the problem has a ground truth.
        seconds: wall time of the solve.
        peak_memory_bytes: on CUDA, the allocator's peak during the solve; on CPU, the process's peak
            resident memory during the solve above its level at the start (Linux; elsewhere the
            growth of the lifetime peak).
        config: the solver's name and configuration.
    """

    x: Tensor
    history: list[dict[str, float]]
    seconds: float
    peak_memory_bytes: int
    config: dict[str, Any]


class Monitor:
    """Per-step bookkeeping shared by the solvers.

    Loss terms are kept as device tensors and converted once at the end, and finiteness is checked
    every ``check_every`` steps, so the solver loop does not synchronise a GPU at every step.
    """

    def __init__(
        self,
        name: str,
        problem: InverseProblem,
        *,
        callback: Callback | None,
        progress: bool,
        metrics_every: int,
        check_every: int,
    ) -> None:
        self.name = name
        self.problem = problem
        self.to_public: Callable[[Tensor], Tensor] = lambda x: x
        self.callback = callback
        self.metrics_every = metrics_every
        self.check_every = check_every
        self.records: list[tuple[int, dict[str, Tensor]]] = []
        self.total = 0
        self.last_step = 0
        self.last_finite: Tensor | None = None
        self.progress = progress
        self.bar: tqdm | None = None  # drawn from :meth:`start`, so a refusal before it prints no bar

    def start(self, total: int, to_public: Callable[[Tensor], Tensor] | None = None) -> None:
        """Set the number of steps (for the progress bar and :meth:`due`) and the map from iterates
        to images in ``[0, 1]`` (identity by default; diffusion solvers iterate in the network's range)."""
        self.total = total
        self.bar = tqdm(total=total, desc=self.name, disable=not self.progress, leave=False)
        if to_public is not None:
            self.to_public = to_public

    def due(self, step: int) -> bool:
        """Whether ``step`` records the diagnostics that cost extra work: every ``metrics_every``
        steps and the last step (never when ``metrics_every`` is 0)."""
        return bool(self.metrics_every) and (step % self.metrics_every == 0 or step == self.total - 1)

    def step(self, step: int, iterate: Tensor, **terms: Tensor) -> None:
        """Record the loss terms of ``step`` (and the PSNR on :meth:`due` steps); check the iterate
        every ``check_every`` steps. A step without terms or PSNR leaves no record."""
        terms = {k: v.detach() for k, v in terms.items()}
        x_true = self.problem.x_true
        if x_true is not None and self.due(step):
            terms["psnr"] = metrics.psnr(self.to_public(iterate.detach()).clamp(0, 1), x_true, validate=False).mean()
        if terms:
            self.records.append((step, terms))
        self.last_step = step
        if self.check_every and (step + 1) % self.check_every == 0:
            self.check(step, iterate)
        if self.callback is not None:
            self.callback(step, iterate.detach(), terms)
        if self.bar is not None:
            self.bar.update(1)

    def check(self, step: int, iterate: Tensor) -> None:
        """Raise :class:`NonFiniteError` unless ``iterate`` and the recorded losses are finite."""
        if bool(torch.isfinite(iterate).all()):
            self.last_finite = self.to_public(iterate.detach()).clone()
            return
        raise NonFiniteError(self.name, self._first_bad_step(step), self.last_finite)

    def _first_bad_step(self, default: int) -> int:
        for step, terms in self.records:
            if any(not bool(torch.isfinite(v).all()) for v in terms.values()):
                return step
        return default

    def history(self) -> list[dict[str, float]]:
        """The records as plain floats, transferred to the host in one go."""
        if self.bar is not None:
            self.bar.close()
        scalars = [v.float().reshape(()) for _, terms in self.records for v in terms.values()]
        values = iter(torch.stack(scalars).tolist() if scalars else [])
        return [{"step": step, **{k: next(values) for k in terms}} for step, terms in self.records]


class _SolverType(ABCMeta):
    """The metaclass of :class:`Solver`: a solver built from its class takes its options through
    :meth:`Solver.current_options` first, so that the dataclass ``__init__`` sees current names only."""

    def __call__(cls, *args: Any, **options: Any) -> Any:
        if issubclass(cls, Solver):
            options = cls.current_options(options)
        return super().__call__(*args, **options)


@dataclass(eq=False, repr=False)  # no fields: typed as a dataclass for dataclasses.fields/asdict
class Solver(metaclass=_SolverType):
    """Base class of all solvers; subclasses are dataclasses of their configuration.

    Class attributes:

    * ``name``: the registry name;
    * ``tuning_grid``: the small default grid ``{option: values}`` that
      :func:`~reddiff_imaging.workbench.tune.tune` sweeps when given none (empty for a method
      without one);
    * ``requires``: prior capabilities the method needs (e.g. ``("eps",)``, ``("prox",)``); a tuple
      entry lists alternatives, one of which suffices (``(("eps", "denoise"),)``);
    * ``renamed``: deprecated option names and the current ones (``{"iterations": "steps"}``); the
      old names are accepted, with a :class:`DeprecationWarning`, for one release (see
      :meth:`current_options`).
    """

    name: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass on every subclass
    tuning_grid: ClassVar[dict[str, tuple[Any, ...]]] = {}
    requires: ClassVar[tuple[Requirement, ...]] = ()
    renamed: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def current_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` with the deprecated names of :attr:`renamed` replaced by the current ones, each
        with a :class:`DeprecationWarning` naming the new one. Building a solver from its class, the
        registry's ``get`` and the workbench's overrides go through here.

        Raises:
            TypeError: an option given under both its old and its new name.
        """
        current = dict(options)
        for old, new in cls.renamed.items():
            if old not in current:
                continue
            if new in current:
                raise TypeError(f"{cls.__name__}: got both {old!r} and {new!r}; {old!r} is the deprecated name of {new!r}, pass {new!r} only")
            warnings.warn(
                f"{cls.__name__}: the option {old!r} is now called {new!r}; {old!r} is deprecated and will be removed in the next release",
                DeprecationWarning,
                stacklevel=3,
            )
            current[new] = current.pop(old)
        return current

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Run :func:`check_fields` before the subclass's own ``__post_init__`` (range checks), so
        that every solver refuses options of the wrong type in one place."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self: Solver) -> None:
            check_fields(self)
            if own is not None:
                own(self)
            else:
                inherited = getattr(super(cls, self), "__post_init__", None)
                if inherited is not None:
                    inherited()

        setattr(cls, "__post_init__", __post_init__)

    def check(self, problem: InverseProblem | None = None, prior: Prior | None = None) -> Support:
        """Whether this solver can run ``problem`` with ``prior``, and if not, why; either may be
        omitted to check the other alone (the workbench checks priors before it builds problems).

        The answer is a :class:`~reddiff_imaging.solvers.capabilities.Support`: true when the solver
        can run, else its ``missing`` (prior capabilities, see :attr:`requires`) and ``reasons``
        (the operator's linearity or SVD, the noise model) say why. :meth:`solve` raises the same
        answer as :class:`~reddiff_imaging.errors.UnsupportedProblemError` before any work.
        """
        missing = () if prior is None else missing_capabilities(self.requires, prior, self.name)
        reasons = () if problem is None else tuple(reason for reason in self._unsupported(problem) if reason)
        return Support(self.name, missing, reasons)

    def _unsupported(self, problem: InverseProblem) -> list[str | None]:
        """One sentence per property of ``problem`` the method cannot handle, None for those it can
        (overridden by solvers with requirements)."""
        return []

    def solve(
        self,
        problem: InverseProblem,
        prior: Prior,
        generator: Generators = None,
        callback: Callback | None = None,
        progress: bool = False,
        *,
        metrics_every: int = 10,
        check_every: int = 10,
    ) -> Result:
        """Solve ``problem`` with ``prior``.

        Args:
            problem: the inverse problem (operator, measurement, noise, optional ground truth).
            prior: the prior; it must provide the capabilities in :attr:`requires` (:meth:`check`
                says beforehand whether ``problem`` and ``prior`` can be solved).
            generator: source of randomness: one :class:`torch.Generator` for the batch, or one
                generator per batch item (then each item's result equals a single run with its
                generator). ``None`` uses a fresh generator seeded with 0.
            callback: called as ``callback(step, iterate, terms)`` after every step.
            progress: show a progress bar.
            metrics_every: record PSNR against ``problem.x_true``, and the classical solvers'
                diagnostics, every this many steps and at the last step (0: never; 1: every step).
            check_every: check the iterate for NaN/Inf every this many steps.

        Raises:
            UnsupportedProblemError: before any work, when :meth:`check` says the solver cannot run
                ``problem`` with ``prior`` (:class:`~reddiff_imaging.priors.MissingCapabilityError`
                for a missing prior capability).
            NonFiniteError: when the iterate stops being finite.
        """
        if not isinstance(problem, InverseProblem):
            raise TypeError(f"problem must be an InverseProblem, got {type(problem).__name__}")
        check_int(metrics_every, "metrics_every", minimum=0)
        check_int(check_every, "check_every", minimum=0)
        check_bool(progress, "progress")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be a function callback(step, iterate, terms) or None, got {callback!r} ({type(callback).__name__})")
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a reddiff_imaging Prior, got {type(prior).__name__}")
        self.check(problem, prior).raise_if_unsupported()
        note = prior.check_image_shape(problem.operator.in_shape, self.name)  # e.g. channels, before any work
        if note is not None:
            warnings.warn(f"{self.name}: {note}", ImageShapeNote, stacklevel=2)
        for tensor in (*prior.parameters(), *prior.buffers()):
            if tensor.device != problem.device:
                raise ValueError(
                    f"prior is on {tensor.device} but the problem is on {problem.device}; move one with .to(device)"
                )
        generators = _generators(generator, problem)
        self._check_problem(problem)
        self.check_options(prior)
        device = problem.device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        cpu_memory = _CpuPeakMemory()
        start = time.perf_counter()
        monitor = Monitor(
            self.name, problem, callback=callback, progress=progress, metrics_every=metrics_every, check_every=check_every
        )
        with monitored_finiteness():
            iterate = self._run(problem, prior, generators, monitor)
        monitor.check(monitor.last_step, iterate)
        x = monitor.to_public(iterate.detach())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device)
        else:
            peak = cpu_memory.peak()
        seconds = time.perf_counter() - start
        history = monitor.history()
        config = {"solver": self.name, **dataclasses.asdict(self)}
        return Result(x=x.detach().to(problem.dtype), history=history, seconds=seconds, peak_memory_bytes=peak, config=config)

    def check_options(self, prior: Prior) -> None:
        """Raise ``ValueError`` when an option does not fit ``prior`` (e.g. more ``steps`` than its
        diffusion has timesteps), naming the option. :meth:`solve` calls it before any work; the
        workbench calls it for every solver and prior of a run before the run's first unit."""
        check_instance(prior, "prior", Prior, "reddiff_imaging.priors.Prior")
        self._check_prior(prior)

    def _check_prior(self, prior: Prior) -> None:
        """Check options against the prior (see :meth:`check_options`); overridden by solvers with
        such options."""

    def _check_problem(self, problem: InverseProblem) -> None:
        """Check options against the problem (e.g. the shape of an ``init`` tensor); overridden by
        solvers with such options. What the method cannot run at all is :meth:`_unsupported`."""

    @abstractmethod
    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        """Run the method, calling ``monitor.start`` once and ``monitor.step`` every step; return the
        final iterate (mapped to ``[0, 1]`` by ``monitor.to_public``)."""


_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def check_fields(solver: Solver) -> None:
    """Check every dataclass field of ``solver`` against its annotation: an ``int`` field takes an
    int (not a bool, a float or a numeric string), a ``float`` field a finite real number (ints
    are converted), a ``bool`` field a bool, a ``str`` field a string; ``X | None`` also takes None.
    Ranges and choices are the solver's own ``__post_init__``."""
    hints = typing.get_type_hints(type(solver))
    for field in dataclasses.fields(solver):
        value = getattr(solver, field.name)
        kinds = typing.get_args(hints[field.name]) or (hints[field.name],)
        if value is None and type(None) in kinds:
            continue
        if bool in kinds:
            check_bool(value, field.name)
        elif int in kinds:
            check_int(value, field.name, minimum=None)
        elif float in kinds:
            number = check_real(value, field.name)
            if abs(number) > _FLOAT32_MAX:  # solvers compute in float32 too: the value would overflow there
                raise ValueError(f"{field.name} must be at most {_FLOAT32_MAX:.4g} in magnitude (the float32 range), got {value!r}")
            setattr(solver, field.name, number)
        elif kinds == (str,) and not isinstance(value, str):
            raise TypeError(f"{field.name} must be a string, got {value!r} ({type(value).__name__})")


def _generators(generator: Generators, problem: InverseProblem) -> list[torch.Generator]:
    """One generator per batch item, or a single one shared by the batch (a list of length 1)."""
    if generator is None:
        return [torch.Generator(device=problem.device).manual_seed(0)]
    expected = f"a torch.Generator or a sequence of {problem.batch_size} generators (one per batch item)"
    if isinstance(generator, torch.Generator):
        generators = [generator]
    else:
        iterable = isinstance(generator, Iterable) and not isinstance(generator, (str, bytes, Tensor))
        generators = list(generator) if iterable else []
        if not iterable or not all(isinstance(g, torch.Generator) for g in generators):
            raise TypeError(f"generator must be {expected}, got {generator!r} ({type(generator).__name__})")
        if len(generators) != problem.batch_size:
            raise ValueError(f"generator must be {expected}, got a sequence of {len(generators)}")
    for g in generators:
        if g.device.type != problem.device.type:
            raise ValueError(f"generator is on {g.device}, but the problem is on {problem.device}")
    return generators


def pseudo_inverse_estimate(problem: InverseProblem, rcond: float) -> Tensor | None:
    """The operator's pseudo-inverse of the measurement, :math:`A^+ y` (singular values below
    ``rcond`` times the largest dropped; at most 100 CG iterations otherwise), as a real image —
    for a nonlinear operator its own inverse heuristic (HDR, phase retrieval) — or None when the
    operator has none. The usual starting point of the solvers."""
    pinv = getattr(problem.operator, "pinv", None)
    if pinv is None:
        return None
    return pinv(problem.y, rcond=rcond, max_iter=100).real.to(problem.dtype)


def randn(shape: Sequence[int], generators: list[torch.Generator], like: Tensor) -> Tensor:
    """Standard normal noise of ``shape`` (batch first) drawn from the solve's generators."""
    if len(generators) == 1:
        return torch.randn(tuple(shape), generator=generators[0], device=like.device, dtype=like.dtype)
    return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=like.device, dtype=like.dtype) for g in generators])


class _CpuPeakMemory:
    """Peak resident memory of the process during a block, above its level at the start.

    On Linux the kernel's high-water mark (VmHWM) is reset at the start by writing ``5`` to
    ``/proc/self/clear_refs``, so the peak is that of the block; elsewhere the growth of the
    lifetime peak (``ru_maxrss``) is reported, 0 when the block stays below an earlier peak.
    """

    def __init__(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.proc = True
            self.start = _proc_status_bytes("VmRSS")
        except OSError:
            self.proc = False
            self.start = _ru_maxrss_bytes()

    def peak(self) -> int:
        end = _proc_status_bytes("VmHWM") if self.proc else _ru_maxrss_bytes()
        return max(0, end - self.start)


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{field} missing from /proc/self/status")


def _ru_maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
