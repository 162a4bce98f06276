"""Text matching for evaluation: key facts and reference answers compared as normalised tokens.

Deliberately forgiving about form and strict about content: `normalise` folds case, accents,
hyphens, punctuation, plurals, number words ("thirteen" -> "13"), thousands separators (also the
no-break spaces of French typography), "%" and "$", so "13-day", "thirteen days" and "13 days" all
match the key fact "13 days", while "113 days" does not.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

# -- normalisation --------------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORDS = {**_UNITS, **_TENS, **_SCALES}
_SYNONYMS = {
    "hrs": "hours",
    "hr": "hour",
    "mins": "minutes",
    "min": "minute",
    "per cent": "percent",
}
_DASHES = re.compile(r"[\u2010-\u2015\u2212-]")
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u2009\u202f](?=\d{3}(?!\d))")  # 1,000 and 1 000
_DOLLARS = re.compile(r"\$\s?(\d[\d.]*)|(?<![\d.])(\d[\d.]*)\s?\$")  # $75, 75 $
_CLOCK = re.compile(r"\b([ap])\.\s?m\.?(?=\W|$)")
_STUCK_CLOCK = re.compile(r"(\d)(am|pm)\b")
_OTHER = re.compile(r"[^a-z0-9@.:\s]")
_RANGE = re.compile(r"\b(\d+(?:\.\d+)?) (?:to|through) (\d)")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _token(token: str) -> str:
    """A token without edge punctuation; '.' survives only inside (gsa.gov, 3.85), ':' only
    between digits (4:30, 4.5:1)."""
    token = token.strip(".:")
    if ":" in token and not re.fullmatch(r"[\d.]+(?::[\d.]+)+", token):
        token = token.replace(":", " ")
    return token


def _singular(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and token.isalpha():
        return token[:-1]
    return token


def _numbers(tokens: list[str]) -> list[str]:
    """Runs of English number words as digits: "twenty four" -> "24", "one hundred" -> "100"."""
    out: list[str] = []
    total = current = 0
    in_number = False
    for token in [*tokens, ""]:
        value = _NUMBER_WORDS.get(token)
        if value is None:
            if in_number:
                out.append(str(total + current))
                total = current = 0
                in_number = False
            if token:
                out.append(token)
            continue
        in_number = True
        if token in _SCALES:
            current = max(current, 1) * value
            if value >= 1000:
                total, current = total + current, 0
        else:
            current += value
    return out


def normalise(text: str) -> str:
    """Text as a space-separated run of comparable tokens (see the module docstring)."""
    text = _THOUSANDS.sub("", text)  # before NFKC, which turns no-break spaces into spaces
    text = _strip_accents(unicodedata.normalize("NFKC", text)).casefold()
    text = _APOSTROPHES.sub("", text)
    text = _DOLLARS.sub(lambda m: f" {m.group(1) or m.group(2)} dollars ", text)
    text = text.replace("%", " percent ")
    text = _CLOCK.sub(r"\1m", text)
    text = _STUCK_CLOCK.sub(r"\1 \2", text)
    text = _DASHES.sub(" ", text)
    text = _OTHER.sub(" ", text)
    for short, long in _SYNONYMS.items():
        text = re.sub(rf"\b{short}\b", long, text)
    tokens = [t for t in (_token(raw) for raw in text.split()) for t in t.split()]
    text = " ".join(_singular(t) for t in _numbers(tokens))
    return _RANGE.sub(r"\1 \2", text)


def contains_fact(text: str, fact: str) -> bool:
    """Whether `fact` appears in `text` as whole tokens, after `normalise` on both."""
    needle = normalise(fact)
    return bool(needle) and f" {needle} " in f" {normalise(text)} "


def facts_found(text: str, facts: Iterable[str]) -> list[str]:
    return [fact for fact in facts if contains_fact(text, fact)]


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 between an answer and a reference answer, on normalised tokens
    (citation markers like "[1]" are dropped from the answer first)."""
    got = normalise(re.sub(r"\[\d+(?:\s*[,;]\s*\d+)*\]", " ", answer)).split()
    want = normalise(reference).split()
    if not got or not want:
        return float(got == want)
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)
