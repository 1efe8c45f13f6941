r"""The arithmetic of sampling a variance-preserving diffusion
:math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`: Tweedie's conversion
between :math:`\hat\varepsilon` and :math:`\hat x_0`, the timestep grid and the DDIM update. Shared by
:class:`~reddiff_imaging.priors.base.DiffusionModel` (its :meth:`~reddiff_imaging.priors.base.DiffusionModel.x0`
and :meth:`~reddiff_imaging.priors.base.DiffusionModel.sample`) and the diffusion solvers; it imports
neither.

Tweedie's conversion between a noise prediction :math:`\hat\varepsilon` and the clean-image estimate
:math:`\hat x_0` at the noisy point :math:`x_t`:

.. math::
    \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}}, \qquad
    \hat\varepsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}{\sqrt{1-\bar\alpha_t}}
    \quad\text{(e.g. after clipping } \hat x_0\text{)}.

:math:`\bar\alpha_t` is a Python float (one timestep for the batch: the coefficients are computed
in double precision, as the solvers do) or a tensor that broadcasts with :math:`x_t` (one
timestep per image, :meth:`DiffusionModel.alpha_bar <reddiff_imaging.priors.base.DiffusionModel.alpha_bar>`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import overload

import torch
from torch import Tensor

from reddiff_imaging._validation import check_choice, check_generator, check_int, check_real
from reddiff_imaging.priors.schedules import MAX_TIMESTEPS

__all__ = [
    "ORDERS",
    "ddim_coefficients",
    "ddim_sampling",
    "ddim_step",
    "eps_from_x0",
    "previous_alpha_bars",
    "timestep_sequence",
    "x0_from_eps",
]

#: the orders in which :func:`timestep_sequence` visits its timesteps
ORDERS = ("descending", "ascending", "random")


@overload
def _sqrt(value: float) -> float: ...
@overload
def _sqrt(value: Tensor) -> Tensor: ...
def _sqrt(value: float | Tensor) -> float | Tensor:
    return value.sqrt() if isinstance(value, Tensor) else math.sqrt(value)


def _check_shapes(first: tuple[object, str], *others: tuple[object, str]) -> None:
    """Refuse non-tensors, and tensors of another shape than the first (they would broadcast silently)."""
    shape = None
    for value, name in (first, *others):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if shape is None:
            shape = value.shape
        elif value.shape != shape:
            raise ValueError(f"{name} must have {first[1]}'s shape {tuple(shape)}, got {tuple(value.shape)}")


def _check_conversion(x_t: object, other: object, other_name: str, alpha_bar: object, *, divisor: str) -> None:
    """Refuse what Tweedie's conversion cannot take: tensors of other shapes (they would broadcast
    silently), a tensor ``alpha_bar`` that does not broadcast to ``x_t``'s shape, and a number
    ``alpha_bar`` outside ``[0, 1]`` or at the end the conversion divides by (``divisor``: ``ᾱ``
    or ``1 - ᾱ``). Tensor values are not read: that would synchronise the device every step."""
    _check_shapes((x_t, "x_t"), (other, other_name))
    assert isinstance(x_t, Tensor)
    if isinstance(alpha_bar, Tensor):
        try:
            fits = torch.broadcast_shapes(alpha_bar.shape, x_t.shape) == x_t.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"alpha_bar must broadcast to x_t's shape {tuple(x_t.shape)}, got shape {tuple(alpha_bar.shape)}")
        return
    value = check_real(alpha_bar, "alpha_bar", low=0.0, high=1.0, open_low=divisor == "alpha_bar")
    if divisor == "1 - alpha_bar" and value == 1.0:
        raise ValueError("alpha_bar must be below 1 (the conversion divides by sqrt(1 - alpha_bar)), got 1.0")


def x0_from_eps(x_t: Tensor, eps: Tensor, alpha_bar: float | Tensor) -> Tensor:
    r"""Tweedie's estimate :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}`
    (:math:`\bar\alpha_t \in (0, 1]`)."""
    _check_conversion(x_t, eps, "eps", alpha_bar, divisor="alpha_bar")
    return (x_t - _sqrt(1 - alpha_bar) * eps) / _sqrt(alpha_bar)


def eps_from_x0(x_t: Tensor, x0: Tensor, alpha_bar: float | Tensor) -> Tensor:
    r"""The noise that :math:`\hat x_0` implies at :math:`x_t`,
    :math:`\hat\varepsilon = (x_t - \sqrt{\bar\alpha_t}\,\hat x_0)/\sqrt{1-\bar\alpha_t}`
    (:math:`\bar\alpha_t \in [0, 1)`)."""
    _check_conversion(x_t, x0, "x0", alpha_bar, divisor="1 - alpha_bar")
    return (x_t - _sqrt(alpha_bar) * x0) / _sqrt(1 - alpha_bar)


def timestep_sequence(num_timesteps: int, steps: int, order: str = "descending", generator: torch.Generator | None = None) -> list[int]:
    r"""``steps`` timesteps evenly spaced over ``[0, T)``, :math:`t_i = \lfloor iT/S \rfloor`,
    :math:`i = 0, \dots, S-1`, visited in ``order`` (``descending`` from the largest towards 0,
    ``ascending``, or ``random``).

    When ``S`` divides ``T`` this is exactly the grid of the DDIM, DDRM and RED-diff codes,
    ``range(0, T, T // S)`` (``S = 100``: 0, 10, …, 990). When it does not, those codes' grid
    holds more than ``S`` timesteps (``T // S = 1`` for 600 steps: all 1000), and cutting it to
    ``S`` entries would drop the largest timesteps; the fractional stride :math:`T/S` keeps the
    same span instead (600 steps: 0, 1, 3, …, 998).

    ``num_timesteps`` is an int from 1 to :data:`~reddiff_imaging.priors.schedules.MAX_TIMESTEPS` (the longest schedule), ``steps`` one from 1 to
    ``num_timesteps``.
    """
    num_timesteps = check_int(num_timesteps, "num_timesteps", maximum=MAX_TIMESTEPS)
    check_choice(order, "order", ORDERS)
    generator = check_generator(generator)
    steps = check_int(steps, "steps", maximum=num_timesteps)
    ts = [i * num_timesteps // steps for i in range(steps)]
    if order == "descending":
        return ts[::-1]
    if order == "ascending":
        return ts
    permutation = torch.randperm(len(ts), generator=generator, device=generator.device if generator else "cpu").tolist()
    return [ts[i] for i in permutation]


def previous_alpha_bars(timesteps: list[int], alphas_cumprod: list[float]) -> list[tuple[int, float, float]]:
    """``(t, ᾱ_t, ᾱ_s)`` along a descending sequence, with :math:`\\bar\\alpha_s = 1` after the last step."""
    nexts = [alphas_cumprod[s] for s in timesteps[1:]] + [1.0]
    return [(t, alphas_cumprod[t], a_s) for t, a_s in zip(timesteps, nexts, strict=True)]


def ddim_coefficients(alpha_bar_t: float, alpha_bar_s: float, eta: float) -> tuple[float, float]:
    r"""The noise and :math:`\hat\varepsilon` coefficients of :func:`ddim_step`,
    :math:`c = \eta\sqrt{\frac{1-\bar\alpha_s}{1-\bar\alpha_t}}\sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_s}}` and
    :math:`\sqrt{1 - \bar\alpha_s - c^2}`, for :math:`0 < \bar\alpha_t \le \bar\alpha_s \le 1`
    (:math:`s` earlier than :math:`t`), :math:`\bar\alpha_t < 1` and :math:`\eta \ge 0`."""
    alpha_bar_t = check_real(alpha_bar_t, "alpha_bar_t", low=0.0, high=1.0, open_low=True)
    alpha_bar_s = check_real(alpha_bar_s, "alpha_bar_s", low=alpha_bar_t, high=1.0)
    eta = check_real(eta, "eta", low=0.0)
    if alpha_bar_t == 1.0:
        raise ValueError("alpha_bar_t must be below 1 (no noise is left to remove at t), got 1.0")
    c = eta * math.sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s))
    return c, math.sqrt(max(1 - alpha_bar_s - c * c, 0.0))


def ddim_step(x0: Tensor, eps: Tensor, alpha_bar_t: float, alpha_bar_s: float, eta: float, noise: Tensor) -> Tensor:
    r"""One DDIM update from time :math:`t` to the earlier time :math:`s` (Song, Meng and Ermon, ICLR 2021):

    .. math::
        x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1 - \bar\alpha_s - c^2}\,\hat\varepsilon + c\,z,
        \qquad c = \eta\sqrt{\frac{1-\bar\alpha_s}{1-\bar\alpha_t}}\sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_s}},

    with :math:`\eta = 1` the DDPM ancestral step and :math:`\eta = 0` deterministic. ``alpha_bar_s = 1``
    is the final step to :math:`x_0`.
    """
    c, d = ddim_coefficients(alpha_bar_t, alpha_bar_s, eta)
    _check_shapes((x0, "x0"), (eps, "eps"), (noise, "noise"))
    return math.sqrt(alpha_bar_s) * x0 + d * eps + c * noise


def ddim_sampling(
    eps: Callable[[Tensor, int], Tensor],
    x: Tensor,
    timesteps: list[int],
    alphas_cumprod: list[float],
    noise: Callable[[Tensor], Tensor],
    *,
    eta: float,
    x0_range: tuple[float, float] | None,
) -> Iterator[tuple[Tensor, Tensor]]:
    r"""Unconditional DDIM from :math:`x` at ``timesteps[0]`` down the descending ``timesteps`` to
    :math:`x_0`: at each step :math:`\hat\varepsilon = ` ``eps(x, t)``, :math:`\hat x_0` by
    :func:`x0_from_eps` (clamped to ``x0_range`` when given, keeping :math:`\hat\varepsilon`), then
    :func:`ddim_step` with ``noise(x)`` as :math:`z` (drawn at every step, also when :math:`\eta = 0`).

    Yields:
        ``(x_s, x0)`` after each step; the last :math:`x_s` is the sample.
    """
    for t, alpha_t, alpha_s in previous_alpha_bars(timesteps, alphas_cumprod):
        eps_t = eps(x, t)
        x0 = x0_from_eps(x, eps_t, alpha_t)
        if x0_range is not None:
            x0 = x0.clamp(*x0_range)
        x = ddim_step(x0, eps_t, alpha_t, alpha_s, eta, noise(x))
        yield x, x0
