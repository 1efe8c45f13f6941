"""Deepening a trained :class:`~reddiff_imaging.models.UNet` without changing what it computes.

:func:`deepened` returns the network with one more residual block per level (``num_res_blocks``
plus one) that computes exactly the same function, so that training can go on from a trained
network with more capacity instead of starting again: Net2Net's deepening (T. Chen, I. Goodfellow,
J. Shlens, "Net2Net: Accelerating learning via knowledge transfer", ICLR 2016), done here with the
residual blocks' own identity initialisation.

A residual block :math:`x \\mapsto S x + W_2\\, \\phi(W_1 x)` whose last convolution :math:`W_2` is
zero and whose skip :math:`S` is the identity maps :math:`x \\mapsto x`. On the way down, the added
block of each level follows the trained ones, so it passes their output on, and the skip connection
it adds carries the same features as the one before it. On the way up, each level's first trained
block is followed by an added block that takes ``[h, skip]`` (the concatenation of the running
features and that duplicated skip) with :math:`S = [I\\;0]`: it keeps ``h`` and drops the
duplicate; the level's other trained blocks then meet the skips they were trained with. Attention
layers, where the level has them, start as the identity too (zero output projection). The added
blocks' first convolutions are drawn at random, so their gradients are not zero and they learn.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .unet import ResBlock, UNet

__all__ = ["deepened"]


def deepened(unet: UNet, *, seed: int = 0) -> UNet:
    """``unet`` with one more residual block per level, computing the same function.

    Args:
        unet: a trained network (left unchanged).
        seed: seed of the added blocks' random first convolutions (the global RNG is left as it was).

    Returns:
        A new :class:`UNet` with ``num_res_blocks + 1`` blocks per level, on ``unet``'s device and
        dtype, in ``unet``'s training mode, whose output equals ``unet``'s up to rounding.
    """
    if not isinstance(unet, UNet):
        raise TypeError(f"unet must be a UNet, got {type(unet).__name__}")
    config = unet.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = UNet(replace(config, num_res_blocks=config.num_res_blocks + 1))
    parameter = next(unet.parameters())
    grown.to(device=parameter.device, dtype=parameter.dtype).train(unet.training)
    for name in ("time_mlp", "conv_in", "mid", "norm_out", "conv_out"):
        getattr(grown, name).load_state_dict(getattr(unet, name).state_dict())

    levels, blocks = len(config.channel_mults), config.num_res_blocks
    trained, added = iter(unet.down), iter(grown.down)
    for level in range(levels):
        for _ in range(blocks):
            next(added).load_state_dict(next(trained).state_dict())
        next(added)  # the new block, the identity as built (zero last convolution, identity skip)
        if level < levels - 1:  # the downsampling stage
            next(added).load_state_dict(next(trained).state_dict())

    trained, added = iter(unet.up), iter(grown.up)
    for _ in range(levels):
        next(added).load_state_dict(next(trained).state_dict())
        stage = next(added)  # the new block: [h, skip] -> h
        assert isinstance(stage, nn.ModuleList) and isinstance(stage[0], ResBlock) and isinstance(stage[0].skip, nn.Conv2d)
        _keep_first_channels(stage[0].skip)
        for _ in range(blocks):
            next(added).load_state_dict(next(trained).state_dict())
    return grown


def _keep_first_channels(skip: nn.Conv2d) -> None:
    """Make a 1x1 convolution from ``2c`` to ``c`` channels the projection onto the first ``c``."""
    with torch.no_grad():
        skip.weight.zero_()
        out_channels = skip.weight.shape[0]
        skip.weight[:, :out_channels, 0, 0] = torch.eye(out_channels, dtype=skip.weight.dtype)
        if skip.bias is not None:
            skip.bias.zero_()
