"""Worked examples in passages: where a page illustrates a rule with one made-up case.

"For example: It is June 19th, 2022 ... You earn 4 annual leave hours per pay period and there are
14 pay periods left. You will earn 56 more annual leave hours" (the handbook's leave page) states
one rule (4 hours per pay period) and derives a figure (56) that holds for that case only. The
sentence check (`evidence.EvidenceScorer.support`) does not let such a derived figure back a
sentence that states it as the rule ("New employees earn 56 more annual leave hours"), and an
evidence quote taken from an example says so.

An example opens a sentence, a paragraph or a list item with "For example", "For instance",
"E.g.", "Example(s):", "Suppose", "Let's say" or "Imagine" (capitalised: a hard-wrapped line that
goes on "for example, ..." is the middle of a sentence). It runs:
- from "For example:" (a colon), "Suppose", "Let's say" or "Imagine" to the end of its paragraph
  or list item; a bare "For example:" paragraph takes the next paragraph too (a table, a list);
- from "For example, ..." (a comma) over its own sentence and the sentences that carry it on
  ("If ...", "Then ...", "Therefore ...", "You would ...").
Within an example, only the *derived* sentences ("will", "would", "therefore", "=", "x") are taken
out of what the passage states as the rule: a premise such as "You earn 4 sick leave hours per pay
period" is often the rule itself, said nowhere else on the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_MARKER = r"(?:[-*•]|\d{1,2}[.)])"
_OPENER = re.compile(
    r"(?:^|(?<=\n\n)|(?<=[.!?]\s)|(?<=[.!?][\"”’)]\s)"
    rf"|(?<=\n)(?=[ \t>]*{_MARKER}[ \t]))"
    rf"[ \t>]*(?:{_MARKER}[ \t]+)?[*_]*"
    r"(?P<word>For example|For instance|E\.g\.|Examples?(?=[*_]*\s*:)|Suppose|Let['’]s say|Imagine)"
    r"(?![A-Za-z])[*_]*(?P<colon>\s*:)?"
)
_RUNS_ON = frozenset({"Suppose", "Let's say", "Let’s say", "Imagine"})
_ITEM = re.compile(rf"^([ \t>]*){_MARKER}[ \t]", re.MULTILINE)
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"”’)]*(?:\s+(?=[\"“(\[]?[A-Z0-9])|\s*$)")
_CARRIES_ON = re.compile(
    r"(?:If|Then|Therefore|So|Thus|In (?:that|this) case|That means|This means|That would|"
    r"This would|You would|You['’]d)\b"
)
_DERIVED = re.compile(
    r"\b(?:will|would|therefore|thus|hence|so|then|means|total|results?)\b|['’]d\b|=|\s[x×]\s",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WorkedExamples:
    """The worked examples of one passage text: their spans, and the text without their derived
    sentences (what the passage states as the rule)."""

    text: str
    spans: tuple[tuple[int, int], ...]
    rule_text: str

    def covers(self, start: int) -> bool:
        """The character at `start` lies inside an example."""
        return any(a <= start < b for a, b in self.spans)

    def retold_by(self, figures: Sequence[str], present: Callable[[str, str], bool]) -> bool:
        """A sentence holding two or more figures of one example retells that example ("With 26
        pay periods left, you can request up to 104 hours"), rather than stating a rule."""
        return any(sum(present(f, self.text[a:b]) for f in figures) >= 2 for a, b in self.spans)


@lru_cache(maxsize=512)
def worked_examples(text: str) -> WorkedExamples:
    spans = tuple(_spans(text))
    return WorkedExamples(text, spans, _without_derived(text, spans))


def _spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _OPENER.finditer(text):
        if spans and match.start() < spans[-1][1]:
            continue
        paragraph = _PARAGRAPH_END.search(text, match.end())
        limit = _item_end(text, match, paragraph.start() if paragraph else len(text))
        if match.group("colon") or match.group("word") in _RUNS_ON:
            end = limit
            if not text[match.end() : end].strip(" \t*_") and paragraph:  # a bare "For example:"
                following = _PARAGRAPH_END.search(text, paragraph.end())
                end = following.start() if following else len(text)
        else:
            end = _carried_sentences_end(text, match.end(), limit)
        spans.append((match.start(), end))
    return spans


def _item_end(text: str, opener: re.Match[str], paragraph_end: int) -> int:
    """Where the list item holding `opener` ends (the next item no deeper than it), or the
    paragraph's end when the opener is not in a list."""
    start = text.rfind("\n\n", 0, opener.start())
    start = 0 if start < 0 else start + 2
    items = [i for i in _ITEM.finditer(text, start, opener.end()) if i.start() <= opener.start()]
    if not items:
        return paragraph_end
    indent = len(items[-1].group(1))
    line_end = text.find("\n", opener.end())
    if line_end < 0 or line_end >= paragraph_end:
        return paragraph_end
    for item in _ITEM.finditer(text, line_end + 1, paragraph_end):
        if len(item.group(1)) <= indent:
            return item.start() - 1
    return paragraph_end


def _carried_sentences_end(text: str, at: int, limit: int) -> int:
    """The end of the sentence at `at`, and of each following one that carries it on."""
    end = limit
    while True:
        stop = _SENTENCE_END.search(text, at, limit)
        if stop is None:
            return end
        end = stop.end()
        if not _CARRIES_ON.match(text, end, limit):
            return len(text[:end].rstrip()) if end < limit else limit
        at = end


def _without_derived(text: str, spans: Sequence[tuple[int, int]]) -> str:
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        for sentence in _sentences(text[start:end]):
            out.append(" " if _DERIVED.search(sentence) else sentence)
        last = end
    out.append(text[last:])
    return "".join(out)


def _sentences(text: str) -> list[str]:
    """`text` cut after each sentence end, keeping every character (the parts join back to it)."""
    parts: list[str] = []
    last = 0
    for stop in _SENTENCE_END.finditer(text):
        parts.append(text[last : stop.end()])
        last = stop.end()
    if last < len(text):
        parts.append(text[last:])
    return parts
