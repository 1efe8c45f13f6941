r"""Geometric self-ensemble: a diffusion prior averaged over the symmetries of the image grid.

When the image distribution is invariant under a group :math:`G` of rotations and flips of the
grid (natural photographs nearly are, and our natural prior is trained on crops augmented by the
eight of them), so is its noise-prediction target: :math:`\varepsilon^\star(g x_t, t) = g\,
\varepsilon^\star(x_t, t)`. A trained network only approximately is. Its average over the group,

.. math::

    \bar\varepsilon(x_t, t) = \frac{1}{|G|} \sum_{g \in G} g^{-1}\,\hat\varepsilon(g\,x_t, t),

is equivariant and never has a larger mean squared error than the network itself under such a
distribution (the error of an average is at most the average of the errors, by convexity, and each
term has the network's error). It costs :math:`|G|` network evaluations a call. This is the
"self-ensemble" of Timofte, Rothe and Van Gool, "Seven ways to improve example-based single image
super resolution", CVPR 2016, as used for the "×8" results of DRUNet/DPIR (Zhang et al., TPAMI
2022); deepinv offers it for denoisers as ``deepinv.models.EquivariantDenoiser``. Here it wraps a
diffusion model, so that every solver (and the one-step denoiser, :math:`\hat x_0` at the matching
timestep) gets it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from reddiff_imaging._validation import check_choice
from reddiff_imaging.priors.base import DiffusionModel

__all__ = ["SelfEnsemble"]

#: the groups of grid symmetries: (quarter turns, flip) of each element
GROUPS: dict[str, tuple[tuple[int, bool], ...]] = {
    "flips": ((0, False), (0, True)),
    "rotations": tuple((k, False) for k in range(4)),
    "dihedral": tuple((k, flip) for k in range(4) for flip in (False, True)),
}


def apply_symmetry(x: Tensor, turns: int, flip: bool) -> Tensor:
    """``x`` turned by ``turns`` quarter turns (counter-clockwise), then flipped left to right."""
    x = torch.rot90(x, turns, dims=(-2, -1)) if turns else x
    return x.flip(-1) if flip else x


def undo_symmetry(x: Tensor, turns: int, flip: bool) -> Tensor:
    """The inverse of :func:`apply_symmetry`."""
    x = x.flip(-1) if flip else x
    return torch.rot90(x, -turns, dims=(-2, -1)) if turns else x


class SelfEnsemble(DiffusionModel):
    r"""The diffusion model ``model`` averaged over a group of grid symmetries (see the module docs).

    Args:
        model: the diffusion prior (any channel count; images of any size it takes, in both
            orientations for the quarter turns).
        group: ``dihedral`` (the eight rotations and flips, default), ``rotations`` (the four
            quarter turns) or ``flips`` (identity and the left-right flip).

    Example:
        >>> from reddiff_imaging.priors import DiffusionPrior, SelfEnsemble
        >>> prior = SelfEnsemble(DiffusionPrior.natural())  # doctest: +SKIP
    """

    def __init__(self, model: DiffusionModel, *, group: str = "dihedral") -> None:
        if not isinstance(model, DiffusionModel):
            raise TypeError(f"model must be a DiffusionModel, got {type(model).__name__}")
        check_choice(group, "group", tuple(GROUPS))
        super().__init__(model.schedule)
        self.model = model
        self.group = group
        self.channels = model.channels
        self.range_scale, self.range_shift = model.range_scale, model.range_shift
        self.image_shape = model.image_shape

    def check_image_shape(self, shape: Sequence[int], user: str | None = None) -> str | None:
        """The model's check, on the transposed shape too when the group has quarter turns."""
        note = self.model.check_image_shape(shape, user)
        if self.group != "flips" and len(shape) == 3:
            self.model.check_image_shape((shape[0], shape[2], shape[1]), user)
        return note

    def _eps(self, x_t: Tensor, t: Tensor) -> Tensor:
        differentiable = torch.is_grad_enabled()
        total = torch.zeros_like(x_t)
        for turns, flip in GROUPS[self.group]:
            total += undo_symmetry(self.model.eps(apply_symmetry(x_t, turns, flip), t, differentiable=differentiable), turns, flip)
        return total / len(GROUPS[self.group])

    def extra_repr(self) -> str:
        return f"group={self.group!r}"
