"""The identity operator (denoising)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.operators.svd import SVD


class Identity(LinearOperator):
    r"""The identity :math:`A x = x`, the forward model of denoising.

    Args:
        in_shape: image shape without the batch axis, e.g. ``(1, 64, 64)``.
    """

    def __init__(self, in_shape: Sequence[int]) -> None:
        super().__init__(in_shape, in_shape)

    def _forward(self, x: Tensor) -> Tensor:
        return x

    def _adjoint(self, y: Tensor) -> Tensor:
        return y

    def _adjoint_structured(self) -> LinearOperator:
        return self

    def _compose_structured(self, right: Operator) -> Operator:
        return right

    @property
    def svd(self) -> SVD:
        import torch

        def same(v: Tensor) -> Tensor:
            return v

        return SVD(U=same, Ut=same, V=same, Vt=same, singular_values=torch.ones(self.in_shape))

    def pinv(self, y: Tensor, **_: object) -> Tensor:
        return self.check_output(y, "y")

    def _solve_normal(self, b: Tensor, rho_b: float | Tensor, **_: object) -> Tensor:
        return b / (1.0 + rho_b)
