"""Screenshots of the main states, on the fake backend (tests/ui/fakes.py), under a real X server.

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python docs/screenshots/take_screenshots.py

Each state is shown in a real window and grabbed with `QWidget.grab()`; files land beside this
script. `--scale 2` renders at twice the density (HiDPI check).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

ANSWER = [
    "To book travel:\n\n",
    "1. Use the **approved travel agency** [1].\n",
    "2. Book at least *14 days ahead* [1].\n",
    "3. Keep every receipt for your expense claim [2].\n\n",
    "See [the travel page](https://intranet.example/travel) for forms.",
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    os.environ["QT_SCALE_FACTOR"] = args.scale
    suffix = "" if args.scale == "1" else f"@{args.scale}x"

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QWidget
    from ui.fake_packs import FakePacks
    from ui.fakes import HANDBOOK_CITATIONS, FakeBackend

    from desktop.ui.about_dialog import AboutDialog
    from desktop.ui.backend import Verdict
    from desktop.ui.main_window import MainWindow
    from desktop.ui.packs import EnrolmentDialog, PackManagerDialog
    from desktop.ui.settings_dialog import SettingsDialog
    from desktop.ui.theme import apply_theme, prepare_hidpi

    prepare_hidpi()
    app = QApplication(sys.argv)
    app.setApplicationName("Enclave")
    apply_theme(app, Qt.ColorScheme.Light)

    def settle(ms: int = 150) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(condition: Callable[[], bool]) -> None:
        for _ in range(200):
            if condition():
                return
            settle(25)
        raise TimeoutError("state never reached")

    def save(widget: QWidget, name: str) -> None:
        settle()
        path = args.out / f"{name}{suffix}.png"
        widget.grab().save(str(path))
        print("wrote", path)

    def seeded() -> tuple[FakeBackend, FakePacks]:
        backend = FakeBackend(ANSWER, HANDBOOK_CITATIONS)
        backend.as_of = "2024-05-01"
        backend.seed("Where is the canteen?", [("Where is the canteen?", "Ground floor [2].")])
        backend.seed("Parental leave", [("How long is parental leave?", "Sixteen weeks [1].")])
        return backend, FakePacks()

    def chat_window(backend: FakeBackend, packs: FakePacks) -> MainWindow:
        window = MainWindow(backend, packs)
        window.resize(1400, 860)
        window.show()
        window.start_loading()
        wait(lambda: window.model_ready)
        return window

    # 1. Window first: the model is still loading, a question is queued.
    backend, packs = seeded()
    backend.release.clear()
    window = MainWindow(backend, packs)
    window.resize(1400, 860)
    window.show()
    window.start_loading()
    window.input.setPlainText("How do I book travel?")
    window.send()
    save(window, "01-loading")
    backend.release.set()
    wait(lambda: window.model_ready and not window.busy)
    window.shutdown()
    window.close()

    # 2-3. A cited answer with its sources, light and dark.
    for scheme, name in (
        (Qt.ColorScheme.Light, "02-chat-sources-light"),
        (Qt.ColorScheme.Dark, "03-chat-sources-dark"),
    ):
        apply_theme(app, scheme)
        backend, packs = seeded()
        window = chat_window(backend, packs)
        window.ask("How do I book travel?")
        wait(lambda w=window: not w.busy)
        window.show_citation(window._turns[-1].key, 1)
        save(window, name)
        window.shutdown()
        window.close()
    apply_theme(app, Qt.ColorScheme.Light)

    # 4. Streaming, mid-answer (Stop enabled).
    backend, packs = seeded()
    backend.gate = threading.Event()
    window = chat_window(backend, packs)
    window.ask("How do I book travel?")
    wait(lambda: "approved" in window.chat.toPlainText() or len(window._turns[-1].answer) > 5)
    save(window, "04-streaming")
    backend.gate.set()
    wait(lambda: not window.busy)
    window.shutdown()
    window.close()

    # 5. Abstention: the closest passages, and an unsupported sentence.
    backend, packs = seeded()
    backend.tokens = ["Your documents don't say what the CEO earns."]
    backend.verdict = Verdict(abstained=True)
    window = chat_window(backend, packs)
    window.ask("What is the CEO's salary?")
    wait(lambda: not window.busy)
    save(window, "05-abstention")
    window.shutdown()
    window.close()

    # 6. Errors inline: no keyring (history off) and a missing model.
    from desktop.engine.core.errors import KeyringUnavailable, ModelMissing

    backend = FakeBackend(history=False)
    backend.load_error = ModelMissing(
        "smollm2-135m-instruct", Path("/home/alice/.local/share/enclave/models/SmolLM2.gguf")
    )
    window = MainWindow(backend)
    window.resize(1400, 860)
    window.show_notice(
        KeyringUnavailable(
            "No secure keyring is available.",
            "Install or unlock your desktop keyring (e.g. GNOME Keyring), then restart Enclave.",
        ),
        "History is off: nothing will be saved.",
    )
    window.show()
    window.start_loading()
    wait(lambda: "not installed" in window.chat.toPlainText())
    save(window, "06-errors-inline")
    window.shutdown()
    window.close()

    # 7-10. Dialogs.
    packs = FakePacks()
    dialog = PackManagerDialog(packs)
    dialog.choose_file = lambda: Path("/media/usb/finance-2024.enclavepack")
    dialog.show()
    dialog.install()
    save(dialog, "07-pack-manager")
    dialog.close()

    dialog2 = EnrolmentDialog(packs)
    dialog2.show()
    save(dialog2, "08-enrolment")
    dialog2.close()

    backend = FakeBackend()
    dialog3 = SettingsDialog(backend)
    dialog3.show()
    save(dialog3, "09-settings")
    dialog3.close()

    dialog4 = AboutDialog(backend.models(), packs)
    dialog4.show()
    save(dialog4, "10-about")
    dialog4.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
