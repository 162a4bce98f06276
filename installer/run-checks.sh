#!/usr/bin/env bash
# Every check CI runs: lint, architecture contracts, types, then the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VPY="${1:-$ROOT/.venv/bin/python}"
cd "$ROOT"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"

echo "== ruff" && "$VPY" -m ruff check . && "$VPY" -m ruff format --check .
echo "== import contracts (layers; engine never imports Qt)" && "$(dirname "$VPY")/lint-imports"
echo "== mypy (strict on desktop and models, default mode on tests)" && "$VPY" -m mypy desktop models tests
echo "== pytest"
set +e
# shellcheck disable=SC2086  # PYTEST_ARGS is a plain string of extra options, split on purpose
"$VPY" -m pytest ${PYTEST_ARGS:-}
code=$?
set -e
if [ "$code" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$code"
