"""The operator report: every registered task simulated on held-out images, with checks and a
pseudo-inverse baseline, printed as a table."""

from __future__ import annotations

import time

import torch

from reddiff_imaging import metrics, noise
from reddiff_imaging._validation import MAX_IMAGE_SIDE, check_int, check_real
from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.operators import LinearOperator, dot_test, jacobian_test, registry
from reddiff_imaging.problem import InverseProblem


def operator_report(size: int = 64, seed: int = 0, num_images: int = 4, sigma: float = 0.01) -> list[dict[str, object]]:
    """Simulate each registered task on ``num_images`` held-out images with Gaussian noise ``sigma``
    and report, per task: the adjoint (or Jacobian) check, the operator norm, the time of one
    forward pass on the batch and the PSNR of the pseudo-inverse (linear) or adjoint-free
    baseline. Returns the rows it prints.

    ``size`` is a multiple of 4 from 12 to :data:`~reddiff_imaging._validation.MAX_IMAGE_SIDE` (the
    smallest images every registered task is built for), ``num_images`` an int >= 1,
    ``seed`` a 64-bit integer and ``sigma`` a finite number >= 0; all are checked before any work.
    """
    size = check_int(size, "size", minimum=12, maximum=MAX_IMAGE_SIDE)
    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (4x super-resolution is one of the tasks), got {size}")
    seed = check_int(seed, "seed", minimum=-(2**63), maximum=2**64 - 1)
    num_images = check_int(num_images, "num_images")
    sigma = check_real(sigma, "sigma", low=0.0)
    x = heldout_images(num_images, size)
    generator = torch.Generator().manual_seed(seed)
    rows: list[dict[str, object]] = []
    print(f"{num_images} held-out {size}x{size} images, Gaussian noise sigma = {sigma}")
    print(f"{'task':22s} {'check':>10s} {'||A||':>8s} {'forward':>9s} {'baseline PSNR':>14s}  description")
    for name in registry.available():
        op = registry.build(name, x.shape[1:], seed=seed)
        problem = InverseProblem.simulate(op, x, noise.Gaussian(sigma), generator)
        start = time.perf_counter()
        op.apply_forward(x)
        forward_ms = 1e3 * (time.perf_counter() - start)
        if isinstance(op, LinearOperator):
            check = dot_test(op).error
            baseline = op.pinv(problem.y, rcond=1e-2).real.clamp(0, 1)
            quality = f"{float(metrics.psnr(baseline, x).mean()):.2f} dB"
            norm = f"{op.norm():.3f}"
        else:
            check = jacobian_test(op).error
            quality, norm = "-", "-"
        rows.append({"task": name, "check": check, "norm": norm, "forward_ms": forward_ms, "baseline": quality})
        print(f"{name:22s} {check:10.1e} {norm:>8s} {forward_ms:7.2f}ms {quality:>14s}  {registry.describe(name)}")
    print("check: normalised dot-test error (linear) or Jacobian error (nonlinear); baseline: pseudo-inverse")
    return rows
