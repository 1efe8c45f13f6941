"""The dense matrix of a linear operator (:func:`reddiff_imaging.operators.operator_matrix`)."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.operators import HDR, MRI, Blur, gaussian_kernel, operator_matrix

SHAPE = (1, 4, 4)


def test_matrix_applies_like_the_operator() -> None:
    op = Blur(gaussian_kernel(1.0, 3), SHAPE)
    x = torch.rand(3, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    matrix = operator_matrix(op)
    assert matrix.shape == (16, 16) and matrix.dtype == torch.float64
    torch.testing.assert_close(x.reshape(3, -1) @ matrix.T, op(x).reshape(3, -1))
    assert operator_matrix(op, dtype=torch.float32).dtype == torch.float32


def test_complex_output_stacks_real_and_imaginary_parts() -> None:
    op = MRI(torch.ones(4, 4), SHAPE)  # orthonormal FFT of real images
    matrix = operator_matrix(op)
    assert matrix.shape == (32, 16)
    torch.testing.assert_close(matrix.T @ matrix, torch.eye(16, dtype=torch.float64), atol=1e-12, rtol=0)


def test_bad_input() -> None:
    with pytest.raises(TypeError, match="operator must be a LinearOperator"):
        operator_matrix(HDR(SHAPE))
    with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
        operator_matrix(Blur(gaussian_kernel(1.0, 3), SHAPE), dtype=torch.complex128)
