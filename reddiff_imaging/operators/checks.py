r"""Numerical checks of operators, exported for users who write their own.

* :func:`dot_test` — adjointness, :math:`\langle Ax, y\rangle = \langle x, A^H y\rangle`;
* :func:`linearity_test` — :math:`A(ax + by) = aAx + bAy`;
* :func:`jacobian_test` — ``jvp`` against central finite differences and ``vjp`` against ``jvp``.

Each returns a :class:`CheckResult` that is truthy when the check passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from reddiff_imaging._validation import check_allocation, check_bool, check_int, check_real
from reddiff_imaging.operators.base import LinearOperator, Operator

#: default tolerances of the normalised errors, by real precision
TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 1e-2}


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a numerical check: the normalised ``error``, the ``tolerance``, and ``passed``."""

    name: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name}: error {self.error:.3e} (tolerance {self.tolerance:.1e}) {verdict}"


#: the real precisions the checks draw their random inputs in (those the project computes in)
CHECK_DTYPES = (torch.float32, torch.float64)
#: torch's seeds: any 64-bit integer, signed or unsigned
_SEED_RANGE = (-(2**63), 2**64 - 1)


def _check_dtype(dtype: object) -> torch.dtype:
    if dtype not in CHECK_DTYPES:
        raise TypeError(f"dtype must be torch.float32 or torch.float64 (the real precision of the test), got {dtype!r}")
    assert isinstance(dtype, torch.dtype)
    return dtype


def _check_tolerance(tolerance: object) -> float | None:
    return None if tolerance is None else check_real(tolerance, "tolerance", low=0.0)


def _random_input(
    op: Operator, batch: int, dtype: torch.dtype, complex_input: bool, generator: torch.Generator
) -> Tensor:
    device = op.device or torch.device("cpu")
    shape = (check_int(batch, "batch"), *op.in_shape)
    check_allocation(math.prod(shape), "batch", f"random inputs of shape {shape}")
    x = torch.randn(shape, dtype=dtype, device=device, generator=generator)
    if complex_input and not op.real_domain:
        x = torch.complex(x, torch.randn(shape, dtype=dtype, device=device, generator=generator))
    return x


def _generator(op: Operator, seed: int) -> torch.Generator:
    """The checks' random generator on the operator's device; refuses an ``op`` that is not an Operator."""
    if not isinstance(op, Operator):
        raise TypeError(f"op must be a reddiff_imaging Operator, got {type(op).__name__}")
    seed = check_int(seed, "seed", minimum=_SEED_RANGE[0], maximum=_SEED_RANGE[1])
    return torch.Generator(device=op.device or torch.device("cpu")).manual_seed(seed)


def _inner(a: Tensor, b: Tensor) -> Tensor:
    return (a.conj() * b).sum()


def dot_test(
    op: LinearOperator,
    *,
    batch: int = 3,
    dtype: torch.dtype = torch.float64,
    complex_input: bool = False,
    seed: int = 0,
    tolerance: float | None = None,
) -> CheckResult:
    r"""Adjoint test with random ``x`` and ``y``:

    .. math::
        \frac{|\langle A x, y\rangle - \langle x, A^H y\rangle|}{\|A\|\,\|x\|\,\|y\|} \le \mathrm{tol},

    with :math:`\|A\|` from power iteration. For real inputs the real parts are compared (the
    adjoint is taken for the real inner product); for complex inputs the complex values.

    Args:
        op: the operator.
        batch: batch size of the random inputs (an int >= 1; the inputs are bounded by
            :data:`~reddiff_imaging._validation.MAX_GENERATED_ELEMENTS` values).
        dtype: real precision of the test (torch.float64 or torch.float32).
        complex_input: draw complex ``x`` (a bool; ignored for operators with ``real_domain``).
        seed: seed of the random inputs (a 64-bit integer).
        tolerance: a finite number >= 0; defaults to :data:`TOLERANCES` for ``dtype``, or for the
            operator's compute precision when it is coarser (:func:`default_tolerance`).
    """
    generator = _generator(op, seed)
    if not op.is_linear:
        raise TypeError(f"dot_test needs a linear operator, got {type(op).__name__}")
    dtype, tolerance = _check_dtype(dtype), _check_tolerance(tolerance)
    complex_input = check_bool(complex_input, "complex_input")
    x = _random_input(op, batch, dtype, complex_input, generator)
    ax = op.apply_forward(x)
    y = torch.randn(ax.shape, dtype=dtype, device=ax.device, generator=generator)
    if ax.is_complex():
        y = torch.complex(y, torch.randn(ax.shape, dtype=dtype, device=ax.device, generator=generator))
    aty = op.apply_adjoint(y)
    lhs, rhs = _inner(ax, y), _inner(x, aty)
    if not x.is_complex():
        lhs, rhs = lhs.real, rhs.real
    scale = op.norm(dtype=dtype) * float(x.norm()) * float(y.norm())
    error = float((lhs - rhs).abs()) / max(scale, torch.finfo(dtype).tiny)
    return CheckResult("dot test", error, default_tolerance(op, dtype) if tolerance is None else tolerance)


