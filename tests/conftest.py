"""Shared fixtures: the ``device`` fixture adds CUDA when a GPU is present."""

from __future__ import annotations

import os

import pytest
import torch

# one intra-op thread per test process: the suite runs with one pytest worker per core (the
# command line's default number of threads follows OMP_NUM_THREADS too)
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def default_prior():
    """The bundled trained diffusion prior (64×64 grayscale)."""
    from reddiff_imaging.priors import DiffusionPrior

    return DiffusionPrior.default()


@pytest.fixture(scope="session")
def heldout() -> torch.Tensor:
    """Four held-out 64×64 test images in [0, 1]."""
    from reddiff_imaging.data.synthetic import heldout_images

    return heldout_images(4)
