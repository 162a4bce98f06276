"""The out-of-the-box demo: a clearly marked demo admin, a pack built from the 18F handbook with
three audiences mapped by folder, and three local profiles enrolled with different roles.

Everything here is what a real administrator does with `enclave admin ...`, except where the key
lives and how far it is trusted: the DEMO key's private half is an unencrypted file in the user data
folder (`demo-admin/`), so its public half is trusted only in the profiles this demo enrols
(`<profile data>/DEMO-trusted-key.pub`) and only for the demo pack id (`trust.DEMO_PACK_ID`). A pack
or grant it signs for any other pack id is refused, in every profile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from desktop.engine.core import paths
from desktop.engine.core.progress import JobProgress, ProgressCounter
from desktop.engine.knowledge import parsers
from desktop.engine.knowledge.builder import BuildOptions
from desktop.engine.knowledge.doc_dates import DateMap
from desktop.engine.packs import grants, install, trust
from desktop.engine.packs.build import BuiltPack, build_pack
from desktop.engine.packs.signing import key_id
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder
from desktop.engine.storage import secrets

PACK_ID = trust.DEMO_PACK_ID
PACK_TITLE = "18F Handbook (demo)"
PROFILES = {
    "": ("demo-employee", ["employee"]),
    "demo-supervisor": ("demo-supervisor", ["supervisor"]),
    "demo-guest": ("demo-guest", ["guest"]),
}

AUDIENCES = """\
# DEMO audience map for the 18F handbook: three audiences mapped by folder.
default = "everyone"

[[rule]]
glob = "travel-and-leave/**"
audience = "staff"

[[rule]]
glob = "general-information-and-resources/**"
audience = "staff"

[[rule]]
glob = "18f/leadership-resources/**"
audience = "supervisors"

[[rule]]
glob = "hiring-staying-or-changing-jobs/**"
audience = "supervisors"

[[rule]]
glob = "career-progression-framework/**"
audience = "supervisors"

[roles]
guest = ["everyone"]
employee = ["everyone", "staff"]
supervisor = ["everyone", "staff", "supervisors"]
"""


def snapshot_date(source: Path) -> date | None:
    """The handbook copy's commit date, from its SOURCE.md ("commit <sha> (YYYY-MM-DD)"): the
    date of pages that carry none of their own (the copy's file times are the day it was made)."""
    try:
        text = (source / "SOURCE.md").read_text(encoding="utf-8")[:10_000]
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r"commit [0-9a-f]{7,40} \((\d{4}-\d{2}-\d{2})\)", text)
    try:
        return date.fromisoformat(found[1]) if found else None
    except ValueError:
        return None


def demo_dates(source: Path) -> DateMap:
    snapshot = snapshot_date(source)
    return DateMap(default=snapshot.isoformat() if snapshot else None, file_times=source)


def workspace() -> Workspace:
    return Workspace(paths.base_data_dir() / "demo-admin")


def _installed(version: int) -> bool:
    """This profile already holds a grant for `version` and has that version installed (the app
    re-verifies both when it opens them; this only avoids redoing the setup)."""
    has_grant = any(install.grants_root().glob(f"{PACK_ID}-v{version}-*.json"))
    folder = install.packs_root() / PACK_ID / f"v{version}"
    return has_grant and (folder / "manifest.json").is_file()


def setup_demo(source: Path) -> Iterator[str | JobProgress]:
    """Idempotent demo setup; yields one line per step for the setup log, and the build's
    progress (files, chunks, rate, time left) while the pack is built."""
    secrets.backend()  # the profiles' keys need a trusted keyring: say so before a long build
    ws = workspace()
    ws.init(AUDIENCES)
    (ws.root / "DEMO-ONLY.txt").write_text(
        "This admin key is a DEMO key made by setup. Never use it for real packs.\n"
    )
    demo_key = key_id(ws.signing_key().public_key())[:16]
    yield f"demo admin key {demo_key} (DEMO) may sign '{PACK_ID}' only, in the demo profiles"
    if ws.latest_version(PACK_ID) == 0:
        embedder = Embedder(Catalog.load().default("embedding"))
        files = sum(1 for _ in parsers.iter_source_files(source)) if source.is_dir() else 0
        counter = ProgressCounter("building the demo pack", files)
        if files:
            yield f"building the demo pack from {files} files (once, a few minutes)"
        try:
            for item in build_pack(
                source,
                ws.packs_dir,
                pack_id=PACK_ID,
                title=PACK_TITLE,
                version=1,
                audience_map=ws.audience_map(),
                embedder=embedder,
                admin_key=ws.signing_key(),
                valid_days=365,
                license="CC0-1.0 (18F handbook, public domain)",
                options=BuildOptions(dates=demo_dates(source)),
            ):
                if not isinstance(item, BuiltPack):
                    if item.kind == "file":
                        yield counter.file_done(item.path, item.chunks)
                    continue
                summary = ", ".join(
                    f"{a}: {r.get('indexed', 0)} files/{r.get('chunks', 0)} chunks"
                    for a, r in sorted(item.report.items())
                )
                yield f"built {item.archive.name} ({summary})"
        finally:
            embedder.close()
    version = ws.latest_version(PACK_ID)
    archive = ws.packs_dir / f"{PACK_ID}-v{version}.enclavepack"
    for profile, (user, roles) in PROFILES.items():
        with paths.profile_scope(profile):
            trust.install_demo_key(ws.public_key_path)
            if _installed(version):
                yield f"profile '{profile or 'default'}' = {user}: pack v{version} already installed"
                continue
            ws.enrol(grants.enrolment_request(user=user), roles)
            install.import_grant(ws.grant(user, PACK_ID))
            install.install(archive)
            yield f"profile '{profile or 'default'}' = {user} ({', '.join(roles)}): pack v{version} installed"
