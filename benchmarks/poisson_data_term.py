"""Low-count deblurring: the Poisson data term against the Gaussian one on the same measurements.

Gaussian blur (std 1.5 px) of held-out 64×64 images, Poisson noise with a peak of 30 photons
(gain 1/30; the peak is the second argument), the bundled diffusion prior; RED-diff, DPS and PnP-PGD with their defaults (fewer
steps), once with the problem's Poisson data term and once with a Gaussian data term of the same
measurement (noise level of the Poisson noise at the mean intensity, sqrt(gain * mean(y))). One
thread; prints PSNR per method (mean over the images). Usage:
``OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/poisson_data_term.py [num_images] [peak]``.
"""

from __future__ import annotations

import sys
import time

import torch

from reddiff_imaging import metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import DPS, PnPPGD, RedDiff

def main(num_images: int = 2, peak: float = 30.0) -> None:
    torch.set_num_threads(1)
    prior = DiffusionPrior.default()
    x = heldout_images(num_images)
    operator = ops.Blur(ops.gaussian_kernel(1.5, 9), tuple(x.shape[1:]))
    poisson = InverseProblem.simulate(operator, x, Poisson(1 / peak), torch.Generator().manual_seed(0))
    sigma = float((poisson.y.mean() / peak) ** 0.5)
    gaussian = InverseProblem(operator, poisson.y, Gaussian(sigma), x)
    solvers = {"reddiff": RedDiff(steps=100, lr=0.5), "dps": DPS(steps=100), "pnp-pgd": PnPPGD(iterations=30)}
    print(f"peak {peak:g} photons, Gaussian-equivalent sigma {sigma:.3f}, {num_images} images")
    for name, solver in solvers.items():
        for label, problem in (("gaussian", gaussian), ("poisson", poisson)):
            start = time.perf_counter()
            result = solver.solve(problem, prior, generator=torch.Generator().manual_seed(1))
            psnr = metrics.psnr(result.x.clamp(0, 1), x).mean()
            print(f"{name:8s} {label:8s} PSNR {float(psnr):6.2f} dB  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2, float(sys.argv[2]) if len(sys.argv) > 2 else 30.0)
