r"""DPIR: deep plug-and-play image restoration by half-quadratic splitting (Zhang, Li, Zuo, Zhang,
Van Gool and Timofte, "Plug-and-play image restoration with deep denoiser prior", IEEE TPAMI 44(10),
2022; official code: cszn/DPIR; deepinv: ``deepinv.optim.DPIR``).

Half-quadratic splitting of :math:`\min_x \frac{1}{2\sigma^2}\|y - Ax\|^2 + \lambda R(x)` alternates a
data step and a denoising step while the denoiser's level :math:`\sigma_k` falls geometrically from
:math:`\sigma_1` (49/255) to :math:`\sigma_K` (the measurement's noise level) over :math:`K` steps:

.. math::
    x_k = \arg\min_x \|y - Ax\|^2 + \rho_k \|x - z_{k-1}\|^2 = (A^H A + \rho_k I)^{-1}(A^H y + \rho_k z_{k-1}),
    \qquad \rho_k = \lambda\,\sigma^2/\sigma_k^2,

    z_k = g_k^{-1} D\big(g_k x_k,\ \sigma_k\big), \qquad
    \sigma_k = \sigma_1 (\sigma_K/\sigma_1)^{(k-1)/(K-1)},

and returns :math:`z_K`. :math:`\sigma = \max(\sigma_y, 0.255/255)` is the measurement's noise level
with the official floor, :math:`\lambda = 0.23` the official trade-off. :math:`g_k` is the official
"periodic geometric self-ensemble": step :math:`k` shows the denoiser the image under the
:math:`(k \bmod 8)`-th of the eight rotations and flips of the grid and turns its output back — one
network call a step, where the averaged self-ensemble (:class:`~reddiff_imaging.priors.SelfEnsemble`)
costs eight. The data step is :meth:`~reddiff_imaging.operators.LinearOperator.solve_normal` (closed
form for masks, FFT-diagonal and SVD operators, conjugate gradients otherwise).

The official scripts: deblurring 8 steps, :math:`\sigma_K = \sigma_y`, starting from the blurred
measurement; super-resolution 24 steps, :math:`\sigma_K = \max(s, 255\sigma_y)/255` for the scale
factor :math:`s`, starting from the bicubic upsampling (see :mod:`~reddiff_imaging.solvers.presets`).
The start here is the truncated pseudo-inverse :math:`A^+ y` by default (``init``, as the other
classical solvers): it is defined for every operator, and the first steps, whose :math:`\rho_k` is
tiny, keep only the frequencies the operator suppresses from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from reddiff_imaging._validation import check_bool, check_init, check_int, check_positive
from reddiff_imaging.priors.base import Prior
from reddiff_imaging.priors.ensemble import apply_symmetry, undo_symmetry
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.solvers.base import Monitor
from reddiff_imaging.solvers.capabilities import require_linear
from reddiff_imaging.solvers.classical_common import INITS, NormalStepSolver, call_prior, finish, initial_iterate
from reddiff_imaging.solvers.data_term import DataTerm, real_like

__all__ = ["DPIR", "GEOMETRIC_MODES", "dpir_levels"]

#: the eight grid symmetries of the official periodic self-ensemble, in its order (``augment_img_tensor4``
#: modes 0–7), as (quarter turns counter-clockwise, then a left-right flip) of
#: :func:`~reddiff_imaging.priors.ensemble.apply_symmetry` (the official flips the rows, which after
#: k turns is the left-right flip after k + 2)
GEOMETRIC_MODES: tuple[tuple[int, bool], ...] = (
    (0, False), (3, True), (2, True), (3, False), (0, True), (1, False), (2, False), (1, True),
)


def dpir_levels(sigma_start: float, sigma_end: float, steps: int) -> list[float]:
    r"""The denoiser levels :math:`\sigma_1, \dots, \sigma_K`: ``steps`` values spaced evenly in
    :math:`\log\sigma` from ``sigma_start`` to ``sigma_end`` (``numpy.logspace`` in the official code;
    one step uses ``sigma_start``)."""
    if steps == 1:
        return [sigma_start]
    ratio = math.log(sigma_end / sigma_start) / (steps - 1)
    return [sigma_start * math.exp(k * ratio) for k in range(steps)]


@dataclass
class DPIR(NormalStepSolver):
    r"""DPIR (half-quadratic splitting with a falling denoiser level; equations in the module docs).
    Linear operators with Gaussian noise.

    History (every ``metrics_every`` steps and at the last): ``data`` :math:`\tfrac12\|Az_k - y\|^2`,
    ``level`` :math:`\sigma_k`.

    Args:
        steps: :math:`K`, the number of steps (one denoiser call each; official: 8 for deblurring,
            24 for super-resolution).
        lam: :math:`\lambda`, the weight of the data step (official: 0.23).
        sigma_start: :math:`\sigma_1`, the first denoiser level in public units (official 49/255).
        sigma_end: :math:`\sigma_K`, the last denoiser level; ``None`` (default): the measurement's
            noise level, at least ``sigma_floor`` (the official deblurring setting).
        sigma_floor: the floor of :math:`\sigma` in :math:`\rho_k` and of the default
            :math:`\sigma_K` (official: 0.255/255), so that noise-free problems keep a finite data weight.
        geometric: the periodic geometric self-ensemble :math:`g_k` (official ``x8``, on in every
            official script).
        init: the start :math:`z_0`: ``pinv``, ``adjoint``, ``zeros`` or a tensor (as
            :class:`~reddiff_imaging.solvers.ADMM`).
        rcond: relative cut-off of the singular values in the ``pinv`` start.
        clip: clip the returned image to ``[0, 1]``.
    """

    name: ClassVar[str] = "dpir"
    tuning_grid = {"lam": (0.05, 0.1, 0.23, 0.5)}
    requires: ClassVar[tuple[str, ...]] = ("denoise",)

    steps: int = 8
    lam: float = 0.23
    sigma_start: float = 49 / 255
    sigma_end: float | None = None
    sigma_floor: float = 0.255 / 255
    geometric: bool = True
    init: str | Tensor = "pinv"
    rcond: float = 3e-2
    clip: bool = True

    def __post_init__(self) -> None:
        check_int(self.steps, "steps")
        check_positive(self.lam, "lam")
        check_positive(self.sigma_start, "sigma_start")
        if self.sigma_end is not None:
            check_positive(self.sigma_end, "sigma_end")
        check_positive(self.sigma_floor, "sigma_floor")
        check_bool(self.geometric, "geometric")
        check_init(self.init, INITS)
        check_positive(self.rcond, "rcond", allow_zero=True)
        check_bool(self.clip, "clip")

    def _check_turned_shape(self, problem: InverseProblem, prior: Prior) -> None:
        """The quarter turns of the self-ensemble show a non-square image to the denoiser transposed:
        refuse, before any work, a prior that cannot take that shape (a Gaussian mixture of one shape)."""
        shape = tuple(problem.operator.in_shape)
        if not self.geometric or shape[-1] == shape[-2]:
            return
        turned = (*shape[:-2], shape[-1], shape[-2])
        try:
            prior.check_image_shape(turned, self.name)
        except ValueError as err:
            raise ValueError(
                f"{self.name}: geometric=True shows the denoiser the {shape[-2]}×{shape[-1]} image turned by quarter turns, "
                f"as {shape[-1]}×{shape[-2]}, which this prior refuses ({err}); pass geometric=False"
            ) from err

    def _run(self, problem: InverseProblem, prior: Prior, generators: list[torch.Generator], monitor: Monitor) -> Tensor:
        self._check_turned_shape(problem, prior)
        with torch.no_grad():
            operator = require_linear(problem.operator, self.name)
            term = DataTerm.from_problem(problem)
            sigma = max(float(term.noise_level), self.sigma_floor)
            levels = dpir_levels(self.sigma_start, sigma if self.sigma_end is None else self.sigma_end, self.steps)
            z = initial_iterate(self.init, problem, self.rcond)
            aty = real_like(operator.apply_adjoint(problem.y), z)
            monitor.start(self.steps)
            for step, level in enumerate(levels):
                rho = self.lam * sigma**2 / level**2
                x = term.solve_normal(torch.add(aty, z, alpha=rho), rho)
                mode = step % len(GEOMETRIC_MODES) if self.geometric else 0
                turns, flip = GEOMETRIC_MODES[mode]
                z = undo_symmetry(call_prior(self.name, prior.denoise, apply_symmetry(x, turns, flip), level, step, monitor), turns, flip)
                if monitor.due(step):
                    monitor.step(step, z, data=term.value(z).mean(), level=torch.full((), level, dtype=z.dtype, device=z.device))
                else:
                    monitor.step(step, z)
            return finish(z, self.clip)
