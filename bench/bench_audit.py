"""B17: what the audit log costs per answer, against history's own message write, in the same run.

Both are one FULL-synchronous SQLCipher commit per item; the audit record also reads the chain's
head inside a `BEGIN IMMEDIATE` transaction, encodes canonical JSON, hashes it and replaces
`audit.head` (with an fsync). Sides alternate in rounds; medians per write. Also reported: how long
`verify` takes over the whole log and an export's size and time, per record.

Record bodies are made by `audit.records.answer_fields` from a realistic answer (four passages,
three sentence verdicts, one guard verdict, redacted text), so their size is that of real records.

    .venv/bin/python bench/bench_audit.py [--records 500] [--rounds 5]

Target, set before measuring: audit_write / history_write <= 3 (an answer takes seconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.records import (
    Answer,
    Decision,
    GuardVerdict,
    ModelRef,
    Question,
    SentenceVerdict,
)
from desktop.engine.audit.content import TextKeeper
from desktop.engine.audit.export import write_export
from desktop.engine.audit.records import AuditContext, answer_fields
from desktop.engine.audit.store import AuditStore
from desktop.engine.guard.pii import redact_text
from desktop.engine.policy.rules import AuditContent
from desktop.engine.storage.conversations import ConversationStore

QUESTION = "How many days of annual leave do staff get, and can I carry them over to next year?"
ANSWER = (
    "Staff get 26 days of annual leave a year [1]. Up to five days can be carried over [2]. "
    "Ask your supervisor before booking more than two weeks at once [3]."
)


def realistic_answer() -> Answer:
    passages = tuple(
        Passage(CitationRef(n, "handbook", 3, "staff", 1000 + n), "Leave", "x", score=0.7 - n / 50)
        for n in range(1, 5)
    )
    verdicts = tuple(SentenceVerdict(i, "s", True, (i + 1,)) for i in range(3))
    return Answer(
        Question(QUESTION, conversation_id=1),
        ANSWER,
        Decision.answer("evidence 0.71", signal=0.7132),
        passages=passages,
        verdicts=verdicts,
        query=QUESTION,
        model=ModelRef("qwen2.5-coder-0.5b-instruct", "ab" * 32),
        guards=(GuardVerdict("output.pii.email", "redact", "output", "an e-mail address"),),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500, help="writes per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    context = AuditContext("alice", "cd" * 32, "0.1.0", ("employee",), {"handbook": ("staff",)})
    keeper = TextKeeper(AuditContent.REDACTED, os.urandom(32), redact_text)
    answer = realistic_answer()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audit = AuditStore(folder / "audit.db", os.urandom(32))
        history = ConversationStore(folder / "history.db", os.urandom(32))
        conversation = history.create_conversation().id
        audit_ms: list[float] = []
        history_ms: list[float] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for _ in range(args.records):
                history.add_message(conversation, "assistant", ANSWER, citations=[{"n": 1}])
            history_ms.append((time.perf_counter() - started) * 1000 / args.records)
            started = time.perf_counter()
            for _ in range(args.records):
                audit.append(answer_fields(answer, context, keeper))
            audit_ms.append((time.perf_counter() - started) * 1000 / args.records)
        total = audit.count()
        started = time.perf_counter()
        report = audit.verify()
        verify_s = time.perf_counter() - started
        assert report.ok, report.problem
        started = time.perf_counter()
        out = folder / "export.jsonl"
        write_export(audit, out, user="alice", signing_key=Ed25519PrivateKey.generate())
        export_s = time.perf_counter() - started
        export_bytes = out.stat().st_size
        body = next(audit.records()).body
        audit.close()
        history.close()
    a, h = statistics.median(audit_ms), statistics.median(history_ms)
    print(f"records per side: {args.records} x {args.rounds} rounds; record body {len(body)} bytes")
    print(f"history_write   {h:8.3f} ms per message (median of rounds)")
    print(f"audit_write     {a:8.3f} ms per record")
    print(f"ratio audit_write / history_write = {a / h:.2f}  (target <= 3)")
    print(f"verify          {verify_s * 1e6 / total:8.1f} us per record ({total} records)")
    print(f"export          {export_s * 1e6 / total:8.1f} us per record, {export_bytes} bytes")


if __name__ == "__main__":
    main()
