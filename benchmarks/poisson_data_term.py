"""Low-count deblurring: the Poisson data term against the Gaussian one, each at its own tuned weights.

Gaussian blur (std 1.5 px) of 64×64 phantoms, Poisson noise with a peak of 10 and of 30 photons
(``noise.Poisson(1 / peak)``), the bundled diffusion prior (``DiffusionPrior.default()``). Each
measurement is solved with the problem's Poisson data term and with a Gaussian data term of the
same measurement (noise level of the Poisson noise at the mean intensity, ``sqrt(mean(y) / peak)``).

A fair comparison tunes each data term separately: for every method, data term and peak, the
weights are chosen from a small grid by mean PSNR on ``validation_images(2)`` (RED-diff: ``lam`` and
``lr``; DPS: ``zeta``; PnP-PGD: ``sigma`` and ``step_scale``), and the chosen settings are then run
on ``heldout_images(4)``. Noise and solver seeds are fixed. Two threads, about 3.5 minutes
(208 s on a shared 2-core machine).
Writes ``benchmarks/results/poisson_data_term.json``. Usage:
``PYTHONPATH=. python benchmarks/poisson_data_term.py``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging import metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.data.synthetic import heldout_images, validation_images
from reddiff_imaging.noise import Gaussian, Poisson
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers import DPS, PnPPGD, RedDiff, Solver

PEAKS = (10.0, 30.0)
RESULT = Path(__file__).parent / "results" / "poisson_data_term.json"

# method -> (solver factory, grid of keyword arguments); steps fixed per method.
METHODS: dict[str, tuple[Callable[..., Solver], dict[str, list[float]]]] = {
    "reddiff": (lambda **kw: RedDiff(steps=100, **kw), {"lam": [0.25, 1.0, 4.0], "lr": [0.05, 0.1, 0.25, 0.5]}),
    "dps": (lambda **kw: DPS(steps=100, **kw), {"zeta": [1.0, 2.0, 4.0, 8.0, 16.0]}),
    "pnp-pgd": (
        lambda **kw: PnPPGD(steps=30, **kw),
        {"sigma": [0.025, 0.05, 0.1, 0.2], "step_scale": [0.125, 0.25, 0.5, 1.0]},
    ),
}


def problems(x: Tensor, peak: float) -> dict[str, InverseProblem]:
    """The Poisson measurement of ``x`` and the same measurement with a Gaussian noise model."""
    operator = ops.Blur(ops.gaussian_kernel(1.5, 9), tuple(x.shape[1:]))
    poisson = InverseProblem.simulate(operator, x, Poisson(1 / peak), torch.Generator().manual_seed(0))
    sigma = float((poisson.y.mean() / peak) ** 0.5)
    return {"gaussian": InverseProblem(operator, poisson.y, Gaussian(sigma), x), "poisson": poisson}


def psnrs(solver: Solver, problem: InverseProblem, prior: DiffusionPrior) -> list[float]:
    result = solver.solve(problem, prior, generator=torch.Generator().manual_seed(1))
    assert problem.x_true is not None
    return [float(v) for v in metrics.psnr(result.x.clamp(0, 1), problem.x_true)]


def main() -> None:
    torch.set_num_threads(2)
    start = time.perf_counter()
    prior = DiffusionPrior.default()
    validation, heldout = validation_images(2), heldout_images(4)
    report: dict[str, Any] = {"images": {"validation": 2, "heldout": 4, "size": 64}, "peaks": {}}
    for peak in PEAKS:
        tune_problems, test_problems = problems(validation, peak), problems(heldout, peak)
        entry: dict[str, Any] = {"sigma_equivalent": float(test_problems["gaussian"].noise.sigma)}
        for method, (factory, grid) in METHODS.items():
            entry[method] = {}
            for term in ("gaussian", "poisson"):
                scores = []
                for values in itertools.product(*grid.values()):
                    kwargs = dict(zip(grid, values))
                    mean = sum(psnrs(factory(**kwargs), tune_problems[term], prior)) / 2
                    scores.append({"settings": kwargs, "validation_psnr": round(mean, 3)})
                best = max(scores, key=lambda s: s["validation_psnr"])
                test = psnrs(factory(**best["settings"]), test_problems[term], prior)
                entry[method][term] = {
                    "settings": best["settings"],
                    "heldout_psnr_mean": round(sum(test) / len(test), 3),
                    "heldout_psnr": [round(v, 3) for v in test],
                    "grid": scores,
                }
                print(
                    f"peak {peak:g} {method:8s} {term:8s} {best['settings']} "
                    f"val {best['validation_psnr']:.2f} held-out {sum(test) / len(test):.2f} dB "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
        report["peaks"][f"{peak:g}"] = entry
    report["seconds"] = round(time.perf_counter() - start, 1)
    RESULT.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
