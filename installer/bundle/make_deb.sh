#!/usr/bin/env bash
# Wrap a built bundle folder into a .deb (dpkg-deb, no other tool):
#
#   bash installer/bundle/make_deb.sh BUNDLE_DIR VERSION OUT_DIR
#
# /opt/enclave/          the bundle            /usr/bin/enclave -> /opt/enclave/enclave
# /usr/share/applications/enclave.desktop      /usr/share/icons/hicolor/scalable/apps/enclave.svg
# /etc/xdg/enclave/trusted-keys/, /usr/share/enclave/packs/, /usr/share/enclave/grants/
#                        the trust root and the drop folders, root-owned and read-only for users
#                        (empty: IT fills them, docs/install.md)
# Depends: the packages Qt's platform plugin needs (from prereqs.py, the same table setup uses).
# `apt remove` leaves every user's data folder and /etc/xdg/enclave; `apt purge` also removes
# /etc/xdg/enclave (installer/bundle/postrm), never users' data (docs/upgrades.md).
set -euo pipefail

BUNDLE="$(cd "$1" && pwd)"
VERSION="$2"
OUT="$(cd "$3" && pwd)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
command -v dpkg-deb >/dev/null || { echo "make_deb: dpkg-deb is needed (apt-get install dpkg)" >&2; exit 1; }

PKG="$(mktemp -d "${TMPDIR:-/tmp}/enclave-deb.XXXXXX")"
trap 'rm -rf "$PKG"' EXIT
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/icons/hicolor/scalable/apps" "$PKG/etc/xdg/enclave/trusted-keys" \
  "$PKG/usr/share/enclave/packs" "$PKG/usr/share/enclave/grants"
cp -a "$BUNDLE" "$PKG/opt/enclave"
ln -s /opt/enclave/enclave "$PKG/usr/bin/enclave"
install -m 644 "$ROOT/installer/bundle/enclave.desktop" "$PKG/usr/share/applications/enclave.desktop"
install -m 644 "$ROOT/installer/bundle/enclave.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/enclave.svg"
install -m 755 "$ROOT/installer/bundle/postrm" "$PKG/DEBIAN/postrm"
depends="$(python3 "$ROOT/desktop/engine/core/prereqs.py" --packages apt | sed 's/ /, /g')"
size_kb="$(du -sk "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: enclave
Version: $VERSION
Architecture: $ARCH
Maintainer: Enclave maintainers <enclave@localhost>
Installed-Size: $size_kb
Depends: $depends
Section: utils
Priority: optional
Description: private, offline assistant over an organisation's signed document packs
 Enclave answers questions from the organisation's own documents with a local language
 model, with no network at all. Packs and grants are verified before use; history is
 encrypted with a key in the OS keyring. Models are installed per user or shared
 (ENCLAVE_MODELS_DIR); see the IT guide for provisioning.
CONTROL
chmod -R u=rwX,go=rX "$PKG"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$PKG" "$OUT/enclave_${VERSION}_${ARCH}.deb" >/dev/null
echo "$OUT/enclave_${VERSION}_${ARCH}.deb"
