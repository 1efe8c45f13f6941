"""Regression: the outputs of every public solver on a few small problems, stored before the
solver core was unified (issue 17) and compared bit for bit in float64 on the CPU.

The stored tensors (``data/regression_outputs.pt``) were computed by this module's cases from the
code of that day; run ``python -m tests.solvers.test_regression_outputs`` to rewrite them — only in
a commit that changes a solver's output on purpose and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import reddiff_imaging as ri
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV, GaussianFilterDenoiser, Prior
from reddiff_imaging.solvers import get
from tests.solvers.diffusion_helpers import tiny_prior

STORE = Path(__file__).parent / "data" / "regression_outputs.pt"
SHAPE = (1, 8, 8)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _operator(task: str) -> ops.Operator:
    if task == "inpainting":
        return ops.Inpainting(ops.random_mask((8, 8), 0.5, generator=_gen(5)), SHAPE)
    if task == "deblur":
        return ops.Blur(ops.gaussian_kernel(1.0, 5).to(torch.float64), SHAPE)
    return ops.HDR(SHAPE)


def _problem(task: str) -> ri.InverseProblem:
    g = _gen(11)
    x = 0.2 + 0.6 * torch.rand(2, *SHAPE, generator=g, dtype=torch.float64)
    return ri.InverseProblem.simulate(_operator(task), x, ri.noise.Gaussian(0.05), g)


def _priors() -> dict[str, Callable[[], Prior]]:
    return {
        "tiny": lambda: tiny_prior(SHAPE),
        "tv": lambda: TV(),
        "gaussian-filter": lambda: GaussianFilterDenoiser(),
    }


#: (solver, options, prior, tasks)
CASES = [
    ("reddiff", {"steps": 12, "clip": False}, "tiny", ("inpainting", "deblur", "hdr")),
    ("dps", {"steps": 12, "clip": False}, "tiny", ("inpainting", "deblur", "hdr")),
    ("pigdm", {"steps": 8, "clip": False}, "tiny", ("inpainting", "deblur")),
    ("ddrm", {"steps": 8, "clip": False}, "tiny", ("inpainting", "deblur")),
    ("diffpir", {"steps": 8, "clip": False}, "tiny", ("inpainting", "deblur")),
    ("ddim", {"steps": 8, "clip": False}, "tiny", ("inpainting",)),
    ("admm", {"steps": 10}, "tv", ("inpainting", "deblur")),
    ("pnp-admm", {"steps": 10}, "gaussian-filter", ("inpainting", "deblur")),
    ("pnp-pgd", {"steps": 10}, "gaussian-filter", ("inpainting", "deblur", "hdr")),
    ("red", {"steps": 10}, "gaussian-filter", ("inpainting", "deblur")),
    ("red", {"steps": 10, "method": "gd"}, "gaussian-filter", ("deblur", "hdr")),
]

KEYS = [(index, task) for index, (_, _, _, tasks) in enumerate(CASES) for task in tasks]


def _key(index: int, task: str) -> str:
    solver, options, _, _ = CASES[index]
    return "/".join([solver, *(f"{k}={v}" for k, v in options.items() if k not in ("steps", "iterations")), task])


def run_case(index: int, task: str) -> torch.Tensor:
    solver, options, prior, _ = CASES[index]
    result = get(solver, **options).solve(_problem(task), _priors()[prior](), generator=_gen(7))
    return result.x


@pytest.fixture(scope="module")
def stored() -> dict[str, torch.Tensor]:
    return torch.load(STORE, weights_only=True)


@pytest.mark.parametrize(("index", "task"), KEYS, ids=[_key(i, t) for i, t in KEYS])
def test_output_unchanged(stored: dict[str, torch.Tensor], index: int, task: str) -> None:
    x = run_case(index, task)
    expected = stored[_key(index, task)]
    assert x.dtype == torch.float64
    # bit for bit up to the last ulps that another BLAS or FFT may change
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-12)


if __name__ == "__main__":
    torch.set_num_threads(1)
    STORE.parent.mkdir(exist_ok=True)
    torch.save({_key(i, t): run_case(i, t) for i, t in KEYS}, STORE)
    print(f"wrote {len(KEYS)} outputs to {STORE}")
