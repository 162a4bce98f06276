"""End to end with real parts: handbook pages -> llama.cpp embeddings -> SQLite FTS5 + FAISS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from desktop.engine.knowledge import BuildOptions, IndexUnusable, Retriever, build
from desktop.engine.knowledge.store import KnowledgeStore
from desktop.engine.runtime.embedder import Embedder


def _build(source: Path, kb: Path, embedder: Embedder, **options: object) -> list:  # type: ignore[type-arg]
    return list(build(source, kb, embedder, BuildOptions(**options)))  # type: ignore[arg-type]


def test_handbook_pages_build_and_hybrid_search(
    handbook_pages: Path, tmp_path: Path, embedder: Embedder
) -> None:
    steps = _build(handbook_pages, tmp_path / "kb", embedder)
    files = [s for s in steps if s.kind == "file"]
    assert files and all(s.status == "indexed" for s in files)
    assert steps[-1].kind == "commit"
    manifest = json.loads((tmp_path / "kb/vectors/manifest.json").read_text())
    assert manifest["embedding_model"]["id"] == embedder.entry.id
    assert manifest["counts"]["chunks"] == steps[-1].chunks
    retriever = Retriever.open(tmp_path / "kb", embedder)
    try:
        for mode in ("hybrid", "bm25", "dense"):
            hits = retriever.search("What laptop and equipment do I get?", 3, mode=mode)  # type: ignore[arg-type]
            assert hits[0].chunk.document_path == "getting-started/equipment.md", mode
        hit = retriever.search("onboarding classes schedule", 1)[0]
        assert hit.chunk.title == "TTS onboarding classes"
        source = (handbook_pages / hit.chunk.document_path).read_text().splitlines()
        assert hit.chunk.line_start is not None
        first_words = hit.chunk.text.split()[:3]
        assert " ".join(first_words) in " ".join(source[hit.chunk.line_start - 1 :][:3])
    finally:
        retriever.close()


def test_filtered_search_is_exact_and_never_starves(
    handbook_pages: Path, tmp_path: Path, embedder: Embedder
) -> None:
    _build(handbook_pages, tmp_path / "kb", embedder)
    retriever = Retriever.open(tmp_path / "kb", embedder)
    try:
        allowed = {"about-us/tts-history.md"}
        n_allowed = len(retriever.store.allowed_chunk_ids(allowed, None))
        for mode in ("hybrid", "dense", "bm25"):
            hits = retriever.search(
                "laptop equipment", n_allowed, allowed_documents=allowed, mode=mode
            )  # type: ignore[arg-type]
            assert {h.chunk.document_path for h in hits} <= allowed
            if mode != "bm25":  # keyword search returns only chunks that match a term
                assert len(hits) == n_allowed
        assert retriever.search("laptop", 5, allowed_documents=set()) == []
        assert retriever.search("laptop", 5, allowed_partitions={"secret"}) == []
    finally:
        retriever.close()


def test_incremental_update_changes_only_what_changed(
    handbook_pages: Path, tmp_path: Path, embedder: Embedder
) -> None:
    kb = tmp_path / "kb"
    _build(handbook_pages, kb, embedder)
    (handbook_pages / "getting-started/equipment.md").unlink()
    (handbook_pages / "new.md").write_text("# Parking\n\nThe bike racks are behind building 7.\n")
    steps = _build(handbook_pages, kb, embedder)
    statuses = {s.path: s.status for s in steps if s.kind == "file"}
    assert statuses.pop("new.md") == "indexed"
    assert set(statuses.values()) == {"unchanged"}
    retriever = Retriever.open(kb, embedder)
    try:
        paths = {h.chunk.document_path for h in retriever.search("laptop equipment bike", 20)}
        assert "getting-started/equipment.md" not in paths and "new.md" in paths
        assert retriever.store.generation() == 2
    finally:
        retriever.close()


def test_index_and_database_mismatch_refuses_to_serve(
    handbook_pages: Path, tmp_path: Path, embedder: Embedder
) -> None:
    kb = tmp_path / "kb"
    _build(handbook_pages, kb, embedder)
    store = KnowledgeStore.open(kb / "knowledge.sqlite")
    with store.transaction():
        store.conn.execute("DELETE FROM chunks WHERE id = (SELECT max(id) FROM chunks)")
    store.close()
    with pytest.raises(IndexUnusable, match="vectors"):
        Retriever.open(kb, embedder)


def test_malformed_files_never_crash_the_build(tmp_path: Path, embedder: Embedder) -> None:
    from tests_knowledge_helpers import write_malformed  # type: ignore[import-not-found]

    source = tmp_path / "src"
    expected = write_malformed(source)
    steps = _build(source, tmp_path / "kb", embedder, max_file_bytes=20 * 1024 * 1024)
    got = {s.path: (s.status, s.reason) for s in steps if s.kind == "file"}
    for name, (status, reason) in expected.items():
        assert got[name][0] == status, (name, got[name])
        assert reason in got[name][1], (name, got[name])
    assert got["good.md"][0] == "indexed"
    assert steps[-1].kind == "commit"


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from desktop.engine.runtime.catalog import Catalog
    from desktop.engine.runtime.embedder import Embedder
    from desktop.engine.knowledge import BuildOptions, build
    embedder = Embedder(Catalog.load().default("embedding"))
    for step in build(Path(sys.argv[1]), Path(sys.argv[2]), embedder,
                      BuildOptions(embed_batch_chunks=1)):
        print(step.kind, step.path, step.status, flush=True)
    """
)


def test_sigkill_mid_build_keeps_previous_index_and_resumes(
    handbook_pages: Path, tmp_path: Path, embedder: Embedder
) -> None:
    kb = tmp_path / "kb"
    _build(handbook_pages, kb, embedder)
    for i in range(40):
        (handbook_pages / f"extra/{i:02d}.md").parent.mkdir(exist_ok=True)
        (handbook_pages / f"extra/{i:02d}.md").write_text(
            f"# Note {i}\n\nRoom {i} has a projector.\n"
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(handbook_pages), str(kb)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert proc.stdout is not None
    indexed = 0
    for line in proc.stdout:
        if " indexed" in line:
            indexed += 1
        if indexed == 5:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    retriever = Retriever.open(kb, embedder)  # generation 1 still serves
    try:
        assert retriever.store.generation() == 1
        hits = retriever.search("projector room", 10)
        assert hits and all(not h.chunk.document_path.startswith("extra/") for h in hits)
    finally:
        retriever.close()
    steps = _build(handbook_pages, kb, embedder)
    statuses = [s.status for s in steps if s.kind == "file" and s.path.startswith("extra/")]
    assert statuses.count("unchanged") >= 5, "work done before the kill is kept"
    assert statuses.count("indexed") == 40 - statuses.count("unchanged")
    retriever = Retriever.open(kb, embedder)
    try:
        ids = retriever.store.live_ids()
        assert np.array_equal(np.sort(retriever.index.ids()), ids)
        assert any(
            h.chunk.document_path.startswith("extra/") for h in retriever.search("projector", 3)
        )
    finally:
        retriever.close()
