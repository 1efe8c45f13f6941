"""Helpers shared by the benchmark scripts in this folder.

* :func:`setup` fixes the number of intra-op threads (1 by default, so that a shared machine gives
  comparable numbers) and returns a description of the machine (:func:`machine_info`).
* :func:`interleaved` times several callables *within one run*: every case is warmed up, then the
  cases are run round-robin (the order is rotated on every repeat so that no case always follows
  the same neighbour), and the medians are reported. Ratios between cases are therefore measured
  under the same background load, which matters on a machine shared with other jobs.
* Each call records wall time *and* CPU time of the process (:func:`time.process_time`). On a CPU
  shared with other jobs the wall time of a single-threaded run swings by 2-3x with the load,
  while its CPU time stays within a few percent, so on CPU the ratios are taken on CPU time
  (:func:`primary_key`); with CUDA, CPU time misses the GPU's work and wall time is used.
* :func:`write_json` writes a result file to ``benchmarks/results/<name>.json`` (``<name>-cuda.json`` on CUDA);
* :func:`simulate_on` and :func:`check_same_operator` set up the problems of the deepinv comparisons.
* :func:`markdown_table` formats rows as a Markdown table.

These scripts are not part of the package and not run by the test suite.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

#: where results are written (REDDIFF_BENCHMARK_RESULTS redirects them, e.g. scripts/gpu_check.sh to $OUT)
RESULTS = Path(os.environ.get("REDDIFF_BENCHMARK_RESULTS") or Path(__file__).resolve().parent / "results")


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """What a reader needs to interpret the timings."""
    try:
        import deepinv

        deepinv_version = deepinv.__version__
    except Exception:  # noqa: BLE001 - a description, never fatal
        deepinv_version = None
    cuda = None
    if torch.cuda.is_available():
        cuda = {"device": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "deepinv": deepinv_version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cuda": cuda,
        "load_average_at_start": load_average(),
        "git": git_state(),
    }


def git_state() -> dict[str, Any]:
    """Commit and locally modified files of the checkout the benchmark ran on (others may be editing it)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain"], check=False, cwd=root, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified": None}
    modified = [line[3:] for line in status.splitlines() if line[:2].strip() and not line[3:].startswith("benchmarks/")]
    return {"commit": commit or None, "modified": modified}


def setup(threads: int = 1) -> dict[str, Any]:
    """Fix torch's intra-op threads and return :func:`machine_info`."""
    torch.set_num_threads(threads)
    return machine_info()


def machine_line(info: dict[str, Any], shared: bool = True) -> str:
    """One line describing the machine, for the printed summary."""
    cuda = info["cuda"]["device"] if info.get("cuda") else "none"
    key = "process CPU time" if primary_key() == "cpu" else "wall time"
    line = (
        f"Timings: {key} (ratios and tables), wall time also in the JSON. "
        f"Machine: {info['cpu_model']}, {info['logical_cpus']} logical CPUs, torch threads={info['torch_threads']}, "
        f"torch {info['torch']}, deepinv {info['deepinv']}, CUDA: {cuda}, load average at start {info['load_average_at_start']}."
    )
    if shared:
        line += (
            " The machine was SHARED with other jobs while this ran: absolute times are noisy; the ratios are "
            "taken between cases interleaved within this one run (medians of the repeats)."
        )
    return line


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_once(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time and process CPU time of one call of ``fn`` (with a CUDA synchronisation when CUDA is present)."""
    _sync()
    cpu = time.process_time()
    start = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - start, time.process_time() - cpu, out


def primary_key() -> str:
    """Which time the ratios use: ``"cpu"`` (process CPU time) without CUDA, else ``"wall"``."""
    return "wall" if torch.cuda.is_available() else "cpu"


def interleaved(
    cases: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 1,
    warmup_cases: Mapping[str, Callable[[], Any]] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Time ``cases`` round-robin within one run.

    Every case is called ``warmup`` times first (not timed; ``warmup_cases[name]`` replaces the
    case there when given, e.g. an instrumented variant that counts inner iterations), then
    ``repeats`` rounds follow in which every case runs once; the order of the cases is rotated on
    each round.

    Returns:
        per case: ``wall`` and ``cpu`` (each with ``times`` in the order they were taken,
        ``median`` and ``min``); ``times``, ``median`` and ``min`` of the primary time
        (:func:`primary_key`); and ``output`` (the return value of the last call).
    """
    names = list(cases)
    outputs: dict[str, Any] = {}
    for _ in range(warmup):
        for name in names:
            outputs[name] = (warmup_cases or {}).get(name, cases[name])()
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu, outputs[name] = time_once(cases[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
            if log is not None:
                log(f"    round {r + 1}/{repeats}  {name:<40s} wall {wall:8.3f} s  cpu {cpu:8.3f} s")

    def summary(times: list[float]) -> dict[str, Any]:
        return {"times": [round(t, 5) for t in times], "median": statistics.median(times), "min": min(times)}

    key = primary_key()
    result = {}
    for name in names:
        entry = {"wall": summary(walls[name]), "cpu": summary(cpus[name]), "output": outputs[name], "primary": key}
        entry.update(entry[key])
        result[name] = entry
    return result


def paired_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    """Median over the rounds of ``numerator time / denominator time`` within the same round.

    The two cases of a round run back to back, so each per-round ratio sees nearly the same
    background load; its median is more robust on a shared machine than a ratio of medians."""
    pairs = [a / b for a, b in zip(numerator["times"], denominator["times"], strict=True) if b > 0]
    return statistics.median(pairs)


def write_json(name: str, payload: dict[str, Any], device: str = "cpu") -> Path:
    """Write ``payload`` to ``benchmarks/results/<name>.json`` (``<name>-<device>.json`` for a device
    other than the CPU, e.g. ``-cuda``) and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{name}.json" if device == "cpu" else f"{name}-{device.replace(':', '')}.json")
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    return path


def simulate_on(operator: Any, images: torch.Tensor, sigma: float, device: str) -> Any:
    """The inverse problem of ``images`` with Gaussian noise ``sigma``, its measurement drawn on the
    CPU from seed 123 (the same on every device), then moved to ``device``."""
    import reddiff_imaging as ri

    return ri.InverseProblem.simulate(
        operator, images, ri.noise.Gaussian(sigma), generator=torch.Generator().manual_seed(123)
    ).to(device)


def check_same_operator(physics: Any, operator: Any, task: str) -> None:
    """Raise unless the deepinv ``physics`` and our ``operator`` agree on random 1×64×64 images."""
    probe = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0)).to(operator.device or "cpu")
    err = float((physics.A(probe) - operator(probe)).abs().max())
    if err > 1e-5:
        raise AssertionError(f"deepinv physics differs from our {task} operator by {err}")


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; floats are printed with 3 significant decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_psnr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean PSNR (dB) over the batch, after clamping the estimate to ``[0, 1]`` (same function for every method)."""
    from reddiff_imaging import metrics

    estimate = estimate.detach().to(device=reference.device, dtype=reference.dtype).clamp(0, 1)
    return float(metrics.psnr(estimate, reference).mean())


def profile_top(fn: Callable[[], Any], limit: int = 12) -> list[str]:
    """The ``limit`` most expensive functions of one call of ``fn`` (cProfile, by own time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(limit)
    lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
    return lines[-(limit + 1) :]
