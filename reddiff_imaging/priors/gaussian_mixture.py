r"""An analytic Gaussian-mixture prior: exact diffusion score, exact MMSE denoiser and exact posterior
for linear-Gaussian inverse problems, to validate samplers against ground truth.

The prior (public units, images in ``[0, 1]``, flattened to :math:`D = C H W` entries) is

.. math::

    p(x) = \sum_{k=1}^K w_k\, \mathcal N(x;\, \mu_k, \Sigma_k).

**Diffusion.** The diffusion runs in the model range :math:`x' = a x + b` (:math:`a = 2`,
:math:`b = -1`), where the data are the mixture with means :math:`\mu'_k = a\mu_k + b` and covariances
:math:`\Sigma'_k = a^2 \Sigma_k`. Noising :math:`x_t = \sqrt{\bar\alpha_t}\,x'_0 +
\sqrt{1-\bar\alpha_t}\,\varepsilon` keeps it a Gaussian mixture,

.. math::

    p_t(x_t) = \sum_k w_k\, \mathcal N\big(x_t;\, \sqrt{\bar\alpha_t}\mu'_k,\, C_k(t)\big), \qquad
    C_k(t) = \bar\alpha_t \Sigma'_k + (1 - \bar\alpha_t) I
           = Q_k \operatorname{diag}\big(\bar\alpha_t \lambda'_k + 1 - \bar\alpha_t\big) Q_k^\top,

with the eigendecomposition :math:`\Sigma'_k = Q_k \operatorname{diag}(\lambda'_k) Q_k^\top` computed once,
so its score and noise prediction are exact and cheap at every :math:`t`:

.. math::

    \nabla \log p_t(x_t) = -\sum_k r_k(x_t)\, C_k(t)^{-1}\big(x_t - \sqrt{\bar\alpha_t}\mu'_k\big), \qquad
    \hat\varepsilon(x_t, t) = -\sqrt{1 - \bar\alpha_t}\, \nabla \log p_t(x_t),

where :math:`r_k(x_t) \propto w_k \mathcal N(x_t; \sqrt{\bar\alpha_t}\mu'_k, C_k(t))` are the
responsibilities.

**Posterior.** For :math:`y = A x + \sigma n` with a linear :math:`A` and :math:`n \sim \mathcal N(0, I)`
the posterior is again a Gaussian mixture (each component is conjugate):

.. math::

    S_k &= A \Sigma_k A^\top + \sigma^2 I, \qquad G_k = \Sigma_k A^\top S_k^{-1}, \\
    m_k &= \mu_k + G_k (y - A\mu_k), \qquad P_k = \Sigma_k - G_k A \Sigma_k, \\
    \tilde w_k &\propto w_k\, \mathcal N(y;\, A\mu_k, S_k).

Validating diffusion posterior samplers on Gaussian mixtures whose posterior is known in closed form is
the protocol of G. Cardoso, Y. Janati El Idrissi, S. Le Corff, E. Moulines, "Monte Carlo guided
diffusion for Bayesian linear inverse problems" (arXiv 2308.07983, 2023; ICLR 2024) and of B. Boys,
M. Girolami, J. Pidstrigach, S. Reich, A. Mosca, O. D. Akyildiz, "Tweedie moment projected diffusions
for inverse problems" (arXiv 2310.06721, 2023); they compare sample sets with the sliced Wasserstein
distance (:func:`reddiff_imaging.distribution_metrics.sliced_wasserstein`).

All internal computations run in float64; results follow the dtype and device of the input (for a
posterior: of the measurement ``y``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from reddiff_imaging._validation import MAX_DATASET_ELEMENTS, as_shape, check_int, check_positive, check_tensor, check_unit_interval
from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.schedules import VPSchedule

if TYPE_CHECKING:
    from reddiff_imaging.noise import NoiseModel
    from reddiff_imaging.operators.base import Operator
    from reddiff_imaging.problem import InverseProblem

__all__ = ["GaussianMixture", "GaussianMixturePosterior"]

_LOG_2PI = math.log(2.0 * math.pi)
#: tolerance on ``sum(weights) == 1``
WEIGHT_TOL = 1e-6
#: tolerance on the symmetry of covariances, relative to their largest entry
SYMMETRY_TOL = 1e-8


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def _as_float64(value: object, name: str) -> Tensor:
    """``value`` (tensor or array-like of real numbers) as a detached float64 tensor, finite."""
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        tensor = value.detach().to(torch.float64)
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or an array-like of real numbers, got {type(value).__name__}") from err
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return tensor


def _real_dtype(x: Tensor) -> torch.dtype:
    return x.real.dtype if x.is_complex() else x.dtype


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _check_count(n: object, name: str) -> int:
    return check_int(n, name)


def _mixture_terms(
    x: Tensor, means: Tensor, log_weights: Tensor, eigenvectors: Tensor, variances: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Log density, responsibilities and :math:`C_k^{-1}(x - m_k)` of a Gaussian mixture whose
    covariances are :math:`C_k = Q_k \operatorname{diag}(v_k) Q_k^\top`.

    Args:
        x: points ``(B, D)``.
        means: ``(B or 1, K, D)``.
        log_weights: ``(K,)`` or ``(B, K)``.
        eigenvectors: :math:`Q_k`, ``(K, D, D)`` (columns are eigenvectors).
        variances: :math:`v_k`, ``(B or 1, K, D)``, positive.

    Returns:
        ``log p(x)`` ``(B,)``, responsibilities ``(B, K)``, ``C_k^{-1}(x - m_k)`` ``(B, K, D)``.
    """
    diff = x[:, None, :] - means
    z = torch.einsum("kde,bkd->bke", eigenvectors, diff)  # Q_k^T (x - m_k)
    dim = x.shape[-1]
    log_normal = -0.5 * ((z * z / variances).sum(-1) + variances.log().sum(-1) + dim * _LOG_2PI)
    joint = log_weights + log_normal
    log_p = torch.logsumexp(joint, dim=-1)
    resp = torch.softmax(joint, dim=-1)
    precision_diff = torch.einsum("kde,bke->bkd", eigenvectors, z / variances)
    return log_p, resp, precision_diff


