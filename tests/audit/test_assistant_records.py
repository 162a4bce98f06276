"""A real `Assistant` (fake chat model, real pack, real history, real audit store) writes one
record per turn, answered or abstained; what each record keeps of the text follows the policy,
and with "none" no question text lies anywhere in the data folder."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

from desktop.engine.access import KnowledgeAccess
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.audit.content import HASH_PREFIX, TextKeeper
from desktop.engine.audit.errors import AuditUnavailable
from desktop.engine.audit.log import AuditLog, open_audit_log, open_audit_store
from desktop.engine.audit.records import AuditContext, answer_fields
from desktop.engine.audit.store import AuditStore
from desktop.engine.core import paths
from desktop.engine.guard.pii import redact_text
from desktop.engine.packs import install
from desktop.engine.packs.grants import user_signing_key
from desktop.engine.packs.signing import key_id
from desktop.engine.policy.rules import AuditContent, Policy
from desktop.engine.storage.history import open_history

from .conftest import request_for
from .records_for_tests import abstained, answered

LEAVE = "How many days of annual leave do staff get?"
OFF_TOPIC = "Who won the football world cup in 1998?"
CANARY = "CANARY-QUESTION-5309"


def enrol_emma(workspace: Any) -> None:
    workspace.enrol(request_for("emma"), ["employee"])
    install.import_grant(workspace.grant("emma", "handbook"))
    install.install(workspace.packs_dir / "handbook-v2.enclavepack")


def audit_rows() -> list[dict[str, Any]]:
    with open_audit_store() as store:
        assert store.verify().ok
        return [json.loads(r.body) for r in store.records()]


def ask_two(policy: Policy, embedder: Any, *questions: str, reply: str = "") -> None:
    model = FakeChatModel(reply or "Staff get 26 days of annual leave [1].")
    model.load(FAKE_ENTRY)
    access = KnowledgeAccess(embedder)
    history = open_history()
    log = open_audit_log(policy, lambda: access, redact=redact_text)
    assistant = Assistant(
        model, knowledge=access, embedder=embedder, history=history, policy=policy, audit=log
    )
    try:
        for question in questions:
            chat = history.create_conversation(question[:20]).id
            list(assistant.ask(chat, question))
    finally:
        assistant.close()
        access.close()


def test_answered_and_abstained_turns_are_recorded(
    admin_workspace: Any, trust_admin: Any, memory_keyring: Any, embedder: Any
) -> None:
    enrol_emma(admin_workspace)
    ask_two(Policy(audit_content=AuditContent.FULL), embedder, LEAVE, OFF_TOPIC)
    answered_row, abstained_row = audit_rows()
    assert answered_row["decision"]["kind"] == "answer"
    assert abstained_row["decision"]["kind"] == "abstain"
    assert abstained_row["form"] == "none" and abstained_row["decision"]["signal"] is not None
    for row in (answered_row, abstained_row):
        assert row["model"] == {"id": "fake-chat", "sha256": "0" * 64}
        assert row["roles"] == ["employee"]
        assert row["audiences"] == {"handbook": ["everyone", "staff"]}
        assert row["signer"] == key_id(user_signing_key().public_key())
        assert row["content"] == "full" and row["app_version"]
    assert answered_row["question"] == LEAVE and answered_row["query"] == LEAVE
    assert answered_row["packs"] == {"handbook": 2}
    assert answered_row["retrieved"] and all(
        set(r) == {"n", "pack", "pack_version", "audience", "chunk_id", "score"}
        for r in answered_row["retrieved"]
    )
    assert answered_row["sentences"]["shown"] >= 1
    # An abstention keeps what retrieval found (the closest passages), not only its score.
    assert abstained_row["retrieved"] and abstained_row["packs"] == {"handbook": 2}
    assert answered_row["message_id"] and answered_row["conversation_id"]


def test_deleting_history_keeps_the_audit_records(
    admin_workspace: Any, trust_admin: Any, memory_keyring: Any, embedder: Any
) -> None:
    enrol_emma(admin_workspace)
    ask_two(Policy(), embedder, LEAVE)
    with open_history() as history:
        for conversation in history.conversations():
            history.delete(conversation.id)
        assert history.conversations() == []
    assert len(audit_rows()) == 1


def test_policy_none_keeps_no_question_text_anywhere_in_the_data_folder(
    admin_workspace: Any, trust_admin: Any, memory_keyring: Any, embedder: Any
) -> None:
    enrol_emma(admin_workspace)
    question = f"How many days of annual leave do staff get, {CANARY}?"
    ask_two(Policy(audit_content=AuditContent.NONE), embedder, question, OFF_TOPIC + CANARY)
    rows = audit_rows()
    assert len(rows) == 2 and all(r["content"] == "none" for r in rows)
    assert all(not {"question", "query", "answer"} & set(r) for r in rows)
    needle = CANARY.encode()
    files = [p for p in paths.data_dir().rglob("*") if p.is_file()]
    assert any(p.name == "audit.db" for p in files)
    for path in files:
        assert needle not in path.read_bytes(), f"the canary is in {path}"
    with AuditStore.open_with_keyring(paths.data_dir() / "audit.db") as store:
        tables = [
            r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        dump = "\n".join(
            repr(row) for table in tables for row in store.db.execute(f"SELECT * FROM [{table}]")
        )
    assert "records" in tables and '"kind":"answer"' in dump and CANARY not in dump
    with open_history() as history:  # the user's own history keeps it, encrypted, deletable
        assert any(
            CANARY in m.text for c in history.conversations() for m in history.messages(c.id)
        )


def test_hash_mode_counts_equal_questions_without_keeping_them() -> None:
    keeper = TextKeeper(AuditContent.HASH, b"k" * 32)
    context = AuditContext("emma", "signer", "0.1.0")
    first = answer_fields(abstained("Where do I PARK  my bike?"), context, keeper)
    second = answer_fields(abstained("where do i park my bike?"), context, keeper)
    assert first["question"] == second["question"] and first["question"].startswith(HASH_PREFIX)
    assert "bike" not in json.dumps(first)
    other_key = TextKeeper(AuditContent.HASH, b"j" * 32)
    assert (
        answer_fields(abstained("where do i park my bike?"), context, other_key)["question"]
        != first["question"]
    )


def test_redacted_mode_uses_the_redactor_and_never_keeps_text_without_one() -> None:
    question = "Mail jane.doe@example.org about leave"
    context = AuditContext("emma", "signer", "0.1.0")
    redacted = answer_fields(
        answered(question), context, TextKeeper(AuditContent.REDACTED, b"k" * 32, redact_text)
    )
    assert redacted["content"] == "redacted"
    assert (
        "jane.doe@example.org" not in json.dumps(redacted) and "about leave" in redacted["question"]
    )
    fallback = answer_fields(
        answered(question), context, TextKeeper(AuditContent.REDACTED, b"k" * 32)
    )
    assert fallback["content"] == "hash" and fallback["question"].startswith(HASH_PREFIX)


def test_without_a_keyring_the_audit_log_is_off_and_a_policy_that_requires_it_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setattr("keyring.backend.get_all_keyring", lambda: [fail.Keyring()])
    try:
        assistant = Assistant.open(AssistantOptions(), keep_history=False)
    finally:
        keyring.set_keyring(previous)
    try:
        assert assistant.audit_problem is not None
        assert "keyring" in assistant.audit_problem.message.lower()
        assistant.ask(None, "a question")  # the default policy answers, and says audit is off
        assistant.policy = Policy(audit_required=True)
        with pytest.raises(AuditUnavailable, match="requires an audit log"):
            assistant.ask(None, "a question")
    finally:
        assistant.close()
    assert not (paths.data_dir() / "audit.db").exists()
    assert os.environ.get("ENCLAVE_KEYRING") is None


def test_each_profile_has_its_own_audit_log(memory_keyring: Any) -> None:
    with open_audit_store() as store:
        store.append({"kind": "answer"})
        default_path = store.path
    with paths.profile_scope("other"), open_audit_store() as other:
        assert other.path != default_path and other.count() == 0


def test_the_audit_redacts_the_formats_the_policy_names(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy's own phone regions and national id patterns apply to the audit's redacted
    text too, not only the built-in US and UK formats."""
    policy = Policy(
        audit_content=AuditContent.REDACTED,
        phone_regions=("FR",),
        national_ids={"FR INSEE": r"\b[12] ?\d{2} ?\d{2} ?\d{2} ?\d{3} ?\d{3} ?\d{2}\b"},
    )
    monkeypatch.setattr("desktop.engine.assistant.load_policy", lambda: policy)
    assistant = Assistant.open(AssistantOptions(), keep_history=False)
    try:
        assert isinstance(assistant.audit, AuditLog)
        kept = assistant.audit.text.keep("Appelez le 01 42 68 53 00, INSEE 1 85 05 78 006 084 36.")
        assert kept is not None
        assert "01 42 68 53 00" not in kept and "78 006 084" not in kept
    finally:
        assistant.close()
