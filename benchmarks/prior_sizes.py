"""How a prior trained on 64×64 crops behaves on larger images: time per network call and one-step
denoising quality at 64², 256² and 512².

The same pixels are denoised two ways: the whole image in one network call, and cut into 64×64
tiles (the training size) denoised one by one; the denoiser is the prior's one-step Tweedie
estimate (``prior.denoise``), with one fixed noise seed. ``--prior`` chooses the prior and its image:

``default``
    the phantom prior (gray, with self-attention at 16×16) on scikit-image's ``camera`` (512×512):
    its centred 256×256 crop and the full image, σ = 0.1; total variation with the weight the
    workbench's ``tv-denoiser`` uses (8.5) as the classical reference;
``natural``
    the natural-image prior (colour, no attention) on scikit-image's ``astronaut`` (512×512, one
    of the held-out photographs), σ = 25/255; total variation with the weight chosen on the
    validation photographs for that σ by ``natural_prior_quality.py`` (14).

Run: ``OMP_NUM_THREADS=1 python benchmarks/prior_sizes.py [--prior default|natural]`` (a minute or
two on one thread); writes ``benchmarks/results/prior_sizes.json`` (``prior_sizes-natural.json``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from common import setup, write_json
from skimage.data import astronaut, camera

from reddiff_imaging.metrics import psnr
from reddiff_imaging.priors import TV, DiffusionPrior

TILE = 64
#: per prior: how to load it, its test image (C, H, W) in [0, 1], sigma and the TV weight
SETTINGS = {
    "default": (DiffusionPrior.default, lambda: torch.from_numpy(camera().astype(np.float32) / 255.0)[None], 0.1, 8.5),
    "natural": (DiffusionPrior.natural, lambda: torch.from_numpy(astronaut().astype(np.float32) / 255.0).permute(2, 0, 1), 25 / 255, 14.0),
}


def network_seconds(prior: DiffusionPrior, side: int, repeats: int) -> float:
    """Median wall time of one network call on a (1, C, side, side) input (after one warm-up)."""
    assert prior.channels is not None  # the bundled priors' networks give their channel count
    x = torch.zeros(1, prior.channels, side, side)
    t = torch.tensor([100])
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        with torch.no_grad():
            prior.network(x, t)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to each TILE×TILE tile of ``image`` (1, C, H, W), as one batch."""
    _, c, h, w = image.shape
    tiles = image.unfold(2, TILE, TILE).unfold(3, TILE, TILE)  # (1, C, h/T, w/T, T, T)
    rows, cols = tiles.shape[2:4]
    out = fn(tiles.permute(0, 2, 3, 1, 4, 5).reshape(rows * cols, c, TILE, TILE))
    return out.reshape(1, rows, cols, c, TILE, TILE).permute(0, 3, 1, 4, 2, 5).reshape(1, c, h, w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prior", choices=sorted(SETTINGS), default="default")
    args = parser.parse_args()
    machine = setup(1)
    load, image, sigma, tv_weight = SETTINGS[args.prior]
    prior, tv, full = load(), TV(weight=tv_weight), image()[None]
    images = {256: full[..., 128:384, 128:384], 512: full}
    rows = []
    for side, clean in images.items():
        noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            whole = prior.denoise(noisy, sigma).clamp(0, 1)
            by_tiles = tiled(lambda x: prior.denoise(x, sigma), noisy).clamp(0, 1)
        rows.append({
            "side": side,
            "noisy_psnr": float(psnr(noisy.clamp(0, 1), clean)),
            "prior_whole_psnr": float(psnr(whole, clean)),
            "prior_64_tiles_psnr": float(psnr(by_tiles, clean)),
            "tv_psnr": float(psnr(tv.denoise(noisy, sigma).clamp(0, 1), clean)),
        })
    timing = {side: network_seconds(prior, side, repeats) for side, repeats in ((64, 20), (256, 5), (512, 3))}
    result = {"machine": machine, "prior": args.prior, "sigma": sigma, "tv_weight": tv_weight, "denoising": rows, "seconds_per_network_call": timing}
    for row in rows:
        print(
            f"{row['side']}²: noisy {row['noisy_psnr']:.2f} dB, prior whole {row['prior_whole_psnr']:.2f} dB, "
            f"prior in 64² tiles {row['prior_64_tiles_psnr']:.2f} dB, TV {row['tv_psnr']:.2f} dB"
        )
    for side, seconds in timing.items():
        print(f"network call at {side}²: {seconds * 1000:.1f} ms ({seconds / timing[64]:.1f}× the 64² call)")
    write_json("prior_sizes" if args.prior == "default" else f"prior_sizes-{args.prior}", result)


if __name__ == "__main__":
    main()
