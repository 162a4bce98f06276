"""The demo setup shows its build's progress (a real build: real parser, embedder and shards)."""

from __future__ import annotations

from desktop.cli import main
from desktop.engine.core.progress import JobProgress
from desktop.engine.packs.demo import setup_demo

from .conftest import write_source


def test_demo_build_reports_files_chunks_and_rate(tmp_path, memory_keyring) -> None:
    source = write_source(tmp_path / "source")
    steps = list(setup_demo(source))
    progress = [s for s in steps if isinstance(s, JobProgress)]
    assert [p.files_done for p in progress] == [1, 2, 3, 4]
    assert {p.files_total for p in progress} == {4}
    last = progress[-1]
    assert last.chunks > 0 and last.chunks_per_s is not None and last.seconds_left is None
    lines = [s for s in steps if isinstance(s, str)]
    assert lines[1] == "building the demo pack from 4 files (once, a few minutes)"
    assert any(line.startswith("built handbook-demo-v1.enclavepack") for line in lines)


def test_the_demo_command_prints_progress_lines_when_not_a_terminal(
    tmp_path, memory_keyring, capsys
) -> None:
    source = write_source(tmp_path / "source")
    assert main(["demo", str(source)]) == 0
    out = capsys.readouterr().out.splitlines()
    progress = [line for line in out if line.startswith("building the demo pack: ")]
    assert progress and progress[-1].startswith("building the demo pack: 4/4 files, ")
    assert "chunks/s" in progress[-1]
    assert "\r" not in "".join(out)
