"""Bridge to :mod:`scipy.sparse.linalg`: one image, flattened, as a scipy ``LinearOperator``.

Operators of real images with complex measurements (``real_domain``) are exposed as real
operators whose output stacks real and imaginary parts, so scipy sees a real matrix.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse.linalg
import torch

from reddiff_imaging.operators.base import LinearOperator


def to_scipy(op: LinearOperator, dtype: torch.dtype = torch.float64) -> scipy.sparse.linalg.LinearOperator:
    """Wrap ``op`` for :func:`scipy.sparse.linalg.lsqr`, ``cg``, ``svds`` and friends."""
    if not op.is_linear:
        raise TypeError(f"to_scipy needs a linear operator, got {type(op).__name__}")
    device = op.device or torch.device("cpu")
    probe = op.apply_forward(torch.zeros((1, *op.in_shape), dtype=dtype, device=device))
    split_complex = probe.is_complex() and op.real_domain
    complex_matrix = probe.is_complex() and not op.real_domain
    n = math.prod(op.in_shape)
    m = math.prod(op.out_shape) * (2 if split_complex else 1)
    in_dtype = probe.dtype if complex_matrix else dtype

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
    return scipy.sparse.linalg.LinearOperator((m, n), matvec=matvec, rmatvec=rmatvec, dtype=numpy_dtype)
