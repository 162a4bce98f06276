"""Redaction recall and precision per kind on the generated PII/secret fixture, and the toxicity
screen's flags on benign handbook text.

    .venv/bin/python bench/eval_redaction.py              # the test split (reported)
    .venv/bin/python bench/eval_redaction.py --split dev  # the rows the finders were written on

The fixture is tests/data/guard/pii_fixture.jsonl (tests/data/guard/make_pii_fixture.py, two
seeds: dev and test). Each text goes through the answer's output filter under the default policy
(`OutputGuard`, streamed in 7-character pieces as a model would send it, so the hold-back logic is
measured too). A known span is recalled when every one of its non-space characters lies inside a
span found as the same kind (a partly masked number counts as missed); a found span is correct
when it overlaps a known span of the same kind. "any kind" recall counts a span hidden by any
mark: what the reader no longer sees. Target: recall >= 95 % at precision >= 95 % per kind.

`redaction_rows(split)` returns the same figures as rows for bench/eval_guardrails.py's table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from desktop.engine.guard.pii import Finder, Kind  # noqa: E402
from desktop.engine.guard.toxicity import ToxicityScreen  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "guard" / "pii_fixture.jsonl"
HANDBOOK = ROOT.parent / "shared" / "corpora" / "18f-handbook"
PIECE = 7  # characters per streamed piece


@dataclass
class KindScore:
    positives: int = 0
    recalled: int = 0
    recalled_any: int = 0
    found: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.recalled / self.positives if self.positives else 0.0

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 1.0


def load(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if r["split"] == split]


def streamed_findings(finder: Finder, text: str) -> list[tuple[str, int, int]]:
    """What the streaming filter hides, as (kind, start, end) in the original text: the text is
    fed in pieces and each released part is scanned exactly as `GuardedRun` scans it."""
    spans: list[tuple[str, int, int]] = []
    pending, offset = "", 0
    for i in range(0, len(text), PIECE):
        pending += text[i : i + PIECE]
        hold = finder.hold_from(pending)
        found = finder.find(pending)
        for f in sorted(found, key=lambda f: f.start, reverse=True):
            if f.start < hold < f.end:
                hold = f.start
        spans += [(f.kind.value, offset + f.start, offset + f.end) for f in found if f.end <= hold]
        pending, offset = pending[hold:], offset + hold
    spans += [
        (f.kind.value, offset + f.start, offset + f.end) for f in finder.find(pending, final=True)
    ]
    return spans


def score(split: str) -> tuple[dict[str, KindScore], Counter[str]]:
    finder = Finder()
    scores = {kind.value: KindScore() for kind in Kind}
    false_by_negative: Counter[str] = Counter()
    for row in load(split):
        text = row["text"]
        found = streamed_findings(finder, text)
        gold = row["spans"]
        for span in gold:
            kind = scores[span["kind"]]
            kind.positives += 1
            needed = {i for i in range(span["start"], span["end"]) if not text[i].isspace()}
            same = {i for k, s, e in found if k == span["kind"] for i in range(s, e)}
            anything = {i for _, s, e in found for i in range(s, e)}
            kind.recalled += needed <= same
            kind.recalled_any += needed <= anything
        for kind_name, start, end in found:
            kind = scores[kind_name]
            kind.found += 1
            hit = any(
                g["kind"] == kind_name and start < g["end"] and g["start"] < end for g in gold
            )
            kind.correct += hit
            if not hit:
                false_by_negative[row["negative"] or f"(a {kind_name} row)"] += 1
    return scores, false_by_negative


def redaction_rows(split: str = "test") -> list[dict[str, Any]]:
    """One row per kind (and one for all kinds) for the guardrail table."""
    scores, _ = score(split)
    rows = []
    total = KindScore()
    for kind, s in scores.items():
        for name in ("positives", "recalled", "recalled_any", "found", "correct"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        rows.append(_row(f"redaction: {kind}", s, split))
    rows.append(_row("redaction: all kinds", total, split))
    return rows


def _row(name: str, s: KindScore, split: str) -> dict[str, Any]:
    return {
        "measure": name,
        "split": split,
        "positives": s.positives,
        "n": s.positives,
        "recall": round(s.recall, 4),
        "precision": round(s.precision, 4),
        "value": f"recall {s.recall:.1%}",
        "note": f"precision {s.precision:.1%} ({s.found} found)",
        "target": "recall >= 0.95 at precision >= 0.95",
        "met": s.recall >= 0.95 and s.precision >= 0.95,
    }


def toxicity_on_handbook() -> tuple[int, int, Counter[str], list[str]]:
    """Sentences of the 18F handbook (benign text) the toxicity screen flags, and which."""
    screen = ToxicityScreen()
    sentences = 0
    flagged: list[str] = []
    categories: Counter[str] = Counter()
    for path in sorted(HANDBOOK.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for sentence in re.split(r"(?<=[.!?])\s+|\n{2,}", text):
            if not sentence.strip():
                continue
            sentences += 1
            spans = screen.find(sentence)
            if spans:
                categories.update(s.category for s in spans)
                flagged.append(f"{path.relative_to(HANDBOOK)}: {sentence.strip()[:120]}")
    return sentences, len(flagged), categories, flagged


def pii_on_handbook() -> Counter[str]:
    """What the default policy would mark if an answer quoted the handbook (its own contacts)."""
    finder = Finder()
    counts: Counter[str] = Counter()
    for path in sorted(HANDBOOK.rglob("*.md")):
        counts.update(f.kind.value for f in finder.find(path.read_text(errors="replace")))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--show-flags", action="store_true", help="list handbook flags")
    parser.add_argument(
        "--speed", action="store_true", help="also time the streaming filter per token"
    )
    args = parser.parse_args()
    scores, false_by_negative = score(args.split)
    print(
        f"Redaction on {FIXTURE.relative_to(ROOT)} ({args.split} split), default policy, streamed"
    )
    print(
        f"{'kind':<13} {'known':>5} {'recall':>7} {'any kind':>8} {'found':>5} {'precision':>9}  met"
    )
    for kind, s in scores.items():
        any_kind = s.recalled_any / s.positives if s.positives else 0.0
        met = "yes" if s.recall >= 0.95 and s.precision >= 0.95 else "NO"
        print(
            f"{kind:<13} {s.positives:>5} {s.recall:>7.1%} {any_kind:>8.1%} {s.found:>5} "
            f"{s.precision:>9.1%}  {met}"
        )
    [total] = [r for r in redaction_rows(args.split) if r["measure"] == "redaction: all kinds"]
    print(f"{'all kinds':<13} {total['positives']:>5} {total['recall']:>7.1%} {'':>8} {'':>5} "
          f"{total['precision']:>9.1%}")  # fmt: skip
    if false_by_negative:
        print("false finds by look-alike:", dict(false_by_negative.most_common()))
    sentences, flagged, categories, lines = toxicity_on_handbook()
    print(
        f"\nToxicity screen on benign text (18F handbook): {flagged} of {sentences} sentences "
        f"flagged ({flagged / max(sentences, 1):.2%}) {dict(categories)}"
    )
    if args.show_flags:
        for line in lines:
            print(f"  {line}")
    print(f"Default-policy finds in the handbook itself (its contacts): {dict(pii_on_handbook())}")
    if args.speed:
        speed()
    return 0


def speed() -> None:
    """The filter's cost per streamed piece on a handbook-sized answer (compare with the model's
    time per token, tens of milliseconds on a CPU)."""
    import base64
    import random
    import time

    from desktop.engine.answer.output_guard import OutputGuard
    from desktop.engine.policy.rules import DEFAULT_POLICY

    answer = (HANDBOOK / "travel-and-leave" / "leave.md").read_text()[:2400]
    answer += " Call +44 20 7946 0958 or jane@example.org [1]."
    rng = random.Random(5)
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(30))
    pem = f"Here it is:\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    guard = OutputGuard(DEFAULT_POLICY)
    for size, text in ((4, answer), (16, answer), (4, pem + answer[:500])):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        started = time.perf_counter()
        for _ in range(3):
            run = guard.start()
            "".join(run.feed(p) for p in pieces) + run.finish()
        elapsed = (time.perf_counter() - started) / 3
        what = "an answer with a 2 kB private key" if text.startswith("Here it is") else "text"
        print(
            f"streaming filter, {what}: {len(text)} characters in {len(pieces)} pieces of {size}: "
            f"{elapsed * 1000:.1f} ms per answer, {elapsed / len(pieces) * 1000:.3f} ms per piece"
        )


if __name__ == "__main__":
    raise SystemExit(main())
