"""Total variation prior: values, exact prox (FGP), smoothed gradient, denoising."""

from __future__ import annotations

import warnings

import pytest
import torch

from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.metrics import psnr
from reddiff_imaging.priors.tv import TV

SIGMA = 0.1


def _noisy(n: int, size: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = heldout_images(n, size).to(dtype)
    g = torch.Generator().manual_seed(seed)
    return x, x + SIGMA * torch.randn(x.shape, generator=g, dtype=dtype)


def _objective(tv: TV, z: torch.Tensor, x: torch.Tensor, tau: float) -> torch.Tensor:
    return tau * tv.value(z) + 0.5 * (z - x).flatten(1).square().sum(dim=1)


@pytest.fixture(scope="module")
def noisy16() -> tuple[torch.Tensor, torch.Tensor]:
    return _noisy(2, 16)


@pytest.fixture(scope="module")
def references(noisy16: tuple[torch.Tensor, torch.Tensor]) -> dict[bool, torch.Tensor]:
    """High-accuracy prox (many more iterations, tight tolerance) at tau = 0.08, iso and aniso."""
    _, y = noisy16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {iso: TV(isotropic=iso, max_iter=8000, tol=1e-12).prox(y, 0.08) for iso in (True, False)}


# ---------------------------------------------------------------------------- values


def test_value_by_hand() -> None:
    step = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    corner = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).view(1, 1, 2, 2)
    iso, aniso = TV(2.0), TV(2.0, isotropic=False)
    torch.testing.assert_close(iso.value(step), torch.tensor([4.0]))  # two unit jumps, weight 2
    torch.testing.assert_close(aniso.value(step), torch.tensor([4.0]))
    # the corner pixel has a jump in both directions: sqrt(2) (isotropic) vs 2 (anisotropic)
    torch.testing.assert_close(iso.value(corner), torch.tensor([2.0 * 2**0.5]))
    torch.testing.assert_close(aniso.value(corner), torch.tensor([4.0]))


def test_isotropic_couples_channels() -> None:
    x = torch.zeros(1, 2, 1, 2)
    x[0, :, 0, 1] = 1.0  # a unit jump in both channels at the same pixel
    torch.testing.assert_close(TV().value(x), torch.tensor([2**0.5]))
    torch.testing.assert_close(TV(isotropic=False).value(x), torch.tensor([2.0]))


# ---------------------------------------------------------------------------- prox


@pytest.mark.parametrize("isotropic", [True, False])
def test_prox_matches_reference_and_beats_perturbations(
    isotropic: bool, noisy16: tuple[torch.Tensor, torch.Tensor], references: dict[bool, torch.Tensor]
) -> None:
    _, y = noisy16
    tau = 0.08
    tv = TV(isotropic=isotropic, max_iter=2000, tol=1e-7)
    result = tv.prox_with_info(y, tau)
    assert bool(result.converged.all())
    ref = references[isotropic]
    rel = (result.x - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)
    assert float(rel.max()) < 1e-5

    f_z = _objective(tv, result.x, y, tau)
    f_ref = _objective(tv, ref, y, tau)
    assert bool((f_z - f_ref).ge(-1e-12).all())  # the reference is the better minimiser
    assert bool((f_z - f_ref).le(1e-5 * f_ref).all())
    g = torch.Generator().manual_seed(3)
    for scale in (1e-4, 1e-2, 1e-1):
        for _ in range(4):
            delta = scale * torch.randn(y.shape, generator=g, dtype=y.dtype)
            assert bool((f_z <= _objective(tv, result.x + delta, y, tau) + 1e-10).all())


def test_prox_default_tolerance_is_close(noisy16: tuple[torch.Tensor, torch.Tensor], references: dict[bool, torch.Tensor]) -> None:
    _, y = noisy16
    tv = TV()
    z = tv.prox(y, 0.08)
    ref = references[True]
    rel = (z - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)
    assert float(rel.max()) < 5e-4
    assert bool((_objective(tv, z, y, 0.08) - _objective(tv, ref, y, 0.08)).le(1e-3).all())


