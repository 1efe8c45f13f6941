r"""Blur: circular convolution diagonalised by the FFT, a zero-padded variant, and blur kernels.

:class:`Circulant` is any operator diagonal in the 2-D Fourier basis, :math:`A = F^{-1}\,\mathrm{diag}(\hat h)\,F`.
It keeps that structure under composition, sums, scalar multiples, adjoints and the Gram
operator, and solves :math:`(A^H A + \rho I)x = b` in closed form. :class:`Blur` builds one from a
convolution kernel; :class:`ZeroPaddedBlur` convolves with zero boundary conditions instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from reddiff_imaging._validation import (
    MAX_IMAGE_SIDE,
    as_shape,
    check_bool,
    check_int,
    check_parameter,
    check_positive,
    check_real,
    match_dtype,
)
from reddiff_imaging.operators.base import LinearOperator, Operator, Scalar
from reddiff_imaging.operators.svd import SVD


class Circulant(LinearOperator):
    r"""A 2-D circulant operator :math:`A x = F^{-1}(\hat h \odot F x)` over the last two axes.

    Args:
        transfer: transfer function :math:`\hat h`, complex tensor (or NumPy array) ``(H, W)``, ``(1, H, W)`` or
            ``(C, H, W)`` on the unshifted FFT grid.
        in_shape: image shape ``(C, H, W)``.
        real_kernel: True when :math:`\hat h` is the transform of a real kernel (Hermitian
            symmetric); real images then use the faster real FFT and stay real.
    """

    _transfer: Tensor
    _gain: Tensor

    def __init__(self, transfer: Tensor, in_shape: Sequence[int], *, real_kernel: bool = False) -> None:
        shape = as_shape(in_shape, "in_shape")
        if len(shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {shape}")
        super().__init__(shape, shape)
        transfer = check_parameter(transfer, "transfer")
        check_bool(real_kernel, "real_kernel")
        if transfer.ndim == 2:
            transfer = transfer.unsqueeze(0)
        if tuple(transfer.shape[-2:]) != shape[-2:] or transfer.shape[0] not in (1, shape[0]):
            raise ValueError(
                f"transfer must have shape (H, W), (1, H, W) or (C, H, W) matching in_shape {shape}, "
                f"got {tuple(transfer.shape)}"
            )
        self.real_kernel = real_kernel
        # kept in double precision: rounding would break the Hermitian symmetry that the real-FFT
        # path assumes, and the closed-form solves would then disagree with the operator
        transfer = transfer.to(torch.complex128).resolve_conj()
        self.register_buffer("_transfer", torch.view_as_real(transfer).contiguous())
        # |h|^2 for the normal solves, on the real-FFT half grid when that path applies
        gain = transfer.abs().square()
        self.register_buffer("_gain", gain[..., : shape[-1] // 2 + 1].contiguous() if real_kernel else gain)

    @property
    def transfer(self) -> Tensor:
        r"""The transfer function :math:`\hat h`, complex, shape ``(1 or C, H, W)``."""
        return torch.view_as_complex(self._transfer)

    def _filter(self, x: Tensor, transfer: Tensor) -> Tensor:
        transfer = match_dtype(transfer, x)
        height, width = self.in_shape[-2:]
        if self.real_kernel and not x.is_complex():
            half = transfer[..., : width // 2 + 1]
            return torch.fft.irfft2(torch.fft.rfft2(x) * half, s=(height, width))
        return torch.fft.ifft2(torch.fft.fft2(x) * transfer)

    def _forward(self, x: Tensor) -> Tensor:
        return self._filter(x, self.transfer)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._filter(y, self.transfer.conj())

    # structure ------------------------------------------------------------------------------
    def _like(self, transfer: Tensor, real_kernel: bool) -> Circulant:
        return Circulant(transfer, self.in_shape, real_kernel=real_kernel)

    def _compose_structured(self, right: Operator) -> Operator | None:
        if isinstance(right, Circulant):
            return self._like(self.transfer * right.transfer, self.real_kernel and right.real_kernel)
        return None

    def _add_structured(self, other: Operator) -> Operator | None:
        if isinstance(other, Circulant):
            return self._like(self.transfer + other.transfer, self.real_kernel and other.real_kernel)
        return None

    def _scale_structured(self, c: Scalar) -> Operator:
        return self._like(c * self.transfer, self.real_kernel and not isinstance(c, complex))

    def _adjoint_structured(self) -> LinearOperator:
        return self._like(self.transfer.conj(), self.real_kernel)

    def _gram_structured(self) -> LinearOperator:
        return self._like((self.transfer.abs() ** 2).to(self.transfer.dtype), self.real_kernel)

    @property
    def svd(self) -> SVD:
        r"""SVD in the orthonormal Fourier basis: :math:`V = F^H`, :math:`s = |\hat h|`, :math:`U = F^H e^{i\arg \hat h}`.

        The factors return complex tensors; for a real kernel and real images take the real part.
        """
        magnitude = self.transfer.abs()
        phase = torch.where(magnitude > 0, self.transfer / magnitude.clamp_min(1e-300), torch.ones_like(self.transfer))

        def fft(v: Tensor) -> Tensor:
            return torch.fft.fft2(v, norm="ortho")

        def ifft(z: Tensor) -> Tensor:
            return torch.fft.ifft2(z, norm="ortho")

        return SVD(
            U=lambda z: ifft(match_dtype(phase, z) * z),
            Ut=lambda y: match_dtype(phase, y).conj() * fft(y),
            V=ifft,
            Vt=fft,
            singular_values=magnitude.expand(self.in_shape),
        )

    def pinv(self, y: Tensor, *, rcond: float = 1e-6, **_: object) -> Tensor:
        r"""Regularised inverse filter :math:`F^{-1}(\hat h^{+} F y)`, with :math:`|\hat h| \le` rcond·max set to zero."""
        self.check_output(y, "y")
        magnitude = self.transfer.abs()
        keep = magnitude > rcond * magnitude.max()
        inverse = torch.where(keep, 1.0 / torch.where(keep, self.transfer, torch.ones_like(self.transfer)), 0)
        return self._filter(y, inverse)

    def _solve_normal(self, b: Tensor, rho_b: float | Tensor, **_: object) -> Tensor:
        r""":math:`F^{-1}\big(F b / (|\hat h|^2 + \rho)\big)` (real FFTs for a real kernel and real ``b``)."""
        if self.real_kernel and not b.is_complex():
            gain = match_dtype(self._gain, b)
            return torch.fft.irfft2(torch.fft.rfft2(b) / (gain + rho_b), s=self.in_shape[-2:])
        gain = match_dtype(self.transfer.abs().square() if self.real_kernel else self._gain, b)
        return torch.fft.ifft2(torch.fft.fft2(b) / (gain + rho_b))


class Blur(Circulant):
    r"""Circular convolution :math:`y = k \circledast x` with a real kernel, through the FFT.

    The convolution is periodic with period :math:`(H, W)`, so a kernel larger than the image acts
    through its folded (wrapped) version

    .. math::

        \tilde k[m, n] = \sum_{p, q} k[m + pH,\; n + qW], \qquad 0 \le m < H,\; 0 \le n < W,

    with offsets taken from the kernel's centre: a small image keeps its blur, exactly.

    Args:
        kernel: ``(h, w)`` (all channels) or ``(C, h, w)``; its centre is pixel ``(h // 2, w // 2)``;
            any size (one larger than the image is folded as above).
        in_shape: image shape ``(C, H, W)``.
    """

    kernel: Tensor

    def __init__(self, kernel: Tensor, in_shape: Sequence[int]) -> None:
        shape = as_shape(in_shape, "in_shape")
        kernel = _check_kernel(kernel, shape)
        super().__init__(torch.fft.fft2(_periodic_kernel(kernel, shape[-2:])), shape, real_kernel=True)
        self.register_buffer("kernel", kernel)


class ZeroPaddedBlur(LinearOperator):
    r"""Convolution with zero boundary conditions ("same" output size), :math:`y = k * x`.

    Unlike :class:`Blur` it does not wrap around the image border:
    :math:`y[i, j] = \sum_{m, n} k[m, n]\, x[i - m + h/2,\; j - n + w/2]` over the pixels inside the
    image, so a kernel larger than the image is fine (only its part within reach of the image acts).
    No closed-form normal solve: the base class uses conjugate gradients.

    Args:
        kernel: ``(h, w)`` or ``(C, h, w)`` with odd ``h`` and ``w``, any size.
        in_shape: image shape ``(C, H, W)``.
    """

    weight: Tensor

    def __init__(self, kernel: Tensor, in_shape: Sequence[int]) -> None:
        shape = as_shape(in_shape, "in_shape")
        kernel = _check_kernel(kernel, shape)
        kh, kw = kernel.shape[-2:]
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel must have odd height and width for ZeroPaddedBlur, got {(kh, kw)}")
        super().__init__(shape, shape)
        weight = kernel.flip(-2, -1).reshape(-1, 1, kh, kw).expand(shape[0], 1, kh, kw).contiguous()
        self.register_buffer("weight", weight)
        self.padding = (kh // 2, kw // 2)

    def _forward(self, x: Tensor) -> Tensor:
        return self._conv(x, F.conv2d)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._conv(y, F.conv_transpose2d)

    def _conv(self, x: Tensor, conv: Callable[..., Tensor]) -> Tensor:
        if x.is_complex():
            return torch.complex(self._conv(x.real, conv), self._conv(x.imag, conv))
        return conv(x, match_dtype(self.weight, x), padding=self.padding, groups=self.in_shape[0])


def _check_kernel(kernel: object, in_shape: tuple[int, ...]) -> Tensor:
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {in_shape}")
    kernel = check_parameter(kernel, "kernel")
    if not kernel.is_floating_point():
        raise TypeError(f"kernel must be a real floating-point torch.Tensor, got {getattr(kernel, 'dtype', type(kernel).__name__)}")
    if kernel.ndim == 3 and kernel.shape[0] not in (1, in_shape[0]) or kernel.ndim not in (2, 3):
        raise ValueError(f"kernel must have shape (h, w) or (C, h, w) with C = {in_shape[0]}, got {tuple(kernel.shape)}")
    return kernel


def _periodic_kernel(kernel: Tensor, size: Sequence[int]) -> Tensor:
    r"""The kernel on the ``(H, W)`` torus, centred at pixel 0: entry :math:`(m, n)` of ``kernel``
    lands at :math:`((m - h/2) \bmod H, (n - w/2) \bmod W)`, entries that land on one pixel add up
    (a kernel larger than the image is folded), in float64."""
    height, width = size
    kh, kw = kernel.shape[-2:]
    rows = (torch.arange(kh) - kh // 2) % height
    cols = (torch.arange(kw) - kw // 2) % width
    index = (rows[:, None] * width + cols[None, :]).reshape(-1)
    flat = kernel.detach().to("cpu", torch.float64).reshape(*kernel.shape[:-2], kh * kw)
    periodic = torch.zeros(*kernel.shape[:-2], height * width, dtype=torch.float64)
    periodic.index_add_(-1, index, flat)
    return periodic.reshape(*kernel.shape[:-2], height, width)


# --- kernels -----------------------------------------------------------------------------------
def gaussian_kernel(sigma: float, size: int | None = None) -> Tensor:
    r"""Normalised isotropic Gaussian kernel :math:`\propto e^{-r^2/2\sigma^2}`, odd ``size`` (default ``2⌈3σ⌉+1``)."""
    sigma = check_positive(sigma, "sigma")
    size = _odd_size(size, 2 * math.ceil(min(3 * sigma, MAX_IMAGE_SIDE)) + 1, default_from=f"sigma={sigma:g}")
    t = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum()).to(torch.get_default_dtype())


def uniform_kernel(size: int) -> Tensor:
    """Normalised ``size × size`` box (uniform) kernel."""
    size = _odd_size(check_int(size, "size"), 1, require_odd=False)
    return torch.full((size, size), 1.0 / size**2)


def motion_kernel(length: float, angle: float = 0.0, size: int | None = None) -> Tensor:
    """Normalised linear motion blur of ``length`` pixels at ``angle`` degrees, anti-aliased.

    The kernel is the indicator of a centred segment, weighted by ``max(0, 1 - d)`` with ``d``
    the distance of a pixel centre to the segment.
    """
    length = check_positive(length, "length")
    size = _odd_size(size, 2 * math.ceil(min(length / 2, MAX_IMAGE_SIDE)) + 3, default_from=f"length={length:g}")
    theta = math.radians(check_real(angle, "angle"))
    t = torch.arange(size, dtype=torch.float64) - size // 2
    rows, cols = torch.meshgrid(t, t, indexing="ij")
    direction = torch.tensor([-math.sin(theta), math.cos(theta)], dtype=torch.float64)
    along = (rows * direction[0] + cols * direction[1]).clamp(-length / 2, length / 2)
    distance = torch.hypot(rows - along * direction[0], cols - along * direction[1])
    kernel = (1 - distance).clamp_min(0)
    return (kernel / kernel.sum()).to(torch.get_default_dtype())


def _odd_size(size: int | None, default: int, *, require_odd: bool = True, default_from: str = "") -> int:
    """A kernel side: ``size`` (an int, odd when ``require_odd``) or, when None, ``default`` (computed
    from ``default_from``, e.g. ``"sigma=2"``); at most :data:`MAX_IMAGE_SIDE` either way."""
    if size is None and default > MAX_IMAGE_SIDE:
        raise ValueError(f"{default_from} gives a kernel wider than {MAX_IMAGE_SIDE} pixels (the limit): pass a smaller value or size=")
    size = default if size is None else check_int(size, "size", maximum=MAX_IMAGE_SIDE)
    if require_odd and size % 2 == 0:
        raise ValueError(f"size must be an odd int, got {size!r}")
    return size
