#!/usr/bin/env bash
# Build Enclave's offline install kit: everything an air-gapped machine needs, in one folder.
#
#   bash installer/make_offline_kit.sh [KIT_DIR]      (default: dist/enclave-offline-kit-<version>)
#
# Run it on a connected machine with the same OS, CPU architecture and Python minor version as the
# targets (wheels such as numpy and the compiled llama-cpp-python are built for one of each): for
# Debian 12's Python 3.11.2, make the venv with it (ENCLAVE_VENV=/path/to/that/venv). The kit:
#   wheels/          every Python dependency as a wheel, Enclave's own wheel, and the compiled
#                    llama-cpp-python wheel (installer/build_llama.sh ${ENCLAVE_LLAMA_BACKEND:-cpu}:
#                    from ~/.cache/enclave/wheels, compiled once if absent)
#   model-wheels/    the pinned wheels the default models are taken from (on-demand models: no)
#   requirements.txt every wheel pinned by version and sha256 (pip --require-hashes)
#   prereqs.py       the system-package check, runnable with the system Python before anything else
#   install.sh       verifies SHA256SUMS, then installs with `pip install --no-index` (no network)
#   source           the git commit Enclave's wheel was built from
#   python-version   the Python it was built with: install.sh needs the same X.Y, at least X.Y.Z
#   SHA256SUMS       sha256 of every other file in the kit
# Publish the sha256 of SHA256SUMS (printed at the end) through a channel other than the kit itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VPY="${ENCLAVE_VENV:-$ROOT/.venv}/bin/python"
export ENCLAVE_WHEEL_CACHE="${ENCLAVE_WHEEL_CACHE:-$HOME/.cache/enclave/wheels}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'make_offline_kit: %s\n' "$*" >&2; exit 1; }

[ -x "$VPY" ] || die "no virtual environment at ${VPY%/bin/python}: run 'bash installer/setup.sh' first"
VERSION="$("$VPY" -c 'import desktop; print(desktop.__version__)')"
KIT="${1:-$ROOT/dist/enclave-offline-kit-$VERSION}"
[ ! -e "$KIT" ] || die "$KIT already exists; remove it or name another folder"
mkdir -p "$KIT/wheels" "$KIT/model-wheels" "$ENCLAVE_WHEEL_CACHE"

# Enclave itself is built from the committed HEAD (a kit is a release: no uncommitted edits in
# it); ENCLAVE_KIT_FROM_WORKTREE=1 takes the working tree as it is instead.
SRC="$ROOT"
source_note="working tree of $ROOT (uncommitted edits included)"
if [ -z "${ENCLAVE_KIT_FROM_WORKTREE:-}" ] && git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null; then
  SRC="$(mktemp -d "${TMPDIR:-/tmp}/enclave-kit-src.XXXXXX")"
  trap 'rm -rf "$SRC"' EXIT
  git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
  source_note="git commit $(git -C "$ROOT" rev-parse HEAD)"
fi

say "The compiled llama-cpp-python wheel (${ENCLAVE_LLAMA_BACKEND:-cpu}; compiled once if not cached)"
llama_wheel="$(PYTHON="$VPY" bash "$ROOT/installer/build_llama.sh" "${ENCLAVE_LLAMA_BACKEND:-cpu}")"
cp "$llama_wheel" "$KIT/wheels/"

say "Collecting every dependency as a wheel (pip, from the package index)"
# --find-links the kit's own folder first: pip takes the compiled llama-cpp-python wheel from there
# instead of the source distribution; every other dependency comes as a released wheel.
"$VPY" -m pip wheel --quiet --prefer-binary --find-links "$KIT/wheels" -w "$KIT/wheels" "$SRC"

say "Collecting the pinned model wheels (default models only)"
PYTHONPATH="$SRC" "$VPY" - "$KIT/model-wheels" <<'PY'
import shutil
import sys
from pathlib import Path

from desktop.engine.runtime.catalog import Catalog
from models import fetch

kit = Path(sys.argv[1])
for entry in Catalog.load():
    kind = entry.source.get("kind", "")
    if entry.on_demand or kind not in fetch.AUTOMATIC_KINDS:
        continue
    if kind == "wheel-parts":
        wheels = fetch.locate_part_wheels(entry, offline=False)
    else:
        wheels = [fetch.locate_wheel(entry, offline=False)]
    for wheel in wheels:  # each one size- and sha256-checked against the catalog above
        shutil.copyfile(wheel, kit / wheel.name)
    print(f"  {entry.id}: {len(wheels)} wheel(s)")
PY

say "Writing requirements.txt (every wheel pinned by sha256), install.sh and SHA256SUMS"
"$VPY" - "$KIT" <<'PY'
import hashlib
import sys
from pathlib import Path

kit = Path(sys.argv[1])
lines = []
for wheel in sorted((kit / "wheels").glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lines.append(f"{name}=={version} --hash=sha256:{digest}\n")
(kit / "requirements.txt").write_text("".join(lines), encoding="utf-8")
PY
"$VPY" -c 'import platform; print(platform.python_version())' > "$KIT/python-version"
echo "Enclave $VERSION from $source_note" > "$KIT/source"
cp "$SRC/installer/offline_install.sh" "$KIT/install.sh"
cp "$SRC/desktop/engine/core/prereqs.py" "$KIT/prereqs.py"
chmod +x "$KIT/install.sh"
(cd "$KIT" && find . -type f ! -name SHA256SUMS -printf '%P\0' | sort -z | xargs -0 sha256sum > SHA256SUMS)

count="$(wc -l < "$KIT/SHA256SUMS")"
size="$(du -sh "$KIT" | cut -f1)"
say "Kit ready: $KIT ($count files, $size)"
echo "sha256 of SHA256SUMS (publish it separately): $(sha256sum "$KIT/SHA256SUMS" | cut -d' ' -f1)"
echo "On the target machine: bash install.sh [PREFIX]   (no network needed)"
