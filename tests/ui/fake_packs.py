"""A fake pack model for widget tests: two packs, a scripted verification, a grant on import.

It follows `desktop.ui.pack_backend.PackManagerModel`, returns the engine's records, and records
the thread of every call so tests can prove the screens keep pack work off the GUI thread. The real
`PackLibrary` is proven by tests/packs.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import replace
from pathlib import Path

from desktop.engine.core.errors import EngineError
from desktop.engine.packs.library import Check, Enrolment, InstallReport, PackRow

HANDBOOK = PackRow(
    pack_id="handbook",
    title="Staff handbook",
    version=5,
    as_of="2024-05-01",
    signature="valid",
    signer="IT Knowledge Team",
    audiences=("managers", "staff"),
    expires=datetime.date(2030, 1, 1),
    expiry="ok",
    licence="Internal use",
    documents=42,
)
HR_POLICIES = PackRow(
    pack_id="hr-policies",
    title="HR policies",
    version=3,
    as_of="2023-11-20",
    signature="valid",
    signer="HR",
    audiences=("staff",),
    expires=datetime.date(2020, 1, 1),
    expiry="expired",
    licence="Internal use",
    documents=12,
)


class FakePacks:
    """Implements `PackManagerModel`. Set `gate` (an unset Event) to hold `list_packs` until it
    is set; `threads` names the thread of each call."""

    def __init__(self) -> None:
        self.packs: list[PackRow] = [HANDBOOK, HR_POLICIES]
        self.grant: Enrolment | None = None
        self.gate: threading.Event | None = None
        self.threads: list[threading.Thread] = []

    def _called(self) -> None:
        self.threads.append(threading.current_thread())

    def list_packs(self) -> list[PackRow]:
        self._called()
        if self.gate is not None:
            self.gate.wait(5)
        return list(self.packs)

    def install_from_file(self, path: Path) -> InstallReport:
        self._called()
        if "tampered" in path.name:
            raise EngineError(
                f"Pack {path.name} was rejected: its signature does not match its contents.",
                "Ask your administrator for a fresh copy; nothing was installed.",
            )
        self.packs.append(
            replace(
                HANDBOOK,
                pack_id=path.stem,
                title=path.stem,
                version=1,
                as_of="2024-06-01",
                audiences=("staff",),
                expires=datetime.date(2031, 1, 1),
                documents=3,
                licence="CC-BY-4.0",
            )
        )
        return InstallReport(
            pack_id=path.stem,
            version=1,
            checks=(
                Check("Signature by a trusted administrator key", True, "IT Knowledge Team"),
                Check("File hashes", True, "3 files"),
                Check("Version is newer than installed", True),
                Check("Not expired", True),
            ),
        )

    def remove(self, pack_id: str) -> None:
        self._called()
        self.packs = [p for p in self.packs if p.pack_id != pack_id]

    def enrolment_request(self) -> str:
        self._called()
        return "ENCLAVE-ENROL-1\nuser: alice\nmachine-key: x25519:3q2+7w==\nnonce: 9f2c1a"

    def import_grant(self, path: Path) -> str:
        self._called()
        if not path.exists():
            raise EngineError(f"No grant at {path}.", "Choose the .grant file you received.")
        self.grant = Enrolment(
            user="alice", roles=("staff",), granted_by="IT", expires=datetime.date(2030, 1, 1)
        )
        return "Grant imported: alice can now read staff documents."

    def enrolled(self) -> Enrolment | None:
        self._called()
        return self.grant
