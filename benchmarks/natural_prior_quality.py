"""How good is the natural-image prior? Numbers for the docs, on the held-out photographs only.

Every number is measured on the 256×256 centre crops of
:data:`~reddiff_imaging.data.photos.HELDOUT_PHOTOS` (as colour images; the gray cameraman is
repeated over the three channels, and noise is drawn per channel); every tuned setting is chosen on
the crops of :data:`~reddiff_imaging.data.photos.VALIDATION_PHOTOS`.

Parts (``--parts``):

``denoise``
    one-step denoising at σ = 25/255: the prior's Tweedie denoiser, alone and as its eightfold
    self-ensemble (:class:`~reddiff_imaging.priors.SelfEnsemble`), against colour BM3D (CBM3D, the
    ``bm3d`` package's ``bm3d_rgb``) and total variation (weight tuned on the validation crops);
``restore``
    Gaussian deblurring (1.5 px, σ = 0.01), 4× super-resolution (block average, σ = 0.01) and
    50 % random inpainting (σ = 0.01): diffusion solvers with the prior, and PnP-ADMM with the
    prior's one-step denoiser (DPIR's continuation: 40 or 8 steps, the denoiser's level falling to
    σ), with its eightfold self-ensemble (40 and 8 steps, the plain denoiser's setting) and with CBM3D
    (8 steps), against ADMM-TV and deepinv's wavelet-prior proximal gradient descent, each with its
    settings tuned on the validation crops (``--tune-size`` makes those smaller than the test crops,
    to save CPU time: the settings are per-pixel weights and step sizes, and DPS's ζ is quoted for
    128×128 and scaled with the square root of the pixel count, see :func:`dps_scale`);
    ``--methods`` and ``--tasks`` measure some rows only and keep the others from the results file;
``hole``
    a 32×32 hole in the centre of each crop: DiffPIR's fill and ADMM-TV's against the truth (mean and
    PSNR of the filled region), each method's setting chosen on the validation crops by the PSNR
    inside the hole (DiffPIR: ζ and its resampling ``repeats``; ADMM-TV: λ and ρ, at 300 iterations);
``samples``
    unconditional samples of the prior (deterministic DDIM, 100 steps) at 64×64 and 128×128.

With ``--figures DIR`` the parts also draw their figures there (``natural_denoise.png``,
``natural_deblur.png``, ``natural_hole.png``, ``natural_samples.png``).

Usage: ``python benchmarks/natural_prior_quality.py [--prior PATH] [--parts denoise restore hole samples]
[--steps N] [--size N] [--tune-size N] [--methods NAME ...] [--tasks NAME ...] [--figures DIR]``. Writes ``benchmarks/results/natural_prior_quality.json`` (merged with earlier parts).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import reddiff_imaging as ri
from reddiff_imaging import metrics, solvers
from reddiff_imaging import operators as ops
from reddiff_imaging.data.photos import HELDOUT_PHOTOS, VALIDATION_PHOTOS, heldout_photos, validation_photos
from reddiff_imaging.priors import TV, BM3DDenoiser, DiffusionPrior, Prior, SelfEnsemble

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "natural_prior_quality.json"
SIGMA_DENOISE = 25 / 255
SIGMA_Y = 0.01


def psnr(estimate: Tensor, truth: Tensor) -> list[float]:
    return [round(float(v), 2) for v in metrics.psnr(estimate.clamp(0, 1), truth)]


def save_panels(path: Path, rows: list[list[tuple[str, Tensor]]], title: str) -> None:
    """A grid of ``(C, H, W)`` images in ``[0, 1]`` with their titles, one list per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.4 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        for ax in ax_row:
            ax.axis("off")
        for ax, (label, image) in zip(ax_row, row):
            ax.imshow(image.clamp(0, 1).permute(1, 2, 0).cpu().numpy())
            ax.set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}", flush=True)


