"""DiffusionPrior: prediction types, learned variance, no-grad by default, loading (own and ADM formats)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reddiff_imaging import InverseProblem
from reddiff_imaging.data import synthetic_images
from reddiff_imaging.image_statistics import edge_fraction, noise_level
from reddiff_imaging.models import UNet, UNetConfig, save_unet_checkpoint
from reddiff_imaging.noise import Gaussian
from reddiff_imaging.operators import Identity
from reddiff_imaging.priors import DiffusionPrior, GaussianMixture, VPSchedule, as_diffusion
from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.solvers import DDIM
from tests.solvers.diffusion_helpers import tiny_prior

SCHEDULE = VPSchedule.linear()


class _Fixed(nn.Module):
    """Returns a fixed function of its input, to check the prediction conversions."""

    def __init__(self, out_channels: int = 1) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.3))
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.scale * x + 0.01 * t.view(-1, 1, 1, 1).to(x.dtype)
        return out if self.out_channels == x.shape[1] else out[:, :1].repeat(1, self.out_channels, 1, 1)


def test_eps_x0_and_score_are_consistent() -> None:
    prior = DiffusionPrior(_Fixed())
    x_t = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    t = torch.tensor([10, 500, 990])
    a = prior.alpha_bar(t, x_t)
    eps = prior.eps(x_t, t)
    torch.testing.assert_close(prior.x0(x_t, t), (x_t - (1 - a).sqrt() * eps) / a.sqrt())
    torch.testing.assert_close(prior.score(x_t, t), -eps / (1 - a).sqrt())
    torch.testing.assert_close(a.sqrt() * prior.x0(x_t, t) + (1 - a).sqrt() * eps, x_t)


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_x0_and_v_prediction_convert_to_eps(prediction: str) -> None:
    prior = DiffusionPrior(_Fixed(), prediction=prediction)
    x_t = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    t = torch.tensor([100, 700])
    out = prior.network(x_t.float(), t).double()
    a = prior.alpha_bar(t, x_t)
    if prediction == "x0":
        torch.testing.assert_close(prior.x0(x_t, t), out, rtol=1e-5, atol=1e-6)
    else:  # v = sqrt(a) eps - sqrt(1 - a) x0
        eps, x0 = prior.eps(x_t, t), prior.x0(x_t, t)
        torch.testing.assert_close(a.sqrt() * eps - (1 - a).sqrt() * x0, out, rtol=1e-5, atol=1e-6)


def test_learned_variance_channels_are_dropped() -> None:
    prior = DiffusionPrior(_Fixed(out_channels=2), channels=1)
    x_t = torch.randn(2, 1, 8, 8)
    assert prior.eps(x_t, 5).shape == x_t.shape
    with pytest.raises(ValueError, match="network returned 2 channels, expected 3 or 6"):
        DiffusionPrior(_Fixed(out_channels=2), channels=3).eps(torch.randn(1, 3, 8, 8), 5)


def test_network_runs_without_autograd_unless_asked() -> None:
    prior = DiffusionPrior(_Fixed())
    x_t = torch.randn(1, 1, 8, 8, requires_grad=True)
    assert not prior.eps(x_t, 3).requires_grad
    eps = prior.eps(x_t, 3, differentiable=True)
    assert eps.requires_grad
    (grad,) = torch.autograd.grad(eps.sum(), x_t)
    torch.testing.assert_close(grad, torch.full_like(x_t, 0.3))


def test_timesteps_are_validated() -> None:
    prior = DiffusionPrior(_Fixed())
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 999\], got values in \[0, 1000\]"):
        prior.eps(x, torch.tensor([0, 1000]))
    with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
        prior.eps(x, torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="t must hold integer timesteps"):
        prior.eps(x, torch.tensor([0.5, 1.0]))


def test_denoise_maps_sigma_to_the_matching_timestep() -> None:
    prior = DiffusionPrior(_Fixed())
    t = prior.timestep_for_sigma(0.1)
    a = float(prior.alphas_cumprod[t])
    assert abs(((1 - a) / a) ** 0.5 - 0.2) < 0.01  # sigma 0.1 in [0, 1] is 0.2 in [-1, 1]


def test_denoise_checks_sigma_against_the_batch() -> None:
    prior = DiffusionPrior(_Fixed())
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"sigma must be a number or a tensor of shape \(2,\) \(one per item\), got shape \(3,\)"):
        prior.denoise(x, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"sigma must be a number or a tensor of shape \(2,\) \(one per item\), got shape \(0,\)"):
        prior.denoise(x, torch.tensor([]))
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        prior.denoise(x, torch.tensor([0.1, -0.2]))
    with pytest.raises(TypeError, match="sigma must be a real floating-point tensor"):
        prior.denoise(x, torch.tensor([1, 2]))
    assert prior.denoise(x, torch.tensor([0.1, 0.2])).shape == x.shape


def test_denoiser_diffusion_refuses_what_is_not_a_prior() -> None:
    with pytest.raises(TypeError, match="prior must be a reddiff_imaging Prior, got int"):
        as_diffusion(3)  # type: ignore[arg-type]


def test_bundled_default_prior_denoises_heldout_images(default_prior, heldout) -> None:
    noise = 0.1 * torch.randn(heldout.shape, generator=torch.Generator().manual_seed(0))
    denoised = default_prior.denoise(heldout + noise, 0.1)
    assert float((denoised - heldout).square().mean()) < 0.5 * float(noise.square().mean())


@pytest.mark.parametrize("model", ["fixed", "tiny-network", "gaussian-mixture"])
def test_sample_is_ddim_on_a_problem_that_measures_nothing_bit_for_bit(model: str) -> None:
    shape = (1, 4, 4)
    if model == "fixed":
        prior: DiffusionModel = DiffusionPrior(_Fixed(), image_shape=shape)
    elif model == "tiny-network":
        prior = tiny_prior(shape)
    else:
        prior = GaussianMixture.random(3, shape, generator=torch.Generator().manual_seed(3))
    problem = InverseProblem(Identity(shape), torch.zeros(3, *shape), Gaussian(0.0))
    for eta in (0.0, 1.0):
        expected = DDIM(steps=10, eta=eta).solve(problem, prior, torch.Generator().manual_seed(0)).x
        # DiffusionModel.sample itself: the Gaussian mixture overrides it with exact sampling
        assert torch.equal(DiffusionModel.sample(prior, 3, shape=shape, steps=10, eta=eta), expected)  # default: seed 0
        assert torch.equal(DiffusionModel.sample(prior, 3, torch.Generator().manual_seed(0), shape=shape, steps=10, eta=eta), expected)
    assert not torch.equal(DiffusionModel.sample(prior, 3, torch.Generator().manual_seed(1), shape=shape, steps=10, eta=1.0), expected)


def test_sample_takes_other_shapes() -> None:
    prior = DiffusionPrior(_Fixed(), image_shape=(1, 8, 8))
    assert prior.sample(2, shape=(1, 4, 6), steps=3).shape == (2, 1, 4, 6)


def test_sample_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"does not know its image shape: pass shape=\(C, H, W\)"):
        DiffusionPrior(_Fixed()).sample(2)
    prior = DiffusionPrior(_Fixed(), image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"shape must be \(C, H, W\), got \(8, 8\)"):
        prior.sample(2, shape=(8, 8))
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        prior.sample(0)
    with pytest.raises(ValueError, match="image_shape must be a non-empty tuple of positive ints"):
        DiffusionPrior(_Fixed(), image_shape=(1, 0, 8))


def test_bundled_prior_samples_have_edges_and_no_grain_like_the_training_scenes(default_prior) -> None:
    samples = default_prior.sample(8, steps=50)
    scenes = synthetic_images(8, 64, seed=7)
    assert samples.shape == (8, 1, 64, 64) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    edges, scene_edges = float(edge_fraction(samples).median()), float(edge_fraction(scenes).median())
    grain = float(noise_level(samples).median())
    print(f"edge pixels: samples {edges:.3f}, scenes {scene_edges:.3f}; noise level of samples {grain:.4f}")
    assert edges > 0.4 * scene_edges  # not flat or washed out
    assert grain < 0.005  # not noise (white noise of std 0.01 would give 0.01; the scenes give 1e-4)
    assert float(samples.flatten(1).std(dim=1).min()) > 0.03  # every sample has content


def test_own_checkpoint_round_trip(tmp_path) -> None:
    network = UNet(UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(), num_groups=4, image_size=16))
    path = save_unet_checkpoint(tmp_path / "prior.pt", network, schedule=SCHEDULE, meta={"note": "test"})
    prior = DiffusionPrior.from_checkpoint(path)
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(prior.eps(x, 50), network.eval()(x, torch.tensor([50, 50])))
    assert prior.schedule == SCHEDULE
    assert prior.image_shape == (1, 16, 16)


def test_adm_checkpoint_round_trip_and_errors(tmp_path) -> None:
    deepinv = pytest.importorskip("deepinv")
    network = deepinv.models.DiffUNet(in_channels=3, out_channels=3, large_model=False, pretrained=None).eval()
    state = network.state_dict()
    path = tmp_path / "ffhq_10m.pt"
    torch.save(state, path)
    prior = DiffusionPrior.from_adm(path, "ffhq256")
    x = torch.randn(1, 3, 32, 32)
    t = torch.tensor([400])
    with torch.no_grad():
        expected = network.forward_diffusion(x, t)[:, :3]
    torch.testing.assert_close(prior.eps(x, t), expected)
    assert prior.image_shape == (3, 256, 256)

    with pytest.raises(FileNotFoundError, match="download ffhq_10m.pt .*DPS"):
        DiffusionPrior.from_adm(tmp_path / "missing.pt", "ffhq256")
    with pytest.raises(ValueError, match="model must be one of"):
        DiffusionPrior.from_adm(path, "celeba")
    broken = dict(state)
    key = next(iter(broken))
    del broken[key]
    torch.save(broken, tmp_path / "missing_key.pt")
    with pytest.raises(ValueError, match=f"missing.*{key}"):
        DiffusionPrior.from_adm(tmp_path / "missing_key.pt", "ffhq256")
    with pytest.raises(ValueError, match="expected the imagenet256 model 256x256_diffusion_uncond.pt"):
        DiffusionPrior.from_adm(path, "imagenet256")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt' .* is not a file written by torch.save, .*; expected a state dict of ffhq_10m.pt"):
        DiffusionPrior.from_adm(tmp_path / "garbage.pt", "ffhq256")
    (tmp_path / "empty.pt").touch()
    with pytest.raises(ValueError, match=r"empty.pt' is empty \(0 bytes\); expected a state dict of ffhq_10m.pt"):
        DiffusionPrior.from_adm(tmp_path / "empty.pt", "ffhq256")


def test_from_adm_names_a_path_that_is_no_path() -> None:
    with pytest.raises(TypeError, match=r"^path must be a file path \(str or os.PathLike\), got None \(NoneType\)$"):  # was pathlib's message
        DiffusionPrior.from_adm(None)  # type: ignore[arg-type]


class _RecordingInputs(nn.Module):
    """An ε-network that returns zeros and keeps the inputs it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x)
        return torch.zeros_like(x)


@pytest.mark.parametrize(
    ("size", "padding"),
    [((17, 23), "reflect"), ((1, 40), "replicate"), ((40, 1), "replicate"), ((1, 1), "replicate"), ((3, 8), "replicate")],
)
def test_padding_note_names_the_padding_the_network_sees(size: tuple[int, int], padding: str) -> None:
    # sides shorter than their padding cannot be reflected: the network gets edge-replicated pixels,
    # and the note said "reflect-padded" for them too
    network = _RecordingInputs()
    prior = DiffusionPrior(network, channels=1, size_multiple=8)
    h, w = size
    ph, pw = -(-h // 8) * 8, -(-w // 8) * 8
    note = prior.check_image_shape((1, h, w))
    assert note is not None
    assert (("reflect-padded" in note) == (padding == "reflect")) and (("replicated" in note) == (padding == "replicate"))
    assert f"{h}×{w} images are" in note and f"to {ph}×{pw} for it" in note
    x = torch.rand(1, 1, h, w)
    assert prior.eps(x, 500).shape == x.shape
    torch.testing.assert_close(network.inputs[-1], torch.nn.functional.pad(x, (0, pw - w, 0, ph - h), mode=padding))
