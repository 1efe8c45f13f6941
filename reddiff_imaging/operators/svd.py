r"""Singular value decomposition structure of a linear operator.

An operator with SVD structure factors as :math:`A = U \Sigma V^H` where :math:`V` is a *complete*
orthonormal basis of the input space: the spectral coefficients :math:`z = V^H x` have a shape
``spectral_shape`` holding as many entries as the input, and ``singular_values`` has that shape
too, with zeros on the null space. :math:`U` maps spectral coefficients (only those with a non-zero
singular value matter) to the output space, and :math:`U^H` maps a measurement to coefficients.
This is the representation DDRM (Kawar et al., 2022) and ΠGDM (Song et al., 2023) work in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reddiff_imaging._validation import match_dtype

Map = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SVD:
    r"""Callable factors of :math:`A = U\,\mathrm{diag}(s)\,V^H`.

    Attributes:
        U: spectral coefficients ``(B, *spectral_shape)`` → measurements ``(B, *out_shape)``.
        Ut: measurements → spectral coefficients (:math:`U^H`).
        V: spectral coefficients → images ``(B, *in_shape)``.
        Vt: images → spectral coefficients (:math:`V^H`).
        singular_values: non-negative real tensor of shape ``spectral_shape``.
    """

    U: Map
    Ut: Map
    V: Map
    Vt: Map
    singular_values: Tensor

    def forward(self, x: Tensor) -> Tensor:
        """:math:`U\\,\\mathrm{diag}(s)\\,V^H x`."""
        return self.U(match_dtype(self.singular_values, x) * self.Vt(x))

    def pinv(self, y: Tensor, rcond: float = 1e-6) -> Tensor:
        r""":math:`V\,\mathrm{diag}(s^+)\,U^H y`, dropping :math:`s \le \mathrm{rcond}\cdot\max s`."""
        coefficients = self.Ut(y)
        s = self.singular_values.to(coefficients.real.dtype)
        keep = s > rcond * s.max()
        inverse = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
        return self.V(inverse.to(coefficients.device) * coefficients)

    def solve_normal(self, b: Tensor, rho: Tensor | float) -> Tensor:
        r""":math:`(A^H A + \rho I)^{-1} b = V\,\mathrm{diag}\big(1/(s^2 + \rho)\big)\,V^H b`."""
        coefficients = self.Vt(b)
        s2 = self.singular_values.to(device=b.device, dtype=coefficients.real.dtype) ** 2
        return self.V(coefficients / (s2 + rho))

    def scaled(self, c: complex) -> SVD:
        r"""SVD of :math:`cA`: :math:`|c|` scales the singular values, the phase goes into :math:`U`."""
        magnitude = abs(c)
        phase = c / magnitude if magnitude > 0 else 1.0
        return SVD(
            U=lambda z: phase * self.U(z),
            Ut=lambda y: self.Ut(_conj_scalar(phase) * y),
            V=self.V,
            Vt=self.Vt,
            singular_values=magnitude * self.singular_values,
        )


def _conj_scalar(c: complex | float) -> complex | float:
    return c.conjugate() if isinstance(c, complex) else c
