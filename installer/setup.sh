#!/usr/bin/env bash
# Enclave's one setup script, behind the README's two commands.
#
#   bash installer/setup.sh app    set everything up, then open the app
#   bash installer/setup.sh test   set everything up, then run every check and test
#   bash installer/setup.sh        set everything up only
#
# Idempotent: the virtual environment (.venv) and the compiled llama-cpp-python wheel (cached in
# ~/.cache/enclave/wheels, outside the repository) are reused, so a second run takes seconds.
# The only network use is the package index, through pip, at setup time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-setup}"
VENV="${ENCLAVE_VENV:-$ROOT/.venv}"
export ENCLAVE_WHEEL_CACHE="${ENCLAVE_WHEEL_CACHE:-$HOME/.cache/enclave/wheels}"
LLAMA_VERSION="0.3.36"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

case "$MODE" in app|test|setup) ;; *) die "unknown mode '$MODE' (use: app, test, or nothing)";; esac

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)."
}

# System packages first, before anything long: the compilers and Python headers only when
# llama-cpp-python must be compiled, and the libraries of Qt's platform plugin (a missing one stops
# `app` here; the other modes only warn: tests and the terminal commands run without the window).
# With the venv in place the check asks the dynamic linker about the installed plugin itself.
if [ -x "$VENV/bin/python" ]; then PY="$VENV/bin/python"; else PY="$(pick_python)"; fi
PREREQS="$ROOT/desktop/engine/core/prereqs.py"
say "Checking system packages"
LLAMA_BACKEND="${ENCLAVE_LLAMA_BACKEND:-cpu}"  # cpu | cuda | vulkan | metal (installer/build_llama.sh)
LLAMA_DIR="$(bash "$ROOT/installer/build_llama.sh" --dir "$LLAMA_BACKEND")" || exit 1
if ! ls "$LLAMA_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  gpu_check=()
  case "$LLAMA_BACKEND" in cuda|vulkan) gpu_check=(--gpu "$LLAMA_BACKEND") ;; esac
  "$PY" "$PREREQS" --build ${gpu_check[@]+"${gpu_check[@]}"} ||
    die "llama-cpp-python is compiled once here and needs the build tools named above; install them, then run this again"
fi
window_check=(--window)
[ "$MODE" = "app" ] || window_check+=(--warn-only)
"$PY" "$PREREQS" "${window_check[@]}" ||
  die "the window needs the system libraries named above; install them, then run this again (without them: 'bash installer/setup.sh' and the terminal commands still work)"
# Tesseract OCRs scanned pages at pack build; in test mode it is installed where that is safe (apt,
# as root or with passwordless sudo), else named with its install command (OCR tests then skip).
if [ "$MODE" = "test" ] && ! command -v tesseract >/dev/null 2>&1; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    say "Installing Tesseract (OCR of scanned pages)"
    ${as_root[@]+"${as_root[@]}"} apt-get install -y tesseract-ocr >/dev/null ||
      say "Could not install tesseract-ocr: the OCR tests will be skipped"
  else
    "$PY" "$PREREQS" --ocr --warn-only
    say "Without Tesseract the OCR tests are skipped"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "Creating the virtual environment in $VENV"
  "$PY" -m venv "$VENV" || die "could not create a venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi
VPY="$VENV/bin/python"

extras=""
stamp_file="$VENV/.enclave-installed"
if [ "$MODE" = "test" ]; then
  extras="[dev]"
  stamp_file="$VENV/.enclave-installed-dev"
fi
# The wheel's folder is part of the stamp: a new build recipe (a new folder) reinstalls it.
stamp="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-32)-$LLAMA_VERSION-$(basename "$LLAMA_DIR")"

if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$ENCLAVE_WHEEL_CACHE"
  "$VPY" -m pip install --quiet --upgrade pip
  wheel="$(PYTHON="$VPY" bash "$ROOT/installer/build_llama.sh" "$LLAMA_BACKEND")"
  say "Installing Enclave and its dependencies"
  "$VPY" -m pip install --quiet --force-reinstall --no-deps "$wheel"
  "$VPY" -m pip install --quiet "$wheel"
  "$VPY" -m pip install --quiet -e "$ROOT$extras"
  echo "$stamp" > "$stamp_file"
fi

say "Checking the models (fetched and converted once, then only verified)"
"$VPY" -m desktop models fetch

if [ "$MODE" != "test" ]; then
  DEMO_SOURCE="${ENCLAVE_DEMO_SOURCE:-$ROOT/../shared/corpora/18f-handbook}"
  if [ -d "$DEMO_SOURCE" ]; then
    say "Setting up the demo pack and profiles (built once, about 2-4 minutes)"
    if ! "$VPY" -m desktop demo "$DEMO_SOURCE"; then
      say "The demo could not be set up (see above); the app still starts without documents."
    fi
  else
    say "No demo source at $DEMO_SOURCE (set ENCLAVE_DEMO_SOURCE); skipping the demo pack"
  fi
fi

case "$MODE" in
  app)
    say "Starting Enclave"
    exec "$VPY" -m desktop
    ;;
  test)
    exec bash "$ROOT/installer/run-checks.sh" "$VPY"
    ;;
  setup)
    say "Ready. Start the app with: bash installer/setup.sh app"
    ;;
esac
