"""`enclave admin build` of the next version reuses the previous version's chunks and vectors:
with the real embedder (wrapped to count what it embeds), real SQLCipher shards and FAISS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from desktop.engine.core.errors import StorageError
from desktop.engine.knowledge.errors import IndexUnusable
from desktop.engine.packs import vector_file
from desktop.engine.packs.build import load_keys_file
from desktop.engine.packs.changes import read_summary
from desktop.engine.packs.shards import CHANGES_META, Shard
from desktop.engine.packs.workspace import Workspace
from desktop.engine.storage.encrypted_db import open_database

from .conftest import AUDIENCES, CANARIES, write_source

PACK = "office"
QUERIES = ["annual leave days", "salary bands for engineers", "office opening hours", "code word"]


class CountingEmbedder:
    """The real embedder, counting the texts each build asks it to embed."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def embed(self, texts: Any) -> Any:
        self.texts.extend(texts)
        return self.real.embed(texts)

    def close(self) -> None:  # the CLI closes its embedder; the session's one stays open
        pass


@pytest.fixture
def counting(embedder, monkeypatch) -> CountingEmbedder:
    wrapper = CountingEmbedder(embedder)
    monkeypatch.setattr("desktop.engine.runtime.embedder.Embedder", lambda _entry, *a, **k: wrapper)
    return wrapper


@pytest.fixture
def office(tmp_path) -> tuple[Workspace, Path]:
    workspace = Workspace(tmp_path / "ws")
    workspace.init(AUDIENCES)
    source = write_source(tmp_path / "source")
    (source / "parking.md").write_text("# Parking\nVisitors park in bay four, beside the gate.\n")
    return workspace, source


