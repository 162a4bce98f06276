"""Issue 16's "Done when", on the real engine: the default chat model, a real signed pack, the real
encrypted history. First run -> suggested question -> answer -> open citation -> regenerate ->
browse versions -> export; the regenerate is of an earlier turn, so the later turn is
set aside with the version it was asked under and comes back when that version is browsed.
(The same walk on the fake backend: tests/ui/test_ui_window.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.packs import install

from .conftest import request_for

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
LONG = 180_000  # ms: the default model on a busy CPU


def test_first_run_to_export_on_the_real_engine(
    admin_workspace: Any,
    trust_admin: Any,
    memory_keyring: Any,
    qtbot: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("PySide6")
    monkeypatch.delenv("ENCLAVE_CHAT_MODEL")  # the catalog's default chat model
    from desktop.app import ChatSession
    from desktop.ui.launch import build_window

    admin_workspace.enrol(request_for("emma"), ["employee"])
    install.import_grant(admin_workspace.grant("emma", "handbook"))
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    session = ChatSession(Assistant.open(AssistantOptions(max_answer_tokens=48)))
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    try:
        window.start_loading()
        qtbot.waitUntil(lambda: window.model_ready, timeout=LONG)
        # first run: who, which packs, what can be read, suggestions from readable passages
        assert window.pages.currentWidget() is window.welcome
        assert "You are emma" in window.welcome.who.text()
        assert "roles: employee" in window.welcome.who.text()
        packs = window.welcome.packs.text()
        assert "Handbook: you can read everyone, staff" in packs and "hr" not in packs
        qtbot.waitUntil(lambda: bool(window.welcome.buttons), timeout=LONG)
        suggestions = [b.text() for b in window.welcome.buttons]
        assert not any("Salary" in s for s in suggestions)  # hr: not readable by an employee
        window.welcome.buttons[0].click()
        qtbot.waitUntil(lambda: window.busy, timeout=10_000)
        qtbot.waitUntil(lambda: not window.busy, timeout=LONG)

        turn = window._turns[-1]
        assert turn.question == suggestions[0].replace("&&", "&") and turn.answer
        assert turn.citations, "a suggestion is one the pipeline answers, with sources"
        window.show_citation(turn.key, turn.citations[0].n)
        highlighted = window.document_dialog.highlighted_passage()
        assert highlighted and highlighted.split()[0] in window.document_dialog.text.toPlainText()
        window.document_dialog.close()

        window._on_action("copy", turn.key)  # the answer with its sources, resolved
        from PySide6.QtGui import QGuiApplication

        copied = QGuiApplication.clipboard().text()
        assert copied.startswith(turn.answer.rstrip()) and "\nSources:\n[" in copied

        window.ask("When does the office open?")  # a second turn, asked under the first answer
        qtbot.waitUntil(lambda: not window.busy, timeout=LONG)
        assert len(window._turns) == 2
        first_answer = turn.answer

        # regenerate the EARLIER turn: it branches, the second turn stays with the first version
        window._on_action("regenerate", turn.key)
        qtbot.waitUntil(lambda: window.busy, timeout=10_000)
        qtbot.waitUntil(lambda: not window.busy, timeout=LONG)
        assert len(window._turns) == 1 and "‹ 2/2 ›" in window.chat.toPlainText()
        assert "When does the office open?" not in window.chat.toPlainText()
        conversation = window._conversation_id
        assert conversation is not None
        stored = session.messages(conversation)
        assert [m.superseded for m in stored] == [True, True, True, True, False, False]
        window._on_action("prev", window._turns[0].key)  # browse back: the later turn returns
        assert "‹ 1/2 ›" in window.chat.toPlainText()
        assert [t.question for t in window._turns][-1] == "When does the office open?"
        assert window._turns[0].answer == first_answer
        assert [m.superseded for m in session.messages(conversation)] == [False] * 4 + [True] * 2
        window._on_action("next", window._turns[0].key)
        assert len(window._turns) == 1 and "‹ 2/2 ›" in window.chat.toPlainText()

        out = tmp_path / "conversation.md"
        assert window.export_to(str(out))
        exported = out.read_text()
        question, answer = [m for m in session.messages(conversation) if not m.superseded]
        assert question.text in exported and answer.text in exported  # the version shown
        assert exported.count("## You") == 1 and exported.count("## Enclave") == 1
        assert "Handbook" in exported or "handbook" in exported  # sources resolved
        pdf = tmp_path / "conversation.pdf"
        assert window.export_to(str(pdf))
        qtbot.waitUntil(lambda: not window.exporting, timeout=30_000)
        assert pdf.read_bytes().startswith(b"%PDF-")
    finally:
        window.shutdown()
        session.close()
