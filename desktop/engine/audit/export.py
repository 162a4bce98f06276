"""Signed audit exports: a JSON Lines file of one period's records that the administrator verifies.

    line 1        header: who (user, signer key id), which records (first/last number and hash,
                  the link before the first), the period, when exported
    lines 2..n-1  the records, each exactly the text the store hashed
    line n        {"signature": {"keyid", "sig"}}: Ed25519 over every byte before this line

The administrator's `read_export` checks, in this order: the signature with the key enrolled for
the user the header names (never a key the file offers), then the chain of the records, then that
every record names the same signer. A user's export can therefore not be passed off as another
user's: re-signing it needs the other user's key, and re-attributing its records breaks the chain.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from desktop import __version__
from desktop.engine.audit.chain import ChainReport, StoredRecord, canonical, record_hash, walk
from desktop.engine.audit.errors import AuditTampered, ExportRejected, SigningKeyChanged
from desktop.engine.audit.store import SIGNER_META, AuditStore, utc_text
from desktop.engine.core.regular_files import FileTooLarge, NotRegularFile, read_regular
from desktop.engine.packs.signing import key_id, load_public_key

EXPORT_TYPE = "enclave-audit-export"
SPEC_VERSION = 1
MAX_EXPORT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    count: int
    first_seq: int | None
    last_seq: int | None


def write_export(
    store: AuditStore,
    out: Path,
    *,
    user: str,
    signing_key: Ed25519PrivateKey,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ExportSummary:
    """Write the records created in [since, until) to `out`, signed; the store is verified first
    (an export of a broken chain would only hide where it broke)."""
    report = store.verify()
    if report.problem is not None:
        raise AuditTampered(
            str(report.problem), "Nothing was exported. Run `enclave audit verify`."
        )
    span = store.range_for(
        since.timestamp() if since else None, until.timestamp() if until else None
    )
    records = list(store.records(*span)) if span else []
    signer = key_id(signing_key.public_key())
    if store.meta(SIGNER_META) != signer:  # the key was replaced: new records use the new one
        store.set_meta(SIGNER_META, signer)
    for record in records:
        fields = json.loads(record.body)
        if fields.get("kind") == "answer" and fields.get("signer") != signer:
            raise SigningKeyChanged(record.position, str(fields.get("signer")), signer)
    first_prev = json.loads(records[0].body)["prev"] if records else report.last_hash
    data = export_bytes(
        records, first_prev, user=user, signing_key=signing_key, since=since, until=until
    )
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    first, last = (records[0].position, records[-1].position) if records else (None, None)
    return ExportSummary(out, len(records), first, last)


def export_bytes(
    records: list[StoredRecord],
    first_prev: str,
    *,
    user: str,
    signing_key: Ed25519PrivateKey,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bytes:
    """The signed JSON Lines text of `records` (a contiguous run of the chain)."""
    signer = key_id(signing_key.public_key())
    header = {
        "type": EXPORT_TYPE,
        "spec_version": SPEC_VERSION,
        "user": user,
        "signer": signer,
        "app_version": __version__,
        "exported": utc_text(datetime.now(UTC).timestamp()),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "count": len(records),
        "first_seq": records[0].position if records else None,
        "first_prev": first_prev,
        "last_seq": records[-1].position if records else None,
        "last_hash": records[-1].hash if records else None,
    }
    lines = [canonical(header), *(r.body for r in records)]
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    signature = {
        "keyid": signer,
        "sig": base64.b64encode(signing_key.sign(payload)).decode("ascii"),
    }
    return payload + (canonical({"signature": signature}) + "\n").encode("utf-8")


@dataclass(frozen=True)
class VerifiedExport:
    """An export that passed every check: its header and its records' fields."""

    path: Path
    header: dict[str, Any]
    records: tuple[dict[str, Any], ...]
    chain: ChainReport

    @property
    def user(self) -> str:
        return str(self.header["user"])