def _build(workspace: Workspace, source: Path, capsys, *extra: str) -> tuple[str, str]:
    from desktop.cli import main

    args = ["admin", "build", str(source), "--workspace", str(workspace.root)]
    assert main([*args, "--pack-id", PACK, "--title", "Office", *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _keys(workspace: Workspace, version: int) -> dict[str, bytes]:
    return load_keys_file(workspace.packs_dir / f"{PACK}-v{version}.keys.json")[2]


def _manifest(workspace: Workspace, version: int) -> dict[str, Any]:
    raw = (workspace.packs_dir / f"{PACK}-v{version}" / "manifest.json").read_text()
    return dict(json.loads(raw)["signed"])


def _shard(workspace: Workspace, version: int, audience: str, embedder: Any) -> Shard:
    path = workspace.packs_dir / f"{PACK}-v{version}" / "shards" / f"{audience}.db"
    return Shard(path, _keys(workspace, version)[audience], embedder)


def _results(workspace: Workspace, version: int, embedder: Any) -> dict[str, Any]:
    """What every query finds in every audience: (path, text, score) per hit."""
    found: dict[str, Any] = {}
    for audience in ("everyone", "staff", "hr"):
        shard = _shard(workspace, version, audience, embedder)
        try:
            for query in QUERIES:
                hits = shard.retriever.search(query, k=5)
                found[f"{audience}: {query}"] = [
                    (h.chunk.document_path, h.chunk.text, round(h.score, 5)) for h in hits
                ]
        finally:
            shard.close()
    return found


def test_a_second_build_with_one_changed_file_embeds_only_that_file(
    office, counting, embedder, capsys
):
    workspace, source = office
    _, err = _build(workspace, source, capsys)
    assert "full build: no previous version" in err
    full_texts = len(counting.texts)
    assert full_texts > 5
    (source / "parking.md").write_text(
        "# Parking\nVisitors now park in bay nine, MARKER-PARKING-2, beside the new gate.\n"
    )
    counting.texts.clear()
    out, err = _build(workspace, source, capsys)
    assert f"{PACK} v2: incremental from v1" in err
    assert counting.texts and all("MARKER-PARKING-2" in text for text in counting.texts)
    shard = _shard(workspace, 2, "everyone", embedder)
    try:
        chunks = shard.store.fetch_chunks(shard.store.live_ids().tolist()).values()
        assert len(counting.texts) == sum(c.document_path == "parking.md" for c in chunks)
        top = shard.retriever.search("where do visitors park", k=1)[0].chunk
        assert top.document_path == "parking.md" and "MARKER-PARKING-2" in top.text
    finally:
        shard.close()
    assert "everyone       0 added, 1 changed, 0 removed, 1 unchanged" in out
    assert "hr             0 added, 0 changed, 0 removed, 1 unchanged" in out
    summary = read_summary(_manifest(workspace, 2))
    assert summary is not None and summary.incremental and summary.from_version == 1
    assert summary.audiences["everyone"] == {
        "added": 0, "changed": 1, "removed": 0, "unchanged": 1
    }  # fmt: skip


def test_added_removed_and_moved_documents_match_a_full_build(office, counting, embedder, capsys):
    workspace, source = office
    _build(workspace, source, capsys)
    (source / "parking.md").unlink()
    (source / "staff" / "rota.md").write_text("# Rota\nThe weekend rota is posted on Fridays.\n")
    shutil.move(source / "hr" / "salaries.md", source / "staff" / "salaries.md")  # hr -> staff
    counting.texts.clear()
    _, err = _build(workspace, source, capsys)
    assert "incremental from v1" in err
    embedded = "\n".join(counting.texts)
    assert "weekend rota" in embedded and CANARIES["hr"] in embedded  # new, and moved in
    assert "annual leave" not in embedded.lower()  # the unchanged staff documents were reused
    summary = read_summary(_manifest(workspace, 2))
    assert summary is not None
    assert summary.audiences["everyone"]["removed"] == 1
    assert summary.audiences["staff"] == {"added": 2, "changed": 0, "removed": 0, "unchanged": 2}
    assert summary.audiences["hr"] == {"added": 0, "changed": 0, "removed": 1, "unchanged": 0}
    # The names are in the audience's own encrypted shard, never in the signed manifest.
    manifest_text = (workspace.packs_dir / f"{PACK}-v2" / "manifest.json").read_text()
    assert "salaries" not in manifest_text and "rota" not in manifest_text
    db = open_database(
        workspace.packs_dir / f"{PACK}-v2" / "shards" / "hr.db", _keys(workspace, 2)["hr"],
        read_only=True,
    )  # fmt: skip
    row = db.execute("SELECT value FROM kb_meta WHERE key = ?", [CHANGES_META]).fetchone()
    db.conn.close()
    assert json.loads(row[0]) == {"added": [], "changed": [], "removed": ["hr/salaries.md"]}
    from desktop.cli import main

    folder = workspace.packs_dir / f"{PACK}-v2"
    keys = workspace.packs_dir / f"{PACK}-v2.keys.json"
    assert main(["admin", "inspect", str(folder), "--keys", str(keys)]) == 0
    shown = capsys.readouterr().out
    assert "changes since v1: 2 added, 2 removed (everyone, hr, staff)" in shown
    assert "[hr] removed  hr/salaries.md" in shown and "[staff] added    staff/rota.md" in shown

    _, err = _build(workspace, source, capsys, "--full")
    assert "full build: --full was asked for" in err
    assert _results(workspace, 2, embedder) == _results(workspace, 3, embedder)
    assert read_summary(_manifest(workspace, 3)) is not None
    assert not read_summary(_manifest(workspace, 3)).incremental  # type: ignore[union-attr]


def test_old_keys_do_not_open_the_incremental_version(office, counting, embedder, capsys):
    workspace, source = office
    _build(workspace, source, capsys)
    (source / "welcome.md").write_text("# Welcome\nThe office now opens at eight.\n")
    _build(workspace, source, capsys)
    old, new = _keys(workspace, 1), _keys(workspace, 2)
    assert set(old) == set(new) and all(old[a] != new[a] for a in old)
    for audience in old:
        path = workspace.packs_dir / f"{PACK}-v2" / "shards" / f"{audience}.db"
        with pytest.raises(StorageError):
            Shard(path, old[audience], embedder)
        with pytest.raises(IndexUnusable):
            vector_file.read(vector_file.path_for(path), old[audience])


def test_falls_back_to_a_full_build_and_says_why(office, counting, capsys):
    workspace, source = office
    _build(workspace, source, capsys)
    full_texts = len(counting.texts)
    counting.texts.clear()
    _, err = _build(workspace, source, capsys, "--rule", "documents.bidi=block")
    assert "full build: the documents.* rules differ from v1's" in err  # every chunk re-screened
    assert len(counting.texts) == full_texts
    shutil.rmtree(workspace.packs_dir / f"{PACK}-v2")
    (workspace.packs_dir / f"{PACK}-v2.keys.json").unlink()
    (workspace.packs_dir / f"{PACK}-v1.keys.json").rename(workspace.root / "elsewhere.json")
    counting.texts.clear()
    _, err = _build(workspace, source, capsys, "--version", "2")
    assert f"full build: the keys file of v1 ({PACK}-v1.keys.json) is missing" in err
    assert len(counting.texts) == full_texts
    assert read_summary(_manifest(workspace, 2)) is None  # nothing it could compare with
    shutil.rmtree(workspace.packs_dir / f"{PACK}-v2" / "shards")
    _, err = _build(workspace, source, capsys)
    assert "full build: v2 cannot be read" in err


def test_a_changed_file_that_no_longer_reads_leaves_the_pack_as_a_full_build_would(
    office, counting, embedder, capsys
):
    """The knowledge builder keeps a document's old version when its update cannot be read; a
    pack version holds what a full build of its source would: the old version goes, the reason
    stays in the report."""
    workspace, source = office
    _build(workspace, source, capsys)
    (source / "parking.md").write_text("")  # skipped: an empty file
    out, _ = _build(workspace, source, capsys)
    assert "everyone       0 added, 0 changed, 1 removed, 1 unchanged" in out
    shard = _shard(workspace, 2, "everyone", embedder)
    try:
        hits = shard.retriever.search("where do visitors park", k=5)
        assert hits and all(h.chunk.document_path != "parking.md" for h in hits)
        report = {s.path: s for s in shard.store.file_report()}
        assert report["parking.md"].status == "skipped"
        assert report["parking.md"].reason == "empty file (0 bytes)"
    finally:
        shard.close()


def test_unchanged_documents_keep_their_guard_findings_in_the_manifest(office, counting, capsys):
    """A flagged chunk of a file that did not change is not screened again, yet the new
    manifest's ingest summary counts it, as a full build would."""
    workspace, source = office
    (source / "notice.md").write_text("# Notice\nPay the invoice to account \u202e4321\u202c.\n")
    _build(workspace, source, capsys)
    (source / "welcome.md").write_text("# Welcome\nThe office now opens at eight.\n")
    _, err = _build(workspace, source, capsys)
    assert "incremental from v1" in err
    before, after = _manifest(workspace, 1)["ingest"], _manifest(workspace, 2)["ingest"]
    assert before["guard"] == {"documents.bidi:warn": 1} and before["flagged"] == 1
    assert after == before
