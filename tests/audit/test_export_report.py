"""Export and report: a user's signed export of a period, verified and summarised by the
administrator; an export cannot be passed off as another user's, and a changed one is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.audit.errors import ExportRejected
from desktop.engine.audit.export import export_bytes, read_export, write_export
from desktop.engine.audit.log import AuditLog, ProfileContext, open_audit_store, signer_id
from desktop.engine.audit.report import summarise
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.core.paths import profile_scope
from desktop.engine.packs import grants
from desktop.engine.packs.workspace import Workspace
from desktop.engine.policy.rules import AuditContent, Policy

from .records_for_tests import abstained, answered

FULL = Policy(audit_content=AuditContent.FULL)


@pytest.fixture
def workspace(tmp_path: Path, memory_keyring: Any) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.init()
    for user in ("alice", "bob"):
        with profile_scope(user):
            ws.enrol(grants.enrolment_request(user=user, machine="m"), ["employee"])
    return ws


def write_turns(user: str, *answers: Any) -> None:
    with profile_scope(user):
        store = open_audit_store()
        log = AuditLog(store, FULL, ProfileContext(signer_id(), lambda: None), hmac_key=b"k" * 32)
        for answer in answers:
            log.record(answer)
        log.close()


def export_as(
    user: str, out: Path, *, store_of: str | None = None, name: str | None = None
) -> Path:
    """`user`'s key signs an export of `store_of`'s log (default: their own) naming `name`. For
    another user's log this is a forgery made by hand (`write_export` refuses it)."""
    with profile_scope(user):
        key = grants.user_signing_key()
    with profile_scope(store_of or user), open_audit_store() as store:
        if store_of in (None, user):
            write_export(store, out, user=name or user, signing_key=key)
        else:
            records = list(store.records())
            prev = json.loads(records[0].body)["prev"]
            out.write_bytes(export_bytes(records, prev, user=name or user, signing_key=key))
    return out