def noisy_copy(x: Tensor, sigma: float, seed: int) -> Tensor:
    return x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def denoise(prior: DiffusionPrior, test: Tensor, validation: Tensor, figures: Path | None) -> dict[str, object]:
    noisy, noisy_val = noisy_copy(test, SIGMA_DENOISE, 0), noisy_copy(validation, SIGMA_DENOISE, 1)

    def tv(weight: float) -> TV:
        return TV(weight=weight, max_iter=300, tol=1e-4)

    weights = (6.0, 8.5, 11.0, 14.0, 20.0, 28.0, 40.0)
    tv_weight = max(weights, key=lambda w: sum(psnr(tv(w).denoise(noisy_val, SIGMA_DENOISE), validation)))
    with torch.inference_mode():
        diffusion = prior.denoise(noisy, SIGMA_DENOISE)
        ensemble = SelfEnsemble(prior).denoise(noisy, SIGMA_DENOISE)
    outputs = {
        "noisy": noisy,
        f"TV (weight {tv_weight}, tuned)": tv(tv_weight).denoise(noisy, SIGMA_DENOISE),
        "CBM3D": BM3DDenoiser().denoise(noisy, SIGMA_DENOISE),
        "diffusion (one step)": diffusion,
        "diffusion x8 (self-ensemble)": ensemble,
    }
    scores = {name: psnr(out, test) for name, out in outputs.items()}
    if figures is not None:
        rows = [
            [(f"{name.split(' (')[0]}\n{scores[name][i]:.2f} dB", out[i]) for name, out in outputs.items()] + [("truth", test[i])]
            for i in range(len(test))
        ]
        save_panels(
            figures / "natural_denoise.png", rows, f"one-step denoising, sigma = 25/255, held-out {test.shape[-1]}x{test.shape[-1]} crops"
        )
    return {"sigma": SIGMA_DENOISE, **scores}


#: the tasks of the restore part, in order
RESTORE_TASKS = ("deblur-gaussian", "sr4-block", "inpainting-random-50")


def tasks(shape: tuple[int, ...]) -> dict[str, ops.LinearOperator]:
    return {
        "deblur-gaussian": ops.Blur(ops.gaussian_kernel(1.5), shape),
        "sr4-block": ops.BlockAverage(4, shape),
        "inpainting-random-50": ops.Inpainting(ops.random_mask(shape[-2:], 0.5, generator=torch.Generator().manual_seed(7)), shape),
    }


def simulate(operator: ops.LinearOperator, x: Tensor, seed: int) -> ri.InverseProblem:
    return ri.InverseProblem.simulate(operator, x, ri.noise.Gaussian(SIGMA_Y), torch.Generator().manual_seed(seed))


def wavelet_pgd(problem: ri.InverseProblem, lam: float, iterations: int = 100) -> Tensor:
    """deepinv's proximal gradient descent with its wavelet (db8, 3 levels, l1) prior."""
    import deepinv as dinv

    operator = problem.operator
    assert isinstance(operator, ops.LinearOperator)
    physics = operator.to_deepinv()
    step = 1.0 / float(operator.norm()) ** 2
    model = dinv.optim.optim_builder(
        iteration="PGD",
        prior=dinv.optim.WaveletPrior(level=3, wv="db8", p=1),
        data_fidelity=dinv.optim.L2(),
        max_iter=iterations,
        early_stop=False,
        params_algo={"stepsize": step, "lambda": lam},
    )
    with torch.no_grad():
        return model(problem.y, physics)


Runner = Callable[[ri.InverseProblem], Tensor]


def diffusion_runner(prior: DiffusionPrior, name: str, seed: int = 0, **options: Any) -> Runner:
    """The diffusion solver ``name`` with ``options``, run with ``seed``."""
    solver = solvers.get(name, **options)
    return lambda p: solver.solve(p, prior, torch.Generator().manual_seed(seed), progress=False).x


def dps_runner(prior: DiffusionPrior, steps: int, zeta_128: float) -> Runner:
    """DPS with ζ quoted at 128×128, scaled to the problem's size (:func:`dps_scale`), seed 0."""
    return lambda p: (
        solvers.get("dps", steps=steps, zeta=zeta_128 * dps_scale(p)).solve(p, prior, torch.Generator().manual_seed(0), progress=False).x
    )


