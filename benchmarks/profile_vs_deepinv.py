"""Where our PnP-ADMM (and DDRM) spend their time compared with deepinv: a component breakdown.

Usage::

    python benchmarks/profile_vs_deepinv.py [--quick]

Companion of ``vs_deepinv_classical.py`` / ``vs_deepinv_diffusion.py``: it times, in process CPU
time, the pieces that one PnP-ADMM iteration and one solve are made of, ours next to deepinv's,
on the same problems (64×64 box inpainting and circular Gaussian deblurring, batch 1 and 8), and
the per-step pieces of DDRM's spectral update. It also times *candidate* faster variants of our
pieces, written here with plain torch (nothing in the package is changed), so that the expected
gain of each suggested change can be read off directly:

* ``norm()`` — our solvers call ``operator.norm()`` (power iteration, float64, up to 200
  iterations) once per solve; for masks and circulant operators the norm is closed form
  (``max |w|``, ``max |ĥ|``);
* the x-update ``solve_normal`` — ours (full complex ``fft2``/``ifft2``, ``|ĥ|²`` recomputed per
  call) against ``rfft2``/``irfft2`` with a cached half-spectrum ``|ĥ|²`` (what deepinv's ``BlurFFT`` does);
* the z-update — ``GaussianFilterDenoiser.denoise`` (input validation + kernel construction +
  convolution) against its raw kernel ``_run`` and against a convolution with a cached kernel;
* the bookkeeping our ADMM records every iteration (``data`` = ½‖Az − y‖², two norms, ``rho``);
* a *sketch* of the PnP-ADMM loop with all of the above applied (``candidate_pnp_admm``; records
  every 10 iterations) against deepinv's ADMM given the same cached-kernel denoiser, i.e. the
  ratio we could expect after the changes when deepinv gets the faster denoiser too.

Results: ``benchmarks/results/profile_vs_deepinv.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deepinv as dinv
from common import machine_line, markdown_table, profile_top, setup, write_json
from vs_deepinv_classical import (
    PNP_RHO,
    PNP_SIGMA,
    build_problem,
    make_cases,
    zero_dual_init,
)

from reddiff_imaging.operators import Blur, Inpainting
from reddiff_imaging.priors import GaussianFilterDenoiser
from reddiff_imaging.solvers.classical_common import item_norm

NAME = "profile_vs_deepinv"


def data_term(r: torch.Tensor) -> torch.Tensor:
    """½‖r‖² per image, averaged over the batch (the classical solvers' recorded data term)."""
    return 0.5 * item_norm(r).square().mean()


def cpu_us(fn: Callable[[], Any], calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean process CPU time per call, in microseconds."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            fn()
        samples.append((time.process_time() - start) / calls)
    return 1e6 * statistics.median(samples)


def power_iterations(op: Any) -> int:
    """How many power iterations ``op.norm()`` runs (same loop and tolerance as LinearOperator.norm)."""
    device = torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn((1, *op.in_shape), generator=generator, dtype=torch.float64)
    x = x / x.norm()
    estimate = 0.0
    for k in range(1, 201):
        z = op.apply_adjoint(op.apply_forward(x))
        new = float(z.norm())
        x = z / new
        if abs(new - estimate) <= 1e-7 * new:
            return k
        estimate = new
    return 200


def cached_gaussian(gf: GaussianFilterDenoiser, sigma: float, channels: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The same separable Gaussian filter with its two 1-D kernels built once (candidate z-update)."""
    std = max(sigma * gf.width_per_sigma, 1e-3)
    radius = math.ceil(gf.truncate * std)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (offsets / std) ** 2)
    k = k / k.sum()
    kh = k.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    kv = k.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)

    def run(x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        z = F.pad(x, (radius, radius, radius, radius), mode="reflect")
        z = F.conv2d(z, kh.to(x.dtype), groups=c)
        return F.conv2d(z, kv.to(x.dtype), groups=c)

    return run


def candidate_pnp_admm(
    problem: Any, norm2: float, solve: Callable[[torch.Tensor, float], torch.Tensor], denoise: Callable[[torch.Tensor], torch.Tensor], iterations: int
) -> torch.Tensor:
    """A sketch of our PnP-ADMM loop with the suggested changes: closed-form ``||A||^2`` (passed in),
    a closed-form x-update with cached spectra, a denoiser with a cached kernel and no per-call
    validation, and the residual records computed every 10 iterations instead of every one (the
    same iteration as ``PnPADMM(init="adjoint")``; the image is the same to float precision)."""
    op = problem.operator
    aty = op.apply_adjoint(problem.y).real
    rho = PNP_RHO * norm2
    z = aty.clone()
    u = torch.zeros_like(z)
    records = []
    for k in range(iterations):
        x = solve(aty + rho * (z - u), rho)
        v = x + u
        z_prev, z = z, denoise(v)
        u = v - z
        if (k + 1) % 10 == 0:
            records.append((item_norm(x - z).mean(), rho * item_norm(z - z_prev).mean(), data_term(op.apply_forward(z) - problem.y)))
    if records:  # one transfer to the host at the end, as our Monitor does
        torch.stack([torch.stack(r) for r in records]).tolist()
    return z.clamp(0, 1)


class CachedKernelDenoiser(dinv.models.Denoiser):
    """The cached-kernel Gaussian filter as a deepinv denoiser (so deepinv gets the same speed-up)."""

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.run = run

    def forward(self, x: torch.Tensor, sigma: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.run(x)




def profile_problem(task: str, batch: int, calls: int, rounds: int, profiles: dict[str, list[str]]) -> dict[str, Any]:
    """The component timings of one problem (see the module docs)."""
    problem, physics, norm2 = build_problem(task, batch)
    op = problem.operator
    assert isinstance(op, (Blur, Inpainting))  # what the registry builds for the two tasks
    y = problem.y
    x = op.apply_adjoint(y).real.clone()
    rho = PNP_RHO * norm2
    gf = GaussianFilterDenoiser()
    fast_gf = cached_gaussian(gf, PNP_SIGMA, x.shape[1])
    aty = op.apply_adjoint(y)
    entry: dict[str, Any] = {"task": task, "batch": batch}
    with torch.no_grad():
        # once per solve
        entry["norm_us"] = cpu_us(lambda: op.norm(), max(calls // 50, 2), rounds)
        entry["norm_power_iterations"] = power_iterations(op)
        if task == "deblur-gaussian":
            assert isinstance(op, Blur)
            closed = lambda: float(op.transfer.abs().max()) ** 2
        else:
            assert isinstance(op, Inpainting)
            closed = lambda: float(op.weights.abs().max()) ** 2
        entry["norm_closed_form_us"] = cpu_us(closed, calls, rounds)
        entry["norm_closed_form_value"] = closed()
        entry["norm_power_value"] = norm2
        # x-update
        entry["xupdate_ours_us"] = cpu_us(lambda: op.solve_normal(aty + rho * x, rho, check=False), calls, rounds)
        entry["xupdate_deepinv_us"] = cpu_us(lambda: physics.prox_l2(x, y, 1.0 / rho), calls, rounds)
        if task == "deblur-gaussian":
            assert isinstance(op, Blur)
            half = (op.transfer.abs() ** 2)[..., : x.shape[-1] // 2 + 1].to(torch.float32)

            def candidate_solve() -> torch.Tensor:
                b = aty + rho * x
                return torch.fft.irfft2(torch.fft.rfft2(b) / (half + rho), s=x.shape[-2:])

        else:
            assert isinstance(op, Inpainting)
            w2 = op.weights.abs() ** 2

            def candidate_solve() -> torch.Tensor:
                return (aty + rho * x) / (w2 + rho)

        entry["xupdate_candidate_us"] = cpu_us(candidate_solve, calls, rounds)
        entry["xupdate_candidate_max_abs_diff"] = float((candidate_solve() - op.solve_normal(aty + rho * x, rho, check=False)).abs().max())
        # z-update
        entry["zupdate_ours_denoise_us"] = cpu_us(lambda: gf.denoise(x, PNP_SIGMA), calls, rounds)
        entry["zupdate_raw_kernel_us"] = cpu_us(lambda: gf._run(x, PNP_SIGMA), calls, rounds)
        entry["zupdate_candidate_cached_us"] = cpu_us(lambda: fast_gf(x), calls, rounds)
        entry["zupdate_candidate_max_abs_diff"] = float((fast_gf(x) - gf._run(x, PNP_SIGMA)).abs().max())
        # bookkeeping of our ADMM loop (one iteration's worth)
        z_prev = x.clone()

        def bookkeeping() -> None:
            data_term(op.apply_forward(x) - y)
            item_norm(x - z_prev).mean()
            rho * item_norm(x - z_prev).mean()
            torch.full((), rho, dtype=x.dtype)

        entry["bookkeeping_us"] = cpu_us(bookkeeping, calls, rounds)
        entry["data_term_us"] = cpu_us(lambda: data_term(op.apply_forward(x) - y), calls, rounds)
        # whole solves, 100 iterations, for the per-iteration totals
        ours, theirs = make_cases("pnp-admm", problem, physics, norm2, 100)
        entry["solve100_ours_ms"] = 1e-3 * cpu_us(ours, 1, rounds)
        entry["solve100_deepinv_ms"] = 1e-3 * cpu_us(theirs, 1, rounds)
        # the sketch of the suggested loop against deepinv given the same cached-kernel denoiser
        closed_norm2 = entry["norm_closed_form_value"]

        def sketch() -> torch.Tensor:
            return candidate_pnp_admm(problem, closed_norm2, lambda b, r: candidate_solve_b(b, r), fast_gf, 100)

        if task == "deblur-gaussian":

            def candidate_solve_b(b: torch.Tensor, r: float) -> torch.Tensor:
                return torch.fft.irfft2(torch.fft.rfft2(b) / (half + r), s=b.shape[-2:])

        else:

            def candidate_solve_b(b: torch.Tensor, r: float) -> torch.Tensor:
                return b / (w2 + r)

        def deepinv_cached() -> torch.Tensor:
            model = dinv.optim.ADMM(
                data_fidelity=dinv.optim.L2(),
                prior=dinv.optim.PnP(CachedKernelDenoiser(fast_gf)),
                g_param=PNP_SIGMA,
                stepsize=1.0 / (PNP_RHO * norm2),
                max_iter=100,
            )
            return model(y, physics, init=zero_dual_init)

        entry["solve100_sketch_ms"] = 1e-3 * cpu_us(sketch, 1, rounds)
        entry["solve100_deepinv_cached_kernel_ms"] = 1e-3 * cpu_us(deepinv_cached, 1, rounds)
        entry["sketch_max_abs_diff_vs_ours"] = float((sketch() - ours()).abs().max())
        if batch == 1:
            profiles[f"pnp-admm {task} B=1 ours"] = profile_top(ours)
            profiles[f"pnp-admm {task} B=1 deepinv"] = profile_top(theirs)
    return entry


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    info = setup(1)
    calls, rounds = (20, 3) if args.quick else (200, 7)
    print(machine_line(info), flush=True)

    rows: list[dict[str, Any]] = []
    profiles: dict[str, list[str]] = {}
    for task in ("inpainting-box", "deblur-gaussian"):
        for batch in (1, 8):
            rows.append(profile_problem(task, batch, calls, rounds, profiles))
            print(f"  {task} B={batch} done", flush=True)

    headers = [
        "task", "B", "norm() µs (power its)", "closed-form norm µs", "x-update µs ours / deepinv / rfft-or-cached",
        "z-update µs denoise / _run / cached kernel", "bookkeeping µs (of which data term)", "100-it solve ms ours / deepinv",
        "100-it ms sketch / deepinv (both cached kernel)",
    ]
    table = markdown_table(
        headers,
        [
            [
                r["task"], r["batch"], f"{r['norm_us']:.0f} ({r['norm_power_iterations']})", f"{r['norm_closed_form_us']:.0f}",
                f"{r['xupdate_ours_us']:.0f} / {r['xupdate_deepinv_us']:.0f} / {r['xupdate_candidate_us']:.0f}",
                f"{r['zupdate_ours_denoise_us']:.0f} / {r['zupdate_raw_kernel_us']:.0f} / {r['zupdate_candidate_cached_us']:.0f}",
                f"{r['bookkeeping_us']:.0f} ({r['data_term_us']:.0f})",
                f"{r['solve100_ours_ms']:.1f} / {r['solve100_deepinv_ms']:.1f}",
                f"{r['solve100_sketch_ms']:.1f} / {r['solve100_deepinv_cached_kernel_ms']:.1f}",
            ]
            for r in rows
        ],
    )
    print()
    print("## PnP-ADMM component costs (process CPU time; GaussianFilterDenoiser at sigma=0.05)")
    print()
    print(table)
    print()
    print(machine_line(info))
    payload = {"benchmark": NAME, "quick": args.quick, "machine": info, "rows": rows, "cprofile_top": profiles, "table_markdown": table}
    path = write_json(NAME, payload)
    print(f"Results written to {path}")
    return payload


if __name__ == "__main__":
    main()
