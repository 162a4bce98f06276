"""A signed policy changes what the user reads: the same answer from a real pack is redacted under
one policy and shown under another, through a real `Assistant` (fake chat model; the last test
runs `enclave ask --json` on the real small model). The passage itself still opens in full."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

from desktop.cli import main
from desktop.engine.access import KnowledgeAccess
from desktop.engine.answer.events import AnswerToken, Done, Evidence
from desktop.engine.answer.output_guard import OutputGuard
from desktop.engine.assistant import Assistant
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import grants, install
from desktop.engine.packs.build import build_pack
from desktop.engine.packs.signing import load_public_key
from desktop.engine.packs.trust import trust_file_text
from desktop.engine.packs.workspace import Workspace
from desktop.engine.policy.signed import load_policy, policy_path
from desktop.engine.runtime.embedder import Embedder

PHONE = "+44 20 7946 0958"
CONTACTS = (
    "---\ntitle: IT help desk\n---\n# IT help desk\n"
    f"The IT help desk phone number is {PHONE}. The help desk answers weekdays from nine to "
    "five.\n\n"
    "## Opening hours\nThe help desk is closed on public holidays.\n"
)
QUESTION = "What is the IT help desk phone number?"
REPLY = f"The IT help desk phone number is {PHONE} [1]."


@pytest.fixture(scope="module")
def embedder(embedding_entry) -> Iterator[Embedder]:
    instance = Embedder(embedding_entry)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, embedder: Embedder) -> Workspace:
    root = tmp_path_factory.mktemp("policy-admin")
    ws = Workspace(root / "ws")
    ws.init()
    source = root / "source"
    source.mkdir()
    (source / "help-desk.md").write_text(CONTACTS)
    for _ in build_pack(
        source,
        ws.packs_dir,
        pack_id="contacts",
        title="Contacts",
        version=1,
        audience_map=ws.audience_map(),
        embedder=embedder,
        admin_key=ws.signing_key(),
    ):
        pass
    return ws


@pytest.fixture
def installed(workspace: Workspace, memory_keyring) -> Workspace:
    trusted = policy_path().parent / "trusted-keys"
    trusted.mkdir(parents=True)
    key = load_public_key(workspace.public_key_path.read_text())
    (trusted / "admin.toml").write_text(trust_file_text(key, ["*"]))
    workspace.enrol(grants.enrolment_request(user="pat", machine="test-machine"), ["employee"])
    install.import_grant(workspace.grant("pat", "contacts"))
    install.install(workspace.packs_dir / "contacts-v1.enclavepack")
    return workspace


def _use_policy(ws: Workspace, *flags: str) -> None:
    assert main(["admin", "policy", "--workspace", str(ws.root), *flags]) == ExitCode.OK
    policy_path().write_bytes((ws.root / "policy.json").read_bytes())


def _ask(embedder: Embedder) -> tuple[list[object], Done, Assistant]:
    model = FakeChatModel(REPLY)
    model.load(FAKE_ENTRY)
    assistant = Assistant(
        model, policy=load_policy(), knowledge=KnowledgeAccess(embedder), embedder=embedder
    )
    events: list[object] = list(assistant.ask(None, QUESTION))
    done = events[-1]
    assert isinstance(done, Done)
    return events, done, assistant


def _shown(events: list[object]) -> str:
    tokens = "".join(e.text for e in events if isinstance(e, AnswerToken))
    quotes = " ".join(q.text for e in events if isinstance(e, Evidence) for q in e.quotes)
    return tokens + " " + quotes


def test_the_same_answer_is_redacted_under_one_policy_and_shown_under_another(
    installed: Workspace, embedder: Embedder
) -> None:
    _use_policy(installed, "--set", "output.pii.phone=redact", "--name", "Strict")
    events, done, assistant = _ask(embedder)
    try:
        assert assistant.policy.name == "Strict" and assistant.policy.signed_by
        assert done.answer.passages, "the pack answered the question"
        assert "7946" not in _shown(events) and "7946" not in done.answer.text
        assert "[phone number removed]" in done.answer.text
        phone = [g for g in done.answer.guards if g.rule == "output.pii.phone"]
        assert [(g.action, g.stage) for g in phone] == [("redact", "output")]
        assert any(g["rule"] == "output.pii.phone" for g in done.as_dict()["guard"])
        opened = assistant.open_document(done.answer.passages[0].ref)
        assert PHONE in opened.text  # the passage opens in full for a user entitled to it
    finally:
        assistant.close()

    _use_policy(installed, "--set", "output.pii.phone=warn", "--name", "Lenient")
    events, done, assistant = _ask(embedder)
    try:
        assert assistant.policy.name == "Lenient" and assistant.policy.version == 2
        assert PHONE in done.answer.text and PHONE in _shown(events)
        phone = [g for g in done.answer.guards if g.rule == "output.pii.phone"]
        assert [g.action for g in phone] == ["warn"]
    finally:
        assistant.close()


def test_a_published_contact_stays_in_the_answer_while_the_rule_redacts(
    installed: Workspace, embedder: Embedder, tmp_path: Path
) -> None:
    """The organisation publishes its help desk's number: the phone rule still redacts, and
    leaves that number as it is."""
    rules = tmp_path / "rules.toml"
    rules.write_text('published_contacts = ["+44 (0)20 7946 0958", "@helpdesk.example"]\n')
    _use_policy(installed, "--rules", str(rules), "--set", "output.pii.phone=redact")
    events, done, assistant = _ask(embedder)
    try:
        assert assistant.policy.published_contacts == ("+44 (0)20 7946 0958", "@helpdesk.example")
        assert PHONE in done.answer.text and PHONE in _shown(events)
        assert not [g for g in done.answer.guards if g.rule == "output.pii.phone"]
        shown, verdicts = OutputGuard(assistant.policy).scan(
            f"Call {PHONE} or +44 20 7946 0000; write to desk@helpdesk.example or jo@example.org."
        )
        assert PHONE in shown and "desk@helpdesk.example" in shown
        assert "0000" not in shown and "jo@example.org" not in shown  # not published
        assert {v.rule for v in verdicts} == {"output.pii.phone", "output.pii.email"}
    finally:
        assistant.close()


def test_enclave_ask_json_names_the_rule_on_the_real_model(installed: Workspace, capsys) -> None:
    _use_policy(installed, "--set", "output.pii.phone=redact")
    capsys.readouterr()
    assert main(["ask", QUESTION, "--json", "--max-tokens", "48"]) == ExitCode.OK
    payload = json.loads(capsys.readouterr().out)
    assert payload["retrieved"], "the pack answered the question"
    assert "7946" not in payload["answer"]
    assert "output.pii.phone" in {g["rule"] for g in payload["guard"]}
    assert all(g["stage"] in ("input", "output") for g in payload["guard"])


def test_the_policy_file_lives_in_the_config_folder_only(installed: Workspace) -> None:
    """A copy in the user's data folder is not read (the user could delete it and so choose the
    default rules); only <config>/policy.json counts."""
    main(["admin", "policy", "--workspace", str(installed.root), "--set", "output.pii.phone=off"])
    data_copy = Path(install.packs_root()).parent / "policy.json"
    data_copy.write_bytes((installed.root / "policy.json").read_bytes())
    assert load_policy().signed_by is None  # still the built-in default
