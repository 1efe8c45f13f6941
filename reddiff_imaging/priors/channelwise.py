r"""A one-channel prior applied to each channel of a multi-channel image, on request.

A prior made for gray images (such as the bundled phantom prior) says nothing about how colour
channels go together. :class:`Channelwise` runs it on every channel on its own, which amounts to
the prior of independent channels:

.. math::
    p(x) = \prod_{c=1}^{C} p_1(x_c), \qquad
    D_\sigma(x)_c = D^{(1)}_\sigma(x_c), \qquad
    \hat\varepsilon(x_t, t)_c = \hat\varepsilon^{(1)}(x_{t,c}, t),

and likewise for ``prox`` and ``grad``. The correlation between channels is lost (a colour prior
keeps it), so this is never done silently: a solver given a one-channel prior and a colour image
raises an error that points here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from reddiff_imaging._validation import check_batch_shape, check_level, check_tensor
from reddiff_imaging.priors.base import DiffusionModel, Prior

__all__ = ["Channelwise"]


class Channelwise(Prior):
    """Apply ``prior`` to each image channel separately (any number of channels).

    ``Channelwise(prior)`` provides what ``prior`` provides; for a diffusion model it is itself a
    diffusion model on the same schedule (``eps``, ``x0``, ``score``, ``sample``), so every solver
    runs with it.

    Args:
        prior: a prior of one-channel images (``prior.channels`` 1 or ``None``).

    Raises:
        TypeError: ``prior`` is not a :class:`~reddiff_imaging.priors.Prior`.
        ValueError: ``prior`` works on images of more than one channel.

    Example:
        >>> from reddiff_imaging.priors import Channelwise, DiffusionPrior
        >>> colour = Channelwise(DiffusionPrior.default())  # doctest: +SKIP
    """

    def __new__(cls, prior: Prior | None = None, *args: Any, **kwargs: Any) -> Channelwise:  # noqa: PYI034
        # a diffusion model gets the subclass that is itself a diffusion model
        kind = _ChannelwiseDiffusion if cls is Channelwise and isinstance(prior, DiffusionModel) else cls
        return super().__new__(kind)

    def __init__(self, prior: Prior) -> None:
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a reddiff_imaging Prior, got {type(prior).__name__}")
        if prior.channels not in (None, 1):
            raise ValueError(
                f"Channelwise runs a prior on one channel at a time; prior {type(prior).__name__} works on "
                f"{prior.channels}-channel images"
            )
        self._init_module(prior)
        self.prior = prior

    def _init_module(self, prior: Prior) -> None:
        Prior.__init__(self)

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """The wrapped prior's check on one channel ``(1, H, W)``."""
        return self.prior.check_image_shape((1, *shape[1:]), user)

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        return _per_channel(self.prior.denoise, x, sigma, "sigma")

    def prox(self, x: Tensor, tau: float | Tensor) -> Tensor:
        return _per_channel(self.prior.prox, x, tau, "tau")

    def grad(self, x: Tensor) -> Tensor:
        return _per_channel(lambda z, _: self.prior.grad(z), x, None, "")

    def _provides(self, name: str) -> bool:
        return self.prior._provides(name)

    def extra_repr(self) -> str:
        return "applied to each channel on its own"


class _ChannelwiseDiffusion(Channelwise, DiffusionModel):
    """:class:`Channelwise` of a diffusion model: a diffusion model on its schedule and range."""

    def _init_module(self, prior: Prior) -> None:
        assert isinstance(prior, DiffusionModel)
        DiffusionModel.__init__(self, prior.schedule)
        self.range_scale = prior.range_scale
        self.range_shift = prior.range_shift

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        inner = self.prior
        assert isinstance(inner, DiffusionModel)
        b, c = x_t.shape[:2]
        eps = inner._eps(x_t.reshape(b * c, 1, *x_t.shape[2:]), t.repeat_interleave(c))
        return eps.reshape(x_t.shape)


def _per_channel(apply: Callable[[Tensor, Any], Tensor], x: Tensor, level: float | Tensor | None, level_name: str) -> Tensor:
    """``apply`` on ``(B·C, 1, H, W)``; a per-item level ``(B,)`` is repeated for each channel.
    ``x`` and the level are checked before the reshape, so that errors show the caller's shapes."""
    check_tensor(x, "x", allow_complex=False)
    check_batch_shape(x, "x")
    if level is not None:
        check_level(level, level_name, x, allow_zero=True)
    b, c = x.shape[:2]
    if isinstance(level, Tensor) and level.ndim > 0 and level.numel() == b and c > 1:
        level = level.reshape(b).repeat_interleave(c)
    out = apply(x.reshape(b * c, 1, *x.shape[2:]), level)
    return out.reshape(x.shape)
