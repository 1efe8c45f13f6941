"""Classical denoisers as priors (RED / PnP) and the prior capability checks."""

from __future__ import annotations

import sys
from collections.abc import Callable

import deepinv
import pytest
import torch

from reddiff_imaging.data.synthetic import heldout_images
from reddiff_imaging.metrics import psnr
from reddiff_imaging.priors.base import MissingCapabilityError
from reddiff_imaging.priors.denoisers import (
    BM3DDenoiser,
    DeepinvDenoiser,
    DenoiserPrior,
    GaussianFilterDenoiser,
    MedianDenoiser,
    WaveletDenoiser,
)
from reddiff_imaging.priors.tv import TV

SIGMA = 0.1


def _bm3d() -> DenoiserPrior:
    pytest.importorskip("bm3d")
    return BM3DDenoiser()


def _wavelet() -> DenoiserPrior:
    pytest.importorskip("ptwt")
    return WaveletDenoiser()


FACTORIES: dict[str, Callable[[], DenoiserPrior]] = {
    "gaussian": GaussianFilterDenoiser,
    "median": MedianDenoiser,
    "wavelet": _wavelet,
    "bm3d": _bm3d,
    "deepinv-median": lambda: DeepinvDenoiser(deepinv.models.MedianFilter()),
}


@pytest.fixture(scope="module")
def noisy() -> tuple[torch.Tensor, torch.Tensor]:
    x = heldout_images(3, 64)
    g = torch.Generator().manual_seed(0)
    return x, x + SIGMA * torch.randn(x.shape, generator=g)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_denoiser_reduces_mse_on_heldout_images(name: str, noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = noisy
    if name == "bm3d":  # about a second per image on a CPU core
        x, y = x[:1], y[:1]
    prior = FACTORIES[name]()
    z = prior.denoise(y, SIGMA)
    assert z.shape == y.shape and z.dtype == y.dtype
    assert bool((psnr(z, x) > psnr(y, x) + 3.0).all())


@pytest.mark.parametrize("name", ["gaussian", "median", "wavelet", "deepinv-median"])
def test_red_gradient_and_prox_convention(name: str, noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    y = noisy[1][..., :32, :32]
    prior = FACTORIES[name]()
    assert set(prior.capabilities()) == {"denoise", "prox", "grad"}
    torch.testing.assert_close(prior.grad(y), y - prior.denoise(y, prior.sigma), rtol=0, atol=0)
    torch.testing.assert_close(prior.prox(y, 0.04), prior.denoise(y, 0.2), rtol=0, atol=0)
    taus = torch.tensor([0.0025, 0.01, 0.04])
    torch.testing.assert_close(prior.prox(y, taus), prior.denoise(y, taus.sqrt()), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["gaussian", "median", "wavelet"])
def test_per_item_sigma_matches_items_alone(name: str, noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    y = noisy[1][..., :32, :32]
    prior = FACTORIES[name]()
    sigmas = torch.tensor([0.03, 0.1, 0.22])
    batch = prior.denoise(y, sigmas)
    for i in range(3):
        torch.testing.assert_close(batch[i : i + 1], prior.denoise(y[i : i + 1], float(sigmas[i])), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(prior.denoise(y, torch.tensor(0.1)), prior.denoise(y, 0.1))


def test_bm3d_per_item_sigma_and_dtype(noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    prior = _bm3d()
    y = noisy[1][:2, :, :16, :16].double()
    batch = prior.denoise(y, torch.tensor([0.05, 0.2]))
    assert batch.dtype == torch.float64 and batch.shape == y.shape
    torch.testing.assert_close(batch[1:], prior.denoise(y[1:], 0.2))


def test_bm3d_runs_cbm3d_on_colour_images() -> None:
    """Three channels go through bm3d_rgb (CBM3D), which beats the gray BM3D run on the RGB stack."""
    bm3d = pytest.importorskip("bm3d")
    import skimage.data

    prior = BM3DDenoiser()
    clean = torch.from_numpy(skimage.data.astronaut()[100:164, 180:244]).permute(2, 0, 1)[None].double() / 255
    y = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = prior.denoise(y, 0.1)
    expected = bm3d.bm3d_rgb(y[0].permute(1, 2, 0).numpy(), 0.1)
    torch.testing.assert_close(out[0], torch.from_numpy(expected).permute(2, 0, 1), rtol=0, atol=1e-5)  # bm3d works in float32
    gray_stack = prior.model(y, torch.tensor([0.1], dtype=torch.float64))
    assert float(psnr(out, clean)) > float(psnr(gray_stack, clean)) + 0.3


def test_bm3d_refuses_other_channel_counts() -> None:
    pytest.importorskip("bm3d")
    with pytest.raises(
        ValueError,
        match=r"pnp-admm: prior BM3DDenoiser works on 1-channel \(BM3D\) or 3-channel \(CBM3D\) images, but the images have 2 channels",
    ):
        BM3DDenoiser().check_image_shape((2, 8, 8), "pnp-admm")


def test_small_sigma_is_near_identity(noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = noisy
    assert torch.equal(MedianDenoiser().denoise(y, 0.01), y)  # radius 0
    torch.testing.assert_close(GaussianFilterDenoiser().denoise(y, 1e-3), y)
    assert float((_wavelet().denoise(y, 1e-4) - y).abs().max()) < 1e-3


def test_gaussian_width_grows_with_sigma(noisy: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = noisy
    prior = GaussianFilterDenoiser()
    rough = [float((prior.denoise(y, s) - y).norm()) for s in (0.05, 0.1, 0.2)]
    assert rough[0] < rough[1] < rough[2]
    assert MedianDenoiser().radius(0.1) == 2 and MedianDenoiser().radius(0.2) == 4


@pytest.mark.parametrize("name", ["gaussian", "median", "wavelet", "deepinv-median"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_follow_input(name: str, dtype: torch.dtype, device: torch.device) -> None:
    prior = FACTORIES[name]().to(device)
    x = torch.rand(2, 1, 16, 16, dtype=dtype, device=device)
    for out in (prior.denoise(x, 0.1), prior.denoise(x, torch.tensor([0.05, 0.1])), prior.prox(x, 0.01), prior.grad(x)):
        assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


def test_deepinv_network_wrapper(device: torch.device) -> None:
    net = deepinv.models.DnCNN(in_channels=1, out_channels=1, depth=3, nf=8, pretrained=None, device=device)
    prior = DeepinvDenoiser(net, sigma=0.02)
    assert any(p is q for p, q in zip(prior.parameters(), net.parameters()))  # registered submodule
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64, device=device)
    with torch.no_grad():
        out = prior.denoise(x, torch.tensor([0.05, 0.1]))
        torch.testing.assert_close(out, net(x.float(), 0.1).double())  # DnCNN ignores sigma
    assert out.dtype == torch.float64
    with pytest.raises(TypeError, match="denoiser"):
        DeepinvDenoiser(lambda x, s: x)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_deepinv_wrapper_device_mismatch_is_explained() -> None:
    prior = DeepinvDenoiser(deepinv.models.DnCNN(in_channels=1, out_channels=1, depth=3, nf=8, pretrained=None))
    with pytest.raises(ValueError, match="device"):
        prior.denoise(torch.rand(1, 1, 8, 8, device="cuda"), 0.1)


def test_generic_callable_prior() -> None:
    seen = []

    def shrink(x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        seen.append(sigma)
        return x / (1 + sigma**2) if isinstance(sigma, float) else x / (1 + sigma.view(-1, 1, 1, 1) ** 2)

    prior = DenoiserPrior(shrink, sigma=0.5)
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(prior.grad(x), x - x / 1.25)
    torch.testing.assert_close(prior.prox(x, 0.25), x / 1.25)
    assert seen == [0.5, 0.5]  # floats stay floats
    prior.denoise(x, torch.tensor([0.1, 0.2]))
    assert isinstance(seen[-1], torch.Tensor) and seen[-1].shape == (2,)
    with pytest.raises(TypeError, match="denoiser"):
        DenoiserPrior()
    with pytest.raises(TypeError, match="denoiser"):
        DenoiserPrior(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        DenoiserPrior(lambda x, s: x[:, :, :2]).denoise(x, 0.1)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", ["gaussian", "median", "wavelet"])
def test_bad_sigma_and_shape_name_the_argument(name: str) -> None:
    prior = FACTORIES[name]()
    x = torch.rand(2, 1, 8, 8)
    for bad in (0.0, -0.1, float("nan"), float("inf"), torch.tensor([0.1, -0.1]), torch.tensor([0.1, float("nan")])):
        with pytest.raises(ValueError, match="sigma"):
            prior.denoise(x, bad)
    with pytest.raises(ValueError, match="sigma"):
        prior.denoise(x, torch.tensor([0.1, 0.1, 0.1]))
    with pytest.raises(TypeError, match="sigma"):
        prior.denoise(x, "0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tau"):
        prior.prox(x, 0.0)
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        prior.denoise(torch.rand(8, 8), 0.1)
    with pytest.raises(TypeError, match="x"):
        prior.denoise(torch.ones(1, 1, 4, 4, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match="x"):
        prior.grad(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="sigma"):
        type(prior)(sigma=-1.0)


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="width_per_sigma"):
        GaussianFilterDenoiser(0.0)
    with pytest.raises(ValueError, match="radius_per_sigma"):
        MedianDenoiser(-1.0)
    pytest.importorskip("ptwt")
    with pytest.raises(ValueError, match="threshold_per_sigma"):
        WaveletDenoiser(0.0)
    with pytest.raises(ValueError, match="wavelet"):
        WaveletDenoiser(wavelet="not-a-wavelet")
    with pytest.raises(ValueError, match="orthogonal"):
        WaveletDenoiser(wavelet="bior2.2")
    with pytest.raises(ValueError, match="level"):
        WaveletDenoiser(level=0)


def test_missing_optional_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "reddiff-imaging\[bm3d\]"'):
        BM3DDenoiser()
    monkeypatch.setitem(sys.modules, "ptwt", None)
    with pytest.raises(ImportError, match="pip install ptwt"):
        WaveletDenoiser()


# ---------------------------------------------------------------------------- capabilities


def test_capabilities() -> None:
    tv = TV()
    caps = tv.capabilities()
    assert {"prox", "grad", "denoise"} <= set(caps)
    assert "eps" not in caps
    with pytest.raises(MissingCapabilityError, match=r"TV.*'eps'.*DPS"):
        tv.require("eps", "DPS")
    tv.require("prox", "ADMM")  # provided: no error
    median = MedianDenoiser()
    with pytest.raises(MissingCapabilityError, match=r"MedianDenoiser.*'eps'.*DPS"):
        median.require("eps", "DPS")


@pytest.mark.parametrize("size", [(5, 40), (40, 5), (1, 1), (7, 7), (8, 8)])
@pytest.mark.parametrize("channels", [1, 3])
def test_bm3d_refuses_sizes_the_bm3d_package_cannot_take(size: tuple[int, int], channels: int) -> None:
    # sides under 8 failed inside the bm3d package ("Image cannot be smaller than block size!", no
    # argument named, after the solver had started); 8×8 killed the process with a segmentation fault
    pytest.importorskip("bm3d")
    prior = BM3DDenoiser()
    message = rf"pnp-pgd: prior BM3DDenoiser needs images of at least 8×8 pixels and larger than 8×8 .* but the images are {size[0]}×{size[1]}"
    with pytest.raises(ValueError, match=message):
        prior.check_image_shape((channels, *size), "pnp-pgd")
    if size != (8, 8):  # never call the package on 8×8: a regression would crash the test run
        with pytest.raises(ValueError, match="prior BM3DDenoiser needs images of at least 8×8 pixels"):
            prior.denoise(torch.rand(1, channels, *size), 0.1)


def test_bm3d_takes_images_of_more_than_one_block() -> None:
    pytest.importorskip("bm3d")
    prior = BM3DDenoiser()
    for size in [(8, 9), (9, 8), (8, 40)]:
        assert prior.check_image_shape((1, *size)) is None
        assert prior.denoise(torch.rand(1, 1, *size), 0.1).shape == (1, 1, *size)
