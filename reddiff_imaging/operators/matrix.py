r"""The dense matrix of a linear operator, for small problems (exact posteriors, reference solutions
in tests)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reddiff_imaging.operators.base import LinearOperator


def operator_matrix(operator: LinearOperator, *, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The dense matrix ``(M, D)`` of a linear operator, built by applying it to the identity basis.

    For an operator with complex output (e.g. MRI of real images) the real and imaginary parts are
    stacked, :math:`\begin{bmatrix}\mathrm{Re}\,A \\ \mathrm{Im}\,A\end{bmatrix}`, so that a complex
    measurement with independent :math:`\mathcal N(0, \sigma^2)` noise on both parts becomes a real one
    of twice the length (real parts of all entries first, then imaginary parts). Only for small ``D``:
    it costs ``D`` applications of the operator and :math:`M D` numbers.

    Args:
        operator: a :class:`~reddiff_imaging.operators.LinearOperator` with real inputs.
        dtype: real floating dtype of the result (float64 by default).

    Example:
        >>> import torch
        >>> from reddiff_imaging.operators import Inpainting, operator_matrix
        >>> operator_matrix(Inpainting(torch.tensor([[1.0, 0.0]])))
        tensor([[1., 0.],
                [0., 0.]], dtype=torch.float64)
    """
    if not isinstance(operator, LinearOperator):
        raise TypeError(
            f"operator must be a LinearOperator (a dense matrix needs a linear forward model), got {type(operator).__name__}"
        )
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    dim = math.prod(operator.in_shape)
    device = operator.device or torch.device("cpu")
    basis = torch.eye(dim, dtype=dtype, device=device).reshape(dim, *operator.in_shape)
    columns = operator.apply_forward(basis).reshape(dim, -1)
    if columns.is_complex():
        columns = torch.cat([columns.real, columns.imag], dim=1)
    return columns.to(dtype).T.contiguous()
