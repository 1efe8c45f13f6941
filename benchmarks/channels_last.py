"""Channels-last inputs for the natural prior's network on the CPU: time per network call.

:class:`~reddiff_imaging.priors.DiffusionPrior` hands its network channels-last tensors on the CPU,
where oneDNN's convolutions run faster on that layout. This measures one call of the natural
prior's UNet (batch 1, timestep 100) on a contiguous and on a channels-last input of the same
values, at 64² (its training size) and 256², interleaved in one run (``--repeats`` rounds, medians
of process CPU time; see ``common.py``), with the largest difference between the two outputs.

Usage: ``python benchmarks/channels_last.py [--threads 1] [--repeats 10]``; writes
``benchmarks/results/channels_last.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from common import interleaved, setup, write_json

from reddiff_imaging.priors import DiffusionPrior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    info = setup(args.threads)
    network = DiffusionPrior.natural().network
    t = torch.tensor([100])
    rows = []
    for side in (64, 256):
        x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        layouts = {"contiguous": x, "channels_last": x.contiguous(memory_format=torch.channels_last)}

        def caller(inputs: torch.Tensor) -> Callable[[], torch.Tensor]:
            def call() -> torch.Tensor:
                with torch.inference_mode():
                    return network(inputs, t)

            return call

        timed = interleaved({name: caller(inputs) for name, inputs in layouts.items()}, repeats=args.repeats, warmup=2)
        rows.append({
            "side": side,
            "contiguous_s": timed["contiguous"]["median"],
            "channels_last_s": timed["channels_last"]["median"],
            "time_ratio": timed["channels_last"]["median"] / timed["contiguous"]["median"],
            "max_abs_difference": float((timed["contiguous"]["output"] - timed["channels_last"]["output"]).abs().max()),
        })
        print(rows[-1], flush=True)
    write_json("channels_last", {"machine": info, "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
