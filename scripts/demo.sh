#!/usr/bin/env bash
# The main job on a fresh clone: install into .venv (once) and run the demo.
# Usage: bash scripts/demo.sh [demo options, see: reddiff-imaging demo --help]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/reddiff-imaging ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
fi
exec .venv/bin/reddiff-imaging demo "$@"
