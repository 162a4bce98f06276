"""Chunks, documents and per-file status in SQLite, with an FTS5 (BM25) index beside them.

The connection is injected (sqlite3, sqlcipher3, or a sqlite_utils.Database's `.conn`), so a pack
can hold one audience's shard in an encrypted database. SQLite is the source of truth: each document
is stored as a *version* (pending, then live); a build's last SQLite transaction flips pending to
live and bumps the generation, which is the commit point the vector index is checked against.
Chunk row ids are AUTOINCREMENT, never reused, and are the FAISS ids.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.engine.knowledge.chunker import Chunk
from desktop.engine.knowledge.doc_dates import DocumentDates

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
_TERM = re.compile(r"\w+", re.UNICODE)


M001_INITIAL = """
        CREATE TABLE kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files (
            path TEXT PRIMARY KEY, sha256 TEXT, size INTEGER, status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
            n_chunks INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, partition TEXT NOT NULL,
            sha256 TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', 'live')),
            title TEXT NOT NULL, keywords TEXT NOT NULL, text TEXT NOT NULL, n_chunks INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX documents_path_state ON documents(path, state);
        CREATE TABLE embeddings (content_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL, text TEXT NOT NULL, title TEXT NOT NULL, heading TEXT NOT NULL,
            page INTEGER, line_start INTEGER, line_end INTEGER,
            char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, n_tokens INTEGER NOT NULL,
            content_hash TEXT NOT NULL
        );
        CREATE INDEX chunks_document ON chunks(document_id);
        CREATE INDEX chunks_hash ON chunks(content_hash);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, heading, title, content='chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, heading, title)
            VALUES (new.id, new.text, new.heading, new.title);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading, title)
            VALUES ('delete', old.id, old.text, old.heading, old.title);
        END;
"""

# A document's own date and where it came from (`doc_dates`), and its standing: in effect from,
# replaced by (a relative path), withdrawn from. Shards built before have none: "no date".
M002_DOCUMENT_DATES = """
        ALTER TABLE documents ADD COLUMN doc_date TEXT;
        ALTER TABLE documents ADD COLUMN date_source TEXT NOT NULL DEFAULT '';
        ALTER TABLE documents ADD COLUMN date_detail TEXT NOT NULL DEFAULT '';
        ALTER TABLE documents ADD COLUMN effective TEXT;
        ALTER TABLE documents ADD COLUMN superseded_by TEXT;
        ALTER TABLE documents ADD COLUMN withdrawn TEXT;
"""

# Ordered, named, never edited once shipped: add m003_... below.
MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", M001_INITIAL),
    ("m002_document_dates", M002_DOCUMENT_DATES),
]
_DATE_COLUMNS = (
    "d.doc_date, d.date_source, d.effective, d.superseded_by, d.withdrawn, d.date_detail"
)
_NO_DATE_COLUMNS = "NULL, '', NULL, NULL, NULL, ''"


@dataclass(frozen=True)
class FileStatus:
    path: str
    sha256: str | None
    size: int | None
    status: str
    reason: str
    notes: str
    n_chunks: int


@dataclass(frozen=True)
class ChunkRecord:
    id: int
    document_path: str
    partition: str
    title: str
    heading: str
    text: str
    page: int | None
    line_start: int | None
    line_end: int | None
    char_start: int
    char_end: int
    doc_date: str | None = None  # ISO date; None: no date known (or a shard built before dates)
    date_source: str = ""  # doc_dates.ADMIN / FRONT_MATTER / ... / FILE
    effective: str | None = None
    superseded_by: str | None = None
    withdrawn: str | None = None
    date_detail: str = ""  # the field it was read from ("updated", "CreationDate", a glob...)


# The chunks live after the next commit: every pending document's, and each live document's that
# is neither removed (temp.kb_removed) nor replaced by a pending version.
_NEXT_LIVE = """
    FROM chunks c
    JOIN documents d ON d.id = c.document_id
    JOIN embeddings e ON e.content_hash = c.content_hash
    WHERE (d.state = 'pending') OR (
        d.state = 'live' AND d.path NOT IN (SELECT path FROM temp.kb_removed)
        AND NOT EXISTS (SELECT 1 FROM documents p WHERE p.path = d.path
                        AND p.state = 'pending'))
