"""`compare` on hand-made runs: paired bootstrap intervals, tolerances, the absolute leak gate."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.engine.evaluation.compare import compare, format_comparison
from desktop.engine.evaluation.scoring import QuestionScore


def run(recalls: list[float], leak: int = -1, **fields: Any) -> list[QuestionScore]:
    return [
        QuestionScore(
            id=f"q{i}",
            profile="",
            split="",
            category="c",
            tags=(),
            answerable=True,
            restricted=False,
            recall_at_k=r,
            reciprocal_rank=r,
            answered=True,
            audience_violations=int(i == leak),
            **fields,
        )
        for i, r in enumerate(recalls)
    ]


def test_identical_runs_do_not_regress() -> None:
    a = run([1.0, 0.5, 1.0, 0.0] * 5)
    result = compare(a, a, resamples=200)
    assert not result.regressions and result.paired == 20
    recall = next(d for d in result.deltas if d.key == "recall_at_k")
    assert (recall.delta, recall.low, recall.high) == (0.0, 0.0, 0.0)


def test_a_consistent_drop_beyond_the_tolerance_regresses() -> None:
    a = run([1.0] * 20)
    b = run([0.5] * 20)
    result = compare(a, b, resamples=200)
    assert {d.key for d in result.regressions} == {"recall_at_k", "mrr"}
    recall = next(d for d in result.deltas if d.key == "recall_at_k")
    assert recall.delta == -0.5 and recall.high == -0.5
    assert "REGRESSED" in format_comparison(result)
    # Ungated, the same drop passes; a tolerance wider than the drop passes too.
    assert not compare(a, b, {"mrr": 0.6}, resamples=200).regressions


def test_one_flipped_question_is_not_a_regression_but_any_leak_is() -> None:
    a = run([1.0] * 10)
    b = run([1.0] * 9 + [0.0])  # 10 points down, but the interval reaches 0
    result = compare(a, b, resamples=500)
    recall = next(d for d in result.deltas if d.key == "recall_at_k")
    assert recall.delta == pytest.approx(-0.1) and recall.high == 0.0 and not recall.regressed
    leaky = compare(a, run([1.0] * 10, leak=3), resamples=100)
    assert [d.key for d in leaky.regressions] == ["audience_violations"]


def test_only_questions_in_both_runs_are_compared() -> None:
    a = run([1.0] * 6)
    result = compare(a, a[:4], resamples=50)
    assert (result.paired, result.only_a, result.only_b) == (4, 2, 0)
