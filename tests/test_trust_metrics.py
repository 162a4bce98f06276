"""The trust metrics and the golden set's own rules, without a model (milliseconds).

The scorer works on the JSON form of answer events (`event.as_dict()`), so these tests build those
dicts by hand; the golden set is checked for shape and size, and against the handbook pages when
the corpus is present on this machine.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `eval` is not an installed package

from eval.golden_check import DEFAULT_CORPUS, DEFAULT_GOLDEN, Corpus, DemoAccess, load_golden
from eval.golden_check import problems as golden_problems
from eval.trust_metrics import (
    QuestionScore,
    cited_numbers,
    contains_fact,
    format_table,
    gold_rank,
    normalise,
    score_question,
    sentences,
    summarise,
)

EVERYONE_STAFF = {"everyone", "staff"}


def passage(n: int, path: str, text: str = "", audience: str = "staff") -> dict[str, Any]:
    return {"n": n, "path": path, "text": text, "audience": audience, "pack": "handbook-demo"}


def answer_events(
    answer: str,
    passages: list[dict[str, Any]],
    verdicts: list[dict[str, Any]] | None = None,
    ttft: float = 0.5,
) -> list[dict[str, Any]]:
    return [
        {"event": "retrieved", "query": "q", "passages": passages},
        {"event": "token", "text": answer, "index": 0},
        *({"event": "sentence_checked", **v} for v in verdicts or []),
        {
            "event": "done",
            "answer": answer,
            "decision": "answer",
            "sources": passages,
            "verdicts": verdicts or [],
            "metrics": {"time_to_first_token_s": ttft},
        },
    ]


def abstain_events(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"event": "retrieved", "query": "q", "passages": passages},
        {"event": "abstained", "kind": "abstain", "reason": "weak", "closest": passages},
        {"event": "done", "answer": "Not in your documents.", "decision": "abstain", "sources": []},
    ]


def golden(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "leave-x",
        "question": "How much sick leave for bereavement?",
        "profile": "",
        "answerable": True,
        "expected_sources": ["travel-and-leave/leave.md"],
        "key_facts": ["13 days", "104 hours"],
        "category": "leave",
        "tags": ["number"],
        "split": "test",
    }
    return {**base, **fields}


# -- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("You can use thirteen days of sick leave.", "13 days"),
        ("up to 13-day periods", "13 days"),
        ("It is capped at $191,900 in 2024.", "$191,900"),
        ("paid 75 percent of the rate", "75%"),
        ("by 3:30 p.m. ET", "3:30 PM ET"),
        ("call 877-472-6716", "(877) 472-6716"),
        ("up to twenty-four credit hours", "24 credit hours"),
        ("within 3 to 5 business days", "3-5 business days"),
        ("Email GVTAGENTS@adtrav.com.", "gvtagents@adtrav.com"),
        ("Schedule A(r) is used", "Schedule A(r)"),
        ("a ratio of 4.5:1", "4.5:1"),
        ("Élève: 80 heures", "80"),
        ("un salaire de 191\u202f900 $", "$191,900"),
        ("two 15 minute breaks", "two 15-minute breaks"),
    ],
)
def test_key_facts_match_across_forms(text: str, fact: str) -> None:
    assert contains_fact(text, fact)


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("113 days", "13 days"),
        ("24 hours", "4 hours"),
        ("4 hours per week", "4 weeks"),
        ("", "13 days"),
        ("anything at all", ""),
    ],
)
def test_key_facts_match_whole_tokens_only(text: str, fact: str) -> None:
    assert not contains_fact(text, fact)


def test_normalise_is_idempotent() -> None:
    text = "Fewer than 3 years: four hours per pay period (see [1]); $75, 20%."
    assert normalise(normalise(text)) == normalise(text)


# -- parts of an answer ---------------------------------------------------------------------------


def test_citations_are_distinct_in_first_seen_order() -> None:
    assert cited_numbers("A [2]. B [1][2]. C [3, 1]; D [4; 5].") == [2, 1, 3, 4, 5]
    assert cited_numbers("no citations, [a] or [ ]") == []


def test_sentences_ignore_citation_only_fragments() -> None:
    assert sentences("First one [1]. Second!\n[2]\nThird?") == [
        "First one [1].",
        "Second!",
        "Third?",
    ]


def test_gold_rank_is_first_expected_page() -> None:
    paths = ["a.md", "travel-and-leave/leave.md", "./travel-and-leave/leave.md"]
    assert gold_rank(paths, ["travel-and-leave/leave.md"]) == 2
    assert gold_rank(paths, ["b.md"]) is None


# -- one question ---------------------------------------------------------------------------------


def test_answer_with_facts_and_precise_citations() -> None:
    passages = [
        passage(1, "tools/hrlinks.md", "HR Links is where you request leave."),
        passage(2, "travel-and-leave/leave.md", "You can use up to 13 days (104 hours) per year."),
        passage(3, "benefits.md", "Funerals: up to thirteen days a year.", audience="everyone"),
    ]
    answer = "You can use 13 days of sick leave [2][3]. Ask HR Links [1]. Also see [9]."
    score = score_question(golden(), answer_events(answer, passages), EVERYONE_STAFF)
    assert score.gold_rank == 2
    assert score.answered and not score.abstained
    assert score.facts_found == ("13 days",) and score.coverage == 0.5
    assert (score.citations, score.citations_precise) == (4, 2)  # [1] off-topic, [9] dangling
    assert score.sentences_unchecked == 3 and score.sentences_supported == 0
    assert score.ttft_s == 0.5
    assert score.audience_violations == 0


def test_verdicts_count_supported_unsupported_and_unchecked() -> None:
    verdicts = [
        {"index": 0, "text": "a", "supported": True},
        {"index": 1, "text": "b", "supported": False},
        {"index": 2, "text": "c", "supported": None},
    ]
    events = answer_events("a. b. c.", [passage(1, "x.md")], verdicts)
    score = score_question(golden(), events, EVERYONE_STAFF)
    assert (score.sentences_supported, score.sentences_unsupported) == (1, 1)
    assert score.sentences_unchecked == 1


def test_abstention_scores_no_answer_and_no_time_to_first_token() -> None:
    question = golden(answerable=False, expected_sources=[], key_facts=[], tags=["unanswerable"])
    score = score_question(question, abstain_events([passage(1, "x.md")]), EVERYONE_STAFF)
    assert score.abstained and not score.answered
    assert score.gold_rank is None and score.ttft_s is None and not score.restricted


def test_done_decision_alone_counts_as_abstention() -> None:
    events = [{"event": "done", "answer": "Not in your documents.", "decision": "abstain"}]
    assert score_question(golden(), events, EVERYONE_STAFF).abstained


def test_restricted_leaks_are_counted_both_ways() -> None:
    question = golden(profile="demo-guest", answerable=False, tags=["restricted"])
    leaked = passage(1, "travel-and-leave/leave.md", "13 days", audience="staff")
    score = score_question(question, answer_events("It is 13 days [1].", [leaked]), {"everyone"})
    assert score.restricted and score.restricted_fact_leak
    assert score.audience_violations == 2  # in `retrieved` and in `done.sources`
    assert score.citations == 0  # citation precision is measured on answerable questions only

    clean = score_question(question, abstain_events([]), {"everyone"})
    assert not clean.restricted_fact_leak and clean.audience_violations == 0


def test_an_interrupted_stream_is_not_an_answer() -> None:
    events: list[dict[str, Any]] = [
        {"event": "retrieved", "query": "q", "passages": []},
        {"event": "token", "text": "13 days"},
    ]
    score = score_question(golden(), events, EVERYONE_STAFF, error="StorageError: disk full")
    assert not score.answered and score.facts_found == () and score.error


def test_scores_round_trip_through_json_records() -> None:
    score = score_question(golden(), answer_events("13 days [1].", [passage(1, "a.md")]), {"staff"})
    record = {**score.as_dict(), "answer": "13 days [1].", "model": "m"}
    assert QuestionScore.from_dict(record) == score


# -- a run ----------------------------------------------------------------------------------------


def test_summary_table_over_a_small_run() -> None:
    answered = score_question(golden(), answer_events("13 days, 104 hours [1].",
                              [passage(1, "travel-and-leave/leave.md")], ttft=2.0), {"staff"})  # fmt: skip
    missed = score_question(golden(id="b"), abstain_events([passage(1, "x.md")]), {"staff"})
    unanswerable = score_question(
        golden(id="c", answerable=False, expected_sources=[], key_facts=[], tags=["unanswerable"]),
        abstain_events([]),
        {"staff"},
    )
    restricted = score_question(
        golden(id="d", profile="demo-guest", answerable=False, tags=["restricted"]),
        answer_events("13 days.", [passage(1, "x.md", audience="everyone")]),
        {"everyone"},
    )
    rows = {r.metric: r for r in summarise([answered, missed, unanswerable, restricted])}
    assert rows["gold page in top-5"].value == "50.0 %"
    # Without a deeper ranking, the pages are those of the passages retrieved.
    assert rows["gold page in top-5 pages"].value == "50.0 %"
    deep = score_question(
        golden(id="e"),
        abstain_events([passage(1, "x.md")]),
        {"staff"},
        ranking=["a.md", "b.md", "c.md", "d.md", "travel-and-leave/leave.md"],
    )
    sixth = score_question(
        golden(id="f"),
        abstain_events([passage(1, "x.md")]),
        {"staff"},
        ranking=["a.md", "b.md", "c.md", "d.md", "e.md", "travel-and-leave/leave.md"],
    )
    pages = {r.metric: r for r in summarise([deep, sixth])}["gold page in top-5 pages"]
    assert (pages.value, pages.over.split()[0]) == ("50.0 %", "2")
    assert rows["abstention on unanswerable"].value == "100.0 %"
    assert rows["abstention on restricted"].value == "0.0 %"
    assert rows["answer rate on answerable"].value == "50.0 %"
    assert rows["key-fact coverage"].value == "50.0 %"
    assert rows["citation precision"].value == "100.0 %"
    assert rows["restricted: key fact in answer"].value == "1"
    assert rows["passages from unreadable audiences"].value == "0"
    assert rows["median time to first token"].value == "1.25 s"  # answered: 2.0 and 0.5
    assert "median time to first token" in format_table(list(rows.values()), "title")


def test_summary_of_nothing_has_no_numbers() -> None:
    rows = summarise([])
    assert all(r.value in ("-", "0") for r in rows)


# -- the golden set -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    return load_golden(DEFAULT_GOLDEN)


def test_golden_set_has_the_promised_mix(questions: list[dict[str, Any]]) -> None:
    answerable = [q for q in questions if q["answerable"]]
    restricted = [q for q in questions if "restricted" in q["tags"]]
    unanswerable = [q for q in questions if not q["answerable"] and q not in restricted]
    assert len(answerable) >= 150 and len(unanswerable) >= 40 and len(restricted) >= 30
    assert sum("follow-up" in q["tags"] for q in questions) >= 20
    assert sum("multilingual" in q["tags"] for q in questions) >= 24
    assert {q["profile"] for q in questions} == {"", "demo-supervisor", "demo-guest"}
    splits = Counter(q["split"] for q in questions)
    assert 0.28 <= splits["calibration"] / len(questions) <= 0.38


def test_golden_set_holds_its_rules_against_the_handbook(questions: list[dict[str, Any]]) -> None:
    if not DEFAULT_CORPUS.is_dir():
        pytest.skip(f"the handbook corpus is not at {DEFAULT_CORPUS}")
    assert golden_problems(questions, Corpus.load(DEFAULT_CORPUS), DemoAccess.load()) == []
