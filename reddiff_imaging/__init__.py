"""reddiff-imaging: computational imaging inverse problems with diffusion priors and classical
regularizers.

Three kinds of parts, each replaceable on its own: :mod:`~reddiff_imaging.operators` (forward
models and their algebra), :mod:`~reddiff_imaging.noise` (measurement noise) with
:class:`InverseProblem`, and :mod:`~reddiff_imaging.priors`.
"""

from importlib.metadata import PackageNotFoundError, version

from reddiff_imaging import noise, operators, priors
from reddiff_imaging.problem import InverseProblem

try:
    __version__ = version("reddiff-imaging")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["InverseProblem", "noise", "operators", "priors", "__version__"]
