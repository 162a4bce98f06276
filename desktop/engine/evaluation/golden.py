"""Golden sets: questions with what a right answer looks like, one JSON object per line.

The format (docs/evaluation.md has the full table): `id`, `question`, `answerable` and `category`
are required; `profile` (a local profile, "" = the default one) or `role` (a role of the pack's
audience map) says who asks; `expected_sources` (document paths in the pack), `key_facts`,
`reference` (an expected answer, for token F1), `tags`, `split`, `conversation` (turns before a
follow-up), `guard` ("block": the turn should be refused; "allow": it must not be),
`injection_canary` (a string that appears in the answer only if an injected instruction was
obeyed), `retrieval_only` (score retrieval, generate nothing), `source_grades` (graded relevance
for nDCG), `checked` and `note` (free text for the set's authors).

`load_golden` reports every bad line with its number at once, so a set is fixed in one pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.evaluation.errors import GoldenSetInvalid

REQUIRED = ("id", "question", "answerable", "category")
OPTIONAL = (
    "profile",
    "role",
    "expected_sources",
    "key_facts",
    "reference",
    "tags",
    "split",
    "conversation",
    "guard",
    "injection_canary",
    "retrieval_only",
    "source_grades",
    "checked",
    "note",
)
GUARD_EXPECTATIONS = ("", "block", "allow")
SPLITS = ("", "calibration", "test")
MAX_QUESTION = 8000
_PROFILE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GoldenQuestion:
    """One line of a golden set."""

    id: str
    question: str
    answerable: bool
    category: str
    profile: str = ""
    role: str = ""
    expected_sources: tuple[str, ...] = ()
    key_facts: tuple[str, ...] = ()
    reference: str = ""
    tags: tuple[str, ...] = ()
    split: str = ""
    conversation: tuple[Turn, ...] = ()
    guard: str = ""
    injection_canary: str = ""
    retrieval_only: bool = False
    source_grades: Mapping[str, float] = field(default_factory=dict)
    line: int = 0

    @property
    def restricted(self) -> bool:
        """The answer exists, but only where this asker may not read."""
        return not self.answerable and "restricted" in self.tags

    @property
    def kind(self) -> str:
        if self.answerable:
            return "answerable"
        return "restricted" if self.restricted else "unanswerable"

    @property
    def asker(self) -> str:
        """Who asks, as the report groups it: the role when given, else the profile."""
        return self.role or self.profile or "default"

    def as_dict(self) -> dict[str, Any]:
        """The JSON line form (also what older scoring code reads)."""
        return {
            "id": self.id,
            "question": self.question,
            "answerable": self.answerable,
            "category": self.category,
            "profile": self.profile,
            "role": self.role,
            "expected_sources": list(self.expected_sources),
            "key_facts": list(self.key_facts),
            "reference": self.reference,
            "tags": list(self.tags),
            "split": self.split,
            "conversation": [{"role": t.role, "content": t.content} for t in self.conversation],
            "guard": self.guard,
            "injection_canary": self.injection_canary,
            "retrieval_only": self.retrieval_only,
            "source_grades": dict(self.source_grades),
        }


@dataclass(frozen=True)
class GoldenSet:
    name: str
    sha256: str  # of the file's bytes: a report says exactly which set it measured
    questions: tuple[GoldenQuestion, ...]

    def select(self, split: str = "all", limit: int | None = None) -> list[GoldenQuestion]:
        """The questions of a split ("all": every one); with `limit`, that many evenly spaced
        through it, so a small run still mixes kinds, categories and askers."""
        chosen = [q for q in self.questions if split == "all" or q.split == split]
        if limit is None or limit >= len(chosen):
            return chosen
        step = len(chosen) / max(limit, 1)
        return [chosen[int(i * step)] for i in range(limit)]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_row(row: Mapping[str, Any]) -> list[str]:
    """What is wrong with one parsed line (empty: nothing)."""
    found: list[str] = []
    missing = [f for f in REQUIRED if f not in row]
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if unknown:
        found.append(f"unknown field(s) {', '.join(unknown)}")
    if not isinstance(row.get("id", ""), str) or not str(row.get("id", "x")).strip():
        found.append("id must be a non-empty string")
    question = row.get("question", "x")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_QUESTION:
        found.append(f"question must be non-empty text of at most {MAX_QUESTION} characters")
    if "answerable" in row and not isinstance(row["answerable"], bool):
        found.append("answerable must be true or false")
    for name in ("category", "reference", "injection_canary", "checked", "note"):
        if name in row and not isinstance(row[name], str):
            found.append(f"{name} must be a string")
    for name in ("expected_sources", "key_facts", "tags"):
        if name in row and not _strings(row[name]):
            found.append(f"{name} must be a list of strings")
    profile = row.get("profile", "")
    if not isinstance(profile, str) or (profile and not _PROFILE.match(profile)):
        found.append("profile must be '' or lowercase letters, digits and dashes")
    role = row.get("role", "")
    if not isinstance(role, str) or (role and not _ROLE.match(role)):
        found.append("role must be letters, digits, . _ -")
    if row.get("split", "") not in SPLITS:
        found.append(f"split must be one of {', '.join(repr(s) for s in SPLITS)}")
    if row.get("guard", "") not in GUARD_EXPECTATIONS:
        found.append("guard must be 'block', 'allow' or absent")
    if "retrieval_only" in row and not isinstance(row["retrieval_only"], bool):
        found.append("retrieval_only must be true or false")
    grades = row.get("source_grades", {})
    if not isinstance(grades, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        for k, v in grades.items()
    ):
        found.append("source_grades must map paths to non-negative numbers")
    turns = row.get("conversation", [])
    if not isinstance(turns, list) or not all(
        isinstance(t, dict)
        and set(t) == {"role", "content"}
        and t["role"] in ("user", "assistant")
        and isinstance(t["content"], str)
        for t in turns
    ):
        found.append('conversation turns are {"role": "user"|"assistant", "content": "..."}')
    if found:
        return found
    answerable = row["answerable"]
    if answerable and not (
        row.get("expected_sources") or row.get("key_facts") or row.get("reference")
    ):
        found.append("an answerable question needs expected_sources, key_facts or a reference")
    if not answerable and "restricted" not in row.get("tags", []) and row.get("key_facts"):
        found.append("an unanswerable question has no key facts (tag it 'restricted' if it is)")
    if row.get("retrieval_only") and not row.get("expected_sources"):
        found.append("a retrieval_only question needs expected_sources")
    return found


def _question(row: Mapping[str, Any], line: int) -> GoldenQuestion:
    return GoldenQuestion(
        id=row["id"],
        question=row["question"],
        answerable=row["answerable"],
        category=row["category"],
        profile=row.get("profile", ""),
        role=row.get("role", ""),
        expected_sources=tuple(row.get("expected_sources", ())),
        key_facts=tuple(row.get("key_facts", ())),
        reference=row.get("reference", ""),
        tags=tuple(row.get("tags", ())),
        split=row.get("split", ""),
        conversation=tuple(Turn(t["role"], t["content"]) for t in row.get("conversation", ())),
        guard=row.get("guard", ""),
        injection_canary=row.get("injection_canary", ""),
        retrieval_only=bool(row.get("retrieval_only", False)),
        source_grades={str(k): float(v) for k, v in row.get("source_grades", {}).items()},
        line=line,
    )


def parse_golden(lines: Sequence[str], name: str = "golden set") -> GoldenSet:
    """Parse and validate the lines of a golden set; `GoldenSetInvalid` lists every bad line."""
    problems: list[str] = []
    questions: list[GoldenQuestion] = []
    first_line: dict[str, int] = {}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        found = _check_row(row)
        problems += [f"line {number}: {p}" for p in found]
        if found:
            continue
        qid = row["id"]
        if qid in first_line:
            problems.append(f"line {number}: id '{qid}' repeats line {first_line[qid]}")
            continue
        first_line[qid] = number
        questions.append(_question(row, number))
    if not questions and not problems:
        problems.append("no questions")
    if problems:
        raise GoldenSetInvalid(name, problems)
    digest = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    return GoldenSet(name, digest, tuple(questions))


def load_golden(path: Path) -> GoldenSet:
    """Read and validate a golden set file (UTF-8 JSONL)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GoldenSetInvalid(str(path), [f"cannot be read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GoldenSetInvalid(str(path), [f"not UTF-8 text (byte {exc.start})"]) from None
    golden = parse_golden(text.splitlines(keepends=True), path.name)
    return GoldenSet(path.name, hashlib.sha256(raw).hexdigest(), golden.questions)
