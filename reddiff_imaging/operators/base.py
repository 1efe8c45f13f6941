r"""Forward-model base classes: :class:`Operator` (possibly nonlinear) and :class:`LinearOperator`.

Operators are :class:`torch.nn.Module` objects, so their buffers (masks, kernels, filters) move
with ``.to(device)`` and parts of composite operators are registered sub-modules. They act on
batch-first tensors ``(B, *in_shape)`` and return ``(B, *out_shape)``.

Two ways to apply an operator:

* ``A(x)`` and ``A.adjoint(y)`` check their input (type, dtype, shape, device, NaN/Inf) and are
  what user code calls;
* ``A.apply_forward(x)`` and ``A.apply_adjoint(y)`` skip the checks (no host-device synchronisation); solvers
  call these in their inner loops after validating the problem once.

Subclasses implement ``_forward`` (and ``_adjoint`` for linear operators).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from numbers import Number
from typing import TYPE_CHECKING, overload

import torch
from torch import Tensor, nn

from reddiff_imaging._validation import (
    Shape,
    as_shape,
    check_int,
    check_positive,
    check_real,
    check_tensor,
)
from reddiff_imaging.operators.cg import conjugate_gradient

if TYPE_CHECKING:
    import deepinv
    import scipy.sparse.linalg

    from reddiff_imaging.noise import NoiseModel
    from reddiff_imaging.operators.svd import SVD

Scalar = int | float | complex


class Operator(nn.Module):
    r"""A forward model :math:`A: \mathbb{R}^{\mathrm{in\_shape}} \to \mathbb{R}^{\mathrm{out\_shape}}`.

    Nonlinear operators get :meth:`jvp`, :meth:`vjp` and :meth:`linearize` from :mod:`torch.func`.

    Args:
        in_shape: input shape without the batch axis, e.g. ``(1, 64, 64)``.
        out_shape: output shape without the batch axis.
    """

    is_linear: bool = False
    #: True when inputs must be real although the operator has complex coefficients (e.g. MRI of
    #: real images); its adjoint then projects onto the reals (adjoint for the real inner product).
    real_domain: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Every ``pinv`` (the base one and each operator's own) checks its options first, so that
        no override can forget: ``rcond`` finite and >= 0, ``max_iter`` an int >= 1, ``tol``
        finite and > 0 (or None)."""
        super().__init_subclass__(**kwargs)
        pinv = cls.__dict__.get("pinv")
        if pinv is not None:

            @functools.wraps(pinv)
            def checked_pinv(self: Operator, y: Tensor, *args: object, **options: object) -> Tensor:
                check_solve_options(options)
                return pinv(self, y, *args, **options)

            # assigned with setattr: ``Operator`` itself declares no pinv (nonlinear ones may have one)
            setattr(cls, "pinv", checked_pinv)

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> None:
        super().__init__()
        self.in_shape: Shape = as_shape(in_shape, "in_shape")
        self.out_shape: Shape = as_shape(out_shape, "out_shape")

    # -- application -------------------------------------------------------------------------
    def _forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward")

    def apply_forward(self, x: Tensor) -> Tensor:
        """Apply the operator without input checks (for solvers' inner loops)."""
        return self._forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the operator to ``x`` of shape ``(B, *in_shape)`` after checking it."""
        self.check_input(x, "x")
        return self._forward(x)

    @property
    def device(self) -> torch.device | None:
        """Device of the operator's buffers, or ``None`` for an operator without buffers."""
        for tensor in self.buffers():
            return tensor.device
        return None

    def check_input(self, x: object, name: str = "x") -> Tensor:
        """Validate an input image batch: tensor, float dtype, shape ``(B, *in_shape)``, device, finite."""
        return check_tensor(x, name, self.in_shape, allow_complex=not self.real_domain, device=self.device)

    def check_output(self, y: object, name: str = "y") -> Tensor:
        """Validate a measurement batch of shape ``(B, *out_shape)``."""
        return check_tensor(y, name, self.out_shape, device=self.device)

    # -- derivatives -------------------------------------------------------------------------
    def jvp(self, x: Tensor, v: Tensor) -> Tensor:
        r"""Jacobian-vector product :math:`J_A(x)\,v`, ``v`` of ``x``'s shape ``(B, *in_shape)``."""
        self._check_direction(x, self.check_input(v, "v"))
        return self._jvp(x, v)

    def vjp(self, x: Tensor, w: Tensor) -> Tensor:
        r"""Vector-Jacobian product :math:`J_A(x)^H w`, ``w`` of shape ``(B, *out_shape)``."""
        self._check_direction(x, self.check_output(w, "w"))
        return self._vjp(x, w)

    def _check_direction(self, x: Tensor, direction: Tensor) -> None:
        """Check the point ``x`` of a Jacobian product and that its direction has ``x``'s batch size."""
        self.check_input(x, "x")
        if direction.shape[0] != x.shape[0]:
            raise ValueError(f"x and the direction of a Jacobian product need one batch size, got {x.shape[0]} and {direction.shape[0]}")

    def _jvp(self, x: Tensor, v: Tensor) -> Tensor:
        return torch.func.jvp(self.apply_forward, (x,), (v,))[1]

    def _vjp(self, x: Tensor, w: Tensor) -> Tensor:
        return torch.func.vjp(self.apply_forward, x)[1](w)[0]

    def linearize(self, x: Tensor) -> LinearOperator:
        r"""The Jacobian :math:`J_A(x)` as a :class:`LinearOperator` (forward: jvp, adjoint: vjp)."""
        from reddiff_imaging.operators.algebra import Linearization

        return Linearization(self, self.check_input(x, "x"))

    # -- algebra (LinearOperator narrows the result types: linear with linear is linear) -------
    def __matmul__(self, other: Operator) -> Operator:
        from reddiff_imaging.operators.algebra import compose

        if not isinstance(other, Operator):
            return NotImplemented
        return compose(self, other)

    def __add__(self, other: Operator) -> Operator:
        from reddiff_imaging.operators.algebra import add

        if not isinstance(other, Operator):
            return NotImplemented
        return add(self, other)

    def __sub__(self, other: Operator) -> Operator:
        if not isinstance(other, Operator):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, c: Scalar | Tensor) -> Operator:
        from reddiff_imaging.operators.algebra import scale

        factor = _as_scalar(c)
        return NotImplemented if factor is None else scale(factor, self)

    __rmul__ = __mul__

    def __neg__(self) -> Operator:
        return (-1.0) * self

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, out_shape={self.out_shape}"

    def to_deepinv(self, noise: NoiseModel | None = None) -> deepinv.physics.Physics:
        """This operator as a deepinv physics (see
        :func:`~reddiff_imaging.operators.deepinv_bridge.to_deepinv`), noise-free unless ``noise``
        (one of :mod:`reddiff_imaging.noise`) is given."""
        from reddiff_imaging.operators.deepinv_bridge import to_deepinv

        return to_deepinv(self, noise)

    # -- structure hooks (overridden by structured operators) ---------------------------------
    def _compose_structured(self, right: Operator) -> Operator | None:
        """``self @ right`` as a structured operator, or None to fall back to a generic composition."""
        return None

    def _add_structured(self, other: Operator) -> Operator | None:
        """``self + other`` as a structured operator, or None."""
        return None

    def _scale_structured(self, c: Scalar) -> Operator | None:
        """``c * self`` as a structured operator, or None."""
        return None


