"""The self-ensemble of a diffusion prior: equivariant by construction, the model itself when the
model already is, and clear errors."""

from __future__ import annotations

import pytest
import torch

from reddiff_imaging.priors import DiffusionPrior, GaussianMixture, SelfEnsemble
from reddiff_imaging.priors.ensemble import GROUPS


def _transform(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    return torch.rot90(x, turns, dims=(-2, -1)).flip(-1) if flip else torch.rot90(x, turns, dims=(-2, -1))


@pytest.mark.parametrize("group", list(GROUPS))
def test_the_ensemble_is_equivariant_where_the_network_is_not(group: str, default_prior: DiffusionPrior) -> None:
    ensemble = SelfEnsemble(default_prior, group=group)
    x_t = torch.randn(2, 1, 16, 24, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([300, 600])
    with torch.no_grad():
        reference = ensemble.eps(x_t, t)
        for turns, flip in GROUPS[group][1:]:
            moved = _transform(x_t, turns, flip)
            torch.testing.assert_close(ensemble.eps(moved, t), _transform(reference, turns, flip), rtol=1e-4, atol=1e-5)
            network_gap = default_prior.eps(moved, t) - _transform(default_prior.eps(x_t, t), turns, flip)
            assert float(network_gap.abs().max()) > 1e-3


def test_an_invariant_model_is_its_own_ensemble() -> None:
    """Constant mean images and an isotropic covariance: invariant under every pixel permutation."""
    means = torch.tensor([[0.3], [0.7]], dtype=torch.float64).expand(2, 9).reshape(2, 1, 3, 3)
    covariances = torch.stack([0.01 * torch.eye(9, dtype=torch.float64), 0.04 * torch.eye(9, dtype=torch.float64)])
    mixture = GaussianMixture(means, covariances, torch.tensor([0.4, 0.6], dtype=torch.float64))
    x_t = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ensemble = SelfEnsemble(mixture)
    torch.testing.assert_close(ensemble.eps(x_t, 250), mixture.eps(x_t, 250), rtol=1e-10, atol=1e-12)
    assert ensemble.channels == mixture.channels and ensemble.num_timesteps == mixture.num_timesteps


def test_gradients_flow_through_every_member(default_prior: DiffusionPrior) -> None:
    x_t = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(2), requires_grad=True)
    out = SelfEnsemble(default_prior).eps(x_t, 500, differentiable=True)
    (grad,) = torch.autograd.grad(out.square().sum(), x_t)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0


def test_self_ensemble_errors(default_prior: DiffusionPrior) -> None:
    with pytest.raises(TypeError, match="model must be a DiffusionModel, got str"):
        SelfEnsemble("natural")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="group"):
        SelfEnsemble(default_prior, group="mirror")
    with pytest.raises(ValueError, match="1-channel images, but the images have 3 channels"):
        SelfEnsemble(default_prior).check_image_shape((3, 16, 16))
