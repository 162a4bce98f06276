"""Start the desktop app: check for a display, build the window around a `ChatSession`, run Qt.

Imported only when the window is wanted (`enclave` with no command): it loads Qt."""

from __future__ import annotations

import json
import os
import sys
from types import TracebackType
from typing import Any

from desktop.app import ChatSession
from desktop.engine.core import prereqs
from desktop.engine.core.crash_report import write_crash_report
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import provision
from desktop.ui.main_window import MainWindow

NO_DISPLAY = """\
enclave: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.
  -> On a desktop, start Enclave from your session. On a server, use the terminal commands:
       enclave ask "your question"     enclave doctor     enclave --help
     or run the window off-screen for tests: QT_QPA_PLATFORM=offscreen enclave
"""


MISSING_LIBRARIES = """\
enclave: the window cannot open: Qt's platform plugin ({platforms}) needs system libraries that
are not installed (Qt would abort here).
{details}
  -> Meanwhile the terminal commands work: enclave ask "your question", enclave doctor
"""


def missing_window_libraries(report: prereqs.Prereqs | None = None) -> str:
    """The message naming what Qt's platform plugin lacks and the install command; "" if nothing.

    Checked before QApplication exists: Qt itself reports a plugin that cannot load by aborting
    the process (exit 134), after which nothing can be said."""
    found = report if report is not None else prereqs.check(window=True)
    if found.ok:
        return ""
    platforms = " or ".join(prereqs.platform_plugins()) or "xcb"
    return MISSING_LIBRARIES.format(platforms=platforms, details=prereqs.describe(found))


def sync_drop_folders() -> provision.SyncReport:
    """Verify and install what IT dropped for this machine or user (docs/install.md)."""
    return provision.sync_at_start()


def display_available() -> bool:
    if sys.platform != "linux":
        return True
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def install_dropped(window: MainWindow, report: provision.SyncReport) -> None:
    """Say what the drop folders brought: installed packs as info, refusals as warnings."""
    for outcome in report.outcomes:
        if outcome.outcome in ("installed", "imported"):
            what = {"pack": "pack", "delta": "pack update"}.get(outcome.kind, "grant")
            window.notify(
                f"Your administrator's {what} {outcome.detail} was verified and installed.",
                kind="info",
            )
    for problem in report.problems():
        window.notify(problem.message, problem.hint, kind="warning")


def build_window(session: ChatSession) -> MainWindow:
    window = MainWindow(session, packs=session.packs)  # says whether history is off once open
    if session.settings_note:
        window.notify(session.settings_note, kind="warning")
    return window


def report_bugs_in_window(window: MainWindow) -> None:
    """An exception that is not an `EngineError` escaping a Qt slot is a bug: write a crash
    report and say so inline, instead of a traceback on a terminal the user never sees."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(exc, Exception):
            previous(kind, exc, tb)
            return
        try:
            where = f"A report was saved to {write_crash_report(exc, 'enclave (window)')}."
        except Exception:
            previous(kind, exc, tb)
            where = "The details were printed to the terminal."
        window.notify(
            f"Internal error (a bug in Enclave, not something you did): {type(exc).__name__}.",
            f"{where} Please send it to your administrator; you can keep working.",
            kind="error",
        )

    sys.excepthook = hook


def report_native_crashes(window: MainWindow) -> None:
    """An earlier process that died inside native code (a segfault in llama.cpp, say) left a
    report (`native_crash`): say so once, with the file to send."""
    from desktop.engine.core import native_crash

    for report in native_crash.unseen():
        failed = native_crash.what_failed(report)
        window.notify(
            f"Enclave stopped unexpectedly last time: a crash inside native code ({failed}).",
            f"The details are in {native_crash.mark_seen(report)}; please send that file to your "
            "administrator. `enclave doctor` checks this machine.",
            kind="warning",
        )


SMOKE_QUESTION_ENV = "ENCLAVE_SMOKE_QUESTION"


def drive_smoke_question(window: MainWindow, app: Any, question: str) -> None:
    """For the bundle's smoke test (installer/smoke_test.sh): once the model is loaded, ask
    `question` through the window's own path, print the finished answer as one JSON line on
    stdout, then quit. A model that fails to load quits with exit code 1."""
    from PySide6.QtCore import QTimer

    from desktop.engine.answer.events import Done

    def on_event(event: object) -> None:
        if isinstance(event, Done):
            print(json.dumps(event.as_dict(), ensure_ascii=False), flush=True)

    def when_loaded() -> None:
        if window.model_problem is not None:
            print(f"smoke: the model did not load: {window.model_problem}", file=sys.stderr)
            app.exit(1)
        elif window.model_ready:
            window.ask(question)
        else:
            QTimer.singleShot(100, when_loaded)

    window.answers.eventReceived.connect(on_event)
    window.answers.answerFinished.connect(lambda _live: QTimer.singleShot(0, app.quit))
    QTimer.singleShot(100, when_loaded)


def run_gui() -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return ExitCode.USAGE
    missing = missing_window_libraries()
    if missing:
        print(missing, file=sys.stderr)
        return ExitCode.UNHEALTHY
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import apply_theme, prepare_hidpi

    prepare_hidpi()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Enclave")
    apply_theme(app)  # type: ignore[arg-type]
    dropped = sync_drop_folders()  # before the session opens the packs
    session = ChatSession()
    window = build_window(session)
    install_dropped(window, dropped)
    report_bugs_in_window(window)
    report_native_crashes(window)
    window.show()
    window.start_loading()
    smoke_question = os.environ.get(SMOKE_QUESTION_ENV, "").strip()
    if smoke_question:
        drive_smoke_question(window, app, smoke_question)
    code = app.exec()
    window.shutdown()
    session.close()
    return int(code)
