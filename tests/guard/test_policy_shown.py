"""The active policy is shown in About (name, source, signer, every rule), a refused one says why,
and a redaction mark in an answer is rendered as a visible, explained mark, never as a link."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from desktop.engine.policy.document import known_rules
from desktop.engine.policy.rules import DEFAULT_POLICY
from desktop.engine.policy.signed import policy_path, policy_status
from desktop.ui.about_dialog import AboutDialog
from desktop.ui.chat_view import REDACTION_TIP, ChatView, TurnRecord

pytestmark = pytest.mark.gui


def test_about_shows_the_policy_in_force_rule_by_rule(qtbot) -> None:
    assert policy_status().policy is DEFAULT_POLICY  # no policy.json in this test's config
    dialog = AboutDialog([], None)
    qtbot.addWidget(dialog)
    assert dialog.tabs.tabText(dialog.tabs.count() - 1) == "Policy"
    assert "built-in default" in dialog.policy_note.text()
    rows = {
        dialog.policy_table.item(r, 0).text(): dialog.policy_table.item(r, 1).text()  # type: ignore[union-attr]
        for r in range(dialog.policy_table.rowCount())
    }
    assert list(rows) == known_rules() and rows["output.pii.email"] == "redact"


def test_about_says_why_a_policy_was_refused(qtbot) -> None:
    policy_path().parent.mkdir(parents=True, exist_ok=True)
    policy_path().write_text('{"signed": {}, "signatures": []}')
    dialog = AboutDialog([], None)
    qtbot.addWidget(dialog)
    assert "REFUSED, no question is answered" in dialog.policy_note.text()
    assert dialog.policy_table.rowCount() == 0


def test_a_redaction_mark_is_rendered_muted_with_its_explanation(qtbot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.add_answer(
        TurnRecord(
            1, "q", "Call [phone number removed] or write to [e-mail removed].", finished=True
        )
    )
    for mark in ("[phone number removed]", "[e-mail removed]"):
        found = view.document().find(mark)
        assert not found.isNull()
        found.setPosition(found.selectionStart() + 2)
        fmt = found.charFormat()
        assert fmt.fontItalic() and fmt.toolTip() == REDACTION_TIP and not fmt.isAnchor()
    plain = view.document().find("Call ")
    plain.setPosition(plain.selectionStart() + 1)
    assert not plain.charFormat().fontItalic()
