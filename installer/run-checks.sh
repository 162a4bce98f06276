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
if [ "$code" -ne 0 ]; then exit "$code"; fi
# The evaluation regression gate (docs/evaluation.md): 8 golden questions through the whole
# answer pipeline on the default model, against the committed baseline. ENCLAVE_SKIP_EVAL_GATE=1
# skips it (a quick local run); CI runs it.
if [ "${ENCLAVE_SKIP_EVAL_GATE:-}" != "1" ]; then
  echo "== evaluation gate (eval/ci_gate.sh)"
  VPY="$VPY" bash "$ROOT/eval/ci_gate.sh"
fi
