r"""The prior interface: one class, optional capabilities.

A prior offers some of

* ``denoise(x, sigma)`` — an MMSE/MAP denoiser for images ``x`` in ``[0, 1]`` with additive white
  Gaussian noise of standard deviation ``sigma`` (public units): PnP, RED, DiffPIR, RED-diff;
* ``prox(x, tau)`` — the proximal operator :math:`\arg\min_z \tau R(z) + \tfrac12\|z - x\|^2`:
  ADMM, PnP;
* ``grad(x)`` — the gradient of the regularizer :math:`\nabla R(x)`: classical RED, gradient methods;
* the diffusion capabilities of :class:`DiffusionModel` — ``schedule``, ``eps``, ``x0``, ``score``.

A solver asks for what it needs with :meth:`Prior.require`; a prior that lacks a capability raises
:class:`MissingCapabilityError` naming the capability, the prior and what it does provide.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Self, overload

import torch
from torch import Tensor, nn

from reddiff_imaging._validation import (
    as_image_shape,
    check_batch_shape,
    check_int,
    check_level,
    check_tensor,
    check_unit_interval,
)
from reddiff_imaging.errors import UnsupportedProblemError
from reddiff_imaging.priors.sampling import ddim_sampling, timestep_sequence, x0_from_eps
from reddiff_imaging.priors.schedules import VPSchedule

CAPABILITIES = ("denoise", "prox", "grad", "eps")


class ImageShapeNote(UserWarning):
    """A solver's note that the prior adapts itself to the problem's image shape (e.g. a network
    that pads the image to the sides it takes); see :meth:`Prior.check_image_shape`."""


class MissingCapabilityError(UnsupportedProblemError):
    """A solver asked a prior for a capability it does not provide."""


class Prior(nn.Module):
    """Base class of all priors. Subclasses override the capabilities they provide.

    Attributes:
        channels: the number of image channels the prior works on (a network's input channels);
            ``None`` for priors that work on any number (TV, the classical denoisers).
    """

    channels: int | None = None

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """Denoise ``x`` (public range ``[0, 1]``) corrupted by Gaussian noise of std ``sigma``."""
        raise self._missing("denoise")

    def prox(self, x: Tensor, tau: float | Tensor) -> Tensor:
        r"""Proximal operator :math:`\mathrm{prox}_{\tau R}(x)`."""
        raise self._missing("prox")

    def grad(self, x: Tensor) -> Tensor:
        r"""Gradient :math:`\nabla R(x)` of the regularizer."""
        raise self._missing("grad")

    def compile(self, *, channels_last: bool = False, **options: Any) -> Self:  # type: ignore[override]  # returns the prior (torch: None)
        """Opt-in: compile the networks of this prior with ``torch.compile`` (in place) and return it.

        Every sub-module that holds parameters (the diffusion network, a deepinv denoiser) is
        compiled with ``module.compile(**options)`` (e.g. ``mode="max-autotune"``); the state dict
        keeps its keys. The first calls at a new input shape compile (about 100 s on a CPU for the
        bundled UNet) and later calls run the compiled graph (measured gains in docs/benchmarks.rst).
        Priors without a network are left as they are.

        Args:
            channels_last: also store the networks' weights in the channels-last memory format
                (inputs follow it inside the compiled graph).
            options: keyword arguments of ``torch.compile``.
        """
        for child in self.children():
            if any(True for _ in child.parameters()):
                if channels_last:
                    child.to(memory_format=torch.channels_last)
                child.compile(**options)
        return self

    def capabilities(self) -> tuple[str, ...]:
        """The capabilities this prior provides, among ``denoise``, ``prox``, ``grad``, ``eps``."""
        return tuple(name for name in CAPABILITIES if self._provides(name))

    def require(self, capability: str, user: str) -> None:
        """Raise :class:`MissingCapabilityError` unless the prior provides ``capability``.

        Args:
            capability: one of ``denoise``, ``prox``, ``grad``, ``eps``.
            user: who needs it (e.g. a solver's name), for the message.
        """
        if capability not in CAPABILITIES:
            raise ValueError(f"capability must be one of {list(CAPABILITIES)}, got {capability!r}")
        if not self._provides(capability):
            raise self._missing(capability, user)

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """Refuse images of shape ``(C, H, W)`` the prior cannot work on; solvers call this before
        any work starts.

        Args:
            shape: the image shape ``(C, H, W)`` (without batch).
            user: who asks (e.g. a solver's name), for the message.

        Returns:
            A one-line note when the prior adapts itself to this shape (e.g. a network that pads
            the image to the sides it takes), else ``None``.

        Raises:
            ValueError: a channel count other than :attr:`channels`, naming both counts.
        """
        channels = int(shape[0]) if len(shape) == 3 else None
        if self.channels is not None and channels is not None and channels != self.channels:
            who = f"{user}: " if user else ""
            hints = {
                1: "; use a colour prior (the natural-image prior: DiffusionPrior.natural(), --prior natural), "
                "run it on each channel with priors.Channelwise(prior) (command line: --prior channelwise:NAME) "
                "or convert the image to gray (--channels 1)",
                3: "; run it on gray images with priors.GrayFromColour(prior) (command line: --prior gray:NAME) "
                "or repeat the image into 3 channels (--channels 3)",
            }
            hint = hints.get(self.channels, "") if channels in (1, 3) else ""
            raise ValueError(
                f"{who}prior {type(self).__name__} works on {self.channels}-channel images, "
                f"but the images have {channels} channel{'s' if channels != 1 else ''}{hint}"
            )
        return None

    def _provides(self, name: str) -> bool:
        if name == "eps":
            return isinstance(self, DiffusionModel)
        return getattr(type(self), name) is not getattr(Prior, name)

    def missing(self, *alternatives: str, user: str | None = None) -> str | None:
        """None when the prior provides one of the capabilities ``alternatives`` (e.g. ``"eps",
        "denoise"``: either will do), else a sentence naming them, ``user`` and what the prior provides."""
        unknown = [name for name in alternatives if name not in CAPABILITIES]
        if unknown or not alternatives:
            raise ValueError(f"capabilities must be among {list(CAPABILITIES)}, got {list(alternatives)}")
        if any(self._provides(name) for name in alternatives):
            return None
        needed = f" (needed by {user})" if user else ""
        provided = ", ".join(self.capabilities()) or "nothing"
        wanted = " or ".join(f"'{name}'" for name in alternatives)
        return f"prior {type(self).__name__} does not provide {wanted}{needed}; it provides: {provided}"

    def _missing(self, capability: str, user: str | None = None) -> MissingCapabilityError:
        return MissingCapabilityError(self.missing(capability, user=user) or capability)


class DiffusionModel(Prior):
    r"""A prior given by a variance-preserving diffusion
    :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon`.

    The diffusion runs in the *model range* :math:`x' = a x + b` of the model (``[-1, 1]`` for
    image networks: :math:`a = 2`, :math:`b = -1`); :meth:`to_model` and :meth:`from_model` map
    between the public range ``[0, 1]`` and it. Subclasses implement ``_eps``; :meth:`eps`,
    :meth:`x0`, :meth:`score` and :meth:`denoise` follow from it:

    .. math::
        \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}}, \qquad
        \nabla \log p_t(x_t) = -\frac{\hat\varepsilon}{\sqrt{1-\bar\alpha_t}}.
    """

    #: the affine map public -> model range, x' = range_scale * x + range_shift
    range_scale: float = 2.0
    range_shift: float = -1.0
    #: ``(C, H, W)`` of the images the model was made for, when known (the default of :meth:`sample`)
    image_shape: tuple[int, int, int] | None = None
    #: :math:`\bar\alpha_t`, ``(T,)`` float64: a buffer, so that it follows the prior's device
    alphas_cumprod: Tensor

    def __init__(self, schedule: VPSchedule) -> None:
        super().__init__()
        if not isinstance(schedule, VPSchedule):
            raise TypeError(f"schedule must be a VPSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.register_buffer("alphas_cumprod", schedule.alphas_cumprod.clone(), persistent=False)

    @property
    def num_timesteps(self) -> int:
        """``T``, the number of discrete timesteps."""
        return int(self.alphas_cumprod.shape[0])

    @overload
    def to_model(self, x: float) -> float: ...
    @overload
    def to_model(self, x: Tensor) -> Tensor: ...
    def to_model(self, x: float | Tensor) -> float | Tensor:
        """Public range ``[0, 1]`` → model range (an image or a value, e.g. the bounds 0 and 1)."""
        return self.range_scale * x + self.range_shift

    @overload
    def from_model(self, x: float) -> float: ...
    @overload
    def from_model(self, x: Tensor) -> Tensor: ...
    def from_model(self, x: float | Tensor) -> float | Tensor:
        """Model range → public range ``[0, 1]``."""
        return (x - self.range_shift) / self.range_scale

    def alpha_bar(self, t: Tensor, like: Tensor) -> Tensor:
        r""":math:`\bar\alpha_t` for integer timesteps ``t`` (B,), shaped to broadcast with ``like``."""
        dtype = like.real.dtype if like.is_complex() else like.dtype
        values = self.alphas_cumprod.to(like.device)[t.long()].to(dtype)
        return values.view(-1, *([1] * (like.ndim - 1)))

    @abstractmethod
    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The model's noise prediction; ``t`` is a validated int64 tensor of shape ``(B,)``."""

    def eps(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> Tensor:
        r"""Predicted noise :math:`\hat\varepsilon(x_t, t)` for ``x_t`` in the model range.

        Args:
            x_t: noisy images ``(B, C, H, W)`` in the model range.
            t: integer timesteps, shape ``(B,)`` or a single int for the whole batch.
            differentiable: run with autograd (for methods that differentiate through the model,
                such as DPS); by default the model runs under ``torch.no_grad()``.
        """
        check_tensor(x_t, "x_t", allow_complex=False)
        with torch.set_grad_enabled(differentiable):
            return self._eps(x_t, self._timesteps(t, x_t))

    def eps_and_variance(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> tuple[Tensor, Tensor | None]:
        r""":meth:`eps` and the model's learned-variance output :math:`v \in [-1, 1]`, or ``None`` for a
        model without one. A network with learned variances (Nichol & Dhariwal, ICML 2021, as the
        ADM checkpoints) sets the reverse-step variance to
        :math:`\exp\big(\tfrac{1+v}{2}\log\beta_t + \tfrac{1-v}{2}\log\tilde\beta_t\big)`."""
        return self.eps(x_t, t, differentiable=differentiable), None

    @property
    def learned_variance(self) -> bool | None:
        """Whether :meth:`eps_and_variance` returns learned variances: ``False`` for models without
        them (this class), ``None`` where only a call would tell (a network of unknown output)."""
        return False

    def x0(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> Tensor:
        r"""Tweedie's estimate :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\hat\varepsilon)/\sqrt{\bar\alpha_t}`
        (model range)."""
        t = self._timesteps(t, x_t)
        alpha_bar = self.alpha_bar(t, x_t)
        eps = self.eps(x_t, t, differentiable=differentiable)
        return x0_from_eps(x_t, eps, alpha_bar)

    def score(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> Tensor:
        r"""Score :math:`\nabla_{x_t}\log p_t(x_t) = -\hat\varepsilon/\sqrt{1-\bar\alpha_t}` (model range)."""
        t = self._timesteps(t, x_t)
        return -self.eps(x_t, t, differentiable=differentiable) / (1 - self.alpha_bar(t, x_t)).sqrt()

    def timestep_for_sigma(self, sigma: float | Tensor) -> Tensor:
        r"""Timesteps whose noise-to-signal ratio :math:`\sqrt{(1-\bar\alpha_t)/\bar\alpha_t}` is nearest
        to ``sigma`` given in *public* units (times the range scale); shape ``(numel(sigma),)``."""
        sigma_public = torch.as_tensor(sigma, dtype=torch.float64).detach().cpu().reshape(-1)
        return self.schedule.timestep_for_sigma(sigma_public * self.range_scale)

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        r"""One-step MMSE denoiser: with :math:`x' = a x + b` and :math:`t` matching :math:`a\sigma`,
        :math:`x_t = \sqrt{\bar\alpha_t}\,x'` is distributed as the diffused data at time :math:`t`,
        and the result is :math:`\hat x_0(x_t, t)` mapped back to ``[0, 1]``."""
        check_tensor(x, "x", allow_complex=False)
        self._check_batch(x, "x")
        t = self.timestep_for_sigma(check_level(sigma, "sigma", x, allow_zero=True)).to(x.device)
        if t.numel() == 1:
            t = t.expand(x.shape[0])
        alpha_bar = self.alpha_bar(t, x)
        return self.from_model(self.x0(alpha_bar.sqrt() * self.to_model(x), t))

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        shape: tuple[int, int, int] | None = None,
        steps: int = 100,
        eta: float = 0.0,
    ) -> Tensor:
        r"""``n`` unconditional samples in ``[0, 1]`` by DDIM from :math:`x_T \sim \mathcal N(0, I)`
        (Song, Meng and Ermon, ICLR 2021; :func:`~reddiff_imaging.priors.sampling.ddim_sampling`):
        the same draws and the same samples as :class:`~reddiff_imaging.solvers.DDIM` with its
        defaults on a problem that measures nothing. Priors that can sample exactly (the Gaussian
        mixture) override this.

        Args:
            n: number of samples.
            generator: source of the initial noise and of each step's noise (drawn also when
                ``eta = 0``), on the prior's device; by default a generator seeded with 0.
            shape: image shape ``(C, H, W)``; default :attr:`image_shape` (what the network was
                trained on, e.g. ``(1, 64, 64)`` for the bundled prior).
            steps: sampling steps, evenly spaced over the ``T`` timesteps
                (:func:`~reddiff_imaging.priors.sampling.timestep_sequence`).
            eta: 0 for the deterministic DDIM sampler, 1 for DDPM-like ancestral sampling.

        Returns:
            A ``(n, C, H, W)`` tensor of the default dtype (float32) on the prior's device.
        """
        n = check_int(n, "n")
        check_int(steps, "steps")
        check_unit_interval(eta, "eta")
        chosen = self.image_shape if shape is None else shape
        if chosen is None:
            raise ValueError(f"{type(self).__name__} does not know its image shape: pass shape=(C, H, W)")
        image_shape = as_image_shape(chosen, "shape")
        note = self.check_image_shape(image_shape, "sample")
        if note is not None:
            warnings.warn(f"sample: {note}", ImageShapeNote, stacklevel=2)
        device = self.alphas_cumprod.device
        if generator is None:
            generator = torch.Generator(device=device).manual_seed(0)
        elif generator.device.type != device.type:
            raise ValueError(f"generator is on {generator.device}, but the prior is on {device}")
        draw = (n, *image_shape)

        def noise(like: Tensor) -> Tensor:
            return torch.randn(draw, generator=generator, device=like.device, dtype=like.dtype)

        image_range = (self.to_model(0.0), self.to_model(1.0))
        x = noise(torch.empty((), device=device))
        trajectory = ddim_sampling(
            self.eps,
            x,
            timestep_sequence(self.num_timesteps, steps),
            self.alphas_cumprod.tolist(),
            noise,
            eta=eta,
            x0_range=image_range,
        )
        for x, _ in trajectory:
            pass
        return self.from_model(x.clamp(*image_range))

    def _check_batch(self, x: Tensor, name: str) -> None:
        check_batch_shape(x, name)
        Prior.check_image_shape(self, x.shape[1:])  # the channel count only: no padding note per network call

    def _timesteps(self, t: Tensor | int, x_t: Tensor) -> Tensor:
        """``t`` as a ``(B,)`` int64 tensor for the batch ``x_t``, after checking both (shapes only: no
        value is read from a GPU)."""
        self._check_batch(x_t, "x_t")
        t = torch.as_tensor(t, device=x_t.device)
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t must hold integer timesteps, got dtype {t.dtype}")
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        if t.shape != (x_t.shape[0],):
            raise ValueError(f"t must have shape ({x_t.shape[0]},) or be a single int, got {tuple(t.shape)}")
        # the range check reads values back, so it runs for CPU tensors only (no GPU sync in solver loops)
        if t.device.type == "cpu" and t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise ValueError(f"t must lie in [0, {self.num_timesteps - 1}], got values in [{int(t.min())}, {int(t.max())}]")
        return t.long()
