"""Issue 16 on a fake backend: first run, trust at a glance, versions of a turn, pins, search jump,
no layout jump while streaming, keyboard, screen-reader names, text size, light/dark."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAccessible, QAccessibleInterface, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Evidence,
    Retrieved,
)
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.records import Answer, AnswerForm, Decision, Question
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.ui import theme
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.backend import PackSummary, Verdict
from desktop.ui.main_window import MainWindow
from desktop.ui.packs import EnrolmentDialog, PackManagerDialog
from desktop.ui.prefs import WindowPrefs, load_prefs
from desktop.ui.settings_dialog import SettingsDialog
from ui.conftest import wait_idle
from ui.fake_packs import FakePacks
from ui.fakes import FakeBackend


def test_first_run_says_who_what_and_asks_a_suggestion(qtbot, window, backend) -> None:
    assert window.pages.currentWidget() is window.welcome
    qtbot.waitUntil(lambda: bool(window.welcome.buttons), timeout=5000)  # found after the load
    who, packs = window.welcome.who.text(), window.welcome.packs.text()
    assert "You are alex" in who and "roles: staff" in who
    assert "Staff handbook: you can read everyone, staff" in packs and "as of 2024-05-01" in packs
    assert "restricted" not in packs  # the policy does not allow saying so
    notice = window.welcome.notice.text() + window.welcome.kept.text()
    for words in ("AI assistant", "on this computer", "conversation history", "audit log"):
        assert words in notice
    assert "untick “Save conversations”" in notice and "private chat" in notice
    labels = [b.text() for b in window.welcome.buttons]
    assert labels == list(backend.welcome_shown.suggestions)
    window.welcome.buttons[0].click()
    wait_idle(qtbot, window)
    assert backend.asked == ["How do I book travel?"]
    assert window.pages.currentWidget() is window.chat
    window.new_chat()
    assert window.pages.currentWidget() is window.welcome


def test_restricted_material_is_mentioned_only_when_the_policy_allows(qtbot, window, backend):
    backend.verdict = Verdict(abstained=True)
    window.ask("What is the supervisors' bonus scale?")
    wait_idle(qtbot, window)
    banner = window.sources.verdict.text()
    assert "don't answer this" in banner and "closest passages" in banner
    assert "administrator" not in banner
    backend.welcome_shown = replace(backend.welcome_shown, say_restricted_exists=True)
    window.ask("And the bonus for staff?")
    wait_idle(qtbot, window)
    assert "ask your administrator for access" in window.sources.verdict.text()
    window._refresh_welcome()
    assert "1 more audience is restricted" in window.welcome.packs.text()
    # no restricted audience at all: nothing to mention, whatever the policy
    pack = replace(backend.welcome_shown.packs[0], restricted=0)
    backend.welcome_shown = replace(backend.welcome_shown, packs=(pack,))
    window.ask("Once more?")
    wait_idle(qtbot, window)
    assert "administrator" not in window.sources.verdict.text()


def test_unsupported_sentences_carry_their_reason_and_quotes_say_so(qtbot, window, backend):
    backend.tokens = ["Travel is booked 14 days ahead [1].", " The moon is cheese."]
    backend.verdict = Verdict(unsupported_sentences=["The moon is cheese."])
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    found = window.chat.document().find("The moon is cheese.")
    assert not found.isNull()
    fmt = found.charFormat()
    assert fmt.underlineStyle() == fmt.UnderlineStyle.WaveUnderline
    assert "fake check" in fmt.toolTip() and "Not supported" in fmt.toolTip()
    assert "1 sentence of this answer is not supported" in window.sources.verdict.text()


def test_an_answer_judged_no_answer_after_all_is_a_calm_abstention(qtbot, window, backend):
    """The model answered "not in the documents": the pipeline turns it into an abstention after
    the evidence quotes streamed; the window then shows the abstention, not quotes and denial."""
    passages = tuple(backend.citations)
    message = "Your documents don't say how receipts affect the bonus."
    decision = Decision.abstain("the model found no answer", message)

    def ask(
        conversation_id: int | None, question: str, vary: bool = False
    ) -> Iterator[AnswerEvent]:
        yield Retrieved(question, passages)
        yield Evidence((Quote(1, "Staff book travel through the approved agency."),))
        yield AnswerToken("Not in the documents.", 0)
        yield Abstained(decision, passages)
        yield Done(Answer(Question(question), message, decision,
                          passages=passages, form=AnswerForm.NONE))  # fmt: skip

    backend.ask = ask  # type: ignore[method-assign]
    window.ask("What is the bonus scale?")
    wait_idle(qtbot, window)
    shown = window.chat.toPlainText()
    assert message in shown
    assert "From your documents" not in shown and "approved agency" not in shown
    assert window.sources.title.text() == "Closest passages"
    assert "background-color" not in window.sources.view.toHtml()  # no "supporting" words


def test_a_citation_chip_opens_the_passage_highlighted_in_its_document(qtbot, window) -> None:
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    key = window._turns[-1].key
    window.chat._on_anchor(QUrl(f"cite:{key}:2"))
    dialog = window.document_dialog
    assert dialog.isVisible()
    assert (
        dialog.highlighted_passage() == "Keep every receipt; claims without receipts are refused."
    )
    assert window.sources.selected == 2
    dialog.close()


def test_regenerate_and_edit_keep_versions_browsable_and_persisted(qtbot, window, backend):
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    first = window._turns[-1]
    backend.tokens = ["Book", " early [1]."]
    window._on_action("regenerate", first.key)
    wait_idle(qtbot, window)
    text = window.chat.toPlainText()
    assert "Book early [1]." in text and "The agency books travel" not in text
    assert "‹ 2/2 ›" in text
    assert backend.varied == [False, True]  # a regenerate asks for another answer, not the same
    conversation = window._conversation_id
    # what the model sees next: the current versions only
    current = [m.text for m in backend.messages(conversation) if not m.superseded]
    assert current == ["How do I book travel?", "Book early [1]."]

    window.chat._on_anchor(QUrl(f"act:prev:{window._turns[-1].key}"))
    assert "The agency books travel" in window.chat.toPlainText()
    assert "‹ 1/2 ›" in window.chat.toPlainText()
    current = [m.text for m in backend.messages(conversation) if not m.superseded]
    assert current[1].startswith("The agency books travel")

    window.new_chat()  # reopened from history: the versions come back, as last browsed
    window.open_conversation(conversation)
    assert "‹ 1/2 ›" in window.chat.toPlainText()
    window.chat._on_anchor(QUrl(f"act:next:{window._turns[-1].key}"))
    assert "Book early [1]." in window.chat.toPlainText()


def test_regenerating_an_earlier_turn_branches(qtbot, window, backend) -> None:
    """Any turn can be regenerated or edited; the later turns stay with the version they were
    asked under (docs/conversation-versions.md), on screen, in history and in what the model sees."""
    for question in ("How do I book travel?", "And trains?", "And taxis?"):
        window.ask(question)
        wait_idle(qtbot, window)
    conversation = window._conversation_id
    assert all(t.replaceable for t in window._turns)
    backend.tokens = ["Trains", " are booked by the agency [1]."]
    window._on_action("regenerate", window._turns[1].key)
    qtbot.waitUntil(lambda: window.chat.streaming, timeout=5000)
    assert [t.question for t in window._turns] == ["How do I book travel?", "And trains?"]
    wait_idle(qtbot, window)
    # the model answered the new version from the turn before it only
    assert backend.history_seen[-1] == ["How do I book travel?", window._turns[0].answer]
    text = window.chat.toPlainText()
    assert "And taxis?" not in text and "Trains are booked by the agency" in text
    assert "‹ 2/2 ›" in text
    current = [m.text for m in backend.messages(conversation) if not m.superseded]
    assert current[2:] == ["And trains?", "Trains are booked by the agency [1]."]

    window.ask("And hotels?")  # asked under the new version
    wait_idle(qtbot, window)
    assert [t.question for t in window._turns][-1] == "And hotels?"
    window._on_action("prev", window._turns[1].key)  # back to version 1: its own later turn
    assert [t.question for t in window._turns] == [
        "How do I book travel?",
        "And trains?",
        "And taxis?",
    ]
    assert "‹ 1/2 ›" in window.chat.toPlainText() and "And hotels?" not in window.chat.toPlainText()
    current = [m.text for m in backend.messages(conversation) if not m.superseded]
    assert current[4] == "And taxis?" and "And hotels?" not in current
    window.new_chat()  # reopened from history: as last browsed
    window.open_conversation(conversation)
    assert [t.question for t in window._turns][-1] == "And taxis?"
    window._on_action("next", window._turns[1].key)
    assert [t.question for t in window._turns][-1] == "And hotels?"

    window._on_action("edit", window._turns[0].key)  # edit the first turn: a new branch
    window.input.setPlainText("How do I book a flight?")
    window.send()
    wait_idle(qtbot, window)
    assert backend.history_seen[-1] == []
    assert [t.question for t in window._turns] == ["How do I book a flight?"]
    window._on_action("prev", window._turns[0].key)
    assert [t.question for t in window._turns] == [
        "How do I book travel?",
        "And trains?",
        "And hotels?",
    ]


def test_regenerating_an_earlier_turn_of_a_private_chat(qtbot, window, backend) -> None:
    window.new_chat(private=True)
    for question in ("How do I book travel?", "And trains?"):
        window.ask(question)
        wait_idle(qtbot, window)
    backend.tokens = ["Early", "."]
    window._on_action("regenerate", window._turns[0].key)
    wait_idle(qtbot, window)
    assert [t.answer for t in window._turns] == ["Early."]
    window._on_action("prev", window._turns[0].key)
    assert [t.question for t in window._turns] == ["How do I book travel?", "And trains?"]
    window._on_action("next", window._turns[0].key)
    assert [t.answer for t in window._turns] == ["Early."]
    assert backend.conversations() == []


def test_a_version_streaming_elsewhere_comes_back_in_its_turn(qtbot, window, backend) -> None:
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    conversation = window._conversation_id
    backend.gate = threading.Event()
    window._on_action("regenerate", window._turns[-1].key)
    qtbot.waitUntil(lambda: window.chat.streaming, timeout=5000)
    window.new_chat()  # look away while the new version streams
    window.open_conversation(conversation)
    assert len(window._turns) == 1 and window._turns[0] is window.answers.live.record
    assert window._turns[0].version == (2, 2)
    backend.gate.set()
    wait_idle(qtbot, window)
    assert "‹ 2/2 ›" in window.chat.toPlainText()
    window.new_chat()
    window.open_conversation(conversation)
    assert len(window._turns) == 1 and window._turns[0].version == (2, 2)


def test_a_private_chat_is_never_saved(qtbot, window, backend) -> None:
    window.new_chat(private=True)
    assert "private chat" in window.welcome.who.text()
    window.ask("Something I don't want kept")
    wait_idle(qtbot, window)
    assert window._conversation_id is None and backend.conversations() == []
    window.apply_prefs(replace(window.prefs, save_history=False))
    window.new_chat()
    window.ask("Also not kept")
    wait_idle(qtbot, window)
    assert backend.conversations() == []
    assert load_prefs().save_history is False


def test_search_jumps_to_the_message_and_pins_stay_on_top(qtbot, window, backend) -> None:
    backend.seed("Travel", [("How do I book travel?", "Through the agency [1].")])
    lunch = backend.seed(
        "Lunch", [("Where is the canteen?", "Ground floor."), ("Opening hours?", "Noon to two.")]
    )
    backend.seed("Newest", [("Anything?", "Nothing.")])
    window.conversations.refresh()
    window.conversations.search.setText("noon")
    lst = window.conversations.list
    qtbot.waitUntil(lambda: lst.count() == 1, timeout=2000)
    window.conversations._activated(lst.item(0))
    assert window._conversation_id == lunch
    cursor = window.chat.textCursor()
    assert cursor.selectedText() == "Opening hours?"  # the turn of the matching answer

    window.conversations.search.clear()
    qtbot.waitUntil(lambda: lst.count() == 3, timeout=2000)
    travel_row = next(i for i in range(3) if lst.item(i).text().startswith("Travel"))
    lst.setCurrentRow(travel_row)
    window.conversations.toggle_pin_current()
    assert lst.item(0).text().startswith(f"{window.conversations.pin}Travel")
    assert window.conversations.pin in ("📌 ", "★ ", "* ")  # a mark the font can draw
    assert lst.item(0).data(Qt.ItemDataRole.AccessibleTextRole) == "Pinned: Travel"


def test_the_window_does_not_widen_while_an_answer_streams(qtbot, window, backend) -> None:
    window.resize(1100, 600)
    qtbot.waitUntil(lambda: window.width() == 1100, timeout=2000)
    backend.tokens = ["word " * 40, "x" * 400, " [1]", " more " * 50, "."]
    backend.gate = threading.Event()
    window.ask("A long answer please")
    qtbot.waitUntil(lambda: window.chat.streaming, timeout=5000)
    widths = {window.width()}
    for _ in backend.tokens:
        window.status_speed.setText("12.3 tokens/s · first token in 0.45 s " * 3)
        backend.gate.set()
        backend.gate.clear()
        qtbot.wait(40)
        widths.add(window.width())
    backend.gate.set()
    wait_idle(qtbot, window)
    widths.add(window.width())
    assert widths == {1100}


def accessible_gaps(root: QWidget) -> list[str]:
    """Interactive nodes of Qt's accessibility tree under `root` that have no name."""
    interactive = {
        QAccessible.Role.PushButton,
        QAccessible.Role.EditableText,
        QAccessible.Role.ComboBox,
        QAccessible.Role.SpinBox,
        QAccessible.Role.List,
        QAccessible.Role.CheckBox,
        QAccessible.Role.Table,
        QAccessible.Role.PageTab,
        QAccessible.Role.Slider,
    }
    gaps: list[str] = []

    def walk(node: QAccessibleInterface | None, depth: int) -> None:
        if node is None or not node.isValid() or depth > 40:
            return
        if node.state().invisible:
            return
        if node.role() in interactive and not node.text(QAccessible.Text.Name).strip():
            widget = node.object()
            gaps.append(f"{node.role().name} {type(widget).__name__} {widget.objectName()}")
        for index in range(node.childCount()):
            walk(node.child(index), depth + 1)

    walk(QAccessible.queryAccessibleInterface(root), 0)
    return gaps


