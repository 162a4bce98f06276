"""A process that dies inside native code leaves a report, and the next start says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop.engine.core import native_crash

ROOT = Path(__file__).resolve().parents[1]


def _child(directory: Path, then: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import ctypes, os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from desktop.engine.core import native_crash
        assert native_crash.arm("enclave ask", __import__("pathlib").Path({str(directory)!r}))
        {then}
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_segfault_leaves_a_report_that_is_announced_once(tmp_path: Path) -> None:
    done = _child(tmp_path, "ctypes.string_at(0)")
    assert done.returncode == -signal.SIGSEGV
    [report] = native_crash.unseen(tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "native crash report" in text and "command: enclave ask" in text
    assert "Segmentation fault" in native_crash.what_failed(report)
    seen = native_crash.mark_seen(report)
    assert seen.exists() and native_crash.unseen(tmp_path) == []


def test_a_normal_end_leaves_nothing(tmp_path: Path) -> None:
    assert _child(tmp_path, "print('ok')").returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_a_killed_process_is_not_a_crash(tmp_path: Path) -> None:
    done = _child(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    assert done.returncode == -signal.SIGKILL
    assert len(list(tmp_path.iterdir())) == 1  # its header, until someone looks
    assert native_crash.unseen(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_the_next_command_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from desktop.cli import main
    from desktop.engine.core.crash_report import reports_dir

    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(tmp_path / "data"))
    folder = reports_dir()
    assert _child(folder, "ctypes.string_at(0)").returncode == -signal.SIGSEGV
    main(["history", "list"])
    err = capsys.readouterr().err
    assert "stopped inside native code (Segmentation fault" in err and ".seen.txt" in err
    main(["doctor", "--json"])
    assert "stopped inside native code" not in capsys.readouterr().err
    assert os.listdir(folder) and all(n.endswith(".seen.txt") for n in os.listdir(folder))


def test_the_window_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.engine.core.crash_report import reports_dir
    from desktop.ui.launch import report_native_crashes

    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(tmp_path / "data"))
    assert _child(reports_dir(), "ctypes.string_at(0)").returncode == -signal.SIGSEGV
    notices: list[tuple[str, ...]] = []

    class Window:
        def notify(self, *text: str, kind: str = "") -> None:
            notices.append((*text, kind))

    report_native_crashes(Window())  # type: ignore[arg-type]
    report_native_crashes(Window())  # type: ignore[arg-type]
    [(headline, detail, kind)] = notices
    assert "stopped unexpectedly last time" in headline and "Segmentation fault" in headline
    assert ".seen.txt" in detail and kind == "warning"
