"""Follow-up questions: does searching them with the question they follow find the right pages?

    .venv/bin/python bench/eval_followups.py [--golden eval/golden/handbook.jsonl] [--k 5]

Retrieval only (no chat model): for every golden question tagged "follow-up" that has a
conversation prefix, as its profile, the gold page in the top k when the follow-up is searched
alone (the raw baseline) and as `FollowUpQuery` searches it (previous question + this one), in the
same run. Needs the demo set up, like bench/eval_trust.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.engine.access import KnowledgeAccess  # noqa: E402
from desktop.engine.answer.grounding import FollowUpQuery  # noqa: E402
from desktop.engine.answer.records import Question  # noqa: E402
from desktop.engine.runtime.catalog import Catalog  # noqa: E402
from desktop.engine.runtime.embedder import Embedder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=ROOT / "eval/golden/handbook.jsonl")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.golden.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "follow-up" in r.get("tags", []) and r.get("conversation")]
    embedder = Embedder(Catalog.load().default("embedding"))
    hits = {"alone": 0, "with context": 0}
    condensed = 0
    for name in sorted({str(r.get("profile", "")) for r in rows}):
        os.environ["ENCLAVE_PROFILE"] = name
        access = KnowledgeAccess(embedder)
        follow = FollowUpQuery(access, args.k)
        for row in (r for r in rows if str(r.get("profile", "")) == name):
            if not row.get("answerable"):
                continue
            gold = set(row["expected_sources"])
            question = Question(row["question"], history=tuple(row["conversation"]))
            alone = {p.path for p in access.search(question.text, args.k)}
            retrieval = follow.retrieve(question)
            condensed += retrieval.query != question.text
            hits["alone"] += bool(gold & alone)
            hits["with context"] += bool(gold & {p.path for p in retrieval.passages})
        access.close()
    embedder.close()
    total = sum(1 for r in rows if r.get("answerable"))
    print(f"{total} answerable follow-ups; {condensed} searched with the question they follow")
    for label, count in hits.items():
        print(
            f"gold page in top {args.k}, {label:<13} {count:>3}/{total} = {count / max(total, 1):.0%}"
        )
    ratio = hits["with context"] / max(hits["alone"], 1)
    print(f"ratio (with context / alone): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
