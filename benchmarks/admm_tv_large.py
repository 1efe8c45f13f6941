"""ADMM-TV on a 512² photograph: time, inner TV iterations and warnings, warm-started against cold proxes.

Gaussian deblurring of scikit-image's ``camera`` (512×512, noise 0.01), ``ADMM(steps=N)`` with
``TV()``: the solver's warm-started proxes with a tightening tolerance, and — with ``--cold`` — each
prox from zero at the prior's own tolerance (the behaviour before), for ``--cold-iterations``
iterations only (each takes seconds), from which the full run is extrapolated.

Usage: ``python benchmarks/admm_tv_large.py [--iterations 100] [--cold-iterations 10]``; writes
``benchmarks/results/admm_tv_large.json``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import skimage.data
import torch
from common import setup, write_json

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV
from reddiff_imaging.priors.tv import TVProxResult
from reddiff_imaging.solvers import ADMM, admm


def run(problem: ri.InverseProblem, iterations: int, warm: bool) -> dict[str, object]:
    prior = TV()
    inner: list[int] = []
    fgp = prior._fgp

    def counted(x: torch.Tensor, tau: torch.Tensor, **options: Any) -> TVProxResult:
        result = fgp(x, tau, **options)
        inner.append(int(result.iterations.max()))
        return result

    prior._fgp = counted  # type: ignore[method-assign]
    solver = ADMM(steps=iterations)
    original = admm.TV
    if not warm:  # the solver no longer recognises TV: each prox cold, at the prior's tolerance
        setattr(admm, "TV", type("NoTV", (), {}))  # setattr: mypy refuses to assign to a class name
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            x = solver.solve(problem, prior).x
            seconds = time.perf_counter() - start
    finally:
        if not warm:
            setattr(admm, "TV", original)
    assert problem.x_true is not None
    return {
        "iterations": iterations, "seconds": seconds, "inner_iterations": sum(inner),
        "psnr": float(ri.metrics.psnr(x, problem.x_true)), "warnings": len(caught),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--cold-iterations", type=int, default=10)
    args = parser.parse_args()
    info = setup(1)
    x = torch.from_numpy(skimage.data.camera()).float().div(255)[None, None]
    operator = ops.registry.build("deblur-gaussian", tuple(x.shape[1:]))
    problem = ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))
    warm = run(problem, args.iterations, warm=True)
    cold = run(problem, args.cold_iterations, warm=False)
    cold["extrapolated_seconds"] = cold["seconds"] * args.iterations / args.cold_iterations
    print({"warm": warm, "cold": cold})
    write_json("admm_tv_large", {"machine": info, "warm": warm, "cold": cold})


if __name__ == "__main__":
    main()
