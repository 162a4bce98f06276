"""The packs and grants installed for the local user, as the pack manager, enrolment and About
screens show them: typed, frozen records rather than dicts.

Every listing re-verifies each pack (signature and file hashes), which reads every shard: call
these methods off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, cast

from desktop.engine.packs import delta, grants, install
from desktop.engine.packs.changes import read_summary
from desktop.engine.packs.local_state import LocalState
from desktop.engine.packs.manifest import describe_evaluation

SignatureState = Literal["valid", "invalid"]
ExpiryState = Literal["ok", "expiring", "expired", "unknown"]
TRUSTED_SIGNER = "trusted administrator key"


@dataclass(frozen=True)
class PackRow:
    """One installed pack. A pack that no longer verifies is listed with `signature="invalid"`,
    the reason in `signer`, and nothing readable."""

    pack_id: str
    title: str
    version: int
    as_of: str  # "YYYY-MM-DD", the knowledge date the pack states; "" when unknown
    signature: SignatureState
    signer: str
    audiences: tuple[str, ...]  # the audiences this user holds a grant for, sorted
    expires: date | None
    expiry: ExpiryState
    licence: str
    documents: int
    tested: str = ""  # the signed evaluation summary (`admin build --eval`); "" when none
    # What changed since the previous version, in the audiences this user reads (the manifest's
    # signed counts): "since v6: 2 added, 1 changed (everyone, staff)"; "" when not recorded.
    whats_new: str = ""


@dataclass(frozen=True)
class Check:
    label: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class InstallReport:
    """What was verified about a pack that was installed (a rejected pack raises instead)."""

    pack_id: str
    version: int
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Enrolment:
    """The newest grant this user holds."""

    user: str
    roles: tuple[str, ...]
    granted_by: str
    expires: date


def _expiry_state(installed: install.InstalledPack) -> ExpiryState:
    state = installed.expiry
    return cast(ExpiryState, state) if state in ("ok", "expiring", "expired") else "unknown"


class PackLibrary:
    """The pack engine for the local user (implements `desktop.ui.pack_backend.PackManagerModel`)."""

    def list_packs(self) -> list[PackRow]:
        held = install.installed_grants()
        broken: list[install.BrokenPack] = []
        rows = []
        for pack in install.active_packs(broken):
            manifest = pack.manifest
            readable = {
                audience
                for g in held
                if g.pack_id == manifest.pack_id and g.pack_version == manifest.version
                for audience in g.audience_keys
            } & set(manifest.audiences)
            changes = read_summary(manifest.raw)
            rows.append(
                PackRow(
                    pack_id=manifest.pack_id,
                    title=manifest.title,
                    version=manifest.version,
                    as_of=manifest.knowledge_as_of,
                    signature="valid",
                    signer=TRUSTED_SIGNER,
                    audiences=tuple(sorted(readable)),
                    expires=manifest.expires.date(),
                    expiry=_expiry_state(pack),
                    licence=str(manifest.raw.get("license", "")),
                    documents=sum(int(a["documents"]) for a in manifest.audiences.values()),
                    tested=describe_evaluation(manifest.evaluation) if manifest.evaluation else "",
                    whats_new=changes.describe(readable) if changes else "",
                )
            )
        for bad in broken:
            rows.append(
                PackRow(
                    pack_id=bad.pack_id,
                    title=bad.pack_id,
                    version=bad.version,
                    as_of="",
                    signature="invalid",
                    signer=bad.error.reason,
                    audiences=(),
                    expires=None,
                    expiry="unknown",
                    licence="",
                    documents=0,
                )
            )
        return rows

    def install_from_file(self, path: Path) -> InstallReport:
        """Verify and install a pack file, or a delta onto the installed version; raises
        `PackRejected` with what to do."""
        is_delta = path.name.endswith(delta.DELTA_SUFFIX)
        installed = delta.apply_delta(path) if is_delta else install.install(path)
        manifest = installed.manifest
        return InstallReport(
            pack_id=manifest.pack_id,
            version=manifest.version,
            checks=(
                Check("Signature by a trusted administrator key", True),
                Check("File lengths and hashes", True, f"{len(manifest.files)} files"),
                Check("Version is not older than one seen before", True, f"v{manifest.version}"),
                Check(
                    "Not expired",
                    installed.expiry != "expired",
                    manifest.expires.date().isoformat(),
                ),
            ),
        )

    def remove(self, pack_id: str) -> None:
        state = LocalState.open()
        try:
            state.remove(pack_id)
        finally:
            state.close()

    def enrolment_request(self) -> str:
        return grants.dumps(grants.enrolment_request())

    def import_grant(self, path: Path) -> str:
        """Verify and keep a grant; returns a summary line for the user."""
        grant = install.import_grant(path)
        return (
            f"Grant accepted: {grant.pack_id} v{grant.pack_version}, roles "
            f"{', '.join(grant.roles)}; audiences {', '.join(sorted(grant.audience_keys))}. "
            "Restart Enclave to use it."
        )

    def enrolled(self) -> Enrolment | None:
        found = install.installed_grants()
        if not found:
            return None
        latest = max(found, key=lambda g: (g.pack_version, g.expires))
        return Enrolment(
            user=latest.user,
            roles=tuple(latest.roles),
            granted_by="administrator",
            expires=latest.expires.date(),
        )
