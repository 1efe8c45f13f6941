"""Opt-in ``torch.compile`` of the bundled prior's network: compile time and RED-diff time per step.

One measurement (compiling takes minutes on a CPU): 20 RED-diff steps on box inpainting at 64²
(batch 1 and 8) with the eager network and with ``prior.compile()``, in this process, after a warm-up
solve of each (the compiled warm-up is the compile time). Timings are medians of ``--repeats``
interleaved solves (process CPU time on CPU, wall time on CUDA; see ``common.py``).

Usage: ``python benchmarks/compile_speedup.py [--device cpu|cuda] [--threads 1] [--repeats 3]``;
writes ``benchmarks/results/compile_speedup[-cuda].json``.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import interleaved, setup, write_json

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.solvers import RedDiff

STEPS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    info = setup(args.threads)
    device = torch.device(args.device)
    eager, compiled = DiffusionPrior.default(map_location=device), DiffusionPrior.default(map_location=device)
    start = time.perf_counter()
    compiled.compile()
    rows = []
    for batch in (1, 8):
        x = heldout_images(batch).to(device)
        operator = ops.registry.build("inpainting-box", tuple(x.shape[1:])).to(device)
        problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01), torch.Generator(device=device).manual_seed(0))

        def solve(prior: DiffusionPrior, problem: ri.InverseProblem = problem) -> torch.Tensor:
            return RedDiff(steps=STEPS).solve(problem, prior, torch.Generator(device=device).manual_seed(0), metrics_every=0).x

        first = time.perf_counter()
        solve(compiled)  # compiles at this shape
        compile_seconds = time.perf_counter() - first + (first - start if batch == 1 else 0.0)
        timed = interleaved({"eager": lambda: solve(eager), "compiled": lambda: solve(compiled)}, repeats=args.repeats, warmup=1)
        same = float((timed["eager"]["output"] - timed["compiled"]["output"]).abs().max())
        rows.append({
            "batch": batch,
            "eager_s_per_step": timed["eager"]["median"] / STEPS,
            "compiled_s_per_step": timed["compiled"]["median"] / STEPS,
            "speedup": timed["eager"]["median"] / timed["compiled"]["median"],
            "compile_seconds": compile_seconds,
            "max_abs_difference": same,
        })
        print(rows[-1], flush=True)
    write_json("compile_speedup", {"machine": info, "steps": STEPS, "rows": rows}, device=device.type)


if __name__ == "__main__":
    main()
