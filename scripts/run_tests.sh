#!/usr/bin/env bash
# The test suite (under 15 minutes on a 2-core machine); pytest's exit 5 (no tests) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks study || exit 1
.venv/bin/pytest -q --durations=15 "$@"
