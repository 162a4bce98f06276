"""The one retrieval choke point: the local user's grants decide which shards exist for this process.

`KnowledgeAccess` is the only way chat, `ask`, evaluation, export and "open citation" reach
documents. It opens exactly the shards whose audience keys the user's valid grants hold, for the
active, verified version of each pack, and searches only those. Citations coming back from history or
the UI are re-authorised here before a passage is shown: a document id alone grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.engine.errors import EngineError
from desktop.engine.knowledge.builder import EmbedderLike
from desktop.engine.packs import install
from desktop.engine.packs.grants import Grant
from desktop.engine.packs.install import InstalledPack
from desktop.engine.packs.shards import Shard


class AccessDenied(EngineError):
    exit_code = 9

    def __init__(self) -> None:
        super().__init__(
            "This source is not available to you (your access changed, or the pack was updated).",
            "Ask the question again to get sources you can open.",
        )


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

    def search(self, question: str, k: int = 5) -> list[dict[str, Any]]:
        """Top-k passages across the shards this user may read, as citation records."""
        hits = []
        for open_shard in self._shards:
            for hit in open_shard.shard.retriever.search(question, k):
                hits.append((hit.score, open_shard, hit.chunk))
        hits.sort(key=lambda item: -item[0])
        return [_citation(n, s, c, score) for n, (score, s, c) in enumerate(hits[:k], 1)]

    def open_citation(self, citation: dict[str, Any]) -> dict[str, Any]:
        """Re-authorise a stored citation and return its passage as it is now, or `AccessDenied`."""
        for open_shard in self._shards:
            manifest = open_shard.pack.manifest
            if (
                manifest.pack_id == citation.get("pack")
                and manifest.version == citation.get("pack_version")
                and open_shard.audience == citation.get("audience")
            ):
                records = open_shard.shard.store.fetch_chunks([int(citation.get("chunk_id", -1))])
                for chunk in records.values():
                    return _citation(int(citation.get("n", 1)), open_shard, chunk, 0.0)
        raise AccessDenied()

    def open_document(self, citation: dict[str, Any]) -> dict[str, Any]:
        """The whole document a citation points into, with the passage's offsets; re-authorised
        like `open_citation` (packs carry extracted text, not the original files)."""
        passage = self.open_citation(citation)
        for open_shard in self._shards:
            if (
                open_shard.pack.manifest.pack_id == passage["pack"]
                and open_shard.audience == passage["audience"]
            ):
                found = open_shard.shard.store.document_text(passage["path"])
                if found is None:
                    break
                title, text = found
                return {**passage, "title": title, "document": text}
        raise AccessDenied()

    def sources_for(self, k: int) -> Any:
        """A `SourceProvider` for `ChatService`: passage texts for the prompt, citations to store."""

        def provide(question: str) -> tuple[list[str], list[dict[str, Any]]]:
            citations = self.search(question, k)
            texts = [f"{c['title']} — {c['heading']}\n{c['text']}".strip() for c in citations]
            return texts, citations

        return provide

    def close(self) -> None:
        for open_shard in self._shards:
            open_shard.shard.close()
        self._shards = []


def _citation(n: int, open_shard: OpenShard, chunk: Any, score: float) -> dict[str, Any]:
    manifest = open_shard.pack.manifest
    if chunk.page is not None:
        location = f"page {chunk.page}"
    elif chunk.line_start is not None:
        location = f"lines {chunk.line_start}-{chunk.line_end}"
    else:
        location = ""
    return {
        "n": n,
        "pack": manifest.pack_id,
        "pack_title": manifest.title,
        "pack_version": manifest.version,
        "audience": open_shard.audience,
        "as_of": manifest.knowledge_as_of,
        "chunk_id": chunk.id,
        "path": chunk.document_path,
        "title": chunk.title,
        "heading": chunk.heading,
        "location": location,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "text": chunk.text,
        "score": round(score, 6),
    }
