"""Operator algebra and adjoint checks
====================================

Build a forward model from parts (a blur followed by a mask), check its hand-written adjoint with
the dot test, and use its structure: the spectral norm, the pseudo-inverse and the normal-equation
solve ``(AᴴA + ρI)⁻¹ b``. Also shows the deepinv and scipy bridges and the finite-difference
Jacobian check of a nonlinear operator.
"""

import time

import torch
from scipy.sparse.linalg import lsqr

import reddiff_imaging as ri
from reddiff_imaging import metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images

start = time.perf_counter()
shape = (1, 64, 64)
blur = ops.Blur(ops.gaussian_kernel(1.5), shape)  # circular, diagonal in the Fourier basis
mask = ops.Inpainting(ops.box_mask((64, 64), 20), shape)  # hides a centred 20×20 box
A = mask @ blur  # blur first, then mask

print("A =", type(A).__name__, "linear:", A.is_linear)
print(ops.dot_test(A))  # float64 by default
print(ops.dot_test(A, dtype=torch.float32))
print(f"‖A‖ = {A.norm():.4f} (power iteration)")

# structure is kept where the algebra allows it
print("mask @ mask is", type(mask @ mask).__name__)
print("2 * blur is", type(2.0 * blur).__name__, "with an SVD:", (2.0 * blur).svd is not None)

# simulate a measurement of held-out images and invert it in two ways
x = heldout_images(2)
problem = ri.InverseProblem.simulate(A, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
# (AᴴA + 0.01 I)⁻¹ Aᴴ y by conjugate gradients: no prior, so the hidden box stays black
x_ls = A.solve_normal(A.adjoint(problem.y), 0.01)
x_pinv = blur.pinv(blur(x), rcond=1e-3)  # closed form through the FFT
print(f"Tikhonov PSNR {metrics.psnr(x_ls.clamp(0, 1), x).mean():.2f} dB,"
      f" noise-free deblurring by pinv {metrics.psnr(x_pinv.clamp(0, 1), x).mean():.2f} dB")

# the same operator for scipy (one flattened image) and for deepinv
y0 = problem.y[0].flatten().double().numpy()
sol, stop, iterations = lsqr(A.to_scipy(), y0, damp=0.1, iter_lim=200)[:3]
print(f"scipy lsqr: {sol.size} unknowns, {iterations} iterations")
physics = A.to_deepinv()
print("deepinv physics:", type(physics).__name__, "A(x) agrees:", torch.allclose(physics.A(x), A(x)))

# a nonlinear operator: the Jacobian products against finite differences
hdr = ops.HDR(shape, scale=2.0)
print(ops.jacobian_test(hdr, x.double() * 0.5 + 0.1))
print(f"done in {time.perf_counter() - start:.1f} s")