def pnp_runner(prior: Prior, steps: int, sigma: float, rho: float) -> Runner:
    """PnP-ADMM with the prior's one-step denoiser, its level falling from ``sigma`` to the
    measurement's noise level over the steps (the continuation of DPIR, Zhang et al. 2021)."""
    solver = solvers.get("pnp-admm", steps=steps, sigma=sigma, rho=rho, rho_growth=(sigma / SIGMA_Y) ** (2 / steps))
    return lambda p: solver.solve(p, prior, progress=False).x


def admm_tv_runner(tv: TV, steps: int, lam: float, rho: float) -> Runner:
    solver = solvers.get("admm", steps=steps, lam=lam, rho=rho)
    return lambda p: solver.solve(p, tv, progress=False).x


def tuned(
    grid: list[tuple[str, Runner]],
    problems: list[ri.InverseProblem],
    truths: list[Tensor],
    score: Callable[[Tensor, Tensor], list[float]] = psnr,
) -> tuple[str, Runner]:
    """The labelled runner of ``grid`` with the highest total ``score`` (PSNR per image by default)
    on ``problems``; a grid of one is returned without running it."""
    if len(grid) == 1:
        return grid[0]
    return max(grid, key=lambda item: sum(sum(score(item[1](p), x)) for p, x in zip(problems, truths)))


def dps_scale(problem: ri.InverseProblem) -> float:
    """DPS steps by zeta times the gradient of the residual norm, whose entries shrink as 1/sqrt(n)
    for n pixels: zeta grows with sqrt(n), quoted for 128x128 images, so that settings tuned on
    crops of one size carry over to another."""
    height, width = problem.operator.in_shape[-2:]
    return (height * width) ** 0.5 / 128


PNP = "PnP-ADMM (the prior's denoiser)"
PNP_ENSEMBLE = "PnP-ADMM (x8 self-ensemble)"
PNP_8 = "PnP-ADMM, 8 steps (the prior's denoiser)"
PNP_8_ENSEMBLE = "PnP-ADMM, 8 steps (x8 self-ensemble)"
PNP_8_CBM3D = "PnP-ADMM, 8 steps (CBM3D)"
DPIR = "DPIR (the prior's denoiser)"
#: the rows of the restore part, in order
RESTORE_METHODS = (
    "RED-diff", "DiffPIR", "DPS", "DDRM", PNP, PNP_ENSEMBLE, PNP_8, PNP_8_ENSEMBLE, PNP_8_CBM3D, DPIR, "ADMM-TV",
    "wavelet PGD (deepinv)",
)
#: rows that are not tuned but run with the setting chosen for an earlier row: the self-ensemble
#: costs eight times as much as the plain denoiser
FOLLOWS = {PNP_ENSEMBLE: PNP, PNP_8_ENSEMBLE: PNP_8}
#: the deblurring figure of the restore part: its columns (method, short title) between measured and truth
RESTORE_FIGURE = (("ADMM-TV", "ADMM-TV"), (PNP_8_CBM3D, "PnP CBM3D"), (PNP, "PnP, the prior"), ("DiffPIR", "DiffPIR"))


def dpir_grid(denoiser: Prior, task: str) -> list[tuple[str, Runner]]:
    """DPIR with the official steps and last level of ``task`` (its ``paper`` preset; 40 steps, the
    official demosaicking count, for inpainting, which has none) and λ from 0.005 to 0.5 around the official 0.23 (grids that started at 0.1 and at 0.025 had their optimum at the smallest value on super-resolution and inpainting)."""
    preset = solvers.presets.PRESETS["dpir"]["paper"].get(task, {"steps": 40})
    return [(f"lam={lam}, steps={preset['steps']}", dpir_runner(denoiser, {**preset, "lam": lam})) for lam in (0.005, 0.01, 0.025, 0.05, 0.1, 0.23, 0.5)]


