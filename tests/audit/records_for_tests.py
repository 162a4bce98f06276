"""Answers as the pipeline makes them, for audit tests that need records without a model."""

from __future__ import annotations

from desktop.engine.access import CitationRef, Passage
from desktop.engine.answer.records import (
    Answer,
    AnswerForm,
    Decision,
    GuardVerdict,
    ModelRef,
    Question,
    SentenceVerdict,
)

MODEL = ModelRef("fake-chat", "0" * 64)


def answered(question: str, text: str = "Staff get 26 days [1].") -> Answer:
    passage = Passage(
        CitationRef(1, "handbook", 2, "staff", 7), "Leave policy", "passage text", score=0.8123
    )
    return Answer(
        Question(question, conversation_id=1),
        text,
        Decision.answer("evidence 0.81", signal=0.8123),
        passages=(passage,),
        verdicts=(
            SentenceVerdict(0, "Staff get 26 days [1].", True, (1,)),
            SentenceVerdict(1, "Ask HR.", False),
        ),
        query=question,
        model=MODEL,
        guards=(GuardVerdict("output.pii.email", "redact", "output", "an e-mail address"),),
    )


def abstained(question: str) -> Answer:
    decision = Decision.abstain("best evidence 0.21", "The documents do not say.", signal=0.21)
    return Answer(
        Question(question),
        decision.message,
        decision,
        form=AnswerForm.NONE,
        query=question,
        model=MODEL,
    )
