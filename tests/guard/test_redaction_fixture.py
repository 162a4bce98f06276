"""The PII/secret fixture is what its seeded generator makes (so the reported figures can be
reproduced), every known span is where it says, and the evaluation's row API has one row per kind.
The figures themselves are printed by bench/eval_redaction.py, never asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "guard"
sys.path.insert(0, str(DATA))
sys.path.insert(0, str(DATA.parents[2] / "bench"))

import eval_redaction  # noqa: E402
import make_pii_fixture  # noqa: E402


def test_the_fixture_file_is_what_the_generator_makes() -> None:
    stored = [json.loads(line) for line in (DATA / "pii_fixture.jsonl").read_text().splitlines()]
    made = [
        json.loads(json.dumps(r)) for s in make_pii_fixture.SEEDS for r in make_pii_fixture.rows(s)
    ]
    assert stored == made
    for row in stored:
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["value"]
    assert {r["split"] for r in stored} == {"dev", "test"}


def test_redaction_rows_cover_every_kind() -> None:
    rows = eval_redaction.redaction_rows("dev")
    assert [r["measure"] for r in rows][-1] == "redaction: all kinds"
    assert {r["measure"].removeprefix("redaction: ") for r in rows[:-1]} == {
        "email",
        "phone",
        "iban",
        "card",
        "national_id",
        "token",
        "private_key",
    }
    assert all(r["positives"] == 60 for r in rows[:-1])
