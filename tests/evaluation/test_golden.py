"""The golden-set format: every bad line reported with its number, the shipped sets valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.engine.evaluation.errors import GoldenSetInvalid
from desktop.engine.evaluation.golden import load_golden, parse_golden

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"id": "q1", "question": "How many days?", "answerable": True, "category": "leave",
        "expected_sources": ["leave.md"], "key_facts": ["26 days"]}  # fmt: skip


def line(**changes: object) -> str:
    row = {**GOOD, **changes}
    return json.dumps({k: v for k, v in row.items() if v is not None}) + "\n"


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    lines = [
        line(),  # 1: fine
        "{not json\n",  # 2
        "[1, 2]\n",  # 3
        line(id="q4", answerable="yes"),  # 4
        line(id="q5", question=None),  # 5: missing question
        line(id="q6", colour="blue"),  # 6: unknown field
        line(),  # 7: repeats q1
        "\n",  # 8: blank lines are fine
        line(id="q9", guard="maybe", split="dev"),  # 9: two problems on one line
        line(id="q10", answerable=False, key_facts=["x"]),  # 10: unanswerable with facts
        line(id="q11", conversation=[{"role": "system", "content": "x"}]),  # 11
        line(id="q12", profile="Not A Profile"),  # 12
        line(id="q13", source_grades={"a.md": -1}),  # 13
        line(id="q14", answerable=True, expected_sources=[], key_facts=[]),  # 14
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(GoldenSetInvalid) as caught:
        load_golden(path)
    problems = caught.value.problems
    numbers = sorted({int(p.split(":")[0].removeprefix("line ")) for p in problems})
    assert numbers == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
    assert "line 7: id 'q1' repeats line 1" in problems
    assert sum(p.startswith("line 9:") for p in problems) == 2
    assert any(p.startswith("line 6: unknown field(s) colour") for p in problems)
    assert "line 2" in caught.value.message and caught.value.hint


def test_a_valid_set_parses_into_typed_questions() -> None:
    golden = parse_golden(
        [
            line(),
            line(
                id="q2", answerable=False, key_facts=[], expected_sources=[], tags=["unanswerable"]
            ),
            line(
                id="q3",
                role="hr",
                guard="block",
                injection_canary="PWNED",
                split="test",
                conversation=[{"role": "user", "content": "hi"}],
                reference="26 days",
            ),
        ]
    )
    first, second, third = golden.questions
    assert (first.kind, second.kind, third.kind) == ("answerable", "unanswerable", "answerable")
    assert third.asker == "hr" and first.asker == "default" and third.conversation[0].role == "user"
    assert third.line == 3 and len(golden.sha256) == 64
    assert [q.id for q in golden.select("test")] == ["q3"]


def test_an_empty_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(GoldenSetInvalid, match="no questions"):
        load_golden(empty)
    with pytest.raises(GoldenSetInvalid, match="cannot be read"):
        load_golden(tmp_path / "missing.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(GoldenSetInvalid, match="not UTF-8"):
        load_golden(binary)


def test_the_handbook_set_is_valid_and_limit_spreads_the_selection() -> None:
    golden = load_golden(ROOT / "eval/golden/handbook.jsonl")
    assert len(golden.questions) == 297
    picked = golden.select("test", 20)
    assert len(picked) == 20
    assert {q.kind for q in picked} == {"answerable", "restricted", "unanswerable"}
    assert len({q.asker for q in picked}) == 3
