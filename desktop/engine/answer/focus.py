"""Shorter prompts, same answers: each passage is shown to the model as the sentences of it that
bear on the question, within a budget (issue 12 item 3).

Prompt processing is the first-token time of a 0.5B-1.5B model on a laptop CPU (~240-300 tokens/s
here), and four 200-token chunks are most of the prompt. The sentences kept are the passage's most
relevant to the question (the evidence scorer's relevance: embedding cosine plus content-word
overlap, on vectors the decide stage has mostly embedded already), in their original order, with
"…" where sentences were left out. What the user reads, what the answer check scores against and
what citations resolve to stay the whole passage: a sentence left out of the prompt can still
support an answer sentence, never the other way round.

Passages holding a table (lines starting with "|") are kept whole: a row means nothing without its
header row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from desktop.engine.access import Passage
from desktop.engine.answer.evidence import EvidenceScorer, split_sentences

GAP = " … "
# The default budget per passage (~125 tokens of a 200-token chunk), chosen on 40 questions of the
# golden calibration split against whole passages: key facts 56.7 % vs 53.3 %, sentences supported
# 100 % vs 97.7 %, the same answer rate (bench/eval_trust.py --focus-chars; docs/performance.md).
FOCUS_CHARS = 500
_TABLE_LINE = re.compile(r"^\s*\|", re.MULTILINE)


@dataclass(frozen=True)
class PassageFocus:
    """Cut each passage to its sentences most relevant to the question, `budget_chars` at most
    (about 4 characters a token); 0 keeps passages whole."""

    scorer: EvidenceScorer
    budget_chars: int

    def text(self, question: str, passage: Passage) -> str:
        text = passage.text
        if self.budget_chars <= 0 or len(text) <= self.budget_chars or _TABLE_LINE.search(text):
            return text
        sentences = split_sentences(text)
        if len(sentences) < 2:
            return text
        relevance = self.scorer.relevance(question, sentences)
        kept: set[int] = set()
        used = 0
        for i in sorted(range(len(sentences)), key=lambda i: (-relevance[i], i)):
            size = len(sentences[i]) + len(GAP)
            if kept and used + size > self.budget_chars:
                continue
            kept.add(i)
            used += size
        return join_kept(sentences, kept)


def join_kept(sentences: list[str], kept: set[int]) -> str:
    """The kept sentences in passage order, "…" marking each run of sentences left out."""
    out: list[str] = []
    for i, sentence in enumerate(sentences):
        if i in kept:
            if out and (i - 1) not in kept:
                out.append(GAP.strip())
            out.append(sentence)
    if 0 not in kept:
        out.insert(0, GAP.strip())
    if len(sentences) - 1 not in kept:
        out.append(GAP.strip())
    return " ".join(out)
