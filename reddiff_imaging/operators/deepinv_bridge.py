"""Two-way bridge to deepinv's physics (:mod:`deepinv.physics`).

* :func:`from_deepinv` wraps a deepinv ``Physics``/``LinearPhysics`` as our operator (its noise and
  sensor models are dropped: measurement noise is separate here, see :mod:`reddiff_imaging.noise`);
* :func:`to_deepinv` exposes our operator as a noise-free deepinv physics whose operator is a
  registered sub-module (it moves with ``.to()``), so deepinv's solvers and tests run on it.

Operators of real images with complex measurements (``real_domain``, e.g. MRI) appear in deepinv
with real measurements whose last axis holds (real, imaginary), so deepinv's complex-agnostic
adjointness test applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import deepinv
import torch
from torch import Tensor

from reddiff_imaging._validation import as_shape, match_dtype
from reddiff_imaging.operators.base import LinearOperator, Operator


class DeepinvOperator(Operator):
    """A nonlinear deepinv ``Physics`` as an :class:`Operator` (forward ``physics.A``)."""

    def __init__(self, physics: deepinv.physics.Physics, in_shape: Sequence[int]) -> None:
        shape = as_shape(in_shape, "in_shape")
        device = _physics_device(physics)
        probe = physics.A(torch.zeros((1, *shape), device=device))
        if not isinstance(probe, Tensor):
            raise TypeError(f"physics.A must return a tensor, got {type(probe).__name__}")
        super().__init__(shape, tuple(probe.shape[1:]))
        self.physics = physics

    def _in_physics_precision(self, method, v: Tensor) -> Tensor:  # noqa: ANN001
        # deepinv's physics keep their filters in one precision and do not follow the input:
        # compute in theirs and return the input's precision (float64 checks then work too)
        return match_dtype(method(v.to(_physics_dtype(self.physics, v))), v)

    def _forward(self, x: Tensor) -> Tensor:
        return self._in_physics_precision(self.physics.A, x)


class DeepinvLinearOperator(DeepinvOperator, LinearOperator):
    """A deepinv ``LinearPhysics`` as a :class:`LinearOperator` (adjoint ``physics.A_adjoint``)."""

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._in_physics_precision(self.physics.A_adjoint, y)


def from_deepinv(physics: deepinv.physics.Physics, in_shape: Sequence[int] | None = None) -> Operator:
    """Wrap a deepinv physics as our operator.

    Args:
        physics: a ``deepinv.physics.Physics`` (nonlinear) or ``LinearPhysics``.
        in_shape: image shape without batch; taken from ``physics.img_size`` when it has one.
    """
    if not isinstance(physics, deepinv.physics.Physics):
        raise TypeError(f"physics must be a deepinv.physics.Physics, got {type(physics).__name__}")
    if in_shape is None:
        in_shape = getattr(physics, "img_size", None)
        if in_shape is None:
            raise ValueError(f"in_shape is required: {type(physics).__name__} does not record its image size")
    cls = DeepinvLinearOperator if isinstance(physics, deepinv.physics.LinearPhysics) else DeepinvOperator
    return cls(physics, in_shape)


def _physics_dtype(physics: torch.nn.Module, like: Tensor) -> torch.dtype:
    """The floating precision of the physics' tensors, or that of ``like`` when it has none."""
    for tensor in (*physics.buffers(), *physics.parameters()):
        if tensor.is_floating_point():
            return tensor.dtype
    return like.dtype


def _physics_device(physics: torch.nn.Module) -> torch.device:
    for tensor in (*physics.buffers(), *physics.parameters()):
        return tensor.device
    return torch.device("cpu")


class _ExportedPhysics(deepinv.physics.Physics):
    def __init__(self, operator: Operator) -> None:
        super().__init__()
        self.operator = operator
        self.img_size = operator.in_shape

    def A(self, x: Tensor, **kwargs: object) -> Tensor:  # noqa: N802 - deepinv's name
        y = self.operator.apply(x)
        return torch.view_as_real(y) if y.is_complex() and self.operator.real_domain else y


class _ExportedLinearPhysics(deepinv.physics.LinearPhysics):
    def __init__(self, operator: LinearOperator) -> None:
        super().__init__(img_size=operator.in_shape)
        self.operator = operator

    A = _ExportedPhysics.A

    def A_adjoint(self, y: Tensor, **kwargs: object) -> Tensor:  # noqa: N802
        if self.operator.real_domain and not y.is_complex():
            y = torch.view_as_complex(y.contiguous())
        return self.operator.apply_adjoint(y)


def to_deepinv(operator: Operator) -> deepinv.physics.Physics:
    """Our operator as a noise-free deepinv physics (``LinearPhysics`` for linear operators)."""
    if not isinstance(operator, Operator):
        raise TypeError(f"operator must be a reddiff_imaging Operator, got {type(operator).__name__}")
    if operator.is_linear:
        return _ExportedLinearPhysics(operator)  # type: ignore[arg-type]
    return _ExportedPhysics(operator)
