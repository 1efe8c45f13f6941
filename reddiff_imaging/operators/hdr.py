r"""High-dynamic-range reconstruction: invert a saturating exposure.

The HDR task of RED-diff (Mardani, Song, Kautz and Vahdat, "A Variational Perspective on Solving
Inverse Problems with Diffusion Models", ICLR 2024) over-exposes an image and clips it:

.. math::
    y = \mathrm{clip}\big(s\,(x - c) + c,\; 0,\; 1\big),

with gain :math:`s` (``scale``) about the fixed grey level :math:`c` (``center``). The official code
(``utils/degredations.py``, class ``HDR``) works on images in :math:`[-1, 1]` and computes
:math:`\mathrm{clip}(2x', -1, 1)`; in the public range :math:`[0, 1]` (:math:`x' = 2x - 1`) that is
exactly ``scale=2, center=0.5``, :math:`y = \mathrm{clip}(2x - 0.5, 0, 1)`: the darkest and
brightest quarters of the range saturate. ``center=0`` gives the plain
:math:`\mathrm{clip}(s x, 0, 1)`, where only highlights saturate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor

from reddiff_imaging._validation import as_shape, check_positive
from reddiff_imaging.operators.base import Operator


class HDR(Operator):
    r"""Saturating exposure :math:`y = \mathrm{clip}(s(x - c) + c, 0, 1)` (nonlinear).

    Args:
        in_shape: image shape without the batch axis; the output has the same shape.
        scale: exposure gain :math:`s > 0` (2 in the RED-diff paper).
        center: grey level :math:`c` kept fixed by the gain (0.5 reproduces the official RED-diff
            operator, see the module docstring; 0 gives :math:`\mathrm{clip}(s x, 0, 1)`).

    Images must be real. The derivative is :math:`s` where the output is not clipped and 0 where it
    is (autograd's convention at the kinks: the derivative of ``clamp`` is 1 at the bounds).

    Example:
        >>> import torch
        >>> A = HDR((1, 8, 8))
        >>> A(torch.full((1, 1, 8, 8), 0.5)).unique()
        tensor([0.5000])
    """

    real_domain = True

    def __init__(self, in_shape: Sequence[int], scale: float = 2.0, center: float = 0.5) -> None:
        shape = as_shape(in_shape, "in_shape")
        super().__init__(shape, shape)
        for name, value in (("scale", scale), ("center", center)):
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"{name} must be a real number, got {value!r}")
        self.scale = check_positive(scale, "scale")
        if not math.isfinite(float(center)):
            raise ValueError(f"center must be a finite real number, got {center!r}")
        self.center = float(center)

    def _forward(self, x: Tensor) -> Tensor:
        return torch.clamp(self.scale * (x - self.center) + self.center, 0.0, 1.0)

    def pinv(self, y: Tensor, *, rcond: float = 1e-6, max_iter: int = 1000, tol: float | None = None) -> Tensor:
        r"""Inverse of the exposure on the unclipped range, :math:`(y - c)/s + c`.

        The official RED-diff code initialises its iterate with this (``HDR.H_pinv``, ``y / 2`` in
        :math:`[-1, 1]`). Saturated pixels map to the edge of the unclipped range. ``rcond``,
        ``max_iter`` and ``tol`` are unused (the signature of :meth:`LinearOperator.pinv`).
        """
        self.check_output(y, "y")
        return (y - self.center) / self.scale + self.center

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}, scale={self.scale}, center={self.center}"
