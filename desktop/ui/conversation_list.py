"""The list of past conversations: new, search (full text), rename, pin, delete.

Search runs `ConversationStore.search` through the backend and lists the conversations whose
messages match, with the matching text as a second line; choosing one jumps to that message
(`messageSelected`). Rename is in place (F2 or double-click); pinned conversations stay at the top
(Ctrl+P); delete asks first, because it really deletes.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.core.errors import EngineError
from desktop.engine.storage.conversations import Conversation
from desktop.ui.backend import ChatBackend

ID_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1  # a search hit: the message to jump to
PINNED_ROLE = Qt.ItemDataRole.UserRole + 2
PIN_MARKS = ("📌", "★")  # the first the list's font can draw ("📌" is a box without an emoji font)


def pin_mark(font: QFont) -> str:
    metrics = QFontMetrics(font)
    return next((m for m in PIN_MARKS if metrics.inFontUcs4(ord(m))), "*") + " "


Row = tuple[int, str, str, int | None, bool]  # id, title, second line, message to jump to, pinned


def _when(timestamp: float) -> str:
    today = time.strftime("%Y-%m-%d")
    day = time.strftime("%Y-%m-%d", time.localtime(timestamp))
    return time.strftime("%H:%M" if day == today else "%d %b", time.localtime(timestamp))


class ConversationList(QWidget):
    conversationSelected = Signal(int)
    messageSelected = Signal(int, int)  # conversation id, message id (a search hit)
    newRequested = Signal()
    deleted = Signal(int)
    failed = Signal(object)  # an EngineError to show inline

    def __init__(self, backend: ChatBackend, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.setAccessibleName("Conversations")
        self.new_button = QPushButton("New chat")
        self.new_button.setAccessibleName("New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.newRequested)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search (Ctrl+F)")
        self.search.setToolTip("Search all conversations (Ctrl+F)")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.list = QListWidget()
        self.list.setAccessibleName("Conversation list")
        self.list.setObjectName("conversationList")
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.list.setWordWrap(True)
        self.pin = pin_mark(self.list.font())
        self.list.setUniformItemSizes(False)
        # Titles wrap to the pane: a horizontal scroll bar would only ever scroll empty room.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.itemChanged.connect(self._renamed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setObjectName("mutedNote")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop)

        rename = QAction("Rename", self.list)
        rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
        rename.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        rename.triggered.connect(self.rename_current)
        delete = QAction("Delete", self.list)
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self.delete_current)
        pin = QAction("Pin", self.list)
        pin.setShortcut(QKeySequence("Ctrl+P"))
        pin.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        pin.triggered.connect(self.toggle_pin_current)
        self.list.addActions([rename, delete, pin])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search)
        # Nothing to list: the note says why at the top of the pane, not under an empty list.
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.list, 1)
        self._current: int | None = None
        self._refreshing = False
        self.confirm_delete = self._ask_delete

    # -- content ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._refreshing = True
        self.list.clear()
        if self.backend.history_pending:
            self.empty.setText("Opening your history…")
            self.empty.show()
            self.list.hide()
            self.search.setEnabled(False)
            self._refreshing = False
            return
        self.search.setEnabled(True)
        if not self.backend.history_enabled:
            self.empty.setText("History is off: conversations are not saved on this computer.")
            self.empty.show()
            self.search.setEnabled(False)
            self.list.hide()
            self._refreshing = False
            return
        query = self.search.text().strip()
        try:
            items = self._search(query) if query else self._all()
        except EngineError as exc:
            self._refreshing = False
            self.failed.emit(exc)
            return
        for conversation_id, title, detail, message_id, pinned in items:
            shown = (self.pin if pinned else "") + title
            item = QListWidgetItem(shown if not detail else f"{shown}\n{detail}")
            item.setData(ID_ROLE, conversation_id)
            item.setData(MESSAGE_ROLE, message_id)
            item.setData(PINNED_ROLE, pinned)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, ("Pinned: " if pinned else "") + title)
            item.setToolTip(title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if conversation_id == self._current:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.list.setVisible(bool(self.list.count()))
        if self.list.count():
            self.empty.hide()
        else:
            self.empty.setText(
                f"No conversation mentions “{query}”."
                if query
                else "No conversations yet. Ask a question to start one."
            )
            self.empty.show()
        self._refreshing = False

    def _all(self) -> list[Row]:
        return [
            (c.id, c.title, _when(c.updated), None, c.pinned) for c in self.backend.conversations()
        ]

    def _search(self, query: str) -> list[Row]:
        """One row per matching message (up to 3 a conversation), then title matches."""
        titles: dict[int, Conversation] = {c.id: c for c in self.backend.conversations()}
        rows: list[Row] = []
        per: dict[int, int] = {}
        for message in self.backend.search(query):
            c = titles.get(message.conversation_id)
            if c is None or per.get(c.id, 0) >= 3:
                continue
            per[c.id] = per.get(c.id, 0) + 1
            snippet = " ".join(message.text.split())
            snippet = snippet[:80] + ("…" if len(snippet) > 80 else "")
            who = "You: " if message.role == "user" else ""
            rows.append((c.id, c.title, who + snippet, message.id, c.pinned))
        for c in titles.values():  # titles match too
            if query.lower() in c.title.lower() and c.id not in per:
                rows.append((c.id, c.title, _when(c.updated), None, c.pinned))
        return rows

    def set_current(self, conversation_id: int | None) -> None:
        self._current = conversation_id
        self.list.clearSelection()
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == conversation_id:
                self.list.setCurrentItem(item)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # -- actions --------------------------------------------------------------------------------
    def _activated(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        message_id = item.data(MESSAGE_ROLE)
        if conversation_id is not None and message_id is not None:
            self._current = int(conversation_id)
            self.messageSelected.emit(int(conversation_id), int(message_id))
        elif conversation_id is not None and conversation_id != self._current:
            self._current = int(conversation_id)
            self.conversationSelected.emit(int(conversation_id))

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._refreshing:
            return
        title = item.text().split("\n", 1)[0].strip().removeprefix(self.pin.strip()).strip()
        try:
            if title:
                self.backend.rename(int(item.data(ID_ROLE)), title)
        except EngineError as exc:
            self.failed.emit(exc)
        self.refresh()

    def rename_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._refreshing = True
            item.setText(item.text().split("\n", 1)[0].removeprefix(self.pin))
            self._refreshing = False
            self.list.editItem(item)

    def delete_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        conversation_id = int(item.data(ID_ROLE))
        if not self.confirm_delete(item.text().split("\n", 1)[0].removeprefix(self.pin)):
            return
        try:
            self.backend.delete(conversation_id)
        except EngineError as exc:
            self.failed.emit(exc)
            return
        if conversation_id == self._current:
            self._current = None
        self.deleted.emit(conversation_id)
        self.refresh()

    def toggle_pin_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        try:
            self.backend.set_pinned(int(item.data(ID_ROLE)), not item.data(PINNED_ROLE))
        except EngineError as exc:
            self.failed.emit(exc)
        self.refresh()

    def shutdown(self) -> None:
        """Stop pending work (the search debounce) before the window goes away."""
        self._search_timer.stop()

    def _ask_delete(self, title: str) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete conversation",
            f"Delete “{title}” for good? It cannot be recovered.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def _menu(self, position: Any) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Unpin" if item.data(PINNED_ROLE) else "Pin", self.toggle_pin_current)
        menu.addAction("Rename", self.rename_current)
        menu.addAction("Delete…", self.delete_current)
        menu.exec(self.list.mapToGlobal(position))
