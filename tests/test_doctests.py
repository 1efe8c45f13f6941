"""The ``>>>`` examples in the package's docstrings run and print what they show.

Every module of :mod:`reddiff_imaging` whose source holds a ``>>>`` example is found by walking the
package (no hand-kept list), imported, and run through :mod:`doctest` with ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``. Only those modules are imported, so a module without examples never runs
here (which is why pytest's ``--doctest-modules`` is not used).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
from pathlib import Path

import pytest

import reddiff_imaging

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    """Names of the package's modules whose source contains a ``>>>`` prompt, sorted."""
    names = []
    for info in pkgutil.walk_packages(reddiff_imaging.__path__, prefix="reddiff_imaging."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec is not None else None
        if origin and origin.endswith(".py") and ">>>" in Path(origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = modules_with_examples()


def test_discovery_finds_the_known_examples() -> None:
    # the discovery itself can fail silently (an empty list parametrizes nothing): pin a few modules
    assert {"reddiff_imaging.operators.mri", "reddiff_imaging.priors.gaussian_mixture"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=out.write)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has '>>>' in its source but doctest found no example"
    assert results.failed == 0, out.getvalue()
