#!/usr/bin/env bash
# Set up (if needed) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh
# -rs (pyproject addopts): the summary lists every skipped test and why; under CI=true a test
# needing redis-server, Chromium or node fails instead of skipping (tests/conftest.py).
exec .venv/bin/python -m pytest "$@"
