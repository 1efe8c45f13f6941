"""Start-up time of the command line and the effect of CPU threads on a short RED-diff run.

1. ``python -c "import torch"``, ``reddiff-imaging info`` and ``reddiff-imaging --help``, each in a
   fresh process with one thread (median of ``--repeats`` runs): the command line's target is at
   most 1.5 × the bare torch import.
2. 20 RED-diff steps with the bundled prior (box inpainting, 64², batch 4 as in the demo) in a fresh process with
   1 and with 2 threads, as the machine is and with one busy background process (a spinning
   Python loop started by this script) — what ``--threads`` and its warning are about.

Usage: ``python benchmarks/startup_threads.py [--repeats 3]``; writes
``benchmarks/results/startup_threads.json`` and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import load_average, machine_info, markdown_table, write_json

ROOT = Path(__file__).resolve().parent.parent  # the checkout, imported by the child processes

REDDIFF_20_STEPS = """
import time, torch
import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.solvers import RedDiff
prior = DiffusionPrior.default()
x = heldout_images(4)
A = ops.registry.build("inpainting-box", tuple(x.shape[1:]))
problem = ri.InverseProblem.simulate(A, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
start = time.perf_counter()
RedDiff(steps=20).solve(problem, prior, torch.Generator().manual_seed(0), progress=False)
print(time.perf_counter() - start)
"""


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}


def _wall(argv: list[str], threads: int) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=_env(threads), cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def startup(repeats: int) -> list[dict[str, object]]:
    cases = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "reddiff-imaging info": [sys.executable, "-m", "reddiff_imaging", "info"],
        "reddiff-imaging --help": [sys.executable, "-m", "reddiff_imaging", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved, so that all cases see the same background load
        for name, argv in cases.items():
            times[name].append(_wall(argv, 1))
    torch_time = statistics.median(times['python -c "import torch"'])
    return [
        {"command": name, "median_s": round(statistics.median(t), 2), "runs_s": [round(v, 2) for v in t], "ratio_to_torch": round(statistics.median(t) / torch_time, 2)}
        for name, t in times.items()
    ]


def _reddiff_seconds(threads: int) -> float:
    out = subprocess.run([sys.executable, "-c", REDDIFF_20_STEPS], check=True, env=_env(threads), cwd=ROOT, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def threads_effect() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for busy in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for threads in (1, 2):
                load = load_average()
                rows.append({"background": "one busy process added" if busy else "as is", "threads": threads, "seconds": round(_reddiff_seconds(threads), 2), "load_average": load})
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine_info(), "startup": startup(args.repeats), "threads": threads_effect()}
    write_json("startup_threads", result)
    for rows in (result["startup"], result["threads"]):
        headers = list(rows[0])
        print(markdown_table(headers, [[row[h] for h in headers] for row in rows]) + "\n")


if __name__ == "__main__":
    main()
