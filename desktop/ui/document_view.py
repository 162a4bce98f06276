"""Shows the document a source comes from, scrolled to the cited passage, highlighted and selected.

Packs carry each document's extracted text (not the original file), so "open original" opens this
read-only view; the passage was re-authorised by the engine before the text reached the UI.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.access import OpenedDocument


class DocumentDialog(QDialog):
    def __init__(self, document: OpenedDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        passage = document.passage
        self.setWindowTitle(document.title or passage.title or "Document")
        where = " · ".join(
            x
            for x in (
                passage.pack,
                f"for {passage.audience}" if passage.audience else "",
                f"as of {passage.as_of}" if passage.as_of else "",
                passage.path,
                passage.location,
            )
            if x
        )
        header = QLabel(where)
        header.setTextFormat(Qt.TextFormat.PlainText)
        header.setWordWrap(True)
        header.setAccessibleName("Where this passage comes from")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Document text")
        self.text.setPlainText(document.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 60, em * 45)
        self.select_passage(passage.char_start, passage.char_end)

    def select_passage(self, start: int, end: int) -> None:
        length = len(self.text.toPlainText())
        start, end = max(0, min(start, length)), max(0, min(end, length))
        cursor = self.text.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        mark = QTextEdit.ExtraSelection()
        tint = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        tint.setAlpha(70)
        mark.format.setBackground(tint)
        mark.cursor = QTextCursor(cursor)
        self.text.setExtraSelections([mark])  # stays visible when the selection goes
        self.text.setTextCursor(cursor)
        self.text.centerCursor()

    def highlighted_passage(self) -> str:
        marks = self.text.extraSelections()
        return marks[0].cursor.selectedText().replace("\u2029", "\n") if marks else ""

    def selected_passage(self) -> str:
        return self.text.textCursor().selectedText().replace("\u2029", "\n")
