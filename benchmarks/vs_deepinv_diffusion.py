"""DPS, DDRM and DiffPIR: our solvers against deepinv 0.5.0's samplers, same network, problem, steps, seed.

Usage::

    python benchmarks/vs_deepinv_diffusion.py [--quick] [--threads N] [--repeats R] [--device cpu|cuda] [--profile]

**Network.** Both libraries run the bundled prior ``DiffusionPrior.default()`` (0.73M-parameter
UNet, 1×64×64, ε-prediction, linear β schedule, T = 1000). deepinv's samplers call a
``Denoiser`` ``D(x, sigma)`` on ``[0, 1]`` images; the public adapter
:class:`reddiff_imaging.priors.DiffusionDenoiser` maps that call to the very same network module
and timestep (see its docs). The benchmark's subclass counts its calls,
and the script checks that deepinv evaluates the network exactly as often as ours.

**Problems.** 20×20 box inpainting of 64×64 held-out images (``heldout_images``), Gaussian noise
σ = 0.01, and for DDRM also 4× block-average super-resolution. deepinv gets ``Inpainting`` with our
mask; it has no SVD super-resolution physics (its ``Downsampling`` is not a ``DecomposablePhysics``,
which DDRM requires), so SR runs on a generic ``DecomposablePhysics`` built from our block-average
SVD factors (the same U, Uᵀ, V, Vᵀ functions in both runs). Both physics are checked to agree with
our operators. The measurement ``y`` is drawn once (ours) and given to both.

**Matching the step counts (STEPS network evaluations in every sampler).**

* DPS: ours ``DPS(steps=N)`` visits ``range(0, 1000, 1000 // N)`` descending, one forward + backward
  per step, the last step to ᾱ = 1. deepinv ``DPS`` (VP SDE, DDPM ancestral solver) is given a
  ``DDPMSolver`` whose N + 1 continuous times are chosen so that its ``sigma(t)`` and ``scale(t)`` equal
  our discrete ``sqrt((1-ᾱ)/ᾱ)`` and ``sqrt(ᾱ)`` at the same N timesteps, ending at t = 0 (N network
  evaluations; no final extra denoising since sigma(0) = 0). The samplers are the same DDPM
  (η = 1) chain; the guidance is not: ours subtracts ``zeta * grad ||y' - A x0||`` (official DPS code,
  model range), deepinv adds ``weight * grad ||y - A x0||`` to the score, which its solver multiplies
  by ``K_t = (ᾱ_s - ᾱ_t)/sqrt(ᾱ_t ᾱ_s)`` (0.0001 … 0.39 along 50 steps): no constant ``weight`` can
  reproduce a constant ``zeta``. Each is set to the best value of a small grid on other held-out
  images (8–15): ours ``zeta=3`` (grid 1, 3, 6, 10), deepinv ``weight=100`` (grid 10 … 300).
  deepinv also runs its state in float64 (its default ``dtype``) and clips only the top of x̂₀
  (``clip=[-1, 1]`` applied to ``[0, 1]`` outputs); ours clips x̂₀ to the image range in the update.
* DDRM: ours ``DDRM(steps=N, eta=0.85, eta_b=1)``; deepinv ``DDRM(sigmas=..., eta=0.85, etab=1)`` with
  ``sigmas`` = our N timesteps' noise levels in ``[0, 1]`` units (N network evaluations; both return
  the last denoised estimate). deepinv scales all its fresh noise by 1/√2
  (``std * randn / np.sqrt(2.0)``), a less stochastic chain than the paper's; a PSNR-only diagnostic
  run with that factor removed is reported as "deepinv without 1/√2" (for inpainting it then
  reproduces our samples to float precision: our generator and its global one are both CPU torch
  generators seeded with 1, drawn in the same order).
* DiffPIR: ours ``DiffPIR(steps=N, lam=7, zeta=0.3)``; deepinv ``DiffPIR(max_iter=N, zeta=0.3,
  lambda_=3.5, sigma=0.01)``; both on the official quadratic grid of N timesteps. ``lambda_=3.5`` is
  our (and the official) λ = 7: deepinv's data step is ``prox_{f/(2ρ)}`` with
  ``f = ½‖Ax − y‖²``, i.e. the official step with 2ρ. Both return the state re-noised to t = 0;
  deepinv evaluates the network N times and discards the last estimate, ours N − 1 times.

Timing: for each (method, problem, batch) the cases *ours*, *deepinv* and *network floor* (the same
N network calls — forward, plus backward to the input for DPS — on random input, nothing else)
are interleaved within one run (:func:`common.interleaved`), 1 warm-up + ``repeats`` rounds;
medians are reported. Times are process CPU times on CPU (wall time with CUDA; wall times are in
the JSON too): on the shared 2-core machine wall times swung 2-3x between rounds with other
people's jobs while CPU times stayed within a few percent. ratio = ours / deepinv (target ≤ 1);
"paired ratio" = median of the per-round ratios. "overhead" = time − network floor.
A second table repeats the timings with a stub network (one 3×3 convolution) so that the
per-step cost of the samplers themselves is visible. A quality pass on 8 images (batch 8) gives
mean PSNRs and the paired difference with its standard error. Results:
``benchmarks/results/vs_deepinv_diffusion.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

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
from deepinv_adapters import (
    CountingDiffusionDenoiser,
    ddrm_without_half_variance,
    dps_timesteps,
    public_sigmas,
)

import reddiff_imaging as ri
from reddiff_imaging import metrics
from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.operators import registry
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.priors.sampling import timestep_sequence
from reddiff_imaging.solvers import DDRM, DPS, DiffPIR

NAME = "vs_deepinv_diffusion"
NOISE = 0.01
SEED = 1  # deepinv's DDRM/DiffPIR only seed when `if seed:` holds, so not 0
DPS_ZETA = 3.0
DPS_WEIGHT = 100.0
DDRM_ETA, DDRM_ETA_B = 0.85, 1.0
DIFFPIR_LAM, DIFFPIR_ZETA = 7.0, 0.3

CASES = (("dps", "inpainting-box"), ("ddrm", "inpainting-box"), ("ddrm", "sr4-block"), ("diffpir", "inpainting-box"))


# ---------------------------------------------------------------------------- problems


def build_problem(task: str, images: Tensor, device: str = "cpu") -> tuple[ri.InverseProblem, dinv.physics.Physics]:
    """Our problem (measurement drawn on the CPU) and the equivalent deepinv physics, both on ``device``."""
    op = registry.build(task, (1, 64, 64))
    problem = simulate_on(op, images, NOISE, device)
    op = problem.operator
    noise = dinv.physics.GaussianNoise(NOISE)  # read by deepinv's DDRM/DiffPIR for sigma_y; y is ours
    if task == "inpainting-box":
        physics = dinv.physics.Inpainting(img_size=(1, 64, 64), mask=op.mask.clone(), noise_model=noise)
    elif task == "sr4-block":
        svd = op.svd
        physics = dinv.physics.DecomposablePhysics(
            U=svd.U, U_adjoint=svd.Ut, V=svd.V, V_adjoint=svd.Vt, mask=svd.singular_values[None].float(), noise_model=noise
        )
    else:  # pragma: no cover
        raise ValueError(task)
    physics = physics.to(device)
    check_same_operator(physics, op, task)
    return problem, physics


# ---------------------------------------------------------------------------- the runs


def ours_solver(method: str, steps: int) -> ri.solvers.Solver:
    if method == "dps":
        return DPS(steps=steps, zeta=DPS_ZETA)
    if method == "ddrm":
        return DDRM(steps=steps, eta=DDRM_ETA, eta_b=DDRM_ETA_B)
    return DiffPIR(steps=steps, lam=DIFFPIR_LAM, zeta=DIFFPIR_ZETA)


def make_runs(
    method: str, problem: ri.InverseProblem, physics: dinv.physics.Physics, prior: DiffusionPrior, steps: int, **solve_kwargs: Any
) -> tuple[Callable[[], Tensor], Callable[[], Tensor], CountingDiffusionDenoiser]:
    """(ours, deepinv, the deepinv denoiser adapter) for one method and problem."""
    denoiser = CountingDiffusionDenoiser(prior)
    alphas = prior.alphas_cumprod.tolist()
    timesteps = timestep_sequence(prior.num_timesteps, steps)
    solver = ours_solver(method, steps)
    y = problem.y

    def ours() -> Tensor:
        return solver.solve(problem, prior, generator=torch.Generator(problem.device).manual_seed(SEED), **solve_kwargs).x

    if method == "dps":

        def theirs() -> Tensor:
            sampler = dinv.sampling.DPS(
                denoiser,
                solver=dinv.sampling.DDPMSolver(timesteps=dps_timesteps(timesteps, alphas), rng=torch.Generator(problem.device).manual_seed(SEED)),
                weight=DPS_WEIGHT,
            )
            return sampler(y, physics, seed=SEED)

    elif method == "ddrm":

        def theirs() -> Tensor:
            sampler = dinv.sampling.DDRM(denoiser, sigmas=np.array(public_sigmas(timesteps, alphas)), eta=DDRM_ETA, etab=DDRM_ETA_B)
            return sampler(y, physics, seed=SEED)

    else:

        def theirs() -> Tensor:
            sampler = dinv.sampling.DiffPIR(
                denoiser, dinv.optim.L2(), sigma=NOISE, max_iter=steps, zeta=DIFFPIR_ZETA, lambda_=DIFFPIR_LAM / 2
            )
            return sampler(y, physics, seed=SEED)

    return ours, theirs, denoiser


def network_floor(prior: DiffusionPrior, batch: int, timesteps: list[int], backward: bool) -> Callable[[], None]:
    """The same network calls as the samplers and nothing else (forward; plus backward to the input for DPS)."""
    network = prior.network
    device = next(network.parameters()).device
    x = torch.randn(batch, 1, 64, 64, generator=torch.Generator().manual_seed(0)).to(device)
    ts = [torch.full((batch,), t, dtype=torch.long, device=device) for t in timesteps]

    def run() -> None:
        for t in ts:
            if backward:
                with torch.enable_grad():
                    xx = x.detach().requires_grad_(True)
                    torch.autograd.grad(network(xx, t).sum(), xx)
            else:
                with torch.no_grad():
                    network(x, t)

    return run


class StubEps(nn.Module):
    """A stand-in ε-network: one 3×3 convolution (makes the samplers' own per-step cost visible)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(0.01)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.conv(x)




# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat, no quality pass (< 2 minutes)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3, quick: 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--profile", action="store_true", help="also cProfile ours and deepinv once per case (batch 4)")
    args = parser.parse_args(argv)
    info = setup(args.threads)
    steps = 5 if args.quick else 50
    repeats = args.repeats or (1 if args.quick else 3)
    batches = (1, 4)
    quality_batch = 0 if args.quick else 8
    started = time.perf_counter()
    print(machine_line(info), flush=True)
    print(f"steps={steps} (network evaluations per sample), repeats={repeats}, batches={batches}", flush=True)

    prior = DiffusionPrior.default(map_location=args.device)
    n_params = sum(p.numel() for p in prior.network.parameters())
    timesteps = timestep_sequence(prior.num_timesteps, steps)

    rows: list[dict[str, Any]] = []
    for method, task in CASES:
        for batch in batches:
            images = heldout_images(batch)
            problem, physics = build_problem(task, images, args.device)
            ours, theirs, denoiser = make_runs(method, problem, physics, prior, steps)
            floor = network_floor(prior, batch, timesteps, backward=method == "dps")
            print(f"  {method} {task} B={batch}", flush=True)
            timed = interleaved({"ours": ours, "deepinv": theirs, "floor": floor}, repeats=repeats, warmup=1)
            denoiser.calls = 0
            theirs()
            calls = denoiser.calls
            if calls != steps:
                raise AssertionError(f"deepinv {method} evaluated the network {calls} times, ours {steps}")
            t_ours, t_theirs, t_floor = (timed[k]["median"] for k in ("ours", "deepinv", "floor"))
            out_ours, out_theirs = timed["ours"]["output"], timed["deepinv"]["output"]
            row = {
                "method": method,
                "task": task,
                "batch": batch,
                "steps": steps,
                "network_evaluations_deepinv": calls,
                "seconds_ours": t_ours,
                "seconds_deepinv": t_theirs,
                "seconds_network_floor": t_floor,
                "ratio_time": t_ours / t_theirs,
                "wall_seconds_ours": timed["ours"]["wall"]["median"],
                "wall_seconds_deepinv": timed["deepinv"]["wall"]["median"],
                "wall_seconds_network_floor": timed["floor"]["wall"]["median"],
                "ratio_time_wall": timed["ours"]["wall"]["median"] / timed["deepinv"]["wall"]["median"],
                "ratio_time_paired": paired_ratio(timed["ours"], timed["deepinv"]),
                "ratio_time_of_minima": timed["ours"]["min"] / timed["deepinv"]["min"],
                "ratio_ours_to_floor_paired": paired_ratio(timed["ours"], timed["floor"]),
                "ratio_deepinv_to_floor_paired": paired_ratio(timed["deepinv"], timed["floor"]),
                "overhead_ours_s": t_ours - t_floor,
                "overhead_deepinv_s": t_theirs - t_floor,
                "psnr_ours": mean_psnr(out_ours, images),
                "psnr_deepinv": mean_psnr(out_theirs, images),
                "max_abs_diff_ours_vs_deepinv": float((out_ours.double() - out_theirs.double().to(out_ours.device)).abs().max()),
                "output_dtype_ours": str(out_ours.dtype),
                "output_dtype_deepinv": str(out_theirs.dtype),
                "times_ours": timed["ours"]["times"],
                "times_deepinv": timed["deepinv"]["times"],
                "times_floor": timed["floor"]["times"],
                "wall_times_ours": timed["ours"]["wall"]["times"],
                "wall_times_deepinv": timed["deepinv"]["wall"]["times"],
                "wall_times_floor": timed["floor"]["wall"]["times"],
            }
            if args.profile and batch == batches[-1]:
                row["profile_ours"] = profile_top(ours)
                row["profile_deepinv"] = profile_top(theirs)
            rows.append(row)
            print(
                f"    ours {t_ours:.3f}s  deepinv {t_theirs:.3f}s  floor {t_floor:.3f}s  ratio {t_ours / t_theirs:.3f}  "
                f"PSNR {row['psnr_ours']:.2f} / {row['psnr_deepinv']:.2f}  max |ours - deepinv| {row['max_abs_diff_ours_vs_deepinv']:.2g}",
                flush=True,
            )

    # ---- the samplers' own cost: same runs with a stub network
    stub = DiffusionPrior(StubEps()).to(args.device)
    stub_rows: list[dict[str, Any]] = []
    stub_steps = 50
    for method, task in CASES:
        for batch in batches:
            images = heldout_images(batch)
            problem, physics = build_problem(task, images, args.device)
            ours, theirs, _ = make_runs(method, problem, physics, stub, stub_steps)
            lean, _, _ = make_runs(method, problem, physics, stub, stub_steps, metrics_every=0, check_every=0)
            timed = interleaved({"ours": ours, "ours_lean": lean, "deepinv": theirs}, repeats=max(repeats, 5), warmup=1)
            t_ours, t_lean, t_theirs = (timed[k]["median"] for k in ("ours", "ours_lean", "deepinv"))
            stub_rows.append(
                {
                    "method": method,
                    "task": task,
                    "batch": batch,
                    "steps": stub_steps,
                    "ms_per_step_ours": 1e3 * t_ours / stub_steps,
                    "ms_per_step_ours_lean": 1e3 * t_lean / stub_steps,
                    "ms_per_step_deepinv": 1e3 * t_theirs / stub_steps,
                    "ratio_time": t_ours / t_theirs,
                    "ratio_time_lean": t_lean / t_theirs,
                    "ratio_time_paired": paired_ratio(timed["ours"], timed["deepinv"]),
                }
            )
    print("  stub-network timings done", flush=True)

    # ---- quality: 8 images in one batch, one sample each
    quality: list[dict[str, Any]] = []
    if quality_batch:
        images = heldout_images(quality_batch)
        for method, task in CASES:
            problem, physics = build_problem(task, images, args.device)
            ours, theirs, _ = make_runs(method, problem, physics, prior, steps)
            x_ours = ours().clamp(0, 1)
            truth = problem.x_true
            assert truth is not None  # simulated problems carry their ground truth
            p_ours = metrics.psnr(x_ours, truth)
            p_theirs = metrics.psnr(theirs().float().clamp(0, 1), truth)
            entry = {
                "method": method,
                "task": task,
                "images": quality_batch,
                "psnr_ours": float(p_ours.mean()),
                "psnr_deepinv": float(p_theirs.mean()),
                "diff_mean": float((p_ours - p_theirs).mean()),
                "diff_stderr": float((p_ours - p_theirs).std() / math.sqrt(quality_batch)),
                "psnr_ours_per_image": p_ours.tolist(),
                "psnr_deepinv_per_image": p_theirs.tolist(),
            }
            if method == "ddrm":
                with ddrm_without_half_variance():
                    x_fixed = theirs().clamp(0, 1)
                entry["psnr_deepinv_no_half_variance"] = float(metrics.psnr(x_fixed.float(), truth).mean())
                # inpainting (V = identity): both draw the same seeded CPU torch stream in the same order, identical samples
                entry["max_abs_diff_ours_vs_deepinv_no_half_variance"] = float((x_ours - x_fixed).abs().max())
            quality.append(entry)
            print(f"  quality {method} {task}: {entry['psnr_ours']:.2f} / {entry['psnr_deepinv']:.2f}", flush=True)

    # ---- report
    table = markdown_table(
        ["method", "task", "B", "ours s", "deepinv s", "ratio ours/deepinv (≤1 good)", "paired ratio", "wall ratio", "net floor s",
         "overhead ours s", "overhead deepinv s", "PSNR ours", "PSNR deepinv", "ΔPSNR"],
        [
            [r["method"], r["task"], r["batch"], round(r["seconds_ours"], 3), round(r["seconds_deepinv"], 3),
             round(r["ratio_time"], 3), round(r["ratio_time_paired"], 3), round(r["ratio_time_wall"], 3),
             round(r["seconds_network_floor"], 3), round(r["overhead_ours_s"], 3),
             round(r["overhead_deepinv_s"], 3), round(r["psnr_ours"], 2), round(r["psnr_deepinv"], 2),
             round(r["psnr_ours"] - r["psnr_deepinv"], 2)]
            for r in rows
        ],
    )
    stub_table = markdown_table(
        ["method", "task", "B", "ms/step ours", "ms/step ours lean", "ms/step deepinv", "ratio", "paired ratio", "ratio lean"],
        [
            [r["method"], r["task"], r["batch"], round(r["ms_per_step_ours"], 3), round(r["ms_per_step_ours_lean"], 3),
             round(r["ms_per_step_deepinv"], 3), round(r["ratio_time"], 2), round(r["ratio_time_paired"], 2), round(r["ratio_time_lean"], 2)]
            for r in stub_rows
        ],
    )
    quality_table = markdown_table(
        ["method", "task", "images", "PSNR ours", "PSNR deepinv", "Δ (ours − deepinv) ± s.e.", "deepinv without 1/√2"],
        [
            [q["method"], q["task"], q["images"], round(q["psnr_ours"], 2), round(q["psnr_deepinv"], 2),
             f"{q['diff_mean']:+.2f} ± {q['diff_stderr']:.2f}",
             round(q["psnr_deepinv_no_half_variance"], 2) if "psnr_deepinv_no_half_variance" in q else "–"]
            for q in quality
        ],
    ) if quality else "(skipped in --quick)"
    elapsed = time.perf_counter() - started
    print()
    print(f"## ours vs deepinv {info['deepinv']}: diffusion samplers ({steps} network evaluations, median of {repeats})")
    print()
    print(f"Network: DiffusionPrior.default(), {n_params / 1e6:.2f}M parameters, 1×64×64, shared by both.")
    print()
    print(table)
    print()
    print(f"### Samplers' own cost (stub 3×3-conv network, {stub_steps} steps)")
    print()
    print(stub_table)
    print()
    print(f"### Quality ({quality_batch} held-out images, one sample each)")
    print()
    print(quality_table)
    print()
    print(machine_line(info))
    print(f"Total wall time {elapsed:.0f} s.")
    payload = {
        "benchmark": NAME,
        "quick": args.quick,
        "machine": info,
        "machine_shared": True,
        "settings": {
            "device": args.device,
            "steps": steps,
            "repeats": repeats,
            "warmup": 1,
            "batches": list(batches),
            "noise_sigma": NOISE,
            "seed": SEED,
            "network_parameters": n_params,
            "dps": {"ours_zeta": DPS_ZETA, "deepinv_weight": DPS_WEIGHT, "deepinv_solver": "DDPMSolver on our timesteps, dtype float64"},
            "ddrm": {"eta": DDRM_ETA, "eta_b": DDRM_ETA_B},
            "diffpir": {"ours_lam": DIFFPIR_LAM, "deepinv_lambda_": 2 * DIFFPIR_LAM, "zeta": DIFFPIR_ZETA},
            "timing": "seconds_* / times_*: process CPU time on CPU (wall time with CUDA); wall_*: wall time",
            "ratio": "ours median seconds / deepinv median seconds; ratio_time_paired: median over rounds of the per-round ratio",
        },
        "rows": rows,
        "stub_network_rows": stub_rows,
        "quality": quality,
        "table_markdown": table,
        "stub_table_markdown": stub_table,
        "quality_table_markdown": quality_table,
        "elapsed_seconds": elapsed,
    }
    path = write_json(NAME, payload, args.device)
    print(f"Results written to {path}")
    return payload


if __name__ == "__main__":
    main()
