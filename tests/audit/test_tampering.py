"""Every kind of tampering with the stored chain is found, and the first broken record is named:
a byte changed, a record deleted, two swapped, one inserted, the end cut off, old records removed
past the retention checkpoint. `enclave audit verify` says the same and exits non-zero."""

from __future__ import annotations

import json
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.audit.chain import canonical, record_hash
from desktop.engine.audit.log import open_audit_store
from desktop.engine.audit.store import AuditStore
from desktop.engine.core.exit_codes import ExitCode

from .conftest import fill


def problem_of(store: AuditStore) -> tuple[int, str, str]:
    report = store.verify()
    assert report.problem is not None, "tampering went unnoticed"
    return report.problem.seq, report.problem.kind, report.problem.message


def body_of(store: AuditStore, seq: int) -> str:
    return str(store.db.execute("SELECT body FROM records WHERE seq = ?", [seq]).fetchone()[0])


def test_an_untouched_chain_verifies(store: AuditStore) -> None:
    fill(store, 6)
    report = store.verify()
    assert report.ok and report.count == 6 and (report.first_seq, report.last_seq) == (1, 6)
    assert json.loads(body_of(store, 2))["prev"] == record_hash(body_of(store, 1))


def test_a_flipped_byte_names_the_altered_record(store: AuditStore) -> None:
    fill(store, 6)
    body = body_of(store, 4)
    flipped = body.replace("record 4", "record 5")
    store.db.execute("UPDATE records SET body = ? WHERE seq = 4", [flipped])
    assert problem_of(store)[:2] == (4, "altered")
    assert "record #4 was altered" in problem_of(store)[2]


def test_an_altered_record_with_a_recomputed_hash_breaks_the_next_link(store: AuditStore) -> None:
    fill(store, 6)
    forged = body_of(store, 3).replace("record 3", "record X")
    store.db.execute(
        "UPDATE records SET body = ?, hash = ? WHERE seq = 3", [forged, record_hash(forged)]
    )
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (4, "inserted") and "#3 was altered" in message


def test_a_deleted_record_is_named(store: AuditStore) -> None:
    fill(store, 6)
    store.db.execute("DELETE FROM records WHERE seq = 3")
    assert problem_of(store) == (3, "removed", "record #3 was removed (before record #4)")


def test_two_swapped_records_are_named(store: AuditStore) -> None:
    fill(store, 6)
    rows = {
        seq: store.db.execute("SELECT body, hash FROM records WHERE seq = ?", [seq]).fetchone()
        for seq in (2, 3)
    }
    for seq, other in ((2, 3), (3, 2)):
        body, digest = rows[other]
        store.db.execute("UPDATE records SET body = ?, hash = ? WHERE seq = ?", [body, digest, seq])
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (2, "reordered") and "#2 and #3 are swapped" in message


def test_a_record_inserted_in_the_middle_is_named(store: AuditStore) -> None:
    fill(store, 5)
    # Shift #3.. up by one and forge a #3 that links correctly to #2.
    store.db.execute("UPDATE records SET seq = seq + 100 WHERE seq >= 3")
    store.db.execute("UPDATE records SET seq = seq - 99 WHERE seq >= 100")
    forged = canonical({"kind": "answer", "seq": 3, "prev": record_hash(body_of(store, 2))})
    store.db.execute(
        "INSERT INTO records (seq, created, body, hash) VALUES (3, 0, ?, ?)",
        [forged, record_hash(forged)],
    )
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (3, "inserted") and "two records claim number #3" in message


def test_a_record_appended_behind_the_stores_back_is_named(store: AuditStore) -> None:
    fill(store, 4)
    forged = canonical({"kind": "answer", "seq": 5, "prev": "f" * 64})
    store.db.execute(
        "INSERT INTO records (seq, created, body, hash) VALUES (5, 0, ?, ?)",
        [forged, record_hash(forged)],
    )
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (5, "inserted") and "does not link to record #4" in message


def test_records_cut_off_the_end_are_named(store: AuditStore) -> None:
    fill(store, 5)
    store.db.execute("DELETE FROM records WHERE seq >= 4")
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (
        4,
        "truncated",
    ) and "records #4 to #5 were removed from the end" in message


def test_retention_prunes_with_a_checkpoint_and_the_chain_still_verifies(store: AuditStore) -> None:
    for i in range(6):
        store.append({"kind": "answer", "note": f"record {i + 1}"}, created=1000.0 + i)
    assert store.prune(older_than=1003.0) == 3  # #1-#3 are older than the cut
    report = store.verify()
    assert report.ok and report.first_seq == 4 and report.last_seq == 7
    checkpoint = json.loads(body_of(store, 7))
    assert checkpoint["kind"] == "checkpoint" and checkpoint["pruned_through"] == 3
    assert store.prune(older_than=1003.0) == 0  # nothing more is old enough
    store.append({"kind": "answer"})
    assert store.verify().ok


def test_removing_more_than_the_checkpoint_says_is_named(store: AuditStore) -> None:
    for i in range(6):
        store.append({"kind": "answer"}, created=1000.0 + i)
    store.prune(older_than=1002.0)  # #1-#2 pruned, checkpoint is #7
    store.db.execute("DELETE FROM records WHERE seq = 3")
    store.db.execute(
        "UPDATE chain_start SET first_seq = 4, prev = (SELECT hash FROM records WHERE seq = 7)"
    )
    store.db.execute(
        "UPDATE chain_start SET prev = ? WHERE id = 1",
        [record_hash(canonical({"x": 1}))],
    )
    assert problem_of(store)[1] in ("inserted", "removed")
    # The honest-looking variant: the start moved to the real hash of the removed #3.
    store.db.execute(
        "UPDATE chain_start SET prev = ? WHERE id = 1",
        [json.loads(body_of(store, 4))["prev"]],
    )
    seq, kind, message = problem_of(store)
    assert (seq, kind) == (3, "removed") and "after the last retention checkpoint" in message


def test_verify_on_the_command_line_passes_then_names_the_record(
    memory_keyring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_audit_store() as store:
        fill(store, 5)
    assert main(["audit", "verify"]) == ExitCode.OK
    assert "OK: 5 records, #1 to #5" in capsys.readouterr().out
    with open_audit_store() as store:
        store.db.execute("DELETE FROM records WHERE seq = 2")
    assert main(["audit", "verify"]) == ExitCode.AUDIT_FAILED
    err = capsys.readouterr().err
    assert "record #2 was removed" in err


def test_a_byte_flipped_in_the_encrypted_file_is_a_damaged_store_not_a_silent_pass(
    memory_keyring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_audit_store() as store:
        fill(store, 40)  # several pages
        path = store.path
    raw = bytearray(path.read_bytes())
    assert not path.with_name(path.name + "-wal").exists()  # all in the main file
    raw[3 * 4096 + 200] ^= 0x01
    path.write_bytes(bytes(raw))
    assert main(["audit", "verify"]) == ExitCode.STORAGE
    assert "is damaged" in capsys.readouterr().err
