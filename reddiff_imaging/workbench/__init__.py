"""The comparison workbench: run solvers × priors × tasks, store everything in HDF5, tune each
method, and draw tables and figures."""

from reddiff_imaging.workbench.compare import compare
from reddiff_imaging.workbench.figures import convergence_plot, figure_grid, sample_grid
from reddiff_imaging.workbench.restore import restore_image
from reddiff_imaging.workbench.store import ResultsStore
from reddiff_imaging.workbench.table import ComparisonTable
from reddiff_imaging.workbench.tune import TuneResult, tune

__all__ = [
    "compare",
    "tune",
    "TuneResult",
    "restore_image",
    "ComparisonTable",
    "ResultsStore",
    "figure_grid",
    "convergence_plot",
    "sample_grid",
]
