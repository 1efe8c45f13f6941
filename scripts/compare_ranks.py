"""One comparison by a single process and by 2 ranks under torchrun; are the results the same, and
how long did each take? Writes ``ranks.json`` into ``--out`` (used by scripts/gpu_check.sh).

CUDA ranks use NCCL with one GPU per rank: with fewer than 2 GPUs the 2-rank run is skipped (NCCL
refuses two ranks on one device) and the reason is recorded. CPU ranks use gloo.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch


def _run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    return time.perf_counter() - start


def _max_difference(a: Path, b: Path) -> float:
    worst = 0.0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        def visit(name: str, item: object) -> None:
            nonlocal worst
            if isinstance(item, h5py.Dataset) and name.endswith("/x"):
                worst = max(worst, float(np.abs(item[()] - fb[name][()]).max()))
        fa.visititems(visit)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="2 images, 3 steps (a smoke test)")
    args = parser.parse_args()
    images, steps = ("2", "3") if args.tiny else ("8", "50")
    options = ["compare", "--tasks", "inpainting-box", "sr4-block", "--solvers", "reddiff/default", "ddrm/default",
               "--num-images", images, "--steps", steps, "--device", args.device]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    report: dict[str, object] = {"device": args.device, "images": int(images), "steps": int(steps)}
    single = args.out / "ranks-single.h5"
    report["single_seconds"] = _run([sys.executable, "-m", "reddiff_imaging", *options, "--output", str(single)], env)
    if args.device.startswith("cuda") and torch.cuda.device_count() < 2:
        report["two_ranks"] = f"skipped: NCCL needs one GPU per rank and {torch.cuda.device_count()} is present"
    else:
        double = args.out / "ranks-two.h5"
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "reddiff_imaging"]
        report["two_ranks_seconds"] = _run([*torchrun, *options, "--output", str(double)], env)
        report["max_abs_difference"] = _max_difference(single, double)
        report["backend"] = "nccl" if args.device.startswith("cuda") else "gloo"
    (args.out / "ranks.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
