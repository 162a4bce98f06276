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


def test_regenerating_an_earlier_turn_branches(store: ConversationStore) -> None:
    """The later turns stay with the version they were asked under: hidden while another
    version of the earlier turn is current, back when it is selected again."""
    chat = store.create_conversation("Three turns")
    q1 = store.add_message(chat.id, "user", "First?")
    store.add_message(chat.id, "assistant", "One.")
    q2 = store.add_message(chat.id, "user", "Second?")
    store.add_message(chat.id, "assistant", "Two.")
    store.add_message(chat.id, "user", "Third?")
    store.add_message(chat.id, "assistant", "Three.")

    turn = store.hide_version(q2)  # regenerate turn 2: the model sees turn 1 only
    assert texts(store, chat.id) == ["First?", "One."]
    q2b = store.add_message(chat.id, "user", "Second, again?")
    store.add_message(chat.id, "assistant", "Deux.")
    store.add_version(q2b, turn)
    assert texts(store, chat.id) == ["First?", "One.", "Second, again?", "Deux."]
    q4 = store.add_message(chat.id, "user", "Fourth?")  # asked under the new version
    store.add_message(chat.id, "assistant", "Four.")
    assert texts(store, chat.id)[-2:] == ["Fourth?", "Four."]

    store.select_version(q2)  # back to version 1 of turn 2: its own later turn returns
    assert texts(store, chat.id) == ["First?", "One.", "Second?", "Two.", "Third?", "Three."]
    assert [m.text for m in store.search("Four")] == []  # search: the current path only
    store.select_version(q2b)
    assert texts(store, chat.id) == [
        "First?",
        "One.",
        "Second, again?",
        "Deux.",
        "Fourth?",
        "Four.",
    ]
    by_id = {m.id: m for m in store.messages(chat.id, all_versions=True)}
    assert by_id[q2b].parent == by_id[q2].parent == q1 and by_id[q4].parent == q2b

    store.select_version(q1)  # the first turn keeps the newest answered version below it
    assert texts(store, chat.id)[2] == "Second, again?"


def test_regenerating_the_first_turn_hides_the_rest(store: ConversationStore) -> None:
    chat = store.create_conversation("Two turns")
    q1 = store.add_message(chat.id, "user", "First?")
    store.add_message(chat.id, "assistant", "One.")
    store.add_message(chat.id, "user", "Second?")
    store.add_message(chat.id, "assistant", "Two.")
    turn = store.hide_version(q1)
    assert texts(store, chat.id) == []  # the model sees no earlier turn
    q1b = store.add_message(chat.id, "user", "First, again?")
    store.add_message(chat.id, "assistant", "Uno.")
    store.add_version(q1b, turn)
    assert texts(store, chat.id) == ["First, again?", "Uno."]
    store.select_version(q1)
    assert texts(store, chat.id) == ["First?", "One.", "Second?", "Two."]


def test_a_version_never_answered_is_not_chosen_below(store: ConversationStore) -> None:
    """A regenerated question whose answer failed is left aside: going back to the turn
    before it shows the turn that was answered."""
    chat = store.create_conversation("Failed regenerate")
    q1 = store.add_message(chat.id, "user", "First?")
    store.add_message(chat.id, "assistant", "One.")
    q2 = store.add_message(chat.id, "user", "Second?")
    store.add_message(chat.id, "assistant", "Two.")
    store.hide_version(q2)
    store.add_message(chat.id, "user", "Second, again?")  # the answer never came
    store.select_version(q2)  # the window gives the turn its previous version back
    assert texts(store, chat.id) == ["First?", "One.", "Second?", "Two."]
    store.select_version(q1)
    assert texts(store, chat.id) == ["First?", "One.", "Second?", "Two."]


def test_history_from_before_turn_parents_is_one_line(tmp_path: Path) -> None:
    """m004 on a history written before it: each question's parent is the previous turn's
    current version, so browsing and regenerating work on old conversations too."""
    import sqlite_utils

    from desktop.engine.storage import conversations

    key = os.urandom(32)
    store = ConversationStore(tmp_path / "old.db", key)
    chat = store.create_conversation("Old")
    q1 = store.add_message(chat.id, "user", "First?")
    store.add_message(chat.id, "assistant", "One.")
    q1b = store.add_message(chat.id, "user", "First, again?")
    store.add_message(chat.id, "assistant", "Uno.")
    q2 = store.add_message(chat.id, "user", "Second?")
    store.add_message(chat.id, "assistant", "Two.")
    db = store.db
    # the rows as the m003 schema left them: versions linked, no parents
    db.execute("UPDATE messages SET parent = NULL")
    db.execute("UPDATE messages SET version_of = ? WHERE id = ?", [q1, q1b])
    db.execute("UPDATE messages SET superseded = 1 WHERE id IN (?, ?)", [q1, q1 + 1])
    assert isinstance(db, sqlite_utils.Database)
    db.execute("ALTER TABLE messages DROP COLUMN parent")
    conversations.m004_turn_parents(db)
    store.close()
    store = ConversationStore(tmp_path / "old.db", key)
    by_id = {m.id: m for m in store.messages(chat.id, all_versions=True)}
    assert (by_id[q1].parent, by_id[q1b].parent, by_id[q2].parent) == (None, None, q1b)
    assert texts(store, chat.id) == ["First, again?", "Uno.", "Second?", "Two."]
    store.close()


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
