"""The comparison workbench: run solvers × priors × tasks, store everything in HDF5, tune each
method, and draw tables and figures."""

from reddiff_imaging.workbench.compare import compare
from reddiff_imaging.workbench.store import ResultsStore
from reddiff_imaging.workbench.table import ComparisonTable

__all__ = ["compare", "ComparisonTable", "ResultsStore"]
