"""What an empty chat shows: who you are, what you can ask about, and what the assistant is.

Shown on first run and whenever a conversation has no turns yet: the local user and their roles,
each pack with the audiences they can read and how fresh it is, a few suggested questions (from
passages the access choke point returned for this user: never from a document they may not read),
and the notice that this is an AI running on this computer, what it keeps and how to keep nothing.
Every text is plain (`Qt.PlainText`): pack titles and headings are data, never markup.
"""

from __future__ import annotations

import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.backend import PackSummary, Welcome

NOTICE = (
    "Enclave is an AI assistant: a language model writes the answers from your organisation's "
    "documents, and it can be wrong, so check the cited sources before relying on an answer. "
    "It runs entirely on this computer: no question, answer or document leaves it."
)


def kept_text(history_on: bool, saving: bool, audit: str = "") -> str:
    """What is kept: history, then the audit log as `audit.notice` describes it."""
    audit = audit or (
        "Your organisation's policy may keep an audit log of questions and the sources used."
    )
    if not history_on:
        return (
            "History is off on this computer (no secure keyring), so conversations are not "
            f"saved. {audit}"
        )
    kept = (
        "Kept on this computer, encrypted: your conversation history"
        + (
            " (new conversations are not saved: Settings › Save conversations)"
            if not saving
            else ""
        )
        + "."
    )
    return (
        kept + " To keep no history: Tools › Settings › untick “Save conversations”, or start a "
        f"private chat (File › New private chat, Ctrl+Shift+N), which is never saved. {audit}"
    )


def freshness(pack: PackSummary, today: datetime.date | None = None) -> str:
    today = today or datetime.date.today()
    parts = [f"as of {pack.as_of}" if pack.as_of else "date unknown"]
    try:
        as_of = datetime.date.fromisoformat(pack.as_of[:10])
        days = (today - as_of).days
        if days > 365:
            parts.append(f"{days // 30} months old")
    except ValueError:
        pass
    if pack.expiry == "expired":
        parts.append(f"EXPIRED {pack.expires[:10]}: ask your administrator for a new version")
    elif pack.expiry == "expiring":
        parts.append(f"expires soon ({pack.expires[:10]})")
    elif pack.expires:
        parts.append(f"valid until {pack.expires[:10]}")
    return " · ".join(parts)


def pack_line(pack: PackSummary, say_restricted: bool) -> str:
    readable = ", ".join(pack.readable) if pack.readable else "none of its audiences"
    line = f"{pack.title}: you can read {readable} ({freshness(pack)})"
    if pack.restricted and say_restricted:
        line += (
            f". {pack.restricted} more audience{'s are' if pack.restricted > 1 else ' is'} "
            "restricted: ask your administrator for access if you need it"
        )
    return line


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    if name:
        label.setAccessibleName(name)
    return label


class WelcomePanel(QScrollArea):
    """`suggestionClicked(question)` asks the window to ask it."""

    suggestionClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Welcome")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        self.title = _label("Ask about your documents", "Welcome title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.who = _label("", "Who you are")
        self.packs = _label("", "Your document packs")
        self.try_label = _label("Try asking:", "Suggested questions")
        self.suggestions_box = QVBoxLayout()
        self.suggestions_box.setSpacing(4)
        self.notice = _label(NOTICE, "About this assistant")
        self.notice.setObjectName("banner")
        self.kept = _label("", "What is kept")
        self.kept.setObjectName("mutedNote")
        self.buttons: list[QPushButton] = []
        self.notes: list[QLabel] = []  # problems the app runs with (history off, a bad pack)
        self.notes_box = QVBoxLayout()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(10)
        layout.addLayout(self.notes_box)
        layout.addWidget(self.title)
        layout.addWidget(self.who)
        layout.addWidget(self.packs)
        layout.addWidget(self.try_label)
        layout.addLayout(self.suggestions_box)
        layout.addSpacing(8)
        layout.addWidget(self.notice)
        layout.addWidget(self.kept)
        layout.addStretch(1)
        self.setWidget(body)
        self.show_welcome(Welcome(), history_on=True, saving=True)

    def add_note(self, text: str, hint: str = "", kind: str = "warning") -> None:
        """A notice of the chat (shown there too), visible while the chat is still empty."""
        if kind == "info" or any(n.text().startswith(text) for n in self.notes):
            return
        note = _label(f"{text}\n{hint}".strip(), "Problem" if kind == "error" else "Warning")
        note.setObjectName("banner")
        self.notes_box.addWidget(note)
        self.notes.append(note)

    def model_failed(self) -> None:
        """The model did not load: say so instead of "Opening the model…" (the reason and what
        to do are in the notice below)."""
        self.packs.setText("The model could not be loaded, so questions cannot be answered yet.")
        self.try_label.hide()

    def finding_suggestions(self) -> None:
        if not self.buttons:
            self.try_label.setText("Finding questions your documents can answer…")
            self.try_label.show()

    def show_welcome(
        self, welcome: Welcome, *, history_on: bool, saving: bool, private: bool = False
    ) -> None:
        roles = f" · roles: {', '.join(welcome.roles)}" if welcome.roles else ""
        if welcome.user or welcome.ready:
            who = f"You are {welcome.user or 'the local user'} on this computer{roles}."
        else:  # the enrolment is read behind the window, with the packs
            who = "Reading who you are and what you may read…"
        if private:
            who += " This is a private chat: it is not saved."
        self.who.setText(who)
        if not welcome.ready:
            self.packs.setText("Opening the model and your document packs…")
        elif not welcome.packs:
            self.packs.setText(
                "No document packs are installed yet, so answers come from the model alone. "
                "Your administrator hands packs out; install one in Tools › Document packs."
            )
        else:
            self.packs.setText(
                "Your documents:\n"
                + "\n".join(
                    "• " + pack_line(p, welcome.say_restricted_exists) for p in welcome.packs
                )
            )
        if [b.property("question") for b in self.buttons] != list(welcome.suggestions):
            self._show_suggestions(welcome.suggestions)
        self.try_label.setText("Try asking:")
        self.try_label.setVisible(bool(self.buttons))
        self.kept.setText(kept_text(history_on, saving and not private, welcome.audit))

    def _show_suggestions(self, suggestions: tuple[str, ...]) -> None:
        for button in self.buttons:
            button.hide()
            self.suggestions_box.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for question in suggestions:
            button = QPushButton(question.replace("&", "&&"))
            button.setObjectName("suggestion")
            button.setAccessibleName(f"Ask: {question}")
            button.setToolTip("Ask this question")
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            button.clicked.connect(
                lambda _checked=False, q=question: self.suggestionClicked.emit(q)
            )
            self.suggestions_box.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
            button.setProperty("question", question)
            self.buttons.append(button)
