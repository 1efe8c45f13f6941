"""Variance-preserving (VP) noise schedules of discrete-time diffusion models.

A VP diffusion with betas :math:`\\beta_0, \\dots, \\beta_{T-1}` noises a clean image :math:`x_0` as

.. math::

    x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon, \\qquad
    \\bar\\alpha_t = \\prod_{s=0}^{t} (1 - \\beta_s), \\qquad t = 0, \\dots, T-1,

with zero-based ``t`` as in the DDPM reference code (J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion
Probabilistic Models", NeurIPS 2020). Dividing by :math:`\\sqrt{\\bar\\alpha_t}` shows that
:math:`x_t` is, up to scale, the clean image plus Gaussian noise of standard deviation

.. math::

    \\sigma_t / \\alpha_t = \\sqrt{(1 - \\bar\\alpha_t) / \\bar\\alpha_t},

in the units of the network range (usually ``[-1, 1]``: a noise level ``s`` on a public ``[0, 1]``
image is ``2 s`` there). Two schedules are provided: the linear one of DDPM
(:math:`\\beta` from ``1e-4`` to ``0.02`` over ``T = 1000`` steps) and the cosine one of A. Nichol and
P. Dhariwal ("Improved Denoising Diffusion Probabilistic Models", ICML 2021),

.. math::

    \\bar\\alpha_t = f(t + 1) / f(0), \\qquad f(u) = \\cos^2\\!\\Big(\\frac{u / T + s}{1 + s}\\,\\frac{\\pi}{2}\\Big),

with betas clipped at 0.999.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from reddiff_imaging._validation import check_int, check_real

__all__ = ["VPSchedule"]

#: the most timesteps a schedule may have (the published ones have 1000 or 4000)
MAX_TIMESTEPS = 1_000_000

_KINDS = ("linear", "cosine")


class VPSchedule:
    """A discrete VP noise schedule: ``betas`` and ``alphas_cumprod`` as float64 tensors of length T.

    Build one with :meth:`linear` or :meth:`cosine`. Instances are immutable by convention (the
    tensors are clones; do not modify them in place) and compare equal when their parameters agree.

    Attributes:
        kind: ``"linear"`` or ``"cosine"``.
        params: the constructor parameters (without ``kind``).
        betas: :math:`\\beta_t`, shape ``(T,)``, float64.
        alphas_cumprod: :math:`\\bar\\alpha_t`, shape ``(T,)``, float64, decreasing in ``t``.
    """

    def __init__(self, kind: str, betas: Tensor, params: dict[str, Any]) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {list(_KINDS)}, got {kind!r}")
        betas = torch.as_tensor(betas, dtype=torch.float64).clone()
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a non-empty 1-d tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        self.kind = kind
        self.params = dict(params)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def linear(cls, beta_start: float = 1e-4, beta_end: float = 0.02, num_timesteps: int = 1000) -> VPSchedule:
        """Linear betas from ``beta_start`` to ``beta_end`` (DDPM, Ho et al. 2020)."""
        _check_steps(num_timesteps)
        for name, value in (("beta_start", beta_start), ("beta_end", beta_end)):
            if not 0.0 < check_real(value, name) < 1.0:
                raise ValueError(f"{name} must be a float in (0, 1), got {value!r}")
        if beta_end < beta_start:
            raise ValueError(f"beta_end must be >= beta_start, got beta_start={beta_start}, beta_end={beta_end}")
        betas = torch.linspace(float(beta_start), float(beta_end), num_timesteps, dtype=torch.float64)
        params = {"beta_start": float(beta_start), "beta_end": float(beta_end), "num_timesteps": int(num_timesteps)}
        return cls("linear", betas, params)

    @classmethod
    def cosine(cls, num_timesteps: int = 1000, s: float = 0.008) -> VPSchedule:
        """Cosine schedule of Nichol & Dhariwal (2021), betas clipped at 0.999."""
        _check_steps(num_timesteps)
        check_real(s, "s", low=0.0)
        u = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(min=1e-12, max=0.999)
        return cls("cosine", betas, {"num_timesteps": int(num_timesteps), "s": float(s)})

    # ------------------------------------------------------------------ derived quantities
    @property
    def num_timesteps(self) -> int:
        """``T``, the number of discrete timesteps."""
        return int(self.betas.numel())

    @property
    def sqrt_alphas_cumprod(self) -> Tensor:
        """:math:`\\sqrt{\\bar\\alpha_t}`, shape ``(T,)``."""
        return self.alphas_cumprod.sqrt()

    @property
    def sqrt_one_minus_alphas_cumprod(self) -> Tensor:
        """:math:`\\sqrt{1 - \\bar\\alpha_t}`, shape ``(T,)``."""
        return (1.0 - self.alphas_cumprod).sqrt()

    def sigma_over_alpha(self, t: Tensor | int | None = None) -> Tensor:
        """:math:`\\sqrt{(1 - \\bar\\alpha_t) / \\bar\\alpha_t}` at integer ``t`` (all t when ``None``)."""
        ratio = ((1.0 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()
        if t is None:
            return ratio
        return ratio[self._check_t(t)]

    def timestep_for_sigma(self, sigma: float | Tensor) -> Tensor:
        """Timestep whose noise level :math:`\\sigma_t/\\alpha_t` is nearest to ``sigma``.

        ``sigma`` is the noise standard deviation in the network range ``[-1, 1]`` (twice the level
        on a ``[0, 1]`` image). Nearest means smallest :math:`|\\sigma_t/\\alpha_t - \\sigma|`.
        Returns an int64 tensor of the shape of ``sigma`` (0-d for a float).
        """
        s = torch.as_tensor(sigma, dtype=torch.float64)
        if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
        table = self.sigma_over_alpha().to(s.device)
        idx = (s.reshape(-1, 1) - table.reshape(1, -1)).abs().argmin(dim=1)
        return idx.reshape(s.shape)

    def _check_t(self, t: Tensor | int) -> Tensor:
        tt = torch.as_tensor(t)
        if tt.is_floating_point() or tt.is_complex() or tt.dtype == torch.bool:
            raise TypeError(f"t must hold integer timesteps, got dtype {tt.dtype}")
        if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= self.num_timesteps):
            raise ValueError(
                f"t must lie in [0, {self.num_timesteps - 1}], got values in [{int(tt.min())}, {int(tt.max())}]"
            )
        return tt.cpu().long()

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., **params}``, e.g. ``{"kind": "linear", "beta_start": 1e-4, ...}``."""
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VPSchedule:
        """Inverse of :meth:`to_dict`; a ValueError names an unknown kind or parameter."""
        if not isinstance(data, dict):
            raise TypeError(f"schedule must be a dict, got {type(data).__name__}")
        if "kind" not in data:
            raise ValueError(f"schedule dict must have a 'kind' key (one of {list(_KINDS)}), got keys {sorted(data)}")
        params = {k: v for k, v in data.items() if k != "kind"}
        kind = data["kind"]
        allowed = {"linear": {"beta_start", "beta_end", "num_timesteps"}, "cosine": {"num_timesteps", "s"}}
        if kind not in allowed:
            raise ValueError(f"schedule kind must be one of {list(_KINDS)}, got {kind!r}")
        unknown = sorted(set(params) - allowed[kind])
        if unknown:
            raise ValueError(f"unknown parameters {unknown} for a {kind!r} schedule; expected a subset of {sorted(allowed[kind])}")
        return cls.linear(**params) if kind == "linear" else cls.cosine(**params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VPSchedule):
            return NotImplemented
        return self.to_dict() == other.to_dict() and torch.equal(self.betas, other.betas)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"VPSchedule.{self.kind}({args})"


def _check_steps(num_timesteps: object) -> None:
    check_int(num_timesteps, "num_timesteps", maximum=MAX_TIMESTEPS)
