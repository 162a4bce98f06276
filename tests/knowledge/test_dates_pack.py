"""Document dates through a real signed pack: the manifest's as-of is the newest document date
(not the build day) unless the administrator sets it, and `enclave ask --json` shows each source's
date. Real embedder, SQLCipher shards, the small chat model."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.knowledge.builder import BuildOptions
from desktop.engine.knowledge.doc_dates import DateMap
from desktop.engine.packs import grants, install
from desktop.engine.packs.build import BuiltPack, build_pack
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.embedder import Embedder

AUDIENCES = """\
default = "everyone"

[roles]
employee = ["everyone"]
"""


def _source(root: Path) -> Path:
    pages = {
        "leave.md": "---\ntitle: Annual leave\nupdated: 2024-03-05\n---\n# Annual leave\n\n"
        "Staff get 26 days of annual leave each year, booked through the leave calendar.\n",
        "leave-2019.md": "---\ntitle: Annual leave (2019)\nupdated: 2019-05-01\n"
        "superseded_by: leave.md\n---\n# Annual leave\n\n"
        "Staff get 22 days of annual leave each year, booked on paper forms.\n",
        "parking.txt": "Visitors park in bay four, beside the gate.\n",
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def embedder(embedding_entry):
    instance = Embedder(embedding_entry)
    yield instance
    instance.close()


def _build(workspace: Workspace, source: Path, version: int, embedder, **kwargs) -> BuiltPack:
    built = None
    for item in build_pack(
        source,
        workspace.packs_dir,
        pack_id="dated",
        title="Dated",
        version=version,
        audience_map=workspace.audience_map(),
        embedder=embedder,
        admin_key=workspace.signing_key(),
        **kwargs,
    ):
        if isinstance(item, BuiltPack):
            built = item
    assert built is not None
    return built


def _manifest(built: BuiltPack) -> dict:
    return json.loads((built.folder / "manifest.json").read_text())["signed"]


def test_manifest_as_of_is_the_newest_document_date(tmp_path: Path, embedder) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.init(AUDIENCES)
    source = _source(tmp_path / "src")
    dates = DateMap(default="2023-01-01", file_times=source)  # parking.txt has no date of its own
    built = _build(workspace, source, 1, embedder, options=BuildOptions(dates=dates))
    assert _manifest(built)["knowledge_as_of"] == "2024-03-05"
    later = DateMap(default="2025-02-27", file_times=source)
    built = _build(workspace, source, 2, embedder, options=BuildOptions(dates=later))
    assert _manifest(built)["knowledge_as_of"] == "2025-02-27"
    chosen = _build(workspace, source, 3, embedder, knowledge_as_of=date(2022, 2, 2))
    assert _manifest(chosen)["knowledge_as_of"] == "2022-02-02"  # the administrator's says


def test_ask_json_sources_carry_their_document_date(
    tmp_path: Path, embedder, memory_keyring, monkeypatch, capsys
) -> None:
    from desktop.engine.packs.signing import load_public_key
    from desktop.engine.packs.trust import trust_file_text

    workspace = Workspace(tmp_path / "ws")
    workspace.init(AUDIENCES)
    source = _source(tmp_path / "src")
    built = _build(
        workspace, source, 1, embedder, options=BuildOptions(dates=DateMap(file_times=source))
    )
    config = tmp_path / "config"
    (config / "trusted-keys").mkdir(parents=True)
    key = load_public_key(workspace.public_key_path.read_text())
    (config / "trusted-keys" / "admin.toml").write_text(trust_file_text(key, ["*"]))
    monkeypatch.setenv("ENCLAVE_CONFIG_DIR", str(config))
    workspace.enrol(grants.enrolment_request(user="ana", machine="test-machine"), ["employee"])
    install.import_grant(workspace.grant("ana", "dated"))
    install.install(built.archive)

    question = "How many days of annual leave do staff get?"
    assert main(["ask", question, "--json", "--max-tokens", "24", "--sources", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    retrieved = {s["path"]: s for s in out["retrieved"]}
    assert retrieved["leave.md"]["doc_date"] == "2024-03-05"
    assert retrieved["leave.md"]["date_source"] == "front_matter"
    paths = [s["path"] for s in out["retrieved"]]
    assert paths.index("leave.md") < paths.index("leave-2019.md")  # below its successor
    assert retrieved["leave-2019.md"]["superseded_by"] == "leave.md"
    assert out["sources"], "the question is answered from the pack"
    labels = {
        "leave.md": "Updated 2024-03-05",
        "leave-2019.md": "Updated 2019-05-01",
        "parking.txt": f"file date {retrieved['parking.txt']['doc_date']}",  # labelled as such
    }
    assert retrieved["parking.txt"]["date_source"] == "file"
    for cited in out["sources"]:
        assert cited["doc_date"] == retrieved[cited["path"]]["doc_date"]
        assert cited["date_label"] == labels[cited["path"]]

    assert main(["ask", question, "--max-tokens", "24", "--sources", "3"]) == 0
    text = capsys.readouterr().out
    assert "Updated 2024-03-05" in text or "superseded by leave.md" in text


def test_admin_build_reads_file_times_from_the_source_and_takes_dates_toml(
    tmp_path: Path, embedder, monkeypatch, capsys
) -> None:
    import os
    from datetime import UTC, datetime

    from desktop.cli import main as cli

    monkeypatch.setattr("desktop.engine.runtime.embedder.Embedder", lambda *a, **k: _Kept(embedder))
    workspace = Workspace(tmp_path / "ws")
    workspace.init(AUDIENCES)
    source = _source(tmp_path / "src")
    stamp = datetime(2025, 5, 5, 12, tzinfo=UTC).timestamp()
    os.utime(source / "parking.txt", (stamp, stamp))  # newer than any front matter date
    args = ["admin", "build", str(source), "--workspace", str(workspace.root), "--title", "D"]
    assert cli([*args, "--pack-id", "dated"]) == 0
    signed = json.loads((workspace.packs_dir / "dated-v1" / "manifest.json").read_text())["signed"]
    assert signed["knowledge_as_of"] == "2025-05-05"  # the source's time, not the copy's (today)

    (tmp_path / "dates.toml").write_text(
        '[[document]]\nglob = "parking.txt"\ndate = 2024-01-01\n', encoding="utf-8"
    )
    assert cli([*args, "--pack-id", "dated", "--dates", str(tmp_path / "dates.toml")]) == 0
    signed = json.loads((workspace.packs_dir / "dated-v2" / "manifest.json").read_text())["signed"]
    assert signed["knowledge_as_of"] == "2024-03-05"

    (tmp_path / "bad.toml").write_text('default = "last spring"\n', encoding="utf-8")
    capsys.readouterr()
    assert cli([*args, "--pack-id", "dated", "--dates", str(tmp_path / "bad.toml")]) == 2
    assert "bad.toml is invalid" in capsys.readouterr().err
    assert not (workspace.packs_dir / "dated-v3").exists()


class _Kept:
    """The session's embedder, which the CLI's `close()` must not close."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def close(self) -> None:
        pass