def default_tolerance(op: Operator, dtype: torch.dtype) -> float:
    """:data:`TOLERANCES` of the coarser of ``dtype`` and the operator's compute precision
    (``op.compute_dtype`` when it has one: a deepinv physics with float32 filters computes in float32
    whatever the input)."""
    if not isinstance(op, Operator):
        raise TypeError(f"op must be a reddiff_imaging Operator, got {type(op).__name__}")
    dtype = _check_dtype(dtype)
    compute = getattr(op, "compute_dtype", None)
    tolerances = [TOLERANCES.get(dtype, 1e-4)] + ([TOLERANCES.get(compute, 1e-4)] if compute is not None else [])
    return max(tolerances)


def linearity_test(
    op: Operator,
    *,
    batch: int = 3,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    tolerance: float | None = None,
) -> CheckResult:
    r"""Check :math:`\|A(ax + by) - aAx - bAy\| / (|a|\|Ax\| + |b|\|Ay\|)` for random ``x, y, a, b``.

    ``batch``, ``dtype``, ``seed`` and ``tolerance`` as in :func:`dot_test`.
    """
    generator = _generator(op, seed)
    dtype, tolerance = _check_dtype(dtype), _check_tolerance(tolerance)
    x = _random_input(op, batch, dtype, False, generator)
    y = _random_input(op, batch, dtype, False, generator)
    a, b = (float(v) for v in torch.randn(2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    ax, ay = op.apply_forward(x), op.apply_forward(y)
    residual = op.apply_forward(a * x + b * y) - a * ax - b * ay
    scale = abs(a) * float(ax.norm()) + abs(b) * float(ay.norm())
    error = float(residual.norm()) / max(scale, torch.finfo(dtype).tiny)
    return CheckResult("linearity", error, TOLERANCES.get(dtype, 1e-4) if tolerance is None else tolerance)


def jacobian_test(
    op: Operator,
    x: Tensor | None = None,
    *,
    step: float = 1e-6,
    seed: int = 0,
    tolerance: float = 1e-5,
) -> CheckResult:
    r"""Compare the Jacobian products of ``op`` at ``x`` with central finite differences (float64).

    The error is the larger of

    .. math::
        \frac{\|J v - (A(x + hv) - A(x - hv))/2h\|}{\|J v\|}
        \quad\text{and}\quad
        \frac{|\langle Jv, w\rangle - \langle v, J^H w\rangle|}{\|Jv\|\,\|w\|}.

    ``x`` defaults to a random image in ``[0, 1]`` (batch of 2); ``step`` :math:`h` is a finite
    number > 0 and ``tolerance`` one >= 0.
    """
    generator = _generator(op, seed)
    step = check_real(step, "step", low=0.0, open_low=True)
    tolerance = check_real(tolerance, "tolerance", low=0.0)
    device = op.device or torch.device("cpu")
    if x is None:
        x = torch.rand((2, *op.in_shape), dtype=torch.float64, device=device, generator=generator)
    x = op.check_input(x, "x").to(torch.float64)
    v = torch.randn(x.shape, dtype=torch.float64, device=device, generator=generator)
    jv = op.jvp(x, v)
    fd = (op.apply_forward(x + step * v) - op.apply_forward(x - step * v)) / (2 * step)
    w = torch.randn(jv.shape, dtype=torch.float64, device=device, generator=generator)
    if jv.is_complex():
        w = torch.complex(w, torch.randn(jv.shape, dtype=torch.float64, device=device, generator=generator))
    jtw = op.vjp(x, w)
    jv_norm = max(float(jv.norm()), torch.finfo(torch.float64).tiny)
    fd_error = float((jv - fd).norm()) / jv_norm
    adjoint_error = float((_inner(jv, w).real - _inner(v, jtw).real).abs()) / (jv_norm * float(w.norm()))
    return CheckResult("jacobian", max(fd_error, adjoint_error), tolerance)
