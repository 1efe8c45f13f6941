r"""The operator algebra: composition, sums, scalar multiples, stacking, adjoints, Gram operators.

Expressions are built with Python operators (``A @ B``, ``A + B``, ``A - B``, ``c * A``, ``-A``)
and :class:`Stack`. Shapes are checked when the expression is built. Structured operands are
combined into structured results where the structure is closed under the operation (a product of
masks is a mask, a scaled circulant is circulant, a scaled operator keeps its SVD); everything
else becomes a generic node whose parts are registered sub-modules (they move with ``.to()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import torch
from torch import Tensor, nn

from reddiff_imaging._validation import check_real
from reddiff_imaging.operators.base import LinearOperator, Operator, Scalar
from reddiff_imaging.operators.svd import SVD


def _conj(c: Scalar) -> Scalar:
    return c.conjugate() if isinstance(c, complex) else c


# --- builders (linear operands give a LinearOperator) -------------------------------------------
@overload
def compose(left: LinearOperator, right: LinearOperator) -> LinearOperator: ...
@overload
def compose(left: Operator, right: Operator) -> Operator: ...
def compose(left: Operator, right: Operator) -> Operator:
    """``left @ right``: apply ``right`` first, then ``left``."""
    if right.out_shape != left.in_shape:
        raise ValueError(
            f"cannot compose: the right operand's out_shape {right.out_shape} does not match "
            f"the left operand's in_shape {left.in_shape}"
        )
    structured = left._compose_structured(right)
    if structured is not None:
        return structured
    if isinstance(left, LinearOperator) and isinstance(right, LinearOperator):
        return LinearComposition(left, right)
    return Composition(left, right)


@overload
def add(a: LinearOperator, b: LinearOperator) -> LinearOperator: ...
@overload
def add(a: Operator, b: Operator) -> Operator: ...
def add(a: Operator, b: Operator) -> Operator:
    """``a + b`` for operators with equal input and output shapes."""
    if a.in_shape != b.in_shape or a.out_shape != b.out_shape:
        raise ValueError(
            "cannot add operators of different shapes: "
            f"{a.in_shape} -> {a.out_shape} and {b.in_shape} -> {b.out_shape}"
        )
    structured = a._add_structured(b)
    if structured is not None:
        return structured
    parts = [*(a.operators if isinstance(a, Sum) else [a]), *(b.operators if isinstance(b, Sum) else [b])]
    linear_parts = [p for p in parts if isinstance(p, LinearOperator)]
    return LinearSum(linear_parts) if len(linear_parts) == len(parts) else Sum(parts)


@overload
def scale(c: Scalar, op: LinearOperator) -> LinearOperator: ...
@overload
def scale(c: Scalar, op: Operator) -> Operator: ...
def scale(c: Scalar, op: Operator) -> Operator:
    """``c * op`` for a real or complex scalar ``c`` (finite; a bool is refused)."""
    if isinstance(c, complex):
        check_real(c.real, "scalar factor (real part)")
        check_real(c.imag, "scalar factor (imaginary part)")
    else:
        c = check_real(c, "scalar factor")
    if c == 1:
        return op
    if isinstance(op, Scaled):
        return scale(c * op.c, op.op)
    structured = op._scale_structured(c)
    if structured is not None:
        return structured
    return LinearScaled(c, op) if isinstance(op, LinearOperator) else Scaled(c, op)


# --- composition -------------------------------------------------------------------------------
class Composition(Operator):
    """:math:`(A \\circ B)(x) = A(B(x))`."""

    def __init__(self, left: Operator, right: Operator) -> None:
        super().__init__(right.in_shape, left.out_shape)
        self.left = left
        self.right = right

    def _forward(self, x: Tensor) -> Tensor:
        return self.left.apply_forward(self.right.apply_forward(x))


class LinearComposition(Composition, LinearOperator):
    r""":math:`AB` with adjoint :math:`B^H A^H`."""

    left: LinearOperator
    right: LinearOperator

    def __init__(self, left: LinearOperator, right: LinearOperator) -> None:
        super().__init__(left, right)
        self.real_domain = right.real_domain

    def _adjoint(self, y: Tensor) -> Tensor:
        return self.right.apply_adjoint(self.left.apply_adjoint(y))


# --- sums --------------------------------------------------------------------------------------
class Sum(Operator):
    """:math:`(A_1 + \\dots + A_k)(x)`.

    The terms are registered in the module list ``parts`` and kept, typed, in :attr:`operators`.
    """

    operators: tuple[Operator, ...]

    def __init__(self, parts: Sequence[Operator]) -> None:
        super().__init__(parts[0].in_shape, parts[0].out_shape)
        self.parts = nn.ModuleList(parts)
        self.operators = tuple(parts)

    def _forward(self, x: Tensor) -> Tensor:
        out = self.operators[0].apply_forward(x)
        for part in self.operators[1:]:
            out = out + part.apply_forward(x)
        return out


class LinearSum(Sum, LinearOperator):
    r""":math:`\sum_i A_i` with adjoint :math:`\sum_i A_i^H`."""

    operators: tuple[LinearOperator, ...]

    def __init__(self, parts: Sequence[LinearOperator]) -> None:
        super().__init__(parts)
        self.real_domain = any(p.real_domain for p in parts)

    def _adjoint(self, y: Tensor) -> Tensor:
        out = self.operators[0].apply_adjoint(y)
        for part in self.operators[1:]:
            out = out + part.apply_adjoint(y)
        return out


# --- scalar multiples --------------------------------------------------------------------------
class Scaled(Operator):
    """:math:`(cA)(x) = c\\,A(x)`."""

    def __init__(self, c: Scalar, op: Operator) -> None:
        super().__init__(op.in_shape, op.out_shape)
        self.c = c
        self.op = op

    def _forward(self, x: Tensor) -> Tensor:
        return self.c * self.op.apply_forward(x)

    def extra_repr(self) -> str:
        return f"c={self.c}"


class LinearScaled(Scaled, LinearOperator):
    r""":math:`cA` with adjoint :math:`\bar c A^H` and SVD :math:`(e^{i\arg c}U, |c|s, V)`."""

    op: LinearOperator

    def __init__(self, c: Scalar, op: LinearOperator) -> None:
        super().__init__(c, op)
        self.real_domain = op.real_domain

    def _adjoint(self, y: Tensor) -> Tensor:
        return self.op.apply_adjoint(_conj(self.c) * y)

    @property
    def svd(self) -> SVD | None:
        inner = self.op.svd
        return None if inner is None else inner.scaled(self.c)


# --- adjoint, transpose, Gram ------------------------------------------------------------------
class Adjoint(LinearOperator):
    """The adjoint :math:`A^H` of a linear operator as an operator of its own."""

    def __init__(self, op: LinearOperator) -> None:
        super().__init__(op.out_shape, op.in_shape)
        self.op = op

    def _forward(self, y: Tensor) -> Tensor:
        return self.op.apply_adjoint(y)

    def _adjoint(self, x: Tensor) -> Tensor:
        return self.op.apply_forward(x)

    def _adjoint_structured(self) -> LinearOperator:
        return self.op


class Transpose(LinearOperator):
    r"""The transpose :math:`A^T y = \overline{A^H \bar y}`."""

    def __init__(self, op: LinearOperator) -> None:
        super().__init__(op.out_shape, op.in_shape)
        self.op = op

    def _forward(self, y: Tensor) -> Tensor:
        return self.op.apply_adjoint(y.conj()).conj()

    def _adjoint(self, x: Tensor) -> Tensor:
        return self.op.apply_forward(x.conj()).conj()


class Gram(LinearOperator):
    r"""The normal operator :math:`A^H A` (self-adjoint; SVD :math:`V s^2 V^H` when A has one)."""

    def __init__(self, op: LinearOperator) -> None:
        super().__init__(op.in_shape, op.in_shape)
        self.op = op
        self.real_domain = op.real_domain

    def _forward(self, x: Tensor) -> Tensor:
        return self.op.apply_adjoint(self.op.apply_forward(x))

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._forward(y)

    @property
    def svd(self) -> SVD | None:
        inner = self.op.svd
        if inner is None:
            return None
        return SVD(U=inner.V, Ut=inner.Vt, V=inner.V, Vt=inner.Vt, singular_values=inner.singular_values**2)


# --- linearisation of a nonlinear operator -----------------------------------------------------
class Linearization(LinearOperator):
    r"""The Jacobian :math:`J_A(x_0)` of an operator at a fixed batch of points :math:`x_0`.

    Forward is a Jacobian-vector product, the adjoint a vector-Jacobian product (both through
    :mod:`torch.func`); inputs must have the batch size of :math:`x_0`.
    """

    point: Tensor

    def __init__(self, op: Operator, point: Tensor) -> None:
        super().__init__(op.in_shape, op.out_shape)
        self.op = op
        self.register_buffer("point", point.detach())
        self._pullback = torch.func.vjp(op.apply_forward, self.point)[1]
        self._norm_batch_size = int(point.shape[0])

    def _forward(self, v: Tensor) -> Tensor:
        return torch.func.jvp(self.op.apply_forward, (self.point,), (v,))[1]

    def _adjoint(self, w: Tensor) -> Tensor:
        return self._pullback(w)[0]


# --- vertical stacking -------------------------------------------------------------------------
class Stack(Operator):
    r"""Vertical stack :math:`x \mapsto (A_1 x, \dots, A_k x)` of operators with one input shape.

    The output is the concatenation of the flattened outputs, shape ``(B, m_1 + ... + m_k)``;
    :meth:`split` recovers the parts. Linear parts give a linear stack with adjoint
    :math:`\sum_i A_i^H y_i`. The parts are registered in the module list ``parts`` and kept,
    typed, in :attr:`operators`.
    """

    operators: tuple[Operator, ...]

    def __new__(cls, operators: Sequence[Operator]) -> Stack:  # noqa: D102
        if cls is Stack and operators and all(getattr(op, "is_linear", False) for op in operators):
            cls = LinearStack
        return super().__new__(cls)

    def __init__(self, operators: Sequence[Operator]) -> None:
        operators = list(operators)
        if not operators or not all(isinstance(op, Operator) for op in operators):
            raise TypeError("Stack needs a non-empty sequence of Operator objects")
        in_shapes = {op.in_shape for op in operators}
        if len(in_shapes) != 1:
            raise ValueError(f"stacked operators must share one in_shape, got {sorted(in_shapes)}")
        sizes = [int(torch.Size(op.out_shape).numel()) for op in operators]
        super().__init__(operators[0].in_shape, (sum(sizes),))
        self.parts = nn.ModuleList(operators)
        self.operators = tuple(operators)
        self.sizes = sizes

    def _forward(self, x: Tensor) -> Tensor:
        return torch.cat([op.apply_forward(x).reshape(x.shape[0], -1) for op in self.operators], dim=1)

    def split(self, y: Tensor) -> list[Tensor]:
        """Split a stacked measurement into the parts' measurements ``(B, *out_shape_i)``."""
        pieces = torch.split(y, self.sizes, dim=1)
        return [p.reshape(y.shape[0], *op.out_shape) for p, op in zip(pieces, self.operators, strict=True)]


class LinearStack(Stack, LinearOperator):
    """A :class:`Stack` of linear operators."""

    operators: tuple[LinearOperator, ...]

    def __init__(self, operators: Sequence[LinearOperator]) -> None:
        super().__init__(operators)
        self.real_domain = any(p.real_domain for p in self.operators)

    def _adjoint(self, y: Tensor) -> Tensor:
        pieces = self.split(y)
        out = self.operators[0].apply_adjoint(pieces[0])
        for op, piece in zip(self.operators[1:], pieces[1:], strict=True):
            out = out + op.apply_adjoint(piece)
        return out
