"""Pack manager and enrolment screens, built on `PackManagerModel` (desktop.ui.pack_backend).

Listing, installing, removing and importing re-verify pack files (hundreds of MB for a large pack),
so every call to the pack model runs on a worker (`PackCalls`), on a pool of the dialog's own, apart
from the window's engine thread; the dialog shows "Checking packs…" meanwhile and, when closed,
drops late results and waits for the call in flight. File choosers are replaceable attributes
(`choose_file`, `choose_grant`, `choose_save`) so tests never block on a native dialog.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from PySide6.QtGui import QCloseEvent, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.core.errors import EngineError
from desktop.ui.pack_backend import Enrolment, InstallReport, PackManagerModel, PackRow
from desktop.ui.worker import GeneratorWorker, call_in_worker, lower_thread_priority

SIGNATURE_TEXT = {"valid": "✓ Signed", "invalid": "✗ Signature invalid"}
CHECKING = "Checking packs…"


def _expiry_text(expires: datetime.date | None, today: datetime.date | None = None) -> str:
    if expires is None:
        return "Unknown"
    today = today or datetime.date.today()
    text = expires.isoformat()
    if expires < today:
        return f"Expired {text}"
    if (expires - today).days <= 30:
        return f"{text} (soon)"
    return text


def _whats_new_text(pack: PackRow) -> str:
    """The "what's new in vN" cell: counted in the worker's listing, only formatted here."""
    if pack.signature != "valid":
        return ""
    if pack.whats_new:
        return pack.whats_new
    return "first version" if pack.version == 1 else "not recorded"


def _error_text(error: EngineError) -> str:
    return f"{error.message}\n{error.hint}".strip()


class PackCalls(QObject):
    """Slow calls to the pack model for one dialog, one at a time on the dialog's own pool.

    A result or error comes back on the GUI thread through the worker's signals. An error that is
    not an `EngineError` is a bug and is raised again there (loud in tests).
    """

    busyChanged = Signal(bool)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._workers: set[GeneratorWorker] = set()

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    def run(
        self,
        function: Callable[[], Any],
        on_result: Callable[[Any], None],
        on_error: Callable[[EngineError], None],
    ) -> None:
        def in_background() -> Any:
            lower_thread_priority()  # verifying hundreds of MB never slows the window
            return function()

        worker = call_in_worker(in_background)

        def returned(result: Any) -> None:
            if worker in self._workers:  # not dropped by `shutdown`
                on_result(result)

        def errored(error: BaseException) -> None:
            if worker not in self._workers:
                return
            if not isinstance(error, EngineError):
                raise error
            on_error(error)

        worker.signals.returned.connect(returned)
        worker.signals.errored.connect(errored)
        worker.signals.finished.connect(lambda: self._finished(worker))
        self._workers.add(worker)
        if len(self._workers) == 1:
            self.busyChanged.emit(True)
        self.pool.start(worker)

    def _finished(self, worker: GeneratorWorker) -> None:
        if worker not in self._workers:
            return
        self._workers.discard(worker)
        if not self._workers:
            self.busyChanged.emit(False)

    def shutdown(self) -> None:
        """Drop the results still to come and wait for the call in flight (a pack file being
        verified cannot be cut short)."""
        running = list(self._workers)  # kept alive until the pool is done with them
        self._workers.clear()
        for worker in running:
            worker.cancel()
        self.pool.waitForDone()


