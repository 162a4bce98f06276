"""A pack build killed (SIGKILL) before it was signed resumes on the next run: what the stopped
build had embedded, in shards it finished and in the one it was writing, is not embedded again,
and the pack is the one a build from the start gives. Real embedder, SQLCipher shards, FAISS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from desktop.engine.knowledge.builder import BuildOptions, Progress
from desktop.engine.packs.build import BuiltPack, build_pack, load_keys_file
from desktop.engine.packs.resume import RESUME_FILE
from desktop.engine.packs.shards import Shard
from desktop.engine.packs.workspace import Workspace

from .conftest import AUDIENCES
from .test_incremental_build import CountingEmbedder

ROOT = Path(__file__).resolve().parents[2]
PACK = "resumable"
OPTIONS = BuildOptions(embed_batch_chunks=3)  # commit often, as a big pack does

# The child builds, and kills itself the moment the third audience's first batch is committed:
# "everyone" and "hr" finished (vector files written, caches dropped), "staff" half written.
CHILD = r"""
import os, signal, sys
from pathlib import Path
from desktop.engine.knowledge.builder import BuildOptions
from desktop.engine.packs.build import build_pack
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder
workspace, source = Workspace(Path(sys.argv[1])), Path(sys.argv[2])
embedder = Embedder(Catalog.load().default("embedding"))
for item in build_pack(
    source, workspace.packs_dir, pack_id="resumable", title="Resumable", version=1,
    audience_map=workspace.audience_map(), embedder=embedder,
    admin_key=workspace.signing_key(), options=BuildOptions(embed_batch_chunks=3),
):
    if getattr(item, "kind", "") == "file" and item.path.startswith("staff/"):
        if item.status == "indexed":
            print("killing", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
"""


def _source(root: Path) -> Path:
    for folder, count in (("", 8), ("hr/", 6), ("staff/", 8)):
        for i in range(count):
            path = root / f"{folder}doc{i}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                f"# {folder or 'all'} topic {i}\n\nParagraph {i} about {folder or 'the office'}: "
                f"item {i * 7} costs {i * 13} units, kept in room {i + 100}.\n"
            )
    return root


def _workspace(root: Path) -> Workspace:
    workspace = Workspace(root)
    workspace.init(AUDIENCES)
    workspace.packs_dir.mkdir(parents=True, exist_ok=True)
    return workspace


def _build(workspace: Workspace, source: Path, embedder: Any) -> list[Progress | BuiltPack]:
    return list(
        build_pack(
            source,
            workspace.packs_dir,
            pack_id=PACK,
            title="Resumable",
            version=1,
            audience_map=workspace.audience_map(),
            embedder=embedder,
            admin_key=workspace.signing_key(),
            options=OPTIONS,
        )
    )


def _notes(items: list[Progress | BuiltPack]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Progress) and i.kind == "note"]


def _left_by_a_stopped_build(tmp_path: Path, audience: str) -> tuple[Path, Workspace, Path]:
    """(source, workspace, staging folder) as a stopped build leaves them, with one shard of
    random bytes for `audience` (no key opens it)."""
    source = _source(tmp_path / "source")
    workspace = _workspace(tmp_path / "ws")
    folder = workspace.packs_dir / f"{PACK}-v1"
    staging = workspace.packs_dir / f".{PACK}-v1.building"
    (folder / "shards").mkdir(parents=True)
    (folder / "shards" / f"{audience}.db").write_bytes(os.urandom(8192))
    staging.mkdir()
    return source, workspace, staging


def _content(workspace: Workspace, embedder: Any) -> dict[str, list[tuple[str, str, Any]]]:
    """Per audience: every chunk's document, text and indexed vector."""
    _id, _version, keys = load_keys_file(workspace.packs_dir / f"{PACK}-v1.keys.json")
    found: dict[str, list[tuple[str, str, Any]]] = {}
    for audience, key in keys.items():
        shard = Shard(
            workspace.packs_dir / f"{PACK}-v1" / "shards" / f"{audience}.db", key, embedder
        )
        try:
            index = shard.retriever.index
            records = shard.store.fetch_chunks([int(i) for i in index.ids()])
            found[audience] = sorted(
                (r.document_path, r.text, index.vector_of(r.id)) for r in records.values()
            )
        finally:
            shard.close()
    return found


def test_a_killed_build_resumes_with_what_it_had_embedded(tmp_path: Path, embedder) -> None:
    source = _source(tmp_path / "source")
    workspace = _workspace(tmp_path / "ws")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(workspace.root), str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    staging = workspace.packs_dir / f".{PACK}-v1.building"
    assert (workspace.packs_dir / f"{PACK}-v1" / "shards").is_dir()
    resume = json.loads((staging / RESUME_FILE).read_text())
    assert set(resume["audiences"]) == {"everyone", "hr", "staff"}
    assert (staging / RESUME_FILE).stat().st_mode & 0o077 == 0  # holds keys: owner only

    counting = CountingEmbedder(embedder)
    items = _build(workspace, source, counting)
    notes = _notes(items)
    assert any("resuming" in n for n in notes), notes
    reused = [n for n in notes if "reused from the stopped build" in n]
    assert len(reused) == 3, notes
    built = items[-1]
    assert isinstance(built, BuiltPack) and (built.folder / "manifest.json").exists()
    assert not staging.exists()  # keys of the stopped build and the copies are gone

    fresh = _workspace(tmp_path / "fresh")
    full = CountingEmbedder(embedder)
    _build(fresh, source, full)
    # Only what the stopped build had not committed was embedded again: the two finished
    # audiences not at all, the third in part.
    assert 0 < len(counting.texts) < len(full.texts) / 3, (len(counting.texts), len(full.texts))
    assert not set(counting.texts) & {t for t in full.texts if "all topic" in t or "hr/" in t}
    resumed, scratch = _content(workspace, embedder), _content(fresh, embedder)
    assert resumed.keys() == scratch.keys()
    for audience in scratch:
        assert [(p, t) for p, t, _ in resumed[audience]] == [
            (p, t) for p, t, _ in scratch[audience]
        ]
        for (_p, _t, a), (_q, _u, b) in zip(resumed[audience], scratch[audience], strict=True):
            assert np.allclose(a, b, atol=1e-3)


def test_a_stopped_build_under_another_embedding_model_starts_again(
    tmp_path: Path, embedder
) -> None:
    source, workspace, staging = _left_by_a_stopped_build(tmp_path, "everyone")
    (staging / RESUME_FILE).write_text(
        json.dumps(
            {
                "embedding": {"id": "another-model", "sha256": "0" * 64},
                "audiences": {"everyone": "00" * 32},
            }
        )
    )
    counting = CountingEmbedder(embedder)
    items = _build(workspace, source, counting)
    notes = _notes(items)
    assert any("building it again from the start" in n for n in notes), notes
    assert not any("reused" in n for n in notes)
    assert isinstance(items[-1], BuiltPack)


def test_a_resumed_build_stopped_again_keeps_the_first_builds_shards_it_had_not_reached(
    tmp_path: Path, embedder
) -> None:
    """Stopped twice: the second build wrote "everyone" (having copied the first's vectors in) but
    never reached "hr", whose first-build shard it carried: both stay usable for the third."""
    from desktop.engine.knowledge.builder import model_identity
    from desktop.engine.packs.resume import (
        PARTIAL_DIR,
        PartialShard,
        save_resume_file,
        take_partial_shards,
    )

    folder, staging = tmp_path / "p-v1", tmp_path / ".p-v1.building"
    (folder / "shards").mkdir(parents=True)
    (staging / PARTIAL_DIR).mkdir(parents=True)
    (folder / "shards" / "everyone.db").write_bytes(b"second build")
    (staging / PARTIAL_DIR / "everyone.db").write_bytes(b"first build, already copied")
    (staging / PARTIAL_DIR / "hr.db").write_bytes(b"first build")
    identity = model_identity(embedder)
    first_hr = PartialShard(staging / PARTIAL_DIR / "hr.db", b"\x01" * 32)
    save_resume_file(
        staging,
        {"everyone": b"\x02" * 32, "hr": b"\x03" * 32},
        identity,
        {
            "everyone": PartialShard(staging / PARTIAL_DIR / "everyone.db", b"\x04" * 32),
            "hr": first_hr,
        },
    )
    found = take_partial_shards(folder, staging, identity)
    assert found["everyone"].key == b"\x02" * 32  # the newer shard, under its own key
    assert found["everyone"].path.read_bytes() == b"second build"
    assert found["hr"].key == b"\x01" * 32 and found["hr"].path.read_bytes() == b"first build"
    assert sorted(p.name for p in (staging / PARTIAL_DIR).iterdir()) == ["everyone.db", "hr.db"]


def test_a_damaged_stopped_shard_is_embedded_again(tmp_path: Path, embedder) -> None:
    """Right model, but the stopped build's shard is not a database its key opens: nothing of it
    is used, the build completes and says how much it reused (none)."""
    from desktop.engine.knowledge.builder import model_identity
    from desktop.engine.packs.resume import save_resume_file

    source, workspace, staging = _left_by_a_stopped_build(tmp_path, "hr")
    save_resume_file(staging, {"hr": os.urandom(32)}, model_identity(embedder))
    counting = CountingEmbedder(embedder)
    items = _build(workspace, source, counting)
    notes = _notes(items)
    assert any("resuming" in n for n in notes)
    assert "0 embedded chunks reused from the stopped build of this version" in notes
    assert isinstance(items[-1], BuiltPack)
    assert any("hr/" in t for t in counting.texts)  # embedded again
