"""A toxicity screen for answers: documented word lists and phrase rules, no model.

Why rules and not a classifier: no toxicity model ships as a plain, permissively licensed file the
app can load without running code (the scikit-learn ones are pickles, and unpickling is code
execution), and an assistant that answers from an organisation's handbook rarely writes abuse; when
it does, it is one of a few recognisable shapes. Each rule below names its category:

- `profanity`: strong swear words and their inflections (whole words only, so "Scunthorpe",
  "assessment" or "cocktail" never match; mild words such as "damn" or "crap" are not listed);
- `insult`: a judgement aimed at the reader ("you are an idiot", "what a stupid question");
- `threat`: violence or self-harm aimed at the reader ("I will hurt you", "kill yourself"), never
  the same verbs about things ("how do I kill a Python process" does not match);
- `custom`: the administrator's own terms from the policy (`output.toxicity` terms), e.g. slurs in
  the organisation's languages, matched as whole words, case-insensitively.

The evidence for these lists (how often they fire on benign handbook text, and on what) is printed
by `bench/eval_redaction.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import regex

PROFANITY = (
    r"fuck(?:s|ed|er|ers|ing|in| face|wit)?",
    r"motherfuck(?:er|ers|ing)?",
    r"shit(?:s|ty|head|heads|bag)?",
    r"bullshit",
    r"bitch(?:es|y)?",
    r"bastards?",
    r"ass ?holes?",
    r"arseholes?",
    r"dickheads?",
    r"cunts?",
    r"wank(?:er|ers)?",
    r"twats?",
    r"bollocks",
    r"piss(?:ed)? off",
    r"jackass(?:es)?",
)

_ADJECTIVE = (
    r"(?:idiot(?:ic|s)?|moron(?:ic|s)?|stupid|dumb|imbeciles?|losers?|pathetic|worthless|"
    r"incompetent|useless|clowns?|brainless|retard(?:ed|s)?)"
)
INSULTS = (
    # "you are (such) an idiot", "you're so stupid", "you useless clown"
    rf"you(?:'re|’re| are| r)?\s+(?:(?:such|so|really|truly|totally|being|a|an|the|just)\s+){{0,3}}"
    rf"{_ADJECTIVE}",
    rf"(?:what|such) an?\s+(?:{_ADJECTIVE})\s+(?:question|request|idea|person)",
    r"shut (?:the (?:fuck|hell) )?up",
    r"nobody cares (?:about|what) (?:you|your)",
)
THREATS = (
    r"(?:i|we)(?:'ll|’ll| will| am going to| are going to| gonna)\s+(?:kill|hurt|beat|shoot|stab|"
    r"find|destroy) you",
    r"kill (?:yourself|urself)",
    r"(?:go|you should) (?:die|kill yourself)",
    r"(?:end|take) your (?:own )?life",
    r"kys",
)

MARK = "[offensive language removed]"


@dataclass(frozen=True)
class ToxicSpan:
    start: int
    end: int
    category: str  # profanity, insult, threat or custom


def _alternation(sources: Iterable[str]) -> str:
    return "|".join(f"(?:{s})" for s in sources)


class ToxicityScreen:
    """Finds toxic spans; `extra_terms` are the policy's own words (matched literally)."""

    def __init__(self, extra_terms: Iterable[str] = ()) -> None:
        rules = [("threat", THREATS), ("insult", INSULTS), ("profanity", PROFANITY)]
        custom = tuple(regex.escape(t.strip()) for t in extra_terms if t.strip())
        if custom:
            rules.append(("custom", custom))
        self._rules = [
            (
                category,
                regex.compile(rf"(?<![\w'’-])(?:{_alternation(sources)})(?![\w'’-])", regex.I),
            )
            for category, sources in rules
        ]

    def find(self, text: str) -> list[ToxicSpan]:
        spans: list[ToxicSpan] = []
        for category, pattern in self._rules:
            for match in pattern.finditer(text):
                if all(match.end() <= s.start or match.start() >= s.end for s in spans):
                    spans.append(ToxicSpan(match.start(), match.end(), category))
        return sorted(spans, key=lambda s: s.start)

    def hold_from(self, text: str) -> int:
        """Where a phrase that more text could complete begins (`len(text)`: none)."""
        hold = len(text)
        for _category, pattern in self._rules:
            for match in pattern.finditer(text, partial=True):
                if match.start() >= len(text):
                    continue
                if match.partial or pattern.fullmatch(text, pos=match.start(), partial=True):
                    hold = min(hold, match.start())
                    break
        return hold
