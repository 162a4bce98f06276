"""A reopened conversation shows what was shown when it was asked: the answer, the quotes shown
above it, and whether the answer was quoted (kept in the answer's metrics)."""

from __future__ import annotations

import itertools

from desktop.engine.storage.conversations import Message
from desktop.ui.turns import turns_from_messages

QUOTE = "> “New employees earn 13 days of annual leave.” [1]"


def _message(id_: int, role: str, text: str, metrics: dict[str, object]) -> Message:
    return Message(id_, 1, role, text, 0.0, None, None, {}, [], metrics, None, None)


def test_reopened_turns_carry_the_quotes_shown_above_them() -> None:
    messages = [
        _message(1, "user", "Leave?", {}),
        _message(2, "assistant", "13 days [1].", {"evidence": [QUOTE], "finish_reason": "stop"}),
        _message(5, "user", "Parking?", {}),
        _message(6, "assistant", f"Here is what they say:\n\n{QUOTE}", {"form": "quoted"}),
        _message(3, "user", "Again?", {}),
        _message(4, "assistant", "", {"evidence": [QUOTE, 7], "finish_reason": "cancelled"}),
    ]
    first, quoted, second = turns_from_messages(messages, itertools.count(1).__next__)
    assert first.evidence == [QUOTE] and first.answer == "13 days [1]." and not first.quoted
    assert quoted.quoted and not quoted.evidence  # shown as quotes again, not as a claim
    assert second.evidence == [QUOTE] and second.stopped  # a non-text entry is dropped