def test_export_and_report_round_trip_on_the_command_line(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leave = "How many days of leave do staff get?"
    parking = "Where do I park my bike?"
    write_turns("alice", answered(leave), abstained(parking), abstained("where do I park  my bike"))
    out = tmp_path / "alice.jsonl"
    with profile_scope("alice"):
        assert main(["audit", "export", "--user", "alice", "--out", str(out)]) == ExitCode.OK
    assert "3 records (#1 to #3), signed as alice" in capsys.readouterr().out
    assert main(["admin", "audit-report", str(out), "--workspace", str(workspace.root)]) == 0
    report = capsys.readouterr().out
    assert "verified 1 export(s): chain, signature and enrolment OK" in report
    assert "questions: 3  by user: alice (3)" in report
    assert "abstained: 2 (66.7%)" in report and "answered: 1" in report
    assert "unsupported sentences: 1 of 2 shown (50.0%)" in report
    assert "handbook" in report and "staff" in report
    assert "output.pii.email" in report and "redact" in report
    assert report.split("top unanswered:")[1].splitlines()[1] == "     2  where do i park my bike"
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["count"] == 3 and header["user"] == "alice"


def test_the_period_selects_records_and_consecutive_exports_join(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_turns("alice", abstained("one"), abstained("two"))
    first = export_as("alice", tmp_path / "first.jsonl")
    write_turns("alice", abstained("three"))
    second = export_as("alice", tmp_path / "second.jsonl")  # #1-#3, repeats #1-#2 unchanged
    summary = summarise([first, second], workspace.users())
    assert summary.gaps == [] and summary.questions == 5  # each export counted as it was sent
    with profile_scope("alice"), open_audit_store() as store:
        key = grants.user_signing_key()
        from datetime import UTC, datetime

        future = datetime(2100, 1, 1, tzinfo=UTC)
        empty = write_export(
            store, tmp_path / "e.jsonl", user="alice", signing_key=key, since=future
        )
    assert empty.count == 0
    assert read_export(tmp_path / "e.jsonl", workspace.users()).records == ()


def test_an_export_signed_by_another_user_for_alice_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_turns("alice", answered("q"))
    forged = export_as("bob", tmp_path / "forged.jsonl", store_of="alice", name="alice")
    with pytest.raises(ExportRejected, match="not signed with the key enrolled for 'alice'"):
        read_export(forged, workspace.users())


def test_alices_records_cannot_be_passed_off_as_bobs(workspace: Workspace, tmp_path: Path) -> None:
    write_turns("alice", answered("q"), abstained("r"))
    as_bob = export_as("bob", tmp_path / "as-bob.jsonl", store_of="alice", name="bob")
    with pytest.raises(ExportRejected, match="written by another profile's key"):
        read_export(as_bob, workspace.users())


def test_renaming_the_user_of_a_signed_export_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_turns("bob", answered("q"))
    export = export_as("bob", tmp_path / "bob.jsonl")
    lines = export.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"user":"bob"', b'"user":"alice"')
    export.write_bytes(b"\n".join(lines))
    with pytest.raises(ExportRejected, match="not signed with the key enrolled for 'alice'"):
        read_export(export, workspace.users())


def test_a_changed_record_in_a_signed_export_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_turns("alice", abstained("the question"), abstained("another"))
    export = export_as("alice", tmp_path / "alice.jsonl")
    export.write_bytes(export.read_bytes().replace(b"the question", b"the qvestion"))
    with pytest.raises(ExportRejected, match="signature does not match its content"):
        read_export(export, workspace.users())
    export = export_as("alice", tmp_path / "again.jsonl")
    lines = export.read_bytes().split(b"\n")
    del lines[1]  # a record dropped: the signature no longer covers the content
    export.write_bytes(b"\n".join(lines))
    with pytest.raises(ExportRejected, match="signature does not match"):
        read_export(export, workspace.users())


def test_unenrolled_users_and_requests_without_a_signing_key_are_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    write_turns("carol", abstained("q"))
    with pytest.raises(ExportRejected, match="not enrolled in this workspace"):
        read_export(export_as("carol", tmp_path / "carol.jsonl"), workspace.users())
    users = workspace.users()
    del users["alice"]["request"]["signing_key"]  # enrolled from a request made before audit
    write_turns("alice", abstained("q"))
    with pytest.raises(ExportRejected, match="without an audit signing key"):
        read_export(export_as("alice", tmp_path / "alice.jsonl"), users)


def test_the_report_command_names_the_rejected_file(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_turns("alice", answered("q"))
    forged = export_as("bob", tmp_path / "forged.jsonl", store_of="alice", name="alice")
    code = main(["admin", "audit-report", str(forged), "--workspace", str(workspace.root)])
    assert code == ExitCode.AUDIT_FAILED
    assert (
        "forged.jsonl: it is not signed with the key enrolled for 'alice'"
        in capsys.readouterr().err
    )


def test_an_enrolment_request_with_a_swapped_signing_key_is_refused(memory_keyring: Any) -> None:
    from desktop.engine.packs.errors import GrantRejected

    request = grants.enrolment_request(user="alice", machine="m")
    with profile_scope("mallory"):
        request["signing_key"] = grants.enrolment_request(user="mallory")["signing_key"]
    with pytest.raises(GrantRejected, match="signing fingerprint does not match"):
        grants.check_request(request)


def test_an_export_after_the_signing_key_was_replaced_says_so(
    workspace: Workspace, memory_keyring: Any, tmp_path: Path
) -> None:
    from desktop.engine.audit.errors import SigningKeyChanged
    from desktop.engine.storage import secrets

    write_turns("alice", abstained("before"))
    with profile_scope("alice"):
        secrets.new_key(grants.USER_SIGNING_KEY_NAME, 32, replace=True)  # the entry was lost
        with pytest.raises(SigningKeyChanged, match="Record #1"):
            export_as("alice", tmp_path / "a.jsonl")
    write_turns("alice", abstained("after"))  # new records name the new key
    with profile_scope("alice"), open_audit_store() as store:
        rows = [json.loads(r.body) for r in store.records()]
        assert rows[0]["signer"] != rows[1]["signer"]
        from datetime import datetime

        before, after = (datetime.fromisoformat(r["time"]) for r in rows)
        since = before + (after - before) / 2
        key = grants.user_signing_key()
        summary = write_export(
            store, tmp_path / "b.jsonl", user="alice", signing_key=key, since=since
        )
    assert summary.count == 1