def _read_bounded(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_EXPORT_BYTES)
    except NotRegularFile:
        raise ExportRejected(f"{path} is not a regular file") from None
    except FileTooLarge:
        raise ExportRejected(f"{path} is over {MAX_EXPORT_BYTES:,} bytes") from None
    except OSError as exc:
        raise ExportRejected(f"{path} cannot be read ({exc.strerror})") from None


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ExportRejected(f"its {what} is not JSON") from None
    if not isinstance(value, dict):
        raise ExportRejected(f"its {what} is not a JSON object")
    return value


def enrolled_signing_key(users: Mapping[str, Any], user: str) -> Ed25519PublicKey:
    """The audit signing key the administrator enrolled for `user` (workspace users.json)."""
    record = users.get(user)
    if not isinstance(record, dict):
        raise ExportRejected(
            f"it names user {user!a}, who is not enrolled in this workspace",
            "Check the workspace (`enclave admin users`), or enrol the user first.",
        )
    request = record.get("request", {})
    text = request.get("signing_key") if isinstance(request, dict) else None
    if not isinstance(text, str):
        raise ExportRejected(
            f"user {user!a} was enrolled without an audit signing key (an older request)",
            "Ask the user for a new `enclave enrol` request and enrol it again.",
        )
    try:
        return load_public_key(text)
    except ValueError:
        raise ExportRejected(f"the enrolled signing key of {user!a} is malformed") from None


def read_export(path: Path, users: Mapping[str, Any]) -> VerifiedExport:
    """Verify an export against the enrolled users (signature, enrolment, chain, signer)."""
    raw = _read_bounded(path)
    if not raw.endswith(b"\n"):
        raise ExportRejected("it is cut short (no final line)")
    body, _, last = raw[:-1].rpartition(b"\n")
    if not body:
        raise ExportRejected("it has no header and signature")
    payload = body + b"\n"
    lines = body.split(b"\n")
    header = _json_object(lines[0], "header")
    if header.get("type") != EXPORT_TYPE or header.get("spec_version") != SPEC_VERSION:
        raise ExportRejected("it is not an Enclave audit export")
    user = header.get("user")
    if not isinstance(user, str):
        raise ExportRejected("its header names no user")
    enrolled = enrolled_signing_key(users, user)
    signature = _json_object(last, "signature line").get("signature")
    if not isinstance(signature, dict):
        raise ExportRejected("its last line is not a signature")
    enrolled_id = key_id(enrolled)
    if signature.get("keyid") != enrolled_id or header.get("signer") != enrolled_id:
        raise ExportRejected(
            f"it is not signed with the key enrolled for {user!a}",
            "An export can only be read as the export of the user whose key signed it.",
        )
    try:
        enrolled.verify(base64.b64decode(str(signature.get("sig")), validate=True), payload)
    except (InvalidSignature, ValueError):
        raise ExportRejected("its signature does not match its content") from None
    return _check_records(path, header, lines[1:], enrolled_id)


def _check_records(
    path: Path, header: dict[str, Any], lines: list[bytes], signer: str
) -> VerifiedExport:
    first_seq, last_seq = header.get("first_seq"), header.get("last_seq")
    if lines and (type(first_seq) is not int or type(last_seq) is not int):
        raise ExportRejected("its header does not say which records it holds")
    start = first_seq if isinstance(first_seq, int) else 1
    stored = []
    for index, line in enumerate(lines):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ExportRejected(f"its line {index + 2} is not UTF-8 text") from None
        stored.append(StoredRecord(start + index, text, record_hash(text)))
    if header.get("count") != len(stored):
        raise ExportRejected(
            f"it holds {len(stored)} records, its header says {header.get('count')}"
        )
    head = (last_seq, str(header.get("last_hash"))) if stored else None
    chain = walk(
        stored,
        start_seq=start,
        start_prev=str(header.get("first_prev")),
        head=head,  # type: ignore[arg-type]
    )
    if chain.problem is not None:
        raise ExportRejected(f"its chain is broken: {chain.problem}")
    records = tuple(json.loads(s.body) for s in stored)
    for record in records:
        if record.get("kind") == "answer" and record.get("signer") != signer:
            raise ExportRejected(
                f"record #{record['seq']} was written by another profile's key "
                f"({str(record.get('signer'))[:16]}...), not the signer's",
                "An export can only be read as the export of the user whose key signed it.",
            )
    return VerifiedExport(path, header, records, chain)
