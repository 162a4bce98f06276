"""A conversation's messages as the turns the window shows, with the versions of each turn.

The history is a tree (`ConversationStore`: each question records the question it was asked
after); the window shows its current path, and each turn on it carries every version of that turn
for < 1/2 > browsing. The later turns of another version are not shown: they come back when that
version is selected (docs/conversation-versions.md).
"""

from __future__ import annotations

from collections.abc import Callable

from desktop.engine.access import CitationRef
from desktop.engine.storage.conversations import Message
from desktop.ui.chat_view import TurnRecord


def turns_from_messages(
    messages: list[Message], keys: Callable[[], int], live: TurnRecord | None = None
) -> list[TurnRecord]:
    """The current path's turns in order, each at its current version; the other versions of a
    turn (regenerated or edited) ride along in `TurnRecord.versions`. `live`, the answer being
    generated in this conversation, ends the path: a new turn, or a new version of its turn."""
    groups: dict[int, list[TurnRecord]] = {}
    path: list[TurnRecord] = []
    last: TurnRecord | None = None
    for message in messages:
        if message.role == "user":
            last = TurnRecord(keys(), message.text, question_id=message.id, turn_id=message.turn)
            groups.setdefault(message.turn, []).append(last)
            if not message.superseded:
                path.append(last)
        elif message.role == "assistant":
            if last is None or last.finished:  # an answer without its question
                last = TurnRecord(keys(), "")
                if not message.superseded:
                    path.append(last)
            last.answer = message.text
            last.refs = [CitationRef.from_dict(c) for c in message.citations if isinstance(c, dict)]
            last.message_id = message.id
            last.vote = message.feedback or 0
            last.stopped = message.metrics.get("finish_reason") == "cancelled"
            last.refused = message.metrics.get("decision") == "refuse"
            last.quoted = message.metrics.get("form") == "quoted"
            evidence = message.metrics.get("evidence", [])
            last.evidence = [q for q in evidence if isinstance(q, str)]
            last.finished = True
    for record in path:
        record.finished = True
    for versions in groups.values():
        for version in versions:
            version.finished = True
            if len(versions) > 1:
                version.versions = versions
    if live is not None:
        if path and path[-1].question == live.question and not path[-1].answer:
            path.pop()  # the live question, already stored by the engine
        earlier = groups.get(live.turn_id) if live.turn_id is not None else None
        if earlier:  # a new version of a turn, live: the turn and the later ones are set aside
            versions = [*earlier, live]
            for version in versions:
                version.versions = versions
        path.append(live)
    return path