class LinearOperator(Operator):
    r"""A linear operator with a hand-written adjoint.

    The adjoint is taken for the real inner product :math:`\mathrm{Re}\langle\cdot,\cdot\rangle`; for
    operators between complex spaces this is the usual Hermitian adjoint :math:`A^H`.

    Derived objects: :attr:`H` (adjoint), :attr:`T` (transpose), :attr:`gram` (:math:`A^H A`),
    :meth:`norm` (spectral norm by power iteration), :meth:`pinv`, :meth:`solve_normal`, :attr:`svd`.
    """

    is_linear = True

    def _adjoint(self, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement _adjoint")

    def apply_adjoint(self, y: Tensor) -> Tensor:
        """Apply the adjoint without input checks."""
        x = self._adjoint(y)
        return x.real if self.real_domain and x.is_complex() else x

    def adjoint(self, y: Tensor) -> Tensor:
        """Apply the adjoint :math:`A^H` to ``y`` of shape ``(B, *out_shape)`` after checking it."""
        self.check_output(y, "y")
        return self.apply_adjoint(y)

    # -- derivatives of a linear map ------------------------------------------------------------
    def _jvp(self, x: Tensor, v: Tensor) -> Tensor:
        return self.apply_forward(v)

    def _vjp(self, x: Tensor, w: Tensor) -> Tensor:
        return self.apply_adjoint(w)

    def linearize(self, x: Tensor) -> LinearOperator:
        return self

    # -- algebra: the same operations as :class:`Operator`, typed linear where the result is ------
    @overload
    def __matmul__(self, other: LinearOperator) -> LinearOperator: ...
    @overload
    def __matmul__(self, other: Operator) -> Operator: ...
    def __matmul__(self, other: Operator) -> Operator:
        return super().__matmul__(other)

    @overload
    def __add__(self, other: LinearOperator) -> LinearOperator: ...
    @overload
    def __add__(self, other: Operator) -> Operator: ...
    def __add__(self, other: Operator) -> Operator:
        return super().__add__(other)

    @overload
    def __sub__(self, other: LinearOperator) -> LinearOperator: ...
    @overload
    def __sub__(self, other: Operator) -> Operator: ...
    def __sub__(self, other: Operator) -> Operator:
        return super().__sub__(other)

    def __mul__(self, c: Scalar | Tensor) -> LinearOperator:
        from reddiff_imaging.operators.algebra import scale

        factor = _as_scalar(c)
        return NotImplemented if factor is None else scale(factor, self)

    __rmul__ = __mul__

    def __neg__(self) -> LinearOperator:
        return (-1.0) * self

    # -- derived operators ----------------------------------------------------------------------
    @property
    def H(self) -> LinearOperator:  # noqa: N802 - standard mathematical notation
        """The adjoint operator :math:`A^H` (structured where possible)."""
        from reddiff_imaging.operators.algebra import Adjoint

        return self._adjoint_structured() or Adjoint(self)

    @property
    def T(self) -> LinearOperator:  # noqa: N802
        r"""The transpose :math:`A^T y = \overline{A^H \bar y}` (equal to :attr:`H` for real operators)."""
        from reddiff_imaging.operators.algebra import Transpose

        return Transpose(self)

    @property
    def gram(self) -> LinearOperator:
        """The normal operator :math:`A^H A` (structured where possible)."""
        from reddiff_imaging.operators.algebra import Gram

        return self._gram_structured() or Gram(self)

    @property
    def svd(self) -> SVD | None:
        """The operator's :class:`~reddiff_imaging.operators.SVD`, or None when it has none."""
        return None

    def _adjoint_structured(self) -> LinearOperator | None:
        return None

    def _gram_structured(self) -> LinearOperator | None:
        return None

    # -- numerics -------------------------------------------------------------------------------
    def norm(
        self,
        *,
        max_iter: int = 200,
        tol: float = 1e-7,
        dtype: torch.dtype | None = None,
        seed: int = 0,
    ) -> float:
        r"""Spectral norm :math:`\|A\|_2`: the largest singular value when the operator has an
        :attr:`svd` (exact, no iterations), power iteration on :math:`A^H A` otherwise.

        Deterministic: the start vector is drawn from a generator seeded with ``seed``. The default
        dtype is float64 on CPU and float32 elsewhere.
        """
        check_int(max_iter, "max_iter")
        check_positive(tol, "tol")
        check_int(seed, "seed", minimum=None)
        svd = self.svd
        if svd is not None:
            return float(svd.singular_values.abs().max())
        device = self.device or torch.device("cpu")
        if dtype is None:
            dtype = torch.float64 if device.type == "cpu" else torch.float32
        generator = torch.Generator(device=device).manual_seed(seed)
        x = torch.randn((self._norm_batch_size, *self.in_shape), generator=generator, dtype=dtype, device=device)
        x = x / x.norm()
        estimate = 0.0
        for _ in range(max_iter):
            z = self.apply_adjoint(self.apply_forward(x))
            new_estimate = float(z.norm())
            if new_estimate == 0.0:
                return 0.0
            x = z / new_estimate
            if abs(new_estimate - estimate) <= tol * new_estimate:
                estimate = new_estimate
                break
            estimate = new_estimate
        return estimate**0.5

    #: batch size of the power iteration in :meth:`norm` (operators tied to a batch override it)
    _norm_batch_size: int = 1

    def pinv(self, y: Tensor, *, rcond: float = 1e-6, max_iter: int = 1000, tol: float | None = None) -> Tensor:
        r"""Minimum-norm least-squares solution :math:`A^+ y`.

        Closed form through the SVD when there is one (singular values below ``rcond`` times the
        largest are treated as zero); otherwise conjugate gradients on :math:`A^H A x = A^H y`
        started from zero, which converges to the minimum-norm solution.
        """
        self.check_output(y, "y")
        svd = self.svd
        if svd is not None:
            return _as_domain(self, svd.pinv(y, rcond))
        return conjugate_gradient(self._gram_apply, self.apply_adjoint(y), max_iter=max_iter, tol=cg_tolerance(y, tol))

    def solve_normal(
        self, b: Tensor, rho: float | Tensor, *, check: bool = True, max_iter: int = 1000, tol: float | None = None
    ) -> Tensor:
        r"""Solve :math:`(A^H A + \rho I)\,x = b` for :math:`\rho > 0` (a float or one per batch item).

        Closed form when the operator's structure allows (mask, FFT-diagonal, SVD), conjugate
        gradients otherwise. This is the x-update of ADMM, DiffPIR and half-quadratic splitting.
        ``check=False`` skips the NaN/Inf check of ``b`` (no host synchronisation in solver loops).
        """
        if check:
            self.check_input(b, "b")
        return self._solve_normal(b, rho_for_batch(rho, b), max_iter=max_iter, tol=tol)

    def _solve_normal(self, b: Tensor, rho_b: float | Tensor, *, max_iter: int, tol: float | None) -> Tensor:
        """:meth:`solve_normal` after validation; structured operators override it."""
        svd = self.svd
        if svd is not None:
            return _as_domain(self, svd.solve_normal(b, rho_b))
        return conjugate_gradient(
            lambda v: self._gram_apply(v) + rho_b * v, b, max_iter=max_iter, tol=cg_tolerance(b, tol)
        )

    def _gram_apply(self, x: Tensor) -> Tensor:
        return self.apply_adjoint(self.apply_forward(x))

    # -- bridges --------------------------------------------------------------------------------
    def to_scipy(self, dtype: torch.dtype = torch.float64) -> scipy.sparse.linalg.LinearOperator:
        """This operator on one flattened image as a :class:`scipy.sparse.linalg.LinearOperator`."""
        from reddiff_imaging.operators.scipy_bridge import to_scipy

        return to_scipy(self, dtype=dtype)


def rho_for_batch(rho: float | Tensor, b: Tensor) -> float | Tensor:
    """Validate ``rho`` (> 0, a float or a tensor of shape ``(B,)``) and shape it to broadcast with b."""
    if isinstance(rho, Tensor) and rho.ndim > 0:
        if rho.shape != (b.shape[0],):
            raise ValueError(f"rho must be a float or a tensor of shape ({b.shape[0]},), got {tuple(rho.shape)}")
        if not bool((rho > 0).all()):
            raise ValueError("rho must be > 0 for every batch item")
        return rho.to(device=b.device, dtype=b.real.dtype).view((-1,) + (1,) * (b.ndim - 1))
    return check_positive(rho, "rho")


def check_solve_options(options: dict[str, object]) -> None:
    """Check the options of a pseudo-inverse or normal solve: ``rcond`` (finite, >= 0),
    ``max_iter`` (an int >= 1) and ``tol`` (finite, > 0, or None)."""
    if "rcond" in options:
        check_positive(options["rcond"], "rcond", allow_zero=True)
    if "max_iter" in options:
        check_int(options["max_iter"], "max_iter")
    if options.get("tol") is not None:
        check_positive(options["tol"], "tol")


def cg_tolerance(like: Tensor, tol: float | None) -> float:
    """Relative residual tolerance of conjugate gradients: ``tol``, or 1e-10 in float64 and 1e-6 otherwise."""
    if tol is not None:
        return check_positive(tol, "tol")
    return 1e-10 if like.dtype in (torch.float64, torch.complex128) else 1e-6


def _as_scalar(c: object) -> Scalar | None:
    """The factor of ``c * A``: a complex number, or a real one checked by
    :func:`~reddiff_imaging._validation.check_real` (a bool is refused); a 0-d tensor gives its
    item; None (the operation is not ours) for anything that is not a number."""
    if isinstance(c, Tensor) and c.ndim == 0:
        c = c.item()
    if isinstance(c, complex):
        return complex(c)
    if isinstance(c, Number):
        return check_real(c, "scalar factor")
    return None


def _as_domain(op: LinearOperator, x: Tensor) -> Tensor:
    return x.real if op.real_domain and x.is_complex() else x