"""
_VECTOR_PAGE = 4096  # rows read at a time when the vector index is built


class KnowledgeStore:
    """One shard's chunks + FTS5 over an injected DB-API connection (sqlite3 / sqlcipher3)."""

    def __init__(self, conn: Any) -> None:
        self.conn = getattr(conn, "conn", conn)  # accept a sqlite_utils.Database as well
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._df_cache: dict[str, int] = {}
        self.migrate()
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(documents)")}
        self.has_dates = "doc_date" in columns

    @classmethod
    def open(cls, path: Path) -> KnowledgeStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        self.conn.execute("SAVEPOINT kb")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK TO kb")
            self.conn.execute("RELEASE kb")
            raise
        self.conn.execute("RELEASE kb")
        self._df_cache.clear()

    def migrate(self) -> None:
        """Run the migrations this store lacks; `SchemaTooNew` (nothing changed) when it holds
        one this version does not know: a newer Enclave wrote it, and reading it as if it were
        older could drop what that version added (a withdrawn date, say)."""
        self.conn.execute("CREATE TABLE IF NOT EXISTS kb_migrations (name TEXT PRIMARY KEY)")
        done = {r[0] for r in self.conn.execute("SELECT name FROM kb_migrations")}
        unknown = sorted(done - {name for name, _ in MIGRATIONS})
        if unknown:
            from desktop.engine.storage.stores import SchemaTooNew

            row = self.conn.execute("PRAGMA database_list").fetchone()
            raise SchemaTooNew("This knowledge base", Path(row[2] if row else ""), unknown)
        for name, script in MIGRATIONS:
            if name not in done:  # executescript cannot run inside a savepoint: its own BEGIN
                try:
                    self.conn.executescript(
                        f"BEGIN; {script}; INSERT INTO kb_migrations(name) VALUES ('{name}'); "
                        "COMMIT;"
                    )
                except Exception as exc:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    # An installed shard is opened read-only (and its bytes are signed): it is
                    # read as it was built; the columns a later migration adds read as absent.
                    if "readonly" not in str(exc).replace(" ", "").lower():
                        raise
                    return

    # -- meta ------------------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM kb_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO kb_meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def generation(self) -> int:
        return int(self.meta("generation", "0") or 0)

    # -- files and document versions -------------------------------------------------------------

    def file_status(self, path: str) -> FileStatus | None:
        row = self.conn.execute(
            "SELECT path, sha256, size, status, reason, notes, n_chunks FROM files WHERE path = ?",
            (path,),
        ).fetchone()
        return FileStatus(*row) if row else None

    def file_report(self) -> list[FileStatus]:
        rows = self.conn.execute(
            "SELECT path, sha256, size, status, reason, notes, n_chunks FROM files ORDER BY path"
        )
        return [FileStatus(*r) for r in rows]

    def set_file_status(self, status: FileStatus) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*vars(status).values(), time.time()),
            )

    def document_sha(self, path: str, state: str) -> str | None:
        row = self.conn.execute(
            "SELECT sha256 FROM documents WHERE path = ? AND state = ?", (path, state)
        ).fetchone()
        return str(row[0]) if row else None

    def known_paths(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT path FROM files")}

    def cached_vectors(self, hashes: Collection[str]) -> dict[str, npt.NDArray[np.float32]]:
        out: dict[str, npt.NDArray[np.float32]] = {}
        hash_list = list(hashes)
        for i in range(0, len(hash_list), 500):
            part = hash_list[i : i + 500]
            rows = self.conn.execute(
                "SELECT content_hash, vector FROM embeddings WHERE content_hash IN "
                f"({','.join('?' * len(part))})",
                part,
            )
            for h, blob in rows:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def add_pending_document(
        self,
        *,
        path: str,
        partition: str,
        sha256: str,
        title: str,
        keywords: Sequence[str],
        text: str,
        chunks: Sequence[Chunk],
        hashes: Sequence[str],
        vectors: dict[str, npt.NDArray[np.float32]],
        dates: DocumentDates | None = None,
    ) -> None:
        """Store one parsed, embedded document as the pending version of `path` (one transaction)."""
        with self.transaction():
            self.conn.execute("DELETE FROM documents WHERE path = ? AND state = 'pending'", (path,))
            cur = self.conn.execute(
                "INSERT INTO documents(path, partition, sha256, state, title, keywords, text, "
                "n_chunks) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                (path, partition, sha256, title, json.dumps(list(keywords)), text, len(chunks)),
            )
            doc_id = cur.lastrowid
            self.conn.executemany(
                "INSERT OR IGNORE INTO embeddings(content_hash, vector) VALUES (?, ?)",
                [(h, vectors[h].astype(np.float32).tobytes()) for h in set(hashes)],
            )
            heading_title = title + (" " + " ".join(keywords) if keywords else "")
            self.conn.executemany(
                "INSERT INTO chunks(document_id, ordinal, text, title, heading, page, line_start, "
                "line_end, char_start, char_end, n_tokens, content_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        doc_id, c.ordinal, c.text, heading_title, " > ".join(c.heading_path),
                        c.page, c.line_start, c.line_end, c.char_start, c.char_end, c.n_tokens, h,
                    )
                    for c, h in zip(chunks, hashes, strict=True)
                ],
            )  # fmt: skip
            if dates is not None:
                self._write_dates(path, dates, "pending")

    def set_document_dates(self, path: str, dates: DocumentDates) -> None:
        """Record the dates of an unchanged document (the administrator's map may have moved)."""
        with self.transaction():
            self._write_dates(path, dates, None)

    def _write_dates(self, path: str, dates: DocumentDates, state: str | None) -> None:
        self.conn.execute(
            "UPDATE documents SET doc_date = ?, date_source = ?, date_detail = ?, effective = ?, "
            "superseded_by = ?, withdrawn = ? WHERE path = ?"
            + (" AND state = ?" if state else ""),
            (
                dates.date, dates.source, dates.detail, dates.effective, dates.superseded_by,
                dates.withdrawn, path, *((state,) if state else ()),
            ),
        )  # fmt: skip

    def next_live_vectors(
        self, removed: Collection[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Ids and vectors of the chunks that will be live after the next commit, read in pages
        into one preallocated array (memory: the vectors once, whatever the pack's size)."""
        with self.transaction():
            self.conn.execute("DROP TABLE IF EXISTS temp.kb_removed")
            self.conn.execute("CREATE TEMP TABLE kb_removed (path TEXT PRIMARY KEY)")
            self.conn.executemany("INSERT INTO temp.kb_removed VALUES (?)", [(p,) for p in removed])
            try:
                (count,) = self.conn.execute(f"SELECT count(*) {_NEXT_LIVE}").fetchone()
                ids = np.empty(int(count), dtype=np.int64)
                vectors: npt.NDArray[np.float32] = np.zeros((0, 0), np.float32)
                rows = self.conn.execute(f"SELECT c.id, e.vector {_NEXT_LIVE} ORDER BY c.id")
                filled = 0
                while page := rows.fetchmany(_VECTOR_PAGE):
                    if filled == 0:
                        vectors = np.empty((int(count), len(page[0][1]) // 4), dtype=np.float32)
                    for chunk_id, blob in page:
                        ids[filled] = chunk_id
                        vectors[filled] = np.frombuffer(blob, dtype=np.float32)
                        filled += 1
            finally:
                self.conn.execute("DROP TABLE IF EXISTS temp.kb_removed")
        return ids[:filled], vectors[:filled] if filled else np.zeros((0, 0), np.float32)

    def commit_generation(self, generation: int, removed: Collection[str]) -> None:
        """The commit point: pending versions go live, replaced and removed versions go."""
        with self.transaction():
            for path in removed:
                self.conn.execute("DELETE FROM files WHERE path = ?", (path,))
            self.conn.executemany(
                "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE path = ? "
                "AND state = 'live')",
                [(p,) for p in removed],
            )
            self.conn.executemany(
                "DELETE FROM documents WHERE path = ? AND state = 'live'", [(p,) for p in removed]
            )
            self.conn.execute(
                "DELETE FROM chunks WHERE document_id IN (SELECT d.id FROM documents d "
                "WHERE d.state = 'live' AND EXISTS (SELECT 1 FROM documents p "
                "WHERE p.path = d.path AND p.state = 'pending'))"
            )
            self.conn.execute(
                "DELETE FROM documents WHERE state = 'live' AND path IN "
                "(SELECT path FROM documents WHERE state = 'pending')"
            )
            self.conn.execute("UPDATE documents SET state = 'live' WHERE state = 'pending'")
            self.conn.execute(
                "DELETE FROM embeddings WHERE content_hash NOT IN (SELECT content_hash FROM chunks)"
            )
            self.set_meta("generation", str(generation))

    # -- reading ---------------------------------------------------------------------------------

    def live_ids(self) -> npt.NDArray[np.int64]:
        """Sorted ids of live chunks. Documents first, then chunk ids from the `chunks_document`
        index: never reads chunk pages (a table scan decrypted every page of a SQLCipher shard:
        470 ms at 100k chunks against ~50 ms this way)."""
        rows = self.conn.execute(
            "SELECT c.id FROM documents d CROSS JOIN chunks c ON c.document_id = d.id "
            "WHERE d.state = 'live'"
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        ids.sort()
        return ids

    def allowed_chunk_ids(
        self, documents: Collection[str] | None, partitions: Collection[str] | None
    ) -> npt.NDArray[np.int64]:
        # documents first (CROSS JOIN fixes the order), then their chunks through chunks_document:
        # scanning every chunk to test its document took 20 ms at 100k chunks for a 1 % filter.
        sql = (
            "SELECT c.id FROM documents d CROSS JOIN chunks c ON c.document_id = d.id "
            "WHERE d.state = 'live'"
        )
        args: list[str] = []
        if documents is not None:
            sql += " AND d.path IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(documents)))
        if partitions is not None:
            sql += " AND d.partition IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(partitions)))
        rows = self.conn.execute(sql + " ORDER BY c.id", args).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def fetch_chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        out: dict[int, ChunkRecord] = {}
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), 500):  # bound parameters: 2.4x faster than json_each
            part = id_list[start : start + 500]
            rows = self.conn.execute(
                "SELECT c.id, d.path, d.partition, d.title, c.heading, c.text, c.page, "
                "c.line_start, c.line_end, c.char_start, c.char_end, "
                f"{_DATE_COLUMNS if self.has_dates else _NO_DATE_COLUMNS} FROM chunks c "
                "JOIN documents d ON d.id = c.document_id WHERE d.state = 'live' "
                f"AND c.id IN ({','.join('?' * len(part))})",
                part,
            )
            out.update((r[0], ChunkRecord(*r)) for r in rows)
        return out

    def document_text(self, path: str) -> tuple[str, str] | None:
        """(title, extracted text) of a live document, for showing a passage in its context."""
        row = self.conn.execute(
            "SELECT title, text FROM documents WHERE path = ? AND state = 'live'", [path]
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    # -- dates -----------------------------------------------------------------------------------

    def newest_document_date(self, today: date) -> str | None:
        """The newest date of a live document not withdrawn by `today`; None when none is known."""
        if not self.has_dates:
            return None
        row = self.conn.execute(
            "SELECT max(doc_date) FROM documents WHERE state = 'live' AND doc_date IS NOT NULL "
            "AND (withdrawn IS NULL OR withdrawn > ?)",
            (today.isoformat(),),
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def date_sources(self) -> dict[str, int]:
        """Live documents by where their date came from ("" : no date)."""
        if not self.has_dates:
            return {"": self.conn.execute("SELECT count(*) FROM documents WHERE state = 'live'")
                    .fetchone()[0]}  # fmt: skip
        rows = self.conn.execute(
            "SELECT date_source, count(*) FROM documents WHERE state = 'live' GROUP BY 1 ORDER BY 1"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def withdrawn_chunk_ids(self, today: date) -> npt.NDArray[np.int64]:
        """Sorted ids of the live chunks of documents withdrawn by `today`."""
        if not self.has_dates:
            return np.zeros(0, dtype=np.int64)
        rows = self.conn.execute(
            "SELECT c.id FROM documents d CROSS JOIN chunks c ON c.document_id = d.id "
            "WHERE d.state = 'live' AND d.withdrawn IS NOT NULL AND d.withdrawn <= ? ORDER BY c.id",
            (today.isoformat(),),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    # -- keyword search --------------------------------------------------------------------------

    def chunk_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def term_frequency(self, term: str) -> int:
        """Live and removed chunks whose text, heading or title holds `term` (FTS5 matching:
        porter-stemmed, case- and accent-insensitive); how rare a question word is here."""
        cleaned = term.replace('"', "").strip()
        if not cleaned:
            return 0
        return self._document_frequency(cleaned, self.chunk_count())

    def _document_frequency(self, term: str, cap: int) -> int:
        """Rows matching `term`, counted only up to `cap + 1` so a common term stays cheap."""
        if term not in self._df_cache:
            self._df_cache[term] = int(
                self.conn.execute(
                    "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? "
                    "LIMIT ?)",
                    (f'"{term}"', cap + 1),
                ).fetchone()[0]
            )
        return self._df_cache[term]

    def match_expression(self, query: str, *, max_fraction: float = 0.25) -> str | None:
        """An FTS5 OR-query of the query's useful terms; stopwords and very common terms dropped.

        A term in more than `max_fraction` of chunks adds almost nothing to BM25 but makes FTS5 score
        nearly every row (830 ms at 1M chunks), so it is left out; if every term is common, the
        rarest one is kept.
        """
        terms: list[str] = []
        for term in _TERM.findall(query.lower()):
            if term not in STOPWORDS and term not in terms and len(term) > 1:
                terms.append(term)
        if not terms:
            return None
        cap = max(1000, int(self.chunk_count() * max_fraction))
        frequencies = {t: self._document_frequency(t, cap) for t in terms}
        kept = [t for t in terms if 0 < frequencies[t] <= cap]
        if not kept:
            present = [t for t in terms if frequencies[t] > 0]
            if not present:
                return None
            kept = [min(present, key=lambda t: frequencies[t])]
        return " OR ".join(f'"{t}"' for t in kept)

    def keyword_search(
        self, query: str, k: int, allowed_chunk_ids: npt.NDArray[np.int64] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, bm25 score: higher is better) among live (and allowed) chunks, best first."""
        expression = self.match_expression(query)
        if expression is None:
            return []
        sql = (
            "SELECT f.rowid, -bm25(chunks_fts, 1.0, 0.5, 0.5) AS score FROM chunks_fts f "
            "JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
            "WHERE chunks_fts MATCH ? AND d.state = 'live'"
        )
        args: list[Any] = [expression]
        if allowed_chunk_ids is not None:
            sql += " AND c.id IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(allowed_chunk_ids.tolist()))
        sql += " ORDER BY bm25(chunks_fts, 1.0, 0.5, 0.5) LIMIT ?"
        args.append(k)
        return [(int(r[0]), float(r[1])) for r in self.conn.execute(sql, args)]
