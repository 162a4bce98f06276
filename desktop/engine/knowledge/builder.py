"""Build or update a knowledge base from a source folder, as a generator of `Progress` items.

Every file ends with a status: indexed, skipped or failed, with a reason; one bad file never stops
the build. Files are parsed in a worker process under a time and memory budget (`parse_worker`), and
chunked under the same time budget: a hostile file is "skipped: too complex", never a stalled build. Each parsed and embedded document is its own SQLite transaction (pending), so a build
killed at any moment resumes where it stopped; the vector index for the next generation is written
(temp, fsync, rename) before the single SQLite transaction that makes it current. Until then, the
previous generation keeps serving. Unchanged files (same SHA-256) are not parsed again, and chunks
whose text was embedded before are not embedded again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from desktop.engine.guard.documents import DocumentScreen, MarkupScan, scan_markup
from desktop.engine.knowledge import parsers, vector_index
from desktop.engine.knowledge.chunker import Chunk, ChunkParams, chunk_document, join_blocks
from desktop.engine.knowledge.doc_dates import DateMap, DocumentDates, document_dates
from desktop.engine.knowledge.errors import EmbeddingModelMismatch, FileRejected
from desktop.engine.knowledge.parse_worker import TOO_COMPLEX, ParseBudget, ParseWorker
from desktop.engine.knowledge.store import FileStatus, KnowledgeStore

DB_NAME = "knowledge.sqlite"
VECTORS_DIR = "vectors"


class EmbedderLike(Protocol):
    dimension: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class ChunkFlag:
    """A `documents.*` rule that fired on one chunk at build, and what the policy made of it
    ("block": quarantined, not indexed; "warn": indexed and reported)."""

    ordinal: int
    rule: str
    action: str
    reason: str

    def note(self) -> str:
        verb = "quarantined" if self.action == "block" else "flagged"
        return f"{verb} chunk {self.ordinal} ({self.rule}: {self.reason})"


@dataclass(frozen=True)
class Progress:
    """One step of a build: a file's outcome, then the commit."""

    kind: str  # "file" | "commit" | "note" (a pack build: something the administrator is told)
    path: str = ""
    status: str = ""  # indexed | unchanged | skipped | failed
    reason: str = ""
    done: int = 0
    total: int = 0
    chunks: int = 0
    flags: tuple[ChunkFlag, ...] = ()  # the `documents.*` rules that fired on this file's chunks
    dates: DocumentDates | None = None  # indexed or unchanged: the document's date and its source


def _no_partition(_path: str) -> str:
    return ""


@dataclass(frozen=True)
class BuildOptions:
    chunking: ChunkParams = field(default_factory=ChunkParams)
    max_file_bytes: int = parsers.MAX_FILE_BYTES
    embed_batch_chunks: int = 64
    ivf_threshold: int = vector_index.IVF_THRESHOLD
    partition_of: Callable[[str], str] = _no_partition
    parse_budget: ParseBudget = field(default_factory=ParseBudget)
    # `documents.*` rule id -> action ("off" / "warn" / "block"), from the administrator's policy
    # (`enclave admin build` passes it); empty: chunks are not screened.
    document_rules: Mapping[str, str] = field(default_factory=dict)
    # The administrator's document dates (`admin build --dates`) and where the original files'
    # modification times are; None: each document's own metadata, else its file's time.
    dates: DateMap | None = None


def model_identity(embedder: Any) -> dict[str, Any]:
    entry = getattr(embedder, "entry", None)
    return {
        "id": getattr(entry, "id", type(embedder).__name__),
        "sha256": getattr(entry, "sha256", ""),
        "dimension": int(embedder.dimension),
    }


@dataclass
class _Parsed:
    rel: str
    sha256: str
    size: int
    title: str
    keywords: list[str]
    text: str
    notes: str
    chunks: list[Chunk]
    flags: tuple[ChunkFlag, ...] = ()
    dates: DocumentDates = field(default_factory=DocumentDates)


def build(
    source: Path,
    folder: Path,
    embedder: EmbedderLike,
    options: BuildOptions | None = None,
    *,
    store: KnowledgeStore | None = None,
    files: Sequence[tuple[str, Path]] | None = None,
) -> Iterator[Progress]:
    """Index `source` into `folder` (knowledge.sqlite + vectors/), yielding progress as it goes.
    `files`: the (relative name, path) pairs to index instead of every file under `source` (a
    pack build's audience, read where it lies rather than copied)."""
    options = options or BuildOptions()
    own_store = store is None
    store = store or KnowledgeStore.open(folder / DB_NAME)
    if files is None:
        files = [(p.relative_to(source).as_posix(), p) for p in parsers.iter_source_files(source)]
    try:
        with ParseWorker(options.parse_budget) as worker:
            yield from _build(files, folder, embedder, options, store, worker)
    finally:
        if own_store:
            store.close()


