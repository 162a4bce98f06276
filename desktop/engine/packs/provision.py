"""Packs and grants that IT places on the machine, verified and installed when the app starts.

Where they are dropped (docs/install.md is the guide for IT):

    <machine drop folder>/packs/            pack archives (*.enclavepack), signed pack folders or
                                            signed deltas (*.enclavedelta, N -> N+1), for every
                                            account on the machine
    <machine drop folder>/grants/<login>/   grant files (*.json) for one OS account
    <user data>/inbox/                      packs and grants this user (or a login script copying
                                            from a file share) drops

The machine drop folder is `/usr/share/enclave` on Linux, `%ProgramData%\\enclave` on Windows and
`/Library/Application Support/enclave` on macOS, beside the trust root; `ENCLAVE_CONFIG_DIR` moves
both (an administrator's or a test's override). These folders are only read, and every file in
them goes through `install.install` / `install.import_grant`: verified before anything parses it,
under the rollback floor and the expiry rules, exactly as `enclave packs install` does. A drop
folder a user can write to is reported (a signature still protects what is installed, but an
administrator expects that folder to be read-only for users).

A delta is applied to the installed version it was built from (`delta.apply_delta`: verified to
the same hashes as the full version, refused with "install the full pack" otherwise), after the
full archives and oldest first, so a chain v1 -> v2 -> v3 applies in one start; one whose version
is already active is set aside unread. A refused delta is tried again once the installed version
changes (a missing step may arrive later).

A file already handled (same size, modification time and app version) is not verified again at
every start: `provisioned.json` in the user's data folder remembers it. That record only saves
work; the installed copy is re-verified whenever it is used.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop import __version__
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.packs import install
from desktop.engine.packs.archive import ARCHIVE_SUFFIX
from desktop.engine.packs.delta import DELTA_SUFFIX, apply_delta
from desktop.engine.packs.errors import GrantRejected, PackRejected

RECORD_NAME = "provisioned.json"
INBOX_NAME = "inbox"
GRANT_SUFFIX = ".json"
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_VERSION_IN_NAME = re.compile(r"-v([0-9]+)")
_DELTA_NAME = re.compile(
    r"^(?P<pack>.+)-v(?P<base>[0-9]+)-to-v(?P<to>[0-9]+)" + re.escape(DELTA_SUFFIX)
)


def machine_drop_dir() -> Path:
    """Where IT drops packs and grants for this machine (read-only for users)."""
    override = paths.config_override()
    if override is not None:
        return override
    if sys.platform in ("win32", "darwin"):
        return paths.os_config_dir()
    return Path("/usr/share") / paths.APP_NAME


def machine_packs_dir() -> Path:
    return machine_drop_dir() / "packs"


def login_name() -> str | None:
    """This OS account's name when it is a plain one (a name with other characters has no
    machine grant folder: it could not be a safe folder name)."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        return None
    return name if _LOGIN.match(name) else None


def machine_grants_dir() -> Path | None:
    login = login_name()
    return machine_drop_dir() / "grants" / login if login else None


def user_inbox_dir() -> Path:
    return paths.data_dir() / INBOX_NAME


@dataclass(frozen=True)
class DropOutcome:
    """What happened to one dropped file."""

    source: str
    kind: str  # "pack" | "grant" | "delta"
    outcome: str  # "installed" | "imported" | "superseded" (verified, not newer) | "refused"
    detail: str


@dataclass(frozen=True)
class SyncReport:
    outcomes: tuple[DropOutcome, ...] = ()
    unchanged: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def refused(self) -> list[DropOutcome]:
        return [o for o in self.outcomes if o.outcome == "refused"]

    def problems(self) -> list[EngineError]:
        """The refused files and the folder warnings, as errors the window and `ask` show as
        notices."""
        refused = [
            EngineError(
                f"A {o.kind} placed by your administrator was not installed: {o.source}: "
                f"{o.detail}",
                "Your other packs keep working; tell your administrator.",
            )
            for o in self.refused
        ]
        hint = "Tell your administrator (docs/install.md, 'Drop folders')."
        return refused + [EngineError(w, hint) for w in self.warnings]


def drop_folders() -> list[tuple[str, Path]]:
    """Every drop folder this account reads, machine-wide first: (label, folder)."""
    folders = [("machine packs", machine_packs_dir())]
    grants = machine_grants_dir()
    if grants is not None:
        folders.append(("machine grants", grants))
    folders.append(("your inbox", user_inbox_dir()))
    return folders


def writable_warning(folder: Path, *, euid: int | None = None) -> str:
    """A warning when a machine drop folder can be written by this (non-root) account: the
    installer or MDM should own it and leave it read-only for users."""
    uid = os.geteuid() if euid is None and hasattr(os, "geteuid") else euid
    if uid is None or uid == 0 or not folder.is_dir():
        return ""
    info = folder.stat()
    groups = set(os.getgroups()) if hasattr(os, "getgroups") else set()
    writable = (
        (info.st_uid == uid and info.st_mode & stat.S_IWUSR)
        or (info.st_gid in groups and info.st_mode & stat.S_IWGRP)
        or info.st_mode & stat.S_IWOTH
    )
    if not writable:
        return ""
    return (
        f"{folder} can be written by this account; the administrator's drop folders should be "
        "owned by root (or SYSTEM) and read-only for users (what is in it is still verified)"
    )


