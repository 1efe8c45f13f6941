"""Time per diffusion step against image size and batch: RED-diff with the bundled prior.

RED-diff on box inpainting (σ = 0.01) with the bundled 0.73M-parameter UNet, ``--steps`` steps per
solve, and one bare network forward per step alongside: image sizes 64², 128², 256² at batch 1,
and batches 1, 4, 16 at 64². All cases run round-robin within this one process (``--repeats``
rounds after a warm-up, medians; process CPU time on CPU, wall time on CUDA, see ``common.py``),
so the ratios between them are taken under the same background load.

Usage: ``python benchmarks/step_scaling.py [--device cpu|cuda] [--threads 1] [--steps 10] [--repeats 3]``;
writes ``benchmarks/results/step_scaling[-cuda].json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from common import interleaved, machine_line, setup, write_json

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.solvers import RedDiff

#: (image side, batch); the first is the reference of the ratios
CASES = ((64, 1), (128, 1), (256, 1), (64, 4), (64, 16))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    info = setup(args.threads)
    device = torch.device(args.device)
    prior = DiffusionPrior.default(map_location=device)
    timed_cases: dict[str, Callable[[], None]] = {}
    for size, batch in CASES:
        x = heldout_images(batch, size).to(device)
        operator = ops.registry.build("inpainting-box", tuple(x.shape[1:])).to(device)
        problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01), torch.Generator(device=device).manual_seed(0))
        t = torch.full((batch,), 500, device=device, dtype=torch.long)

        def solve(problem: ri.InverseProblem = problem) -> None:
            RedDiff(steps=args.steps).solve(problem, prior, torch.Generator(device=device).manual_seed(0), metrics_every=0)

        def forwards(x: torch.Tensor = x, t: torch.Tensor = t) -> None:
            with torch.no_grad():
                for _ in range(args.steps):
                    prior.network(x, t)

        timed_cases[f"reddiff {size}x{size} B{batch}"] = solve
        timed_cases[f"forward {size}x{size} B{batch}"] = forwards
    timed = interleaved(timed_cases, repeats=args.repeats, warmup=1, log=print)
    rows = []
    reference = None
    for size, batch in CASES:
        step = timed[f"reddiff {size}x{size} B{batch}"]["median"] / args.steps
        forward = timed[f"forward {size}x{size} B{batch}"]["median"] / args.steps
        reference = reference or step
        work = size * size * batch / (CASES[0][0] ** 2 * CASES[0][1])
        rows.append({
            "size": size, "batch": batch, "reddiff_s_per_step": step, "forward_s_per_step": forward,
            "reddiff_over_forward": step / forward, "over_reference": step / reference,
            "pixels_over_reference": work, "per_pixel_over_reference": step / reference / work,
        })
        print(rows[-1], flush=True)
    print(machine_line(info))
    write_json("step_scaling", {"machine": info, "steps": args.steps, "repeats": args.repeats, "rows": rows}, device=device.type)


if __name__ == "__main__":
    main()