def _build(
    files: Sequence[tuple[str, Path]],
    folder: Path,
    embedder: EmbedderLike,
    options: BuildOptions,
    store: KnowledgeStore,
    worker: ParseWorker,
) -> Iterator[Progress]:
    identity = model_identity(embedder)
    recorded = store.meta("embedding_model")
    if recorded is not None and recorded != identity["id"]:
        raise EmbeddingModelMismatch(identity["id"], recorded)
    with store.transaction():
        store.set_meta("embedding_model", str(identity["id"]))
        store.set_meta("chunking", str(asdict(options.chunking)))

    total = len(files)
    seen: set[str] = set()
    queue: list[_Parsed] = []
    done = 0

    def flush() -> Iterator[Progress]:
        nonlocal done
        texts_by_hash: dict[str, str] = {}
        for item in queue:
            for chunk in item.chunks:
                texts_by_hash[_hash(chunk.embed_text)] = chunk.embed_text
        vectors = store.cached_vectors(texts_by_hash)
        missing = [h for h in texts_by_hash if h not in vectors]
        for i in range(0, len(missing), 256):
            part = missing[i : i + 256]
            embedded = embedder.embed([texts_by_hash[h] for h in part])
            vectors.update(zip(part, embedded, strict=True))
        for item in queue:
            hashes = [_hash(c.embed_text) for c in item.chunks]
            store.add_pending_document(
                path=item.rel,
                partition=options.partition_of(item.rel),
                sha256=item.sha256,
                title=item.title,
                keywords=item.keywords,
                text=item.text,
                chunks=item.chunks,
                hashes=hashes,
                vectors=vectors,
                dates=item.dates,
            )
            notes = "; ".join(
                x for x in (item.notes, *item.dates.notes, *(f.note() for f in item.flags)) if x
            )
            store.set_file_status(
                FileStatus(item.rel, item.sha256, item.size, "indexed", "", notes, len(hashes))
            )
            done += 1
            yield Progress(
                "file", item.rel, "indexed", notes, done, total, len(hashes), item.flags, item.dates
            )
        queue.clear()

    for rel, path in files:
        seen.add(rel)
        outcome = _prepare(path, rel, store, embedder, options, worker)
        if isinstance(outcome, _Parsed):
            queue.append(outcome)
            if sum(len(q.chunks) for q in queue) >= options.embed_batch_chunks:
                yield from flush()
            continue
        if isinstance(outcome, _Quarantined):
            done += 1
            reason = outcome.status.reason
            yield Progress("file", rel, "skipped", reason, done, total, 0, outcome.flags)
            continue
        done += 1
        dates = None
        if outcome.status == "unchanged":  # its dates may have moved (the administrator's map)
            dates = document_dates(path, rel, options.dates)
            store.set_document_dates(rel, dates)
        yield Progress(
            "file", rel, outcome.status, outcome.reason, done, total, outcome.n_chunks, (), dates
        )
    yield from flush()

    removed = sorted(store.known_paths() - seen)
    generation = store.generation() + 1
    ids, vectors = store.next_live_vectors(removed)
    if len(ids) == 0:
        vectors = np.zeros((0, identity["dimension"]), np.float32)
    index = vector_index.build_index(ids, vectors, ivf_threshold=options.ivf_threshold)
    manifest = {
        "embedding_model": identity,
        "chunking": asdict(options.chunking),
        "counts": {
            "files": total,
            "documents": len({s.path for s in store.file_report() if s.status == "indexed"}),
            "chunks": len(ids),
        },
        "index_kind": "flat+ivf" if len(ids) >= options.ivf_threshold else "flat",
    }
    vectors_dir = folder / VECTORS_DIR
    vector_index.save_generation(vectors_dir, generation, index, manifest)
    store.commit_generation(generation, removed)  # the commit point
    vector_index.publish_generation(vectors_dir, generation)
    yield Progress("commit", "", "committed", f"generation {generation}", done, total, len(ids))


