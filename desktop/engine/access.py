"""The one retrieval choke point: the local user's grants decide which shards exist for this process.

`KnowledgeAccess` is the only way chat, `ask`, evaluation, export and "open citation" reach
documents. It opens exactly the shards whose audience keys the user's valid grants hold, for the
active, verified version of each pack, and searches only those. Citations coming back from history or
the UI are re-authorised here before a passage is shown: a document id alone grants nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.knowledge.store import ChunkRecord
from desktop.engine.packs import install
from desktop.engine.packs.grants import Grant
from desktop.engine.packs.install import InstalledPack

if TYPE_CHECKING:  # imported when packs are opened (the pack builder's modules come with them)
    import numpy as np
    import numpy.typing as npt

    from desktop.engine.knowledge.builder import EmbedderLike
    from desktop.engine.packs.shards import Shard


class AccessDenied(EngineError):
    exit_code = ExitCode.ACCESS_DENIED

    def __init__(self) -> None:
        super().__init__(
            "This source is not available to you (your access changed, or the pack was updated).",
            "Ask the question again to get sources you can open.",
        )


@dataclass(frozen=True)
class CitationRef:
    """Where a citation points, and nothing else: what history keeps, so that showing it later
    goes through this choke point again (a reference alone grants nothing)."""

    n: int
    pack: str
    pack_version: int
    audience: str
    chunk_id: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CitationRef:
        """Read a stored reference; missing or mistyped fields point nowhere (and are refused)."""

        def number(key: str, default: int) -> int:
            try:
                return int(raw.get(key, default))
            except (TypeError, ValueError):
                return default

        return cls(
            n=number("n", 0),
            pack=str(raw.get("pack", "")),
            pack_version=number("pack_version", -1),
            audience=str(raw.get("audience", "")),
            chunk_id=number("chunk_id", -1),
        )


@dataclass(frozen=True)
class Passage:
    """A passage this user may read: retrieved for a question, or re-opened from a reference.

    `available` is False for a reference the user can no longer open (access changed, pack
    updated): then `text` says why and nothing of the document is carried.
    """

    ref: CitationRef
    title: str
    text: str
    heading: str = ""
    location: str = ""
    path: str = ""
    pack_title: str = ""
    as_of: str = ""
    char_start: int = 0
    char_end: int = 0
    score: float = 0.0
    available: bool = True
    doc_date: str = ""  # the document's own date (ISO), "" when none is known
    date_source: str = ""  # where it came from: `knowledge.doc_dates` ADMIN ... FILE
    date_detail: str = ""  # the field it was read from ("updated", "ModDate", ...)
    superseded_by: str = ""  # the document that replaces this one (ranked above it)
    effective: str = ""  # in effect from (ISO)

    @property
    def n(self) -> int:
        return self.ref.n

    @property
    def pack(self) -> str:
        return self.ref.pack

    @property
    def pack_version(self) -> int:
        return self.ref.pack_version

    @property
    def audience(self) -> str:
        return self.ref.audience

    @property
    def chunk_id(self) -> int:
        return self.ref.chunk_id

    def numbered(self, n: int) -> Passage:
        return replace(self, ref=replace(self.ref, n=n))

    def as_dict(self) -> dict[str, Any]:
        """The flat JSON form (`enclave ask --json`, events)."""
        fields = asdict(self)
        del fields["ref"]
        return {**self.ref.as_dict(), **fields}

    @classmethod
    def unavailable(cls, ref: CitationRef, reason: str) -> Passage:
        return cls(ref=ref, title="Source not available", text=reason, available=False)


@dataclass(frozen=True)
class OpenedDocument:
    """The whole (extracted) document a passage comes from, re-authorised like the passage."""

    passage: Passage
    title: str
    text: str


@dataclass(frozen=True)
class OpenShard:
    pack: InstalledPack
    audience: str
    shard: Shard


@dataclass(frozen=True)
class PackAccess:
    pack_id: str
    title: str
    version: int
    knowledge_as_of: str
    expires: str
    expiry: str
    audiences: tuple[str, ...]
    readable: tuple[str, ...]


class KnowledgeAccess:
    def __init__(self, embedder: EmbedderLike) -> None:
        self._embedder = embedder
        self._shards: list[OpenShard] = []
        self.packs: list[PackAccess] = []
        self.problems: list[EngineError] = []
        grants = install.installed_grants()
        broken: list[install.BrokenPack] = []
        for pack in install.active_packs(broken):
            self._open_pack(pack, grants)
        self.problems += [b.error for b in broken]

    def _open_pack(self, pack: InstalledPack, grants: list[Grant]) -> None:
        manifest = pack.manifest
        keys: dict[str, bytes] = {}
        for grant in grants:
            if grant.pack_id == manifest.pack_id and grant.pack_version == manifest.version:
                keys.update(grant.audience_keys)
        readable = []
        for audience, info in sorted(manifest.audiences.items()):
            key = keys.get(audience)
            if key is None:
                continue
            try:
                from desktop.engine.packs.shards import Shard

                shard = Shard(pack.folder / info["shard"], key, self._embedder)
            except EngineError as exc:
                self.problems.append(exc)
                continue
            self._shards.append(OpenShard(pack, audience, shard))
            readable.append(audience)
        self.packs.append(
            PackAccess(
                pack_id=manifest.pack_id,
                title=manifest.title,
                version=manifest.version,
                knowledge_as_of=manifest.knowledge_as_of,
                expires=manifest.raw["expires"],
                expiry=pack.expiry,
                audiences=tuple(sorted(manifest.audiences)),
                readable=tuple(readable),
            )
        )

    @property
    def readable_audiences(self) -> dict[str, tuple[str, ...]]:
        return {p.pack_id: p.readable for p in self.packs}

    def knowledge_as_of(self) -> str | None:
        dates = [p.knowledge_as_of for p in self.packs if p.readable]
        return min(dates) if dates else None

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """Top-k passages across the shards this user may read, numbered from 1."""
        hits = []
        for open_shard in self._shards:
            for hit in open_shard.shard.retriever.search(query, k):
                hits.append((hit.score, open_shard, hit.chunk))
        hits.sort(key=lambda item: -item[0])
        return [_passage(n, s, c, score) for n, (score, s, c) in enumerate(hits[:k], 1)]

    def passage_vectors(self, passages: Sequence[Passage]) -> npt.NDArray[np.float32] | None:
        """The vectors the index already holds for these passages' chunks (what retrieval
        compared the query with), one row each; None if any is not in an open shard."""
        import numpy as np

        rows = []
        for passage in passages:
            try:
                vector = self._shard_of(passage.ref).shard.retriever.index.vector_of(
                    passage.ref.chunk_id
                )
            except AccessDenied:
                return None
            if vector is None:
                return None
            rows.append(vector)
        return np.stack(rows) if rows else None

    def term_weights(self, terms: Collection[str]) -> dict[str, float]:
        """How rare each term is in what this user may read: its inverse document frequency
        over the chunks of the shards they may read (only those: the counts say nothing about
        restricted documents). A term found nowhere weighs most."""
        total = sum(s.shard.store.chunk_count() for s in self._shards)
        weights: dict[str, float] = {}
        for term in terms:
            found = sum(s.shard.store.term_frequency(term) for s in self._shards)
            weights[term] = math.log((total + 1) / (found + 0.5))
        return weights

    def terms_found(self, terms: Collection[str]) -> set[str]:
        """The terms that occur in some chunk this user may read (FTS5 matching: stemmed, case-
        and accent-insensitive): which words of a question the documents themselves use."""
        return {
            term for term in terms if any(s.shard.store.term_frequency(term) for s in self._shards)
        }

    def open_citation(self, ref: CitationRef) -> Passage:
        """Re-authorise a stored reference and return its passage as it is now, or `AccessDenied`."""
        open_shard = self._shard_of(ref)
        records = open_shard.shard.store.fetch_chunks([ref.chunk_id])
        for chunk in records.values():
            return _passage(ref.n, open_shard, chunk, 0.0)
        raise AccessDenied()

    def resolve(self, refs: list[CitationRef]) -> list[Passage]:
        """Each reference as a passage, or marked unavailable with the reason (never dropped)."""
        resolved = []
        for ref in refs:
            try:
                resolved.append(self.open_citation(ref))
            except AccessDenied as exc:
                resolved.append(Passage.unavailable(ref, exc.message))
        return resolved

    def open_document(self, ref: CitationRef) -> OpenedDocument:
        """The whole document a reference points into, with the passage's offsets; re-authorised
        like `open_citation` (packs carry extracted text, not the original files)."""
        passage = self.open_citation(ref)
        found = self._shard_of(ref).shard.store.document_text(passage.path)
        if found is None:
            raise AccessDenied()
        title, text = found
        return OpenedDocument(passage, title, text)

    def _shard_of(self, ref: CitationRef) -> OpenShard:
        for open_shard in self._shards:
            manifest = open_shard.pack.manifest
            if (
                manifest.pack_id == ref.pack
                and manifest.version == ref.pack_version
                and open_shard.audience == ref.audience
            ):
                return open_shard
        raise AccessDenied()

    def close(self) -> None:
        for open_shard in self._shards:
            open_shard.shard.close()
        self._shards = []


def _passage(n: int, open_shard: OpenShard, chunk: ChunkRecord, score: float) -> Passage:
    manifest = open_shard.pack.manifest
    if chunk.page is not None:
        location = f"page {chunk.page}"
    elif chunk.line_start is not None:
        location = f"lines {chunk.line_start}-{chunk.line_end}"
    else:
        location = ""
    return Passage(
        ref=CitationRef(
            n=n,
            pack=manifest.pack_id,
            pack_version=manifest.version,
            audience=open_shard.audience,
            chunk_id=chunk.id,
        ),
        title=chunk.title,
        text=chunk.text,
        heading=chunk.heading,
        location=location,
        path=chunk.document_path,
        pack_title=manifest.title,
        as_of=manifest.knowledge_as_of,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        score=round(score, 6),
        doc_date=chunk.doc_date or "",
        date_source=chunk.date_source if chunk.doc_date else "",
        date_detail=chunk.date_detail if chunk.doc_date else "",
        superseded_by=chunk.superseded_by or "",
        effective=chunk.effective or "",
    )
