"""Construction time and memory of the CT operator (:class:`reddiff_imaging.operators.Radon`).

Each case runs in a fresh process (one thread): the operator is built for ``size × size`` images
and 180 angles, and the script records the wall and CPU time of the constructor (scipy.sparse,
which the construction uses, is imported beforehand and its import timed separately) and the growth
of the peak resident memory during construction (``ru_maxrss`` after ÷ before), next to the size of
the two CSR matrices kept.

Usage: ``python benchmarks/ct_build.py [--sizes 128 256] [--projector joseph|pixel] [--repeats 3]``;
writes ``benchmarks/results/ct_build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from common import setup, write_json

_CHILD = """
import json, time
import torch
torch.set_num_threads(1)
from reddiff_imaging.operators import Radon
start = time.perf_counter()
import scipy.sparse  # noqa: F401
scipy_import = time.perf_counter() - start
def status(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))
with open("/proc/self/clear_refs", "w") as refs:  # resets the peak resident memory (VmHWM)
    refs.write("5")
before = status("VmRSS:")
wall, cpu = time.perf_counter(), time.process_time()
op = Radon((1, {size}, {size}), num_angles=180, projector="{projector}")
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
after = status("VmHWM:")
kept = sum(t.numel() * t.element_size() for t in op.buffers())
print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "scipy_import_s": scipy_import, "nnz": op.nnz,
                  "peak_rss_growth_mb": (after - before) / 1024, "matrices_mb": kept / 2**20}}))
"""


def build_once(size: int, projector: str) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = _CHILD.format(size=size, projector=projector)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--projector", default="joseph", choices=["joseph", "pixel"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    info = setup(1)
    rows = []
    for size in args.sizes:
        runs = [build_once(size, args.projector) for _ in range(args.repeats)]
        row = {"size": size, "projector": args.projector, "runs": runs}
        for key in ("wall_s", "cpu_s", "scipy_import_s", "peak_rss_growth_mb"):
            row[f"median_{key}"] = statistics.median(run[key] for run in runs)
        row["nnz"], row["matrices_mb"] = runs[0]["nnz"], runs[0]["matrices_mb"]
        rows.append(row)
        print({key: value for key, value in row.items() if key != "runs"})
    write_json("ct_build", {"machine": info, "rows": rows})


if __name__ == "__main__":
    main()
