"""Judge a training state of the natural prior on the validation photographs alone: one-step
denoising of their 128×128 centre crops (chelsea, rocket) at σ = 25/255, mean PSNR over three noise
draws, for each checkpoint given; with ``--eps-mse`` also the training loss, the ε-MSE, at a few
timesteps on 256 crops of the validation photographs drawn like the training crops (64×64, several
scales, flips, rotations, channel permutations; fixed draws). It never reads the held-out
photographs, so it may decide which state to ship.

Usage: ``python scripts/validation_denoise.py CHECKPOINT [CHECKPOINT ...] [--eps-mse] [--device cuda]``
"""

from __future__ import annotations

import argparse

import torch

from reddiff_imaging.data.photos import VALIDATION_PHOTOS, load_photo, validation_photos
from reddiff_imaging.models import PhotoCropSource, load_unet_checkpoint
from reddiff_imaging.priors import DiffusionPrior

SIGMA = 25 / 255
DRAWS = 3
EPS_TIMESTEPS = (10, 50, 100, 200, 400, 700)
EPS_CROPS = 256


def validation_psnr(path: str, device: str) -> list[float]:
    """Mean PSNR per validation crop over the noise draws."""
    prior = DiffusionPrior.from_checkpoint(path).to(device)
    clean = validation_photos(128).to(device)
    scores = []
    with torch.inference_mode():
        for seed in range(DRAWS):
            noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)).to(device)
            error = (prior.denoise(clean + SIGMA * noise, SIGMA).clamp(0, 1) - clean).pow(2).flatten(1).mean(1)
            scores.append(-10 * error.log10())  # PSNR, peak 1 (reddiff_imaging.metrics needs deepinv, absent on the GPU machine)
    return torch.stack(scores).mean(0).tolist()


def validation_eps_mse(path: str, device: str) -> list[float]:
    """The ε-MSE of the checkpoint's network at each of :data:`EPS_TIMESTEPS`."""
    network, info = load_unet_checkpoint(path, map_location=device)
    source = PhotoCropSource([load_photo(name, channels=3) for name in VALIDATION_PHOTOS], VALIDATION_PHOTOS, 64)
    generator = torch.Generator().manual_seed(1234)
    x0 = (2 * source.sample(EPS_CROPS, generator) - 1).to(device)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    alphas_cumprod = info["schedule"].alphas_cumprod.float()
    errors = []
    with torch.inference_mode():
        for t in EPS_TIMESTEPS:
            xt = alphas_cumprod[t].sqrt() * x0 + (1 - alphas_cumprod[t]).sqrt() * noise
            predicted = torch.cat([network(batch, t) for batch in xt.split(64)])
            errors.append(float((predicted - noise).pow(2).mean()))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--eps-mse", action="store_true", help="also the ε-MSE at a few timesteps on validation crops")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for path in args.checkpoints:
        scores = validation_psnr(path, args.device)
        steps = load_unet_checkpoint(path)[1]["meta"].get("steps")
        print(f"{path} ({steps} steps): chelsea {scores[0]:.3f}, rocket {scores[1]:.3f}, mean {sum(scores) / len(scores):.3f} dB")
        if args.eps_mse:
            errors = validation_eps_mse(path, args.device)
            print("  eps-MSE " + ", ".join(f"t={t}: {e:.5f}" for t, e in zip(EPS_TIMESTEPS, errors)) + f"; sum {sum(errors):.4f}")


if __name__ == "__main__":
    main()
