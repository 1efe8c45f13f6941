"""Low-count imaging: the Poisson data term against the Gaussian one, each at its own tuned weights.

Two tasks on 64×64 phantoms with the bundled diffusion prior (``DiffusionPrior.default()``):
``deblur`` (Gaussian blur of std 1.5 px; a peak of 10 and of 30 photons at intensity 1, i.e.
``noise.Poisson(1 / peak)``) and ``ct`` (parallel-beam CT with 32 angles; a peak of 30 and of 100
photons on the brightest ray, ``noise.Poisson(max(Ax) / peak)``). Each measurement is solved with the
problem's Poisson data term and with a Gaussian data term of the same measurement (the noise level
of the Poisson noise at the mean intensity, ``sqrt(gain * mean(y))``).

A fair comparison tunes each data term separately: for every method, data term and peak, the
weights are chosen from a small grid by mean PSNR on ``validation_images(2)`` (RED-diff: ``lam`` and
``lr``; DPS: ``zeta``; DiffPIR: ``lam`` and ``zeta``; PnP-PGD: ``sigma`` and ``step_scale``), and the chosen settings are then run
on ``heldout_images(4)``. Noise and solver seeds are fixed. Two threads, about 3.5 minutes per
task on a shared 2-core machine.
Writes ``benchmarks/results/poisson_data_term.json`` (deblurring) or ``poisson_data_term_ct.json``,
and a figure of the first held-out image at the lowest peak (``--figure PATH``). Usage:
``PYTHONPATH=. python benchmarks/poisson_data_term.py [--task deblur|ct] [--figure PATH]``.
"""

from __future__ import annotations

import argparse
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
from reddiff_imaging.solvers import DPS, DiffPIR, PnPPGD, RedDiff, Solver

PEAKS = {"deblur": (10.0, 30.0), "ct": (30.0, 100.0)}
RESULTS = {"deblur": "poisson_data_term.json", "ct": "poisson_data_term_ct.json"}

# method -> (solver factory, grid of keyword arguments); steps fixed per method.
METHODS: dict[str, tuple[Callable[..., Solver], dict[str, list[float]]]] = {
    "reddiff": (lambda **kw: RedDiff(steps=100, **kw), {"lam": [0.25, 1.0, 4.0], "lr": [0.05, 0.1, 0.25, 0.5]}),
    "dps": (lambda **kw: DPS(steps=100, **kw), {"zeta": [1.0, 2.0, 4.0, 8.0, 16.0]}),
    "diffpir": (lambda **kw: DiffPIR(steps=50, **kw), {"lam": [1.0, 4.0, 16.0, 64.0], "zeta": [0.3, 1.0]}),
    "pnp-pgd": (
        lambda **kw: PnPPGD(steps=30, **kw),
        {"sigma": [0.025, 0.05, 0.1, 0.2], "step_scale": [0.125, 0.25, 0.5, 1.0]},
    ),
}


def problems(x: Tensor, task: str, peak: float) -> dict[str, InverseProblem]:
    """The Poisson measurement of ``x`` and the same measurement with a Gaussian noise model."""
    shape = tuple(x.shape[1:])
    operator = ops.Blur(ops.gaussian_kernel(1.5, 9), shape) if task == "deblur" else ops.Radon(shape, num_angles=32)
    gain = 1 / peak if task == "deblur" else float(operator(x).max()) / peak
    poisson = InverseProblem.simulate(operator, x, Poisson(gain), torch.Generator().manual_seed(0))
    sigma = float((poisson.y.mean() * gain) ** 0.5)
    return {"gaussian": InverseProblem(operator, poisson.y, Gaussian(sigma), x), "poisson": poisson}


def solve(solver: Solver, problem: InverseProblem, prior: DiffusionPrior) -> Tensor:
    return solver.solve(problem, prior, generator=torch.Generator().manual_seed(1)).x.clamp(0, 1)


def psnrs(solver: Solver, problem: InverseProblem, prior: DiffusionPrior) -> list[float]:
    assert problem.x_true is not None
    return [float(v) for v in metrics.psnr(solve(solver, problem, prior), problem.x_true)]


def figure(path: Path, problem: dict[str, InverseProblem], chosen: dict[str, dict[str, dict[str, float]]], prior: DiffusionPrior, title: str) -> None:
    """The first image: truth, then each method with the Gaussian and with the Poisson term."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = problem["poisson"].x_true
    assert truth is not None
    panels = [("truth", truth[:1])]
    for method, (factory, _) in METHODS.items():
        for term in ("gaussian", "poisson"):
            one = InverseProblem(problem[term].operator, problem[term].y[:1], problem[term].noise, truth[:1])
            x = solve(factory(**chosen[method][term]), one, prior)
            panels.append((f"{method}, {term}\n{float(metrics.psnr(x, truth[:1])[0]):.2f} dB", x))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.6 * len(panels), 2.0))
    for ax, (label, image) in zip(axes, panels, strict=True):
        ax.imshow(image[0, 0].cpu(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(PEAKS), default="deblur")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of the first held-out image at the lowest peak")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    prior = DiffusionPrior.default()
    validation, heldout = validation_images(2), heldout_images(4)
    report: dict[str, Any] = {"task": args.task, "images": {"validation": 2, "heldout": 4, "size": 64}, "peaks": {}}
    chosen: dict[str, dict[str, dict[str, float]]] = {}
    for peak in PEAKS[args.task]:
        tune_problems, test_problems = problems(validation, args.task, peak), problems(heldout, args.task, peak)
        gaussian_noise = test_problems["gaussian"].noise
        assert isinstance(gaussian_noise, Gaussian)
        entry: dict[str, Any] = {"sigma_equivalent": float(gaussian_noise.sigma)}
        for method, (factory, grid) in METHODS.items():
            entry[method] = {}
            for term in ("gaussian", "poisson"):
                scores: list[dict[str, Any]] = []
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
        if peak == PEAKS[args.task][0] and args.figure is not None:
            chosen = {m: {t: entry[m][t]["settings"] for t in ("gaussian", "poisson")} for m in METHODS}
            figure(args.figure, test_problems, chosen, prior, f"{args.task}, peak {peak:g} photons, held-out image 0")
    report["seconds"] = round(time.perf_counter() - start, 1)
    (Path(__file__).parent / "results" / RESULTS[args.task]).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
