r"""Parallel-beam computed tomography: a discrete Radon transform stored as a sparse matrix.

The Radon transform integrates an image along lines,

.. math::
    (Rf)(\theta, s) = \int_{\mathbb{R}} f\big(s\,(\cos\theta, \sin\theta)
        + t\,(-\sin\theta, \cos\theta)\big)\,\mathrm{d}t,

for projection angles :math:`\theta \in [0, \pi)` and detector positions :math:`s` (Kak and
Slaney, *Principles of Computerized Tomographic Imaging*, 1988, ch. 3).

Discretisation
--------------
:class:`Radon` stores the projector as a sparse matrix, built once in the constructor
(vectorised), together with its transpose, in compressed sparse row (CSR) form; the row
pointers, column indices and values are non-persistent buffers (they move with ``.to()`` and are
derived from the constructor's arguments, so ``state_dict`` stays small), from which
``torch.sparse_csr_tensor`` views are assembled on each call without copying. Forward is
``R @ X`` and adjoint ``R.T @ Y`` with the images of the batch (and channels) as columns, so
the adjoint is exact to floating-point rounding (a *matched* pair), unlike back-projectors
written separately from the projector. Two projectors:

* ``"joseph"`` (default): the ray-driven projector of Joseph ("An improved algorithm for
  reprojecting rays through pixel images", IEEE TMI 1982). A ray closer to vertical is sampled
  once per image row (otherwise once per column), the image is interpolated linearly between
  the two pixels of that row (column) nearest to the ray, and the samples are weighted by the
  step length :math:`1/\max(|\cos\theta|, |\sin\theta|)`. Projections of a disk match the analytic chord
  lengths to about one percent.
* ``"pixel"``: the pixel-driven projector with linear interpolation on the detector ("splatting",
  the transpose of the linear-interpolation back-projector of Kak and Slaney): every pixel is a
  point mass at its centre, shared between the two detector bins nearest to
  :math:`s = x\cos\theta + y\sin\theta`. It conserves the mass of every projection exactly but
  has the known high-frequency artefacts of pixel-driven *forward* projection near
  :math:`\theta = \pi/4` (about 10 % ripple on a disk; De Man and Basu, "Distance-driven
  projection and backprojection in three dimensions", Phys. Med. Biol. 2004).

Both have about two non-zeros per pixel and angle; the pair of matrices takes about 16 bytes per
non-zero (float32 values, int32 indices): about 7 MB for 64×64 images and 60 angles, 340 MB for
256×256 and 180 angles. Construction is vectorised, a few angles (pixel-driven: image rows) at a
time, with no dense intermediate and no temporary larger than the entries themselves. The entries
come out listed row by row (pixel by pixel for the pixel-driven projector), so no comparison sort
is needed: one counting transposition (scipy's ``tocsc``, in C) gives the transpose with sorted
indices and a second one the matrix with sorted indices. At 256×256 and 180 angles this takes
about 0.9 s of CPU on one core (``benchmarks/ct_build.py``).
Matrix values are float32 (the default dtype); float64 inputs cast them on every call, so call
``.double()`` on the operator for long float64 computations.

Geometry and conventions
------------------------
* Pixel ``(i, j)`` (row, column) of an ``H × W`` image has its centre at
  :math:`x = j - (W-1)/2`, :math:`y = (H-1)/2 - i` (x to the right, y up, unit pixel spacing).
* Detector bin ``d`` of ``D`` sits at :math:`s = d - (D-1)/2` (unit spacing, centred).
* At :math:`\theta = 0` the projection is the column sums (``s = x``); at :math:`\theta = \pi/2`
  the row sums read from the bottom row up. This is the convention of
  ``deepinv.physics.Tomography`` (which takes degrees and returns ``(B, C, D, K)``); with the
  default detector our projections of smooth images agree with it to about 0.2 %.
* Angles are in **radians**.
* The default detector, :math:`D = \lceil\sqrt{H^2 + W^2}\rceil` bins, sees the whole image at
  every angle.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from reddiff_imaging._validation import MAX_MATRIX_ENTRIES, as_shape, check_choice, check_image_size, match_dtype
from reddiff_imaging.operators.base import LinearOperator

#: filters of :meth:`Radon.fbp` (the ramp |ω| multiplied by a window, as in ``skimage.transform.iradon``)
FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
#: projectors of :class:`Radon`
PROJECTORS = ("joseph", "pixel")


class _CSRParts(NamedTuple):
    """The dense parts of a CSR matrix: row pointers, column indices, values, and its shape."""

    crow: Tensor
    col: Tensor
    values: Tensor
    size: tuple[int, int]

    def tensor(self, like: Tensor) -> Tensor:
        """The sparse CSR tensor, with values in the precision and on the device of ``like``."""
        return torch.sparse_csr_tensor(
            self.crow.to(like.device), self.col.to(like.device), match_dtype(self.values, like), self.size,
            check_invariants=False,
        )


class _SparsePair:
    """A sparse matrix and its transpose, passed as one non-tensor argument to the autograd function."""

    __slots__ = ("matrix", "transpose")

    def __init__(self, matrix: _CSRParts, transpose: _CSRParts) -> None:
        self.matrix = matrix
        self.transpose = transpose

    def flipped(self) -> _SparsePair:
        return _SparsePair(self.transpose, self.matrix)


class _SparseMatmul(torch.autograd.Function):
    """``matrix @ x`` for a sparse CSR matrix and a dense ``x`` (columns = images).

    Backward multiplies by the stored transpose; forward-mode AD (``jvp``) and ``vmap`` rules make
    it usable inside :mod:`torch.func` transforms (``jvp``, ``vjp``, ``jacrev``, ``hessian``),
    which do not support sparse CSR tensors directly.
    """

    @staticmethod
    def forward(x: Tensor, pair: _SparsePair) -> Tensor:
        return pair.matrix.tensor(x) @ x

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, _SparsePair], output: Tensor) -> None:
        ctx.pair = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _SparseMatmul.apply(grad, ctx.pair.flipped()), None

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor, _: None) -> Tensor:
        return _SparseMatmul.apply(tangent, ctx.pair)

    @staticmethod
    def vmap(
        info: Any, in_dims: tuple[int | None, None], x: Tensor, pair: _SparsePair
    ) -> tuple[Tensor, int | None]:
        if in_dims[0] is None:
            return _SparseMatmul.apply(x, pair), None
        moved = x.movedim(in_dims[0], -1)
        out = _SparseMatmul.apply(moved.reshape(moved.shape[0], -1), pair)
        return out.reshape(out.shape[0], *moved.shape[1:]), moved.ndim - 1


def _sparse_matmul(x: Tensor, pair: _SparsePair) -> Tensor:
    if x.is_complex():  # the matrix is real: apply it to the real and imaginary parts
        return torch.complex(_SparseMatmul.apply(x.real, pair), _SparseMatmul.apply(x.imag, pair))
    return _SparseMatmul.apply(x, pair)


class Radon(LinearOperator):
    r"""Parallel-beam Radon transform of ``(C, H, W)`` images, as a matched sparse matrix pair.

    .. math::
        y_c(\theta_k, s_d) \approx \int x_c\big(s_d\,(\cos\theta_k, \sin\theta_k)
            + t\,(-\sin\theta_k, \cos\theta_k)\big)\,\mathrm{d}t

    in pixel units, discretised by Joseph's ray-driven projector (default) or a pixel-driven
    projector (see the module docstring for both and for the geometry). Each channel is projected
    independently.

    Args:
        in_shape: ``(C, H, W)``.
        angles: projection angles in radians (1-D tensor or sequence). Default: ``num_angles``
            angles equispaced in :math:`[0, \pi)`, :math:`\theta_k = k\pi/K`.
        num_angles: number of equispaced angles when ``angles`` is not given (default 180, one-degree
            steps); when both are given they must agree.
        detector_size: number of detector bins (unit spacing, centred). Default
            :math:`\lceil\sqrt{H^2 + W^2}\rceil`, which sees the whole image at every angle; a
            smaller detector truncates the projections.
        projector: ``"joseph"`` (default) or ``"pixel"``.

    Output shape ``(C, num_angles, detector_size)``. The matrices follow ``.to(device)``,
    ``.double()`` and ``copy.deepcopy``; inputs of either precision work (the matrix values, float32
    by default, are cast to the input's precision) and complex images too. Gradients flow through
    forward and adjoint (autograd and :mod:`torch.func`). ``solve_normal`` and ``pinv`` use
    conjugate gradients (no closed form); :meth:`fbp` is the classical filtered back-projection.

    Example:
        >>> import torch
        >>> A = Radon((1, 64, 64), num_angles=60)
        >>> A(torch.rand(8, 1, 64, 64)).shape
        torch.Size([8, 1, 60, 91])
    """

    angles: Tensor
    _matrix_values: Tensor  # one of the CSR buffers registered by name in __init__

    def __init__(
        self,
        in_shape: Sequence[int],
        angles: Tensor | Sequence[float] | None = None,
        num_angles: int | None = None,
        detector_size: int | None = None,
        projector: str = "joseph",
    ) -> None:
        shape = as_shape(in_shape, "in_shape")
        if len(shape) != 3:
            raise ValueError(f"in_shape must be (C, H, W), got {shape}")
        _, height, width = shape
        check_image_size(height, width, f"in_shape={shape}")
        if detector_size is None:
            detector_size = math.ceil(math.sqrt(height**2 + width**2))
        elif isinstance(detector_size, bool) or not isinstance(detector_size, int) or detector_size < 1:
            raise ValueError(f"detector_size must be a positive int, got {detector_size!r}")
        theta = _check_angles(angles, num_angles, detector_size)
        check_choice(projector, "projector", PROJECTORS)
        num = int(theta.numel())
        # the entries listed while building the matrix: two per ray sample (Joseph) or per pixel and angle
        entries = 2 * num * (detector_size * max(height, width) if projector == "joseph" else height * width)
        if entries > MAX_MATRIX_ENTRIES:
            raise ValueError(
                f"Radon of in_shape={shape} with {num} angles × detector_size={detector_size} ({projector!r} projector) "
                f"needs a projection matrix of up to {entries:,} entries; the limit is {MAX_MATRIX_ENTRIES:,}: "
                "use a smaller image, fewer angles or a smaller detector_size"
            )
        super().__init__(shape, (shape[0], num, detector_size))
        self.num_angles = num
        self.detector_size = detector_size
        self.projector = projector
        self.register_buffer("angles", theta, persistent=False)
        # The CSR parts are kept as ordinary (non-persistent) buffers, and the sparse tensors are
        # assembled on each call (no copy): sparse CSR buffers would move with .to() too, but
        # torch cannot deepcopy or pickle them.
        size = (num * detector_size, height * width)
        if projector == "joseph":
            pair = _csr_pair(_joseph_rows(height, width, theta, detector_size), size)
        else:
            matrix_t, matrix = _csr_pair(_pixel_driven_columns(height, width, theta, detector_size), size[::-1])
            pair = (matrix, matrix_t)
        for name, parts in zip(("matrix", "matrix_t"), pair, strict=True):
            self.register_buffer(f"_{name}_crow", parts[0], persistent=False)
            self.register_buffer(f"_{name}_col", parts[1], persistent=False)
            self.register_buffer(f"_{name}_values", parts[2], persistent=False)

    def _parts(self, name: str) -> _CSRParts:
        size = (self.num_angles * self.detector_size, math.prod(self.in_shape[1:]))
        return _CSRParts(
            getattr(self, f"_{name}_crow"),
            getattr(self, f"_{name}_col"),
            getattr(self, f"_{name}_values"),
            size if name == "matrix" else (size[1], size[0]),
        )

    @property
    def matrix(self) -> Tensor:
        """The projection matrix ``(num_angles * detector_size, H * W)`` as a sparse CSR tensor."""
        parts = self._parts("matrix")
        return parts.tensor(parts.values)

    @property
    def matrix_t(self) -> Tensor:
        """The transpose of :attr:`matrix` (stored, not computed), as a sparse CSR tensor."""
        parts = self._parts("matrix_t")
        return parts.tensor(parts.values)

    @property
    def nnz(self) -> int:
        """Number of stored non-zeros of the projection matrix."""
        return int(self._matrix_values.numel())

    # -- application ---------------------------------------------------------------------------
    def _forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        channels, height, width = self.in_shape
        columns = x.reshape(batch * channels, height * width).transpose(0, 1).contiguous()
        out = _sparse_matmul(columns, _SparsePair(self._parts("matrix"), self._parts("matrix_t")))
        return out.transpose(0, 1).reshape(batch, channels, self.num_angles, self.detector_size)

    def _adjoint(self, y: Tensor) -> Tensor:
        batch = y.shape[0]
        channels, height, width = self.in_shape
        columns = y.reshape(batch * channels, -1).transpose(0, 1).contiguous()
        out = _sparse_matmul(columns, _SparsePair(self._parts("matrix_t"), self._parts("matrix")))
        return out.transpose(0, 1).reshape(batch, channels, height, width)

    # -- classical reconstruction ----------------------------------------------------------------
    def fbp(self, y: Tensor, filter_name: str = "ramp") -> Tensor:
        r"""Filtered back-projection (Kak and Slaney, 1988, §3.3).

        .. math::
            \hat x = \frac{\pi}{K}\, R^T \big(h * y\big),

        where :math:`h` is the band-limited ramp filter of Ramachandran and Lakshminarayanan
        (spatial kernel :math:`h(0) = 1/4`, :math:`h(n) = -1/(\pi n)^2` for odd :math:`n`, zero for
        even :math:`n`; applied by FFT along the detector axis with zero padding to a power of two
        :math:`\ge 2D`), optionally multiplied in frequency by a window (``filter_name`` in
        :data:`FBP_FILTERS`, as in ``skimage.transform.iradon``), and :math:`R^T` is this operator's
        adjoint (the back-projection). The weight :math:`\pi/K` assumes angles equispaced over
        :math:`[0, \pi)`; with it, a disk of value 1 reconstructs to about 1 inside.

        Args:
            y: sinograms ``(B, C, num_angles, detector_size)``.
            filter_name: one of :data:`FBP_FILTERS`.

        Returns:
            Images ``(B, C, H, W)`` with the dtype of ``y`` (complex for complex ``y``).
        """
        self.check_output(y, "y")
        check_choice(filter_name, "filter_name", FBP_FILTERS)
        size = self.detector_size
        padded = max(64, 2 ** math.ceil(math.log2(2 * size)))
        real = y.real.dtype if y.is_complex() else y.dtype
        response = _ramp_response(padded, filter_name, real, y.device)
        spectrum = torch.fft.fft(y, n=padded, dim=-1) * response
        filtered = torch.fft.ifft(spectrum, dim=-1)[..., :size]
        if not y.is_complex():
            filtered = filtered.real
        return (math.pi / self.num_angles) * self.apply_adjoint(filtered.contiguous())

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, num_angles={self.num_angles}, "
            f"detector_size={self.detector_size}, projector={self.projector!r}, nnz={self.nnz}"
        )


def _check_angles(angles: Tensor | Sequence[float] | None, num_angles: int | None, detector_size: int) -> Tensor:
    """The projection angles, checked with the sinogram they make (angles × ``detector_size``) before
    anything of that size is allocated."""
    bad_count = isinstance(num_angles, bool) or not isinstance(num_angles, int) or num_angles < 1
    if num_angles is not None and bad_count:
        raise ValueError(f"num_angles must be a positive int, got {num_angles!r}")
    if angles is None:
        count = 180 if num_angles is None else num_angles
        check_image_size(count, detector_size, f"the sinogram of num_angles={count} × detector_size={detector_size}")
        return torch.arange(count, dtype=torch.float64) * (math.pi / count)
    try:
        theta = torch.as_tensor(angles, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"angles must be a 1-D sequence of floats (radians), got {angles!r}") from err
    if theta.ndim != 1 or theta.numel() == 0:
        raise ValueError(f"angles must be a non-empty 1-D sequence (radians), got shape {tuple(theta.shape)}")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("angles contains NaN or Inf")
    if num_angles is not None and num_angles != theta.numel():
        raise ValueError(f"num_angles={num_angles} does not match the {theta.numel()} angles given")
    check_image_size(theta.numel(), detector_size, f"the sinogram of {theta.numel()} angles × detector_size={detector_size}")
    return theta.detach().cpu().clone()


#: (counts per major index, minor indices, values): a sparse matrix's entries listed major index by
#: major index (rows for the projection matrix, pixels for its transpose), in any order within one
Listing = tuple[Tensor, Tensor, Tensor]
#: (keep, minor indices, values) of candidate entries, ``keep`` with one row per major index
Candidates = tuple[Tensor, Tensor, Tensor]
Parts = tuple[Tensor, Tensor, Tensor]


#: projection angles (Joseph) or image rows (pixel-driven) processed together while building a
#: matrix (bounds the float64 temporaries)
_ANGLE_CHUNK = 8


def _joseph_rows(height: int, width: int, theta: Tensor, detector_size: int) -> Listing:
    """Joseph's projector listed row by row (row = angle index * D + detector bin).

    Consecutive angles that step along the same image axis are processed a few at a time; each
    group's entries come out in row order, so concatenating the groups in angle order lists the
    whole matrix row by row without sorting.
    """
    cos, sin = torch.cos(theta), torch.sin(theta)
    steep = cos.abs() >= sin.abs()  # the ray (-sin, cos) crosses every image row once
    detector = torch.arange(detector_size, dtype=torch.float64) - (detector_size - 1) / 2
    switches = (torch.nonzero(steep[1:] != steep[:-1]).squeeze(1) + 1).tolist()
    bounds = [0, *switches, theta.numel()]
    lister = _Lister(2 * theta.numel() * detector_size * max(height, width))
    for first, stop in itertools.pairwise(bounds):
        for start in range(first, stop, _ANGLE_CHUNK):
            chunk = slice(start, min(start + _ANGLE_CHUNK, stop))
            lister.add(*_joseph_group(height, width, cos[chunk], sin[chunk], detector, bool(steep[first])))
    return lister.listing()


def _joseph_group(height: int, width: int, cos: Tensor, sin: Tensor, detector: Tensor, rows_first: bool) -> Candidates:
    c, s = cos.view(-1, 1, 1), sin.view(-1, 1, 1)
    if rows_first:  # step over rows y_i; the ray meets row i at x = (s_d - y_i sin) / cos
        steps = (height - 1) / 2 - torch.arange(height, dtype=torch.float64)
        across = (detector.view(1, -1, 1) - steps.view(1, 1, -1) * s) / c + (width - 1) / 2
        length, limit = 1.0 / c.abs(), width
    else:  # step over columns x_j; the ray meets column j at y = (s_d - x_j cos) / sin
        steps = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
        across = (height - 1) / 2 - (detector.view(1, -1, 1) - steps.view(1, 1, -1) * c) / s
        length, limit = 1.0 / s.abs(), height
    lower = torch.floor(across)
    frac = across - lower  # exact, in [0, 1): the lower neighbour's weight is always positive
    # each candidate ray sample has two neighbours: (K', D, steps, 2), written in place (no stacking)
    pairs = (*frac.shape, 2)
    weights = torch.empty(pairs, dtype=torch.get_default_dtype())
    torch.mul(1 - frac, length, out=weights[..., 0])  # computed in float64, rounded once on writing
    torch.mul(frac, length, out=weights[..., 1])
    neighbour = lower.to(torch.int32)
    keep = torch.empty(pairs, dtype=torch.bool)
    torch.logical_and(neighbour >= 0, neighbour < limit, out=keep[..., 0])
    torch.logical_and((neighbour >= -1) & (neighbour < limit - 1), frac > 0, out=keep[..., 1])
    step_index = torch.arange(steps.numel(), dtype=torch.int32)
    pixels = torch.empty(pairs, dtype=torch.int32)
    if rows_first:  # pixel i * W + n: increasing along the row of the matrix
        torch.add(neighbour, step_index * width, out=pixels[..., 0])
        torch.add(pixels[..., 0], 1, out=pixels[..., 1])
    else:  # pixel n * W + j: the transpose's counting sort puts these in order
        torch.add(neighbour * width, step_index, out=pixels[..., 0])
        torch.add(pixels[..., 0], width, out=pixels[..., 1])
    return keep.view(cos.numel() * detector.numel(), -1), pixels, weights


def _pixel_driven_columns(height: int, width: int, theta: Tensor, detector_size: int) -> Listing:
    """The pixel-driven projector listed pixel by pixel (the rows of its transpose), a few image rows at a time."""
    lister = _Lister(2 * height * width * theta.numel())
    for start in range(0, height, _ANGLE_CHUNK):
        lister.add(*_pixel_driven_block(height, width, theta, detector_size, start))
    return lister.listing()


def _pixel_driven_block(height: int, width: int, theta: Tensor, detector_size: int, start: int) -> Candidates:
    ys = (height - 1) / 2 - torch.arange(start, min(start + _ANGLE_CHUNK, height), dtype=torch.float64)
    xs = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    # fractional detector index of each pixel centre at each angle: (N', K)
    position = grid_x.reshape(-1, 1) * torch.cos(theta) + grid_y.reshape(-1, 1) * torch.sin(theta)
    position = position + (detector_size - 1) / 2
    lower = torch.floor(position)
    frac = position - lower  # exact, in [0, 1): the lower bin's weight is always positive
    dtype = torch.get_default_dtype()
    weights = torch.stack([(1 - frac).to(dtype), frac.to(dtype)], dim=-1)
    bins = lower.to(torch.int32)  # (N', K)
    keep = torch.stack([(bins >= 0) & (bins < detector_size), (bins >= -1) & (bins < detector_size - 1) & (frac > 0)], dim=-1)
    row = bins + torch.arange(theta.numel(), dtype=torch.int32) * detector_size  # increasing along the pixel's list
    return keep.view(grid_x.numel(), -1), torch.stack([row, row + 1], dim=-1), weights


class _Lister:
    """Collects a matrix's entries major index by major index into arrays sized for the worst case.

    The arrays hold one entry per candidate; memory pages never written are never touched, and no
    concatenation copies the entries at the end. The entries kept are selected with numpy's
    ``compress``: on one CPU thread it is several times faster than torch's boolean indexing.
    """

    def __init__(self, candidates: int) -> None:
        self.minor = torch.empty(candidates, dtype=torch.int32).numpy()
        self.values = torch.empty(candidates, dtype=torch.get_default_dtype()).numpy()
        self.counts: list[np.ndarray] = []
        self.filled = 0

    def add(self, keep: Tensor, minor: Tensor, values: Tensor) -> None:
        """Append the candidates where ``keep`` (one row per major index) is true."""
        mask = keep.numpy()
        counts = np.count_nonzero(mask, axis=1)
        end = self.filled + int(counts.sum())
        for source, target in ((minor, self.minor), (values, self.values)):
            np.compress(mask.reshape(-1), source.reshape(-1).numpy(), out=target[self.filled:end])
        self.counts.append(counts)
        self.filled = end

    def listing(self) -> Listing:
        return (
            torch.from_numpy(np.concatenate(self.counts)),
            torch.from_numpy(self.minor[: self.filled]),
            torch.from_numpy(self.values[: self.filled]),
        )


def _csr_pair(listing: Listing, shape: tuple[int, int]) -> tuple[Parts, Parts]:
    """A matrix ``shape`` listed major index by major index, and its transpose, as CSR ``(crow, col, values)``.

    Two counting transpositions in C (scipy's ``tocsc``/``tocsr``), linear in the number of entries,
    replace the comparison sorts of a global ordering: the first gives the transpose with its
    indices sorted, the second gives the matrix back with sorted indices (torch's CSR invariant).
    Values in the default float dtype; int32 indices when they fit. No entry is repeated.
    """
    import scipy.sparse  # not needed at import time (start-up)

    counts, minor, values = listing
    index_dtype = torch.int32 if max(values.numel(), *shape) < 2**31 - 1 else torch.int64
    crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]).to(index_dtype)
    listed = scipy.sparse.csr_array((values.numpy(), minor.to(index_dtype).numpy(), crow.numpy()), shape=shape)
    del counts, minor, values, crow
    transpose_csc = listed.tocsc()  # the CSC form of the matrix is the CSR form of its transpose
    del listed
    matrix_csr = transpose_csc.tocsr()

    def parts(compressed: Any) -> Parts:
        return torch.from_numpy(compressed.indptr), torch.from_numpy(compressed.indices), torch.from_numpy(compressed.data)

    matrix, matrix_t = parts(matrix_csr), parts(transpose_csc)
    with warnings.catch_warnings():  # torch warns once per process that sparse CSR support is beta
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        _CSRParts(*matrix, shape).tensor(matrix[2])
    return matrix, matrix_t


def _ramp_response(size: int, filter_name: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Frequency response (length ``size``, real) of the windowed Ram-Lak filter, unit detector spacing."""
    n = torch.cat([torch.arange(0, size // 2 + 1), torch.arange(-(size // 2) + 1, 0)]).to(torch.float64)
    kernel = torch.zeros(size, dtype=torch.float64)
    kernel[0] = 0.25
    odd = n.remainder(2) == 1
    kernel[odd] = -1.0 / (math.pi * n[odd]) ** 2
    response = torch.fft.fft(kernel).real
    f = torch.fft.fftfreq(size, dtype=torch.float64).abs()  # cycles per detector bin, in [0, 0.5]
    if filter_name == "shepp-logan":
        response = response * torch.sinc(f)
    elif filter_name == "cosine":
        response = response * torch.cos(math.pi * f)
    elif filter_name == "hamming":
        response = response * (0.54 + 0.46 * torch.cos(2 * math.pi * f))
    elif filter_name == "hann":
        response = response * torch.cos(math.pi * f) ** 2
    return response.to(device=device, dtype=dtype)
