r"""A forward model built from any differentiable function.

:class:`NonlinearOperator` turns a callable :math:`f` acting on batches into an
:class:`~reddiff_imaging.operators.Operator`, so that it composes with the operator algebra and any
solver that accepts nonlinear operators can use it. Its Jacobian products come from
:mod:`torch.func` (``jvp``, ``vjp``), so :math:`f` must be written with differentiable torch
operations (the same requirement as deepinv's ``Physics(A=...)`` and DPS's nonlinear operators).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from reddiff_imaging._validation import Shape, as_shape
from reddiff_imaging.operators.base import Operator


class NonlinearOperator(Operator):
    r"""Wrap a differentiable function :math:`y = f(x)` acting on batches as an operator.

    Args:
        function: callable mapping ``(B, *in_shape)`` to ``(B, *out_shape)``, batch item by batch
            item (no mixing across the batch), built from differentiable torch operations. An
            :class:`torch.nn.Module` is registered as a sub-module, so its parameters and buffers
            move with ``.to()``.
        in_shape: input shape without the batch axis.
        out_shape: output shape without the batch axis. When omitted it is inferred from one call
            of ``function`` on a batch of one zero image (float32, on the device of the module's
            parameters when ``function`` is a module, else on the CPU, without autograd).

    Every call checks that ``function`` returned a tensor of shape ``(B, *out_shape)``, and raises
    a ``ValueError`` naming ``function`` otherwise.

    Example:
        >>> import torch
        >>> A = NonlinearOperator(lambda x: torch.tanh(2 * x).mean(dim=1, keepdim=True), (3, 8, 8))
        >>> A.out_shape
        (1, 8, 8)
    """

    def __init__(
        self,
        function: Callable[[Tensor], Tensor],
        in_shape: Sequence[int],
        out_shape: Sequence[int] | None = None,
    ) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable (function or nn.Module), got {type(function).__name__}")
        shape = as_shape(in_shape, "in_shape")
        if out_shape is None:
            inferred = _infer_out_shape(function, shape)
        else:
            inferred = as_shape(out_shape, "out_shape")
        super().__init__(shape, inferred)
        if isinstance(function, nn.Module):
            self.function = function
        else:
            self._function = function

    @property
    def fn(self) -> Callable[[Tensor], Tensor]:
        """The wrapped callable."""
        return self.function if "function" in self._modules else self._function

    @property
    def device(self) -> torch.device | None:
        """Device of the wrapped module's parameters or buffers, or None for a plain function."""
        if "function" in self._modules:
            for tensor in (*self.function.parameters(), *self.function.buffers()):
                return tensor.device
        return None

    def _forward(self, x: Tensor) -> Tensor:
        y = self.fn(x)
        expected = (x.shape[0], *self.out_shape)
        if not isinstance(y, Tensor):
            raise ValueError(f"function must return a torch.Tensor, got {type(y).__name__}")
        if tuple(y.shape) != expected:
            raise ValueError(
                f"function must return a tensor of shape (B, *out_shape) = {expected} for an input of "
                f"shape {tuple(x.shape)}, got {tuple(y.shape)}"
            )
        return y

    def extra_repr(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"function={name}, in_shape={self.in_shape}, out_shape={self.out_shape}"


def _infer_out_shape(function: Callable[[Tensor], Tensor], in_shape: Shape) -> Shape:
    device = torch.device("cpu")
    if isinstance(function, nn.Module):
        for tensor in (*function.parameters(), *function.buffers()):
            device = tensor.device
            break
    probe = torch.zeros((1, *in_shape), dtype=torch.float32, device=device)
    try:
        with torch.no_grad():
            y = function(probe)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise ValueError(
            f"could not infer out_shape: calling function on zeros of shape {tuple(probe.shape)} raised "
            f"{type(err).__name__}: {err}; pass out_shape explicitly"
        ) from err
    if not isinstance(y, Tensor):
        raise ValueError(f"function must return a torch.Tensor, got {type(y).__name__}")
    if y.ndim < 2 or y.shape[0] != 1:
        raise ValueError(
            f"function must keep the batch axis: for an input of shape {tuple(probe.shape)} it returned "
            f"shape {tuple(y.shape)}, expected (1, *out_shape)"
        )
    return tuple(int(s) for s in y.shape[1:])
