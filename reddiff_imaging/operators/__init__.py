"""Forward models and their algebra.

Base classes (:class:`Operator`, :class:`LinearOperator`), the algebra (``A @ B``, ``A + B``,
``c * A``, :class:`Stack`), structure (:class:`SVD`, closed-form normal solves), one module per
modality, numerical checks, the dense matrix of a small operator (:func:`operator_matrix`), and
bridges to deepinv and scipy.
"""

from reddiff_imaging.operators import registry
from reddiff_imaging.operators.algebra import Stack
from reddiff_imaging.operators.base import LinearOperator, Operator
from reddiff_imaging.operators.blur import (
    Blur,
    Circulant,
    ZeroPaddedBlur,
    gaussian_kernel,
    motion_kernel,
    uniform_kernel,
)
from reddiff_imaging.operators.cg import conjugate_gradient
from reddiff_imaging.operators.checks import (
    CheckResult,
    dot_test,
    jacobian_test,
    linearity_test,
)
from reddiff_imaging.operators.hdr import HDR
from reddiff_imaging.operators.identity import Identity
from reddiff_imaging.operators.inpainting import (
    Diagonal,
    Inpainting,
    box_mask,
    freeform_mask,
    random_mask,
)
from reddiff_imaging.operators.matrix import operator_matrix
from reddiff_imaging.operators.mri import MRI, cartesian_mask
from reddiff_imaging.operators.nonlinear import NonlinearOperator
from reddiff_imaging.operators.phase_retrieval import PhaseRetrieval
from reddiff_imaging.operators.superres import (
    BicubicDownsampling,
    BlockAverage,
    Decimation,
    bicubic_kernel,
)
from reddiff_imaging.operators.svd import SVD
from reddiff_imaging.operators.tomography import Radon

__all__ = [
    "Operator",
    "LinearOperator",
    "NonlinearOperator",
    "Stack",
    "SVD",
    # modalities
    "Identity",
    "Diagonal",
    "Inpainting",
    "random_mask",
    "box_mask",
    "freeform_mask",
    "Circulant",
    "Blur",
    "ZeroPaddedBlur",
    "gaussian_kernel",
    "uniform_kernel",
    "motion_kernel",
    "Decimation",
    "BlockAverage",
    "BicubicDownsampling",
    "bicubic_kernel",
    "MRI",
    "cartesian_mask",
    "Radon",
    "PhaseRetrieval",
    "HDR",
    # checks, solvers of normal equations, bridges
    "CheckResult",
    "dot_test",
    "linearity_test",
    "jacobian_test",
    "conjugate_gradient",
    "operator_matrix",
    "from_deepinv",
    "noise_from_deepinv",
    "noise_to_deepinv",
    "to_deepinv",
    "registry",
]


def __getattr__(name: str) -> object:
    # the deepinv bridge imports deepinv (seconds): load it when first asked for
    if name in ("from_deepinv", "to_deepinv", "noise_from_deepinv", "noise_to_deepinv"):
        from reddiff_imaging.operators import deepinv_bridge

        return getattr(deepinv_bridge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
