"""The main window: conversations on the left, the chat in the middle, sources on the right.

Engine work runs on one dedicated worker thread (one model, one generation at a time): loading the
model and producing answers. The answer state machine (queued, live, finished) is
`answer_controller.AnswerController`; this window lays out the panes, keeps the open conversation's
turns and routes what the controller reports to them. Known engine errors are shown inline with
what to do; anything else is a bug and is re-raised.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.access import Passage
from desktop.engine.core.errors import EngineError, InvalidInput
from desktop.engine.core.text_input import clean_message
from desktop.ui.answer_controller import AnswerController, LiveAnswer
from desktop.ui.backend import ChatBackend, ModelStatus
from desktop.ui.chat_view import ChatView, TurnRecord
from desktop.ui.conversation_export import ConversationExport
from desktop.ui.conversation_list import ConversationList
from desktop.ui.menus import PANE_SHORTCUTS, build_menus, menu_shortcuts, show_shortcuts
from desktop.ui.pack_backend import PackManagerModel
from desktop.ui.prefs import WindowPrefs, load_prefs, save_prefs
from desktop.ui.sources_panel import SourcesPanel
from desktop.ui.theme import SCHEMES, apply_font_size, apply_theme, system_font_size
from desktop.ui.turns import turns_from_messages
from desktop.ui.welcome import WelcomePanel
from desktop.ui.worker import GeneratorWorker, call_in_worker

WAIT_FOR_ANSWER = "Wait for the answer to finish, or stop it (Esc), first."
AI_NOTICE = "Answers come from an AI model on this computer: check important facts."
SAFE_SCHEMES = ("http", "https", "mailto")


def title_of(question: str, limit: int = 60) -> str:
    """A new conversation's title: its first question, cut at a word with "…" when long."""
    text = " ".join(question.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


class ChatInput(QPlainTextEdit):
    """Enter sends, Shift+Enter inserts a new line."""

    submitted = Signal()

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    """Wired by `desktop.app` to a `ChatBackend` (the engine) and, once packs exist, a pack model."""

    packs_action: QAction  # set by `menus.build_menus`
    enrol_action: QAction

    def __init__(
        self,
        backend: ChatBackend,
        packs: PackManagerModel | None = None,
        pool: QThreadPool | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Enclave")
        self.backend = backend
        self.packs = packs
        if pool is None:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)  # one model, one generation at a time
        self._pool = pool
        self._workers: set[GeneratorWorker] = set()
        self.exports = ConversationExport(
            self,
            self,
            backend,
            self._workers,
            lambda: self.chat.add_notice(
                "Nothing to export yet: this conversation is not saved.", kind="info"
            ),
        )
        self._keys = itertools.count(1).__next__
        self._turns: list[TurnRecord] = []
        self._conversation_id: int | None = None
        self._editing: int | None = None  # the key of the turn whose question is being edited
        self.model_ready = False
        self.model_problem: BaseException | None = None
        self.model_status: ModelStatus | None = None
        self.prefs: WindowPrefs = load_prefs()
        system_font_size()  # remembered before a preference changes it
        if self.prefs.font_size:
            apply_font_size(self.prefs.font_size)
        app = QApplication.instance()
        if self.prefs.theme != "system" and isinstance(app, QApplication):
            apply_theme(app, SCHEMES[self.prefs.theme])
        self.private = False  # a private chat: never saved, whatever the preference
        # Replaceable in tests: blocking dialogs.
        self.ask_comment: Callable[[int], str | None] = self._ask_comment
        self.confirm_open: Callable[[QUrl], bool] = self._confirm_open

        self.conversations = ConversationList(backend)
        self.conversations.conversationSelected.connect(self.open_conversation)
        self.conversations.messageSelected.connect(self.jump_to_message)
        self.conversations.newRequested.connect(self.new_chat)
        self.conversations.failed.connect(self.show_error)
        self.conversations.deleted.connect(self._conversation_deleted)

        self.chat = ChatView()
        self.answers = AnswerController(backend, self.chat, self._launch, self)
        self.answers.sourcesReady.connect(self._show_sources_of)
        self.answers.answerFinished.connect(self._answer_finished)
        self.answers.statusChanged.connect(lambda text: self.status_speed.setText(text))
        self.answers.busyChanged.connect(self._update_buttons)
        self.chat.citationClicked.connect(self.show_citation)
        self.chat.actionRequested.connect(self._on_action)
        self.chat.externalLinkRequested.connect(self._open_external)
        self.editing = QLabel(
            "Editing your question: Enter asks it in place of this turn (the earlier version "
            "and the turns after it stay browsable, ‹ 1/2 ›); Esc cancels."
        )
        self.editing.setWordWrap(True)
        self.editing.setObjectName("banner")
        self.editing.hide()
        self.input = ChatInput()
        self.input.setPlaceholderText(
            "Ask about your documents (Enter to send, Shift+Enter for a new line)"
        )
        self.input.setAccessibleName("Message")
        self.input.setTabChangesFocus(True)
        line = self.input.fontMetrics().lineSpacing()
        self.input.setFixedHeight(line * 4 + 12)
        self.input.submitted.connect(self.send)
        self.input_note = QLabel()
        self.input_note.setWordWrap(True)
        self.input_note.setObjectName("banner")
        self.input_note.setAccessibleName("Problem with the message")
        self.input_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.input_note.hide()
        self.input.textChanged.connect(self.input_note.hide)
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send message")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop answering")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)

        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input, 1)
        input_row.addLayout(buttons)
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(4, 8, 4, 8)
        self.welcome = WelcomePanel()
        self.welcome.suggestionClicked.connect(self.ask_suggestion)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.chat)
        center_layout.addWidget(self.pages, 1)
        center_layout.addWidget(self.editing)
        center_layout.addWidget(self.input_note)
        center_layout.addLayout(input_row)

        self.sources = SourcesPanel()
        self.sources.openOriginalRequested.connect(self._open_original)
        for pane in (self.conversations, center, self.sources):
            # Content never widens the window: long text wraps or scrolls inside its pane.
            pane.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            pane.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 12)
        splitter = QSplitter()
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.conversations)
        splitter.addWidget(center)
        splitter.addWidget(self.sources)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        em = self.fontMetrics().horizontalAdvance("M")
        splitter.setSizes([em * 17, em * 50, em * 26])
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.resize(em * 95, em * 58)

        self._build_status_bar()
        self._build_menus()
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._escape)
        self._refresh_welcome()

        self.conversations.refresh()
        self._update_buttons()

    # -- chrome --------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.status_model = QLabel("Loading model…")
        self.status_model.setAccessibleName("Model")
        self.status_speed = QLabel("")
        self.status_speed.setAccessibleName("Answer speed")
        self.status_knowledge = QLabel()
        self.status_knowledge.setAccessibleName("Knowledge date")
        self.status_notice = QLabel(AI_NOTICE)
        self.status_notice.setObjectName("aiNotice")
        self.status_notice.setAccessibleName("AI notice")
        status = QStatusBar()
        # Text that changes while answering (speed) never resizes the window: that label takes
        # the room left and may shrink; the model and knowledge labels change only on load.
        self.status_speed.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status.addWidget(self.status_model)
        status.addWidget(self.status_speed, 1)
        status.addWidget(self.status_knowledge)
        status.addPermanentWidget(self.status_notice)
        self.setStatusBar(status)
        self.refresh_knowledge()

    def refresh_knowledge(self) -> None:
        as_of = self.backend.knowledge_as_of()
        count = self.backend.readable_packs()  # already open: no re-verification on the GUI thread
        if as_of:
            self.status_knowledge.setText(
                f"Knowledge as of {as_of} · {count} pack{'s' if count != 1 else ''}"
            )
        elif not self.model_ready:
            self.status_knowledge.setText("Opening document packs…")
        else:
            self.status_knowledge.setText("No document packs yet: answers use the model only")

    def _build_menus(self) -> None:
        build_menus(self)

    def shortcuts(self) -> list[tuple[str, str]]:
        """(keys, what) for every shortcut: the menus' own, then those of the panes."""
        return menu_shortcuts(self.menuBar()) + PANE_SHORTCUTS

    def open_shortcuts(self) -> None:
        show_shortcuts(self, self.shortcuts())

    def last_turn_action(self, action: str) -> None:
        if self._turns and self.pages.currentWidget() is self.chat:
            self._on_action(action, self._turns[-1].key)

    def focus_list(self) -> None:
        self.conversations.list.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_input(self) -> None:
        self.input.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def zoom(self, step: int) -> None:
        """Larger (+1), smaller (-1) or the system's text size (0); kept in the preferences."""
        size = 0
        if step:
            size = (self.prefs.font_size or round(system_font_size())) + step
        self.apply_prefs(replace(self.prefs, font_size=size))

    def apply_prefs(self, prefs: WindowPrefs) -> None:
        previous, self.prefs = self.prefs, prefs.checked()
        save_prefs(self.prefs)
        apply_font_size(self.prefs.font_size)
        app = QApplication.instance()
        if isinstance(app, QApplication) and self.prefs.theme != previous.theme:
            apply_theme(app, SCHEMES[self.prefs.theme])
        self._refresh_welcome()

    # -- model loading -------------------------------------------------------------------------
    def start_loading(self) -> None:
        """On the engine worker, in order: open the stores (history, audit log), then load the
        model and packs. The window is usable meanwhile; a question waits in the queue."""
        self.model_ready = False
        self.model_problem = None
        self.status_model.setText("Loading model…")
        stores = call_in_worker(self.backend.open_stores)
        stores.signals.returned.connect(self._stores_opened)
        stores.signals.errored.connect(self.show_error)
        self._launch(stores)
        worker = call_in_worker(self.backend.load_model)
        worker.signals.returned.connect(self._model_loaded)
        worker.signals.errored.connect(self._model_failed)
        self._launch(worker)

    def _stores_opened(self, problem: EngineError | None) -> None:
        self.conversations.refresh()
        if problem is not None:
            self.show_notice(problem, "History is off: nothing will be saved.")

    def _model_loaded(self, status: ModelStatus) -> None:
        self.model_ready = True
        self.model_status = status
        self.status_model.setText(status.describe())
        self.status_model.setToolTip(f"Context window: {status.n_ctx} tokens")
        self.refresh_knowledge()  # packs are opened behind the model, on the engine thread
        self._refresh_welcome()
        if self.backend.welcome().packs:
            self.welcome.finding_suggestions()
            suggestions = call_in_worker(self.backend.prepare_welcome)
            suggestions.signals.returned.connect(lambda _welcome: self._refresh_welcome())
            suggestions.signals.errored.connect(self._suggestions_failed)
            self._launch(suggestions)
        for problem in self.backend.knowledge_problems:
            self.show_notice(problem, "A document pack is not usable.")
        self.answers.model_loaded()

    def _suggestions_failed(self, error: BaseException) -> None:
        self._refresh_welcome()
        self.show_error(error)

    def _model_failed(self, error: BaseException) -> None:
        self.status_model.setText("Model not loaded")
        self.model_problem = error
        self.welcome.model_failed()
        self.answers.model_failed()
        self.show_error(error)

    # -- asking --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.answers.busy

    def send(self) -> None:
        question = self.input.toPlainText().strip()
        if not question:
            return
        if self.busy:
            self.statusBar().showMessage(WAIT_FOR_ANSWER, 4000)
            return
        try:
            clean_message(question)  # e.g. too long: said now, the text stays to be shortened
        except InvalidInput as exc:  # said under the message box, until the text changes
            self.input_note.setText(f"{exc.message} {exc.hint}".strip())
            self.input_note.show()
            return
        if self.model_problem is not None:
            self.chat.add_notice(
                "The model is not loaded, so this can't be answered yet.",
                "Fix the problem shown above, then choose a model in Tools › Settings.",
            )
            return
        editing = self._turn(self._editing) if self._editing is not None else None
        if editing is not None and editing.replaceable:
            self.replace_turn(editing, question)
        else:
            self.ask(question)

    def ask(self, question: str) -> None:
        """Start a turn in the open conversation (creating it on the first question)."""
        if self._conversation_id is None and self.saving:
            try:
                self._conversation_id = self.backend.create_conversation(title_of(question))
            except EngineError as exc:
                self.show_error(exc)
                return
            self.conversations.set_current(self._conversation_id)
            self.conversations.refresh()
        self.input.clear()
        self._stop_editing()
        record = TurnRecord(self._keys(), question)
        self._turns.append(record)
        self._show_chat()
        self.chat.add_question(question, record.key)
        self.answers.submit(record, self._conversation_id)

    def replace_turn(self, turn: TurnRecord, question: str) -> None:
        """Regenerate (same question) or edit (new question) any turn: a new version replaces it
        on screen and in what the model sees. The turns after it were asked under the version
        being replaced: they stay with it (browse back to it, ‹ 1/2 ›, to see them again), so the
        model answers the new version from the turns before it only."""
        if turn not in self._turns:
            return
        if self.busy:
            self.statusBar().showMessage(WAIT_FOR_ANSWER, 4000)
            return
        turn_id = turn.turn_id
        if turn.question_id is not None and self._conversation_id is not None:
            try:
                turn_id = self.backend.hide_version(turn.question_id)  # and the turns after it
            except EngineError as exc:
                self.show_error(exc)
                return
        index = self._turns.index(turn)
        versions = turn.all_versions()
        record = TurnRecord(self._keys(), question, turn_id=turn_id, versions=versions)
        versions.append(record)
        for version in versions:
            version.versions = versions
        turn.following = self._turns[index + 1 :]
        self._turns = [*self._turns[:index], record]
        self.input.clear()
        self._stop_editing()
        self._render()
        self.answers.submit(record, self._conversation_id)

    def show_version(self, turn: TurnRecord, step: int) -> None:
        """Browse a turn's versions (< 1/2 >); the one shown, with the turns asked under it, is
        what the model sees next."""
        versions = turn.all_versions()
        index = versions.index(turn) + step
        live = self.answers.live
        if not 0 <= index < len(versions) or turn not in self._turns:
            return
        if self.busy:
            self.statusBar().showMessage(WAIT_FOR_ANSWER, 4000)
            return
        if live is not None and live.record in versions:
            return
        shown = versions[index]
        if shown.question_id is not None and self._conversation_id is not None:
            try:
                self.backend.select_version(shown.question_id)
            except EngineError as exc:
                self.show_error(exc)
                return
            # the history's current path now runs through `shown`: the turns after it are its own
            self.open_conversation(self._conversation_id)
            shown = next((t for t in self._turns if t.question_id == shown.question_id), shown)
        else:  # a chat not saved: the later turns were set aside on the version itself
            position = self._turns.index(turn)
            turn.following = self._turns[position + 1 :]
            self._turns = [*self._turns[:position], shown, *shown.following]
            self._render()
        if shown in self._turns:
            self.chat.scrollToAnchor(f"turn-{shown.key}")
        if shown.citations or shown.refs:
            self._show_sources_of(shown)
        else:
            self.sources.clear_sources()

    def _answer_finished(self, live: LiveAnswer) -> None:
        record = live.record
        self._keep_version(live)
        if live.visible and (record.citations or record.verdict):
            self._show_sources_of(record)
        if live.conversation_id is not None:
            self.conversations.refresh()

    def _keep_version(self, live: LiveAnswer) -> None:
        """A new version of a turn is linked to the turn in history once it is recorded; one that
        was never recorded gives the turn back its previous version."""
        record = live.record
        versions = record.all_versions()
        if live.conversation_id is None or len(versions) < 2 or record.turn_id is None:
            return
        earlier = [v.question_id for v in versions if v is not record and v.question_id]
        try:
            if record.question_id is not None:
                self.backend.add_version(record.question_id, record.turn_id)
                return
            if not earlier:
                return
            self.backend.select_version(earlier[-1])
        except EngineError as exc:
            self.show_error(exc)
            return
        if live.visible and live.conversation_id == self._conversation_id:
            # Not recorded: the history gives the turn its previous version (and the turns after
            # it) back; the screen shows the same, then why.
            self.open_conversation(live.conversation_id)
            if record.error:
                self.chat.add_notice(record.error, "The earlier version of this turn is shown.")

    def stop(self) -> None:
        self.answers.stop()

    def _escape(self) -> None:
        if self.busy:
            self.stop()
        elif self.editing.isVisible():
            self._stop_editing()
            self.input.clear()

    def _stop_editing(self) -> None:
        self._editing = None
        self.editing.hide()

    def _update_buttons(self) -> None:
        self.stop_button.setEnabled(self.busy)
        self.send_button.setEnabled(not self.busy)

    # -- conversations -------------------------------------------------------------------------
    def new_chat(self, private: bool = False) -> None:
        self.private = private
        self._conversation_id = None
        self._turns = []
        self.answers.show_conversation(None)
        self.chat.clear_view()
        self.sources.clear_sources()
        self.conversations.set_current(None)
        self._stop_editing()
        self._refresh_welcome()
        self.input.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        try:
            messages = self.backend.messages(conversation_id)
        except EngineError as exc:
            self.show_error(exc)
            return
        self._conversation_id = conversation_id
        self.private = False
        self._stop_editing()
        self.conversations.set_current(conversation_id)
        live = self.answers.show_conversation(conversation_id)
        self._turns = turns_from_messages(
            messages, self._keys, live.record if live is not None else None
        )
        turns = self._turns
        self._render()
        last = next((t for t in reversed(turns) if t.refs), None)
        if last is not None:
            self._show_sources_of(last)
        else:
            self.sources.clear_sources()

    def jump_to_message(self, conversation_id: int, message_id: int) -> None:
        """A search result: open its conversation, show the turn it belongs to, scroll there."""
        if conversation_id != self._conversation_id:
            self.open_conversation(conversation_id)
        for turn in list(self._turns):
            for version in turn.all_versions():
                if message_id in (version.question_id, version.message_id):
                    if version is not turn and version.question_id is not None and not self.busy:
                        # another version (search finds the current ones; history may have
                        # moved on): select it in history, with the turns asked under it
                        try:
                            self.backend.select_version(version.question_id)
                        except EngineError as exc:
                            self.show_error(exc)
                            return
                        self.open_conversation(conversation_id)
                        version = next(
                            (t for t in self._turns if t.question_id == version.question_id),
                            version,
                        )
                    self.chat.scrollToAnchor(f"turn-{version.key}")
                    self.chat.flash_turn(version.key)
                    if version.refs:
                        self._show_sources_of(version)
                    return

    def _render(self) -> None:
        """Rebuild the view for the open conversation (on open or theme change, never per token)."""
        self.chat.clear_view()
        live = self.answers.live if self.answers.live and self.answers.live.visible else None
        for turn in self._turns:
            if turn.question:
                self.chat.add_question(turn.question, turn.key)
            if live is not None and turn is live.record:
                self.chat.begin_answer(turn.key, turn.answer)
            elif turn.finished:
                self.chat.add_answer(turn)
                if turn.error:
                    self.chat.add_notice(turn.error)
        bar = self.chat.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._refresh_welcome()

    # -- the empty state -------------------------------------------------------------------------
    @property
    def saving(self) -> bool:
        """New questions go into the history (on, not a private chat, saving preferred)."""
        return self.backend.history_enabled and self.prefs.save_history and not self.private

    def _show_chat(self) -> None:
        self.pages.setCurrentWidget(self.chat)

    def _refresh_welcome(self) -> None:
        """The welcome page while the open conversation has no turns; the chat otherwise."""
        self.welcome.show_welcome(
            self.backend.welcome(),
            history_on=self.backend.history_enabled,
            saving=self.prefs.save_history,
            private=self.private,
        )
        if self.model_problem is not None:
            self.welcome.model_failed()
        if self._turns or self.chat.streaming:
            self._show_chat()
        else:
            self.pages.setCurrentWidget(self.welcome)

    def ask_suggestion(self, question: str) -> None:
        if self.busy or self.model_problem is not None:
            return
        self.input.setPlainText(question)
        self.send()

    def _conversation_deleted(self, conversation_id: int) -> None:
        live = self.answers.live
        if live is not None and live.conversation_id == conversation_id:
            self.stop()
        if conversation_id == self._conversation_id:
            self.new_chat()

    def export_conversation(self) -> None:
        self.exports.ask_where(self._conversation_id)

    def export_to(self, path: str) -> bool:
        """The open conversation as Markdown, PDF or JSON (`conversation_export`)."""
        if self._conversation_id is None:
            return False
        return self.exports.write(self._conversation_id, path)

    @property
    def exporting(self) -> bool:
        """A PDF is being typeset (on its own worker thread)."""
        return self.exports.busy

    # -- per-answer actions --------------------------------------------------------------------
    def _turn(self, key: int) -> TurnRecord | None:
        return next((t for t in self._turns if t.key == key), None)

    def _on_action(self, action: str, key: int) -> None:
        turn = self._turn(key)
        if turn is None:
            return
        if action == "copy":
            QGuiApplication.clipboard().setText(self.copy_text(turn))
            self.statusBar().showMessage("Answer copied with its sources", 2000)
        elif action == "regenerate" and turn.question and turn.replaceable and not turn.refused:
            self.replace_turn(turn, turn.question)
        elif action == "edit" and turn.question and turn.replaceable:
            self._editing = turn.key
            self.input.setPlainText(turn.question)
            self.input.moveCursor(self.input.textCursor().MoveOperation.End)
            self.editing.show()
            self.input.setFocus()
        elif action in ("prev", "next"):
            self.show_version(turn, -1 if action == "prev" else 1)
        elif action == "sources":
            self._show_sources_of(turn)
        elif action in ("up", "down"):
            self.give_feedback(turn, 1 if action == "up" else -1)

    def copy_text(self, turn: TurnRecord) -> str:
        """The answer and, under it, each source it cites as the access choke point describes
        it now (`[n] title › heading, page (pack, as of)`); a source no longer readable says so."""
        if turn.passages is None and turn.refs:
            try:
                turn.passages = self.backend.resolve_citations(turn.refs)
            except EngineError:
                turn.passages = None
        cited = {int(n) for n in re.findall(r"\[(\d{1,3})\]", turn.answer)}
        lines = []
        for passage in turn.citations:
            if cited and passage.n not in cited:
                continue
            if not passage.available:
                lines.append(f"[{passage.n}] (no longer available to you)")
                continue
            where = " › ".join(part for part in (passage.title, passage.heading) if part)
            if passage.location:
                where += f", {passage.location}"
            pack = ", ".join(
                p for p in (passage.pack_title, passage.as_of and f"as of {passage.as_of}") if p
            )
            lines.append(f"[{passage.n}] {where}" + (f" ({pack})" if pack else ""))
        if not lines:
            return turn.answer
        return turn.answer.rstrip() + "\n\nSources:\n" + "\n".join(lines)

    def give_feedback(self, turn: TurnRecord, vote: int) -> None:
        if turn.message_id is None:
            return
        if turn.vote == vote:
            vote, comment = 0, ""
        else:
            asked = self.ask_comment(vote)
            if asked is None:
                return
            comment = asked
        try:
            self.backend.set_feedback(turn.message_id, vote, comment)
        except EngineError as exc:
            self.show_error(exc)
            return
        turn.vote = vote
        self.chat.update_actions(turn)
        self.statusBar().showMessage("Thanks: feedback saved on this computer", 3000)

    def _ask_comment(self, vote: int) -> str | None:
        label = "What was good? (optional)" if vote > 0 else "What was wrong? (optional)"
        text, ok = QInputDialog.getMultiLineText(self, "Feedback", label)
        return text if ok else None

    # -- sources -------------------------------------------------------------------------------
    def _show_sources_of(self, turn: TurnRecord, selected: int | None = None) -> None:
        if turn.passages is None and turn.refs:  # from history: re-authorise first
            turn.passages = self.backend.resolve_citations(turn.refs)
        self.sources.show_sources(
            turn.citations,
            turn.answer,
            turn.verdict,
            selected,
            self._restricted_hint(),
            searched=turn.searched,
        )

    def _restricted_hint(self) -> str:
        """Said beside an abstention only when the policy allows saying restricted material
        exists, and a pack does have audiences this user cannot read."""
        welcome = self.backend.welcome()
        if not welcome.say_restricted_exists or not any(p.restricted for p in welcome.packs):
            return ""
        return (
            "Some documents are for audiences you can't read; if you need them, ask your "
            "administrator for access."
        )

    def show_citation(self, key: int, n: int) -> None:
        turn = self._turn(key)
        if turn is None:
            return
        self._show_sources_of(turn, n)
        self.sources.select(n)
        passage = next((p for p in turn.citations if p.n == n and p.available), None)
        if passage is not None:
            self._open_original(passage)  # the chip opens the passage, highlighted in place

    def _open_original(self, passage: Passage) -> None:
        """The whole document a source comes from, re-authorised, scrolled to the passage."""
        try:
            document = self.backend.document_of(passage)
        except EngineError as error:
            self.show_error(error)
            return
        from desktop.ui.document_view import DocumentDialog

        previous = getattr(self, "document_dialog", None)
        if previous is not None:
            previous.close()
        self.document_dialog = DocumentDialog(document, self)
        self.document_dialog.show()

    def _open_external(self, url: QUrl) -> None:
        if url.scheme().lower() not in SAFE_SCHEMES:
            self.statusBar().showMessage(f"Blocked a {url.scheme() or 'relative'}: link", 4000)
            return
        if self.confirm_open(url):
            QDesktopServices.openUrl(url)

    def _confirm_open(self, url: QUrl) -> bool:
        answer = QMessageBox.question(
            self,
            "Open link",
            f"Open this link in your browser?\n\n{url.toString()}\n\n"
            "It leaves Enclave: the page is not checked by your organisation.",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Open

    # -- dialogs ---------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.backend, self, self.prefs)
        if not dialog.exec():
            return
        if dialog.prefs != self.prefs:
            self.apply_prefs(dialog.prefs)
        if dialog.model_changed and not self.busy:
            self.start_loading()

    def open_about(self) -> None:
        from desktop.ui.about_dialog import AboutDialog

        AboutDialog(self.backend.models(), self.packs, self, self.backend.welcome().audit).exec()

    def open_packs(self) -> None:
        if self.packs is None:
            return
        from desktop.ui.packs import PackManagerDialog

        PackManagerDialog(self.packs, self).exec()
        self.refresh_knowledge()

    def open_enrolment(self) -> None:
        if self.packs is None:
            return
        from desktop.ui.packs import EnrolmentDialog

        EnrolmentDialog(self.packs, self).exec()

    # -- errors and notices ----------------------------------------------------------------------
    def show_error(self, error: BaseException) -> None:
        if not isinstance(error, EngineError):
            raise error
        self.notify(error.message, error.hint, kind="error")

    def show_notice(self, error: EngineError, consequence: str) -> None:
        """A known problem the app can run with (e.g. no keyring: history off)."""
        self.notify(f"{consequence} {error.message}", error.hint)

    def notify(self, text: str, hint: str = "", *, kind: str = "warning") -> None:
        """A notice about the app, not about one answer: inline in the chat and, while the chat
        is still empty, on the welcome page (problems only). An answer's own notices (a guardrail
        rule, an answer that could not be made) stay with that answer: `chat.add_notice`."""
        self.chat.add_notice(text, hint, kind=kind)
        self.welcome.add_note(text, hint, kind)

    # -- lifecycle -------------------------------------------------------------------------------
    def _launch(self, worker: GeneratorWorker) -> None:
        self._workers.add(worker)
        worker.signals.finished.connect(lambda: self._workers.discard(worker))
        self._pool.start(worker)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._render()
            self.sources.refresh()
        super().changeEvent(event)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop and wait for every worker (called on quit and by tests)."""
        self.answers.shutdown()
        for worker in list(self._workers):
            worker.cancel()
        self._pool.waitForDone(int(timeout_s * 1000))
        self.exports.wait(int(timeout_s * 1000))
        for worker in list(self._workers):  # deliver their last signals now, not after we are gone
            if worker.wait(0):
                QCoreApplication.sendPostedEvents(worker.signals, QEvent.Type.MetaCall)
        self.conversations.shutdown()

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