def test_prox_tends_to_identity(noisy16: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = noisy16
    tv = TV()
    assert torch.equal(tv.prox(y, 0.0), y)
    dists = [float((tv.prox(y, tau) - y).norm()) for tau in (1e-2, 1e-3, 1e-5)]
    assert dists[0] > dists[1] > dists[2]
    assert dists[2] < 1e-3 * float(y.norm())


@pytest.mark.parametrize("isotropic", [True, False])
def test_constant_image_is_fixed_point(isotropic: bool) -> None:
    x = torch.full((2, 3, 8, 8), 0.37)
    tv = TV(isotropic=isotropic)
    torch.testing.assert_close(tv.prox(x, 5.0), x)
    torch.testing.assert_close(tv.value(x), torch.zeros(2))
    torch.testing.assert_close(tv.grad(x), torch.zeros_like(x))


def test_isotropic_and_anisotropic_prox_differ(noisy16: tuple[torch.Tensor, torch.Tensor], references: dict[bool, torch.Tensor]) -> None:
    assert float((references[True] - references[False]).abs().max()) > 1e-2


def test_per_item_tau(noisy16: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = noisy16
    tv = TV(max_iter=2000, tol=1e-8)
    taus = torch.tensor([0.02, 0.2], dtype=y.dtype)
    result = tv.prox_with_info(y, taus)
    assert result.iterations[0] < result.iterations[1]  # items stop on their own
    for i in range(2):
        alone = tv.prox(y[i : i + 1], float(taus[i]))
        torch.testing.assert_close(result.x[i : i + 1], alone, rtol=0, atol=1e-6)
    torch.testing.assert_close(tv.prox(y, torch.tensor(0.05)), tv.prox(y, 0.05))


def test_unconverged_prox_warns(noisy16: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = noisy16
    with pytest.warns(RuntimeWarning, match="max_iter=3"):
        TV(max_iter=3).prox(y, 0.1)
    result = TV(max_iter=3).prox_with_info(y, 0.1)
    assert not bool(result.converged.any())
    assert result.iterations.tolist() == [3, 3]


# ---------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("isotropic", [True, False])
def test_grad_matches_autograd_of_smoothed_value(isotropic: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 9, 7, generator=g, dtype=torch.float64)
    x[:, :, :3, :3] = 0.5  # flat patches, where the smoothing matters
    tv = TV(1.7, isotropic=isotropic, smoothing=0.05)
    x_req = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(tv.smoothed_value(x_req).sum(), x_req)
    torch.testing.assert_close(tv.grad(x), auto, rtol=1e-10, atol=1e-12)
    gap = tv.value(x) - tv.smoothed_value(x)
    assert bool((gap >= 0).all())


# ---------------------------------------------------------------------------- denoising


def test_denoise_improves_heldout_images() -> None:
    x, y = _noisy(4, 64, torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = TV(8.5).denoise(y, SIGMA)
    assert bool((psnr(z, x) > psnr(y, x) + 6.0).all())
    with pytest.warns(RuntimeWarning):  # 50 iterations are too few for tol; both give the same iterate
        torch.testing.assert_close(TV(8.5, max_iter=50).denoise(y, SIGMA), TV(8.5, max_iter=50).prox(y, SIGMA**2))


def test_dtype_and_device_follow_input(device: torch.device) -> None:
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(2, 1, 8, 8, dtype=dtype, device=device)
        tv = TV(max_iter=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            outs = [tv.prox(x, 0.1), tv.denoise(x, torch.tensor([0.1, 0.2])), tv.grad(x)]
        for out in outs:
            assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
        assert tv.value(x).shape == (2,)


# ---------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument() -> None:
    x = torch.rand(2, 1, 8, 8)
    tv = TV()
    with pytest.raises(ValueError, match="tau"):
        tv.prox(x, -0.1)
    with pytest.raises(ValueError, match="tau"):
        tv.prox(x, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="sigma"):
        tv.denoise(x, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        tv.denoise(x, float("nan"))
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        tv.value(torch.rand(8, 8))
    with pytest.raises(TypeError, match="x"):
        tv.grad([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        TV(0.0)
    with pytest.raises(ValueError, match="max_iter"):
        TV(max_iter=0)
    with pytest.raises(ValueError, match="smoothing"):
        TV(smoothing=-1.0)
