"""The ``reddiff-imaging`` command line."""

from __future__ import annotations

import argparse
import platform
from collections.abc import Sequence

import torch

from reddiff_imaging import __version__


def _info(_: argparse.Namespace) -> int:
    from reddiff_imaging import operators, priors

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"reddiff-imaging {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA device: {cuda}")
    print(f"CPU threads: {torch.get_num_threads()}")
    print("operators (registry): " + ", ".join(operators.registry.available()))
    print("priors: " + ", ".join(name for name in priors.__all__ if name[0].isupper()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from reddiff_imaging.demo import run_operator_demo

    run_operator_demo(size=args.size, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reddiff-imaging", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reddiff-imaging {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions, device and what is available").set_defaults(run=_info)
    demo = commands.add_parser("demo", help="simulate every registered task on a test image and check each operator")
    demo.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    demo.add_argument("--seed", type=int, default=0, help="seed of masks and noise (default 0)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
