"""Start-up cost: the package and its command line import no heavy optional dependency; and the layers\nimport downwards only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("deepinv", "torchmetrics", "matplotlib", "h5py", "scipy", "ptwt")
PACKAGE = Path(__file__).resolve().parents[1] / "reddiff_imaging"


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



def _imports(tree: ast.AST) -> list[tuple[str, str | None, bool]]:
    """``(module, enclosing function, under TYPE_CHECKING)`` for every import of the ``reddiff_imaging``
    package in ``tree`` (``from reddiff_imaging import x`` counts as ``reddiff_imaging.x``)."""
    found: list[tuple[str, str | None, bool]] = []

    def visit(node: ast.AST, function: str | None, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for statement in child.body:
                    visit(ast.Module([statement], []), function, True)
                for statement in child.orelse:
                    visit(ast.Module([statement], []), function, typing_only)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, function, typing_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, function, typing_only))
                if child.module == "reddiff_imaging":
                    found.extend((f"reddiff_imaging.{alias.name}", function, typing_only) for alias in child.names)
            visit(child, child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function, typing_only)

    visit(tree, None, False)
    return [entry for entry in found if entry[0].startswith("reddiff_imaging")]


@pytest.mark.parametrize("path", sorted((PACKAGE / "priors").glob("*.py")), ids=lambda path: path.name)
def test_priors_import_no_solver_and_no_problem_to_sample(path: Path) -> None:
    """Solvers and problems build on priors, not the other way round: no module of ``priors`` imports
    ``solvers``; ``problem`` only for type hints or inside a function that takes a problem (the
    Gaussian mixture's exact posterior), never at import time nor in ``sample``."""
    upward = []
    for module, function, typing_only in _imports(ast.parse(path.read_text())):
        layer = module.split(".")[1] if "." in module else ""
        if layer == "solvers" or (layer == "problem" and not typing_only and (function is None or function == "sample")):
            upward.append(f"{module} (in {function or 'the module'})")
    assert not upward, f"{path.name} imports upwards: {upward}"
