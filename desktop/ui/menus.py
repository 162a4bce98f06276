"""The window's menus: every command is a menu action with its shortcut, and Help › Keyboard
shortcuts lists them from the menus themselves (plus the keys the panes handle), so the list cannot
drift from what the keys do."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QMessageBox, QWidget

if TYPE_CHECKING:
    from desktop.ui.main_window import MainWindow

PANE_SHORTCUTS = [
    ("Enter", "Send the message"),
    ("Shift+Enter", "New line in the message"),
    ("Esc", "Stop the answer, or cancel editing"),
    ("Tab / Shift+Tab", "Move between controls and the links of an answer"),
    ("F2", "Rename the selected conversation"),
    ("Del", "Delete the selected conversation (asks first)"),
    ("Ctrl+P", "Pin or unpin the selected conversation"),
]


def build_menus(window: MainWindow) -> None:
    """File, Chat, View, Tools, Help; `window.packs_action` and `window.enrol_action` are kept."""
    bar = window.menuBar()
    key = QKeySequence
    file_menu = bar.addMenu("&File")
    file_menu.addAction("&New chat", key(key.StandardKey.New), window.new_chat)
    file_menu.addAction(
        "New &private chat (not saved)", key("Ctrl+Shift+N"), lambda: window.new_chat(True)
    )
    file_menu.addAction("&Export conversation…", key("Ctrl+Shift+E"), window.export_conversation)
    file_menu.addSeparator()
    file_menu.addAction("&Quit", key(key.StandardKey.Quit), window.close)
    chat = bar.addMenu("&Chat")
    chat.addAction(
        "&Regenerate last answer", key("Ctrl+R"), lambda: window.last_turn_action("regenerate")
    )
    chat.addAction("&Edit last question", key("Ctrl+E"), lambda: window.last_turn_action("edit"))
    chat.addAction(
        "&Copy last answer", key("Ctrl+Shift+C"), lambda: window.last_turn_action("copy")
    )
    chat.addAction("Pre&vious version", key("Alt+Left"), lambda: window.last_turn_action("prev"))
    chat.addAction("Ne&xt version", key("Alt+Right"), lambda: window.last_turn_action("next"))
    chat.addSeparator()
    chat.addAction(
        "&Search conversations", key(key.StandardKey.Find), window.conversations.focus_search
    )
    chat.addAction("Go to conversation &list", key("Ctrl+1"), window.focus_list)
    chat.addAction("Go to &message box", key("Ctrl+2"), window.focus_input)
    chat.addAction("Go to s&ources", key("Ctrl+3"), window.sources.view.setFocus)
    view = bar.addMenu("&View")
    view.addAction("&Larger text", key(key.StandardKey.ZoomIn), lambda: window.zoom(1))
    view.addAction("&Smaller text", key(key.StandardKey.ZoomOut), lambda: window.zoom(-1))
    view.addAction("&Default text size", key("Ctrl+0"), lambda: window.zoom(0))
    tools = bar.addMenu("&Tools")
    window.packs_action = tools.addAction("Document &packs…", window.open_packs)
    window.enrol_action = tools.addAction("&Enrolment…", window.open_enrolment)
    for action in (window.packs_action, window.enrol_action):
        action.setEnabled(window.packs is not None)
    tools.addSeparator()
    tools.addAction("&Settings…", key(key.StandardKey.Preferences), window.open_settings)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(
        "&Keyboard shortcuts", key(key.StandardKey.HelpContents), window.open_shortcuts
    )
    help_menu.addAction("&About Enclave", window.open_about)


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str]]:
    """(keys, what) of every menu action that has a shortcut, in menu order."""
    found: list[tuple[str, str]] = []
    for menu_action in bar.actions():
        menu = menu_action.menu()
        for action in menu.actions() if isinstance(menu, QMenu) else []:
            if not action.shortcut().isEmpty():
                what = action.text().replace("&", "").rstrip("…")
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                found.append((keys, what))
    return found


def show_shortcuts(parent: QWidget, rows: list[tuple[str, str]]) -> None:
    table = "".join(
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(w)}</td></tr>" for k, w in rows
    )
    box = QMessageBox(parent)
    box.setWindowTitle("Keyboard shortcuts")
    box.setAccessibleName("Keyboard shortcuts")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(f"<table cellpadding='3'>{table}</table>")
    box.exec()
