#!/usr/bin/env bash
# Build the release artifacts: wheel and sdist in dist/, stamped with the commit they came from
# (`opsroom --version` prints it). Install with `pipx install dist/opsroom-<version>-py3-none-any.whl`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
git rev-parse --short=12 HEAD > src/opsroom/COMMIT 2>/dev/null || echo unknown > src/opsroom/COMMIT
trap 'rm -f src/opsroom/COMMIT' EXIT
"$PYTHON" -m build --outdir "${1:-dist}" . >/dev/null
ls -1 "${1:-dist}"/opsroom-*
