"""ADMM with TV: warm-started proxes with a tightening tolerance, and one warning per solve."""

from __future__ import annotations

import warnings

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV
from reddiff_imaging.solvers import ADMM


def test_warm_started_prox_matches_the_cold_one_in_fewer_iterations(heldout) -> None:
    tv = TV(weight=1.0, max_iter=2000, tol=1e-7)
    y = heldout[:2].double() + 0.05 * torch.randn(heldout[:2].shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cold = tv.prox_with_info(y, 0.02, warm_start=(torch.zeros_like(y), torch.zeros_like(y)))
    assert cold.converged.all() and cold.dual is not None
    assert all(float(p.abs().max()) <= 1 + 1e-12 for p in cold.dual)  # a dual point (isotropic: |p| <= 1)
    nearby = y + 1e-3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    warm = tv.prox_with_info(nearby, 0.02, warm_start=cold.dual)
    again = tv.prox_with_info(nearby, 0.02)
    torch.testing.assert_close(warm.x, again.x, atol=2e-4, rtol=0)  # both within their stopping rule
    assert int(warm.iterations.max()) < int(again.iterations.max())
    assert again.dual is None  # kept only when warm-starting
    with pytest.raises(ValueError, match="warm_start must hold two tensors of the shape of x"):
        tv.prox_with_info(y, 0.02, warm_start=(y[:1], y[:1]))


def _deblur(heldout):
    op = ops.registry.build("deblur-gaussian", (1, 64, 64))
    return ri.InverseProblem.simulate(op, heldout[:1], ri.noise.Gaussian(0.01), torch.Generator().manual_seed(0))


def _objective(problem, z, lam: float) -> float:
    return float(0.5 * (problem.operator(z) - problem.y).square().sum() + lam * TV().value(z).sum())


def test_admm_tv_reaches_the_exact_admm_objective(heldout) -> None:
    problem = _deblur(heldout)
    warm = ADMM(steps=60, clip=False).solve(problem, TV()).x
    reference = ADMM(steps=400, clip=False).solve(problem, TV(max_iter=3000, tol=1e-8)).x
    assert _objective(problem, warm, 0.01) <= _objective(problem, reference, 0.01) * (1 + 1e-3)


def test_admm_tv_warns_once_per_solve(heldout) -> None:
    problem = _deblur(heldout)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ADMM(steps=12).solve(problem, TV(max_iter=2, tol=1e-9))
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "admm: the TV prox stopped at its max_iter before reaching its tolerance in 12 of 12" in messages[0]
