"""The main window: conversations on the left, the chat in the middle, sources on the right.

Engine work runs on one dedicated worker thread (one model, one generation at a time): loading the
model and producing answers. The answer state machine (queued, live, finished) is
`answer_controller.AnswerController`; this window lays out the panes, keeps the open conversation's
turns and routes what the controller reports to them. Known engine errors are shown inline with
what to do; anything else is a bug and is re-raised.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.access import CitationRef, Passage
from desktop.engine.core.errors import EngineError
from desktop.engine.storage.conversations import Message
from desktop.ui.answer_controller import AnswerController, LiveAnswer
from desktop.ui.backend import ChatBackend, ModelStatus
from desktop.ui.chat_view import ChatView, TurnRecord
from desktop.ui.conversation_list import ConversationList
from desktop.ui.pack_backend import PackManagerModel
from desktop.ui.sources_panel import SourcesPanel
from desktop.ui.worker import GeneratorWorker, call_in_worker

AI_NOTICE = "Answers come from an AI model on this computer: check important facts."
SAFE_SCHEMES = ("http", "https", "mailto")


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


def turns_from_messages(messages: list[Message], keys: Callable[[], int]) -> list[TurnRecord]:
    turns: list[TurnRecord] = []
    for message in messages:
        if message.role == "user":
            turns.append(TurnRecord(keys(), message.text))
        elif message.role == "assistant":
            if not turns or turns[-1].finished:
                turns.append(TurnRecord(keys(), ""))
            turn = turns[-1]
            turn.answer = message.text
            turn.refs = [CitationRef.from_dict(c) for c in message.citations if isinstance(c, dict)]
            turn.message_id = message.id
            turn.vote = message.feedback or 0
            turn.stopped = message.metrics.get("finish_reason") == "cancelled"
            turn.finished = True
    for turn in turns:
        turn.finished = True
    return turns


class MainWindow(QMainWindow):
    """Wired by `desktop.app` to a `ChatBackend` (the engine) and, once packs exist, a pack model."""

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
        self._keys = itertools.count(1).__next__
        self._turns: list[TurnRecord] = []
        self._conversation_id: int | None = None
        self.model_ready = False
        self.model_problem: BaseException | None = None
        self.model_status: ModelStatus | None = None
        # Replaceable in tests: blocking dialogs.
        self.ask_comment: Callable[[int], str | None] = self._ask_comment
        self.confirm_open: Callable[[QUrl], bool] = self._confirm_open

        self.conversations = ConversationList(backend)
        self.conversations.conversationSelected.connect(self.open_conversation)
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
        self.editing = QLabel("Editing a question: Enter sends it as a new message, Esc cancels.")
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
        center_layout.addWidget(self.chat, 1)
        center_layout.addWidget(self.editing)
        center_layout.addLayout(input_row)

        self.sources = SourcesPanel()
        self.sources.openOriginalRequested.connect(self._open_original)
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
        QShortcut(QKeySequence.StandardKey.Find, self, self.conversations.focus_search)

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
        status.addWidget(self.status_model)
        status.addWidget(self.status_speed)
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
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        new = file_menu.addAction("&New chat", self.new_chat)
        new.setShortcut(QKeySequence.StandardKey.New)
        file_menu.addAction("&Export conversation…", self.export_conversation)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        tools = bar.addMenu("&Tools")
        self.packs_action = tools.addAction("Document &packs…", self.open_packs)
        self.enrol_action = tools.addAction("&Enrolment…", self.open_enrolment)
        for action in (self.packs_action, self.enrol_action):
            action.setEnabled(self.packs is not None)
        tools.addSeparator()
        settings = tools.addAction("&Settings…", self.open_settings)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("&About Enclave", self.open_about)

    # -- model loading -------------------------------------------------------------------------
    def start_loading(self) -> None:
        self.model_ready = False
        self.model_problem = None
        self.status_model.setText("Loading model…")
        worker = call_in_worker(self.backend.load_model)
        worker.signals.returned.connect(self._model_loaded)
        worker.signals.errored.connect(self._model_failed)
        self._launch(worker)

    def _model_loaded(self, status: ModelStatus) -> None:
        self.model_ready = True
        self.model_status = status
        self.status_model.setText(status.describe())
        self.status_model.setToolTip(f"Context window: {status.n_ctx} tokens")
        self.refresh_knowledge()  # packs are opened behind the model, on the engine thread
        for problem in self.backend.knowledge_problems:
            self.show_notice(problem, "A document pack is not usable.")
        self.answers.model_loaded()

    def _model_failed(self, error: BaseException) -> None:
        self.status_model.setText("Model not loaded")
        self.model_problem = error
        self.answers.model_failed()
        self.show_error(error)

    # -- asking --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.answers.busy

    def send(self) -> None:
        question = self.input.toPlainText().strip()
        if not question or self.busy:
            return
        if self.model_problem is not None:
            self.chat.add_notice(
                "The model is not loaded, so this can't be answered yet.",
                "Fix the problem shown above, then choose a model in Tools › Settings.",
            )
            return
        self.ask(question)

    def ask(self, question: str) -> None:
        """Start a turn in the open conversation (creating it on the first question)."""
        if self._conversation_id is None and self.backend.history_enabled:
            try:
                self._conversation_id = self.backend.create_conversation(question[:60])
            except EngineError as exc:
                self.show_error(exc)
                return
            self.conversations.set_current(self._conversation_id)
            self.conversations.refresh()
        self.input.clear()
        self.editing.hide()
        record = TurnRecord(self._keys(), question)
        self._turns.append(record)
        self.chat.add_question(question)
        self.answers.submit(record, self._conversation_id)

    def _answer_finished(self, live: LiveAnswer) -> None:
        record = live.record
        if live.visible and (record.citations or record.verdict):
            self._show_sources_of(record)
        if live.conversation_id is not None:
            self.conversations.refresh()

    def stop(self) -> None:
        self.answers.stop()

    def _escape(self) -> None:
        if self.busy:
            self.stop()
        elif self.editing.isVisible():
            self.editing.hide()
            self.input.clear()

    def _update_buttons(self) -> None:
        self.stop_button.setEnabled(self.busy)
        self.send_button.setEnabled(not self.busy)

    # -- conversations -------------------------------------------------------------------------
    def new_chat(self) -> None:
        self._conversation_id = None
        self._turns = []
        self.answers.show_conversation(None)
        self.chat.clear_view()
        self.sources.clear_sources()
        self.conversations.set_current(None)
        self.editing.hide()
        self.input.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        try:
            messages = self.backend.messages(conversation_id)
        except EngineError as exc:
            self.show_error(exc)
            return
        self._conversation_id = conversation_id
        self.conversations.set_current(conversation_id)
        turns = turns_from_messages(messages, self._keys)
        live = self.answers.show_conversation(conversation_id)
        if live is not None:
            if turns and turns[-1].question == live.record.question and not turns[-1].answer:
                turns.pop()  # the live question, already stored by the engine
            turns.append(live.record)
        self._turns = turns
        self._render()
        last = next((t for t in reversed(turns) if t.refs), None)
        if last is not None:
            self._show_sources_of(last)
        else:
            self.sources.clear_sources()

    def _render(self) -> None:
        """Rebuild the view for the open conversation (on open or theme change, never per token)."""
        self.chat.clear_view()
        live = self.answers.live if self.answers.live and self.answers.live.visible else None
        for turn in self._turns:
            if turn.question:
                self.chat.add_question(turn.question)
            if live is not None and turn is live.record:
                self.chat.begin_answer(turn.key, turn.answer)
            elif turn.finished:
                self.chat.add_answer(turn)
                if turn.error:
                    self.chat.add_notice(turn.error)
        bar = self.chat.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _conversation_deleted(self, conversation_id: int) -> None:
        live = self.answers.live
        if live is not None and live.conversation_id == conversation_id:
            self.stop()
        if conversation_id == self._conversation_id:
            self.new_chat()

    def export_conversation(self) -> None:
        if self._conversation_id is None:
            self.chat.add_notice(
                "Nothing to export yet: this conversation is not saved.", kind="info"
            )
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export conversation", "conversation.md", "Markdown (*.md);;JSON (*.json)"
        )
        if not path:
            return
        try:
            fmt = "json" if path.endswith(".json") else "md"
            text = self.backend.export_conversation(self._conversation_id, fmt)
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        except (EngineError, OSError) as exc:
            self.show_error(exc if isinstance(exc, EngineError) else EngineError(str(exc)))

    # -- per-answer actions --------------------------------------------------------------------
    def _turn(self, key: int) -> TurnRecord | None:
        return next((t for t in self._turns if t.key == key), None)

    def _on_action(self, action: str, key: int) -> None:
        turn = self._turn(key)
        if turn is None:
            return
        if action == "copy":
            QGuiApplication.clipboard().setText(turn.answer)
            self.statusBar().showMessage("Answer copied", 2000)
        elif action == "regenerate" and turn.question and not self.busy:
            self.ask(turn.question)
        elif action == "edit" and turn.question:
            self.input.setPlainText(turn.question)
            self.input.moveCursor(self.input.textCursor().MoveOperation.End)
            self.editing.show()
            self.input.setFocus()
        elif action == "sources":
            self._show_sources_of(turn)
        elif action in ("up", "down"):
            self.give_feedback(turn, 1 if action == "up" else -1)

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
        self.sources.show_sources(turn.citations, turn.answer, turn.verdict, selected)

    def show_citation(self, key: int, n: int) -> None:
        turn = self._turn(key)
        if turn is None:
            return
        self._show_sources_of(turn, n)
        self.sources.select(n)

    def _open_original(self, passage: Passage) -> None:
        """The whole document a source comes from, re-authorised, scrolled to the passage."""
        try:
            document = self.backend.document_of(passage)
        except EngineError as error:
            self.show_error(error)
            return
        from desktop.ui.document_view import DocumentDialog

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

        dialog = SettingsDialog(self.backend, self)
        if dialog.exec() and dialog.model_changed and not self.busy:
            self.start_loading()

    def open_about(self) -> None:
        from desktop.ui.about_dialog import AboutDialog

        AboutDialog(self.backend.models(), self.packs, self).exec()

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
        self.chat.add_notice(error.message, error.hint)

    def show_notice(self, error: EngineError, consequence: str) -> None:
        """A known problem the app can run with (e.g. no keyring: history off), shown inline."""
        self.chat.add_notice(f"{consequence} {error.message}", error.hint, kind="warning")

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
        for worker in list(self._workers):  # deliver their last signals now, not after we are gone
            if worker.wait(0):
                QCoreApplication.sendPostedEvents(worker.signals, QEvent.Type.MetaCall)
        self.conversations.shutdown()

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
