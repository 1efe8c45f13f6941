"""A small epsilon-prediction UNet for diffusion models.

The network :math:`\\varepsilon_\\theta(x_t, t)` predicts the noise that was added to a clean image
:math:`x_0` (in the network range ``[-1, 1]``) to give

.. math::

    x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon,
    \\qquad \\varepsilon \\sim \\mathcal N(0, I),

as in DDPM (J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020).
The layout follows the improved-DDPM / ADM family (A. Nichol, P. Dhariwal, "Improved Denoising
Diffusion Probabilistic Models", ICML 2021): residual blocks with GroupNorm and SiLU into which a
sinusoidal timestep embedding is injected, strided-convolution downsampling, nearest-neighbour
upsampling, skip connections by concatenation, and multi-head self-attention at chosen low
resolutions. With ``out_channels = 2 * in_channels`` the second half of the output is the
learned-variance interpolation coefficient of Nichol & Dhariwal (2021).

The default :class:`UNetConfig` (base 16 channels, multipliers ``(1, 2, 3, 3)`` i.e. 16/32/48/48
channels at 64/32/16/8 pixels, one residual block per level, attention at 16x16 and in the middle
block at 8x8, 128-wide time embedding) has 0.73 M parameters and is sized for 64x64 grayscale images on
CPU: one Adam step at batch 32 takes about 1 s on one CPU thread. (Wider first levels cost far more
time than parameters: base 32 with ``(1, 2, 2)`` has 1.1 M parameters but takes 2.3 s per step.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["UNetConfig", "UNet", "timestep_embedding"]


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of :class:`UNet`.

    Args:
        in_channels: image channels ``C``.
        out_channels: ``C`` (epsilon only) or ``2 * C`` (epsilon and learned variance);
            ``None`` means ``C``.
        image_size: side of the (square) training images; attention resolutions refer to it.
        base_channels: channels of the first level; every level has
            ``base_channels * channel_mults[level]`` channels.
        channel_mults: channel multiplier per resolution level; the image is halved between levels,
            so ``image_size`` must be divisible by ``2 ** (len(channel_mults) - 1)``.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_resolutions: feature-map sides at which self-attention layers are inserted
            (each must be one of the levels' sides).
        num_heads: attention heads; must divide the channels of every attention layer.
        num_groups: GroupNorm groups; must divide every channel count.
        dropout: dropout probability inside the residual blocks.
        time_embed_dim: width of the timestep embedding MLP; ``None`` means ``4 * base_channels``.
            The sinusoidal features fed to the MLP have ``2 * max(1, time_embed_dim // 8)`` entries.
    """

    in_channels: int = 1
    out_channels: int | None = None
    image_size: int = 64
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 3, 3)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (16,)
    num_heads: int = 1
    num_groups: int = 8
    dropout: float = 0.0
    time_embed_dim: int | None = 128

    def __post_init__(self) -> None:
        # Normalise sequences (e.g. lists from JSON) to tuples so the config stays hashable.
        object.__setattr__(self, "channel_mults", _int_tuple(self.channel_mults, "channel_mults"))
        object.__setattr__(
            self, "attention_resolutions", _int_tuple(self.attention_resolutions, "attention_resolutions", allow_empty=True)
        )
        for name in ("in_channels", "image_size", "base_channels", "num_heads", "num_groups"):
            _check_int(getattr(self, name), name, minimum=1)
        _check_int(self.num_res_blocks, "num_res_blocks", minimum=1)
        if self.out_channels is not None:
            _check_int(self.out_channels, "out_channels", minimum=1)
            if self.out_channels not in (self.in_channels, 2 * self.in_channels):
                raise ValueError(
                    f"out_channels must be in_channels ({self.in_channels}) or 2 * in_channels "
                    f"({2 * self.in_channels}, learned variance), got {self.out_channels}"
                )
        if self.time_embed_dim is not None:
            _check_int(self.time_embed_dim, "time_embed_dim", minimum=1)
        if any(m < 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults must hold positive ints, got {self.channel_mults}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")
        factor = 2 ** (len(self.channel_mults) - 1)
        if self.image_size % factor:
            raise ValueError(
                f"image_size must be divisible by 2 ** (len(channel_mults) - 1) = {factor}, "
                f"got image_size={self.image_size}"
            )
        for mult in self.channel_mults:
            channels = self.base_channels * mult
            if channels % self.num_groups:
                raise ValueError(
                    f"every channel count must be divisible by num_groups={self.num_groups}; "
                    f"base_channels * mult = {self.base_channels} * {mult} = {channels} is not"
                )
        sides = self.level_sides
        for res in self.attention_resolutions:
            if res not in sides:
                raise ValueError(
                    f"attention_resolutions must be feature-map sides among {sides}, got {res}"
                )
            channels = self.base_channels * self.channel_mults[sides.index(res)]
            if channels % self.num_heads:
                raise ValueError(
                    f"num_heads={self.num_heads} must divide the {channels} channels of the "
                    f"attention layer at resolution {res}"
                )

    @property
    def level_sides(self) -> tuple[int, ...]:
        """Feature-map side at each level, e.g. ``(64, 32, 16)``."""
        return tuple(self.image_size // 2**i for i in range(len(self.channel_mults)))

    @property
    def resolved_out_channels(self) -> int:
        """``out_channels`` with ``None`` replaced by ``in_channels``."""
        return self.in_channels if self.out_channels is None else self.out_channels

    @property
    def learned_variance(self) -> bool:
        """Whether the network also outputs a variance channel per image channel."""
        return self.resolved_out_channels == 2 * self.in_channels

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, ints, floats, None) suitable for JSON and ``torch.load(weights_only=True)``."""
        out = asdict(self)
        out["channel_mults"] = list(self.channel_mults)
        out["attention_resolutions"] = list(self.attention_resolutions)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError naming them."""
        if not isinstance(data, dict):
            raise TypeError(f"UNetConfig.from_dict expects a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown UNetConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**data)


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _int_tuple(value: object, name: str, *, allow_empty: bool = False) -> tuple[int, ...]:
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}")
    out = tuple(value)
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must hold ints, got {out!r}")
    if not out and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return out


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (integer) timesteps, as in the Transformer and DDPM.

    .. math::

        e(t)_{i} = \\cos(t\\, \\omega_i), \\quad e(t)_{i + d/2} = \\sin(t\\, \\omega_i), \\quad
        \\omega_i = P^{-i / (d/2)}, \\; i = 0, \\dots, d/2 - 1,

    with :math:`P` = ``max_period``. Returns a float32 tensor of shape ``(B, dim)``.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _zero_init(conv: nn.Conv2d) -> None:
    """Zero a convolution's weight and bias: a residual branch ending in it starts as the identity."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv twice, with the time embedding added between, and a residual path."""

    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb = nn.Linear(temb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        _zero_init(self.conv2)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the spatial positions, with a residual connection."""

    def __init__(self, channels: int, groups: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        _zero_init(self.proj)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (B, heads, HW, c/heads)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling followed by a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Stage(nn.ModuleList):
    """Layers applied in turn; a :class:`ResBlock` also receives the time embedding."""

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        for layer in self:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
        return h


class UNet(nn.Module):
    """Epsilon-prediction UNet :math:`\\varepsilon_\\theta(x_t, t)` (Ho et al. 2020; Nichol & Dhariwal 2021).

    Args:
        config: a :class:`UNetConfig`; ``None`` uses the default (0.73 M parameters).

    ``forward(x, t)`` takes ``x`` of shape ``(B, C, H, W)`` (network range, usually ``[-1, 1]``)
    with ``H`` and ``W`` divisible by ``2 ** (len(channel_mults) - 1)``, and integer timesteps
    ``t`` of shape ``(B,)`` or a scalar (0-d tensor or Python int) broadcast to the batch. It returns
    ``(B, out_channels, H, W)`` in the dtype of ``x``.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        if config is None:
            config = UNetConfig()
        if not isinstance(config, UNetConfig):
            raise TypeError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = config
        cfg = config
        base, groups, drop = cfg.base_channels, cfg.num_groups, cfg.dropout
        temb_dim = cfg.time_embed_dim or 4 * base
        self.freq_dim = 2 * max(1, temb_dim // 8)
        self.time_mlp = nn.Sequential(nn.Linear(self.freq_dim, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        self.conv_in = nn.Conv2d(cfg.in_channels, base, 3, padding=1)

        sides = cfg.level_sides
        self.down = nn.ModuleList()
        skip_channels = [base]
        ch = base
        for level, mult in enumerate(cfg.channel_mults):
            out_ch = base * mult
            for _ in range(cfg.num_res_blocks):
                layers = _Stage([ResBlock(ch, out_ch, temb_dim, groups, drop)])
                if sides[level] in cfg.attention_resolutions:
                    layers.append(AttentionBlock(out_ch, groups, cfg.num_heads))
                self.down.append(layers)
                ch = out_ch
                skip_channels.append(ch)
            if level < len(cfg.channel_mults) - 1:
                self.down.append(_Stage([Downsample(ch)]))
                skip_channels.append(ch)

        self.mid = _Stage(
            [
                ResBlock(ch, ch, temb_dim, groups, drop),
                AttentionBlock(ch, groups, cfg.num_heads),
                ResBlock(ch, ch, temb_dim, groups, drop),
            ]
        )

        self.up = nn.ModuleList()
        for level in reversed(range(len(cfg.channel_mults))):
            out_ch = base * cfg.channel_mults[level]
            for i in range(cfg.num_res_blocks + 1):
                layers = _Stage([ResBlock(ch + skip_channels.pop(), out_ch, temb_dim, groups, drop)])
                ch = out_ch
                if sides[level] in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, groups, cfg.num_heads))
                if level > 0 and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                self.up.append(layers)

        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, cfg.resolved_out_channels, 3, padding=1)
        _zero_init(self.conv_out)

    def forward(self, x: Tensor, t: Tensor | int) -> Tensor:
        """Predict the noise (and, with learned variance, the variance coefficient) of ``x`` at ``t``."""
        cfg = self.config
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must have a floating-point dtype, got {x.dtype}")
        factor = 2 ** (len(cfg.channel_mults) - 1)
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(
                f"x must have shape (B, {cfg.in_channels}, H, W) with H and W divisible by {factor}, "
                f"got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        t = torch.as_tensor(t, device=x.device)
        if t.is_floating_point() or t.is_complex():
            if not bool(torch.all(t == torch.round(t.real))):
                raise TypeError(f"t must hold integer timesteps, got a {t.dtype} tensor with fractional values")
        if t.ndim == 0:
            t = t.expand(batch)
        elif t.shape != (batch,):
            raise ValueError(f"t must be a scalar or have shape ({batch},) matching x, got {tuple(t.shape)}")

        temb = self.time_mlp(timestep_embedding(t, self.freq_dim).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for stage in self.down:
            h = stage(h, temb)
            skips.append(h)
        h = self.mid(h, temb)
        for stage in self.up:
            h = stage(torch.cat([h, skips.pop()], dim=1), temb)
        return self.conv_out(F.silu(self.norm_out(h)))

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
