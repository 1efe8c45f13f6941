"""Tests of the procedural scene generator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from reddiff_imaging.data.synthetic import (
    HELDOUT_SEED,
    MAX_TRAINING_SEED,
    VALIDATION_SEED,
    heldout_images,
    synthetic_batches,
    synthetic_images,
    validation_images,
)


def test_shape_range_dtype() -> None:
    x = synthetic_images(8, seed=0)
    assert x.shape == (8, 1, 64, 64) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert synthetic_images(3, 32, seed=0, dtype=torch.float64).shape == (3, 1, 32, 32)
    assert synthetic_images(1, 32, seed=0, dtype=torch.float64).dtype == torch.float64


def test_images_have_structure() -> None:
    x = synthetic_images(16, seed=1)
    per_image_std = x.flatten(1).std(dim=1)
    assert bool((per_image_std > 0.03).all())  # not blank
    # Not noise: neighbouring pixels are strongly correlated.
    a, b = x[..., :, :-1].flatten(), x[..., :, 1:].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9
    assert not torch.allclose(x[0], x[1])


def test_deterministic_under_seed_and_generator() -> None:
    torch.testing.assert_close(synthetic_images(4, seed=7), synthetic_images(4, seed=7))
    assert not torch.equal(synthetic_images(4, seed=7), synthetic_images(4, seed=8))
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(synthetic_images(4, generator=g), synthetic_images(4, seed=7))
    state = torch.random.get_rng_state()
    synthetic_images(2, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched


def test_batches_resume_from_generator_state() -> None:
    g = torch.Generator().manual_seed(5)
    stream = synthetic_batches(4, 16, generator=g)
    next(stream)
    saved = g.get_state()
    expected = next(stream)
    g2 = torch.Generator()
    g2.set_state(saved)
    torch.testing.assert_close(next(synthetic_batches(4, 16, generator=g2)), expected)
    assert [b.shape for b in itertools.islice(synthetic_batches(2, 16, seed=1), 3)] == [(2, 1, 16, 16)] * 3


def test_heldout_fixed_and_disjoint_from_training_seeds() -> None:
    assert HELDOUT_SEED >= MAX_TRAINING_SEED
    h = heldout_images(8)
    torch.testing.assert_close(h, heldout_images(8))
    torch.testing.assert_close(h[3:4], synthetic_images(1, seed=HELDOUT_SEED + 3))
    torch.testing.assert_close(heldout_images(4), h[:4])
    for seed in (0, 1, 2, 42):
        train = synthetic_images(8, seed=seed)
        dist = (h[:, None] - train[None]).flatten(2).abs().amax(dim=2)
        assert float(dist.min()) > 0.05


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n": 0, "seed": 0}, ValueError, "n must"),
        ({"n": 2}, ValueError, "seed"),
        ({"n": 2, "seed": 0, "generator": torch.Generator()}, ValueError, "not both"),
        ({"n": 2, "seed": -1}, ValueError, "seed"),
        ({"n": 2, "seed": 1.5}, TypeError, "seed"),
        ({"n": 2, "seed": 0, "size": 4}, ValueError, "size"),
        ({"n": 2, "seed": 0, "dtype": torch.int64}, TypeError, "dtype"),
        ({"n": 2, "generator": "g"}, TypeError, "generator"),
        ({"n": 2, "seed": 2**64}, ValueError, "seed"),
    ],
)
def test_errors(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        synthetic_images(**kwargs)


def test_validation_images_are_disjoint_from_test_and_training_images() -> None:
    assert VALIDATION_SEED >= MAX_TRAINING_SEED
    assert not HELDOUT_SEED <= VALIDATION_SEED < HELDOUT_SEED + 2**20
    # torch's CPU generator keeps only the low 32 bits of a seed: those must differ too
    assert not HELDOUT_SEED % 2**32 <= VALIDATION_SEED % 2**32 < HELDOUT_SEED % 2**32 + 2**20
    val, test = validation_images(4, 32), heldout_images(4, 32)
    assert val.shape == test.shape == (4, 1, 32, 32)
    distances = (val[:, None] - test[None]).flatten(2).abs().amax(-1)
    assert bool((distances > 0.05).all())
    assert torch.equal(validation_images(2, 32), val[:2])


def test_sizes_and_counts_are_bounded_before_drawing() -> None:
    with pytest.raises(ValueError, match=r"size must be an int >= 8 and <= 10000, got 1000000"):
        synthetic_images(1, 10**6, seed=0)
    with pytest.raises(ValueError, match=r"n asks for 10000000 images of 64 × 64 pixels.*the limit is"):
        synthetic_images(10**7, 64, seed=0)
    with pytest.raises(ValueError, match=r"size must be an int >= 8 and <= 10000"):
        heldout_images(1, 10**6)
    assert synthetic_images(np.int64(1), 8, seed=np.int64(3)).shape == (1, 1, 8, 8)


def test_synthetic_batches_checks_its_arguments_when_made() -> None:
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        synthetic_batches(0, 8, seed=0)
    with pytest.raises(TypeError, match="batch_size must be an int, got '2'"):
        synthetic_batches("2", 8, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size asks for 1000000000 images"):
        synthetic_batches(10**9, 64, seed=0)
    with pytest.raises(ValueError, match="explicit source of randomness"):
        synthetic_batches(1, 8)
    assert next(synthetic_batches(2, 8, seed=0)).shape == (2, 1, 8, 8)