def test_every_control_has_a_screen_reader_name(qtbot, window, backend, packs) -> None:
    bare = QWidget()  # the walk finds a nameless control (so an empty result means something)
    qtbot.addWidget(bare)
    QLineEdit(bare)
    bare.show()
    assert [gap.split()[0] for gap in accessible_gaps(bare)] == ["EditableText"]
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    assert accessible_gaps(window) == []
    window.new_chat()  # the welcome page and its suggestion buttons
    qtbot.waitUntil(lambda: bool(window.welcome.buttons), timeout=5000)
    assert window.welcome.buttons[0].accessibleName() == "Ask: How do I book travel?"
    assert accessible_gaps(window) == []
    settings = SettingsDialog(backend, window, window.prefs)
    qtbot.addWidget(settings)
    settings.show()
    assert accessible_gaps(settings) == []
    manager = PackManagerDialog(packs, window)
    qtbot.addWidget(manager)
    manager.show()
    qtbot.waitUntil(lambda: not manager.busy, timeout=5000)
    assert accessible_gaps(manager) == []
    manager.close()
    for dialog in (EnrolmentDialog(packs, window), AboutDialog(backend.models(), packs, window)):
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda d=dialog: not d.busy, timeout=5000)
        assert accessible_gaps(dialog) == [], type(dialog).__name__
        dialog.close()


