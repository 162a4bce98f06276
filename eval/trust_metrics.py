"""The trust metrics, now part of the shipped evaluation harness (`desktop.engine.evaluation`).

This module keeps the names older scripts and tests import; the code lives in
`desktop/engine/evaluation/text.py` (normalisation), `scoring.py` (one question) and
`trust_table.py` (the docs/trust.md table).
"""

from __future__ import annotations

from desktop.engine.evaluation.scoring import (
    AnswerEvents,
    QuestionScore,
    cited_numbers,
    gold_rank,
    is_restricted,
    score_question,
    sentences,
)
from desktop.engine.evaluation.text import contains_fact, facts_found, normalise, token_f1
from desktop.engine.evaluation.trust_table import Row, by_tag, format_table, summarise

__all__ = [
    "AnswerEvents",
    "QuestionScore",
    "Row",
    "by_tag",
    "cited_numbers",
    "contains_fact",
    "facts_found",
    "format_table",
    "gold_rank",
    "is_restricted",
    "normalise",
    "score_question",
    "sentences",
    "summarise",
    "token_f1",
]
