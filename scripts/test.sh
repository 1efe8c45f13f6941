#!/usr/bin/env bash
# The whole test suite from nothing: a fresh virtual environment, an editable install with the
# development extras, ruff, mypy (configuration in pyproject.toml), the tests, and the
# documentation built with warnings as errors.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${REDDIFF_TEST_VENV:-.venv-test}"
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[dev]"
"$venv/bin/python" -m ruff check reddiff_imaging tests benchmarks examples docs scripts
"$venv/bin/python" -m mypy
"$venv/bin/python" -m pytest -n 2 "$@"
"$venv/bin/python" -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "documentation built in docs/_build/html"
