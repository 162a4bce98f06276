"""How fresh a built pack's knowledge is: the newest date among its documents.

The manifest's `knowledge_as_of` is this date unless the administrator sets one (`--as-of`): read
from the built shards themselves, so documents carried over unchanged from an earlier version
count as much as the ones just indexed. A document withdrawn by the build day does not count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from desktop.engine.knowledge.store import KnowledgeStore
from desktop.engine.storage.encrypted_db import open_database


def newest_document_date(
    folder: Path,
    audiences: Mapping[str, Mapping[str, Any]],
    keys: Mapping[str, bytes],
    today: date | None = None,
) -> date | None:
    """The newest document date over the shards of a built pack folder (None: none known)."""
    today = today or datetime.now(UTC).date()
    newest: str | None = None
    for audience, info in audiences.items():
        path = folder / str(info["shard"])
        if not path.is_file():
            continue
        db = open_database(path, keys[audience], read_only=True)
        try:
            found = KnowledgeStore(db).newest_document_date(today)
        finally:
            db.conn.close()
        if found and (newest is None or found > newest):
            newest = found
    return date.fromisoformat(newest) if newest else None
