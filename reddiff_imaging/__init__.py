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

from reddiff_imaging import metrics, noise, operators, priors, solvers, workbench  # noqa: E402
from reddiff_imaging.problem import InverseProblem  # noqa: E402

__all__ = ["InverseProblem", "metrics", "noise", "operators", "priors", "solvers", "workbench", "__version__"]
