"""Comparisons and tuning sweeps on several processes, launched by ``torchrun``.

A comparison is a list of independent units (task × method × image) and a sweep a list of
configurations. Under ``torchrun`` every process (rank) joins one ``torch.distributed`` process
group and takes units by claiming them from an atomic counter in the group's key-value store
(``Store.add``), the next one whenever it finishes one, until none are left; a rank that draws
fast units simply takes more of them. Outside ``torchrun`` the world has one rank and no process
group, and the same code claims every unit in order.

Each rank runs on one device: ``cuda:LOCAL_RANK`` (NCCL) where CUDA was asked for (or ``auto``
found it), else the CPU (gloo), with one thread per rank unless ``OMP_NUM_THREADS`` is set.

Test hook: ``REDDIFF_IMAGING_CRASH_AFTER=RANK:K`` makes rank ``RANK`` raise after it has finished
``K`` units of a claim loop, as a crash would (used to test resuming).
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

__all__ = ["CRASH_AFTER", "World", "is_main_process", "world"]

#: environment variable of the test hook (see the module docs)
CRASH_AFTER = "REDDIFF_IMAGING_CRASH_AFTER"

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """The processes that share a run: this one is ``rank`` of ``size`` and computes on ``device``.

    ``store`` is the process group's key-value store (``None`` in a world of one rank).
    """

    rank: int
    size: int
    device: torch.device
    store: dist.Store | None = None

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value``, on every rank (a collective: every rank must call it)."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, results: dict[int, T], count: int) -> list[T]:
        """Results ``{unit index: result}`` of every rank, as a list in unit order (a collective)."""
        parts = [results]
        if self.size > 1:
            parts = [{} for _ in range(self.size)]
            dist.all_gather_object(parts, results)
        merged = {k: v for part in parts for k, v in part.items()}
        return [merged[k] for k in range(count)]

    def barrier(self) -> None:
        """Wait until every rank gets here (a collective)."""
        if self.size > 1:
            dist.barrier()

    def claim(self, count: int) -> Iterator[int]:
        """The indices in ``range(count)`` that this rank takes; every index goes to exactly one rank.

        A collective at its start: every rank must call it with the same ``count``. The counter key
        is new on every call (rank 0 draws it), so a rerun claims from 0 again.
        """
        crash_after = _crash_after(self.rank)
        key = f"reddiff_imaging/claim/{self.broadcast(uuid.uuid4().hex)}"
        done = 0
        while True:
            if done == crash_after:
                raise RuntimeError(f"{CRASH_AFTER}: rank {self.rank} stops after {done} units, as a crash would")
            index = done if self.store is None else self.store.add(key, 1) - 1
            if index >= count:
                return
            yield index
            done += 1


def world(device: torch.device) -> World:
    """This process's world, running on ``device`` (already resolved from ``auto``).

    Under ``torchrun`` the first call joins the process group (gloo for CPU ranks, NCCL for CUDA
    ranks, which get ``cuda:LOCAL_RANK`` unless ``device`` names an index); the group is destroyed
    when the process exits. Anywhere else the world is this process alone.
    """
    if not dist.is_torchelastic_launched():
        return World(0, 1, device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(1)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    # the store that init_process_group rendezvoused on; torch has no public accessor for it
    store = dist.distributed_c10d._get_default_store()
    return World(dist.get_rank(), dist.get_world_size(), device, store)


def is_main_process() -> bool:
    """True on rank 0 of a process group, and outside one (where files are written and printed)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def _crash_after(rank: int) -> int | None:
    value = os.environ.get(CRASH_AFTER)
    if not value:
        return None
    target, _, units = value.partition(":")
    return int(units) if int(target) == rank else None
