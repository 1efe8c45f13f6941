"""DDRM, DiffPIR and DPS, ours and deepinv's, on exact Gaussian-mixture posteriors (1 thread, < 2 min).

Usage::

    python benchmarks/exact_posterior_vs_deepinv.py

A 3-component Gaussian-mixture prior on 4×4 images with its exact diffusion ε (both libraries call
it: deepinv through :class:`~reddiff_imaging.priors.deepinv_adapters.DiffusionDenoiser`), inpainting of 5 of 16 pixels,
σ = 0.05, and a measurement between two component means, so that the exact posterior is bimodal
with unequal weights. Each sampler draws 400 samples (one batch) in 100 steps; the score is the
sliced Wasserstein-2 distance to 1000 exact posterior samples (smaller is better), against two
references: independent exact samples (the floor) and the prior; mean and standard error over
``SEEDS`` sampler seeds. Same λ for both DiffPIRs: the official one (deepinv's ``lambda_ = λ/2``, see
docs/solvers.rst). deepinv as it is otherwise (its DDRM draws its noise with variance halved, its
DiffPIR starts from ``2Aᵀy − 1`` plus noise, its DPS scales the guidance by a step-dependent factor);
deepinv's DDRM is also run with the paper's variance.
Results: ``benchmarks/results/exact_posterior_vs_deepinv.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import deepinv as dinv
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deepinv_adapters import ddrm_without_half_variance, public_sigmas

import reddiff_imaging as ri
from reddiff_imaging.distribution_metrics import sliced_wasserstein
from reddiff_imaging.operators import Inpainting
from reddiff_imaging.priors import GaussianMixture
from reddiff_imaging.priors.deepinv_adapters import DiffusionDenoiser
from reddiff_imaging.priors.sampling import timestep_sequence
from reddiff_imaging.solvers import DDRM, DPS, DiffPIR

SHAPE, SIGMA, N, STEPS, SEEDS = (1, 4, 4), 0.05, 400, 100, 10
LAM, ZETA = 7.0, 0.3
DPS_ZETA = 1.0  # the official configurations' value for inpainting


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def main() -> dict[str, object]:
    torch.set_num_threads(1)
    start = time.process_time()
    prior = GaussianMixture.random(3, SHAPE, generator=gen(3))
    mask = torch.zeros(16)
    mask[torch.randperm(16, generator=gen(1))[:5]] = 1
    operator = Inpainting(mask.reshape(SHAPE))
    x_true = (0.5 * prior.means[0] + 0.5 * prior.means[1]).reshape(1, *SHAPE)
    problem = ri.InverseProblem.simulate(operator, x_true, ri.noise.Gaussian(SIGMA), gen(3))
    posterior = prior.posterior(problem)
    exact = posterior.sample(1000, gen(4))[0].reshape(1000, -1)
    batch = ri.InverseProblem(operator, problem.y.expand(N, -1, -1, -1).contiguous(), ri.noise.Gaussian(SIGMA))
    physics = dinv.physics.Inpainting(img_size=SHAPE, mask=mask.reshape(SHAPE).double(), noise_model=dinv.physics.GaussianNoise(SIGMA))
    denoiser = DiffusionDenoiser(prior)
    sigmas = np.array(public_sigmas(timestep_sequence(1000, STEPS), prior.alphas_cumprod.tolist()))

    def score(samples: torch.Tensor) -> float:
        return float(sliced_wasserstein(samples.reshape(len(samples), -1).double(), exact.double(), 256, generator=gen(9)))

    def deepinv_ddrm(seed: int) -> torch.Tensor:
        return dinv.sampling.DDRM(denoiser, sigmas=sigmas, eta=0.85, etab=1.0)(batch.y, physics, seed=seed)

    def paper_variance_ddrm(seed: int) -> torch.Tensor:
        with ddrm_without_half_variance():
            return deepinv_ddrm(seed)

    samplers = {
        "independent exact samples": lambda seed: posterior.sample(N, gen(100 + seed))[0],
        "prior samples": lambda seed: prior.sample(N, gen(200 + seed), dtype=torch.float64),
        "DDRM ours": lambda seed: DDRM(steps=STEPS, clip=False).solve(batch, prior, gen(seed)).x,
        "DDRM deepinv": deepinv_ddrm,
        "DDRM deepinv, paper's variance": paper_variance_ddrm,
        "DiffPIR ours": lambda seed: DiffPIR(steps=STEPS, lam=LAM, zeta=ZETA, clip=False).solve(batch, prior, gen(seed)).x,
        "DiffPIR deepinv": lambda seed: dinv.sampling.DiffPIR(
            denoiser, dinv.optim.L2(), sigma=SIGMA, max_iter=STEPS, zeta=ZETA, lambda_=LAM / 2
        )(batch.y, physics, seed=seed),
        "DPS ours": lambda seed: DPS(steps=STEPS, zeta=DPS_ZETA, clip=False).solve(batch, prior, gen(seed)).x,
        "DPS deepinv": lambda seed: dinv.sampling.DPS(denoiser, num_steps=STEPS, dtype=torch.float64, rng=gen(seed))(
            batch.y, physics, seed=seed
        ),
    }
    results: dict[str, object] = {"posterior weights": [round(float(w), 3) for w in posterior.weights.reshape(-1)]}
    with torch.random.fork_rng():
        for name, sampler in samplers.items():
            values = np.array([score(sampler(seed)) for seed in range(1, SEEDS + 1)])
            results[name] = {"mean": round(float(values.mean()), 4), "stderr": round(float(values.std(ddof=1) / np.sqrt(SEEDS)), 4)}
    results["cpu seconds"] = round(time.process_time() - start, 1)
    for name, value in results.items():
        print(f"{name:32s} {value}")
    out = Path(__file__).resolve().parent / "results" / "exact_posterior_vs_deepinv.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
