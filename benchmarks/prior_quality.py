"""Is the bundled default prior a real prior? Numbers and figures for the docs.

On the held-out images:

1. one-step denoising at σ = 0.1: the diffusion prior's Tweedie denoiser against the best-tuned TV
   denoiser (weight swept), Gaussian, median, wavelet and BM3D denoisers (BM3D when installed);
2. 20×20 box inpainting (σ = 0.01): RED-diff with the prior against ADMM-TV (both tuned over a
   small grid on validation images, then run on the held-out images);
3. unconditional DDIM samples next to training images (figure), for several sampler settings, and
   how close they are to the scenes: the share of edge pixels, the distance between
   gradient-magnitude distributions and a noise estimate, against training scenes, another set of
   them (floor) and the same scenes blurred by 1 pixel;
4. the training loss curve from the training state (figure).

Usage: ``python benchmarks/prior_quality.py [--quick] [--state training/default_prior/state.pt]``.
Writes ``benchmarks/results/prior_quality.json`` and figures into ``docs/_static/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import reddiff_imaging as ri
from reddiff_imaging import image_statistics, metrics
from reddiff_imaging import operators as ops
from reddiff_imaging.data import heldout_images, synthetic_images, validation_images
from reddiff_imaging.priors import (
    TV,
    DiffusionPrior,
    GaussianFilterDenoiser,
    MedianDenoiser,
    Prior,
    WaveletDenoiser,
)
from reddiff_imaging.solvers import ADMM, RedDiff, Solver

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
STATIC = ROOT / "docs" / "_static"


def denoising(prior: DiffusionPrior, x: torch.Tensor, sigma: float) -> dict[str, float]:
    noisy = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    scores = {"noisy": noisy}
    scores["diffusion (one step)"] = prior.denoise(noisy, sigma)
    best = max(
        ((w, TV(weight=w, max_iter=500, tol=1e-4).denoise(noisy, sigma)) for w in (4.0, 6.0, 8.5, 11.0, 14.0)),
        key=lambda item: float(metrics.psnr(item[1].clamp(0, 1), x).mean()),
    )
    scores[f"TV (best weight {best[0]})"] = best[1]
    scores["Gaussian filter"] = GaussianFilterDenoiser().denoise(noisy, sigma)
    scores["median"] = MedianDenoiser().denoise(noisy, sigma)
    scores["wavelet (Haar)"] = WaveletDenoiser().denoise(noisy, sigma)
    try:
        from reddiff_imaging.priors import BM3DDenoiser

        scores["BM3D"] = BM3DDenoiser().denoise(noisy, sigma)
    except ImportError:
        pass
    return {name: float(metrics.psnr(out.clamp(0, 1), x).mean()) for name, out in scores.items()}


def inpainting(prior: DiffusionPrior, x: torch.Tensor, validation: torch.Tensor, steps: int) -> dict[str, object]:
    operator = ops.registry.build("inpainting-box", x.shape[1:])
    assert isinstance(operator, ops.LinearOperator)  # box inpainting: a mask, with its pinv

    def problem(images: torch.Tensor) -> ri.InverseProblem:
        return ri.InverseProblem.simulate(operator, images, ri.noise.Gaussian(0.01), torch.Generator().manual_seed(1))

    def psnr(solver: Solver, images: torch.Tensor, p: Prior) -> float:
        return float(metrics.psnr(solver.solve(problem(images), p, torch.Generator().manual_seed(0)).x.clamp(0, 1), images).mean())

    tv = TV(weight=1.0, max_iter=300, tol=1e-4)
    admm = max((ADMM(steps=200, lam=lam, rho=rho) for lam in (0.01, 0.03, 0.1) for rho in (0.3, 1.0, 3.0)), key=lambda s: psnr(s, validation, tv))
    reddiff = max((RedDiff(steps=steps, lam=lam, lr=lr) for lam in (0.1, 0.25, 0.5) for lr in (0.1, 0.25)), key=lambda s: psnr(s, validation, prior))
    return {
        "pseudo-inverse": float(metrics.psnr(operator.pinv(problem(x).y).clamp(0, 1), x).mean()),
        f"ADMM-TV (lam {admm.lam}, rho {admm.rho}, 200 iterations)": psnr(admm, x, tv),
        f"RED-diff (lam {reddiff.lam}, lr {reddiff.lr}, {steps} steps)": psnr(reddiff, x, prior),
    }


SAMPLERS = ((100, 0.0), (250, 0.0), (100, 1.0))
"""(steps, η) of the DDIM settings compared; the figure shows the first."""


def samples_figure(generated: torch.Tensor, path: Path) -> None:
    from reddiff_imaging.workbench.figures import sample_grid

    training = synthetic_images(16, 64, seed=123)
    sample_grid(torch.cat([training[:8], generated[:8], training[8:], generated[8:16]]), path, ncols=8)


def edge_statistics(generated: torch.Tensor) -> dict[str, float]:
    """How sharp the samples are next to training scenes: the share of pixels whose gradient
    magnitude exceeds 0.1 ("edge pixels"), the 1-D Wasserstein-1 distance between the gradient
    magnitude distributions against ``len(generated)`` scenes of the training distribution, and
    the noise level left in them (means over the images).

    For scale: another set of training scenes (``floor``, what a perfect sampler would get) and the
    same scenes blurred by a Gaussian of std 1 pixel (``scenes_blurred_1px``)."""
    from torchvision.transforms.functional import gaussian_blur

    n = generated.shape[0]
    training = synthetic_images(n, 64, seed=456)
    reference = image_statistics.gradient_magnitude(training).flatten()
    scenes = synthetic_images(n, 64, seed=789)
    sets = {"samples": generated, "floor": scenes, "scenes_blurred_1px": gaussian_blur(scenes, [5, 5], [1.0, 1.0])}
    report = {"edge_pixels_training": float(image_statistics.edge_fraction(training).mean())}
    for name, images in sets.items():
        values = image_statistics.gradient_magnitude(images).flatten()
        report[f"edge_pixels_{name}"] = float(image_statistics.edge_fraction(images).mean())
        report[f"w1_gradients_{name}"] = float((values.sort().values - reference.sort().values).abs().mean())
        report[f"noise_{name}"] = float(image_statistics.noise_level(images).mean())
    return report


def loss_figure(state_path: Path, path: Path) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    state = torch.load(state_path, map_location="cpu", weights_only=True)
    log = state["loss_log"]
    steps, losses, seconds = zip(*log, strict=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, losses)
    ax.set_yscale("log")
    ax.set_xlabel("training step (batch 32)")
    ax.set_ylabel("smoothed ε-MSE")
    ax.set_title(f"default prior: {steps[-1]} steps, {seconds[-1] / 3600:.1f} h of CPU training")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"steps": float(steps[-1]), "hours": seconds[-1] / 3600, "final_loss": float(losses[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--state", default=str(ROOT / "training" / "default_prior" / "state.pt"))
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    prior = DiffusionPrior.default()
    n = 4 if args.quick else 16
    x = heldout_images(n)
    validation = validation_images(2 if args.quick else 4)
    STATIC.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "images": n,
        "denoising_sigma_0.1": denoising(prior, x, 0.1),
        "box_inpainting_20x20": inpainting(prior, x[: 4 if args.quick else 8], validation, 30 if args.quick else 100),
    }
    report["ddim_samples"] = {}
    for steps, eta in [(20, 0.0)] if args.quick else SAMPLERS:
        generated = prior.sample(16 if args.quick else 48, torch.Generator().manual_seed(0), steps=steps, eta=eta)
        if not report["ddim_samples"]:
            samples_figure(generated, STATIC / "ddim_samples.png")
        report["ddim_samples"][f"{steps} steps, eta {eta}"] = {"count": generated.shape[0], **edge_statistics(generated)}
    if Path(args.state).is_file():
        report["training"] = loss_figure(Path(args.state), STATIC / "loss_curve.png")
    report["seconds"] = time.perf_counter() - start
    (RESULTS / "prior_quality.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
