"""What the pack manager, enrolment and About screens need from the pack engine.

`desktop.engine.packs.library.PackLibrary` implements `PackManagerModel`; tests use a fake. Listing
and installing re-verify every pack file (hundreds of MB for a large pack), and importing a grant
verifies it, so the screens call these on a worker thread, never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from desktop.engine.packs.library import Check, Enrolment, InstallReport, PackRow

__all__ = ["Check", "Enrolment", "InstallReport", "PackManagerModel", "PackRow"]


class PackManagerModel(Protocol):
    def list_packs(self) -> list[PackRow]:
        """Every installed pack, re-verified; one that fails is listed as invalid."""
        ...

    def install_from_file(self, path: Path) -> InstallReport:
        """Verify and install; raises `EngineError` (e.g. `PackRejected`) with what to do."""
        ...

    def remove(self, pack_id: str) -> None: ...

    def enrolment_request(self) -> str: ...

    def import_grant(self, path: Path) -> str:
        """Verify and keep a grant; returns a summary line. Raises `EngineError`."""
        ...

    def enrolled(self) -> Enrolment | None:
        """The newest grant held, or None before the first grant is imported."""
        ...
