"""The done-when of the audit log: a conversation in the window and two `enclave ask` calls, on
the real llama.cpp model and a real pack, each leave a record, and the chain verifies."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.audit.log import open_audit_store

from .test_assistant_records import LEAVE, OFF_TOPIC, enrol_emma

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def records() -> list[dict[str, Any]]:
    with open_audit_store() as store:
        report = store.verify()
        assert report.ok, report.problem
        return [json.loads(r.body) for r in store.records()]


def test_two_ask_calls_produce_two_records(
    admin_workspace: Any, trust_admin: Any, memory_keyring: Any, capsys: Any
) -> None:
    enrol_emma(admin_workspace)
    for question in (LEAVE, OFF_TOPIC):
        assert main(["ask", question, "--json", "--max-tokens", "24"]) == 0
    capsys.readouterr()
    rows = records()
    assert len(rows) == 2
    assert [r["user"] for r in rows] == [rows[0]["user"]] * 2
    assert all(r["model"]["id"] == os.environ["ENCLAVE_CHAT_MODEL"] for r in rows)
    assert rows[0]["retrieved"] and rows[0]["content"] == "redacted"
    assert rows[0]["question"] == LEAVE  # nothing to redact in it
    assert main(["audit", "verify"]) == 0
    assert "OK: 2 records" in capsys.readouterr().out


def test_a_conversation_in_the_window_produces_records(
    admin_workspace: Any, trust_admin: Any, memory_keyring: Any, qtbot: Any
) -> None:
    pytest.importorskip("PySide6")
    from desktop.app import ChatSession
    from desktop.ui.launch import build_window

    enrol_emma(admin_workspace)
    session = ChatSession(Assistant.open(AssistantOptions(max_answer_tokens=24)))
    window = build_window(session)
    qtbot.addWidget(window)
    try:
        window.show()
        window.start_loading()
        qtbot.waitUntil(lambda: window.model_ready, timeout=120_000)
        for question in (LEAVE, "And how many days for part-time staff?"):
            window.input.setPlainText(question)
            window.send()
            qtbot.waitUntil(lambda: not window.busy, timeout=120_000)
    finally:
        window.shutdown()
        session.close()
    rows = records()
    assert len(rows) == 2
    assert rows[0]["conversation_id"] == rows[1]["conversation_id"] is not None
    assert rows[1]["message_id"] and rows[0]["question"] == LEAVE
