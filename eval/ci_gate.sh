#!/usr/bin/env bash
# The evaluation regression gate (docs/evaluation.md): 8 questions of the handbook golden set's
# calibration split, answered by the default chat model through `enclave admin eval`, compared
# with the committed baseline by `enclave admin eval compare` (default tolerances; exit 14 when a
# gated metric regresses). The reported full run uses the test split, so nothing here is tuned
# on it.
#
#   bash eval/ci_gate.sh            # gate: exit 0 ok, 14 regressed
#   bash eval/ci_gate.sh --update   # write eval/ci/baseline.json from this run (commit it)
#
# The demo (the handbook pack and its three profiles) is set up once in a cache folder
# (ENCLAVE_EVAL_CACHE, default ~/.cache/enclave-eval-ci; delete it to rebuild), or an existing
# demo installation is used with ENCLAVE_EVAL_DATA=DIR. Its keys go to the encrypted file keyring
# in that folder (a throwaway CI demo: the passphrase below protects nothing else).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VPY="${VPY:-$ROOT/.venv/bin/python}"
cd "$ROOT"
MODELS="${ENCLAVE_MODELS_DIR:-$("$VPY" -c 'from desktop.engine.core import paths; print(paths.models_dir())')}"
CACHE="${ENCLAVE_EVAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enclave-eval-ci}"
export ENCLAVE_DATA_DIR="${ENCLAVE_EVAL_DATA:-$CACHE/data}"
export ENCLAVE_MODELS_DIR="$MODELS"
export ENCLAVE_KEYRING="${ENCLAVE_KEYRING:-cryptfile}"
export ENCLAVE_KEYRING_PASSPHRASE="${ENCLAVE_KEYRING_PASSPHRASE:-enclave-eval-ci}"
unset ENCLAVE_CHAT_MODEL ENCLAVE_PROFILE  # the default model, the default profile
HANDBOOK="${ENCLAVE_DEMO_SOURCE:-$ROOT/../shared/corpora/18f-handbook}"
BASELINE="$ROOT/eval/ci/baseline.json"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

if [ ! -d "$ENCLAVE_DATA_DIR/packs" ]; then
  echo "== demo setup in $ENCLAVE_DATA_DIR (once)"
  "$VPY" -m desktop demo "$HANDBOOK"
fi
echo "== admin eval: 8 calibration questions, default model"
"$VPY" -m desktop admin eval eval/golden/handbook.jsonl --split calibration --limit 8 --out "$OUT"
if [ "${1:-}" = "--update" ]; then
  cp "$OUT/report.json" "$BASELINE"
  echo "baseline written: $BASELINE"
  exit 0
fi
echo "== compare with $BASELINE"
exec "$VPY" -m desktop admin eval compare "$BASELINE" "$OUT/report.json"