def test_help_lists_every_shortcut_and_they_work(qtbot, window, backend) -> None:
    listed = dict((what, keys) for keys, what in window.shortcuts())
    for what in (
        "New chat",
        "New private chat (not saved)",
        "Regenerate last answer",
        "Edit last question",
        "Previous version",
        "Search conversations",
        "Larger text",
        "Keyboard shortcuts",
        "Send the message",
    ):
        assert listed.get(what), f"{what} is not listed in Help"
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert backend.asked == ["How do I book travel?"] * 2 and "‹ 2/2 ›" in window.chat.toPlainText()
    qtbot.keyClick(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert "‹ 1/2 ›" in window.chat.toPlainText()
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.input.hasFocus()


def test_text_size_is_a_kept_preference(qtbot, window, backend) -> None:
    system = theme.system_font_size()
    window.zoom(1)
    assert QGuiApplication.font().pointSizeF() == round(system) + 1
    bigger = round(system) + 1
    qtbot.waitUntil(lambda: window.input.font().pointSizeF() == bigger, timeout=2000)  # widgets
    assert load_prefs().font_size == round(system) + 1
    assert (Path(paths.data_dir()) / "window.ini").is_file()
    dialog = SettingsDialog(backend, window, window.prefs)
    qtbot.addWidget(dialog)
    dialog.font_size.setValue(20)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.save()
    assert dialog.prefs == WindowPrefs(font_size=20, theme="dark", save_history=True)
    window.apply_prefs(dialog.prefs)
    assert QGuiApplication.font().pointSizeF() == 20
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    window.apply_prefs(WindowPrefs())
    assert QGuiApplication.font().pointSizeF() == system
    assert app.palette().color(QPalette.ColorRole.Window).lightness() >= 128


def test_following_the_system_scheme_and_not_when_one_is_chosen(qtbot, window) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)

    def dark() -> bool:
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128

    theme.apply_theme(app, None)  # follow the system
    theme._follow_system(app, Qt.ColorScheme.Dark)  # what colorSchemeChanged delivers
    assert dark()
    theme._follow_system(app, Qt.ColorScheme.Light)
    assert not dark()
    theme.apply_theme(app, Qt.ColorScheme.Light)  # chosen: a system change is ignored
    theme._follow_system(app, Qt.ColorScheme.Dark)
    assert not dark()
    theme.apply_theme(app, None)