@dataclass(frozen=True)
class _Quarantined:
    """A file whose every chunk a blocking `documents.*` rule fired on: skipped, and reported."""

    status: FileStatus
    flags: tuple[ChunkFlag, ...]


def _prepare(
    path: Path,
    rel: str,
    store: KnowledgeStore,
    embedder: EmbedderLike,
    options: BuildOptions,
    worker: ParseWorker,
) -> _Parsed | FileStatus | _Quarantined:
    """Parse and chunk one file, or say why not (or that it is unchanged)."""
    try:
        size = path.stat().st_size
        if size > options.max_file_bytes:  # don't even hash a huge file
            raise FileRejected(
                "skipped", f"too large ({size:,} bytes > limit {options.max_file_bytes:,})"
            )
        sha = _file_hash(path)
    except FileRejected as rejected:
        status = FileStatus(rel, None, None, rejected.status, rejected.reason, "", 0)
        store.set_file_status(status)
        return status
    except OSError as exc:
        status = FileStatus(rel, None, None, "failed", f"cannot read: {exc.strerror}", "", 0)
        store.set_file_status(status)
        return status
    previous = store.file_status(rel)
    if sha in (store.document_sha(rel, "pending"), store.document_sha(rel, "live")):
        n = previous.n_chunks if previous else 0
        return FileStatus(rel, sha, size, "unchanged", "", "", n)
    if (
        previous is not None
        and previous.sha256 == sha
        and previous.status in ("skipped", "failed")
        and not previous.reason.startswith(TOO_COMPLEX)  # the budget may have been raised
    ):
        return previous
    try:
        doc = worker.parse(path, options.max_file_bytes)
        count = _with_deadline(embedder.count_tokens, options.parse_budget.seconds)
        chunks = chunk_document(doc.title, doc.blocks, count, options.chunking)
    except FileRejected as rejected:
        status = FileStatus(rel, sha, size, rejected.status, rejected.reason, "", 0)
        store.set_file_status(status)
        return status
    if not chunks:
        status = FileStatus(rel, sha, size, "skipped", "no text found", "", 0)
        store.set_file_status(status)
        return status
    text, _ = join_blocks(doc.blocks)
    flags: tuple[ChunkFlag, ...] = ()
    if options.document_rules:
        chunks, flags = screen_chunks(path, chunks, options.document_rules, embedder)
        if not chunks:
            notes = "; ".join(f.note() for f in flags)
            status = FileStatus(rel, sha, size, "skipped", "every chunk quarantined", notes, 0)
            store.set_file_status(status)
            return _Quarantined(status, flags)
    dates = document_dates(path, rel, options.dates, today=datetime.now(UTC).date())
    return _Parsed(
        rel, sha, size, doc.title, doc.keywords, text, "; ".join(doc.notes), chunks, flags, dates
    )


_MARKUP_SUFFIXES = (".html", ".htm", ".md", ".markdown")


def screen_chunks(
    path: Path, chunks: list[Chunk], rules: Mapping[str, str], embedder: Any
) -> tuple[list[Chunk], tuple[ChunkFlag, ...]]:
    """The chunks to index and every `documents.*` finding; a chunk a blocking rule fired on is
    quarantined (left out of the index, listed in the ingest report)."""
    screen = DocumentScreen(rules, embedder if hasattr(embedder, "embed") else None)
    scan: MarkupScan | None = None
    if path.suffix.lower() in _MARKUP_SUFFIXES:
        scan = scan_markup(path.read_bytes().decode("utf-8", errors="replace"))
    kept: list[Chunk] = []
    flags: list[ChunkFlag] = []
    for chunk in chunks:
        found = screen.chunk_findings(chunk.text, scan)
        actions = [rules.get(f.rule, "off") for f in found]
        flags += [
            ChunkFlag(chunk.ordinal, f.rule, a, f.reason)
            for f, a in zip(found, actions, strict=True)
        ]
        if "block" not in actions:
            kept.append(chunk)
    return kept, tuple(flags)


def _with_deadline(count: Callable[[str], int], seconds: float) -> Callable[[str], int]:
    """The token counter, refusing to go on once chunking this file has used its time budget (the
    chunker calls it throughout, so no document can keep it busy for longer)."""
    deadline = time.monotonic() + seconds

    def counted(text: str) -> int:
        if time.monotonic() > deadline:
            raise FileRejected("skipped", f"{TOO_COMPLEX}: chunking took over {seconds:g} s")
        return count(text)

    return counted


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
