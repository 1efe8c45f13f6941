"""Start-up cost: the package and its command line import no heavy optional dependency."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("deepinv", "torchmetrics", "matplotlib", "h5py", "scipy", "ptwt")


def _imported_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import reddiff_imaging",
        "from reddiff_imaging import metrics, noise, operators, priors, solvers",
        "from reddiff_imaging.cli import build_parser; build_parser()",
    ],
)
def test_import_leaves_heavy_dependencies_unloaded(statement: str) -> None:
    heavy = _imported_after(statement) & set(HEAVY)
    assert not heavy, f"{statement!r} imported {sorted(heavy)}"


def test_lazy_names_still_resolve() -> None:
    loaded = _imported_after("import reddiff_imaging as ri\nri.operators.from_deepinv\nri.workbench.compare")
    assert {"deepinv", "h5py"} <= loaded
