"""The code of the how-to pages (adding an operator, a solver, a prior) runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", re.MULTILINE)


@pytest.mark.parametrize("page", ["howto_operator.rst", "howto_solver.rst", "howto_prior.rst"])
def test_howto_code_runs(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python code block"
    module = types.ModuleType(f"howto_{page[:-4]}")  # dataclasses look their module up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks:
        code = "\n".join(line[3:] for line in block.splitlines())
        exec(compile(code, page, "exec"), module.__dict__)
