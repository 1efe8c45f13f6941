"""How the bundled prior, trained on 64×64 crops, behaves on larger images: time per network call
and one-step denoising quality at 64², 256² and 512².

The same pixels are denoised two ways: the whole image in one network call, and cut into 64×64
tiles (the training size) denoised one by one. The image is scikit-image's ``camera`` (512×512,
gray): its centred 256×256 crop and the full image. Noise: Gaussian, σ = 0.1 (public units), one
fixed seed; the denoiser is the prior's one-step Tweedie estimate (``prior.denoise``). The total
variation denoiser the workbench calls ``tv-denoiser`` (weight 8.5) is the classical reference.

Run: ``OMP_NUM_THREADS=1 python benchmarks/prior_sizes.py`` (about a minute on one thread);
writes ``benchmarks/results/prior_sizes.json``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from common import setup, write_json
from skimage.data import camera

from reddiff_imaging.metrics import psnr
from reddiff_imaging.priors import TV, DiffusionPrior

SIGMA = 0.1
TILE = 64


def network_seconds(prior: DiffusionPrior, side: int, repeats: int) -> float:
    """Median wall time of one network call on a (1, 1, side, side) input (after one warm-up)."""
    x = torch.zeros(1, 1, side, side)
    t = torch.tensor([100])
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        with torch.no_grad():
            prior.network(x, t)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def tiled(fn, image: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to each TILE×TILE tile of ``image`` (1, 1, H, W), as one batch."""
    _, _, h, w = image.shape
    tiles = image.unfold(2, TILE, TILE).unfold(3, TILE, TILE)  # (1, 1, h/T, w/T, T, T)
    rows, cols = tiles.shape[2:4]
    out = fn(tiles.reshape(rows * cols, 1, TILE, TILE))
    return out.reshape(1, 1, rows, cols, TILE, TILE).permute(0, 1, 2, 4, 3, 5).reshape(1, 1, h, w)


def main() -> None:
    machine = setup(1)
    prior = DiffusionPrior.default()
    tv = TV(weight=8.5)
    full = torch.from_numpy(camera().astype(np.float32) / 255.0)[None, None]
    images = {256: full[..., 128:384, 128:384], 512: full}
    rows = []
    for side, clean in images.items():
        noisy = clean + SIGMA * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        whole = prior.denoise(noisy, SIGMA).clamp(0, 1)
        by_tiles = tiled(lambda x: prior.denoise(x, SIGMA), noisy).clamp(0, 1)
        rows.append({
            "side": side,
            "noisy_psnr": float(psnr(noisy.clamp(0, 1), clean)),
            "prior_whole_psnr": float(psnr(whole, clean)),
            "prior_64_tiles_psnr": float(psnr(by_tiles, clean)),
            "tv_psnr": float(psnr(tv.denoise(noisy, SIGMA).clamp(0, 1), clean)),
        })
    timing = {side: network_seconds(prior, side, repeats) for side, repeats in ((64, 20), (256, 5), (512, 3))}
    result = {"machine": machine, "sigma": SIGMA, "denoising": rows, "seconds_per_network_call": timing}
    for row in rows:
        print(
            f"{row['side']}²: noisy {row['noisy_psnr']:.2f} dB, prior whole {row['prior_whole_psnr']:.2f} dB, "
            f"prior in 64² tiles {row['prior_64_tiles_psnr']:.2f} dB, TV {row['tv_psnr']:.2f} dB"
        )
    for side, seconds in timing.items():
        print(f"network call at {side}²: {seconds * 1000:.1f} ms ({seconds / timing[64]:.1f}× the 64² call)")
    write_json("prior_sizes", result)


if __name__ == "__main__":
    main()
