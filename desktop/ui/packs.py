"""Pack manager and enrolment screens, built on the `PackManagerModel` protocol (desktop.ui.backend).

The pack engine implements that protocol; until it lands, these widgets are exercised with fakes.
File choosers are replaceable attributes (`choose_file`, `choose_save`) so tests never block on a
native dialog.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.core.errors import EngineError
from desktop.ui.backend import PackManagerModel

SIGNATURE_TEXT = {"valid": "✓ Signed", "invalid": "✗ Signature invalid", "unsigned": "✗ Unsigned"}


def _expiry_text(expires: str, today: datetime.date | None = None) -> str:
    if not expires:
        return "Never"
    today = today or datetime.date.today()
    try:
        day = datetime.date.fromisoformat(expires)
    except ValueError:
        return expires
    if day < today:
        return f"Expired {expires}"
    if (day - today).days <= 30:
        return f"{expires} (soon)"
    return expires


class PackManagerDialog(QDialog):
    COLUMNS = ("Pack", "Version", "As of", "Signature", "Audiences you can read", "Expires", "Docs")

    def __init__(self, model: PackManagerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Document packs")
        self.setAccessibleName("Document packs")
        self.model = model
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
        self.outcome = QLabel()
        self.outcome.setObjectName("resultText")
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        self.outcome.setAccessibleName("Verification result")
        self.install_button = QPushButton("Install from file…")
        self.install_button.clicked.connect(self.install)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
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
        layout.addWidget(self.outcome)
        layout.addLayout(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 80, em * 36)
        self.refresh()

    def refresh(self) -> None:
        try:
            packs = self.model.list_packs()
        except EngineError as exc:
            self._show_error(exc)
            packs = []
        self.table.setRowCount(len(packs))
        for row, pack in enumerate(packs):
            values = [
                str(pack.get("name", "")),
                str(pack.get("version", "")),
                str(pack.get("as_of", "")),
                SIGNATURE_TEXT.get(str(pack.get("signature", "")), str(pack.get("signature", ""))),
                ", ".join(pack.get("audiences", [])) or "none",
                _expiry_text(str(pack.get("expires", ""))),
                str(pack.get("documents", "")),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == 3 and pack.get("signature") == "valid" and pack.get("signer"):
                    item.setToolTip(f"Signed by {pack['signer']}")
                if (column == 3 and pack.get("signature") != "valid") or (
                    column == 5 and value.startswith("Expired")
                ):
                    item.setForeground(QColor("#d32f2f"))
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.remove_button.setEnabled(bool(packs))
        if not packs and not self.outcome.text():
            self.outcome.setText(
                "No packs installed yet. Install the file your administrator sent."
            )

    def _choose_file(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Install a document pack", "", "Enclave packs (*.enclavepack);;All files (*)"
        )
        return Path(path) if path else None

    def install(self) -> None:
        path = self.choose_file()
        if path is None:
            return
        try:
            outcome: dict[str, Any] = self.model.install_from_file(path)
        except EngineError as exc:
            self._show_error(exc)
            self.refresh()
            return
        lines = [
            f"{'✓' if passed else '✗'} {label}" + (f": {detail}" if detail else "")
            for label, passed, detail in outcome.get("checks", [])
        ]
        head = (
            f"Installed {outcome.get('name', path.name)} {outcome.get('version', '')}".strip()
            if outcome.get("ok")
            else f"Not installed: {path.name} failed verification"
        )
        self.outcome.setText("\n".join([head, *lines]))
        self.refresh()

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            return
        cell = self.table.item(row, 0)
        if cell is None:
            return
        name = cell.text()
        try:
            self.model.remove(name)
        except EngineError as exc:
            self._show_error(exc)
        self.outcome.setText(f"Removed {name}.")
        self.refresh()

    def _show_error(self, error: EngineError) -> None:
        self.outcome.setText(f"{error.message}\n{error.hint}".strip())


class EnrolmentDialog(QDialog):
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
        steps = QLabel(
            "1. Send this request to your administrator (copy it, or save it as a file).\n"
            "2. Import the grant file they send back. Your documents then unlock on this computer."
        )
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

    def _load(self) -> None:
        enrolled = self.model.enrolled()
        if enrolled:
            roles = ", ".join(enrolled.get("roles", [])) or "no roles"
            self.state.setText(
                f"Enrolled as {enrolled.get('user', '?')} with {roles}"
                + (f", granted by {enrolled['granted_by']}" if enrolled.get("granted_by") else "")
                + (f", until {enrolled['expires']}" if enrolled.get("expires") else "")
                + "."
            )
        else:
            self.state.setText("This computer is not enrolled yet.")
        try:
            self.request.setPlainText(self.model.enrolment_request())
        except EngineError as exc:
            self.outcome.setText(f"{exc.message}\n{exc.hint}".strip())

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
        if path is None:
            return
        try:
            summary = self.model.import_grant(path)
        except EngineError as exc:
            self.outcome.setText(f"{exc.message}\n{exc.hint}".strip())
            return
        self.outcome.setText(summary)
        self._load()
