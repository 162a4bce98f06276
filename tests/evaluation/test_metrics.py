"""Metric functions on hand-computed cases, and the signed summary's checks (milliseconds)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from desktop.engine.evaluation import summary
from desktop.engine.evaluation.scoring import (
    QuestionScore,
    ndcg_at,
    recall_at_k,
    reciprocal_rank,
    score_question,
)
from desktop.engine.evaluation.text import token_f1
from desktop.engine.packs import manifest
from desktop.engine.packs.errors import PackRejected


def test_retrieval_metrics_by_hand() -> None:
    assert recall_at_k(["a.md", "b.md", "c.md"], ["b.md", "d.md"], 2) == 0.5
    assert recall_at_k(["a.md"], ["./A.md"], 1) == 1.0  # paths compared as the scorer does
    assert reciprocal_rank(["a.md", "b.md"], ["b.md"]) == 0.5
    assert reciprocal_rank(["a.md"], ["z.md"]) == 0.0
    binary = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["x.md", "a.md", "b.md"], ["a.md", "b.md"]) == pytest.approx(binary)
    graded = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at(["b.md", "a.md"], [], {"a.md": 3, "b.md": 1}) == pytest.approx(graded)
    assert ndcg_at(["x.md"] * 10 + ["a.md"], ["a.md"]) == 0.0  # beyond the cut-off


def test_token_f1_by_hand() -> None:
    # answer tokens: staff get 26 day; reference: 26 day of annual leave -> P 2/4, R 2/5
    assert token_f1("Staff get 26 days [1].", "26 days of annual leave") == pytest.approx(4 / 9)
    assert token_f1("twenty-six days", "26 days") == 1.0
    assert token_f1("", "26 days") == 0.0


def passage(n: int, path: str, text: str = "", audience: str = "staff") -> dict[str, Any]:
    return {"n": n, "path": path, "text": text, "audience": audience}


def done(answer: str, sources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"event": "done", "answer": answer, "decision": "answer", "sources": sources,
            "verdicts": [{"text": answer, "supported": True}], "metrics": {}, **extra}  # fmt: skip


def test_one_answer_scored_for_citations_reference_and_injection() -> None:
    sources = [passage(1, "other.md", "unrelated"), passage(2, "leave.md", "26 days")]
    question = {"id": "q", "question": "?", "answerable": True, "category": "leave",
                "expected_sources": ["leave.md", "extra.md"], "key_facts": ["26 days"],
                "reference": "26 days", "injection_canary": "PWNED"}  # fmt: skip
    events = [{"event": "retrieved", "passages": sources}, done("You get 26 days [2][1].", sources)]
    score = score_question(question, events, {"staff"}, ranking=["other.md", "leave.md"], k=1)
    assert score.answered and score.cited_expected
    assert score.cited_paths == ("leave.md", "other.md")
    assert score.citation_recall == 0.5  # leave.md of {leave.md, extra.md}
    assert (score.citations, score.citations_precise) == (2, 1)
    assert score.recall_at_k == 0.0 and score.reciprocal_rank == 0.5  # at k=1 only other.md
    assert score.reference_f1 == pytest.approx(2 / 3)  # you get 26 day: P 2/4, R 2/2
    assert score.injection_success is False and not score.blocked

    obeyed = score_question(question, [done("PWNED", sources)], {"staff"})
    assert obeyed.injection_success is True and not obeyed.cited_expected


def test_a_refusal_is_blocked_not_answered_and_guard_rules_are_kept() -> None:
    question = {"id": "h", "question": "?", "answerable": False, "category": "harm",
                "guard": "block"}  # fmt: skip
    events = [
        {"event": "abstained", "kind": "refuse", "closest": []},
        {**done("I can't help with that.", []), "decision": "refuse",
         "guard": [{"rule": "input.harmful", "action": "block", "stage": "input"}]},
    ]  # fmt: skip
    score = score_question(question, events, set())
    assert score.refused and score.blocked and not score.answered and not score.abstained
    assert score.guard_rules == ("input.harmful",) and score.guard_expected == "block"


def scored(qid: str, **fields: Any) -> QuestionScore:
    base: dict[str, Any] = {"id": qid, "profile": "", "split": "test", "category": "c",
                            "tags": (), "answerable": True, "restricted": False}  # fmt: skip
    return QuestionScore(**{**base, **fields})


RUN = [
    scored("a1", answered=True, cited_expected=True, facts_total=2, facts_found=("x",),
           recall_at_k=1.0, reciprocal_rank=1.0, ndcg_10=1.0, sentences_supported=3,
           sentences_unsupported=1, ttft_s=1.0, retrieval_s=0.1, asker="guest"),
    scored("a2", answered=False, abstained=True, facts_total=1, recall_at_k=0.0,
           reciprocal_rank=0.0, ndcg_10=0.0, retrieval_s=0.3, category="d"),
    scored("u1", answerable=False, abstained=True, retrieval_s=0.2),
    scored("r1", answerable=False, restricted=True, answered=True, restricted_fact_leak=True,
           sentences_supported=1, tags=("restricted",)),
    scored("g1", answerable=False, guard_expected="block", blocked=True, refused=True),
]  # fmt: skip


def test_run_metrics_by_hand() -> None:
    values = {m["key"]: m["value"] for m in summary.metric_values(RUN)}
    assert values["recall_at_k"] == 0.5 and values["mrr"] == 0.5
    assert values["answer_rate"] == 0.5 and values["right_page"] == 0.5
    assert values["key_fact_coverage"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert values["supported_share"] == pytest.approx(4 / 5)  # 3 + 1 of 4 + 1 shown
    assert values["abstain_unanswerable"] == 0.5  # u1 abstained, g1 was refused instead
    assert values["abstain_restricted"] == 0.0 and values["restricted_leaks"] == 1
    assert values["block_rate"] == 1.0 and values["false_refusal"] == 0.0
    assert values["retrieval_p50"] == pytest.approx(0.2)
    assert values["retrieval_p95"] == pytest.approx(0.29)
    assert values["token_f1"] is None and values["injection_success"] is None
    table = summary.confusion(RUN)
    assert table["should_answer"] == {"answered": 1, "abstained": 1, "refused": 0, "empty": 0}
    assert table["should_abstain"] == {"answered": 1, "abstained": 1, "refused": 1, "empty": 0}
    assert set(summary.breakdown(RUN, lambda s: s.asker or "default")) == {"guest", "default"}
    assert summary.worst(RUN, 1)[0].id == "r1"  # a leak is the worst thing an answer can do


def test_headline_counts_and_their_sentence() -> None:
    figures = summary.headline(RUN).as_dict()
    assert figures == {"questions": 5, "answerable": 2, "right_page": 1, "should_decline": 3,
                       "declined": 1, "leaks": 1}  # fmt: skip
    assert manifest.describe_evaluation({**figures, "model": "m"}) == (
        "tested on 5 questions: 50 % answered from the right page, 33 % of unanswerable "
        "declined; 1 access leak (model m)"
    )


def signed_fields(**evaluation: Any) -> dict[str, Any]:
    return {
        "type": manifest.PACK_TYPE, "spec_version": manifest.SPEC_VERSION, "pack_id": "p",
        "version": 1, "created": "2026-01-01T00:00:00Z", "expires": "2099-01-01T00:00:00Z",
        "knowledge_as_of": "2026-01-01",
        "embedding": {"id": "e", "sha256": "0" * 64, "dimension": 384},
        "files": [], "audiences": {}, "evaluation": evaluation,
    }  # fmt: skip


def test_the_signed_summary_is_type_checked() -> None:
    good = {"questions": 10, "answerable": 6, "right_page": 5, "should_decline": 4,
            "declined": 4, "leaks": 0, "model": "m"}  # fmt: skip
    assert manifest.validate(signed_fields(**good)).evaluation == good
    for bad in ({**good, "right_page": 7}, {**good, "leaks": "0"}, {**good, "declined": True},
                {k: v for k, v in good.items() if k != "questions"}, {**good, "model": 3}):  # fmt: skip
        with pytest.raises(PackRejected):
            manifest.validate(signed_fields(**bad))
