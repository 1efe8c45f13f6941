r"""Single-coil Cartesian MRI: a subsampled orthonormal 2-D Fourier transform.

The forward model of accelerated single-coil MRI (as in the fastMRI benchmark, Zbontar et al.,
2018, and the MRI experiments of DPS, Chung et al., ICLR 2023, and ΠGDM, Song et al., ICLR 2023) is

.. math::
    y = M \odot F x,

with :math:`F` the orthonormal 2-D discrete Fourier transform over the last two axes
(``torch.fft.fft2(norm="ortho")``) and :math:`M` a sampling mask (0/1, or weights in
:math:`[0, 1]`). The measurement is complex, of the image's shape, with zeros at the frequencies
that are not sampled.

Mask convention
---------------
Masks are given in the **centred** k-space convention, the way k-space is displayed: the zero
frequency (DC) sits at index ``(H // 2, W // 2)`` (the convention of ``torch.fft.fftshift``). The
operator ``ifftshift``-s the mask once in the constructor and works on the unshifted FFT grid
internally; the measurement ``y`` is in the unshifted order of ``torch.fft.fft2`` (apply
``torch.fft.fftshift(y, dim=(-2, -1))`` to display it). :attr:`MRI.mask` is the internal
(unshifted) mask and :attr:`MRI.centered_mask` the mask as given.

Real and complex images
-----------------------
With ``complex_images=False`` (the default) the images are real and the adjoint is taken for the
real inner product, :math:`A^* y = \mathrm{Re}(F^H (M \odot y))` (``real_domain = True``). On real
inputs the normal operator is then the Fourier multiplier with the *symmetrised* weights

.. math::
    A^* A = \mathrm{Re}\big(F^H \mathrm{diag}(M^2) F\,\cdot\big)
          = F^H \mathrm{diag}(w) F, \qquad w(k) = \tfrac12\big(M(k)^2 + M(-k)^2\big),

because :math:`\overline{(Fx)(k)} = (Fx)(-k)` for real :math:`x` (on the unshifted grid the index
of :math:`-k` is :math:`(-k) \bmod N`). A frequency and its mirror image carry the same
information about a real image, so sampling only one of them gives weight :math:`1/2`.
``solve_normal`` and ``pinv`` use this diagonal form, and the SVD is real: :math:`V = V^T` is the
orthonormal 2-D discrete Hartley transform :math:`\mathcal{H} = \mathrm{Re}\,F - \mathrm{Im}\,F`
(Bracewell, 1983), which diagonalises every Fourier multiplier with an even real symbol, the
singular values are :math:`\sqrt{w}`, and :math:`U = A V \mathrm{diag}(1/\sqrt{w})`.

With ``complex_images=True`` the images are complex and :math:`A = U\,\mathrm{diag}(M)\,V^H` with
:math:`V^H = F`, :math:`U` the restriction to the sampled frequencies, singular values :math:`M`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor

from reddiff_imaging._validation import as_shape, check_choice, check_generator, check_parameter, match_dtype
from reddiff_imaging.operators.base import LinearOperator
from reddiff_imaging.operators.svd import SVD

_FFT_DIMS = (-2, -1)


class MRI(LinearOperator):
    r"""Single-coil Cartesian MRI, :math:`y = M \odot F x` (see the module docstring).

    Args:
        mask: sampling mask in the centred k-space convention (DC at ``(H // 2, W // 2)``), with
            entries in :math:`[0, 1]` (usually 0/1; bool is accepted). Its shape is ``(H, W)`` or any
            shape of at least two axes that broadcasts to ``in_shape`` (e.g. ``(C, H, W)`` for one
            mask per channel). See :func:`cartesian_mask`.
        in_shape: image shape without the batch axis, e.g. ``(C, H, W)``; the FFT acts on the last
            two axes. Defaults to ``(1, H, W)`` for a 2-D mask and to the mask's shape otherwise.
        complex_images: ``False`` (default) for real images (the adjoint projects onto the reals,
            ``real_domain = True``); ``True`` for complex images.

    The measurement has shape ``in_shape`` and a complex dtype of the input's precision.

    Example:
        >>> import torch
        >>> mask = cartesian_mask((64, 64), acceleration=4, generator=torch.Generator().manual_seed(0))
        >>> A = MRI(mask, (1, 64, 64))
        >>> y = A(torch.rand(2, 1, 64, 64))
        >>> y.shape, y.dtype
        (torch.Size([2, 1, 64, 64]), torch.complex64)
    """

    mask: Tensor

    def __init__(
        self,
        mask: Tensor,
        in_shape: Sequence[int] | None = None,
        complex_images: bool = False,
    ) -> None:
        mask = _check_mask(mask)
        if in_shape is None:
            in_shape = (1, *mask.shape) if mask.ndim == 2 else tuple(mask.shape)
        shape = as_shape(in_shape, "in_shape")
        if len(shape) < 2:
            raise ValueError(f"in_shape must have at least two axes (..., H, W), got {shape}")
        try:
            broadcast = tuple(torch.broadcast_shapes(tuple(mask.shape), shape))
        except RuntimeError:
            broadcast = None
        if mask.ndim > len(shape) or broadcast != shape:
            raise ValueError(
                f"mask must have shape (H, W) = {shape[-2:]} or broadcast to in_shape {shape}, "
                f"got {tuple(mask.shape)}"
            )
        if not isinstance(complex_images, bool):
            raise TypeError(f"complex_images must be a bool, got {complex_images!r}")
        super().__init__(shape, shape)
        self.complex_images = complex_images
        self.real_domain = not complex_images
        unshifted = torch.fft.ifftshift(mask, dim=_FFT_DIMS).contiguous()
        self.register_buffer("mask", unshifted)

    # -- application -----------------------------------------------------------------------------
    def _forward(self, x: Tensor) -> Tensor:
        k = torch.fft.fft2(x, norm="ortho")
        return match_dtype(self.mask, k) * k

    def _adjoint(self, y: Tensor) -> Tensor:
        x = torch.fft.ifft2(match_dtype(self.mask, y) * y, norm="ortho")
        return x.real if self.real_domain else x

    # -- structure -------------------------------------------------------------------------------
    @property
    def centered_mask(self) -> Tensor:
        """The sampling mask in the centred convention (DC in the middle), as given."""
        return torch.fft.fftshift(self.mask, dim=_FFT_DIMS)

    @property
    def gram_weight(self) -> Tensor:
        r"""Diagonal :math:`w` of :math:`A^*A = F^H \mathrm{diag}(w) F` (unshifted grid).

        :math:`M^2` for complex images, :math:`\tfrac12(M(k)^2 + M(-k)^2)` for real images.
        """
        squared = self.mask * self.mask
        return 0.5 * (squared + _negate_frequencies(squared)) if self.real_domain else squared

    @property
    def sampling_rate(self) -> float:
        """Fraction of the k-space samples that are measured (the mean of the mask)."""
        return float(self.mask.to(torch.float64).expand(self.in_shape).mean())

    @property
    def singular_values(self) -> Tensor:
        r"""Singular values, shape ``in_shape``: :math:`M` (complex images) or :math:`\sqrt{w}` (real).

        Computed in float64 (except on devices without float64) so that float64 computations
        through the SVD keep full precision; consumers cast them to their input's precision.
        """
        weight = _high_precision(self.mask if self.complex_images else self.gram_weight)
        s = weight.abs() if self.complex_images else weight.sqrt()
        return s.expand(self.in_shape).contiguous()

    @property
    def svd(self) -> SVD:
        """Exact SVD: Fourier basis for complex images, Hartley basis for real images."""
        s = self.singular_values
        support = (s > 0).to(s.dtype)
        if self.complex_images:

            def restrict(z: Tensor) -> Tensor:
                return match_dtype(support, z) * z

            def fourier(x: Tensor) -> Tensor:
                return torch.fft.fft2(x, norm="ortho")

            def inverse_fourier(z: Tensor) -> Tensor:
                return torch.fft.ifft2(z, norm="ortho")

            return SVD(U=restrict, Ut=restrict, V=inverse_fourier, Vt=fourier, singular_values=s)

        s_inv = _safe_inverse(s)

        def u(z: Tensor) -> Tensor:
            return self._forward(hartley(match_dtype(s_inv, z) * z))

        def ut(y: Tensor) -> Tensor:
            return match_dtype(s_inv, y) * hartley(self._adjoint(y))

        return SVD(U=u, Ut=ut, V=hartley, Vt=hartley, singular_values=s)

    def _solve_normal(self, b: Tensor, rho_b: float | Tensor, **_: object) -> Tensor:
        r"""Closed form :math:`(A^*A + \rho I)^{-1} b = F^H\big(F b / (w + \rho)\big)`.

        ``w`` is :math:`M^2` for complex images and the symmetrised :math:`\tfrac12(M(k)^2 +
        M(-k)^2)` for real images (see the module docstring).
        """
        k = torch.fft.fft2(b, norm="ortho")
        x = torch.fft.ifft2(k / (match_dtype(self.gram_weight, k) + rho_b), norm="ortho")
        return x.real if self.real_domain else x

    def pinv(self, y: Tensor, *, rcond: float = 1e-6, max_iter: int = 1000, tol: float | None = None) -> Tensor:
        r"""Closed-form pseudo-inverse (minimum-norm least squares).

        Complex images: :math:`A^+ y = F^H (M^+ \odot y)`. Real images:
        :math:`A^+ y = F^H \mathrm{diag}(w^+) F\, \mathrm{Re}\,F^H (M \odot y)`. Singular values
        at or below ``rcond`` times the largest are treated as zero. ``max_iter`` and ``tol`` are
        unused (kept for the common signature).
        """
        self.check_output(y, "y")
        if self.complex_images:
            m = self.mask
            m_inv = _safe_inverse(torch.where(m > rcond * m.max(), m, torch.zeros_like(m)))
            return torch.fft.ifft2(match_dtype(m_inv, y) * y, norm="ortho")
        w = self.gram_weight  # singular values squared
        w_inv = _safe_inverse(torch.where(w > rcond**2 * w.max(), w, torch.zeros_like(w)))
        k = torch.fft.fft2(self._adjoint(y), norm="ortho")
        return torch.fft.ifft2(match_dtype(w_inv, k) * k, norm="ortho").real

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, complex_images={self.complex_images}, "
            f"sampling_rate={self.sampling_rate:.3f}"
        )


def hartley(x: Tensor) -> Tensor:
    r"""Orthonormal 2-D discrete Hartley transform over the last two axes of a real tensor.

    .. math::
        (\mathcal{H}x)(k) = \mathrm{Re}(Fx)(k) - \mathrm{Im}(Fx)(k)
        = \frac{1}{\sqrt{HW}} \sum_n x(n)\,\mathrm{cas}\big(2\pi\langle k, n/N\rangle\big),
        \qquad \mathrm{cas} = \cos + \sin,

    with :math:`F` the orthonormal FFT. :math:`\mathcal{H}` is real, symmetric and its own inverse.
    """
    k = torch.fft.fft2(x, norm="ortho")
    return k.real - k.imag


def cartesian_mask(
    shape: Sequence[int],
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    generator: torch.Generator | None = None,
    *,
    direction: str = "columns",
) -> Tensor:
    r"""Random Cartesian undersampling mask in the centred k-space convention.

    Follows the random line masks of the fastMRI benchmark (Zbontar et al., 2018,
    ``RandomMaskFunc``), with an exact line count: the ``round(n * center_fraction)`` lines around
    the zero frequency are always sampled, and further lines drawn uniformly without replacement
    among the rest bring the total to ``round(n / acceleration)`` (never fewer than the central
    lines, never fewer than one). ``n`` is the number of lines (``W`` for columns, ``H`` for rows).

    Args:
        shape: ``(H, W)``.
        acceleration: undersampling factor :math:`\ge 1` (4 keeps a quarter of the lines).
        center_fraction: fraction of the lines, in :math:`[0, 1]`, sampled around DC.
        generator: source of randomness; the same seeded generator gives the same mask.
        direction: ``"columns"`` (default; each sampled line is a full column ``mask[:, j]``, the
            phase-encode direction being the width axis as in fastMRI) or ``"rows"``.

    Returns:
        A float32 tensor of shape ``(H, W)`` with entries 0 and 1, DC at ``(H // 2, W // 2)``.
    """
    size = as_shape(shape, "shape")
    if len(size) != 2:
        raise ValueError(f"shape must be (H, W), got {size}")
    if isinstance(acceleration, bool) or not isinstance(acceleration, Real):
        raise TypeError(f"acceleration must be a real number >= 1, got {acceleration!r}")
    if not (1.0 <= float(acceleration) < float("inf")):
        raise ValueError(f"acceleration must be a finite number >= 1, got {acceleration!r}")
    if isinstance(center_fraction, bool) or not isinstance(center_fraction, Real):
        raise TypeError(f"center_fraction must be a real number in [0, 1], got {center_fraction!r}")
    if not 0.0 <= float(center_fraction) <= 1.0:
        raise ValueError(f"center_fraction must be in [0, 1], got {center_fraction!r}")
    check_generator(generator)
    check_choice(direction, "direction", ("columns", "rows"))

    n = size[1] if direction == "columns" else size[0]
    num_center = min(n, round(n * float(center_fraction)))
    num_lines = min(n, max(num_center, round(n / float(acceleration)), 1))
    lines = torch.zeros(n, dtype=torch.bool)
    start = (n - num_center + 1) // 2  # the block contains index n // 2 (DC)
    lines[start : start + num_center] = True
    candidates = torch.nonzero(~lines).flatten()
    device = generator.device if generator is not None else torch.device("cpu")
    order = torch.randperm(candidates.numel(), generator=generator, device=device).cpu()
    lines[candidates[order[: num_lines - num_center]]] = True
    lines = lines.to(torch.float32)
    mask = lines.view(1, n).expand(size) if direction == "columns" else lines.view(n, 1).expand(size)
    return mask.contiguous()


def _check_mask(mask: object) -> Tensor:
    mask = check_parameter(mask, "mask", allow_bool=True)
    if mask.is_complex():
        raise TypeError(f"mask must be real (0/1 or weights in [0, 1]), got dtype {mask.dtype}")
    if not mask.is_floating_point():
        mask = mask.to(torch.float32)
    if mask.ndim < 2:
        raise ValueError(f"mask must have at least two axes (H, W), got shape {tuple(mask.shape)}")
    if float(mask.min()) < 0 or float(mask.max()) > 1:
        raise ValueError(
            f"mask values must lie in [0, 1], got values in [{float(mask.min())}, {float(mask.max())}]"
        )
    return mask.detach().clone()


def _negate_frequencies(w: Tensor) -> Tensor:
    """``w[..., (-k1) mod H, (-k2) mod W]``: the frequency index map k -> -k on the unshifted grid."""
    return torch.roll(torch.flip(w, dims=_FFT_DIMS), shifts=(1, 1), dims=_FFT_DIMS)


def _safe_inverse(s: Tensor) -> Tensor:
    """``1 / s`` where ``s > 0``, zero elsewhere."""
    positive = s > 0
    return torch.where(positive, 1.0 / torch.where(positive, s, torch.ones_like(s)), torch.zeros_like(s))


def _high_precision(t: Tensor) -> Tensor:
    """``t`` in float64 where the device supports it (not on Apple MPS)."""
    return t if t.device.type == "mps" else t.to(torch.float64)
