"""reddiff-imaging: computational imaging inverse problems with diffusion priors and classical
regularizers.

Parts, each replaceable on its own: :mod:`~reddiff_imaging.operators` (forward models and their
algebra), :mod:`~reddiff_imaging.noise` with :class:`InverseProblem`,
:mod:`~reddiff_imaging.priors`, :mod:`~reddiff_imaging.solvers`, and the comparison
:mod:`~reddiff_imaging.workbench`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reddiff-imaging")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from reddiff_imaging import metrics, noise, operators, priors, solvers  # noqa: E402
from reddiff_imaging.errors import ReddiffImagingError, UnsupportedProblemError  # noqa: E402
from reddiff_imaging.problem import InverseProblem  # noqa: E402


def __getattr__(name: str) -> object:
    # the workbench pulls in h5py and tqdm; `reddiff-imaging info` and `--help` do not need them
    if name == "workbench":
        import importlib

        return importlib.import_module("reddiff_imaging.workbench")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["InverseProblem", "ReddiffImagingError", "UnsupportedProblemError", "metrics", "noise", "operators", "priors", "solvers", "workbench", "__version__"]
