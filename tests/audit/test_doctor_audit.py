"""`enclave doctor` says whether this profile has an audit log and how many records it holds."""

from __future__ import annotations

from typing import Any

from desktop.engine import doctor
from desktop.engine.audit.store import AuditStore, audit_path

from .conftest import KEY, fill


def test_doctor_reports_the_audit_log(memory_keyring: Any) -> None:
    assert doctor.report()["audit"]["present"] is False
    assert "Audit log:   none yet" in doctor.format_text(doctor.report())
    store = AuditStore(audit_path(), KEY)
    try:
        fill(store, 3)
    finally:
        store.close()
    report = doctor.report()
    assert report["audit"] == {"path": str(audit_path()), "present": True, "records": 3}
    assert "Audit log:   3 records written" in doctor.format_text(report)
