"""ADMM-TV and PnP-ADMM: our solvers against deepinv 0.5.0's ``deepinv.optim.ADMM`` on the same problems.

Usage::

    python benchmarks/vs_deepinv_classical.py [--quick] [--threads N] [--device cpu|cuda] [--methods ...] [--profile]

Problems: box inpainting (20×20 hole) and circular Gaussian deblurring (σ = 1.5 px, 11×11 kernel)
of 64×64 held-out images (``reddiff_imaging.data.synthetic.heldout_images``), Gaussian noise
σ = 0.01, batch 1 and 8. deepinv gets the equivalent native physics (``Inpainting`` with our mask,
``BlurFFT`` with our kernel — checked to agree with our operators to float precision), so each
library uses its own closed-form x-update.

Methods, configured to run the *same iteration* (checked by the final PSNR, equal for PnP):

* ``admm-tv``: ours ``ADMM(lam=0.01, rho=0.1, init="adjoint")`` with ``TV()`` (FGP prox, tol 1e-5,
  at most 200 inner iterations) against deepinv ``ADMM(L2(), TVPrior(), lambda_reg=0.01,
  stepsize=1/rho)`` with deepinv's default TV prox (Chambolle–Pock, crit 1e-8, at most 1000 inner
  iterations, warm-started from its previous call). Same outer iteration; inner solvers differ
  (that is part of what each library ships).
* ``admm-tv-50``: as above with exactly 50 inner iterations per prox in both (ours
  ``TV(max_iter=50, tol=1e-30)``, with the tolerance that our ADMM passes to its warm-started
  proxes overridden; deepinv ``TVPrior(n_it_max=50, def_crit=0)``): the cost of the machinery at an
  equal inner budget.
* ``pnp-admm``: ours ``PnPADMM(sigma=0.05, rho=0.3, init="adjoint")`` with ``GaussianFilterDenoiser()``
  against deepinv ``ADMM(L2(), PnP(D), g_param=0.05, stepsize=1/rho)`` where ``D`` is the *same*
  Gaussian filter (wrapped by the public adapter ``reddiff_imaging.priors.PriorDenoiser``, which
  calls ``denoise`` with its input checks, as our solver does). The two iterations are algebraically identical.

deepinv's ADMM is started from ``(x, z) = (Aᵀy, 0)`` as ours with ``init="adjoint"`` (its default
also sets the scaled dual ``z`` to ``Aᵀy``, a different first iteration); with that, PnP-ADMM gives
the same image in both to float precision (``max_abs_diff`` in the JSON).

For ours, the rows also show a *lean* variant (``metrics_every=0, check_every=0``: no PSNR
records, no finiteness checks) that isolates the cost of our per-iteration bookkeeping.

Times are process CPU times on CPU (wall time with CUDA; wall times are in the JSON too), because
wall times on the shared machine swing 2-3x with other jobs. Every timed call constructs the solver and runs it (deepinv's TV prox keeps warm-start state on the
module, so a fresh module per call keeps the runs independent). Iterations per second are the
outer iteration count divided by the median wall time; ratio = ours its/s ÷ deepinv its/s (target ≥ 1).
Results: ``benchmarks/results/vs_deepinv_classical.json``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deepinv as dinv
from common import (
    check_same_operator,
    interleaved,
    machine_line,
    markdown_table,
    mean_psnr,
    paired_ratio,
    profile_top,
    setup,
    simulate_on,
    write_json,
)

import reddiff_imaging as ri
from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.operators import registry
from reddiff_imaging.priors import TV, GaussianFilterDenoiser
from reddiff_imaging.priors.deepinv_adapters import PriorDenoiser
from reddiff_imaging.priors.tv import TVProxResult
from reddiff_imaging.solvers import ADMM, PnPADMM

NAME = "vs_deepinv_classical"
NOISE = 0.01
SEED = 1
TV_LAM, TV_RHO = 0.01, 0.1
PNP_SIGMA, PNP_RHO = 0.05, 0.3


def build_problem(task: str, batch: int, device: str = "cpu") -> tuple[ri.InverseProblem, dinv.physics.Physics, float]:
    """Our problem, the equivalent deepinv physics (both on ``device``) and ``||A||^2``."""
    op = registry.build(task, (1, 64, 64))
    x = heldout_images(batch)
    problem = simulate_on(op, x, NOISE, device)
    op = problem.operator
    noise = dinv.physics.GaussianNoise(NOISE)  # not used to draw y (we pass our y); it only informs deepinv
    if task == "inpainting-box":
        physics = dinv.physics.Inpainting(img_size=(1, 64, 64), mask=op.mask.clone(), noise_model=noise)
    elif task == "deblur-gaussian":
        physics = dinv.physics.BlurFFT(img_size=(1, 64, 64), filter=op.kernel.float()[None, None], noise_model=noise)
    else:  # pragma: no cover
        raise ValueError(task)
    physics = physics.to(device)
    check_same_operator(physics, op, task)
    return problem, physics, float(op.norm()) ** 2


class InnerCounter:
    """Counts inner TV iterations of one solve (ours: FGP iterations per prox; deepinv: CP iterations)."""

    def __init__(self) -> None:
        self.calls = 0
        self.iterations = 0


def ours_tv(max_iter: int | None, counter: InnerCounter | None = None) -> TV:
    """Our TV; with ``max_iter``, every prox runs exactly that many FGP iterations (a fixed budget):
    the tolerance that ADMM passes to its warm-started proxes is overridden, as it would stop them earlier."""
    tv = TV() if max_iter is None else TV(max_iter=max_iter, tol=1e-30)
    if counter is not None or max_iter is not None:
        fgp = tv._fgp

        def counted(x: torch.Tensor, tau: torch.Tensor, **options: Any) -> TVProxResult:
            if max_iter is not None:
                options["tol"] = 1e-30
            result = fgp(x, tau, **options)
            if counter is not None:
                counter.calls += 1
                counter.iterations += int(result.iterations.max())
            return result

        tv._fgp = counted  # type: ignore[method-assign]
    return tv


def deepinv_tv(max_iter: int | None, counter: InnerCounter | None = None) -> dinv.optim.TVPrior:
    prior = dinv.optim.TVPrior() if max_iter is None else dinv.optim.TVPrior(def_crit=0.0, n_it_max=max_iter)
    if counter is not None:
        model = prior.TVModel
        nabla, forward = model.nabla, model.forward

        def counted_nabla(x: torch.Tensor) -> torch.Tensor:
            counter.iterations += 1  # one nabla per Chambolle-Pock iteration
            return nabla(x)

        def counted_forward(*args: Any, **kwargs: Any) -> torch.Tensor:
            counter.calls += 1
            return forward(*args, **kwargs)

        model.nabla = counted_nabla
        model.forward = counted_forward
    return prior


def zero_dual_init(y: torch.Tensor, physics: dinv.physics.Physics) -> tuple[torch.Tensor, torch.Tensor]:
    """deepinv ADMM's start ``(x, z) = (Aᵀy, 0)``, as ours with ``init="adjoint"`` (deepinv's default
    sets its scaled dual ``z`` to ``Aᵀy`` as well, which is a different first iteration)."""
    x = physics.A_adjoint(y)
    return x, torch.zeros_like(x)


def make_cases(
    method: str, problem: ri.InverseProblem, physics: dinv.physics.Physics, norm2: float, iterations: int
) -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """The timed callables (each returns the reconstruction) and their inner-iteration diagnostics."""
    y = problem.y
    gf = GaussianFilterDenoiser()
    if method in ("admm-tv", "admm-tv-50"):
        inner = None if method == "admm-tv" else 50

        def ours(lean: bool = False, counter: InnerCounter | None = None) -> torch.Tensor:
            solver = ADMM(steps=iterations, lam=TV_LAM, rho=TV_RHO, init="adjoint")
            kwargs: dict[str, Any] = {"metrics_every": 0, "check_every": 0} if lean else {}
            return solver.solve(problem, ours_tv(inner, counter), **kwargs).x

        def theirs(counter: InnerCounter | None = None) -> torch.Tensor:
            model = dinv.optim.ADMM(
                data_fidelity=dinv.optim.L2(),
                prior=deepinv_tv(inner, counter),
                lambda_reg=TV_LAM,
                stepsize=1.0 / (TV_RHO * norm2),
                max_iter=iterations,
            )
            return model(y, physics, init=zero_dual_init)

    elif method == "pnp-admm":

        def ours(lean: bool = False, counter: InnerCounter | None = None) -> torch.Tensor:
            solver = PnPADMM(steps=iterations, sigma=PNP_SIGMA, rho=PNP_RHO, init="adjoint")
            kwargs: dict[str, Any] = {"metrics_every": 0, "check_every": 0} if lean else {}
            return solver.solve(problem, gf, **kwargs).x

        def theirs(counter: InnerCounter | None = None) -> torch.Tensor:
            model = dinv.optim.ADMM(
                data_fidelity=dinv.optim.L2(),
                prior=dinv.optim.PnP(PriorDenoiser(gf)),
                g_param=PNP_SIGMA,
                stepsize=1.0 / (PNP_RHO * norm2),
                max_iter=iterations,
            )
            return model(y, physics, init=zero_dual_init)

    else:  # pragma: no cover
        raise ValueError(method)
    return ours, theirs




def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations, one repeat (< 2 minutes)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5, quick: 1)")
    parser.add_argument("--profile", action="store_true", help="also cProfile our solvers once per case")
    parser.add_argument("--methods", nargs="+", choices=("admm-tv", "admm-tv-50", "pnp-admm"), help="a subset of the methods")
    args = parser.parse_args(argv)
    info = setup(args.threads)
    warnings.simplefilter("ignore", RuntimeWarning)  # TV(max_iter=50, tol=1e-30) warns on every prox by design

    # (outer iterations, timed rounds, also time our lean variant) per method. deepinv's default TV
    # prox runs all its 1000 inner iterations on every call (~0.3-0.9 s per outer iteration here),
    # so that row uses fewer outer iterations; its/s is per outer iteration either way.
    if args.quick:
        plan = {"admm-tv": (3, 1, False), "admm-tv-50": (10, 1, False), "pnp-admm": (10, 1, True)}
    else:
        plan = {"admm-tv": (20, 3, False), "admm-tv-50": (100, 3, False), "pnp-admm": (100, 7, True)}
    if args.repeats:
        plan = {m: (its, args.repeats, lean) for m, (its, _, lean) in plan.items()}
    if args.methods:
        plan = {m: plan[m] for m in args.methods}
    batches = (1, 8)
    tasks = ("inpainting-box", "deblur-gaussian")
    started = time.perf_counter()
    print(machine_line(info), flush=True)
    print(f"plan (iterations, repeats, lean variant) per method: {plan}; batches={batches}", flush=True)

    rows: list[dict[str, Any]] = []
    for task in tasks:
        for batch in batches:
            problem, physics, norm2 = build_problem(task, batch, args.device)
            for method, (iterations, repeats, with_lean) in plan.items():
                ours, theirs = make_cases(method, problem, physics, norm2, iterations)
                print(f"  {task} B={batch} {method} ({iterations} iterations)", flush=True)
                cases = {"ours": ours, "deepinv": theirs}
                if with_lean:
                    cases["ours_lean"] = lambda o=ours: o(lean=True)
                # the untimed warm-up calls are instrumented to count the inner TV iterations
                ours_counter, theirs_counter = InnerCounter(), InnerCounter()
                with torch.no_grad():
                    timed = interleaved(
                        cases,
                        repeats=repeats,
                        warmup=1,
                        warmup_cases={
                            "ours": functools.partial(ours, counter=ours_counter),
                            "deepinv": functools.partial(theirs, counter=theirs_counter),
                        },
                    )
                t_ours, t_theirs = timed["ours"]["median"], timed["deepinv"]["median"]
                x_true = problem.x_true
                assert x_true is not None
                row: dict[str, Any] = {
                    "task": task,
                    "batch": batch,
                    "method": method,
                    "iterations": iterations,
                    "repeats": repeats,
                    "seconds_ours": t_ours,
                    "seconds_deepinv": t_theirs,
                    "its_per_s_ours": iterations / t_ours,
                    "its_per_s_deepinv": iterations / t_theirs,
                    "ratio_its_per_s": t_theirs / t_ours,
                    "ratio_its_per_s_paired": paired_ratio(timed["deepinv"], timed["ours"]),
                    "wall_seconds_ours": timed["ours"]["wall"]["median"],
                    "wall_seconds_deepinv": timed["deepinv"]["wall"]["median"],
                    "ratio_its_per_s_wall": timed["deepinv"]["wall"]["median"] / timed["ours"]["wall"]["median"],
                    "psnr_ours": mean_psnr(timed["ours"]["output"], x_true),
                    "psnr_deepinv": mean_psnr(timed["deepinv"]["output"], x_true),
                    "max_abs_diff": float((timed["ours"]["output"].clamp(0, 1) - timed["deepinv"]["output"].float().clamp(0, 1)).abs().max()),
                    "times_ours": timed["ours"]["times"],
                    "times_deepinv": timed["deepinv"]["times"],
                    "wall_times_ours": timed["ours"]["wall"]["times"],
                    "wall_times_deepinv": timed["deepinv"]["wall"]["times"],
                }
                if with_lean:
                    t_lean = timed["ours_lean"]["median"]
                    row.update(
                        seconds_ours_lean=t_lean,
                        its_per_s_ours_lean=iterations / t_lean,
                        ratio_its_per_s_lean=t_theirs / t_lean,
                        times_ours_lean=timed["ours_lean"]["times"],
                    )
                    # fixed cost of one solve: the same solvers with a single iteration
                    one_ours, one_theirs = make_cases(method, problem, physics, norm2, 1)
                    with torch.no_grad():
                        setup_timed = interleaved({"ours": one_ours, "deepinv": one_theirs}, repeats=max(repeats, 5), warmup=1)
                    s_ours, s_theirs = setup_timed["ours"]["median"], setup_timed["deepinv"]["median"]
                    row.update(
                        one_iteration_ms_ours=1e3 * s_ours,
                        one_iteration_ms_deepinv=1e3 * s_theirs,
                        per_iteration_ms_ours=1e3 * (t_ours - s_ours) / (iterations - 1),
                        per_iteration_ms_deepinv=1e3 * (t_theirs - s_theirs) / (iterations - 1),
                    )
                if method.startswith("admm-tv"):
                    row["inner_per_prox_ours"] = ours_counter.iterations / max(ours_counter.calls, 1)
                    row["inner_per_prox_deepinv"] = theirs_counter.iterations / max(theirs_counter.calls, 1)
                if args.profile:
                    with torch.no_grad():
                        row["profile_ours"] = profile_top(ours)
                        row["profile_deepinv"] = profile_top(theirs)
                rows.append(row)
                print(
                    f"    ours {t_ours:.3f}s  deepinv {t_theirs:.3f}s  ratio its/s {t_theirs / t_ours:.2f}  "
                    f"PSNR {row['psnr_ours']:.2f} / {row['psnr_deepinv']:.2f}",
                    flush=True,
                )

    headers = [
        "task", "B", "method", "its", "its/s ours", "its/s deepinv", "ratio (≥1 good)", "paired ratio", "wall ratio", "ratio lean",
        "1-iteration solve ms ours / deepinv", "ms/it ours / deepinv", "PSNR ours", "PSNR deepinv", "inner its/prox ours / deepinv",
    ]

    def opt(r: dict[str, Any], fmt: str, *keys: str) -> str:
        return fmt.format(*(r[k] for k in keys)) if all(k in r for k in keys) else "–"

    table_rows = [
        [
            r["task"], r["batch"], r["method"], r["iterations"], round(r["its_per_s_ours"], 1),
            round(r["its_per_s_deepinv"], 1), round(r["ratio_its_per_s"], 2), round(r["ratio_its_per_s_paired"], 2),
            round(r["ratio_its_per_s_wall"], 2),
            opt(r, "{:.2f}", "ratio_its_per_s_lean"),
            opt(r, "{:.1f} / {:.1f}", "one_iteration_ms_ours", "one_iteration_ms_deepinv"),
            opt(r, "{:.3f} / {:.3f}", "per_iteration_ms_ours", "per_iteration_ms_deepinv"),
            round(r["psnr_ours"], 2), round(r["psnr_deepinv"], 2),
            opt(r, "{:.0f} / {:.0f}", "inner_per_prox_ours", "inner_per_prox_deepinv"),
        ]
        for r in rows
    ]
    table = markdown_table(headers, table_rows)
    elapsed = time.perf_counter() - started
    print()
    print(f"## ours vs deepinv {info['deepinv']}: classical ADMM (medians; iterations and repeats per row in the JSON)")
    print()
    print(table)
    print()
    print(machine_line(info))
    print(f"Total wall time {elapsed:.0f} s.")
    payload = {
        "benchmark": NAME,
        "quick": args.quick,
        "machine": info,
        "machine_shared": True,
        "settings": {
            "plan_iterations_repeats_lean": plan,
            "warmup": 1,
            "device": args.device,
            "noise_sigma": NOISE,
            "tv": {"lam": TV_LAM, "rho_relative": TV_RHO},
            "pnp": {"sigma": PNP_SIGMA, "rho_relative": PNP_RHO, "denoiser": "GaussianFilterDenoiser()"},
            "timing": "seconds_* / times_* / its_per_s_*: process CPU time on CPU (wall time with CUDA); wall_*: wall time",
            "ratio": "ours its/s / deepinv its/s = deepinv median seconds / ours median seconds; "
            "ratio_its_per_s_paired: median over rounds of the per-round ratio",
        },
        "rows": rows,
        "table_markdown": table,
        "elapsed_seconds": elapsed,
    }
    path = write_json(NAME, payload, args.device)
    print(f"Results written to {path}")
    return payload


if __name__ == "__main__":
    main()
