r"""Gray images under a colour diffusion prior.

A colour diffusion model :math:`p^c` on :math:`x \in \mathbb R^{3 \times H \times W}` gives a prior
on gray images :math:`g` through the gray colour images :math:`x = g\,\mathbf 1` (the same value in
the three channels). Diffusing such an image, :math:`x_{t'} = \sqrt{\bar\alpha_{t'}}\,g\mathbf 1 +
\sqrt{1-\bar\alpha_{t'}}\,\eta`, splits the noise into its channel mean, of variance
:math:`(1-\bar\alpha_{t'})/3`, and a chroma part orthogonal to :math:`\mathbf 1`, independent of
:math:`g`. A gray diffusion state :math:`g_t = \sqrt{\bar\alpha_t}\,g + \sqrt{1-\bar\alpha_t}\,
\varepsilon` therefore becomes a colour diffusion state

.. math::

    z = c\, g_t \mathbf 1 + \sqrt{1-\bar\alpha_{t'}}\,(\eta - \bar\eta\,\mathbf 1), \qquad
    c = \sqrt{\frac{1-\bar\alpha_{t'}}{3\,(1-\bar\alpha_t)}},

at the timestep :math:`t'` whose noise-to-signal ratio is :math:`\sqrt 3` times that of :math:`t`,
:math:`\rho_{t'} = \sqrt 3\,\rho_t` with :math:`\rho_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`
(:math:`\bar\eta` is the channel mean of :math:`\eta \sim \mathcal N(0, I)`). The scale :math:`c`
makes the noise of :math:`z` exactly the colour model's at :math:`t'`; its signal,
:math:`c\sqrt{\bar\alpha_t}\,g = \sqrt{\bar\alpha_{t'}}\,g\;\rho_{t'}/(\sqrt3\rho_t)`, is the colour
model's too when :math:`\rho_{t'} = \sqrt3\rho_t`. The channel mean of the colour model's noise
prediction is then the prediction of :math:`c\sqrt{1-\bar\alpha_t}\,\varepsilon/\sqrt{1-\bar\alpha_{t'}}
= \varepsilon/\sqrt3`:

.. math::

    \hat\varepsilon(g_t, t) = \sqrt 3\;\tfrac13 \textstyle\sum_c \hat\varepsilon^c(z, t')_c .

Two approximations remain. :math:`t'` is a discrete timestep: the nearest one inside the colour
schedule, where only the signal scale is off by the rounding, and its last timestep :math:`T-1`
beyond it (:math:`t \ge 943` for the linear schedule of 1000 steps, whose largest ratio is about
157), where :math:`z` carries a weaker signal than the colour model assumes but exactly the noise it
was trained on. A network fed more noise than its timestep says takes the excess for signal: with
the signal matched instead, the natural prior's noise prediction at :math:`t = T-1` on cameraman had
60 times the squared error (0.056 against 0.0009), and RED-diff's first steps turned a gray
photograph into pixel noise (cameraman deblurring: 20.9 dB, now 26.2 dB). An exact Gaussian mixture
tolerates either choice (noise predictions within 0.1 % of the exact gray ones at :math:`t = T-1`).
And the colour model is asked for
:math:`E[\eta \mid z]` without being told that :math:`x` is gray. The chroma noise is drawn from a
generator seeded with ``chroma_seed`` at every call, so the gray model is a deterministic function
of its input, as every prior here is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from reddiff_imaging._validation import check_int
from reddiff_imaging.priors.base import DiffusionModel

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
        chroma_seed = check_int(chroma_seed, "chroma_seed", minimum=0)
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
        t_colour = self.colour_timestep.to(t.device)[t]
        alpha_bar, alpha_bar_colour = self.alpha_bar(t, x_t), self.alpha_bar(t_colour, x_t)
        generator = torch.Generator(device=x_t.device).manual_seed(self.chroma_seed)
        eta = torch.randn((x_t.shape[0], 3, *x_t.shape[2:]), generator=generator, device=x_t.device, dtype=x_t.dtype)
        chroma = eta - eta.mean(dim=1, keepdim=True)
        scale = ((1 - alpha_bar_colour) / (3 * (1 - alpha_bar))).sqrt()
        z = scale * x_t.expand(-1, 3, -1, -1) + (1 - alpha_bar_colour).sqrt() * chroma
        colour_eps = self.colour.eps(z, t_colour, differentiable=torch.is_grad_enabled())
        return math.sqrt(3.0) * colour_eps.mean(dim=1, keepdim=True)

    def extra_repr(self) -> str:
        return f"chroma_seed={self.chroma_seed}"
