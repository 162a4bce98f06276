"""Shorter prompts: each passage shown to the model as its sentences relevant to the question.

With the real all-MiniLM-L6-v2 embedder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.calibration import thresholds_for
from desktop.engine.answer.evidence import EvidenceScorer
from desktop.engine.answer.focus import GAP, PassageFocus, join_kept
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.embedder import Embedder

LONG = Passage(
    CitationRef(1, "handbook", 1, "everyone", 1),
    "Leave",
    "Our office is in Washington and most staff work remotely. "
    "The team meets every Monday for planning. "
    "Full-time employees earn 13 days of annual leave each year during their first three years. "
    "After three years they earn 20 days a year. "
    "The kitchen is cleaned on Fridays. "
    "Parking permits are issued by the facilities desk.",
    heading="Annual leave",
)
TABLE = Passage(
    CitationRef(2, "handbook", 1, "everyone", 2),
    "Rates",
    "| City | Rate |\n|---|---|\n| Boston | 200 |\n| Denver | 150 |\n" + "Other text. " * 40,
)


@pytest.fixture(scope="module")
def scorer(embedding_entry: ModelEntry) -> Iterator[EvidenceScorer]:
    embedder = Embedder(embedding_entry)
    yield EvidenceScorer(embedder, thresholds_for("all-minilm-l6-v2"))
    embedder.close()


def test_the_sentences_that_answer_are_kept_in_order(scorer: EvidenceScorer) -> None:
    focus = PassageFocus(scorer, budget_chars=150)
    text = focus.text("How many days of annual leave do employees earn?", LONG)
    assert "13 days of annual leave" in text
    assert len(text) <= 150 + len(GAP)
    assert "kitchen" not in text and "Parking" not in text
    assert text.startswith("…")  # the first sentences were left out, and it says so
    if "20 days" in text:  # order is the passage's, not the ranking's
        assert text.index("13 days") < text.index("20 days")


def test_short_passages_tables_and_a_zero_budget_stay_whole(scorer: EvidenceScorer) -> None:
    question = "What is the rate for Denver?"
    assert PassageFocus(scorer, 0).text(question, LONG) == LONG.text
    assert PassageFocus(scorer, 10_000).text(question, LONG) == LONG.text
    assert PassageFocus(scorer, 100).text(question, TABLE) == TABLE.text  # a header row matters


def test_gaps_are_marked_where_sentences_were_left_out() -> None:
    sentences = ["A.", "B.", "C.", "D."]
    assert join_kept(sentences, {0, 1, 2, 3}) == "A. B. C. D."
    assert join_kept(sentences, {1, 3}) == "… B. … D."
    assert join_kept(sentences, {0, 2}) == "A. … C. …"


def test_the_prompt_focuses_by_what_retrieval_searched(scorer: EvidenceScorer) -> None:
    """A follow-up ("And after three years?") or a translated question picks the passage's
    sentences by the text retrieval searched, not by its own few (or foreign) words."""
    from helpers.fake_chat_model import FAKE_ENTRY, FakeChatModel

    from desktop.engine.answer.records import Question
    from desktop.engine.answer.stages import GroundedPrompt

    model = FakeChatModel()
    model.load(FAKE_ENTRY)
    planner = GroundedPrompt(model, 128, PassageFocus(scorer, budget_chars=150))
    question = Question(
        "Combien de jours de congé annuel gagne-t-on ?",
        searched="How many days of annual leave do employees earn?",
    )
    system = planner.plan(question, [LONG]).messages[0]["content"]
    assert "13 days of annual leave" in system and "kitchen" not in system
