"""RED-diff at the cost of one network forward per step.

Measures, within one run on the same network, problem and batch:

1. RED-diff time per step ÷ one bare forward of the network (targets: ≤ 1.10 at batch 1,
   ≤ 1.05 at batch 8; the limit is 1.0);
2. RED-diff ÷ DPS and ÷ ΠGDM time per step (expected ≤ 0.5: they need a network backward);
3. peak memory of a solve above the loaded model and data: RED-diff and DPS ÷ forward-only
   inference (target for RED-diff ≤ 1.2), at 64×64 with the bundled prior and at 256×256 with an
   ADM-sized network (deepinv's DiffUNet, FFHQ configuration, random weights). Each memory
   measurement runs in a fresh process (peak resident memory on CPU, the allocator's peak on CUDA).

Usage: ``python benchmarks/reddiff_cost.py [--quick] [--device cpu|cuda] [--threads N]``.
Writes ``benchmarks/results/reddiff_cost-<device>.json`` and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.solvers import DPS, PiGDM, RedDiff

RESULTS = Path(os.environ.get("REDDIFF_BENCHMARK_RESULTS") or Path(__file__).parent / "results")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _problem(size: int, batch: int, channels: int, device: torch.device) -> ri.InverseProblem:
    from reddiff_imaging.data import heldout_images

    x = heldout_images(batch, size) if channels == 1 else torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0))
    operator = ops.registry.build("inpainting-box", (channels, size, size)).to(device)
    return ri.InverseProblem.simulate(operator, x.to(device), ri.noise.Gaussian(0.01), torch.Generator(device=device).manual_seed(0))


def _prior(kind: str, device: torch.device) -> tuple[DiffusionPrior, int, int]:
    """(prior, image size, channels) for ``default`` or ``adm`` (random weights)."""
    if kind == "default":
        return DiffusionPrior.default(map_location=device), 64, 1
    from deepinv.models import DiffUNet

    from reddiff_imaging.priors.diffusion import _ADMNetwork

    network = DiffUNet(in_channels=3, out_channels=3, large_model=False, pretrained=None).eval().to(device)
    return DiffusionPrior(_ADMNetwork(network), channels=3), 256, 3


def time_per_step(prior: DiffusionPrior, problem: ri.InverseProblem, steps: int, repeats: int) -> dict[str, float]:
    """Median seconds of one bare forward and of one step of RED-diff, DPS and ΠGDM, interleaved."""
    device = problem.device
    x = torch.randn(problem.batch_size, *problem.operator.in_shape, device=device)
    t = torch.full((problem.batch_size,), 500, device=device, dtype=torch.long)
    samples: dict[str, list[float]] = {"forward": [], "reddiff": [], "dps": [], "pigdm": []}
    solvers = {"reddiff": RedDiff(steps=steps), "dps": DPS(steps=steps), "pigdm": PiGDM(steps=steps)}
    with torch.no_grad():
        prior.network(x, t)  # warm-up
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                prior.network(x, t)
        _sync(device)
        samples["forward"].append((time.perf_counter() - start) / steps)
        for name, solver in solvers.items():
            result = solver.solve(problem, prior, torch.Generator(device=device).manual_seed(0), metrics_every=0)
            samples[name].append(result.seconds / steps)
    return {name: statistics.median(values) for name, values in samples.items()}


def _memory_child(kind: str, mode: str, steps: int, device_name: str) -> None:
    """Run one memory measurement in this (fresh) process and print the bytes above the baseline."""
    from reddiff_imaging.solvers.base import _CpuPeakMemory

    device = torch.device(device_name)
    prior, size, channels = _prior(kind, device)
    problem = _problem(size, 1, channels, device)
    x = torch.randn(1, channels, size, size, device=device)
    t = torch.full((1,), 500, device=device, dtype=torch.long)
    with torch.no_grad():  # one forward before the baseline: kernels, caches and pools are set up
        prior.network(x, t)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    else:
        tracker = _CpuPeakMemory()
    if mode == "inference":
        with torch.no_grad():
            for _ in range(steps):
                prior.network(x, t)
    else:
        solver = RedDiff(steps=steps) if mode == "reddiff" else DPS(steps=steps)
        solver.solve(problem, prior, torch.Generator(device=device).manual_seed(0), metrics_every=0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        print(torch.cuda.max_memory_allocated(device) - baseline)
    else:
        print(tracker.peak())


def peak_memory(kind: str, steps: int, device: str, threads: int) -> dict[str, int]:
    out = {}
    for mode in ("inference", "reddiff", "dps"):
        command = [sys.executable, __file__, "--memory-child", kind, mode, str(steps), device, "--threads", str(threads)]
        completed = subprocess.run(command, capture_output=True, text=True, check=True)
        out[mode] = int(completed.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke test)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--memory-only", action="store_true", help="only the memory measurements (keeps the stored times)")
    parser.add_argument("--no-memory", action="store_true", help="only the time measurements")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        kind, mode, steps, device = args.memory_child
        _memory_child(kind, mode, int(steps), device)
        return 0
    device = torch.device(args.device)
    steps, repeats = (10, 1) if args.quick else (50, 5)
    report: dict[str, object] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "threads": args.threads,
        "torch": torch.__version__,
        "steps": steps,
        "repeats": repeats,
        "time": {},
        "memory": {},
    }
    path = RESULTS / f"reddiff_cost-{device.type}.json"
    if args.memory_only and path.is_file():
        report["time"] = json.loads(path.read_text())["time"]
    prior, size, channels = _prior("default", device)
    for batch in () if args.memory_only else (1, 8):
        times = time_per_step(prior, _problem(size, batch, channels, device), steps, repeats)
        report["time"][f"default-64-batch{batch}"] = {  # type: ignore[index]
            **times,
            "reddiff_over_forward": times["reddiff"] / times["forward"],
            "reddiff_over_dps": times["reddiff"] / times["dps"],
            "reddiff_over_pigdm": times["reddiff"] / times["pigdm"],
        }
    memory_steps = 3 if args.quick else 10
    for kind in () if args.no_memory else ("default", "adm"):
        memory = peak_memory(kind, memory_steps, str(device), args.threads)
        report["memory"][kind] = {  # type: ignore[index]
            **memory,
            "reddiff_over_inference": memory["reddiff"] / max(memory["inference"], 1),
            "dps_over_inference": memory["dps"] / max(memory["inference"], 1),
        }
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(_markdown(report))
    print(f"written to {path}")
    return 0


def _markdown(report: dict) -> str:
    lines = [f"Device: {report['device']}, {report['threads']} thread(s), torch {report['torch']}", ""]
    lines += ["| case | forward (ms) | RED-diff step (ms) | RED-diff ÷ forward | RED-diff ÷ DPS | RED-diff ÷ ΠGDM |", "|---|---:|---:|---:|---:|---:|"]
    for case, r in report["time"].items():
        lines.append(
            f"| {case} | {1e3 * r['forward']:.2f} | {1e3 * r['reddiff']:.2f} | {r['reddiff_over_forward']:.3f} "
            f"| {r['reddiff_over_dps']:.3f} | {r['reddiff_over_pigdm']:.3f} |"
        )
    lines += ["", "| network | inference (MiB) | RED-diff (MiB) | DPS (MiB) | RED-diff ÷ inference | DPS ÷ inference |", "|---|---:|---:|---:|---:|---:|"]
    for kind, m in report["memory"].items():
        lines.append(
            f"| {kind} | {m['inference'] / 2**20:.1f} | {m['reddiff'] / 2**20:.1f} | {m['dps'] / 2**20:.1f} "
            f"| {m['reddiff_over_inference']:.2f} | {m['dps_over_inference']:.2f} |"
        )
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


if __name__ == "__main__":
    raise SystemExit(main())
