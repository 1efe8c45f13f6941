"""Bridge to :mod:`scipy.sparse.linalg`: one image, flattened, as a scipy ``LinearOperator``.

Operators of real images with complex measurements (``real_domain``) are exposed as real
operators whose output stacks real and imaginary parts, so scipy sees a real matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse.linalg
import torch

from reddiff_imaging.operators.base import LinearOperator

Apply = Callable[[np.ndarray], np.ndarray]


class _Bridge(scipy.sparse.linalg.LinearOperator):
    """A scipy operator that checks the length of what it is applied to and names it in its message
    (scipy says only 'dimension mismatch'); its adjoint is one too."""

    def __init__(self, shape: tuple[int, int], dtype: Any, forward: Apply, backward: Apply, spaces: tuple[str, str]) -> None:
        super().__init__(dtype=dtype, shape=shape)
        self._forward, self._backward, self._spaces = forward, backward, spaces

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._backward(x)

    def _adjoint(self) -> _Bridge:
        return _Bridge((self.shape[1], self.shape[0]), self.dtype, self._backward, self._forward, self._spaces[::-1])

    def _check(self, x: Any, method: str, adjoint: bool, matrix: bool) -> None:
        length = self.shape[0] if adjoint else self.shape[1]
        space = self._spaces[1] if adjoint else self._spaces[0]
        shape = np.shape(x)
        ok = len(shape) == 2 and shape[0] == length if matrix else shape in ((length,), (length, 1))
        if not ok:
            wanted = f"a ({length}, K) array, each column" if matrix else f"a vector of length {length},"
            raise ValueError(f"{method} needs {wanted} {space}, got shape {shape}")

    def matvec(self, x: Any) -> Any:
        self._check(x, "matvec", adjoint=False, matrix=False)
        return super().matvec(x)

    def rmatvec(self, x: Any) -> Any:
        self._check(x, "rmatvec", adjoint=True, matrix=False)
        return super().rmatvec(x)

    def matmat(self, X: Any) -> Any:  # noqa: N803 - scipy's name
        self._check(X, "matmat", adjoint=False, matrix=True)
        return super().matmat(X)

    def rmatmat(self, X: Any) -> Any:  # noqa: N803
        self._check(X, "rmatmat", adjoint=True, matrix=True)
        return super().rmatmat(X)


def to_scipy(op: LinearOperator, dtype: torch.dtype = torch.float64) -> scipy.sparse.linalg.LinearOperator:
    """Wrap ``op`` for :func:`scipy.sparse.linalg.lsqr`, ``cg``, ``svds`` and friends.

    Applied to a vector of the wrong length it raises a ValueError naming the length expected (one
    flattened image, or measurement); a complex vector given to a real matrix is applied to its real
    and imaginary parts (the matrix is linear), not cut to its real part.
    """
    if not op.is_linear:
        raise TypeError(f"to_scipy needs a linear operator, got {type(op).__name__}")
    device = op.device or torch.device("cpu")
    probe = op.apply_forward(torch.zeros((1, *op.in_shape), dtype=dtype, device=device))
    split_complex = probe.is_complex() and op.real_domain
    complex_matrix = probe.is_complex() and not op.real_domain
    n = math.prod(op.in_shape)
    m = math.prod(op.out_shape) * (2 if split_complex else 1)
    in_dtype = probe.dtype if complex_matrix else dtype

    def real_matrix(apply: Apply) -> Apply:
        """``apply`` extended to complex vectors when the matrix is real."""
        if complex_matrix:
            return apply

        def linear(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v)
            return apply(v.real) + 1j * apply(v.imag) if np.iscomplexobj(v) else apply(v)

        return linear

    def matvec(v: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(v).reshape(op.in_shape), device=device).to(in_dtype)
        y = op.apply_forward(x.unsqueeze(0))
        if split_complex:
            y = torch.view_as_real(y)
        return y.reshape(-1).cpu().numpy()

    def rmatvec(w: np.ndarray) -> np.ndarray:
        y = torch.as_tensor(np.asarray(w), device=device)
        if split_complex:
            y = torch.view_as_complex(y.to(dtype).reshape(*op.out_shape, 2).contiguous())
        else:
            y = y.to(probe.dtype).reshape(op.out_shape)
        return op.apply_adjoint(y.unsqueeze(0)).reshape(-1).cpu().numpy()

    numpy_dtype = torch.empty(0, dtype=probe.dtype if complex_matrix else dtype).numpy().dtype
    image = f"a flattened {op.in_shape} image"
    measurement = f"a flattened {op.out_shape} measurement" + (" (real and imaginary parts stacked last)" if split_complex else "")
    return _Bridge((m, n), numpy_dtype, real_matrix(matvec), real_matrix(rmatvec), (image, measurement))
