"""Versions of a turn, pins and search in the encrypted history (what the window's regenerate,
edit, < 1/2 > browsing, pin and jump-to-message rest on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.engine.core.errors import InvalidInput
from desktop.engine.storage.conversations import ConversationStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    s = ConversationStore(tmp_path / "h.db", os.urandom(32))
    yield s
    s.close()


def texts(store: ConversationStore, conversation_id: int, **kw: bool) -> list[str]:
    return [m.text for m in store.messages(conversation_id, **kw)]


def test_regenerate_replaces_the_turn_and_keeps_the_old_version(store: ConversationStore) -> None:
    chat = store.create_conversation("Leave")
    q1 = store.add_message(chat.id, "user", "How much leave?")
    store.add_message(chat.id, "assistant", "Ten days.")
    turn = store.hide_version(q1)
    assert turn == q1
    # what the model sees while the new version is generated: not the old one
    assert texts(store, chat.id) == []
    q2 = store.add_message(chat.id, "user", "How much leave?")
    store.add_message(chat.id, "assistant", "Thirteen days [1].")
    store.add_version(q2, turn)
    assert texts(store, chat.id) == ["How much leave?", "Thirteen days [1]."]
    every = store.messages(chat.id, all_versions=True)
    assert [m.text for m in every] == [
        "How much leave?",
        "Ten days.",
        "How much leave?",
        "Thirteen days [1].",
    ]
    assert [m.superseded for m in every] == [True, True, False, False]
    assert [m.turn for m in every if m.role == "user"] == [q1, q1]

    store.select_version(q1)  # browse back: the old version is current again
    assert texts(store, chat.id) == ["How much leave?", "Ten days."]
    assert "Thirteen" not in store.export_markdown(chat.id)
    assert [m.text for m in store.search("days")] == ["Ten days."]


def test_versions_keep_later_turns_in_place(store: ConversationStore) -> None:
    chat = store.create_conversation("Two turns")
    q1 = store.add_message(chat.id, "user", "First?")
    store.add_message(chat.id, "assistant", "One.")
    store.add_version(q2 := store.add_message(chat.id, "user", "First, again?"), q1)
    store.add_message(chat.id, "assistant", "Uno.")
    store.add_message(chat.id, "user", "Second?")
    store.add_message(chat.id, "assistant", "Two.")
    assert texts(store, chat.id) == ["First, again?", "Uno.", "Second?", "Two."]
    store.select_version(q1)
    assert texts(store, chat.id) == ["First?", "One.", "Second?", "Two."]
    store.select_version(q2)
    assert texts(store, chat.id) == ["First, again?", "Uno.", "Second?", "Two."]


def test_bad_version_calls_are_refused(store: ConversationStore) -> None:
    chat = store.create_conversation("A")
    other = store.create_conversation("B")
    q = store.add_message(chat.id, "user", "Q?")
    a = store.add_message(chat.id, "assistant", "A.")
    q_other = store.add_message(other.id, "user", "Elsewhere?")
    with pytest.raises(InvalidInput):
        store.hide_version(a)  # an answer is not a question
    with pytest.raises(InvalidInput):
        store.select_version(999_999)
    with pytest.raises(InvalidInput):
        store.add_version(q_other, q)  # a turn of another conversation
    assert texts(store, chat.id) == ["Q?", "A."]


def test_pinned_conversations_come_first_and_survive_reopening(tmp_path: Path) -> None:
    key = os.urandom(32)
    store = ConversationStore(tmp_path / "h.db", key)
    old = store.create_conversation("Old but pinned")
    store.create_conversation("Newer")
    store.set_pinned(old.id, True)
    store.close()
    store = ConversationStore(tmp_path / "h.db", key)
    listed = store.conversations()
    assert [(c.title, c.pinned) for c in listed] == [("Old but pinned", True), ("Newer", False)]
    store.set_pinned(old.id, False)
    assert [c.title for c in store.conversations()] == ["Newer", "Old but pinned"]
    store.close()
