"""Exporting the open conversation: asks where, writes Markdown or JSON at once, and typesets a
PDF on a thread of its own (~170 ms for 100 turns: neither the GUI thread nor the engine's, where
it would wait for a streaming answer). The text comes from the backend with its sources resolved
through the choke point; a failure is shown as an error, never half a file reported as done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QFileDialog, QStatusBar, QWidget

from desktop.engine.core.errors import EngineError
from desktop.ui.backend import ChatBackend
from desktop.ui.worker import GeneratorWorker, call_in_worker

FORMATS = "Markdown (*.md);;PDF (*.pdf);;JSON (*.json)"


class ExportWindow(Protocol):
    """What the export needs of the main window."""

    def statusBar(self) -> QStatusBar: ...

    def show_error(self, error: BaseException) -> None: ...


class ConversationExport:
    def __init__(
        self,
        window: ExportWindow,
        parent: QWidget,
        backend: ChatBackend,
        workers: set[GeneratorWorker],
        nothing_to_export: Callable[[], None],
    ) -> None:
        self.window = window
        self.parent = parent
        self.backend = backend
        self.workers = workers  # the window's: waited for when it closes
        self.nothing_to_export = nothing_to_export
        self.pool = QThreadPool(parent)
        self.pool.setMaxThreadCount(1)
        self.running: set[GeneratorWorker] = set()

    @property
    def busy(self) -> bool:
        """A PDF is being typeset."""
        return bool(self.running)

    def ask_where(self, conversation_id: int | None) -> None:
        if conversation_id is None:
            self.nothing_to_export()
            return
        path, _ = QFileDialog.getSaveFileName(
            self.parent, "Export conversation", "conversation.md", FORMATS
        )
        if path:
            self.write(conversation_id, path)

    def write(self, conversation_id: int, path: str) -> bool:
        """The conversation (current versions, sources resolved) as Markdown, PDF or JSON."""
        try:
            fmt = "json" if path.lower().endswith(".json") else "md"
            text = self.backend.export_conversation(conversation_id, fmt)  # ~20 ms / 100 turns
            if path.lower().endswith(".pdf"):
                self._typeset(text, path)
                return True
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        except (EngineError, OSError) as exc:
            self._failed(exc)
            return False
        self.window.statusBar().showMessage(f"Exported to {path}", 4000)
        return True

    def wait(self, timeout_ms: int) -> None:
        self.pool.waitForDone(timeout_ms)

    def _typeset(self, markdown: str, path: str) -> None:
        from desktop.ui.export_pdf import write_pdf

        title = next((line[2:] for line in markdown.splitlines() if line[:2] == "# "), "")
        worker = call_in_worker(lambda: write_pdf(markdown, path, title or "Conversation"))
        worker.signals.returned.connect(
            lambda _none: self.window.statusBar().showMessage(f"Exported to {path}", 4000)
        )
        worker.signals.errored.connect(self._failed)
        worker.signals.finished.connect(lambda: self.workers.discard(worker))
        worker.signals.finished.connect(lambda: self.running.discard(worker))
        self.window.statusBar().showMessage("Exporting the conversation as PDF…")
        self.workers.add(worker)
        self.running.add(worker)
        self.pool.start(worker)

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, OSError):
            error = EngineError(f"The conversation could not be exported: {error}")
        self.window.show_error(error)
