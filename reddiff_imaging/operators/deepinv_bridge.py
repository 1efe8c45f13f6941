"""Two-way bridge to deepinv's physics (:mod:`deepinv.physics`), keeping structure and noise.

* :func:`from_deepinv` wraps a deepinv ``Physics``/``LinearPhysics`` as our operator. A deepinv
  ``Inpainting`` becomes our :class:`~reddiff_imaging.operators.Inpainting` (a mask stays a mask);
  any other ``DecomposablePhysics`` (``BlurFFT``, ``Denoising``, ...) keeps its SVD
  (:attr:`~reddiff_imaging.operators.LinearOperator.svd`), so DDRM and ΠGDM run on it. Measurement
  noise is separate here (:mod:`reddiff_imaging.noise`): the physics' noise model crosses with
  :func:`noise_from_deepinv`.
* :func:`to_deepinv` exposes our operator as a deepinv physics whose operator is a registered
  sub-module (it moves with ``.to()``): our ``Inpainting`` as deepinv's ``Inpainting``, operators
  with an SVD as a ``DecomposablePhysics`` (so deepinv's DDRM runs on them), others as a
  ``LinearPhysics`` or ``Physics``; ``noise=`` attaches a noise model (:func:`noise_to_deepinv`).
* The numerical checks follow the physics' compute precision: a deepinv physics that keeps float32
  filters computes in float32 whatever the input, and :attr:`DeepinvOperator.compute_dtype` tells
  :func:`~reddiff_imaging.operators.dot_test` to use the float32 tolerance.

Operators of real images with complex measurements (``real_domain``, e.g. MRI) appear in deepinv
with real measurements whose last axis holds (real, imaginary), so deepinv's complex-agnostic
adjointness test applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import deepinv
import numpy as np
import torch
from torch import Tensor

from reddiff_imaging._validation import as_shape, match_dtype
from reddiff_imaging.noise import Gaussian, NoiseModel, Poisson
from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.operators.inpainting import Inpainting
from reddiff_imaging.operators.svd import SVD


class DeepinvOperator(Operator):
    """A nonlinear deepinv ``Physics`` as an :class:`Operator` (forward ``physics.A``)."""

    def __init__(self, physics: deepinv.physics.Physics, in_shape: Sequence[int]) -> None:
        shape = as_shape(in_shape, "in_shape")
        device = _physics_device(physics)
        probe = physics.A(torch.zeros((1, *shape), device=device))
        if not isinstance(probe, Tensor):
            raise TypeError(f"physics.A must return a tensor, got {type(probe).__name__}")
        super().__init__(shape, tuple(probe.shape[1:]))
        self.physics = physics

    @property
    def compute_dtype(self) -> torch.dtype | None:
        """The real precision the physics computes in (that of its floating buffers), or None."""
        for tensor in (*self.physics.buffers(), *self.physics.parameters()):
            if tensor.is_floating_point() or tensor.is_complex():
                return tensor.real.dtype if tensor.is_complex() else tensor.dtype
        return None

    def _in_physics_precision(self, method: Callable[[Tensor], Tensor], v: Tensor) -> Tensor:
        # deepinv's physics keep their filters in one precision and do not follow the input:
        # compute in theirs and return the input's precision (float64 checks then work too)
        real = self.compute_dtype or (v.real.dtype if v.is_complex() else v.dtype)
        return match_dtype(method(match_dtype(v, torch.empty((), dtype=real))), v)

    def _forward(self, x: Tensor) -> Tensor:
        return self._in_physics_precision(self.physics.A, x)


class DeepinvLinearOperator(DeepinvOperator, LinearOperator):
    """A deepinv ``LinearPhysics`` as a :class:`LinearOperator` (adjoint ``physics.A_adjoint``)."""

    def _adjoint(self, y: Tensor) -> Tensor:
        return self._in_physics_precision(self.physics.A_adjoint, y)


class DeepinvDecomposableOperator(DeepinvLinearOperator):
    r"""A deepinv ``DecomposablePhysics`` :math:`A = U\,\mathrm{diag}(m)\,V^H` with its SVD: singular
    values :math:`|m|`, the phase of a complex :math:`m` (``BlurFFT``'s transfer function) moved into
    :math:`U`."""

    @property
    def svd(self) -> SVD:
        physics = self.physics
        mask = physics.mask
        if not isinstance(mask, Tensor):
            mask = torch.tensor(float(mask))
        shape = self.in_shape
        magnitude = mask.abs().expand(1, *shape)[0] if mask.ndim <= len(shape) + 1 else mask.abs()[0]
        phase = torch.where(magnitude > 0, mask / torch.where(magnitude > 0, magnitude, 1.0), 1.0) if mask.is_complex() else None
        phase = None if phase is None else phase.expand(1, *shape)

        def along(method: Callable[[Tensor], Tensor], factor: Tensor | None = None) -> Callable[[Tensor], Tensor]:
            def apply(v: Tensor) -> Tensor:
                if factor is not None:
                    v = match_dtype(factor, v) * v
                return self._in_physics_precision(method, v)

            return apply

        def u_adjoint(y: Tensor) -> Tensor:
            out = self._in_physics_precision(physics.U_adjoint, y)
            return out if phase is None else match_dtype(phase.conj(), out) * out

        return SVD(
            U=along(physics.U, phase),
            Ut=u_adjoint,
            V=along(physics.V),
            Vt=along(physics.V_adjoint),
            singular_values=magnitude.to(torch.float64),
        )


def from_deepinv(physics: deepinv.physics.Physics, in_shape: Sequence[int] | None = None) -> Operator:
    """Wrap a deepinv physics as our operator.

    A deepinv ``Inpainting`` becomes our :class:`~reddiff_imaging.operators.Inpainting` with its mask;
    another ``DecomposablePhysics`` keeps its SVD; the noise model stays with the physics (take it
    with :func:`noise_from_deepinv`).

    Args:
        physics: a ``deepinv.physics.Physics`` (nonlinear) or ``LinearPhysics``.
        in_shape: image shape without batch; taken from ``physics.img_size`` when it has one.
    """
    if not isinstance(physics, deepinv.physics.Physics):
        raise TypeError(f"physics must be a deepinv.physics.Physics, got {type(physics).__name__}")
    if in_shape is None:
        in_shape = getattr(physics, "img_size", None)
        if in_shape is None:
            raise ValueError(f"in_shape is required: {type(physics).__name__} does not record its image size")
    if isinstance(physics, deepinv.physics.Inpainting):
        mask = physics.mask.detach()
        mask = mask[0] if mask.ndim == len(as_shape(in_shape, "in_shape")) + 1 else mask
        return Inpainting(mask.real if mask.is_complex() else mask, in_shape)
    if isinstance(physics, deepinv.physics.DecomposablePhysics):
        return DeepinvDecomposableOperator(physics, in_shape)
    cls = DeepinvLinearOperator if isinstance(physics, deepinv.physics.LinearPhysics) else DeepinvOperator
    return cls(physics, in_shape)


def noise_from_deepinv(source: deepinv.physics.Physics | deepinv.physics.NoiseModel | None) -> NoiseModel:
    """Our noise model for a deepinv physics' (or a deepinv noise model itself): ``GaussianNoise(sigma)``
    → :class:`~reddiff_imaging.noise.Gaussian`, ``PoissonNoise(gain, normalize=True)`` →
    :class:`~reddiff_imaging.noise.Poisson`, ``ZeroNoise`` or none → ``Gaussian(0)``; others are a
    ``TypeError``."""
    model = source.noise_model if isinstance(source, deepinv.physics.Physics) else source
    if model is None or isinstance(model, deepinv.physics.ZeroNoise):
        return Gaussian(0.0)
    if isinstance(model, deepinv.physics.GaussianNoise):
        return Gaussian(_scalar(model.sigma, "GaussianNoise.sigma"))
    if isinstance(model, deepinv.physics.PoissonNoise) and bool(model.normalize):
        return Poisson(_scalar(model.gain, "PoissonNoise.gain"))
    raise TypeError(
        f"no reddiff_imaging noise model for deepinv's {type(model).__name__}; supported: GaussianNoise, "
        "PoissonNoise(normalize=True), ZeroNoise"
    )


def noise_to_deepinv(noise: NoiseModel) -> deepinv.physics.NoiseModel:
    """deepinv's noise model for ours: ``Gaussian(sigma)`` → ``GaussianNoise(sigma)`` (``ZeroNoise`` for
    0), ``Poisson(gain)`` → ``PoissonNoise(gain, normalize=True)``."""
    if isinstance(noise, Gaussian):
        return deepinv.physics.ZeroNoise() if noise.sigma == 0 else deepinv.physics.GaussianNoise(noise.sigma)
    if isinstance(noise, Poisson):
        return deepinv.physics.PoissonNoise(gain=noise.gain, normalize=True)
    raise TypeError(f"noise must be a reddiff_imaging Gaussian or Poisson noise model, got {type(noise).__name__}")


def _scalar(value: object, name: str) -> float:
    """One number of a deepinv noise model; a float32 one as the shortest decimal that gives it back
    (deepinv stores ``GaussianNoise(0.05).sigma`` as float32 0.05000000074505806: it comes back 0.05)."""
    tensor = torch.as_tensor(value).detach().cpu()
    if tensor.numel() != 1:
        raise TypeError(f"{name} must be one number to cross the bridge, got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.float32:
        return float(str(np.float32(tensor.item())))
    return float(tensor)


def _physics_device(physics: torch.nn.Module) -> torch.device:
    for tensor in (*physics.buffers(), *physics.parameters()):
        return tensor.device
    return torch.device("cpu")


class _ExportedPhysics(deepinv.physics.Physics):
    def __init__(self, operator: Operator) -> None:
        super().__init__()
        self.operator = operator
        self.img_size = operator.in_shape

    def A(self, x: Tensor, **kwargs: object) -> Tensor:  # noqa: N802 - deepinv's name
        y = self.operator.apply_forward(x)
        return torch.view_as_real(y) if y.is_complex() and self.operator.real_domain else y


class _ExportedLinearPhysics(deepinv.physics.LinearPhysics):
    def __init__(self, operator: LinearOperator) -> None:
        super().__init__(img_size=operator.in_shape)
        self.operator = operator

    A = _ExportedPhysics.A

    def A_adjoint(self, y: Tensor, **kwargs: object) -> Tensor:  # noqa: N802
        if self.operator.real_domain and not y.is_complex():
            y = torch.view_as_complex(y.contiguous())
        return self.operator.apply_adjoint(y)


class _ExportedDecomposablePhysics(deepinv.physics.DecomposablePhysics):
    """Our operator with an SVD as a deepinv ``DecomposablePhysics`` (``mask`` = singular values).

    deepinv's samplers index real spectral coefficients, so complex ones (Fourier bases) go out as
    (real, imaginary) pairs on a trailing axis with the singular value on both, as deepinv's own
    ``BlurFFT`` does."""

    def __init__(self, operator: LinearOperator, svd: SVD) -> None:
        # in the default precision, as deepinv's own physics (``.to(torch.float64)`` moves it)
        singular_values = svd.singular_values.detach().to(torch.get_default_dtype())
        probe = torch.zeros((1, *operator.in_shape), device=singular_values.device)
        self.pairs = bool(svd.Vt(probe).is_complex())
        if self.pairs:
            singular_values = torch.stack([singular_values, singular_values], dim=-1)
        super().__init__(img_size=operator.in_shape, mask=singular_values.reshape(1, *singular_values.shape))
        self.operator = operator
        self.svd = svd
        self.real_measurements = not _has_complex_output(operator)

    A = _ExportedPhysics.A
    A_adjoint = _ExportedLinearPhysics.A_adjoint

    def _out(self, z: Tensor) -> Tensor:
        return torch.view_as_real(z) if self.pairs else z

    def _in(self, z: Tensor) -> Tensor:
        return torch.view_as_complex(z.contiguous()) if self.pairs else z

    def U(self, x: Tensor) -> Tensor:  # noqa: N802 - deepinv's names
        y = self.svd.U(self._in(x))
        return y.real if y.is_complex() and self.real_measurements else y

    def U_adjoint(self, y: Tensor) -> Tensor:  # noqa: N802
        return self._out(self.svd.Ut(y))

    def V(self, x: Tensor, **kwargs: object) -> Tensor:  # noqa: N802
        out = self.svd.V(self._in(x))
        return out.real if out.is_complex() else out

    def V_adjoint(self, x: Tensor, **kwargs: object) -> Tensor:  # noqa: N802
        return self._out(self.svd.Vt(x))


def to_deepinv(operator: Operator, noise: NoiseModel | None = None) -> deepinv.physics.Physics:
    """Our operator as a deepinv physics: our ``Inpainting`` as deepinv's ``Inpainting``, an operator
    with an SVD (and real measurements) as a ``DecomposablePhysics``, others as a ``LinearPhysics``
    (linear) or ``Physics``; with ``noise``, its deepinv noise model (:func:`noise_to_deepinv`),
    else noise-free."""
    if not isinstance(operator, Operator):
        raise TypeError(f"operator must be a reddiff_imaging Operator, got {type(operator).__name__}")
    physics: deepinv.physics.Physics
    if isinstance(operator, Inpainting):
        mask = operator.mask.detach()
        physics = deepinv.physics.Inpainting(img_size=operator.in_shape, mask=mask.expand(operator.in_shape).clone())
    elif isinstance(operator, LinearOperator):
        svd = operator.svd
        complex_pairs = operator.real_domain and _has_complex_output(operator)
        physics = _ExportedLinearPhysics(operator) if svd is None or complex_pairs else _ExportedDecomposablePhysics(operator, svd)
    else:
        physics = _ExportedPhysics(operator)
    if noise is not None:
        physics.noise_model = noise_to_deepinv(noise)
    return physics


def _has_complex_output(operator: Operator) -> bool:
    probe = torch.zeros((1, *operator.in_shape), device=_physics_device(operator))
    return bool(operator.apply_forward(probe).is_complex())
