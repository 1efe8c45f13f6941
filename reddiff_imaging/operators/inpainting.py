r"""Pointwise (diagonal) operators and inpainting with its mask factories.

:class:`Diagonal` multiplies by a weight tensor; :class:`Inpainting` is the special case of a 0/1
mask (missing pixels are measured as zero, so ``out_shape == in_shape``). Both are closed under
composition, sums, scalar multiples and adjoints, and have the trivial SVD, so ``pinv`` and
``solve_normal`` are pointwise divisions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from reddiff_imaging._validation import (
    MAX_DATASET_ELEMENTS,
    as_shape,
    check_generator,
    check_int,
    check_parameter,
    check_positive,
    check_real,
    complex_view,
    match_dtype,
    real_view,
)
from reddiff_imaging.operators.base import LinearOperator, Operator, Scalar
from reddiff_imaging.operators.svd import SVD


def _weights_and_shape(weights: Tensor, in_shape: Sequence[int] | None, name: str, allow_bool: bool) -> tuple[Tensor, tuple[int, ...]]:
    weights = check_parameter(weights, name, allow_bool=allow_bool)
    given = tuple(weights.shape)
    if weights.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (C, H, W), got {given}")
    shape = as_shape(in_shape, "in_shape") if in_shape is not None else (1, *weights.shape[-2:])
    if weights.ndim == 2:
        weights = weights.unsqueeze(0)
    if len(shape) != 3 or tuple(weights.shape[-2:]) != shape[-2:] or weights.shape[0] not in (1, shape[0]):
        raise ValueError(f"{name} must have shape (H, W), (1, H, W) or (C, H, W) matching in_shape {shape}, got {given}")
    return weights, shape


class Diagonal(LinearOperator):
    r"""Pointwise multiplication :math:`A x = w \odot x` by a weight tensor.

    Args:
        weights: real or complex tensor of shape ``(H, W)``, ``(1, H, W)`` or ``(C, H, W)``,
            broadcast over the channels.
        in_shape: image shape ``(C, H, W)``; inferred as ``(1, H, W)`` when omitted.
    """

    _argument = "weights"
    _allows_bool = False
    _weights: Tensor
    _gain: Tensor

    def __init__(self, weights: Tensor, in_shape: Sequence[int] | None = None) -> None:
        weights, shape = _weights_and_shape(weights, in_shape, self._argument, self._allows_bool)
        super().__init__(shape, shape)
        if not (weights.is_floating_point() or weights.is_complex()):
            weights = weights.to(torch.get_default_dtype())
        self._complex = weights.is_complex()
        self.register_buffer("_weights", real_view(weights.resolve_conj()).contiguous())
        self.register_buffer("_gain", weights.abs().square())  # |w|^2 for the normal solves

    @property
    def weights(self) -> Tensor:
        """The weights, shape ``(1 or C, H, W)``."""
        return complex_view(self._weights, self._complex)

    def _forward(self, x: Tensor) -> Tensor:
        return match_dtype(self.weights, x) * x

    def _adjoint(self, y: Tensor) -> Tensor:
        return match_dtype(self.weights, y).conj() * y

    # structure: diagonal operators are closed under the algebra
    def _like(self, weights: Tensor) -> Diagonal:
        return Diagonal(weights, self.in_shape)

    def _compose_structured(self, right: Operator) -> Operator | None:
        return self._like(self.weights * right.weights) if isinstance(right, Diagonal) else None

    def _add_structured(self, other: Operator) -> Operator | None:
        return Diagonal(self.weights + other.weights, self.in_shape) if isinstance(other, Diagonal) else None

    def _scale_structured(self, c: Scalar) -> Operator:
        return Diagonal(c * self.weights, self.in_shape)

    def _adjoint_structured(self) -> LinearOperator:
        return self._like(self.weights.conj())

    def _gram_structured(self) -> LinearOperator:
        return self._like(self.weights.abs() ** 2)

    @property
    def svd(self) -> SVD:
        magnitude = self.weights.abs()
        phase = torch.where(magnitude > 0, self.weights / magnitude.clamp_min(1e-300), torch.ones_like(self.weights))

        def keep(v: Tensor) -> Tensor:
            return v

        return SVD(
            U=lambda z: match_dtype(phase, z) * z,
            Ut=lambda y: match_dtype(phase, y).conj() * y,
            V=keep,
            Vt=keep,
            singular_values=magnitude.expand(self.in_shape),
        )

    def _solve_normal(self, b: Tensor, rho_b: float | Tensor, **_: object) -> Tensor:
        r""":math:`(|w|^2 + \rho)^{-1} \odot b`."""
        return b / (match_dtype(self._gain, b) + rho_b)


class Inpainting(Diagonal):
    r"""Inpainting :math:`A x = m \odot x` with a 0/1 mask :math:`m` (1 = observed).

    Args:
        mask: 0/1 or boolean tensor ``(H, W)``, ``(1, H, W)`` or ``(C, H, W)`` (stored in the
            default float dtype); see :func:`random_mask`, :func:`box_mask`, :func:`freeform_mask`.
        in_shape: image shape ``(C, H, W)``; inferred as ``(1, H, W)`` when omitted.
    """

    _argument = "mask"
    _allows_bool = True

    def __init__(self, mask: Tensor, in_shape: Sequence[int] | None = None) -> None:
        super().__init__(mask, in_shape)
        if self.weights.is_complex() or not bool(((self.weights == 0) | (self.weights == 1)).all()):
            raise ValueError("mask must contain only 0 and 1")

    @property
    def mask(self) -> Tensor:
        """The 0/1 mask, shape ``(1 or C, H, W)``."""
        return self.weights

    def _like(self, weights: Tensor) -> Diagonal:
        binary = not weights.is_complex() and bool(((weights == 0) | (weights == 1)).all())
        return Inpainting(weights, self.in_shape) if binary else Diagonal(weights, self.in_shape)

    def _compose_structured(self, right: Operator) -> Operator | None:
        return self._like(self.weights * right.weights) if isinstance(right, Diagonal) else None


# --- mask factories ----------------------------------------------------------------------------
def random_mask(shape: Sequence[int], ratio: float, *, generator: torch.Generator | None = None) -> Tensor:
    """A mask keeping exactly ``max(1, round(ratio * H * W))`` pixels chosen uniformly at random.

    At least one pixel is kept (as :func:`~reddiff_imaging.operators.cartesian_mask` keeps at least
    one line): a positive ``ratio`` on a small image (0.3 of a 1×1 image) observes something.

    Args:
        shape: ``(H, W)``.
        ratio: fraction of observed pixels, in ``(0, 1]``.
        generator: source of randomness (the same generator state gives the same mask).
    """
    height, width = _hw(shape)
    check_real(ratio, "ratio", low=0.0, high=1.0, open_low=True)
    check_generator(generator)
    n = height * width
    keep = torch.randperm(n, generator=generator)[: max(1, round(float(ratio) * n))]
    mask = torch.zeros(n)
    mask[keep] = 1.0
    return mask.view(height, width)


def box_mask(shape: Sequence[int], box: Sequence[int] | int, *, corner: Sequence[int] | None = None) -> Tensor:
    """A mask with a missing rectangle of size ``box`` = ``(h, w)`` (centred unless ``corner`` is given).

    The RED-diff paper's box inpainting uses a centred box; 20×20 on 64×64 images is our benchmark.
    """
    height, width = _hw(shape)
    bh, bw = (check_int(box, "box"),) * 2 if not isinstance(box, Sequence) else _pair(box, "box", minimum=1)
    if not (0 < bh <= height and 0 < bw <= width):
        raise ValueError(f"box must fit in the image {(height, width)}, got {(bh, bw)}")
    top, left = ((height - bh) // 2, (width - bw) // 2) if corner is None else _pair(corner, "corner", minimum=None)
    if not (0 <= top <= height - bh and 0 <= left <= width - bw):
        raise ValueError(f"corner must keep the box inside the image, got {(top, left)}")
    mask = torch.ones(height, width)
    mask[top : top + bh, left : left + bw] = 0.0
    return mask


def freeform_mask(
    shape: Sequence[int],
    *,
    num_strokes: int = 4,
    vertices: int = 5,
    max_width: float = 6.0,
    max_length: float = 0.25,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A free-form brush-stroke mask (missing strokes), after Yu et al., "Free-Form Image Inpainting
    with Gated Convolution", ICCV 2019.

    Each stroke is a random polyline of ``vertices`` segments of length up to ``max_length`` times
    the image size, drawn with a width up to ``max_width`` pixels.
    """
    height, width = _hw(shape)
    check_positive(max_width, "max_width")
    check_positive(max_length, "max_length")
    num_strokes = check_int(num_strokes, "num_strokes")
    vertices = check_int(vertices, "vertices")
    # the distance of every pixel to every segment is computed at once
    if num_strokes * vertices * height * width > MAX_DATASET_ELEMENTS:
        raise ValueError(
            f"num_strokes={num_strokes} × vertices={vertices} segments × {height * width} pixels is more than "
            f"{MAX_DATASET_ELEMENTS:,} distances (the limit): use fewer strokes or vertices"
        )
    check_generator(generator)
    size = max(height, width)
    start = torch.rand(num_strokes, 1, 2, generator=generator) * torch.tensor([height, width])
    angles = torch.cumsum(torch.rand(num_strokes, vertices, generator=generator) * 2 * math.pi, dim=1)
    lengths = (0.3 + 0.7 * torch.rand(num_strokes, vertices, generator=generator)) * max_length * size
    steps = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1) * lengths.unsqueeze(-1)
    points = torch.cat([start, start + torch.cumsum(steps, dim=1)], dim=1)  # (S, V+1, 2)
    radii = 0.5 * max_width * (0.5 + 0.5 * torch.rand(num_strokes, 1, generator=generator))
    seg_a = points[:, :-1].reshape(-1, 2)
    seg_b = points[:, 1:].reshape(-1, 2)
    radius = radii.expand(num_strokes, vertices).reshape(-1)
    rows, cols = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    pixels = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=-1)  # (P, 2)
    distance = _segment_distance(pixels, seg_a, seg_b)  # (segments, P)
    missing = (distance <= radius[:, None]).any(dim=0)
    return (~missing).to(torch.get_default_dtype()).view(height, width)


def _segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distances from points ``p`` (P, 2) to segments ``[a, b]`` (S, 2), shape (S, P)."""
    ab = b - a
    t = ((p[None] - a[:, None]) * ab[:, None]).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)[:, None]
    closest = a[:, None] + t.clamp(0, 1)[..., None] * ab[:, None]
    return (p[None] - closest).norm(dim=-1)


def _pair(value: object, name: str, *, minimum: int | None) -> tuple[int, int]:
    """Two ints ``(rows, columns)`` (each at least ``minimum``), or raise naming ``name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a pair of ints (rows, columns), got {value!r}")
    if len(value) != 2:
        raise ValueError(f"{name} must be a pair of ints (rows, columns), got {len(value)} values: {tuple(value)!r}")
    first, second = (check_int(v, name, minimum=minimum) for v in value)
    return first, second


def _hw(shape: Sequence[int]) -> tuple[int, int]:
    dims = as_shape(shape, "shape")
    if len(dims) != 2:
        raise ValueError(f"shape must be (H, W), got {dims}")
    return dims[0], dims[1]
