"""Input checks shared by operators, noise models, problems, priors and solvers.

Every check raises early with a message that names the argument, what was expected and what came.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

Shape = tuple[int, ...]

_FINITE_SCANS: ContextVar[bool] = ContextVar("reddiff_imaging_finite_scans", default=True)


@contextmanager
def monitored_finiteness() -> Iterator[None]:
    """Skip the NaN/Inf scan of :func:`check_tensor` inside the block (all other checks stay).

    Solver loops run in this block: their :class:`~reddiff_imaging.solvers.base.Monitor` checks the
    iterate every ``check_every`` steps, so scanning every operator and prior input again (a full
    reduction and, on a GPU, a host synchronisation per call) would only cost time.
    """
    token = _FINITE_SCANS.set(False)
    try:
        yield
    finally:
        _FINITE_SCANS.reset(token)


def as_shape(value: Sequence[int] | torch.Size, name: str) -> Shape:
    """Return ``value`` as a tuple of positive ints, or raise naming ``name``."""
    try:
        shape = tuple(int(v) for v in value)
    except TypeError as err:
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}") from err
    if len(shape) == 0 or any(v <= 0 for v in shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {shape}")
    return shape


def as_image_shape(value: Sequence[int] | torch.Size, name: str) -> tuple[int, int, int]:
    """Return ``value`` as ``(C, H, W)`` (three positive ints), or raise naming ``name``."""
    shape = as_shape(value, name)
    if len(shape) != 3:
        raise ValueError(f"{name} must be (C, H, W), got {shape}")
    return shape  # type: ignore[return-value]


def check_tensor(
    value: object,
    name: str,
    shape: Shape | None = None,
    *,
    allow_complex: bool = True,
    device: torch.device | None = None,
    finite: bool = True,
) -> Tensor:
    """Validate a batched tensor ``(B, *shape)`` and return it unchanged.

    Checks, in order: it is a tensor, its dtype is floating point (or complex when allowed), its
    trailing shape, its device, and (``finite=True``, outside ``monitored_finiteness()``) that it
    holds no NaN or Inf.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"{name} must have a floating-point dtype, got {value.dtype}")
    if value.is_complex() and not allow_complex:
        raise TypeError(f"{name} must be real (this operator acts on real inputs), got {value.dtype}")
    if shape is not None and (value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != shape):
        expected = "(B, " + ", ".join(str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if device is not None and value.device != device:
        raise ValueError(
            f"{name} is on device {value.device}, but the operator lives on {device}; "
            "move one of them with .to(device)"
        )
    if finite and _FINITE_SCANS.get() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {value.numel()} entries)")
    return value


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Raise a ValueError listing ``choices`` when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` when it is a bool, or raise a TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, or raise when it is not (strictly) positive and finite."""
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def match_dtype(buffer: Tensor, like: Tensor) -> Tensor:
    """Cast ``buffer`` to the precision of ``like``, keeping the buffer's real/complex kind.

    Operators keep their buffers in one precision and follow the input's precision on the fly, so
    that output dtype = input dtype (float32 in, float32 out; float64 in, float64 out).
    """
    real = like.real.dtype if like.is_complex() else like.dtype
    target = (torch.complex128 if real == torch.float64 else torch.complex64) if buffer.is_complex() else real
    return buffer.to(device=like.device, dtype=target)


def real_view(tensor: Tensor) -> Tensor:
    """A complex tensor as a real one with a trailing (real, imaginary) axis; real tensors unchanged.

    Complex buffers are stored this way because ``Module.to(float_dtype)`` would drop their
    imaginary part; :func:`complex_view` restores them.
    """
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


def complex_view(tensor: Tensor, is_complex: bool) -> Tensor:
    """Inverse of :func:`real_view`."""
    return torch.view_as_complex(tensor) if is_complex else tensor
