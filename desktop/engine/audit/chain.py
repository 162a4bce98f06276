"""The hash chain of audit records, and the walk that finds the first break in it.

Each record is one canonical JSON text (sorted keys, no spaces, UTF-8) that holds its own number
`seq` and the previous record's hash `prev`; its hash is the SHA-256 of exactly those bytes. The
store keeps the text as written, so verifying never re-encodes a number. The walk reads records in
the order the store holds them and names the first one that is altered (its text no longer matches
its hash), removed (a number is missing), inserted (two records claim a number, or one does not
link to the one before), reordered (a record sits where another belongs), or cut off the end
(the last acknowledged record, remembered outside the store, is gone).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64  # the `prev` of the first record ever written


def canonical(value: Any) -> str:
    """The one text a record is hashed and stored as."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """One record as it lies in the store (or a line of an export): its text and stored hash."""

    position: int  # where the store holds it (the row number), not what it claims
    body: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    """The first break found: which record, what kind of break, in words."""

    seq: int
    kind: str  # altered | removed | inserted | reordered | truncated
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ChainReport:
    """What a walk found: the records checked, the range they cover, and the first problem."""

    count: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str
    problem: ChainProblem | None
    checkpoints: tuple[dict[str, Any], ...] = ()  # the prune checkpoints met on the way

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class _Parsed:
    position: int
    seq: int | None  # None: the text is not a record (altered beyond reading)
    prev: str
    hash: str
    stored_hash: str
    fields: dict[str, Any]


def _parse(record: StoredRecord) -> _Parsed:
    try:
        fields = json.loads(record.body)
        seq, prev = fields["seq"], fields["prev"]
        if type(seq) is not int or not isinstance(prev, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return _Parsed(record.position, None, "", record_hash(record.body), record.hash, {})
    return _Parsed(record.position, seq, prev, record_hash(record.body), record.hash, fields)


def walk(
    records: Iterable[StoredRecord],
    *,
    start_seq: int = 1,
    start_prev: str = GENESIS,
    head: tuple[int, str] | None = None,
) -> ChainReport:
    """Check `records` (in stored order) as a chain that starts at number `start_seq` linked to
    `start_prev`; `head` is the last record known to be acknowledged (number, hash), if any."""
    expected, prev = start_seq, start_prev
    count, first, last_hash = 0, None, start_prev
    checkpoints: list[dict[str, Any]] = []
    hashes: dict[int, str] = {}
    parsed_records = _lookahead(_parse(r) for r in records)

    def report(problem: ChainProblem | None) -> ChainReport:
        last = expected - 1 if count else None
        return ChainReport(count, first, last, last_hash, problem, tuple(checkpoints))

    for record, following in parsed_records:
        here = record.position
        if record.seq is None:
            return report(
                ChainProblem(
                    here, "altered", f"record #{here} was altered: it is no longer readable"
                )
            )
        if record.hash != record.stored_hash:
            return report(
                ChainProblem(
                    record.seq,
                    "altered",
                    f"record #{record.seq} was altered: its content no longer matches its hash",
                )
            )
        if record.seq != expected:
            return report(_misplaced(record, following, expected))
        if record.prev != prev:
            if record.seq == start_seq and count == 0:
                message = (
                    f"record #{record.seq} does not link to the start of the log: records before "
                    "it were removed or it was inserted"
                )
            else:
                message = (
                    f"record #{record.seq} does not link to record #{record.seq - 1}: #{record.seq} "
                    f"was inserted or #{record.seq - 1} was altered"
                )
            return report(ChainProblem(record.seq, "inserted", message))
        if record.fields.get("kind") == "checkpoint":
            checkpoints.append(record.fields)
        first = record.seq if first is None else first
        count += 1
        hashes[record.seq] = record.hash
        prev, last_hash, expected = record.hash, record.hash, expected + 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq >= expected:
            gone = _gone(expected, head_seq)
            return report(
                ChainProblem(
                    expected,
                    "truncated",
                    f"{gone} removed from the end (the log had reached #{head_seq})",
                )
            )
        if head_seq >= start_seq and hashes.get(head_seq) != head_hash:
            return report(
                ChainProblem(
                    head_seq,
                    "altered",
                    f"record #{head_seq} was replaced: it is not the record acknowledged as "
                    f"#{head_seq}",
                )
            )
    return report(None)


def _misplaced(record: _Parsed, following: _Parsed | None, expected: int) -> ChainProblem:
    """A record whose own number is not the one due here: swapped, inserted or a gap."""
    seq = record.seq
    assert seq is not None
    if seq > expected and following is not None and following.seq == expected:
        return ChainProblem(
            expected,
            "reordered",
            f"records #{expected} and #{seq} are swapped (record #{seq} is stored where "
            f"#{expected} belongs)",
        )
    if seq < expected:
        return ChainProblem(
            seq,
            "inserted",
            f"a record was inserted at #{seq}: two records claim number #{seq} "
            f"(the second is stored as #{record.position})",
        )
    if following is not None and following.seq is not None and following.seq < seq:
        return ChainProblem(
            expected,
            "reordered",
            f"records are out of order at #{expected}: record #{seq} is stored there",
        )
    return ChainProblem(
        expected, "removed", f"{_gone(expected, seq - 1)} removed (before record #{seq})"
    )


def _gone(first: int, last: int) -> str:
    return f"record #{first} was" if first == last else f"records #{first} to #{last} were"


def _lookahead(items: Iterable[_Parsed]) -> Iterator[tuple[_Parsed, _Parsed | None]]:
    iterator = iter(items)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following
        current = following
