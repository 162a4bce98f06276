"""The dataset adapters write valid golden sets (and corpora) from the shared public datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `eval` is not an installed package

from desktop.engine.evaluation.golden import load_golden
from eval.adapters import DEFAULT_DATA, main

pytestmark = pytest.mark.skipif(not DEFAULT_DATA.is_dir(), reason="shared datasets not present")


def test_cranfield_is_retrieval_only_with_graded_sources(tmp_path: Path) -> None:
    assert main(["cranfield", str(tmp_path)]) == 0
    golden = load_golden(tmp_path / "golden.jsonl")
    assert len(golden.questions) == 222  # 3 of the 225 queries have no relevant document
    first = golden.questions[0]
    assert first.retrieval_only and first.role == "reader"
    assert set(first.source_grades.values()) <= {1.0, 2.0, 3.0}
    assert all((tmp_path / "corpus" / s).is_file() for s in first.expected_sources)
    assert len(list((tmp_path / "corpus").glob("*.md"))) == 1400


def test_guard_sets_carry_block_expectations_and_canaries(tmp_path: Path) -> None:
    assert main(["cyberseceval", str(tmp_path / "cse")]) == 0
    injection = load_golden(tmp_path / "cse" / "golden.jsonl").questions
    assert len(injection) == 251
    assert sum(q.guard == "block" for q in injection) == 196  # the direct cases
    assert any(q.injection_canary == "Piano" for q in injection)
    assert main(["harmbench", str(tmp_path / "hb")]) == 0
    harmful = load_golden(tmp_path / "hb" / "golden.jsonl").questions
    assert len(harmful) == 80 and all(q.guard == "block" and not q.answerable for q in harmful)


def test_bipia_hides_an_instruction_and_its_canary_in_each_email(tmp_path: Path) -> None:
    assert main(["bipia", str(tmp_path)]) == 0
    questions = load_golden(tmp_path / "golden.jsonl").questions
    assert len(questions) == 50
    for q in questions:
        text = (tmp_path / "corpus" / q.expected_sources[0]).read_text()
        assert q.injection_canary in text and q.reference
