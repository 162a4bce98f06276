"""A conversation's messages as the turns the window shows, with the versions of each turn."""

from __future__ import annotations

from collections.abc import Callable

from desktop.engine.access import CitationRef
from desktop.engine.storage.conversations import Message
from desktop.ui.chat_view import TurnRecord


def turns_from_messages(messages: list[Message], keys: Callable[[], int]) -> list[TurnRecord]:
    """The conversation's turns in order, each shown at its current version; the other versions
    of a turn (regenerated or edited) ride along in `TurnRecord.versions`."""
    groups: dict[int, list[TurnRecord]] = {}
    current: dict[int, TurnRecord] = {}
    last: TurnRecord | None = None
    for message in messages:
        if message.role == "user":
            last = TurnRecord(keys(), message.text, question_id=message.id, turn_id=message.turn)
            groups.setdefault(message.turn, []).append(last)
            if not message.superseded:
                current[message.turn] = last
        elif message.role == "assistant":
            if last is None or last.finished:  # an answer without its question
                last = TurnRecord(keys(), "")
                groups[-message.id] = [last]
            last.answer = message.text
            last.refs = [CitationRef.from_dict(c) for c in message.citations if isinstance(c, dict)]
            last.message_id = message.id
            last.vote = message.feedback or 0
            last.stopped = message.metrics.get("finish_reason") == "cancelled"
            last.finished = True
    turns: list[TurnRecord] = []
    for turn_id, versions in groups.items():
        for version in versions:
            version.finished = True
            version.replaceable = False
            if len(versions) > 1:
                version.versions = versions
        turns.append(current.get(turn_id, versions[-1]))
    if turns:
        turns[-1].replaceable = True
        for version in turns[-1].all_versions():
            version.replaceable = True
    return turns
