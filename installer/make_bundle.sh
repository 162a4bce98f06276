#!/usr/bin/env bash
# Build Enclave's self-contained Linux desktop bundle with PyInstaller, then a .deb from it.
#
#   bash installer/make_bundle.sh [OUT_DIR]     (default: dist/bundle)
#
# OUT_DIR/enclave/        the bundle: runs without Python installed and without network
#                         (OUT_DIR/enclave/enclave is the program; models are not inside: they are
#                         data, installed per user or shared with ENCLAVE_MODELS_DIR, docs/install.md)
# OUT_DIR/enclave_<version>_<arch>.deb
#                         installs the bundle in /opt/enclave, /usr/bin/enclave, the .desktop
#                         entry and the icon; depends on the system libraries Qt's plugin needs
#
# The build runs in its own virtual environment (build/bundle-venv), never the development one.
# Set ENCLAVE_KIT=DIR to install the dependencies from an offline kit (no network at all).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/dist/bundle}" && cd "${1:-$ROOT/dist/bundle}" && pwd)"
BVENV="${ENCLAVE_BUNDLE_VENV:-$ROOT/build/bundle-venv}"
WORK="$ROOT/build/bundle-work"
PYINSTALLER_VERSION="6.22.3"
export ENCLAVE_WHEEL_CACHE="${ENCLAVE_WHEEL_CACHE:-$HOME/.cache/enclave/wheels}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'make_bundle: %s\n' "$*" >&2; exit 1; }

PY="${PYTHON:-$("${ENCLAVE_VENV:-$ROOT/.venv}/bin/python" -c 'import sys; print(sys._base_executable)' 2>/dev/null || command -v python3)}"
[ -n "$PY" ] || die "no Python 3.11+ found (set PYTHON)"

if [ ! -x "$BVENV/bin/python" ]; then
  say "Creating the build environment in $BVENV"
  "$PY" -m venv "$BVENV"
fi
say "Installing Enclave, its dependencies and PyInstaller $PYINSTALLER_VERSION into the build environment"
if [ -n "${ENCLAVE_KIT:-}" ]; then
  "$BVENV/bin/pip" install --quiet --no-index --find-links "$ENCLAVE_KIT/wheels" \
    --require-hashes -r "$ENCLAVE_KIT/requirements.txt"
else
  # Enclave from the committed HEAD, as the offline kit does (ENCLAVE_KIT_FROM_WORKTREE=1: as is).
  SRC="$ROOT"
  if [ -z "${ENCLAVE_KIT_FROM_WORKTREE:-}" ] && git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null; then
    SRC="$(mktemp -d "${TMPDIR:-/tmp}/enclave-bundle-src.XXXXXX")"
    trap 'rm -rf "$SRC"' EXIT
    git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
  fi
  "$BVENV/bin/pip" install --quiet --upgrade --force-reinstall --no-deps "$SRC"
  "$BVENV/bin/pip" install --quiet --find-links "$ENCLAVE_WHEEL_CACHE" "$SRC"
fi
"$BVENV/bin/pip" install --quiet "pyinstaller==$PYINSTALLER_VERSION"
VERSION="$("$BVENV/bin/python" -I -c 'import desktop; print(desktop.__version__)')"
"$BVENV/bin/python" -I -c 'import desktop, sys; sys.exit("site-packages" not in desktop.__file__)' ||
  die "the build environment imports Enclave from outside its site-packages (an editable install?)"

say "Freezing (PyInstaller, one folder)"
rm -rf "$WORK" "$OUT/enclave"
(cd / && "$BVENV/bin/pyinstaller" --noconfirm --log-level WARN --name enclave \
  --distpath "$OUT" --workpath "$WORK/build" --specpath "$WORK" \
  --collect-submodules desktop --collect-data models \
  --collect-binaries llama_cpp --collect-data llama_cpp \
  --collect-submodules keyrings --collect-submodules keyring \
  --copy-metadata keyring --copy-metadata keyrings.cryptfile --copy-metadata enclave-desktop \
  --exclude-module tkinter --exclude-module pytest \
  "$ROOT/installer/bundle/enclave_entry.py")
install -m 644 "$ROOT/installer/bundle/enclave.desktop" "$OUT/enclave/enclave.desktop"
install -m 644 "$ROOT/installer/bundle/enclave.svg" "$OUT/enclave/enclave.svg"

say "Packaging enclave_${VERSION}_$(dpkg --print-architecture 2>/dev/null || echo amd64).deb"
bash "$ROOT/installer/bundle/make_deb.sh" "$OUT/enclave" "$VERSION" "$OUT"
say "Bundle ready: $OUT/enclave ($(du -sh "$OUT/enclave" | cut -f1)); try: $OUT/enclave/enclave doctor"
