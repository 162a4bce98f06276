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
# The bundle smoke test (issue 18, docs/install.md): freeze the app with PyInstaller, build the
# .deb, start the frozen app with no network and a temporary data folder, answer one question in
# the terminal and one in the window under Xvfb (about 5 minutes, most of it the freeze).
# ENCLAVE_SKIP_BUNDLE_SMOKE=1 skips it; a machine without xvfb-run or dpkg-deb says so and skips.
if [ "${ENCLAVE_SKIP_BUNDLE_SMOKE:-}" != "1" ]; then
  if command -v xvfb-run >/dev/null && command -v dpkg-deb >/dev/null; then
    echo "== bundle smoke test (installer/make_bundle.sh, installer/smoke_test.sh)"
    BUNDLE_OUT="$(mktemp -d "${TMPDIR:-/tmp}/enclave-bundle.XXXXXX")"
    ENCLAVE_VENV="$(cd "$(dirname "$VPY")/.." && pwd)" bash "$ROOT/installer/make_bundle.sh" "$BUNDLE_OUT"
    bash "$ROOT/installer/smoke_test.sh" "$BUNDLE_OUT/enclave"
    rm -rf "$BUNDLE_OUT"
  else
    echo "== bundle smoke test skipped: it needs xvfb-run and dpkg-deb (apt-get install xvfb xauth dpkg-dev)"
  fi
fi
