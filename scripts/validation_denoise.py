"""Judge a training state of the natural prior on the validation photographs alone: one-step
denoising of their 128×128 centre crops (chelsea, rocket) at σ = 25/255, mean PSNR over three noise
draws, for each checkpoint given. It never reads the held-out photographs, so it may decide which
state to ship.

Usage: ``python scripts/validation_denoise.py CHECKPOINT [CHECKPOINT ...] [--device cuda]``
"""

from __future__ import annotations

import argparse

import torch

from reddiff_imaging.data.photos import validation_photos
from reddiff_imaging.models import load_unet_checkpoint
from reddiff_imaging.priors import DiffusionPrior

SIGMA = 25 / 255
DRAWS = 3


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for path in args.checkpoints:
        scores = validation_psnr(path, args.device)
        steps = load_unet_checkpoint(path)[1]["meta"].get("steps")
        print(f"{path} ({steps} steps): chelsea {scores[0]:.3f}, rocket {scores[1]:.3f}, mean {sum(scores) / len(scores):.3f} dB")


if __name__ == "__main__":
    main()
