"""Solvers behind one interface: ``solver.solve(problem, prior, generator=..., callback=..., progress=...)``.

Build one by class (``RedDiff(steps=100)``) or by name (``get("reddiff", steps=100)``).
"""

from reddiff_imaging.solvers.admm import ADMM, PnPADMM
from reddiff_imaging.solvers.base import NonFiniteError, Result, Solver
from reddiff_imaging.solvers.capabilities import Support, require_linear
from reddiff_imaging.solvers.ddim import DDIM
from reddiff_imaging.solvers.ddrm import DDRM
from reddiff_imaging.solvers.diffpir import DiffPIR
from reddiff_imaging.solvers.dpir import DPIR
from reddiff_imaging.solvers.dps import DPS
from reddiff_imaging.solvers.pigdm import PiGDM
from reddiff_imaging.solvers.pnp import PnPPGD
from reddiff_imaging.solvers.red import RED
from reddiff_imaging.solvers.reddiff import RedDiff
from reddiff_imaging.solvers.registry import available, get, register

for _cls in (RedDiff, DPS, PiGDM, DDRM, DiffPIR, DDIM, ADMM, PnPADMM, PnPPGD, DPIR, RED):
    register(_cls)

__all__ = [
    "Solver",
    "Result",
    "NonFiniteError",
    "Support",
    "require_linear",
    "get",
    "available",
    "register",
    "RedDiff",
    "DPS",
    "PiGDM",
    "DDRM",
    "DiffPIR",
    "DDIM",
    "ADMM",
    "PnPADMM",
    "PnPPGD",
    "DPIR",
    "RED",
]
