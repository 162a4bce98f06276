"""The signed policy file: written by `enclave admin policy`, verified before use, and refused,
never replaced by the default, when it is tampered with, unsigned, signed by the wrong key or
malformed. A refused policy stops the assistant answering and shows in doctor."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine import doctor
from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs.signing import key_id, load_public_key, sign
from desktop.engine.packs.trust import trust_file_text
from desktop.engine.packs.workspace import Workspace
from desktop.engine.policy.document import known_rules
from desktop.engine.policy.errors import PolicyRejected
from desktop.engine.policy.rules import DEFAULT_POLICY, Action, AuditContent
from desktop.engine.policy.signed import load_policy, policy_path


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.init()
    return ws


def _trust(ws: Workspace, packs: list[str]) -> None:
    folder = policy_path().parent / "trusted-keys"
    folder.mkdir(parents=True, exist_ok=True)
    key = load_public_key(ws.public_key_path.read_text())
    (folder / "admin.toml").write_text(trust_file_text(key, packs))


def _write(ws: Workspace, *flags: str) -> Path:
    assert main(["admin", "policy", "--workspace", str(ws.root), *flags]) == ExitCode.OK
    return ws.root / "policy.json"


def _install(source: Path | bytes) -> Path:
    target = policy_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source if isinstance(source, bytes) else source.read_bytes())
    return target


def test_without_a_policy_file_the_documented_default_applies() -> None:
    assert load_policy() is DEFAULT_POLICY
    assert DEFAULT_POLICY.action("output.pii.email") is Action.REDACT
    assert DEFAULT_POLICY.signed_by is None


def test_a_signed_policy_is_verified_and_applied(workspace: Workspace, capsys) -> None:
    _trust(workspace, ["*"])
    written = _write(
        workspace,
        "--set",
        "output.pii.phone=warn",
        "--set",
        "output.secret.token=block",
        "--audit-content",
        "hash",
        "--name",
        "Acme staff",
    )
    assert "version 1, signed" in capsys.readouterr().out
    installed = _install(written)
    policy = load_policy()
    assert (policy.name, policy.version, policy.source) == ("Acme staff", 1, str(installed))
    assert policy.action("output.pii.phone") is Action.WARN
    assert policy.action("output.secret.token") is Action.BLOCK
    assert policy.action("output.pii.email") is Action.REDACT  # not named: its default
    assert policy.audit_content is AuditContent.HASH
    key = load_public_key(workspace.public_key_path.read_text())
    assert policy.signed_by == key_id(key)
    assert _write(workspace, "--set", "output.pii.phone=off") == written
    assert json.loads(written.read_text())["signed"]["version"] == 2  # one more each time


def test_a_rules_file_sets_patterns_regions_and_terms(workspace: Workspace, tmp_path) -> None:
    _trust(workspace, ["*"])
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'name = "Paris office"\nphone_regions = ["FR"]\ntoxicity_terms = ["frobnicator"]\n'
        '[rules]\n"output.pii.email" = "off"\n'
        "[national_ids]\n"
        "\"FR INSEE\" = '(?<!\\d)[12] ?\\d{2} ?\\d{2} ?\\d{5} ?\\d{3} ?\\d{2}(?!\\d)'\n"
    )
    _install(_write(workspace, "--rules", str(rules)))
    policy = load_policy()
    assert policy.name == "Paris office" and policy.phone_regions == ("FR",)
    assert list(policy.national_ids) == ["FR INSEE"] and policy.toxicity_terms == ("frobnicator",)
    assert policy.action("output.pii.email") is Action.OFF


def test_a_published_contact_that_is_not_one_is_refused_by_admin_policy(
    workspace: Workspace, tmp_path, capsys
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('published_contacts = ["the help desk"]\n')
    code = main(["admin", "policy", "--workspace", str(workspace.root), "--rules", str(rules)])
    assert code != ExitCode.OK
    assert "'the help desk' is not an e-mail address" in capsys.readouterr().err


def _flip_a_byte(text: bytes) -> bytes:
    return text.replace(b'"warn"', b'"off"', 1)


def _signed_by(ws: Workspace, signed: dict) -> bytes:
    return json.dumps(sign(signed, ws.signing_key())).encode()


def _valid_signed(ws: Workspace) -> dict:
    return json.loads(_write(ws, "--set", "output.pii.phone=warn").read_text())["signed"]


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("byte flipped", "signature does not match its content"),
        ("wrong key", "not signed by a key this computer trusts"),
        ("unsigned", "not signed by a key this computer trusts"),
        ("not json", "is not a signed document"),
        ("unknown rule", "rule 'output.pii.emial' is not one this version knows"),
        ("bad action", "use one of off, warn, block, redact"),
        ("redact an input", "input.injection cannot redact: only output"),
        ("unknown field", "fields this version does not know: colour"),
        ("bad pattern", "not a regular expression"),
        ("a float", "holds a number with a fraction"),
        ("not a policy", "it is not an Enclave policy"),
    ],
)
def test_a_bad_policy_is_refused_not_replaced_by_the_default(
    workspace: Workspace, tmp_path: Path, attack: str, reason: str
) -> None:
    _trust(workspace, ["*"])
    good = _write(workspace, "--set", "output.pii.phone=warn").read_bytes()
    signed = _valid_signed(workspace)
    if attack == "byte flipped":
        raw = _flip_a_byte(good)
    elif attack == "wrong key":
        other = Workspace(tmp_path / "other")
        other.init()
        raw = _signed_by(other, signed)
    elif attack == "unsigned":
        raw = json.dumps({"signed": signed, "signatures": []}).encode()
    elif attack == "not json":
        raw = good[: len(good) // 2]
    elif attack == "unknown rule":
        raw = _signed_by(workspace, {**signed, "rules": {"output.pii.emial": "redact"}})
    elif attack == "bad action":
        raw = _signed_by(workspace, {**signed, "rules": {"output.pii.email": "hide"}})
    elif attack == "redact an input":
        raw = _signed_by(workspace, {**signed, "rules": {"input.injection": "redact"}})
    elif attack == "unknown field":
        raw = _signed_by(workspace, {**signed, "colour": "red"})
    elif attack == "bad pattern":
        raw = _signed_by(workspace, {**signed, "national_ids": {"X": "([0-9]"}})
    elif attack == "a float":
        raw = good.replace(b'"version": 1', b'"version": 1.5')
    else:
        raw = _signed_by(workspace, {**signed, "type": "enclave-manifest"})
    _install(raw)
    with pytest.raises(PolicyRejected, match=reason):
        load_policy()


def test_a_key_trusted_for_some_packs_only_cannot_sign_policy(workspace: Workspace) -> None:
    _trust(workspace, ["handbook"])
    _install(_write(workspace))
    with pytest.raises(PolicyRejected, match="not signed by a key") as refused:
        load_policy()
    assert 'packs = ["*"]' in refused.value.hint


def test_a_policy_that_is_a_link_or_a_folder_is_refused(workspace: Workspace, tmp_path) -> None:
    _trust(workspace, ["*"])
    written = _write(workspace)
    target = policy_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(written, target)
    with pytest.raises(PolicyRejected, match="not a regular file"):
        load_policy()
    target.unlink()
    target.mkdir()
    with pytest.raises(PolicyRejected, match="not a regular file"):
        load_policy()


def test_a_refused_policy_stops_every_answer_and_doctor_says_why(
    workspace: Workspace, capsys
) -> None:
    _trust(workspace, ["*"])
    _install(_flip_a_byte(_write(workspace, "--set", "output.pii.phone=warn").read_bytes()))
    assistant = Assistant.open(AssistantOptions(), keep_history=False, keep_audit=False)
    try:
        with pytest.raises(PolicyRejected, match="answers no questions") as refused:
            assistant.ask(None, "How many days of leave do I get?")
        assert "policy.json" in str(refused.value)
    finally:
        assistant.close()
    report = doctor.report()
    assert report["policy"]["state"] == "refused"
    assert not doctor.healthy(report)
    assert "REFUSED, no question is answered" in doctor.format_text(report)


def test_enclave_ask_refuses_with_the_policy_exit_code(workspace: Workspace, capsys) -> None:
    _trust(workspace, ["*"])
    _install(_flip_a_byte(_write(workspace, "--set", "output.pii.phone=warn").read_bytes()))
    capsys.readouterr()
    assert main(["ask", "Hello?", "--max-tokens", "4"]) == ExitCode.POLICY_REFUSED
    assert "policy" in capsys.readouterr().err


def test_doctor_shows_the_active_policy(workspace: Workspace) -> None:
    _trust(workspace, ["*"])
    _install(_write(workspace, "--set", "output.pii.phone=warn", "--name", "Acme staff"))
    report = doctor.report()
    assert report["policy"]["state"] == "signed" and report["policy"]["name"] == "Acme staff"
    assert report["policy"]["rules"]["output.pii.phone"] == "warn"
    text = doctor.format_text(report)
    assert "Acme staff version 1 (signed by" in text and "output.pii.phone" in text


def test_admin_policy_help_explains_every_rule_and_action(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["admin", "policy", "--help"])
    shown = capsys.readouterr().out
    for rule in known_rules():
        assert rule in shown
    for action in Action:
        assert f"  {action.value} " in shown


def test_admin_policy_refuses_a_rule_it_does_not_know(workspace: Workspace, capsys) -> None:
    rc = main(["admin", "policy", "--workspace", str(workspace.root), "--set", "output.x=warn"])
    assert rc == ExitCode.USAGE
    assert "'output.x' is not one this version knows" in capsys.readouterr().err
    assert not (workspace.root / "policy.json").exists()


def test_admin_policy_check_verifies_a_file_before_it_is_distributed(
    workspace: Workspace, capsys
) -> None:
    written = _write(workspace, "--set", "output.pii.phone=warn")
    capsys.readouterr()
    check = ["admin", "policy", "--workspace", str(workspace.root), "--check", str(written)]
    assert main(check) == ExitCode.OK
    shown = capsys.readouterr().out
    assert "OK: policy 'Organisation policy' version 1" in shown
    assert "output.pii.phone             warn" in shown
    written.write_bytes(_flip_a_byte(written.read_bytes()))
    assert main(check) == ExitCode.POLICY_REFUSED
    assert "signature does not match" in capsys.readouterr().err


def test_a_policy_without_published_contacts_is_signed_as_older_versions_read_it() -> None:
    """The field is written only when it holds contacts, so re-signing an unchanged policy with
    this admin tool does not make older Enclave builds refuse it (they refuse unknown fields);
    a document without it reads as publishing none."""
    from desktop.engine.policy.document import from_signed, to_signed
    from desktop.engine.policy.rules import Policy

    plain = to_signed(replace(DEFAULT_POLICY, version=1), "2026-12-03T00:00:00Z")
    assert "published_contacts" not in plain
    assert from_signed(plain, "test", None).published_contacts == ()
    published = Policy(version=1, published_contacts=("+1 866 450 5250", "@help.acme.example"))
    doc = to_signed(published, "2026-12-03T00:00:00Z")
    assert doc["published_contacts"] == ["+1 866 450 5250", "@help.acme.example"]
    assert from_signed(doc, "test", None).published_contacts == published.published_contacts
