r"""Super-resolution forward models: decimation, block averaging (with SVD) and bicubic downsampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from reddiff_imaging._validation import MAX_IMAGE_SIDE, as_shape, check_int
from reddiff_imaging.operators.algebra import LinearComposition
from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.operators.blur import Blur
from reddiff_imaging.operators.svd import SVD


def _check_factor(factor: int, in_shape: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    shape = as_shape(in_shape, "in_shape")
    if len(shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {shape}")
    factor = check_int(factor, "factor")
    if shape[1] % factor or shape[2] % factor:
        raise ValueError(f"factor {factor} must divide the image size {shape[1:]}")
    return factor, shape


class Decimation(LinearOperator):
    r"""Keep every ``factor``-th pixel: :math:`y = x[\ldots, o::f, o::f]` with offset ``o``.

    Its adjoint fills zeros between the samples; its SVD is a selection (singular values 1 on the
    kept pixels, 0 elsewhere).
    """

    def __init__(self, factor: int, in_shape: Sequence[int], offset: int | None = None) -> None:
        factor, shape = _check_factor(factor, in_shape)
        super().__init__(shape, (shape[0], shape[1] // factor, shape[2] // factor))
        self.factor = factor
        self.offset = factor // 2 if offset is None else check_int(offset, "offset", minimum=0)
        if not 0 <= self.offset < factor:
            raise ValueError(f"offset must be in [0, {factor}), got {offset!r}")

    def _forward(self, x: Tensor) -> Tensor:
        o, f = self.offset, self.factor
        return x[..., o::f, o::f]

    def _adjoint(self, y: Tensor) -> Tensor:
        out = y.new_zeros(y.shape[0], *self.in_shape)
        o, f = self.offset, self.factor
        out[..., o::f, o::f] = y
        return out

    @property
    def svd(self) -> SVD:
        kept = self._adjoint(torch.ones(1, *self.out_shape))[0]

        def same(v: Tensor) -> Tensor:
            return v

        return SVD(U=self._forward, Ut=self._adjoint, V=same, Vt=same, singular_values=kept)


class BlockAverage(LinearOperator):
    r"""Average pooling over non-overlapping ``factor × factor`` blocks (the SR model of DDRM/RED-diff).

    SVD: within each block the average is :math:`\frac{1}{f^2}\mathbf 1^T`, a rank-one map with
    singular value :math:`1/f` and right singular vector :math:`\mathbf 1/f`. The block is rotated by
    an orthonormal :math:`f^2 \times f^2` matrix :math:`Q` whose first row is :math:`\mathbf 1/f`, so
    spectral coefficients have shape ``(C, H/f, W/f, f²)`` with singular values ``1/f`` in slot 0.
    """

    rotation: Tensor

    def __init__(self, factor: int, in_shape: Sequence[int]) -> None:
        factor, shape = _check_factor(factor, in_shape)
        super().__init__(shape, (shape[0], shape[1] // factor, shape[2] // factor))
        self.factor = factor
        basis = torch.eye(factor * factor, dtype=torch.float64)
        basis[:, 0] = 1.0
        q, _ = torch.linalg.qr(basis)
        q = q * torch.sign(q[0, 0])  # first column +1/f, so Q^T x puts the block mean (times f) first
        self.register_buffer("rotation", q.T.contiguous())

    def _forward(self, x: Tensor) -> Tensor:
        return self._blocks(x).mean(dim=-1)

    def _adjoint(self, y: Tensor) -> Tensor:
        f = self.factor
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / (f * f)

    def _blocks(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` → ``(B, C, H/f, W/f, f²)``."""
        c, h, w = self.in_shape
        f = self.factor
        return x.reshape(-1, c, h // f, f, w // f, f).permute(0, 1, 2, 4, 3, 5).reshape(-1, c, h // f, w // f, f * f)

    def _unblocks(self, z: Tensor) -> Tensor:
        c, h, w = self.in_shape
        f = self.factor
        return z.reshape(-1, c, h // f, w // f, f, f).permute(0, 1, 2, 4, 3, 5).reshape(-1, c, h, w)

    @property
    def svd(self) -> SVD:
        c, h, w = self.in_shape
        f = self.factor
        values = torch.zeros(c, h // f, w // f, f * f)
        values[..., 0] = 1.0 / f

        def vt(x: Tensor) -> Tensor:
            return self._blocks(x) @ self.rotation.to(device=x.device, dtype=x.dtype).T

        def v(z: Tensor) -> Tensor:
            return self._unblocks(z @ self.rotation.to(device=z.device, dtype=z.dtype))

        def u(z: Tensor) -> Tensor:
            return z[..., 0]

        def ut(y: Tensor) -> Tensor:
            return torch.nn.functional.pad(y.unsqueeze(-1), (0, f * f - 1))

        return SVD(U=u, Ut=ut, V=v, Vt=vt, singular_values=values)


def bicubic_kernel(factor: int) -> Tensor:
    r"""Anti-aliasing bicubic kernel for downsampling by ``factor``: Keys' cubic (:math:`a = -1/2`,
    "Cubic convolution interpolation for digital image processing", IEEE TASSP 1981) stretched by
    ``factor``, sampled on the integer grid, odd size :math:`4f + 1`, normalised to sum 1."""
    factor = check_int(factor, "factor", maximum=(MAX_IMAGE_SIDE - 1) // 4)
    t = (torch.arange(4 * factor + 1, dtype=torch.float64) - 2 * factor).abs() / factor
    a = -0.5
    w = torch.where(
        t <= 1,
        (a + 2) * t**3 - (a + 3) * t**2 + 1,
        torch.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, torch.zeros_like(t)),
    )
    kernel = torch.outer(w, w)
    return (kernel / kernel.sum()).to(torch.get_default_dtype())


class BicubicDownsampling(LinearComposition):
    r"""Bicubic downsampling :math:`y = S_f\,(k_{\mathrm{bicubic}} \circledast x)`: a circular
    anti-aliasing blur with :func:`bicubic_kernel` followed by :class:`Decimation`.

    Solvers see it as a generic linear operator (conjugate gradients for normal equations).
    """

    def __init__(self, factor: int, in_shape: Sequence[int]) -> None:
        factor, shape = _check_factor(factor, in_shape)
        super().__init__(Decimation(factor, shape), Blur(bicubic_kernel(factor), shape))
        self.factor = factor

