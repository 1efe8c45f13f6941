"""A deepinv physics as a forward model
=====================================

:func:`~reddiff_imaging.operators.from_deepinv` wraps any ``deepinv.physics`` operator (its noise
model is dropped: noise lives in :mod:`reddiff_imaging.noise`). The wrapped operator composes with
ours, passes the same checks, and runs with every solver — here deepinv's 2× super-resolution
(Gaussian anti-aliasing filter, circular padding) is solved with RED-diff and PnP-PGD. A wrapped
operator exposes no SVD, so its pseudo-inverse and normal equations are solved by conjugate
gradients. deepinv keeps this filter in float32, so the checks below run in float32.
"""

import time

import deepinv
import torch

import reddiff_imaging as ri
from reddiff_imaging import metrics, solvers
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images

start = time.perf_counter()
shape = (1, 64, 64)
physics = deepinv.physics.Downsampling(img_size=shape, filter="gaussian", factor=2, padding="circular")
A = ops.from_deepinv(physics, shape)  # the image shape (C, H, W) without batch
print(type(A).__name__, "in", A.in_shape, "out", A.out_shape, "linear:", A.is_linear)
print(ops.dot_test(A, dtype=torch.float32))  # deepinv keeps its filter in float32
print(f"‖A‖ = {A.norm(dtype=torch.float32):.4f}")

# it composes with our operators: downsample, then hide a 10×10 box of the low-resolution image
masked = ops.Inpainting(ops.box_mask((32, 32), 10), A.out_shape) @ A
print("composition:", type(masked).__name__, ops.dot_test(masked, dtype=torch.float32))

x = heldout_images(1)
problem = ri.InverseProblem.simulate(A, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
baseline = A.solve_normal(A.adjoint(problem.y), 3e-3).clamp(0, 1)  # Tikhonov, by conjugate gradients
print(f"{'Tikhonov (rho 3e-3)':<24} PSNR {metrics.psnr(baseline, x).mean():6.2f} dB")
prior = ri.priors.DiffusionPrior.default()
for name, solver, the_prior in (
    ("RED-diff, default prior", solvers.get("reddiff", steps=100, lr=0.5), prior),
    # an explicit step 1/‖A‖² = 4: the solver's own norm estimate runs in float64, which this
    # float32 deepinv filter does not accept
    ("PnP-PGD, Gaussian filter", solvers.get("pnp-pgd", steps=50, step=4.0), ri.priors.GaussianFilterDenoiser()),
):
    result = solver.solve(problem, the_prior, generator=torch.Generator().manual_seed(1))
    print(f"{name:<24} PSNR {metrics.psnr(result.x, x).mean():6.2f} dB   {result.seconds:5.1f} s")

# DDRM needs an SVD, which a wrapped operator does not expose: it refuses and names alternatives
try:
    solvers.get("ddrm").solve(problem, prior)
except TypeError as err:
    print("DDRM:", str(err).split(". ")[0])

# and back: our operators as deepinv physics, for deepinv's own tools
gap = float(ops.Blur(ops.gaussian_kernel(1.5), shape).to_deepinv().adjointness_test(x))  # random probes
print("deepinv's adjointness test on our blur passes:", abs(gap) < 1e-5)
print(f"done in {time.perf_counter() - start:.1f} s")