def _flatten_measurement(y: Tensor) -> Tensor:
    """``(B, *out_shape)`` → ``(B, M)`` float64, real and imaginary parts stacked for complex ``y``."""
    flat = y.detach().reshape(y.shape[0], -1)
    if flat.is_complex():
        flat = torch.cat([flat.real, flat.imag], dim=1)
    return flat.to(torch.float64)


# ---------------------------------------------------------------------------------------------------
# the prior
# ---------------------------------------------------------------------------------------------------
class GaussianMixture(DiffusionModel):
    r"""A Gaussian-mixture prior :math:`p(x) = \sum_k w_k \mathcal N(x; \mu_k, \Sigma_k)` on images in
    public units, with exact diffusion score, denoiser, regularizer gradient and posterior.

    See the module docstring for the formulas. Capabilities: ``eps`` (and ``x0``, ``score``) exact for
    the VP-diffused mixture in the model range :math:`x' = 2x - 1`; ``denoise`` (exact MMSE
    denoiser); ``grad`` (:math:`-\nabla \log p`); plus :meth:`log_prob`, :meth:`log_prob_t`,
    :meth:`sample`, :meth:`mean`, :meth:`covariance` and :meth:`posterior`.

    Args:
        means: component means :math:`\mu_k`, shape ``(K, D)`` or ``(K, *shape)``.
        covariances: :math:`\Sigma_k`, shape ``(K, D, D)``, symmetric (to a relative ``1e-8``; they
            are symmetrised) and positive definite (checked by a Cholesky factorisation).
        weights: :math:`w_k`, shape ``(K,)``, positive, summing to 1 within ``1e-6`` (then
            renormalised exactly). Weights that do not sum to 1 are an error, not silently
            normalised: divide them by their sum yourself if that is what you mean.
        shape: image shape ``(C, H, W)`` with :math:`CHW = D`. Inferred from ``means`` of shape
            ``(K, *shape)``; for ``means`` of shape ``(K, D)`` the default is ``(1, 1, D)``.
        schedule: the VP schedule of the diffusion (default :meth:`VPSchedule.linear`, linear β
            from 1e-4 to 0.02, T = 1000).

    Tensors are kept as float64 buffers (they move with ``.to(device)``): ``means`` ``(K, D)``,
    ``covariances`` ``(K, D, D)``, ``weights`` ``(K,)`` and derived ``log_weights``, ``cholesky``,
    ``eigenvalues`` ``(K, D)`` and ``eigenvectors`` ``(K, D, D)`` of :math:`\Sigma_k`.

    Example:
        >>> import torch
        >>> from reddiff_imaging.priors.gaussian_mixture import GaussianMixture
        >>> prior = GaussianMixture.random(3, (1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> x = prior.sample(8, generator=torch.Generator().manual_seed(1))
        >>> x.shape, prior.log_prob(x).shape
        (torch.Size([8, 1, 4, 4]), torch.Size([8]))
    """

    means: Tensor
    covariances: Tensor
    weights: Tensor
    log_weights: Tensor
    cholesky: Tensor
    eigenvalues: Tensor
    eigenvectors: Tensor

    def __init__(
        self,
        means: Tensor,
        covariances: Tensor,
        weights: Tensor,
        shape: Sequence[int] | None = None,
        *,
        schedule: VPSchedule | None = None,
    ) -> None:
        super().__init__(VPSchedule.linear() if schedule is None else schedule)
        mu = _as_float64(means, "means")
        if mu.ndim < 2 or mu.shape[0] < 1:
            raise ValueError(f"means must have shape (K, D) or (K, C, H, W) with K >= 1, got {tuple(mu.shape)}")
        num = int(mu.shape[0])
        if mu.ndim == 2:
            dim = int(mu.shape[1])
            image_shape = (1, 1, dim) if shape is None else as_shape(shape, "shape")
            if math.prod(image_shape) != dim:
                raise ValueError(
                    f"shape must have as many entries as a mean (C*H*W = D = {dim}), got shape {image_shape}"
                )
        else:
            image_shape = tuple(int(s) for s in mu.shape[1:])
            dim = math.prod(image_shape)
            if shape is not None and as_shape(shape, "shape") != image_shape:
                raise ValueError(
                    f"shape must match the trailing shape of means {image_shape}, got {tuple(shape)}"
                )
        mu = mu.reshape(num, dim)

        cov = _as_float64(covariances, "covariances")
        if cov.shape != (num, dim, dim):
            raise ValueError(f"covariances must have shape (K, D, D) = ({num}, {dim}, {dim}), got {tuple(cov.shape)}")
        asym = float((cov - cov.mT).abs().max())
        scale = float(cov.abs().max())
        if asym > SYMMETRY_TOL * max(scale, 1e-300):
            raise ValueError(f"covariances must be symmetric, got a largest asymmetry |S - S^T| = {asym:.3g} (largest entry {scale:.3g})")
        cov = 0.5 * (cov + cov.mT)
        chol, info = torch.linalg.cholesky_ex(cov)
        bad = [int(k) for k in torch.nonzero(info).flatten()]
        evals, evecs = torch.linalg.eigh(cov)
        bad += [int(k) for k in torch.nonzero(evals.min(dim=1).values <= 0).flatten() if int(k) not in bad]
        if bad:
            raise ValueError(
                f"covariances must be symmetric positive definite; component(s) {sorted(bad)} are not "
                f"(Cholesky failed or an eigenvalue <= 0; smallest eigenvalues {evals.min(dim=1).values[sorted(bad)].tolist()})"
            )

        w = _as_float64(weights, "weights")
        if w.shape != (num,):
            raise ValueError(f"weights must have shape (K,) = ({num},), got {tuple(w.shape)}")
        if not bool((w > 0).all()):
            raise ValueError(f"weights must be positive, got {w.tolist()}")
        total = float(w.sum())
        if abs(total - 1.0) > WEIGHT_TOL:
            raise ValueError(
                f"weights must sum to 1 (within {WEIGHT_TOL:g}), got sum {total!r}; divide them by their sum to normalise"
            )
        w = w / w.sum()

        self.shape: tuple[int, ...] = image_shape
        self.dim = dim
        self.num_components = num
        self.register_buffer("means", mu.contiguous())
        self.register_buffer("covariances", cov.contiguous())
        self.register_buffer("weights", w)
        self.register_buffer("log_weights", w.log(), persistent=False)
        self.register_buffer("cholesky", chol.contiguous(), persistent=False)
        self.register_buffer("eigenvalues", evals.contiguous(), persistent=False)
        self.register_buffer("eigenvectors", evecs.contiguous(), persistent=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(
        cls,
        num_components: int,
        shape: Sequence[int],
        generator: torch.Generator | int | None = None,
        *,
        mean_range: tuple[float, float] = (0.2, 0.8),
        std_range: tuple[float, float] = (0.05, 0.15),
        schedule: VPSchedule | None = None,
    ) -> GaussianMixture:
        r"""A well-conditioned random mixture for tests and examples.

        Means are uniform in ``mean_range``; each covariance is :math:`Q \operatorname{diag}(s^2) Q^\top`
        with a random orthogonal :math:`Q` and standard deviations :math:`s` uniform in
        ``std_range`` (condition number at most :math:`(s_{\max}/s_{\min})^2`, 9 by default); the
        weights are uniform in ``[0.5, 1.5]``, normalised. Drawn in float64 on the CPU.

        Args:
            num_components: ``K >= 1``.
            shape: image shape ``(C, H, W)``.
            generator: a ``torch.Generator`` or an int seed; ``None`` uses torch's default generator.
        """
        num = _check_count(num_components, "num_components")
        image_shape = as_shape(shape, "shape")
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = torch.Generator().manual_seed(generator)
        generator = _check_generator(generator)
        lo, hi = (float(v) for v in mean_range)
        if not lo <= hi:
            raise ValueError(f"mean_range must be (low, high) with low <= high, got {mean_range!r}")
        s_lo, s_hi = (float(v) for v in std_range)
        if not 0 < s_lo <= s_hi:
            raise ValueError(f"std_range must be (low, high) with 0 < low <= high, got {std_range!r}")
        dim = math.prod(image_shape)
        if num * dim * dim > MAX_DATASET_ELEMENTS:  # the covariances are dense D × D matrices
            raise ValueError(
                f"num_components={num} covariances of {dim} × {dim} (shape={image_shape}) are {num * dim * dim:,} values; "
                f"the limit is {MAX_DATASET_ELEMENTS:,}: use fewer components or a smaller shape"
            )
        f64 = torch.float64
        means = lo + (hi - lo) * torch.rand(num, dim, dtype=f64, generator=generator)
        q, r = torch.linalg.qr(torch.randn(num, dim, dim, dtype=f64, generator=generator))
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]  # Haar-distributed
        stds = s_lo + (s_hi - s_lo) * torch.rand(num, dim, dtype=f64, generator=generator)
        cov = q @ torch.diag_embed(stds**2) @ q.mT
        cov = 0.5 * (cov + cov.mT)
        weights = 0.5 + torch.rand(num, dtype=f64, generator=generator)
        return cls(means.reshape(num, *image_shape), cov, weights / weights.sum(), schedule=schedule)

    # ------------------------------------------------------------------ the data distribution
    def extra_repr(self) -> str:
        return f"num_components={self.num_components}, shape={self.shape}, schedule={self.schedule!r}"

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """Refuse images of another shape than the mixture's (:attr:`shape`)."""
        if tuple(int(s) for s in shape) != self.shape:
            who = f"{user}: " if user else ""
            raise ValueError(f"{who}the GaussianMixture is a distribution of images of shape {self.shape}, got images of shape {tuple(shape)}")
        return None

    def _check_x(self, x: object, name: str) -> Tensor:
        return check_tensor(x, name, self.shape, allow_complex=False)

    def _check_batch(self, x: Tensor, name: str) -> None:
        self._check_x(x, name)  # the exact image shape, not only the channels

    def _buffers_on(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return (
            self.means.to(device=device, dtype=torch.float64),
            self.log_weights.to(device=device, dtype=torch.float64),
            self.eigenvectors.to(device=device, dtype=torch.float64),
            self.eigenvalues.to(device=device, dtype=torch.float64),
        )

    def _data_terms(self, x: Tensor, extra_variance: Tensor | float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture terms in public units for ``x`` ``(B, *shape)``, covariances ``Σ_k + extra I``."""
        mu, logw, q, lam = self._buffers_on(x.device)
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        if isinstance(extra_variance, Tensor):
            extra_variance = extra_variance.reshape(-1, 1, 1)
        return _mixture_terms(flat, mu[None], logw, q, lam[None] + extra_variance)

    def log_prob(self, x: Tensor) -> Tensor:
        r""":math:`\log p(x)` in public units for ``x`` of shape ``(B, *shape)``; returns ``(B,)``."""
        x = self._check_x(x, "x")
        return self._data_terms(x)[0].to(x.dtype)

    def grad(self, x: Tensor) -> Tensor:
        r"""Gradient of the regularizer :math:`R = -\log p`:
        :math:`-\nabla \log p(x) = \sum_k r_k(x)\, \Sigma_k^{-1}(x - \mu_k)` (public units)."""
        x = self._check_x(x, "x")
        _, resp, prec = self._data_terms(x)
        return (resp[..., None] * prec).sum(1).reshape(x.shape).to(x.dtype)

    def denoise(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        r"""Exact MMSE denoiser :math:`E[x_0 \mid x]` for :math:`x = x_0 + \sigma n` (public units).

        By Tweedie's formula, with :math:`p_\sigma = \sum_k w_k \mathcal N(\mu_k, \Sigma_k + \sigma^2 I)`,

        .. math::
            E[x_0 \mid x] = x + \sigma^2 \nabla \log p_\sigma(x)
            = \sum_k r_k(x) \big(\mu_k + \Sigma_k (\Sigma_k + \sigma^2 I)^{-1} (x - \mu_k)\big).

        Args:
            x: noisy images ``(B, *shape)``.
            sigma: noise standard deviation ``>= 0``: a float or a tensor of shape ``()`` or ``(B,)``.
        """
        x = self._check_x(x, "x")
        s = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).detach()
        if s.ndim > 1 or (s.ndim == 1 and s.shape[0] not in (1, x.shape[0])):
            raise ValueError(f"sigma must be a float or a tensor of shape ({x.shape[0]},), got shape {tuple(s.shape)}")
        if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
        var = s.reshape(-1) ** 2
        _, resp, prec = self._data_terms(x, var)
        flat = x.reshape(x.shape[0], -1).to(torch.float64)
        out = flat - var[:, None] * (resp[..., None] * prec).sum(1)
        return out.reshape(x.shape).to(x.dtype)

    def mean(self) -> Tensor:
        r"""Mixture mean :math:`\sum_k w_k \mu_k`, shape ``shape``, float64."""
        return (self.weights[:, None] * self.means).sum(0).reshape(self.shape).to(torch.float64)

    def covariance(self) -> Tensor:
        r"""Mixture covariance :math:`\sum_k w_k (\Sigma_k + \mu_k\mu_k^\top) - \bar\mu\bar\mu^\top`, ``(D, D)``, float64."""
        means, cov, weights = (v.to(torch.float64) for v in (self.means, self.covariances, self.weights))
        return _mixture_covariance(means[None], cov, weights[None])[0]

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        shape: Sequence[int] | None = None,
        steps: int = 100,
        eta: float = 0.0,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """``n`` independent draws ``(n, *shape)`` in public units, exact (no diffusion sampler).

        The signature is that of :meth:`DiffusionModel.sample`, so code written for any diffusion
        prior runs on the mixture: ``shape`` may be given but must be the mixture's own, and
        ``steps`` and ``eta`` (the DDIM sampler's settings) are accepted for that common interface,
        checked like :class:`~reddiff_imaging.solvers.DDIM` checks them, and ignored: the draws are
        exact whatever their values.

        Args:
            n: number of samples.
            generator: source of randomness (on the device of the prior's buffers).
            shape: the image shape ``(C, H, W)``; None or :attr:`shape`.
            steps: ignored (an int >= 1).
            eta: ignored (a number in ``[0, 1]``).
            dtype: dtype of the result (default: torch's default dtype, float32).
        """
        n = _check_count(n, "n")
        _check_generator(generator)
        if shape is not None and as_shape(shape, "shape") != self.shape:
            raise ValueError(
                f"shape must be the mixture's image shape {self.shape} (or None): a GaussianMixture is a "
                f"distribution of images of one shape, got {tuple(shape)}"
            )
        check_int(steps, "steps")
        check_unit_interval(eta, "eta")
        weights, means, chol = (v.to(torch.float64) for v in (self.weights, self.means, self.cholesky))
        idx = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, dtype=torch.float64, device=means.device, generator=generator)
        x = means[idx] + (chol[idx] @ noise[..., None])[..., 0]
        return x.reshape(n, *self.shape).to(dtype or torch.get_default_dtype())

    # ------------------------------------------------------------------ diffusion
    def _diffused_terms(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture terms of :math:`p_t` in the model range; ``t`` validated, shape ``(B,)``."""
        mu, logw, q, lam = self._buffers_on(x_t.device)
        ab = self.alphas_cumprod.to(device=x_t.device, dtype=torch.float64)[t.long()].reshape(-1, 1, 1)
        a, b = float(self.range_scale), float(self.range_shift)
        means_t = ab.sqrt() * (a * mu + b)[None]
        var_t = ab * (a * a) * lam[None] + (1.0 - ab)
        flat = x_t.reshape(x_t.shape[0], -1).to(torch.float64)
        return _mixture_terms(flat, means_t, logw, q, var_t)

    def _score64(self, x_t: Tensor, t: Tensor) -> Tensor:
        _, resp, prec = self._diffused_terms(x_t, t)
        return -(resp[..., None] * prec).sum(1)

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        x_t = self._check_x(x_t, "x_t")
        ab = self.alphas_cumprod.to(device=x_t.device, dtype=torch.float64)[t.long()].reshape(-1, 1)
        eps = -(1.0 - ab).sqrt() * self._score64(x_t, t)
        return eps.reshape(x_t.shape).to(x_t.dtype)

    def score(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> Tensor:
        r"""Exact score :math:`\nabla_{x_t} \log p_t(x_t)` of the diffused mixture (model range),
        computed directly (not through :math:`\hat\varepsilon`)."""
        x_t = self._check_x(x_t, "x_t")
        t = self._timesteps(t, x_t)
        with torch.set_grad_enabled(differentiable):
            return self._score64(x_t, t).reshape(x_t.shape).to(x_t.dtype)

    def log_prob_t(self, x_t: Tensor, t: Tensor | int) -> Tensor:
        r""":math:`\log p_t(x_t)` of the diffused mixture in the model range, ``(B,)``.

        Differentiable in ``x_t`` (used by the tests to check the score against autograd).
        """
        x_t = self._check_x(x_t, "x_t")
        t = self._timesteps(t, x_t)
        return self._diffused_terms(x_t, t)[0].to(x_t.dtype)

    # ------------------------------------------------------------------ posterior
    def posterior(
        self,
        operator: Operator | InverseProblem,
        y: Tensor | None = None,
        sigma: float | NoiseModel | None = None,
        *,
        rcond: float = 1e-10,
    ) -> GaussianMixturePosterior:
        r"""The exact posterior :math:`p(x \mid y)` for :math:`y = A x + \sigma n` (public units).

        A batch of ``B`` measurements gives a batch of ``B`` posteriors (they share the component
        covariances :math:`P_k`, which do not depend on :math:`y`). Formulas in the module docstring.

        The operator's dense matrix is built in float64 by applying it to the identity basis
        (:func:`~reddiff_imaging.operators.operator_matrix`; ``D`` must be small). Complex measurements (e.g. MRI of real images)
        are handled by stacking real and imaginary parts, each with noise :math:`\mathcal N(0, \sigma^2)`
        as :class:`reddiff_imaging.noise.Gaussian` draws them.

        Rank-deficient :math:`A` (and :math:`\sigma = 0`): with the SVD :math:`A = U s V^\top`, only the
        :math:`r` directions with :math:`s_i > \texttt{rcond}\cdot s_{\max}` are kept,
        :math:`A_r = U_r^\top A`, :math:`y_r = U_r^\top y`. This is exact: :math:`U_\perp^\top y` is pure
        noise independent of :math:`x` (or, for :math:`\sigma = 0`, must vanish — a ``ValueError`` says
        so when ``y`` is not in the range of :math:`A`). Then :math:`S_k` is positive definite and no
        pseudo-inverse or jitter is needed. For :math:`\sigma = 0` the posterior is degenerate (it lives
        on :math:`\{x : A x = y\}`); see :class:`GaussianMixturePosterior` for how densities are
        defined then.

        Args:
            operator: a linear operator with ``in_shape == self.shape``, or an
                :class:`~reddiff_imaging.InverseProblem` with Gaussian noise (then ``y`` and
                ``sigma`` are taken from it and must be omitted).
            y: measurements ``(B, *operator.out_shape)``.
            sigma: noise standard deviation ``>= 0`` in public units, or a
                :class:`~reddiff_imaging.noise.Gaussian` noise model.
            rcond: relative cut-off on the singular values of :math:`A`; for :math:`\sigma = 0` also
                the cut-off, relative to the largest prior eigenvalue, below which posterior
                covariance eigenvalues count as zero (they define the support).
        """
        from reddiff_imaging.noise import Gaussian, NoiseModel
        from reddiff_imaging.operators.base import LinearOperator, Operator
        from reddiff_imaging.operators.matrix import operator_matrix
        from reddiff_imaging.problem import InverseProblem

        if isinstance(operator, InverseProblem):
            if y is not None or sigma is not None:
                raise ValueError("y and sigma must be omitted when an InverseProblem is given (they come from it)")
            problem = operator
            operator, y, sigma = problem.operator, problem.y, problem.sigma
        if not isinstance(operator, LinearOperator):
            kind = "a nonlinear Operator" if isinstance(operator, Operator) else type(operator).__name__
            raise TypeError(f"operator must be a LinearOperator (the exact posterior needs a linear forward model), got {kind}")
        if tuple(operator.in_shape) != self.shape:
            raise ValueError(f"operator.in_shape must equal the prior's image shape {self.shape}, got {tuple(operator.in_shape)}")
        if y is None:
            raise TypeError("y is required: measurements of shape (B, *operator.out_shape)")
        operator.check_output(y, "y")
        if sigma is None:
            raise TypeError("sigma is required: the Gaussian noise level (>= 0) in public units")
        if isinstance(sigma, Gaussian):
            sigma = sigma.sigma
        elif isinstance(sigma, NoiseModel):
            raise TypeError(f"sigma must be a float or a Gaussian noise model (the exact posterior needs Gaussian noise), got {type(sigma).__name__}")
        sigma = check_positive(sigma, "sigma", allow_zero=True)
        rcond = check_positive(rcond, "rcond")

        device = y.device
        a_full = operator_matrix(operator).to(device)  # (M, D)
        y_full = _flatten_measurement(y).to(device)  # (B, M)
        if y_full.shape[1] != a_full.shape[0]:
            raise ValueError(
                f"y is {'complex' if y.is_complex() else 'real'} but the operator's output is "
                f"{'real' if y.is_complex() else 'complex'}; pass the operator's own measurement"
            )
        mu = self.means.to(device=device, dtype=torch.float64)
        cov = self.covariances.to(device=device, dtype=torch.float64)
        logw = self.log_weights.to(device=device, dtype=torch.float64)
        # support of a noise-free posterior: eigenvalues of the P_k below this are zero
        support_tol = 0.0 if sigma > 0 else rcond * float(self.eigenvalues.max())
        num, dim = mu.shape

        # reduce to the range of A (exact; see the docstring)
        u, s, _ = torch.linalg.svd(a_full, full_matrices=True)
        smax = float(s.max()) if s.numel() else 0.0
        rank = int((s > rcond * smax).sum()) if smax > 0 else 0
        u_r, u_perp = u[:, :rank], u[:, rank:]
        a_r = u_r.T @ a_full  # (r, D)
        y_r = y_full @ u_r  # (B, r)
        y_perp = y_full @ u_perp  # (B, M - r)
        null_log_lik = torch.zeros(y_full.shape[0], dtype=torch.float64, device=device)
        if u_perp.shape[1] > 0:
            if sigma == 0.0:
                tol = math.sqrt(torch.finfo(_real_dtype(y)).eps) * (1.0 + y_full.norm(dim=1))
                off = y_perp.norm(dim=1)
                if bool((off > tol).any()):
                    raise ValueError(
                        "y is not in the range of the operator (largest distance "
                        f"{float(off.max()):.3g}); with sigma = 0 the posterior is undefined"
                    )
            else:
                null_log_lik = -0.5 * (y_perp**2).sum(1) / sigma**2 - 0.5 * u_perp.shape[1] * (
                    _LOG_2PI + 2 * math.log(sigma)
                )

        if rank == 0:  # y carries no information on x: the posterior is the prior
            means = mu[None].expand(y_full.shape[0], num, dim).clone()
            log_post = logw[None].expand(y_full.shape[0], num).clone()
            return GaussianMixturePosterior(
                means, cov, log_post, self.shape, dtype=_real_dtype(y), log_evidence=null_log_lik, support_tol=0.0
            )

        a_sigma = a_r @ cov  # (K, r, D) = A Σ_k
        s_mat = a_sigma @ a_r.T + sigma**2 * torch.eye(rank, dtype=torch.float64, device=device)
        s_mat = 0.5 * (s_mat + s_mat.mT)
        chol, info = torch.linalg.cholesky_ex(s_mat)
        if bool((info != 0).any()):
            raise ValueError(
                "A Σ_k A^T + sigma^2 I is numerically singular; increase rcond or sigma"
            )
        resid = y_r[:, None, :] - (mu @ a_r.T)[None]  # (B, K, r)
        sol = torch.cholesky_solve(resid.permute(1, 2, 0), chol)  # (K, r, B) = S_k^{-1} resid
        quad = (resid.permute(1, 2, 0) * sol).sum(1).T  # (B, K)
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        log_lik = -0.5 * (quad + logdet + rank * _LOG_2PI)  # (B, K)
        joint = logw + log_lik
        log_evidence = torch.logsumexp(joint, dim=1) + null_log_lik
        log_post = joint - torch.logsumexp(joint, dim=1, keepdim=True)

        means = mu[None] + torch.einsum("krd,krb->bkd", a_sigma, sol)
        gain = torch.cholesky_solve(a_sigma, chol).mT  # (K, D, r) = Σ_k A^T S_k^{-1}
        eye = torch.eye(dim, dtype=torch.float64, device=device)
        i_ga = eye - gain @ a_r
        post_cov = i_ga @ cov @ i_ga.mT + sigma**2 * (gain @ gain.mT)  # Joseph form: symmetric PSD
        post_cov = 0.5 * (post_cov + post_cov.mT)
        return GaussianMixturePosterior(
            means, post_cov, log_post, self.shape, dtype=_real_dtype(y), log_evidence=log_evidence, support_tol=support_tol
        )


def _mixture_covariance(means: Tensor, covariances: Tensor, weights: Tensor) -> Tensor:
    """Covariance ``(B, D, D)`` of mixtures with means ``(B, K, D)``, covariances ``(K, D, D)``, weights ``(B, K)``."""
    mean = (weights[..., None] * means).sum(1)
    second = torch.einsum("bk,kde->bde", weights, covariances) + torch.einsum("bk,bkd,bke->bde", weights, means, means)
    cov = second - mean[:, :, None] * mean[:, None, :]
    return 0.5 * (cov + cov.mT)


# ---------------------------------------------------------------------------------------------------
# the posterior
# ---------------------------------------------------------------------------------------------------
class GaussianMixturePosterior:
    r"""A batch of ``B`` Gaussian mixtures sharing their component covariances:
    :math:`p_b(x) = \sum_k \tilde w_{bk}\, \mathcal N(x; m_{bk}, P_k)` — the exact posteriors made by
    :meth:`GaussianMixture.posterior`, one per measurement.

    **Degenerate posteriors.** When the covariances are singular (noise-free measurements,
    :math:`\sigma = 0`), all of them have the same range (the null space of :math:`A`) and the
    mixture lives on the affine subspace :math:`c_b + \operatorname{range}(U)`, where :math:`U`
    (``basis``, ``(D, d)``) spans the eigenvectors of :math:`\frac1K\sum_k P_k` with eigenvalues above
    ``rcond`` times the largest and :math:`c_b` is the first component mean. Densities
    (:meth:`log_prob`) are then taken with respect to the Lebesgue measure on that subspace, after
    projecting the point orthogonally onto it; :meth:`distance_to_support` tells how far a point was.
    ``support_dim`` is :math:`d` (``D`` for a non-degenerate posterior, in which case :math:`U = I`;
    ``0`` for an injective :math:`A` without noise, a point mass at the solution of :math:`Ax = y`,
    whose :meth:`log_prob` is 0).

    Args:
        means: :math:`m_{bk}`, ``(B, K, D)`` (or ``(K, D)`` for ``B = 1``).
        covariances: :math:`P_k`, ``(K, D, D)``, symmetric positive semi-definite.
        log_weights: :math:`\log \tilde w_{bk}`, ``(B, K)`` (or ``(K,)``), normalised.
        shape: image shape ``(C, H, W)``.
        dtype: dtype of the results (:meth:`mean`, :meth:`sample`, :meth:`mode`, ...).
        log_evidence: :math:`\log p(y)` per measurement ``(B,)``, when known.
        rcond: relative cut-off that defines the support (eigenvalues of :math:`\frac1K\sum_k P_k`
            above ``rcond`` times the largest), unless ``support_tol`` is given.
        support_tol: absolute cut-off on those eigenvalues instead (``0`` keeps every positive one).
            :meth:`GaussianMixture.posterior` passes ``0`` for :math:`\sigma > 0` (the posterior is
            then non-degenerate) and ``rcond`` times the largest prior eigenvalue for :math:`\sigma = 0`.

    Attributes ``means``, ``covariances``, ``log_weights``, ``weights`` and ``log_evidence`` are
    float64; for :math:`\sigma = 0` the evidence is that of the measurement restricted to the range
    of :math:`A` (a density of ``rank(A)`` dimensions).
    """

    def __init__(
        self,
        means: Tensor,
        covariances: Tensor,
        log_weights: Tensor,
        shape: Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        log_evidence: Tensor | None = None,
        rcond: float = 1e-10,
        support_tol: float | None = None,
    ) -> None:
        means = _as_float64(means, "means")
        if means.ndim == 2:
            means = means[None]
        if means.ndim != 3:
            raise ValueError(f"means must have shape (B, K, D) or (K, D), got {tuple(means.shape)}")
        batch, num, dim = means.shape
        self.shape: tuple[int, ...] = as_shape(shape, "shape")
        if math.prod(self.shape) != dim:
            raise ValueError(f"shape must have C*H*W = D = {dim} entries, got {self.shape}")
        cov = _as_float64(covariances, "covariances").to(means.device)
        if cov.shape != (num, dim, dim):
            raise ValueError(f"covariances must have shape (K, D, D) = ({num}, {dim}, {dim}), got {tuple(cov.shape)}")
        logw = _as_float64(log_weights, "log_weights").to(means.device)
        if logw.ndim == 1:
            logw = logw[None]
        if logw.shape != (batch, num):
            raise ValueError(f"log_weights must have shape (B, K) = ({batch}, {num}), got {tuple(logw.shape)}")
        total = torch.logsumexp(logw, dim=1)
        if bool((total.abs() > WEIGHT_TOL).any()):
            raise ValueError(f"log_weights must be normalised (logsumexp = 0 per row), got {total.tolist()}")
        if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            raise TypeError(f"dtype must be a real floating dtype, got {dtype}")
        rcond = check_positive(rcond, "rcond")
        if support_tol is not None:
            support_tol = check_positive(support_tol, "support_tol", allow_zero=True)

        self.means = means
        self.covariances = 0.5 * (cov + cov.mT)
        self.log_weights = logw - total[:, None]
        self.dtype = dtype
        self.log_evidence = None if log_evidence is None else _as_float64(log_evidence, "log_evidence").to(means.device)

        # support of the mixture: common range of the P_k
        evals, evecs = torch.linalg.eigh(self.covariances.mean(0))
        tol = rcond * float(evals.max().clamp_min(0)) if support_tol is None else support_tol
        keep = evals > tol
        d = int(keep.sum())
        if d == dim:
            self.basis = torch.eye(dim, dtype=torch.float64, device=means.device)
            self.center = torch.zeros(batch, dim, dtype=torch.float64, device=means.device)
        else:
            self.basis = evecs[:, keep]
            self.center = means[:, 0, :].clone()
        self.support_dim = d
        self._reduced_means = (means - self.center[:, None, :]) @ self.basis  # (B, K, d)
        reduced_cov = self.basis.T @ self.covariances @ self.basis  # (K, d, d)
        reduced_cov = 0.5 * (reduced_cov + reduced_cov.mT)
        chol, info = torch.linalg.cholesky_ex(reduced_cov)
        if bool((info != 0).any()):
            raise ValueError(
                "the covariances do not share a common support (a component is singular on the "
                "support of the others); the mixture has no density"
            )
        self._reduced_cov = reduced_cov
        self._reduced_chol = chol
        eye = torch.eye(d, dtype=torch.float64, device=means.device)
        self._reduced_chol_inv = torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False)
        self._reduced_logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)

    # ------------------------------------------------------------------ properties
    @property
    def weights(self) -> Tensor:
        r""":math:`\tilde w_{bk}`, ``(B, K)``, float64."""
        return self.log_weights.exp()

    @property
    def batch_size(self) -> int:
        return int(self.means.shape[0])

    @property
    def num_components(self) -> int:
        return int(self.means.shape[1])

    @property
    def dim(self) -> int:
        return int(self.means.shape[2])

    @property
    def device(self) -> torch.device:
        return self.means.device

    def __repr__(self) -> str:
        return (
            f"GaussianMixturePosterior(batch_size={self.batch_size}, num_components={self.num_components}, "
            f"shape={self.shape}, support_dim={self.support_dim}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ moments
    def mean(self) -> Tensor:
        r"""Posterior mean (the MMSE estimate) :math:`\sum_k \tilde w_{bk} m_{bk}`, ``(B, *shape)``."""
        mean = (self.weights[..., None] * self.means).sum(1)
        return mean.reshape(self.batch_size, *self.shape).to(self.dtype)

    def covariance(self) -> Tensor:
        r"""Posterior covariance ``(B, D, D)``."""
        return _mixture_covariance(self.means, self.covariances, self.weights).to(self.dtype)

    # ------------------------------------------------------------------ densities
    def _flatten_points(self, x: Tensor, name: str) -> Tensor:
        check_tensor(x, name, self.shape, allow_complex=False)
        if x.shape[0] != self.batch_size and self.batch_size != 1:
            raise ValueError(
                f"{name} must have batch size {self.batch_size} (one point per posterior) or the posterior "
                f"batch size must be 1, got {x.shape[0]}"
            )
        return x.detach().reshape(x.shape[0], -1).to(device=self.device, dtype=torch.float64)

    def _reduced_log_terms(self, z: Tensor, batch_index: Tensor | None = None) -> Tensor:
        """``log w_k + log N(z; m_k, P_k)`` in reduced coordinates: z ``(N, S, d)`` → ``(N, S, K)``."""
        means = self._reduced_means if batch_index is None else self._reduced_means[batch_index]
        logw = self.log_weights if batch_index is None else self.log_weights[batch_index]
        # means (N or 1, K, d); broadcast the points over components
        diff = z[:, :, None, :] - means[:, None, :, :]  # (N, S, K, d)
        white = torch.einsum("kde,nske->nskd", self._reduced_chol_inv, diff)  # L_k^{-1} (z - m_k)
        log_n = -0.5 * ((white * white).sum(-1) + self._reduced_logdet + self.support_dim * _LOG_2PI)
        return logw[:, None, :] + log_n

    def _reduce(self, flat: Tensor) -> Tensor:
        center = self.center if flat.shape[0] == self.batch_size else self.center.expand(flat.shape[0], -1)
        return (flat - center) @ self.basis

    def log_prob(self, x: Tensor) -> Tensor:
        r""":math:`\log p_b(x_b)` for ``x`` of shape ``(N, *shape)`` with ``N == B`` (point ``b`` under
        posterior ``b``) or ``B == 1`` (all points under the one posterior); returns ``(N,)`` in
        ``x``'s dtype. For a degenerate posterior, the density on its support at the projection of
        ``x`` (see the class docstring)."""
        flat = self._flatten_points(x, "x")
        z = self._reduce(flat)[:, None, :]
        terms = self._reduced_log_terms(z)
        return torch.logsumexp(terms, dim=-1)[:, 0].to(x.dtype)

    def distance_to_support(self, x: Tensor) -> Tensor:
        """Euclidean distance ``(N,)`` of ``x`` to the support of the posterior (zero when it is the whole space)."""
        flat = self._flatten_points(x, "x")
        center = self.center if flat.shape[0] == self.batch_size else self.center.expand(flat.shape[0], -1)
        off = flat - center
        off = off - (off @ self.basis) @ self.basis.T
        return off.norm(dim=1).to(x.dtype)

    # ------------------------------------------------------------------ sampling and modes
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` independent draws from each posterior: shape ``(B, n, *shape)`` (use ``[0]`` for ``B = 1``).

        Args:
            n: samples per posterior.
            generator: a ``torch.Generator`` on the posterior's device.
        """
        n = _check_count(n, "n")
        _check_generator(generator)
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (B, n)
        noise = torch.randn(
            self.batch_size, n, self.support_dim, dtype=torch.float64, device=self.device, generator=generator
        )
        batch = torch.arange(self.batch_size, device=self.device)[:, None]
        z = self._reduced_means[batch, idx] + (self._reduced_chol[idx] @ noise[..., None])[..., 0]
        x = self.center[:, None, :] + z @ self.basis.T
        return x.reshape(self.batch_size, n, *self.shape).to(self.dtype)

    def mode(
        self, *, max_iter: int = 200, tol: float = 1e-10, return_all: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""The highest-density point of each posterior, ``(B, *shape)``.

        Runs the fixed-point iteration of M. Á. Carreira-Perpiñán ("Mode-finding for mixtures of
        Gaussian distributions", IEEE TPAMI 22(11), 2000) from every component mean,

        .. math::
            x \leftarrow \Big(\sum_k r_k(x) P_k^{-1}\Big)^{-1} \sum_k r_k(x) P_k^{-1} m_k,

        which increases the density monotonically and stops at a stationary point, and returns the
        candidate of highest density (on the support, for a degenerate posterior).

        Args:
            max_iter: iterations at most.
            tol: stop when no candidate moves by more than ``tol`` (max-norm).
            return_all: also return every candidate: ``(modes (B, K, *shape), log_probs (B, K))``
                instead of the best one alone.
        """
        max_iter = _check_count(max_iter, "max_iter")
        tol = check_positive(tol, "tol")
        prec = torch.cholesky_inverse(self._reduced_chol)  # (K, d, d)
        prec = 0.5 * (prec + prec.mT)
        prec_means = torch.einsum("kde,bke->bkd", prec, self._reduced_means)  # (B, K, d)
        z = self._reduced_means.clone()  # (B, S = K starts, d)
        for _ in range(max_iter if self.support_dim > 0 else 0):
            resp = torch.softmax(self._reduced_log_terms(z), dim=-1)  # (B, S, K)
            lhs = torch.einsum("bsk,kde->bsde", resp, prec)
            rhs = torch.einsum("bsk,bkd->bsd", resp, prec_means)
            new = torch.linalg.solve(lhs, rhs)
            step = float((new - z).abs().max())
            z = new
            if step <= tol:
                break
        log_p = torch.logsumexp(self._reduced_log_terms(z), dim=-1)  # (B, S)
        x = self.center[:, None, :] + z @ self.basis.T  # (B, S, D)
        if return_all:
            return x.reshape(self.batch_size, -1, *self.shape).to(self.dtype), log_p.to(self.dtype)
        best = log_p.argmax(dim=1)
        x_best = x[torch.arange(self.batch_size, device=self.device), best]
        return x_best.reshape(self.batch_size, *self.shape).to(self.dtype)


def __getattr__(name: str) -> object:
    # deprecated alias, kept for one release: operator_matrix is an operator utility
    if name == "operator_matrix":
        warnings.warn(
            "reddiff_imaging.priors.gaussian_mixture.operator_matrix is deprecated and will be removed in the next "
            "release; use reddiff_imaging.operators.operator_matrix",
            DeprecationWarning,
            stacklevel=2,
        )
        from reddiff_imaging.operators.matrix import operator_matrix

        return operator_matrix
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
