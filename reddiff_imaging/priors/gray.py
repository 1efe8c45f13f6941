r"""Gray images under a colour diffusion prior.

A colour diffusion model :math:`p^c` on :math:`x \in \mathbb R^{3 \times H \times W}` gives a prior
on gray images :math:`g` through the gray colour images :math:`x = g\,\mathbf 1` (the same value in
the three channels). Diffusing such an image, :math:`x_{t'} = \sqrt{\bar\alpha_{t'}}\,g\mathbf 1 +
\sqrt{1-\bar\alpha_{t'}}\,\eta`, splits the noise into its channel mean, of variance
:math:`(1-\bar\alpha_{t'})/3`, and a chroma part orthogonal to :math:`\mathbf 1`, independent of
:math:`g`. A gray diffusion state :math:`g_t = \sqrt{\bar\alpha_t}\,g + \sqrt{1-\bar\alpha_t}\,
\varepsilon` therefore becomes an exact colour diffusion state

.. math::

    z = c\, g_t \mathbf 1 + \sqrt{1-\bar\alpha_{t'}}\,(\eta - \bar\eta\,\mathbf 1), \qquad
    c = \sqrt{\bar\alpha_{t'} / \bar\alpha_t},

at the timestep :math:`t'` whose noise-to-signal ratio is :math:`\sqrt 3` times that of :math:`t`,
:math:`\sqrt{(1-\bar\alpha_{t'})/\bar\alpha_{t'}} = \sqrt 3 \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`
(:math:`\bar\eta` is the channel mean of :math:`\eta \sim \mathcal N(0, I)`). The colour model's
Tweedie estimate :math:`\hat x_0(z, t')`, averaged over the channels, estimates :math:`g`, and the
gray noise prediction follows:

.. math::

    \hat g_0 = \tfrac13 \textstyle\sum_c \hat x_0(z, t')_c, \qquad
    \hat\varepsilon(g_t, t) = \frac{g_t - \sqrt{\bar\alpha_t}\,\hat g_0}{\sqrt{1-\bar\alpha_t}}.

Two approximations remain: :math:`t'` is the nearest discrete timestep (the scale :math:`c` matches
the signal exactly, the noise level to the rounding of :math:`t'`), and the colour model is asked
for :math:`E[x \mid z]` without being told that :math:`x` is gray. The chroma noise is drawn from a
generator seeded with ``chroma_seed`` at every call, so the gray model is a deterministic function
of its input, as every prior here is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.sampling import eps_from_x0

__all__ = ["GrayFromColour"]


class GrayFromColour(DiffusionModel):
    r"""A 1-channel diffusion prior made from a 3-channel one (see the module docstring).

    Args:
        colour: a diffusion prior on 3-channel images (for example the natural-image prior).
        chroma_seed: seed of the chroma noise drawn at each call.
    """

    channels = 1
    colour_timestep: Tensor

    def __init__(self, colour: DiffusionModel, *, chroma_seed: int = 0) -> None:
        if not isinstance(colour, DiffusionModel):
            raise TypeError(f"colour must be a DiffusionModel, got {type(colour).__name__}")
        colour_channels = getattr(colour, "channels", None)
        if colour_channels not in (None, 3):
            raise ValueError(f"colour must be a 3-channel prior, got a {colour_channels}-channel one")
        if isinstance(chroma_seed, bool) or not isinstance(chroma_seed, int) or chroma_seed < 0:
            raise ValueError(f"chroma_seed must be a non-negative int, got {chroma_seed!r}")
        super().__init__(colour.schedule)
        self.colour = colour
        self.range_scale, self.range_shift = colour.range_scale, colour.range_shift
        self.chroma_seed = chroma_seed
        shape = getattr(colour, "image_shape", None)
        self.image_shape = None if shape is None else (1, shape[1], shape[2])
        # colour timestep t' for every gray timestep t (noise-to-signal ratio times sqrt(3))
        alpha_bar = colour.schedule.alphas_cumprod.double()
        ratio = ((1 - alpha_bar) / alpha_bar).sqrt()
        self.register_buffer("colour_timestep", colour.schedule.timestep_for_sigma(math.sqrt(3.0) * ratio), persistent=False)

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """The 1-channel check, then the colour prior's check on ``(3, H, W)`` (sizes, padding)."""
        super().check_image_shape(shape, user)
        return self.colour.check_image_shape((3, *shape[1:]), user)

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        if x_t.shape[1] != 1:
            raise ValueError(f"x_t must have 1 channel (B, 1, H, W), got shape {tuple(x_t.shape)}")
        t_colour = self.colour_timestep.to(t.device)[t]
        alpha_bar, alpha_bar_colour = self.alpha_bar(t, x_t), self.alpha_bar(t_colour, x_t)
        generator = torch.Generator(device=x_t.device).manual_seed(self.chroma_seed)
        eta = torch.randn((x_t.shape[0], 3, *x_t.shape[2:]), generator=generator, device=x_t.device, dtype=x_t.dtype)
        chroma = eta - eta.mean(dim=1, keepdim=True)
        z = (alpha_bar_colour / alpha_bar).sqrt() * x_t.expand(-1, 3, -1, -1) + (1 - alpha_bar_colour).sqrt() * chroma
        gray_x0 = self.colour.x0(z, t_colour, differentiable=torch.is_grad_enabled()).mean(dim=1, keepdim=True)
        return eps_from_x0(x_t, gray_x0, alpha_bar)

    def extra_repr(self) -> str:
        return f"chroma_seed={self.chroma_seed}"
