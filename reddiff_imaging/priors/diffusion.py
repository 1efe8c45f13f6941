r"""Diffusion priors from networks: the project's own UNet checkpoints, guided-diffusion (ADM)
checkpoints through deepinv's ``DiffUNet``, and the bundled default prior.

A network is any module ``network(x_t, t)`` taking images in the model range (``[-1, 1]``) and
integer timesteps ``t`` of shape ``(B,)``. Its output is converted to the noise prediction
:math:`\hat\varepsilon` according to ``prediction``:

.. math::
    \text{eps: } \hat\varepsilon = f, \qquad
    \text{x0: } \hat\varepsilon = \frac{x_t - \sqrt{\bar\alpha_t} f}{\sqrt{1-\bar\alpha_t}}, \qquad
    \text{v: } \hat\varepsilon = \sqrt{\bar\alpha_t}\, f + \sqrt{1-\bar\alpha_t}\, x_t

(v-prediction after Salimans & Ho, 2022). Networks with learned variances (Nichol & Dhariwal, 2021)
return :math:`2C` channels; the first :math:`C` are the prediction.

Image size: a UNet halves its feature maps between levels, so it takes sides divisible by
:math:`m = 2^{L-1}` (:math:`L` levels; 8 for the bundled prior, 32 for the ADM models) and is
otherwise free of the size it was trained on. An image whose sides are not multiples of :math:`m`
is reflect-padded up to the next multiples for the network (edge-replicated where a side is too
short to reflect, i.e. the padding would reach past the side) and its prediction cropped back;
:meth:`DiffusionPrior.check_image_shape` says so in a note, naming the padding used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reddiff_imaging._validation import as_image_shape, check_choice, check_device, check_int
from reddiff_imaging.models.checkpoint import (
    check_path,
    check_state_dict,
    load_unet_checkpoint,
    read_torch_file,
)
from reddiff_imaging.priors.base import DiffusionModel
from reddiff_imaging.priors.sampling import eps_from_x0
from reddiff_imaging.priors.schedules import VPSchedule

if TYPE_CHECKING:
    from deepinv.models import DiffUNet

PREDICTIONS = ("eps", "x0", "v")

#: public guided-diffusion checkpoints that deepinv's DiffUNet reads, by name
ADM_MODELS = {
    "ffhq256": {
        "large_model": False,
        "file": "ffhq_10m.pt",
        "source": "the FFHQ-256 model of DPS (Chung et al., 2023), github.com/DPS2022/diffusion-posterior-sampling",
    },
    "imagenet256": {
        "large_model": True,
        "file": "256x256_diffusion_uncond.pt",
        "source": "the unconditional ImageNet-256 model of guided-diffusion (Dhariwal & Nichol, 2021), github.com/openai/guided-diffusion",
    },
}

DEFAULT_PRIOR_FILE = "default_prior.pt"
NATURAL_PRIOR_FILE = "natural_prior.pt"


class DiffusionPrior(DiffusionModel):
    r"""A diffusion prior :math:`\hat\varepsilon_\theta(x_t, t)` given by a network and a VP schedule.

    Args:
        network: module called as ``network(x_t, t)``; it is put in eval mode.
        schedule: the VP noise schedule it was trained with (default: linear β from 1e-4 to 0.02,
            T = 1000).
        prediction: what the network predicts: ``"eps"``, ``"x0"`` or ``"v"``.
        channels: image channels ``C``; when the network returns ``2C`` channels (learned
            variance) only the first ``C`` are used. Default: inferred from the input.
        image_shape: ``(C, H, W)`` of the training images, the default shape of :meth:`sample`
            (set by the loaders; ``None``: :meth:`sample` needs a ``shape``).
        size_multiple: the network takes sides divisible by this (:math:`2^{L-1}` for a UNet of
            :math:`L` levels); other sides are padded for it (reflected, or edge-replicated when a side
            is shorter than its padding). Default: read from the
            project's UNet configuration, else 1.

    Raises:
        ValueError: from :meth:`check_image_shape` (called by every solver before it starts) for
            images whose channel count is not :attr:`channels`.
    """

    def __init__(
        self,
        network: nn.Module,
        schedule: VPSchedule | None = None,
        *,
        prediction: str = "eps",
        channels: int | None = None,
        image_shape: tuple[int, int, int] | None = None,
        size_multiple: int | None = None,
    ) -> None:
        super().__init__(VPSchedule.linear() if schedule is None else schedule)
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
        self.network = network.eval()
        self.prediction = check_choice(prediction, "prediction", PREDICTIONS)
        config = getattr(network, "config", None)
        self.channels = check_int(channels, "channels") if channels is not None else getattr(config, "in_channels", None)
        self.image_shape = None if image_shape is None else as_image_shape(image_shape, "image_shape")
        if size_multiple is None:
            levels = getattr(config, "channel_mults", None)
            size_multiple = 2 ** (len(levels) - 1) if levels else 1
        size_multiple = check_int(size_multiple, "size_multiple")
        self.size_multiple = size_multiple

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """As :meth:`Prior.check_image_shape`; the note says when the network sees a padded image."""
        super().check_image_shape(shape, user)
        h, w = (int(s) for s in shape[-2:])
        padded = _padded_sides(h, w, self.size_multiple)
        if padded == (h, w):
            return None
        how = (
            "reflect-padded"
            if _pad_mode(h, w, *padded) == "reflect"
            else "edge-padded (replicated: a side is too short to reflect)"
        )
        return (
            f"the network takes sides divisible by {self.size_multiple}: {h}×{w} images are {how} "
            f"to {padded[0]}×{padded[1]} for it and its predictions cropped back"
        )

    @property
    def learned_variance(self) -> bool | None:
        """From the network's configuration: the project's UNet says so, the ADM checkpoints have
        them; ``None`` for other networks (their output decides at the first call)."""
        if isinstance(self.network, _ADMNetwork):
            return True
        learned = getattr(getattr(self.network, "config", None), "learned_variance", None)
        return learned if isinstance(learned, bool) else None

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self._eps_and_variance(x_t, t)[0]

    def eps_and_variance(self, x_t: Tensor, t: Tensor | int, *, differentiable: bool = False) -> tuple[Tensor, Tensor | None]:
        """:meth:`eps` and, for a network with learned variances, its last ``C`` channels
        :math:`v` (see :meth:`DiffusionModel.eps_and_variance`); ``None`` otherwise."""
        t = self._timesteps(t, x_t)
        with torch.set_grad_enabled(differentiable):
            return self._eps_and_variance(x_t, t)

    def _eps_and_variance(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor | None]:
        weight = next(self.network.parameters(), None)
        net_dtype = weight.dtype if weight is not None else x_t.dtype
        h, w = x_t.shape[-2:]
        ph, pw = _padded_sides(h, w, self.size_multiple)
        inputs = x_t.to(net_dtype)
        if (ph, pw) != (h, w):
            inputs = F.pad(inputs, (0, pw - w, 0, ph - h), mode=_pad_mode(h, w, ph, pw))
        if inputs.device.type == "cpu":
            # oneDNN's convolutions run faster on channels-last inputs: the natural prior's network
            # call took 20 % less time at 64² and 23 % less at 256² (2 threads; not measured on GPUs)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        out = self.network(inputs, t)[..., :h, :w].contiguous()
        channels = self.channels or x_t.shape[1]
        variance = None
        if out.shape[1] == 2 * channels:
            out, variance = out[:, :channels].to(x_t.dtype), out[:, channels:].to(x_t.dtype)
        elif out.shape[1] != channels:
            raise ValueError(f"network returned {out.shape[1]} channels, expected {channels} or {2 * channels}")
        out = out.to(x_t.dtype)
        if self.prediction == "eps":
            return out, variance
        alpha_bar = self.alpha_bar(t, x_t)
        if self.prediction == "x0":
            return eps_from_x0(x_t, out, alpha_bar), variance
        return alpha_bar.sqrt() * out + (1 - alpha_bar).sqrt() * x_t, variance

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> DiffusionPrior:
        """Load a checkpoint of the project's UNet (see :func:`~reddiff_imaging.models.load_unet_checkpoint`)."""
        network, info = load_unet_checkpoint(path, map_location=map_location)
        config = info["config"]
        return cls(
            network,
            info["schedule"],
            prediction=info["prediction"],
            channels=config.in_channels,
            image_shape=(config.in_channels, config.image_size, config.image_size),
        )

    @classmethod
    def default(cls, map_location: str | torch.device = "cpu") -> DiffusionPrior:
        """The bundled phantom prior: the project's UNet trained on its 64×64 grayscale synthetic
        scenes (see :mod:`reddiff_imaging.data.synthetic`), for teaching and exact tests. Loads
        offline from the package."""
        return cls._bundled(DEFAULT_PRIOR_FILE, "default", map_location)

    @classmethod
    def natural(cls, map_location: str | torch.device = "cpu") -> DiffusionPrior:
        """The bundled natural-image prior: a 3-channel UNet trained on crops of real photographs
        (:data:`~reddiff_imaging.data.photos.TRAINING_PHOTOS`, see :doc:`/training`); on gray images
        use :class:`~reddiff_imaging.priors.GrayFromColour`. Loads offline from the package."""
        return cls._bundled(NATURAL_PRIOR_FILE, "natural", map_location)

    @classmethod
    def _bundled(cls, filename: str, name: str, map_location: str | torch.device) -> DiffusionPrior:
        path = Path(str(resources.files("reddiff_imaging.data") / "assets" / filename))
        if not path.is_file():
            raise FileNotFoundError(
                f"the bundled {name} prior is missing at {path}; reinstall reddiff-imaging or train one with "
                "`reddiff-imaging train-prior` and load it with DiffusionPrior.from_checkpoint(path)"
            )
        return cls.from_checkpoint(path, map_location=map_location)

    @classmethod
    def from_adm(
        cls, path: str | os.PathLike[str], model: str = "ffhq256", map_location: str | torch.device = "cpu"
    ) -> DiffusionPrior:
        """Load a public guided-diffusion (ADM) checkpoint from a local file through deepinv's ``DiffUNet``.

        Args:
            path: the checkpoint file (a state dict saved by ``torch.save``).
            model: ``"ffhq256"`` (DPS's FFHQ-256 model, ``ffhq_10m.pt``) or ``"imagenet256"``
                (guided-diffusion's unconditional ImageNet-256 model, ``256x256_diffusion_uncond.pt``).
            map_location: device to load the weights on (``"auto"``: CUDA when present, else the CPU).

        Nothing is downloaded: a missing file raises :class:`FileNotFoundError` saying which file
        to place there. Both models are 3-channel, ε-prediction with learned variances, on the
        linear schedule (T = 1000), and take 256×256 images.
        """
        from deepinv.models import DiffUNet

        spec = ADM_MODELS[check_choice(model, "model", tuple(ADM_MODELS))]
        map_location = check_device(map_location, "map_location", auto=True)
        path = check_path(path, "path")
        if not path.is_file():
            raise FileNotFoundError(
                f"no checkpoint at {str(path)!r}: download {spec['file']} ({spec['source']}) yourself and pass its path"
            )
        state = read_torch_file(path, f"a state dict of {spec['file']}")
        if not isinstance(state, dict):
            raise ValueError(f"{str(path)!r} holds a {type(state).__name__}, expected a state dict of {spec['file']}")
        with torch.device("meta"):
            reference = DiffUNet(in_channels=3, out_channels=3, large_model=spec["large_model"], pretrained=None)
        check_state_dict(state, reference.state_dict(), f"{str(path)!r} (expected the {model} model {spec['file']})")
        network = DiffUNet(in_channels=3, out_channels=3, large_model=spec["large_model"], pretrained=None)
        network.load_state_dict(state, strict=True)
        network = _ADMNetwork(network.to(map_location))
        return cls(network, VPSchedule.linear(), prediction="eps", channels=3, image_shape=(3, 256, 256), size_multiple=32)


def _padded_sides(h: int, w: int, multiple: int) -> tuple[int, int]:
    """``(h, w)`` rounded up to multiples of ``multiple``."""
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def _pad_mode(h: int, w: int, ph: int, pw: int) -> str:
    """The padding from ``h × w`` to ``ph × pw``: ``"reflect"`` where it can (a reflection needs a
    padding shorter than the side, :math:`p_h - h < h` and :math:`p_w - w < w`), else ``"replicate"``
    (edge pixels repeated); one place for the network call and the note that says which."""
    return "reflect" if ph - h < h and pw - w < w else "replicate"


class _ADMNetwork(nn.Module):
    """deepinv's DiffUNet called with integer timesteps (its ``forward_diffusion``)."""

    network: DiffUNet

    def __init__(self, network: DiffUNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.network.forward_diffusion(x_t, t)