def _by_version(path: Path) -> tuple[str, int, str]:
    """A sort key that puts v2 after v1 and v10 after v9 (the `-v<N>` build_pack names with)."""
    found = _VERSION_IN_NAME.findall(path.name)
    return (_VERSION_IN_NAME.sub("", path.name), int(found[-1]) if found else 0, path.name)


def candidates(folder: Path) -> Iterator[tuple[str, Path]]:
    """("grant" | "pack" | "delta", path) for each file in `folder` that may be one, older
    versions first."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir(), key=_by_version):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.name.endswith(GRANT_SUFFIX):
            yield "grant", entry
        elif (entry.is_file() and entry.name.endswith(ARCHIVE_SUFFIX)) or (
            entry.is_dir() and (entry / "manifest.json").is_file()
        ):
            yield "pack", entry
        elif entry.is_file() and entry.name.endswith(DELTA_SUFFIX):
            yield "delta", entry


def _fingerprint(kind: str, path: Path) -> list[object]:
    info = path.stat()
    found: list[object] = [info.st_size, info.st_mtime_ns, __version__]
    if kind == "delta":  # what it applies to may change: try it again when that does
        named = _DELTA_NAME.match(path.name)
        active = install.active_folder(named["pack"]) if named else None
        found.append(active[0] if active else 0)
    return found


def _load_record(path: Path) -> dict[str, list[object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    seen = data.get("seen", {}) if isinstance(data, dict) else {}
    return {str(k): list(v) for k, v in seen.items() if isinstance(v, list)}


def _save_record(path: Path, seen: dict[str, list[object]]) -> None:
    paths.ensure_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"seen": seen}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _handle(kind: str, source: Path) -> DropOutcome:
    try:
        if kind == "delta":
            return _handle_delta(source)
        if kind == "grant":
            grant = install.import_grant(source)
            detail = f"{grant.pack_id} v{grant.pack_version} for {grant.user}"
            return DropOutcome(str(source), kind, "imported", detail)
        installed = install.install_if_newer(source)
        if installed is None:
            detail = "verified; not newer than the active version"
            return DropOutcome(str(source), kind, "superseded", detail)
        manifest = installed.manifest
        return DropOutcome(
            str(source), kind, "installed", f"{manifest.pack_id} v{manifest.version}"
        )
    except (PackRejected, GrantRejected) as exc:
        return DropOutcome(str(source), kind, "refused", exc.reason)


def _handle_delta(source: Path) -> DropOutcome:
    named = _DELTA_NAME.match(source.name)
    active = install.active_folder(named["pack"]) if named else None
    if named and active and active[0] >= int(named["to"]):  # the name only spares work
        return DropOutcome(str(source), "delta", "superseded", f"v{active[0]} is already active")
    manifest = apply_delta(source).manifest  # verified whole; DeltaRejected says what to do
    return DropOutcome(str(source), "delta", "installed", f"{manifest.pack_id} v{manifest.version}")


def sync() -> SyncReport:
    """Verify and install what is new in the drop folders: grants first, then packs, newest
    version first (by the `-v<N>` in the file name, which only orders the work: every file is
    verified). One bad file never stops the others; each is reported once."""
    record_path = paths.data_dir() / RECORD_NAME
    seen = _load_record(record_path)
    outcomes: list[DropOutcome] = []
    warnings: list[str] = []
    unchanged = 0
    found: list[tuple[str, Path]] = []
    for label, folder in drop_folders():
        if label.startswith("machine"):
            warning = writable_warning(folder)
            if warning:
                warnings.append(warning)
        found += candidates(folder)
    # Every grant before any pack (a pack install checks the grants' versions), newest packs
    # first: an older archive left in the folder is then verified and set aside ("superseded").
    packs = sorted((c for c in found if c[0] == "pack"), key=lambda c: -_by_version(c[1])[1])
    # Then deltas, oldest target first: v1 -> v2 before v2 -> v3.
    deltas = sorted((c for c in found if c[0] == "delta"), key=lambda c: _by_version(c[1])[1])
    for kind, source in [c for c in found if c[0] == "grant"] + packs + deltas:
        key = str(source.resolve())
        try:
            fingerprint = _fingerprint(kind, source)
        except OSError:
            continue
        if seen.get(key, [])[: len(fingerprint)] == fingerprint:
            unchanged += 1
            continue
        outcome = _handle(kind, source)
        outcomes.append(outcome)
        with contextlib.suppress(OSError):  # a delta's fingerprint names the version after it
            fingerprint = _fingerprint(kind, source)
        seen[key] = [*fingerprint, outcome.outcome]
    if outcomes:
        _save_record(record_path, seen)
    return SyncReport(tuple(outcomes), unchanged, tuple(warnings))


def sync_at_start() -> SyncReport:
    """`sync` as the window and `enclave ask` run it before opening packs: quick when nothing is
    new (one stat per file); a problem with the folders is a notice, never a stop."""
    try:
        return sync()
    except (EngineError, OSError) as exc:
        return SyncReport(warnings=(f"The drop folders could not be read: {exc}",))
