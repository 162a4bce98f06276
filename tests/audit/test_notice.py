"""The user is told that an audit log exists and what it keeps (About and the first-run page),
in words that follow the policy in force, and when it is off."""

from __future__ import annotations

import os
from typing import Any

import pytest
from helpers.fake_chat_model import FakeChatModel

from desktop.engine.audit.notice import audit_notice
from desktop.engine.core.errors import KeyringUnavailable
from desktop.engine.policy.rules import AuditContent, Policy

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (AuditContent.FULL, "the question and the answer in full"),
        (AuditContent.REDACTED, "personal data and secrets replaced by marks"),
        (AuditContent.HASH, "keyed fingerprint"),
        (AuditContent.NONE, "no question or answer text at all"),
    ],
)
def test_the_notice_says_what_each_policy_keeps(content: AuditContent, words: str) -> None:
    text = audit_notice(Policy(audit_content=content, audit_retention_days=365))
    assert words in text and "for 365 days" in text and "your login name and roles" in text
    assert "Deleting a conversation does not delete its audit record" in text


def test_the_notice_says_when_the_log_is_off_and_whether_answers_stop() -> None:
    problem = KeyringUnavailable("No secure OS keyring is available")
    assert "answered without an audit record" in audit_notice(Policy(), problem)
    required = audit_notice(Policy(audit_required=True), problem)
    assert "requires it, so no question is answered" in required


def test_about_and_the_first_run_page_show_the_audit_notice(qtbot: Any) -> None:
    pytest.importorskip("PySide6")
    from desktop.app import ChatSession
    from desktop.engine.assistant import Assistant
    from desktop.ui.about_dialog import AboutDialog
    from desktop.ui.welcome import WelcomePanel

    session = ChatSession(
        Assistant(FakeChatModel(), policy=Policy(audit_content=AuditContent.HASH))
    )
    try:
        welcome = session.welcome()
        assert welcome.audit == audit_notice(Policy(audit_content=AuditContent.HASH))
        panel = WelcomePanel()
        qtbot.addWidget(panel)
        panel.show_welcome(welcome, history_on=False, saving=True)
        assert "keyed fingerprint" in panel.kept.text() and "History is off" in panel.kept.text()
        about = AboutDialog([], None, None, welcome.audit)
        qtbot.addWidget(about)
        assert about.audit_note.text() == welcome.audit and not about.audit_note.isHidden()
    finally:
        session.close()
