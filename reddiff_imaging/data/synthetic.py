"""Procedural grayscale scenes: the project's own training and test images.

Each image is a smooth background (a linear gradient plus low-frequency shading) on which 3 to 8
shapes are painted back to front, larger ones first. A shape is an ellipse or a convex polygon
(3 to 7 sides, the intersection of half-planes) with an anti-aliased edge of random softness and a
random opacity, filled with one of

* a linear intensity gradient,
* a radial gradient,
* an oriented sinusoidal stripe texture (random orientation, period 4 to 12 pixels at 64x64,
  random phase) on top of a mean level.

Finally the scene is lit by a mild linear illumination ramp and clipped to ``[0, 1]``. Such scenes
have sharp but anti-aliased edges, smooth shading and oscillating textures: a learned prior can
capture all three, whereas total variation flattens gradients into staircases and erases stripes.

Geometry is defined in normalised coordinates ``[-1, 1]^2``, so a given seed draws the same scene at
any ``size``; edge softness is in pixels, so edges stay about one pixel wide.

Seeds: torch's CPU generator keeps only the low 32 bits of a seed, so the three uses are kept
apart within ``[0, 2**32)``: training streams start from seeds in ``[0, 2**31)``
(:data:`MAX_TRAINING_SEED`); image ``i`` of the held-out test set (:func:`heldout_images`) is drawn
from seed ``HELDOUT_SEED + i`` with :data:`HELDOUT_SEED` ``= 2**31 + 2024``; image ``i`` of the
validation set used for tuning (:func:`validation_images`) from ``VALIDATION_SEED + i`` with
:data:`VALIDATION_SEED` ``= 2**31 + 2**30 + 2024``. Held-out and validation scenes therefore never
start a training stream, and the two sets are disjoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from reddiff_imaging._validation import MAX_IMAGE_SIDE, check_allocation, check_int

__all__ = [
    "HELDOUT_SEED",
    "MAX_TRAINING_SEED",
    "VALIDATION_SEED",
    "heldout_images",
    "synthetic_batches",
    "synthetic_images",
    "validation_images",
]

MAX_TRAINING_SEED: int = 2**31
"""Training seeds must lie in ``[0, MAX_TRAINING_SEED)``."""

HELDOUT_SEED: int = 2**31 + 2024
"""Image ``i`` of the held-out test set is drawn from seed ``HELDOUT_SEED + i``."""

VALIDATION_SEED: int = 2**31 + 2**30 + 2024
"""Image ``i`` of the validation set (for tuning) is drawn from seed ``VALIDATION_SEED + i``."""

_MAX_SHAPES = 8
_MAX_SIDES = 7
_CHUNK = 256  # images generated at once (bounds temporary memory)


def _make_generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
        return generator
    if seed is None:
        raise ValueError("synthetic images need an explicit source of randomness: pass seed=<int> or generator=")
    seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


def _check_size(size: object) -> int:
    return check_int(size, "size", minimum=8, maximum=MAX_IMAGE_SIDE)


def _check_count(n: object, size: int, name: str = "n") -> int:
    """``n`` images of ``size × size`` pixels, within :data:`~reddiff_imaging._validation.MAX_GENERATED_ELEMENTS` values."""
    n = check_int(n, name)
    check_allocation(n * size * size, name, f"{n} images of {size} × {size} pixels")
    return n


def synthetic_images(
    n: int,
    size: int = 64,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw ``n`` procedural grayscale scenes of ``size x size`` pixels in ``[0, 1]``.

    Args:
        n: number of images (>= 1; ``n × size²`` at most
            :data:`~reddiff_imaging._validation.MAX_GENERATED_ELEMENTS`).
        size: image side in pixels (from 8 to :data:`~reddiff_imaging._validation.MAX_IMAGE_SIDE`).
        generator: a CPU ``torch.Generator`` to draw from (its state advances).
        seed: alternatively, a seed for a fresh generator; the same seed gives the same images.
        dtype: floating-point dtype of the result.

    Returns:
        A CPU tensor of shape ``(n, 1, size, size)``.
    """
    return _synthetic_images(n, size, generator, seed, dtype, "n")


