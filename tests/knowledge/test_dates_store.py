"""Document dates through the builder, the store and retrieval: stored per document, refreshed on
an unchanged rebuild, absent ("no date") in shards built before dates, superseded documents ranked
below their successors and withdrawn ones not retrieved. Real SQLite/SQLCipher and FAISS; a small
deterministic embedder keeps these fast (the pack-level test uses the real one)."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from desktop.engine.knowledge import builder, search
from desktop.engine.knowledge.builder import DB_NAME, BuildOptions
from desktop.engine.knowledge.doc_dates import DateMap
from desktop.engine.knowledge.search import Hit, Retriever, below_successors
from desktop.engine.knowledge.store import M001_INITIAL, ChunkRecord, KnowledgeStore
from desktop.engine.storage.encrypted_db import open_database

TODAY = datetime.now(UTC).date()


class WordEmbedder:
    """Bag of words hashed into 64 dimensions, normalised: similar texts, similar vectors."""

    dimension = 64

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % 64] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


TRAVEL = "Per diem rates for travel: meals and lodging are paid at the federal per diem rate."


def _source(root: Path) -> Path:
    pages = {
        "travel-2023.md": "---\ntitle: Travel 2023\nupdated: 2023-04-01\n---\n# Travel\n\n"
        + TRAVEL
        + " Per diem rates for travel, old rules.\n",
        "travel-2024.md": "---\ntitle: Travel 2024\nupdated: 2024-04-01\n---\n# Travel\n\n"
        + TRAVEL
        + "\n",
        "recalled.md": "---\ntitle: Recalled\n---\n# Recalled\n\n" + TRAVEL + " Per diem.\n",
        "notes.txt": "Parking is in bay four, beside the gate.\n",
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _map(tmp: Path, *, withdrawn: str = "2025-01-01", default: str = "") -> DateMap:
    text = (
        (f'default = "{default}"\n' if default else "")
        + '[[document]]\nglob = "travel-2023.md"\nsuperseded_by = "travel-2024.md"\n'
        + f'[[document]]\nglob = "recalled.md"\nwithdrawn = {withdrawn}\n'
    )
    (tmp / "dates.toml").write_text(text, encoding="utf-8")
    return DateMap.load(tmp / "dates.toml")


def _build(source: Path, folder: Path, dates: DateMap) -> list[builder.Progress]:
    options = BuildOptions(dates=dates)
    return list(builder.build(source, folder, WordEmbedder(), options))


def test_dates_are_stored_per_document_and_reach_the_chunks(tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    progress = _build(source, tmp_path / "kb", _map(tmp_path))
    by_path = {p.path: p.dates for p in progress if p.kind == "file"}
    assert by_path["travel-2024.md"] is not None
    assert by_path["travel-2024.md"].label() == "Updated 2024-04-01"
    assert by_path["notes.txt"] is not None and by_path["notes.txt"].source == "file"
    store = KnowledgeStore.open(tmp_path / "kb" / DB_NAME)
    try:
        assert store.has_dates
        ids = store.live_ids()
        chunks = {c.document_path: c for c in store.fetch_chunks(ids.tolist()).values()}
        assert chunks["travel-2023.md"].doc_date == "2023-04-01"
        assert chunks["travel-2023.md"].superseded_by == "travel-2024.md"
        assert chunks["travel-2024.md"].date_source == "front_matter"
        assert chunks["recalled.md"].withdrawn == "2025-01-01"
        assert store.date_sources() == {"file": 2, "front_matter": 2}
        # newest of documents not withdrawn; the file dates of this fresh folder are today's
        assert store.newest_document_date(TODAY) == TODAY.isoformat()
    finally:
        store.close()


def test_an_unchanged_rebuild_takes_the_administrators_new_dates(tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    _build(source, tmp_path / "kb", _map(tmp_path))
    progress = _build(source, tmp_path / "kb", _map(tmp_path, default="2025-02-27"))
    assert {p.status for p in progress if p.kind == "file"} == {"unchanged"}
    store = KnowledgeStore.open(tmp_path / "kb" / DB_NAME)
    try:
        assert store.date_sources() == {"admin_default": 2, "front_matter": 2}
        assert store.newest_document_date(TODAY) == "2025-02-27"  # recalled.md is withdrawn
    finally:
        store.close()


@pytest.mark.parametrize("max_skipped", [1000, 0])  # dropped from the rankings / the set
def test_superseded_ranks_below_its_successor_and_withdrawn_is_not_retrieved(
    tmp_path: Path, max_skipped: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "MAX_SKIPPED", max_skipped)
    source = _source(tmp_path / "src")
    _build(source, tmp_path / "kb", _map(tmp_path))
    retriever = Retriever.open(tmp_path / "kb", WordEmbedder())
    try:
        query = "per diem rates for travel old rules"
        before = [h.chunk.document_path for h in retriever.search(query, 5, today=date(2024, 1, 1))]
        assert "recalled.md" in before  # withdrawn only from 2025-01-01
        hits = retriever.search(query, 5)
        paths = [h.chunk.document_path for h in hits]
        assert "recalled.md" not in paths and len(paths) == 3  # the rest, none starved
        assert paths.index("travel-2024.md") < paths.index("travel-2023.md")
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)  # a merge by score keeps the order
        plain = retriever.search(query, 5, mode="bm25")  # each mode applies the same order
        bm25_paths = [h.chunk.document_path for h in plain]
        assert bm25_paths.index("travel-2024.md") < bm25_paths.index("travel-2023.md")
    finally:
        retriever.close()


def _hit(path: str, score: float, successor: str | None = None) -> Hit:
    chunk = ChunkRecord(0, path, "", path, "", "", None, None, None, 0, 0, superseded_by=successor)
    return Hit(chunk, score)


def test_below_successors_orders_chains_and_leaves_lone_superseded_hits() -> None:
    hits = [_hit("a", 0.9, "b"), _hit("b", 0.8, "c"), _hit("x", 0.7), _hit("c", 0.5)]
    assert [h.chunk.document_path for h in below_successors(hits)] == ["x", "c", "b", "a"]
    alone = [_hit("a", 0.9, "missing"), _hit("x", 0.5)]
    assert [h.chunk.document_path for h in below_successors(alone)] == ["a", "x"]
    cycle = [_hit("a", 0.9, "b"), _hit("b", 0.8, "a")]
    assert {h.chunk.document_path for h in below_successors(cycle)} == {"a", "b"}


def _old_store(conn: object) -> None:
    """The schema and one document as stores were before dates (m001 only)."""
    execute = conn.execute  # type: ignore[attr-defined]
    execute("CREATE TABLE kb_migrations (name TEXT PRIMARY KEY)")
    conn.executescript(  # type: ignore[attr-defined]
        f"BEGIN; {M001_INITIAL}; INSERT INTO kb_migrations VALUES ('m001_initial'); COMMIT;"
    )
    execute(
        "INSERT INTO documents(path, partition, sha256, state, title, keywords, text, n_chunks) "
        "VALUES ('old.md', '', 'x', 'live', 'Old', '[]', 'old text', 1)"
    )
    execute(
        "INSERT INTO chunks(document_id, ordinal, text, title, heading, page, line_start, "
        "line_end, char_start, char_end, n_tokens, content_hash) "
        "VALUES (1, 0, 'old text', 'Old', '', NULL, 1, 1, 0, 8, 2, 'h')"
    )


def test_a_store_built_before_dates_opens_read_only_and_reports_no_date(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(str(path), isolation_level=None)
    _old_store(conn)
    conn.close()
    before = path.read_bytes()
    readonly = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, isolation_level=None)
    store = KnowledgeStore(readonly)
    assert not store.has_dates
    (chunk,) = store.fetch_chunks([1]).values()
    assert (chunk.doc_date, chunk.date_source) == (None, "")
    assert store.newest_document_date(TODAY) is None
    assert store.date_sources() == {"": 1}
    assert len(store.withdrawn_chunk_ids(TODAY)) == 0
    store.close()
    assert path.read_bytes() == before  # an installed shard's signed bytes are never changed
    writable = KnowledgeStore.open(path)  # a builder reusing it migrates it
    assert writable.has_dates
    (chunk,) = writable.fetch_chunks([1]).values()
    assert chunk.doc_date is None
    writable.close()


def test_an_encrypted_shard_built_before_dates_opens_read_only(tmp_path: Path) -> None:
    path, key = tmp_path / "everyone.db", os.urandom(32)
    db = open_database(path, key)
    _old_store(db.conn)
    db.conn.close()
    readonly = open_database(path, key, read_only=True)
    try:
        store = KnowledgeStore(readonly)
        assert not store.has_dates
        (chunk,) = store.fetch_chunks([1]).values()
        assert chunk.doc_date is None
    finally:
        readonly.conn.close()
    copied = open_database(path, key)  # a copied shard the next build runs over
    try:
        assert KnowledgeStore(copied).has_dates
    finally:
        copied.conn.close()
