"""Attack tests: source files built to stall or exhaust a pack build.

Each test performs the attack; before the fix the parsers went cubic (a long heading), quadratic
(unclosed Liquid tags, comments and links, deeply nested HTML) or expanded a YAML alias bomb into
gigabytes, and nothing bounded one file's time or memory. No test asserts a duration:
pytest-timeout is the guard, and budgets are made small where a test needs a file to break one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.knowledge import BuildOptions, Progress, build
from desktop.engine.knowledge.chunker import ChunkParams, chunk_document
from desktop.engine.knowledge.parse_worker import TOO_COMPLEX, ParseBudget
from desktop.engine.knowledge.parsers import Block, parse_file
from desktop.engine.knowledge.store import FileStatus, KnowledgeStore
from desktop.engine.runtime.embedder import Embedder

# A 6 KB heading: `^(#{1,6})\s+(.*?)\s*#*\s*$` tried every split of the spaces (over 300 s).
LONG_HEADING = "# a" + " " * 6000 + "b\n\nThe body under the long heading.\n"
# 574 bytes that expand to 9^9 strings (6.6 GB) once the title or keywords are turned into text.
ALIAS_BOMB = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "title: *i\nkeywords: *i\n---\n# Bomb\n\nThe body after the bomb.\n"
)


def _nested_html(depth: int) -> str:
    return "<html><body>" + "<blockquote>" * depth + "deep text" + "</blockquote>" * depth


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.timeout(300)
def test_admin_build_indexes_every_hostile_source(tmp_path: Path, capsys) -> None:
    """`enclave admin build` over the attack files: it finishes and indexes each one."""
    source = _write(
        tmp_path / "source",
        {
            "heading.md": LONG_HEADING,
            "liquid.md": "# Liquid\n\n" + "{% " * 8000 + "\n\nText after the tags.\n",
            "comments.md": "# Comments\n\n" + "<!-- " * 8000 + "\n\nText after them.\n",
            "links.md": "# Links\n\n" + "[a]( " * 8000 + "\n\nText after the links.\n",
            "nested.html": _nested_html(20_000),
            "bomb.md": ALIAS_BOMB,
        },
    )
    workspace = tmp_path / "ws"
    assert main(["admin", "init", str(workspace)]) == 0
    build_command = ["admin", "build", str(source), "--workspace", str(workspace)]
    assert main([*build_command, "--pack-id", "hostile", "--title", "Hostile sources"]) == 0
    assert "skipped" not in capsys.readouterr().err
    statuses = _file_report(workspace / "packs", "hostile", 1)
    assert {path: s.status for path, s in statuses.items()} == dict.fromkeys(
        ("bomb.md", "comments.md", "heading.md", "links.md", "liquid.md", "nested.html"),
        "indexed",
    )
    assert "YAML aliases are not accepted" in statuses["bomb.md"].notes


def _file_report(packs: Path, pack_id: str, version: int) -> dict[str, FileStatus]:
    from desktop.engine.packs.build import load_keys_file
    from desktop.engine.storage.encrypted_db import open_database

    folder = packs / f"{pack_id}-v{version}"
    signed = json.loads((folder / "manifest.json").read_text())["signed"]
    _, _, keys = load_keys_file(packs / f"{pack_id}-v{version}.keys.json")
    report: dict[str, FileStatus] = {}
    for name, info in signed["audiences"].items():
        db = open_database(folder / info["shard"], keys[name], read_only=True)
        try:
            report.update({s.path: s for s in KnowledgeStore(db).file_report()})
        finally:
            db.conn.close()
    return report


HOSTILE_PAGES = {
    "heading": ("page.md", LONG_HEADING),
    "unclosed-liquid": ("page.md", "{%" * 200_000),
    "unclosed-comments": ("page.md", "<!--" * 100_000),
    "unclosed-links": ("page.md", "[a](" * 400_000),
    "unclosed-brackets": ("page.md", "[" * 200_000),
    "nested-html": ("page.html", _nested_html(30_000)),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("attack", sorted(HOSTILE_PAGES))
def test_hostile_page_parses_in_linear_time(tmp_path: Path, attack: str) -> None:
    name, text = HOSTILE_PAGES[attack]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    doc = parse_file(path)
    assert doc.blocks
    if attack == "heading":
        assert doc.title == "a" + " " * 6000 + "b"
        assert doc.blocks[0].heading_path == (doc.title,)
    if attack == "nested-html":
        assert [b.text for b in doc.blocks] == ["deep text"]


@pytest.mark.timeout(60)
def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.md"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    assert len(ALIAS_BOMB.encode()) < 600
    doc = parse_file(path)
    assert doc.title == "Bomb" and doc.keywords == []
    assert doc.notes == ["front matter ignored: YAML aliases are not accepted"]
    plain = tmp_path / "plain.md"
    plain.write_text("---\ntitle: Plain\nkeywords: [a, b]\n---\nBody.\n", encoding="utf-8")
    assert (parse_file(plain).title, parse_file(plain).keywords) == ("Plain", ["a", "b"])


def _build(source: Path, kb: Path, embedder: Embedder, budget: ParseBudget) -> dict[str, Progress]:
    steps = list(build(source, kb, embedder, BuildOptions(parse_budget=budget)))
    assert steps[-1].kind == "commit"
    return {s.path: s for s in steps if s.kind == "file"}


@pytest.mark.timeout(120)
def test_a_file_over_the_time_budget_is_skipped_and_the_build_goes_on(
    tmp_path: Path, embedder: Embedder
) -> None:
    """15 MB of one-line paragraphs takes seconds to parse; the budget here is half a second."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "a-slow.md").write_text("a\n\n" * 5_000_000, encoding="utf-8")
    (source / "b-fine.md").write_text("# Fine\n\nA small page.\n", encoding="utf-8")
    got = _build(source, tmp_path / "kb", embedder, ParseBudget(seconds=0.5))
    slow, fine = got["a-slow.md"], got["b-fine.md"]
    assert (slow.status, slow.reason) == ("skipped", f"{TOO_COMPLEX}: parsing took over 0.5 s")
    assert fine.status == "indexed"
    again = _build(source, tmp_path / "kb", embedder, ParseBudget(seconds=0.5))
    assert again["a-slow.md"].status == "skipped"  # tried again (the budget may have grown)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_a_file_over_the_memory_budget_is_skipped_and_the_build_goes_on(
    tmp_path: Path, embedder: Embedder
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a-big.md").write_text("a\n\n" * 2_000_000, encoding="utf-8")
    (source / "b-fine.md").write_text("# Fine\n\nA small page.\n", encoding="utf-8")
    got = _build(source, tmp_path / "kb", embedder, ParseBudget(memory_bytes=64 * 1024 * 1024))
    big, fine = got["a-big.md"], got["b-fine.md"]
    assert big.status == "skipped" and big.reason.startswith(f"{TOO_COMPLEX}: parsing needs more")
    assert fine.status == "indexed"


@pytest.mark.timeout(60)
def test_chunking_a_page_of_many_paragraphs_is_linear() -> None:
    """200,000 one-line paragraphs under one heading: finding each chunk's block used to rescan
    the whole section for every one of the 25,000 chunks."""
    blocks = [Block(f"word{i}", ("Section",), None, 1 + 2 * i) for i in range(200_000)]
    chunks = chunk_document("Doc", blocks, lambda text: len(text.split()), ChunkParams(8, 0))
    assert chunks[-1].line_end == blocks[-1].line
    assert sum(c.text.count("word") for c in chunks) == len(blocks)
