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
- from "For example:" (a colon) to the end of its paragraph or list item; a "For example:" that
  is a paragraph of its own takes the next one too when that is a table, code or a quote;
- from "For example, ...", "Suppose ...", "Imagine ..." over its own sentence and the sentences
  that carry it on ("Then ...", "Therefore ...", "You would ...", or an "If ..." that derives).
Within an example, what the passage states as the rule keeps only the premises that state a rate
("You earn 4 sick leave hours per pay period" is often the rule itself, said nowhere else on the
page) and quoted text (a sample message: "I will be out ... enter 40 hours to #670"); the
sentences that set up the case ("It is June 19th", "you work 2 extra hours on Monday") and the
derived ones ("you will/would", "therefore", "=", "x") are taken out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

Present = Callable[[str, str], bool]  # does a normalised fact occur in a text (`evidence`)
_MARKER = r"(?:[-*•]|\d{1,2}[.)])"
_OPENER = re.compile(
    r"(?:^|(?<=\n\n)|(?<=[.!?]\s)|(?<=[.!?][\"”’)]\s)"
    rf"|(?<=\n)(?=[ \t>]*{_MARKER}[ \t]))"
    rf"[ \t>]*(?:{_MARKER}[ \t]+)?[*_]*"
    r"(?P<word>For example|For instance|E\.g\.|Examples?(?=[*_]*\s*:)|Suppose|Let['’]s say|Imagine)"
    r"(?![A-Za-z])[*_]*(?P<colon>\s*:)?"
)
_ITEM = re.compile(rf"^([ \t>]*){_MARKER}[ \t]", re.MULTILINE)
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"”’)]*(?:\s+(?=[\"“(\[]?[A-Z0-9])|\s*$)")
_CARRIES_ON = re.compile(
    r"(?:Then|Therefore|So|Thus|In (?:that|this) case|That means|This means|That would|"
    r"This would|You would|You['’]d)\b"
)
_DERIVED = re.compile(
    r"\b(?:you|that|this|it|which)\s+(?:will|would)\b|\byou['’](?:ll|d)\b|"
    r"\b(?:therefore|thus|hence)\b|=|\s[x×]\s",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"(?m)^[ \t]*>|[\"“”]")  # a sample message the page quotes
_SHOWN_AS_IS = re.compile(r"\s*(?:\||```|~~~|>)")  # a table, code or a quote
# A clause that sets up the case a figure belongs to ("With 26 pay periods left, ...").
_CIRCUMSTANCE = re.compile(
    r"\b(?:if|with|when|given|assuming|since|after|once)\b|\bleft\b", re.IGNORECASE
)
_YEAR = re.compile(r"(?:19|20)\d\d")
# A premise that states a rate ("You earn 4 sick leave hours per pay period") is often the rule
# itself; one that sets up the case ("It is June 19th", "you work 2 extra hours on Monday") is not.
_RATE = re.compile(
    r"\b(?:per|each|every|an? (?:year|month|week|day|hour|pay period)|annually|weekly|monthly|daily)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WorkedExamples:
    """The worked examples of one passage text: their spans, and what the passage states as the
    rule (the text with each example reduced to its rates and quoted text)."""

    text: str
    spans: tuple[tuple[int, int], ...]
    rule_text: str
    premises: tuple[str, ...]  # each span's sentences that set up its case (not derived)

    def covers(self, start: int) -> bool:
        """The character at `start` lies inside an example."""
        return any(a <= start < b for a, b in self.spans)

    def retold_by(
        self, sentence: str, from_example: Sequence[str], figures: Sequence[str], present: Present
    ) -> bool:
        """`sentence` (holding `figures`) retells the example that gives its `from_example`
        figures rather than stating a rule: it sets up that example's case in a clause ("With 26
        pay periods left, you can request up to 104 hours") with a figure of the example's
        premises (a year does not set up a case)."""
        if not from_example or not _CIRCUMSTANCE.search(sentence):
            return False
        case = [f for f in figures if not _YEAR.fullmatch(f)]
        return any(
            all(present(f, self.text[a:b]) for f in from_example)
            and any(present(f, premises) for f in case)
            for (a, b), premises in zip(self.spans, self.premises, strict=True)
        )


@lru_cache(maxsize=512)
def worked_examples(text: str) -> WorkedExamples:
    spans = tuple(_spans(text))
    rule, premises = _rule_and_premises(text, spans)
    return WorkedExamples(text, spans, rule, premises)


def _spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    paragraph_ends = list(_PARAGRAPH_END.finditer(text))
    for match in _OPENER.finditer(text):
        if spans and match.start() < spans[-1][1]:
            continue
        after = [p for p in paragraph_ends if p.start() >= match.end()][:2]
        paragraph_end = after[0].start() if after else len(text)
        limit = _item_end(text, match, paragraph_end)
        if not match.group("colon"):
            spans.append((match.start(), _carried_sentences_end(text, match.end(), limit)))
            continue
        end = limit
        alone = not text[match.end() : end].strip(" \t*_") and (
            match.start() == 0 or text[: match.start()].endswith("\n\n")
        )
        if alone and after and _SHOWN_AS_IS.match(text, after[0].end()):
            end = after[1].start() if len(after) > 1 else len(text)
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
    while True:
        stop = _SENTENCE_END.search(text, at, limit)
        if stop is None:
            return limit
        end = stop.start() + len(stop.group().rstrip())
        following = _SENTENCE_END.search(text, stop.end(), limit)
        sentence = text[stop.end() : following.end() if following else limit]
        carries = _CARRIES_ON.match(sentence) or (
            sentence.startswith("If ") and _DERIVED.search(sentence)
        )
        if stop.end() >= limit or not carries:
            return end if stop.end() < limit else limit
        at = stop.end()


def _rule_and_premises(text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, tuple[str, ...]]:
    """`text` with each example reduced to what it says as a rule (its rates and its quoted
    text), and each example's premises (the sentences that are not derived)."""
    out: list[str] = []
    premises: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        kept: list[str] = []
        for sentence in _sentences(text[start:end]):
            quoted = _QUOTED.search(sentence) is not None
            derived = not quoted and _DERIVED.search(sentence) is not None
            kept += [] if derived else [sentence]
            out.append(sentence if quoted or (not derived and _RATE.search(sentence)) else " ")
        premises.append("".join(kept))
        last = end
    out.append(text[last:])
    return "".join(out), tuple(premises)


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
