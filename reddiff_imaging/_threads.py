"""CPU threads of the command line: a default that fits the machine and a warning when it is busy.

torch starts one intra-op thread per core. On a machine where other work already keeps the cores
busy, extra threads do not add speed: they wait for each other at every parallel region, and a
diffusion step can become ten times slower than with one thread (see docs/benchmarks.rst).
"""

from __future__ import annotations

import os
import warnings

import torch

__all__ = ["available_cores", "configure_threads", "default_threads"]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else the cores shared by the processes on this node.

    Under ``torchrun`` each node runs ``LOCAL_WORLD_SIZE`` processes; each gets its share of the
    cores (at least one), so the ranks do not compete for them.
    """
    if value := os.environ.get("OMP_NUM_THREADS"):
        try:
            return max(1, int(value))
        except ValueError:
            pass  # torch ignores a malformed value too; fall back to the cores
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, available_cores() // max(1, processes))


def configure_threads(threads: int | None, *, option: str = "--threads") -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`) and return the number set.

    Warns (:class:`RuntimeWarning`) when the machine is oversubscribed: the one-minute load average
    plus the threads asked for exceeds the cores, so the threads would queue for CPU time.

    Raises:
        ValueError: ``threads`` is not a positive integer (the message names ``option``).
    """
    if threads is None:
        threads = default_threads()
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{option} must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)
    cores = available_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if threads > 1 and load + threads > cores + 0.5:
        warnings.warn(
            f"the machine is busy (load average {load:.1f} on {cores} cores) and {threads} threads were asked for: "
            f"they will wait for each other and may run several times slower than one; try {option} 1",
            RuntimeWarning,
            stacklevel=2,
        )
    return threads
