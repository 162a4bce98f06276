#!/usr/bin/env bash
# Smoke test of a built bundle (after qutebrowser's release smoke test): start the frozen app with
# a temporary data folder, no network and a bare environment; `doctor`, one question through the
# headless path (`enclave ask --json`) and one through the window under Xvfb (asked and quit by
# script: ENCLAVE_SMOKE_QUESTION); any unexpected line on stderr fails it.
#
#   bash installer/smoke_test.sh [BUNDLE_DIR]     (default: dist/bundle/enclave)
#
# Models come from ENCLAVE_MODELS_DIR (default: this user's models folder); the chat model is the
# small SmolLM2 (ENCLAVE_SMOKE_MODEL to change it), so the test fits CI's time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/dist/bundle/enclave}" && pwd)"
MODELS="${ENCLAVE_MODELS_DIR:-$HOME/.local/share/enclave/models}"
MODEL="${ENCLAVE_SMOKE_MODEL:-smollm2-135m-instruct}"
QUESTION="What is the capital of France?"
# stderr lines that are not Enclave's and not a problem (each named here, nothing else passes)
ALLOWED='^(xauth: +file .* does not exist|_XSERVTrans.*|The XKEYBOARD keymap compiler.*|> +Warning: +Could not resolve keysym.*|Errors from xkbcomp are not fatal to the X server)$'

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$BUNDLE/enclave" ] || fail "no bundle at $BUNDLE (bash installer/make_bundle.sh)"
[ -d "$MODELS" ] || fail "no models folder at $MODELS (set ENCLAVE_MODELS_DIR)"
command -v xvfb-run >/dev/null || fail "xvfb-run is needed (apt-get install xvfb xauth)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/enclave-smoke.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
NONET=()
if unshare -n true 2>/dev/null; then NONET=(unshare -n); fi   # no network at all, when allowed

run() {  # run NAME COMMAND...: bare environment, temporary data folder; stderr checked
  local name="$1"; shift
  if ! env -i PATH=/usr/bin:/bin HOME="$TMP/home" LANG=C.UTF-8 \
      ENCLAVE_DATA_DIR="$TMP/data" ENCLAVE_MODELS_DIR="$MODELS" ENCLAVE_CHAT_MODEL="$MODEL" \
      ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=smoke-test "${EXTRA_ENV[@]}" \
      ${NONET[@]+"${NONET[@]}"} "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"; then
    cat "$TMP/$name.err" >&2
    fail "$name exited with an error"
  fi
  if grep -Evq "$ALLOWED" "$TMP/$name.err"; then
    grep -Ev "$ALLOWED" "$TMP/$name.err" >&2
    fail "$name wrote unexpected lines on stderr (above)"
  fi
}

answer_of() {  # the "answer" of the JSON line in FILE (the `done` event for the window)
  python3 - "$1" <<'PY'  # the build machine's Python reads the JSON; the bundle needs none
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
try:
    documents = [json.loads(text)]  # `ask --json`: one JSON object
except ValueError:
    documents = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
for data in documents:
    answer = data.get("answer")
    if isinstance(answer, str) and answer.strip():
        print(answer.strip()[:200])
        sys.exit(0)
sys.exit(1)
PY
}

EXTRA_ENV=()
say "doctor"
run doctor "$BUNDLE/enclave" doctor
grep -q "verified" "$TMP/doctor.out" || fail "doctor lists no verified model"

say "headless: enclave ask --json"
run ask "$BUNDLE/enclave" ask "$QUESTION" --json
headless="$(answer_of "$TMP/ask.out")" || fail "ask printed no answer: $(head -c 400 "$TMP/ask.out")"
echo "  answer: $headless"

say "window under Xvfb: asked and quit by script"
EXTRA_ENV=(ENCLAVE_SMOKE_QUESTION="$QUESTION" QT_QPA_PLATFORM=xcb)
run window timeout 300 xvfb-run -a "$BUNDLE/enclave"
windowed="$(answer_of "$TMP/window.out")" || fail "the window printed no answer: $(head -c 400 "$TMP/window.out")"
echo "  answer: $windowed"
say "Smoke test passed"
