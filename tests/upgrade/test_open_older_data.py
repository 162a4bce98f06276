"""The current code opens user data written by each released version (tests/data/upgrade/): history,
pack state, the installed pack and its grant, the audit log, settings and the keys, as that release
read them back itself (`expected.json`). Real SQLCipher, real FAISS, the real embedding model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.access import CitationRef, KnowledgeAccess
from desktop.engine.audit.log import open_audit_store
from desktop.engine.core.settings import load_settings
from desktop.engine.packs import install
from desktop.engine.packs.local_state import LocalState
from desktop.engine.storage import history, secrets
from desktop.engine.storage.conversations import ConversationStore
from desktop.engine.storage.stores import known_migrations

from .conftest import OlderData


def _messages(store: ConversationStore, conversation_id: int) -> list[dict[str, Any]]:
    return [
        {
            "role": m.role,
            "text": m.text,
            "superseded": m.superseded,
            "feedback": m.feedback,
            "feedback_comment": m.feedback_comment,
            "model_id": m.model_id,
            "citations": m.citations,
        }
        for m in store.messages(conversation_id, all_versions=True)
    ]


def test_history_lists_and_shows_every_conversation(older_keys: OlderData) -> None:
    expected = older_keys.expected["conversations"]
    with history.open_history() as store:
        listed = store.conversations()
        assert [(c.title, c.pinned) for c in listed] == [
            (c["title"], c["pinned"]) for c in expected
        ]
        for conversation, wanted in zip(listed, expected, strict=True):
            assert _messages(store, conversation.id) == wanted["messages"]
            current = store.messages(conversation.id)
            assert current == [
                m for m in store.messages(conversation.id, all_versions=True) if not m.superseded
            ]
        assert store.schema_version() == known_migrations(ConversationStore.schema)[-1]
        assert not store.integrity_problems()
        found = store.search("annual leave")
        assert found and all("annual leave" in m.text.lower() for m in found)


def test_history_takes_new_messages_after_the_upgrade(older_keys: OlderData) -> None:
    with history.open_history() as store:
        office = next(c for c in store.conversations() if c.title == "Office hours")
        before = store.messages(office.id)
        question = store.add_message(office.id, "user", "And on Saturdays?")
        store.add_message(office.id, "assistant", "The documents do not say.")
    with history.open_history() as store:
        after = store.messages(office.id)
    assert after[: len(before)] == before
    assert [m.text for m in after[len(before) :]] == [
        "And on Saturdays?",
        "The documents do not say.",
    ]
    assert after[len(before)].id == question


def test_the_cli_lists_and_shows_older_history(older_keys: OlderData, capsys: Any) -> None:
    assert main(["history", "list"]) == 0
    listing = capsys.readouterr().out
    for conversation in older_keys.expected["conversations"]:
        assert conversation["title"] in listing
    assert main(["history", "show", "1"]) == 0
    shown = capsys.readouterr().out
    first = older_keys.expected["conversations"][-1]  # listed newest first; id 1 is the oldest
    assert first["messages"][0]["text"] in shown


def test_pack_state_is_read(older_keys: OlderData) -> None:
    with LocalState.open() as state:
        packs = [
            {
                "pack_id": p.pack_id,
                "last_seen_version": p.last_seen_version,
                "active_version": p.active_version,
                "active_folder": p.active_folder,
            }
            for p in state.packs()
        ]
        assert packs == older_keys.expected["state"]
        assert state.schema_version() == known_migrations(LocalState.schema)[-1]
        assert state.latest_seen().timestamp() > 0


def test_the_installed_pack_verifies_and_answers_with_the_grant(
    older_keys: OlderData, embedder: Any
) -> None:
    pack = older_keys.expected["pack"]
    broken: list[Any] = []
    active = install.active_packs(broken)
    assert not broken, broken
    assert [(p.manifest.pack_id, p.manifest.version) for p in active] == [
        (pack["id"], pack["version"])
    ]
    assert [(g.pack_id, g.pack_version) for g in install.installed_grants()] == [
        (pack["id"], pack["version"])
    ]
    access = KnowledgeAccess(embedder)
    try:
        assert access.readable_audiences == {pack["id"]: tuple(pack["audiences"])}
        hits = access.search(pack["search"]["query"], k=3)
        assert hits and pack["search"]["expect"] in hits[0].text
        # citations the older release stored in history still open the passage they named
        refs = [
            CitationRef.from_dict(c)
            for conversation in older_keys.expected["conversations"]
            for m in conversation["messages"]
            for c in m["citations"]
        ]
        assert refs
        for passage in access.resolve(refs):
            assert passage.text and passage.ref in refs
    finally:
        access.close()


def test_the_audit_chain_verifies_and_grows(older_keys: OlderData, capsys: Any) -> None:
    audit = older_keys.expected["audit"]
    with open_audit_store() as store:
        report = store.verify()
        assert report.ok, report.problem
        assert store.count() == audit["records"]
        assert list(store.head_file_entry() or ()) == audit["head"]
        assert [json.loads(r.body).get("question") for r in store.records()] == audit["questions"]
        store.append({"kind": "upgrade-test", "question": "after the upgrade"})
        assert store.verify().ok
    assert main(["audit", "verify"]) == 0
    assert f"OK: {audit['records'] + 1} records" in capsys.readouterr().out


def test_settings_load(older: OlderData) -> None:
    settings, note = load_settings()
    assert note is None
    assert settings.to_dict() == older.expected["settings"]


def test_the_encrypted_file_keyring_holds_the_same_keys(
    older: OlderData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENCLAVE_KEYRING", "cryptfile")
    monkeypatch.setenv("ENCLAVE_KEYRING_PASSPHRASE", older.expected["cryptfile_passphrase"])
    for entry in older.expected["keyring_entries"]:
        _service, name = entry.split("/", 1)
        assert secrets.get_secret(name) is not None, entry
    with history.open_history() as store:
        assert len(store.conversations()) == len(older.expected["conversations"])


def test_the_recovery_key_unseals_the_older_history_key(
    older: OlderData, memory_keyring: Any
) -> None:
    """The keyring entry is lost; the administrator's recovery key brings the history back."""
    history.recover_key(older.recovery_key)
    with history.open_history() as store:
        assert [c.title for c in store.conversations()] == [
            c["title"] for c in older.expected["conversations"]
        ]
    assert history.recovery_status().sealed_to == history.recovery_status().installed