class PackDialog(QDialog):
    """A dialog whose pack-model calls run on `self.calls`; closing it never leaves one running."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calls = PackCalls(self)
        self.calls.busyChanged.connect(self._busy_changed)

    @property
    def busy(self) -> bool:
        return self.calls.busy

    def _busy_changed(self, busy: bool) -> None:
        """Override to disable controls while a call runs."""

    def done(self, result: int) -> None:
        self.calls.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.calls.shutdown()  # a hidden dialog is closed without `done`
        super().closeEvent(event)


class PackManagerDialog(PackDialog):
    COLUMNS = (
        "Pack", "Version", "As of", "Signature", "Audiences you can read", "Expires", "Docs",
        "Tested", "What's new",
    )  # fmt: skip

    def __init__(self, model: PackManagerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Document packs")
        self.setAccessibleName("Document packs")
        self.model = model
        self.packs: list[PackRow] = []
        self.choose_file = self._choose_file
        intro = QLabel(
            "Packs are signed sets of your organisation's documents. Your administrator sends "
            "them as files; Enclave verifies each one before reading it."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setAccessibleName("Installed packs")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.checking = QLabel(CHECKING)
        self.checking.setAccessibleName("Progress")
        self.checking.hide()
        self.progress = QProgressBar()  # verification runs on the dialog's worker
        self.progress.setRange(0, 0)  # how long is unknown: a busy bar, never a frozen window
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Checking packs")
        self.progress.setMaximumHeight(self.fontMetrics().height())
        self.progress.hide()
        self.outcome = QLabel()
        self.outcome.setObjectName("resultText")
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        self.outcome.setAccessibleName("Verification result")
        self.install_button = QPushButton("Install from file…")
        self.install_button.clicked.connect(self.install)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.remove_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.install_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.checking)
        layout.addWidget(self.progress)
        layout.addWidget(self.outcome)
        layout.addLayout(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 80, em * 36)
        self.refresh()

    def _busy_changed(self, busy: bool) -> None:
        self.checking.setVisible(busy)
        self.progress.setVisible(busy)
        self.install_button.setEnabled(not busy)
        self.remove_button.setEnabled(not busy and bool(self.packs))

    def refresh(self) -> None:
        """List the packs again (re-verifying each, on the worker)."""
        self.calls.run(self.model.list_packs, self._show_packs, self._list_failed)

    def _list_failed(self, error: EngineError) -> None:
        self._show_error(error)
        self._show_packs([])

    def _show_packs(self, packs: list[PackRow]) -> None:
        self.packs = list(packs)
        self.table.setRowCount(len(self.packs))
        for row, pack in enumerate(self.packs):
            values = [
                pack.pack_id,
                str(pack.version),
                pack.as_of,
                SIGNATURE_TEXT.get(pack.signature, pack.signature),
                ", ".join(pack.audiences) or "none",
                _expiry_text(pack.expires),
                str(pack.documents),
                pack.tested or "not evaluated",
                _whats_new_text(pack),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == 3:
                    item.setToolTip(
                        f"Signed by {pack.signer}" if pack.signature == "valid" else pack.signer
                    )
                if column == 7:
                    item.setToolTip(
                        f"Signed by the administrator into the pack: {pack.tested}"
                        if pack.tested
                        else "This pack carries no signed evaluation summary."
                    )
                if column == 8:
                    item.setToolTip(
                        f"What's new in v{pack.version}, from its signed manifest: documents "
                        "added, changed and removed in the audiences you can read"
                        if pack.whats_new
                        else "This version records no changes (a first version, or built "
                        "before Enclave recorded them)."
                    )
                if (column == 3 and pack.signature != "valid") or (
                    column == 5 and value.startswith("Expired")
                ):
                    item.setForeground(QColor("#d32f2f"))
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.remove_button.setEnabled(bool(self.packs) and not self.busy)
        if not self.packs and not self.outcome.text():
            self.outcome.setText(
                "No packs installed yet. Install the file your administrator sent."
            )

    def _choose_file(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Install a document pack",
            "",
            "Enclave packs and deltas (*.enclavepack *.enclavedelta);;All files (*)",
        )
        return Path(path) if path else None

    def install(self) -> None:
        path = self.choose_file()
        if path is None or self.busy:
            return
        self.calls.run(
            lambda: self.model.install_from_file(path), self._installed, self._install_failed
        )

    def _installed(self, report: InstallReport) -> None:
        lines = [
            f"{'✓' if check.passed else '✗'} {check.label}"
            + (f": {check.detail}" if check.detail else "")
            for check in report.checks
        ]
        self.outcome.setText("\n".join([f"Installed {report.pack_id} v{report.version}", *lines]))
        self.refresh()

    def _install_failed(self, error: EngineError) -> None:
        self._show_error(error)
        self.refresh()

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if row < 0 or row >= len(self.packs) or self.busy:
            return
        pack_id = self.packs[row].pack_id
        self.calls.run(
            lambda: self.model.remove(pack_id), lambda _: self._removed(pack_id), self._show_error
        )

    def _removed(self, pack_id: str) -> None:
        self.outcome.setText(f"Removed {pack_id}.")
        self.refresh()

    def _show_error(self, error: EngineError) -> None:
        self.outcome.setText(_error_text(error))


ENROL_STEPS = (
    "1. Send this request to your administrator (copy it, or save it as a file).\n"
    "2. Import the grant file they send back. Your documents then unlock on this computer."
)
REENROL_STEPS = (
    "Nothing to do unless your roles change or a grant runs out: then send this request to your "
    "administrator again and import the grant they send back."
)


class EnrolmentDialog(PackDialog):
    """First run: show and export the enrolment request, then import the grant the admin returns."""

    def __init__(self, model: PackManagerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enrolment")
        self.setAccessibleName("Enrolment")
        self.model = model
        self.choose_grant = self._choose_grant
        self.choose_save = self._choose_save
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setAccessibleName("Enrolment state")
        self.steps = steps = QLabel(ENROL_STEPS)
        steps.setWordWrap(True)
        self.request = QPlainTextEdit()
        self.request.setReadOnly(True)
        self.request.setAccessibleName("Enrolment request")
        font = self.request.font()
        font.setStyleHint(font.StyleHint.Monospace)
        font.setFamily("monospace")
        self.request.setFont(font)
        self.copy_button = QPushButton("Copy request")
        self.copy_button.clicked.connect(self.copy_request)
        self.save_button = QPushButton("Save request…")
        self.save_button.clicked.connect(self.save_request)
        self.import_button = QPushButton("Import grant…")
        self.import_button.clicked.connect(self.import_grant)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        self.outcome.setAccessibleName("Result")
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.save_button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.state)
        layout.addWidget(steps)
        layout.addWidget(self.request, 1)
        layout.addLayout(row)
        layout.addWidget(self.outcome)
        layout.addWidget(close)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 56, em * 34)
        self._load()

    def _busy_changed(self, busy: bool) -> None:
        self.import_button.setEnabled(not busy)
        has_request = bool(self.request.toPlainText())
        self.copy_button.setEnabled(has_request)
        self.save_button.setEnabled(has_request)

    def _load(self) -> None:
        self.state.setText("Checking enrolment…")
        self.calls.run(self._read, self._show, self._load_failed)

    def _read(self) -> tuple[Enrolment | None, str | EngineError]:
        """Worker side: the grant held, and the request (or why it cannot be made)."""
        enrolled = self.model.enrolled()
        try:
            return enrolled, self.model.enrolment_request()
        except EngineError as exc:
            return enrolled, exc

    def _show(self, loaded: tuple[Enrolment | None, str | EngineError]) -> None:
        enrolled, request = loaded
        if enrolled is not None:
            roles = ", ".join(enrolled.roles) or "no roles"
            self.state.setText(
                f"Enrolled as {enrolled.user} with {roles}"
                + (f", granted by {enrolled.granted_by}" if enrolled.granted_by else "")
                + f", until {enrolled.expires.isoformat()}."
            )
            self.steps.setText(REENROL_STEPS)
        else:
            self.state.setText("This computer is not enrolled yet.")
        if isinstance(request, EngineError):
            self.outcome.setText(_error_text(request))
        else:
            self.request.setPlainText(request)

    def _load_failed(self, error: EngineError) -> None:
        self.state.setText("The enrolment state could not be read.")
        self.outcome.setText(_error_text(error))

    def copy_request(self) -> None:
        QGuiApplication.clipboard().setText(self.request.toPlainText())
        self.outcome.setText("Request copied.")

    def _choose_save(self) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save enrolment request", "enrolment-request.txt", "Text (*.txt)"
        )
        return Path(path) if path else None

    def _choose_grant(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(self, "Import grant", "", "Grants (*.grant);;All (*)")
        return Path(path) if path else None

    def save_request(self) -> None:
        path = self.choose_save()
        if path is None:
            return
        try:
            path.write_text(self.request.toPlainText() + "\n", encoding="utf-8")
        except OSError as exc:
            self.outcome.setText(f"Could not save {path}: {exc.strerror}.")
            return
        self.outcome.setText(f"Saved to {path}. Send this file to your administrator.")

    def import_grant(self) -> None:
        path = self.choose_grant()
        if path is None or self.busy:
            return
        self.calls.run(lambda: self.model.import_grant(path), self._imported, self._import_failed)

    def _imported(self, summary: str) -> None:
        self.outcome.setText(summary)
        self._load()

    def _import_failed(self, error: EngineError) -> None:
        self.outcome.setText(_error_text(error))