def test_pack_manager_shows_a_busy_bar_while_verifying(qtbot) -> None:
    packs = FakePacks()
    packs.gate = threading.Event()
    niceness: list[int] = []
    listing = packs.list_packs

    def list_packs() -> list:
        if sys.platform.startswith("linux"):
            niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return listing()

    packs.list_packs = list_packs  # type: ignore[method-assign]
    dialog = PackManagerDialog(packs)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.progress.isVisible()
    packs.gate.set()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    assert not dialog.progress.isVisible()
    assert packs.threads[0] is not threading.main_thread()
    if sys.platform.startswith("linux"):  # verification yields the CPU to the GUI thread
        assert niceness[0] >= min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + 10)
    dialog.close()


def test_pack_freshness_lines() -> None:
    from desktop.ui.welcome import freshness

    pack = PackSummary("H", "2024-01-10", "2027-01-01T00:00:00Z", "ok", ("staff",))
    import datetime

    today = datetime.date(2026, 12, 1)
    assert freshness(pack, today) == "as of 2024-01-10 · 35 months old · valid until 2027-01-01"
    expired = replace(pack, expiry="expired", as_of="2026-11-01")
    assert "EXPIRED 2027-01-01" in freshness(expired, today)


def test_history_off_says_so_on_the_welcome_page(qtbot) -> None:
    backend = FakeBackend(history=False)
    win = MainWindow(backend, FakePacks())
    qtbot.addWidget(win)
    assert "History is off" in win.welcome.kept.text()
    win.show_notice(EngineError("No secure keyring.", "Install one."), "History is off.")
    assert win.pages.currentWidget() is win.welcome  # the notice is on the page in view
    assert [n.text() for n in win.welcome.notes] == [
        "History is off. No secure keyring.\nInstall one."
    ]
    win.shutdown()


def test_a_jump_to_another_version_selects_it_with_its_later_turns(qtbot, window, backend):
    for question in ("How do I book travel?", "And trains?"):
        window.ask(question)
        wait_idle(qtbot, window)
    conversation = window._conversation_id
    first_answer = window._turns[0].message_id
    backend.tokens = ["Early", "."]
    window._on_action("regenerate", window._turns[0].key)
    wait_idle(qtbot, window)
    assert [t.question for t in window._turns] == ["How do I book travel?"]
    assert first_answer is not None and conversation is not None
    window.jump_to_message(conversation, first_answer)  # e.g. a search result from before
    assert [t.question for t in window._turns] == ["How do I book travel?", "And trains?"]
    assert window._turns[0].version == (1, 2)
    current = [m.id for m in backend.messages(conversation) if not m.superseded]
    assert first_answer in current


def test_an_answers_notice_stays_with_it_not_on_the_welcome_page(qtbot, window, backend):
    backend.ask_error = EngineError("The message needs 9000 tokens but only 4096 fit.", "Shorten.")
    window.ask("A very long question")
    wait_idle(qtbot, window)
    assert "only 4096 fit" in window.chat.toPlainText()
    window.new_chat()
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.notes == []  # a problem of that answer, not of the app
