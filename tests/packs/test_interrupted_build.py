"""A pack build that was stopped (killed, power cut) before it was signed is built again from the
start on the next run, saying so; the copies of the sources stay in the admin's workspace, never
in the system's temp folder, and are removed when the build ends."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from desktop.engine.knowledge.builder import Progress
from desktop.engine.packs.build import BuiltPack, build_pack
from desktop.engine.packs.errors import AdminError
from desktop.engine.packs.workspace import Workspace

from .conftest import AUDIENCES, write_source


def _build(source: Path, workspace: Workspace, embedder, during=None) -> list[Progress | BuiltPack]:
    items = []
    for item in build_pack(
        source,
        workspace.packs_dir,
        pack_id="stopped",
        title="Stopped",
        version=1,
        audience_map=workspace.audience_map(),
        embedder=embedder,
        admin_key=workspace.signing_key(),
    ):
        if during is not None and isinstance(item, Progress) and item.kind == "file":
            during()
        items.append(item)
    return items


def test_a_build_stopped_before_signing_is_built_again(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    workspace = Workspace(tmp_path / "ws")
    workspace.init(AUDIENCES)
    workspace.packs_dir.mkdir(parents=True, exist_ok=True)
    source = write_source(tmp_path / "source")
    # What a SIGKILL mid-build leaves: a shard under a key that was never written, and the
    # copies of the sources in the build's staging folder.
    left = workspace.packs_dir / "stopped-v1"
    (left / "shards").mkdir(parents=True)
    (left / "shards" / "everyone.db").write_bytes(b"\x00" * 4096)
    staging = workspace.packs_dir / ".stopped-v1.building"
    (staging / "enclave-shard-x" / "source").mkdir(parents=True)
    (staging / "enclave-shard-x" / "source" / "secret.md").write_text("copy of a source")

    seen: list[tuple[int, int]] = []

    def copies_now() -> None:  # (copies in the staging folder, copies in the system temp)
        seen.append((len(list(staging.glob("enclave-shard-*"))), len(list(system_temp.glob("*")))))

    items = _build(source, workspace, embedder, during=copies_now)
    assert seen and all(in_staging == 1 and in_temp == 0 for in_staging, in_temp in seen), seen
    notes = [i for i in items if isinstance(i, Progress) and i.kind == "note"]
    assert len(notes) == 1 and "stopped before it was signed" in notes[0].reason
    built = items[-1]
    assert isinstance(built, BuiltPack) and (built.folder / "manifest.json").exists()
    assert not staging.exists()  # the copies of the sources are gone once the build ends
    assert not list(system_temp.glob("enclave-shard-*"))  # no copy in the system's temp

    with pytest.raises(AdminError, match="built once"):  # a signed version is never rebuilt
        _build(source, workspace, embedder)
