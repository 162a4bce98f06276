"""The window's start checks the platform plugin's libraries before Qt can abort on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.engine.core import prereqs
from desktop.engine.core.exit_codes import ExitCode

pytestmark = pytest.mark.gui


def test_missing_libraries_are_named_instead_of_a_qt_abort(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.ui import launch

    debian = prereqs.parse_os_release('ID=debian\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    missing = prereqs.window_missing(
        debian,
        plugins=["xcb"],
        plugin_dir=Path("/nonexistent"),
        lookup=lambda name: name not in {"libxcb-cursor.so.0", "libxcb-keysyms.so.1"},
    )
    monkeypatch.setattr(prereqs, "qt_plugin_dir", lambda: None)
    monkeypatch.setattr(prereqs, "check", lambda **_: prereqs.Prereqs(debian, tuple(missing)))
    monkeypatch.setattr(prereqs, "platform_plugins", lambda *_: ["xcb"])
    monkeypatch.setattr(launch, "display_available", lambda: True)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # had the check let Qt start: no abort

    def no_qt(*_args: object) -> None:
        raise AssertionError("the session must not be built when the window cannot open")

    monkeypatch.setattr(launch, "ChatSession", no_qt)
    assert launch.run_gui() == ExitCode.UNHEALTHY
    err = capsys.readouterr().err
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-keysyms1" in err
    assert "Qt's platform plugin (xcb)" in err


def test_nothing_is_said_when_the_plugin_is_complete() -> None:
    from desktop.ui import launch

    debian = prereqs.parse_os_release("ID=debian\n")
    assert launch.missing_window_libraries(prereqs.Prereqs(debian, ())) == ""
