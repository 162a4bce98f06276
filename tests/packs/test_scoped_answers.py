"""Two users, same question, differently scoped answers: through `ask`, the chat service (prompt,
answer, history) and the window, with the real model and a real pack."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace

import pytest

from desktop.cli import main
from desktop.engine.access import KnowledgeAccess, Passage
from desktop.engine.answer.events import Done
from desktop.engine.answer.prompt import PromptPlan
from desktop.engine.answer.records import Question
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.packs import install
from desktop.engine.storage.conversations import ConversationStore

from .conftest import CANARIES, request_for

QUESTION = "What are the salary bands and code words for engineers and staff leave?"


def _setup_user(workspace, profile: str, user: str, roles: list[str], monkeypatch) -> None:
    if profile:
        monkeypatch.setenv("ENCLAVE_PROFILE", profile)
    else:
        monkeypatch.delenv("ENCLAVE_PROFILE", raising=False)
    workspace.enrol(request_for(user), roles)
    install.import_grant(workspace.grant(user, "handbook"))
    install.install(workspace.packs_dir / "handbook-v2.enclavepack")


def test_ask_as_two_users_gives_differently_scoped_answers(
    admin_workspace, trust_admin, memory_keyring, monkeypatch, capsys
):
    _setup_user(admin_workspace, "guest-user", "gina", ["guest"], monkeypatch)
    _setup_user(admin_workspace, "", "harriet", ["hr"], monkeypatch)
    assert main(["ask", QUESTION, "--json", "--max-tokens", "24", "--sources", "6"]) == 0
    hr = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "--profile",
                "guest-user",
                "ask",
                QUESTION,
                "--json",
                "--max-tokens",
                "24",
                "--sources",
                "6",
            ]
        )
        == 0
    )
    guest = json.loads(capsys.readouterr().out)
    os.environ.pop("ENCLAVE_PROFILE", None)
    assert {s["audience"] for s in hr["retrieved"]} >= {"hr"}
    assert {s["audience"] for s in guest["retrieved"]} == {"everyone"}
    assert CANARIES["hr"] in json.dumps(hr["retrieved"])
    guest_text = json.dumps(guest)
    assert CANARIES["hr"] not in guest_text and CANARIES["staff"] not in guest_text
    assert hr["knowledge_as_of"] and guest["knowledge_as_of"]


def test_prompt_answer_and_history_never_hold_other_audiences(
    admin_workspace, trust_admin, memory_keyring, embedder, chat_manager, monkeypatch, tmp_path
):
    _setup_user(admin_workspace, "", "gina", ["guest"], monkeypatch)
    access = KnowledgeAccess(embedder)
    store = ConversationStore(tmp_path / "h.db", os.urandom(32))
    assistant = Assistant(
        chat_manager,
        options=AssistantOptions(sources_per_answer=8, max_answer_tokens=32),
        history=store,
        knowledge=access,
    )
    planned: list[PromptPlan] = []
    grounded = assistant.pipeline().stages.plan

    class CapturePrompt:
        def plan(self, question: Question, passages: Sequence[Passage]) -> PromptPlan:
            planned.append(grounded.plan(question, passages))
            return planned[-1]

    assistant.pipeline().stages.plan = CapturePrompt()
    try:
        conversation = store.create_conversation().id
        events = list(assistant.ask(conversation, QUESTION))
        done = events[-1]
        assert isinstance(done, Done)
        answer = done.answer.text
        prompt = json.dumps(planned[0].messages)
        history = store.export_json(conversation)
        assert CANARIES["everyone"] in prompt  # the guest's own audience does reach the prompt
        for secret in (CANARIES["staff"], CANARIES["hr"], "Salary bands", "Leave policy"):
            assert secret not in prompt and secret not in answer and secret not in history
        stored = store.messages(conversation)[-1]
        assert stored.pack_versions == {"handbook": 2}
        assert all(
            set(c) <= {"n", "pack", "pack_version", "audience", "chunk_id"}
            for c in stored.citations
        )
    finally:
        store.close()
        access.close()  # the session's shared model stays loaded for the other tests


def test_window_answers_with_a_citation_and_opens_it(
    admin_workspace, trust_admin, memory_keyring, monkeypatch, qtbot
):
    pytest.importorskip("PySide6")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    _setup_user(admin_workspace, "", "emma", ["employee"], monkeypatch)
    from desktop.app import ChatSession
    from desktop.ui.launch import build_window

    session = ChatSession()
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    qtbot.waitUntil(lambda: session.assistant.knowledge is not None, timeout=120_000)
    assert session.knowledge_as_of()
    assert window.packs is not None
    [listed] = window.packs.list_packs()
    assert listed.pack_id == "handbook" and listed.audiences == ("everyone", "staff")
    assert listed.licence == "unspecified" and listed.signature == "valid"
    window.input.setPlainText("How many days of annual leave do staff get?")
    window.send()
    qtbot.waitUntil(lambda: not window.busy and bool(window.sources.citations), timeout=120_000)
    citations = window.sources.citations
    assert citations[0].audience in ("everyone", "staff")
    assert any(CANARIES["staff"] in c.text or "leave" in c.text.lower() for c in citations)
    # "Open original": the whole document, re-authorised, scrolled to the passage and selected.
    window._open_original(citations[0])
    dialog = window.document_dialog
    assert dialog.isVisible()
    assert dialog.selected_passage().strip() == citations[0].text.strip()
    dialog.close()
    # A citation for an audience this user does not hold is refused, shown inline.
    forged = replace(citations[0], ref=replace(citations[0].ref, audience="hr"))
    window._open_original(forged)
    assert "not available to you" in window.chat.toPlainText()
    window.shutdown()
    session.close()


def test_history_export_resolves_sources_through_the_choke_point(
    admin_workspace, trust_admin, memory_keyring, monkeypatch, capsys
):
    """`history show` and exports print titles and locations, re-authorised, never raw dicts;
    a reference the user can no longer open says so."""
    _setup_user(admin_workspace, "", "emma", ["employee"], monkeypatch)
    question = "How many days of annual leave do staff get?"
    assert main(["ask", question, "--save", "--json", "--max-tokens", "16"]) == 0
    payload = json.loads(capsys.readouterr().out)
    conversation = payload["conversation_id"]
    from desktop.engine.storage.history import open_history

    store = open_history()
    try:
        [_question, answer] = store.messages(conversation)
        store.add_message(
            conversation,
            "assistant",
            "A forged reference.",
            citations=[
                {"n": 1, "pack": "handbook", "pack_version": 2, "audience": "hr", "chunk_id": 1}
            ],
        )
    finally:
        store.close()
    assert main(["history", "show", str(conversation)]) == 0
    shown = capsys.readouterr().out
    assert "{'n'" not in shown and '"chunk_id"' not in shown
    if answer.citations:
        assert "handbook v2" in shown
    assert "source no longer available to you" in shown
    assert CANARIES["hr"] not in shown