def _synthetic_images(
    n: object, size: object, generator: torch.Generator | None, seed: int | None, dtype: object, count_name: str
) -> Tensor:
    size = _check_size(size)
    n = _check_count(n, size, count_name)
    dtype = _check_dtype(dtype)
    g = _make_generator(generator, seed)
    chunks = [_draw(min(_CHUNK, n - start), size, g) for start in range(0, n, _CHUNK)]
    return torch.cat(chunks).to(dtype).unsqueeze(1)


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def synthetic_batches(
    batch_size: int,
    size: int = 64,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Iterator[Tensor]:
    """Endless iterator of ``(batch_size, 1, size, size)`` batches drawn from one generator.

    With ``generator`` the stream is resumable: save ``generator.get_state()`` and restore it with
    ``set_state`` to continue exactly where it stopped. Every argument is checked when the
    iterator is made, not at its first batch.
    """
    size = _check_size(size)
    batch_size = _check_count(batch_size, size, "batch_size")
    dtype = _check_dtype(dtype)
    g = _make_generator(generator, seed)
    return _batches(batch_size, size, g, dtype)


def _batches(batch_size: int, size: int, g: torch.Generator, dtype: torch.dtype) -> Iterator[Tensor]:
    while True:
        yield _synthetic_images(batch_size, size, g, None, dtype, "batch_size")


def heldout_images(n: int = 64, size: int = 64) -> Tensor:
    """The fixed held-out test set, ``(n, 1, size, size)`` in ``[0, 1]``.

    Image ``i`` is ``synthetic_images(1, size, seed=HELDOUT_SEED + i)``, so ``heldout_images(m)`` is
    a prefix of ``heldout_images(n)`` for ``m <= n``. The seeds ``HELDOUT_SEED + i`` lie outside the
    training range ``[0, 2**31)``, so these scenes never start a training stream.
    """
    return _seeded_set(HELDOUT_SEED, n, size)


def validation_images(n: int = 16, size: int = 64) -> Tensor:
    """The validation set for tuning, ``(n, 1, size, size)``: image ``i`` is
    ``synthetic_images(1, size, seed=VALIDATION_SEED + i)``, disjoint from the held-out set."""
    return _seeded_set(VALIDATION_SEED, n, size)


def _seeded_set(first_seed: int, n: int, size: int) -> Tensor:
    n = check_int(n, "n", maximum=2**20)
    _check_count(n, _check_size(size))
    return torch.cat([synthetic_images(1, size, seed=first_seed + i) for i in range(n)])


# ---------------------------------------------------------------------------- drawing


def _draw(n: int, size: int, g: torch.Generator) -> Tensor:
    """Draw ``n`` scenes as a float32 tensor ``(n, size, size)``."""

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand((n, *shape), generator=g)

    px = 2.0 / size  # one pixel in normalised coordinates
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) * px - 1.0
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")  # (size, size)
    xx, yy = xx[None], yy[None]

    def col(v: Tensor) -> Tensor:  # (n,) -> (n, 1, 1) for broadcasting against images
        return v[:, None, None]

    # Background: level + linear gradient + two low-frequency cosines.
    theta = uniform(0, 2 * math.pi)
    img = col(uniform(0.2, 0.8)) + col(uniform(0.0, 0.25)) * (col(theta.cos()) * xx + col(theta.sin()) * yy)
    for _ in range(2):
        ang, freq, phase = uniform(0, 2 * math.pi), uniform(0.3, 1.2), uniform(0, 2 * math.pi)
        proj = col(ang.cos()) * xx + col(ang.sin()) * yy
        img = img + col(uniform(0.0, 0.06)) * torch.cos(math.pi * col(freq) * proj + col(phase))

    count = torch.randint(3, _MAX_SHAPES + 1, (n,), generator=g)
    for k in range(_MAX_SHAPES):
        # Parameters of slot k for every image (drawn even when unused, to keep streams aligned).
        active = (k < count).float()
        cx, cy = uniform(-0.85, 0.85), uniform(-0.85, 0.85)
        radius = uniform(0.15, 0.6) * (1.0 - 0.5 * k / _MAX_SHAPES)
        rot = uniform(0, 2 * math.pi)
        is_ellipse = torch.rand(n, generator=g) < 0.5
        aspect = uniform(0.35, 1.0)
        sides = torch.randint(3, _MAX_SIDES + 1, (n,), generator=g)
        jitter = uniform(-0.15, 0.15, _MAX_SIDES)
        dist = uniform(0.7, 1.0, _MAX_SIDES)
        soft = torch.where(torch.rand(n, generator=g) < 0.1, uniform(1.0, 2.5), uniform(0.25, 0.7))
        opacity = torch.where(torch.rand(n, generator=g) < 0.7, torch.ones(n), uniform(0.6, 0.95))
        fill_kind = torch.rand(n, generator=g)  # < 0.4 linear, < 0.65 radial, else stripes
        level, slope, slope_dir = uniform(0.05, 0.95), uniform(-0.6, 0.6), uniform(0, 2 * math.pi)
        period, stripe_dir, stripe_phase = uniform(4, 12) * px * size / 64, uniform(0, math.pi), uniform(0, 2 * math.pi)
        amplitude = uniform(0.1, 0.3)

        dx, dy = xx - col(cx), yy - col(cy)
        cos_r, sin_r = col(rot.cos()), col(rot.sin())
        u, v = cos_r * dx + sin_r * dy, -sin_r * dx + cos_r * dy
        # Ellipse: first-order signed distance (r - 1) / |grad r| with r the normalised radius.
        a, b = col(radius), col(radius * aspect)
        r = torch.sqrt((u / a) ** 2 + (v / b) ** 2).clamp_min(1e-6)
        grad = torch.sqrt(u**2 / a**4 + v**2 / b**4).clamp_min(1e-6) / r
        sd_ellipse = (r - 1.0) / grad
        # Convex polygon: max over half-planes n_i . p <= d_i (sides beyond `sides` are disabled).
        idx = torch.arange(_MAX_SIDES, dtype=torch.float32)[None]
        angles = rot[:, None] + 2 * math.pi * (idx + jitter) / sides[:, None]
        offsets = torch.where(idx < sides[:, None], dist * radius[:, None], torch.full_like(dist, 1e3))
        proj = angles.cos()[..., None, None] * dx[:, None] + angles.sin()[..., None, None] * dy[:, None]
        sd_polygon = (proj - offsets[..., None, None]).amax(dim=1)
        sd = torch.where(col(is_ellipse), sd_ellipse, sd_polygon)
        alpha = torch.sigmoid(-sd / (col(soft) * px)) * col(opacity * active)

        along = (col(slope_dir.cos()) * dx + col(slope_dir.sin()) * dy) / col(radius)
        linear_fill = col(level) + 0.5 * col(slope) * along
        radial_fill = col(level) + col(slope) * (torch.sqrt(dx**2 + dy**2) / col(radius) - 0.5)
        wave = col(stripe_dir.cos()) * xx + col(stripe_dir.sin()) * yy
        stripe_fill = col(level) + col(amplitude) * torch.sin(2 * math.pi * wave / col(period) + col(stripe_phase))
        fill = torch.where(
            col(fill_kind < 0.4), linear_fill, torch.where(col(fill_kind < 0.65), radial_fill, stripe_fill)
        )
        img = img * (1.0 - alpha) + fill * alpha

    # Mild illumination ramp.
    light = uniform(0, 2 * math.pi)
    img = img * (1.0 + col(uniform(0.0, 0.15)) * (col(light.cos()) * xx + col(light.sin()) * yy))
    return img.clamp(0.0, 1.0)