def dpir_runner(denoiser: Prior, options: dict[str, Any]) -> Runner:
    solver = solvers.get("dpir", **options)
    return lambda p: solver.solve(p, denoiser, progress=False).x


def pnp_grid(denoiser: Prior, steps: int = 40) -> list[tuple[str, Runner]]:
    return [
        (f"sigma={sigma}, rho={rho}", pnp_runner(denoiser, steps, sigma, rho))
        for sigma, rho in itertools.product((0.1, 0.2, 0.3), (0.0003, 0.001, 0.003))
    ]


def restore(
    prior: DiffusionPrior,
    test: Tensor,
    validation: Tensor,
    steps: int,
    methods: tuple[str, ...] = RESTORE_METHODS,
    figures: Path | None = None,
    task_names: tuple[str, ...] = RESTORE_TASKS,
) -> dict[str, object]:
    tv = TV(weight=1.0, max_iter=200, tol=1e-4)
    candidates: dict[str, list[tuple[str, Runner]]] = {
        "RED-diff": [
            (f"lam={lam}, lr={lr}", diffusion_runner(prior, "reddiff", steps=steps, lam=lam, lr=lr))
            for lam, lr in itertools.product((0.03, 0.1, 0.25), (0.1, 0.25, 0.5))
        ],
        "DiffPIR": [
            (f"lam={lam}, zeta={zeta}", diffusion_runner(prior, "diffpir", steps=steps, lam=lam, zeta=zeta))
            for lam, zeta in itertools.product((0.3, 1.0, 3.0, 7.0), (0.3, 1.0))
        ],
        "DPS": [(f"zeta={zeta} at 128x128", dps_runner(prior, steps, zeta)) for zeta in (3.0, 10.0, 30.0)],
        "DDRM": [("eta=0.85, eta_b=1", diffusion_runner(prior, "ddrm", steps=steps))],
        PNP: pnp_grid(prior),
        # DPIR's eight steps, for the denoisers that cost eight network calls (the self-ensemble)
        # or seconds (CBM3D on the CPU) a call
        PNP_8: pnp_grid(prior, steps=8),
        PNP_8_CBM3D: pnp_grid(BM3DDenoiser(), steps=8),
        "ADMM-TV": [
            (f"lam={lam}, rho={rho}", admm_tv_runner(tv, 150, lam, rho))
            for lam, rho in itertools.product((0.0003, 0.001, 0.003, 0.01, 0.03), (0.1, 0.3, 1.0))
        ],
        "wavelet PGD (deepinv)": [
            (f"lambda={lam}", functools.partial(wavelet_pgd, lam=lam)) for lam in (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
        ],
    }
    ensemble = SelfEnsemble(prior)
    followers = {PNP_ENSEMBLE: dict(pnp_grid(ensemble)), PNP_8_ENSEMBLE: dict(pnp_grid(ensemble, steps=8))}
    report: dict[str, object] = {"steps": steps, "sigma_y": SIGMA_Y}
    validation_operators = tasks(tuple(validation.shape[1:]))
    for task, operator in tasks(tuple(test.shape[1:])).items():
        if task not in task_names:
            continue
        val_problems = [simulate(validation_operators[task], validation, 1)]
        problem = simulate(operator, test, 0)
        rows: dict[str, Any] = {"pseudo-inverse": psnr(operator.pinv(problem.y), test)}
        outputs: dict[str, Tensor] = {}
        for method in methods:
            t0 = time.perf_counter()
            if method in FOLLOWS:
                setting = rows[FOLLOWS[method]]["setting"]
                run = followers[method][setting]
            else:
                grid = dpir_grid(prior, task) if method == DPIR else candidates[method]
                setting, run = tuned(grid, val_problems, [validation])
            out = outputs[method] = run(problem)
            rows[method] = {"psnr": psnr(out, test), "setting": setting, "seconds": round(time.perf_counter() - t0, 1)}
            print(task, method, rows[method], flush=True)
        report[task] = rows
        if figures is not None and task == "deblur-gaussian":
            panels = [
                [
                    ("measured", problem.y[i]),
                    *((f"{title} {rows[m]['psnr'][i]:.2f}", outputs[m][i]) for m, title in RESTORE_FIGURE),
                    ("truth", test[i]),
                ]
                for i in range(len(test))
            ]
            save_panels(
                figures / "natural_deblur.png",
                panels,
                f"Gaussian deblurring (1.5 px, sigma 0.01) of {test.shape[-1]}x{test.shape[-1]} held-out crops, PSNR in dB",
            )
    return report


def hole_problem(images: Tensor, seed: int) -> tuple[ri.InverseProblem, Tensor]:
    """A 32×32 hole in the centre of each image, and the boolean map of the hole's pixels."""
    side = images.shape[-1]
    operator = ops.Inpainting(ops.box_mask((side, side), 32), tuple(images.shape[1:]))
    return simulate(operator, images, seed), ~operator.mask.bool().expand_as(images)


def region_psnr(estimate: Tensor, truth: Tensor, region: Tensor) -> list[float]:
    """PSNR over the pixels of ``region`` only, per image (peak 1)."""
    errors = [float(((e.clamp(0, 1) - x)[m] ** 2).mean()) for e, x, m in zip(estimate, truth, region)]
    return [round(-10 * math.log10(err), 2) for err in errors]


def hole(prior: DiffusionPrior, test: Tensor, validation: Tensor, steps: int, figures: Path | None) -> dict[str, object]:
    problem, inside = hole_problem(test, 0)
    val_problem, val_inside = hole_problem(validation, 1)

    def diffpir(zeta: float, repeats: int, seed: int) -> Runner:
        return diffusion_runner(prior, "diffpir", seed, steps=steps, lam=1.0, zeta=zeta, repeats=repeats)

    def in_hole(estimate: Tensor, truth: Tensor) -> list[float]:
        return region_psnr(estimate, truth, val_inside)

    def region_mean(images: Tensor) -> list[float]:
        return [round(float(img[m].mean()), 4) for img, m in zip(images, inside)]

    diffpir_settings = {
        f"lam=1, zeta={zeta}, repeats={repeats}": (zeta, repeats) for zeta, repeats in itertools.product((0.3, 1.0), (1, 4))
    }
    candidates: dict[str, list[tuple[str, Runner]]] = {
        "DiffPIR": [(label, diffpir(*setting, 0)) for label, setting in diffpir_settings.items()],
        "ADMM-TV": [
            (f"lam={lam}, rho={rho}", admm_tv_runner(TV(), 300, lam, rho))
            for lam, rho in itertools.product((0.001, 0.01), (0.01, 0.1, 1.0))
        ],
    }
    fills: dict[str, Tensor] = {}
    settings: dict[str, str] = {}
    report: dict[str, object] = {"truth mean": region_mean(test)}
    for method, grid in candidates.items():
        settings[method], run = tuned(grid, [val_problem], [validation], score=in_hole)
        fill = fills[method] = run(problem)
        report[method] = {
            "setting": settings[method],
            "mean": region_mean(fill),
            "hole psnr": region_psnr(fill, test, inside),
            "psnr": psnr(fill, test),
        }
        print("hole", method, report[method], flush=True)
    # one fill is one posterior sample: three more seeds show how far its mean strays
    more = [region_mean(diffpir(*diffpir_settings[settings["DiffPIR"]], seed)(problem)) for seed in (1, 2, 3)]
    report["DiffPIR, seeds 1-3"] = {"mean": more}

    if figures is not None:
        measured = problem.y.masked_fill(inside, 0.0)
        rows = [
            [("measured", measured[i]), ("ADMM-TV", fills["ADMM-TV"][i]), ("DiffPIR", fills["DiffPIR"][i]), ("truth", test[i])]
            for i in range(len(test))
        ]
        save_panels(figures / "natural_hole.png", rows, f"a 32x32 hole in {test.shape[-1]}x{test.shape[-1]} held-out crops")
    return report


def samples(prior: DiffusionPrior, figures: Path | None) -> dict[str, object]:
    """Eight samples at 64×64 (the training size) and four at 128×128, DDIM 100 steps, η = 0."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        small = prior.sample(8, torch.Generator().manual_seed(0), shape=(3, 64, 64))
        large = prior.sample(4, torch.Generator().manual_seed(1), shape=(3, 128, 128))
    if figures is not None:
        save_panels(
            figures / "natural_samples.png",
            [[("64x64", x) for x in small[:4]], [("64x64", x) for x in small[4:]], [("128x128", x) for x in large]],
            "unconditional samples of the natural prior (DDIM, 100 steps, eta = 0)",
        )
    return {"count": [8, 4], "sizes": [64, 128], "seconds": round(time.perf_counter() - t0, 1)}


def merged(kept: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    """The restore part's report ``kept`` from the results file with the rows just ``measured``
    put over it, task by task."""
    tasks_merged = {key: {**kept.get(key, {}), **rows} for key, rows in measured.items() if isinstance(rows, dict)}
    return {**kept, **measured, **tasks_merged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--prior",
        default=str(ROOT / "reddiff_imaging" / "data" / "assets" / "natural_prior.pt"),
        help="checkpoint (default: the shipped natural prior)",
    )
    parser.add_argument("--parts", nargs="+", default=["denoise", "restore", "hole"], choices=["denoise", "restore", "hole", "samples"])
    parser.add_argument("--figures", type=Path, default=None, help="folder for the figures of denoise, restore, hole and samples")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument(
        "--tune-size", type=int, default=None, help="size of the validation crops the restore part tunes on (default: --size)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=RESTORE_METHODS,
        default=RESTORE_METHODS,
        help="rows of the restore part to measure (default: all); the other rows are kept from the results file",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=RESTORE_TASKS,
        default=RESTORE_TASKS,
        help="tasks of the restore part to measure (default: all); the other tasks' rows are kept from the results file",
    )
    args = parser.parse_args()
    methods = tuple(m for m in RESTORE_METHODS if m in args.methods or m in (FOLLOWS.get(n) for n in args.methods))
    tune_size = args.tune_size or args.size
    missing = [m for m, _ in RESTORE_FIGURE if m not in methods]
    if args.figures is not None and "restore" in args.parts and missing:
        parser.error(f"--figures draws the restore part's figure from the rows it measures: add {missing} to --methods")
    prior = DiffusionPrior.from_checkpoint(args.prior)
    test, validation = heldout_photos(args.size), validation_photos(args.size)
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    from reddiff_imaging.models import load_unet_checkpoint

    path = Path(args.prior).resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    measured_with = {"path": str(shown), "steps": load_unet_checkpoint(path)[1]["meta"]["steps"]}
    task_names = tuple(t for t in RESTORE_TASKS if t in args.tasks)
    kept = report.get("restore", {}) if methods != RESTORE_METHODS or task_names != RESTORE_TASKS else {}
    if kept:
        now = {"size": args.size, "tune_size": tune_size, "steps": args.steps, "prior": measured_with}
        then = {**{key: kept.get(key) for key in now}, "prior": report.get("prior")}
        if now != then:
            parser.error(
                f"--methods/--tasks measure some rows only, and the rows kept in {RESULTS.name} were measured with {then}, not {now}"
            )
    report["prior"] = measured_with
    report["images"] = {"test": list(HELDOUT_PHOTOS), "validation": list(VALIDATION_PHOTOS)}
    for part in args.parts:
        t0 = time.perf_counter()
        if part == "denoise":
            entry = denoise(prior, test, validation, args.figures)
        elif part == "restore":
            tuning = validation if tune_size == args.size else validation_photos(tune_size)
            measured = restore(prior, test, tuning, args.steps, methods, args.figures, task_names)
            entry = {**merged(kept, measured), "tune_size": tune_size}
        elif part == "hole":
            entry = hole(prior, test, validation, args.steps, args.figures)
        else:
            entry = samples(prior, args.figures)
        report[part] = {**entry, "size": args.size}
        print(part, json.dumps(report[part]), f"{time.perf_counter() - t0:.0f} s", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
