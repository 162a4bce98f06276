"""Scoring one golden question from the answer pipeline's events, and summarising a run.

Everything here is a pure function of plain values: a golden question (one line of
`eval/golden/*.jsonl`) and the events of its answer in their JSON form (`event.as_dict()`, what
`enclave ask --events` prints). No model, no engine import, so the numbers can be recomputed from a
saved run and tested in milliseconds.

Text matching is deliberately forgiving about form and strict about content: `normalise` folds
case, accents, hyphens, punctuation, plurals, number words ("thirteen" -> "13"), thousands
separators (also the no-break spaces of French typography), "%" and "$", so "13-day", "thirteen days" and "13 days" all match the key fact
"13 days", while "113 days" does not.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

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


# -- the parts of one answer ----------------------------------------------------------------------

_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def cited_numbers(answer: str) -> list[int]:
    """The distinct [n] cited in an answer, in order of first citation ("[1][2]", "[1, 3]")."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def sentences(answer: str) -> list[str]:
    """A rough sentence split, used only to count sentences that no check has judged."""
    parts = (p.strip() for p in _SENTENCE_END.split(answer))
    return [p for p in parts if _CITATION.sub("", p).strip(" .,;:-*")]


def gold_rank(paths: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based rank of the first passage from an expected page, or None."""
    wanted = {_path(p) for p in expected}
    for rank, path in enumerate(paths, 1):
        if _path(path) in wanted:
            return rank
    return None


def _path(path: str) -> str:
    return path.strip().lstrip("./").casefold()


@dataclass(frozen=True)
class AnswerEvents:
    """What the scorer needs from one answer's event stream (JSON forms of the events)."""

    retrieved: tuple[dict[str, Any], ...]  # passages of the `retrieved` event, best first
    shown_passages: tuple[dict[str, Any], ...]  # every passage any event carried
    abstained: bool
    answer: str
    sources: tuple[dict[str, Any], ...]  # the passages the answer may cite ([n] -> passage)
    verdicts: tuple[dict[str, Any], ...]
    metrics: dict[str, Any]
    done: bool

    @classmethod
    def from_events(cls, events: Sequence[Mapping[str, Any]]) -> AnswerEvents:
        retrieved: list[dict[str, Any]] = []
        shown: list[dict[str, Any]] = []
        checked: list[dict[str, Any]] = []
        tokens: list[str] = []
        abstained = False
        done: Mapping[str, Any] | None = None
        for event in events:
            kind = event.get("event")
            if kind == "retrieved":
                retrieved = list(event.get("passages", []))
                shown += retrieved
            elif kind == "abstained":
                abstained = abstained or event.get("kind", "abstain") == "abstain"
                shown += list(event.get("closest", []))
            elif kind == "token":
                tokens.append(str(event.get("text", "")))
            elif kind == "sentence_checked":
                checked.append(dict(event))
            elif kind == "done":
                done = event
        if done is None:
            return cls(tuple(retrieved), tuple(shown), abstained, "".join(tokens).strip(), (),
                       tuple(checked), {}, done=False)  # fmt: skip
        sources = tuple(done.get("sources", []))
        abstained = abstained or done.get("decision") == "abstain" or bool(done.get("abstained"))
        verdicts = tuple(done.get("verdicts") or checked)
        return cls(
            retrieved=tuple(retrieved),
            shown_passages=(*shown, *sources),
            abstained=abstained,
            answer="" if abstained else str(done.get("answer", "")),
            sources=sources,
            verdicts=verdicts,
            metrics=dict(done.get("metrics", {})),
            done=True,
        )


# -- one question ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionScore:
    """How one golden question was answered; one line of the per-question JSONL."""

    id: str
    profile: str
    split: str
    category: str
    tags: tuple[str, ...]
    answerable: bool
    restricted: bool
    retrieved_paths: tuple[str, ...] = ()
    gold_rank: int | None = None
    abstained: bool = False
    answered: bool = False
    facts_total: int = 0
    facts_found: tuple[str, ...] = ()
    sentences_supported: int = 0
    sentences_unsupported: int = 0
    sentences_unchecked: int = 0
    citations: int = 0
    citations_precise: int = 0
    restricted_fact_leak: bool = False
    audience_violations: int = 0
    ttft_s: float | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionScore:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("tags", "retrieved_paths", "facts_found"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)

    @property
    def coverage(self) -> float:
        return len(self.facts_found) / self.facts_total if self.facts_total else 0.0


def is_restricted(question: Mapping[str, Any]) -> bool:
    return not question["answerable"] and "restricted" in question.get("tags", ())


def score_question(
    question: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    readable_audiences: Iterable[str],
    *,
    error: str = "",
) -> QuestionScore:
    """Score one answer against its golden question. `readable_audiences` are the audiences the
    question's profile may read: any passage from another one is an access violation."""
    got = AnswerEvents.from_events(events)
    facts = list(question.get("key_facts", []))
    expected = list(question.get("expected_sources", []))
    restricted = is_restricted(question)
    paths = tuple(str(p.get("path", "")) for p in got.retrieved)
    answered = got.done and not got.abstained and bool(got.answer.strip())
    readable = set(readable_audiences)
    found = facts_found(got.answer, facts) if answered else []

    supported = unsupported = unchecked = 0
    if answered:
        for verdict in got.verdicts:
            if verdict.get("supported") is True:
                supported += 1
            elif verdict.get("supported") is False:
                unsupported += 1
            else:
                unchecked += 1
        if not got.verdicts:
            unchecked = len(sentences(got.answer))

    cited = precise = 0
    if answered and question["answerable"]:
        by_n = {int(p.get("n", 0)): p for p in got.sources}
        wanted = {_path(p) for p in expected}
        for n in cited_numbers(got.answer):
            cited += 1
            passage = by_n.get(n)
            if passage is not None and (
                _path(str(passage.get("path", ""))) in wanted
                or facts_found(str(passage.get("text", "")), facts)
            ):
                precise += 1

    ttft = got.metrics.get("time_to_first_token_s")
    return QuestionScore(
        id=str(question["id"]),
        profile=str(question.get("profile", "")),
        split=str(question.get("split", "")),
        category=str(question.get("category", "")),
        tags=tuple(question.get("tags", ())),
        answerable=bool(question["answerable"]),
        restricted=restricted,
        retrieved_paths=paths,
        gold_rank=gold_rank(paths, expected) if question["answerable"] else None,
        abstained=got.abstained,
        answered=answered,
        facts_total=len(facts),
        facts_found=tuple(found),
        sentences_supported=supported,
        sentences_unsupported=unsupported,
        sentences_unchecked=unchecked,
        citations=cited,
        citations_precise=precise,
        restricted_fact_leak=restricted and bool(facts_found(got.answer, facts)),
        audience_violations=sum(
            1 for p in got.shown_passages if str(p.get("audience", "")) not in readable
        ),
        ttft_s=float(ttft) if answered and isinstance(ttft, int | float) and ttft > 0 else None,
        error=error,
    )


# -- a run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the summary table: a metric, its value, and what it was measured over."""

    metric: str
    value: str
    over: str


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def summarise(scores: Sequence[QuestionScore], k: int = 5) -> list[Row]:
    """The trust table of promise 3 over a run (see `bench/eval_trust.py` for the meanings)."""
    ok = [s for s in scores if not s.error]
    answerable = [s for s in ok if s.answerable]
    with_gold = answerable  # every answerable golden question names its expected pages
    unanswerable = [s for s in ok if not s.answerable and not s.restricted]
    restricted = [s for s in ok if s.restricted]
    answered = [s for s in answerable if s.answered]
    shown = sum(s.sentences_supported + s.sentences_unsupported + s.sentences_unchecked for s in ok)
    supported = sum(s.sentences_supported for s in ok)
    unchecked = sum(s.sentences_unchecked for s in ok)
    cited = sum(s.citations for s in answerable)
    precise = sum(s.citations_precise for s in answerable)
    ttfts = [s.ttft_s for s in ok if s.ttft_s is not None]
    in_top = sum(1 for s in with_gold if s.gold_rank is not None and s.gold_rank <= k)
    at_one = sum(1 for s in with_gold if s.gold_rank == 1)
    coverage = sum(s.coverage for s in answerable) / len(answerable) if answerable else None
    rows = [
        Row(
            f"gold page in top-{k}", _share(in_top, len(with_gold)), f"{len(with_gold)} answerable"
        ),
        Row("gold page at rank 1", _share(at_one, len(with_gold)), f"{len(with_gold)} answerable"),
        Row(
            "abstention on unanswerable",
            _share(sum(s.abstained for s in unanswerable), len(unanswerable)),
            f"{len(unanswerable)} unanswerable",
        ),
        Row(
            "abstention on restricted",
            _share(sum(s.abstained for s in restricted), len(restricted)),
            f"{len(restricted)} restricted",
        ),
        Row(
            "answer rate on answerable",
            _share(len(answered), len(answerable)),
            f"{len(answerable)} answerable",
        ),
        Row(
            "key-fact coverage",
            "-" if coverage is None else f"{100 * coverage:.1f} %",
            f"{len(answerable)} answerable (abstained = 0)",
        ),
        Row("sentences supported", _share(supported, shown), f"{shown} shown sentences"),
        Row("sentences unchecked", _share(unchecked, shown), f"{shown} shown sentences"),
        Row("citation precision", _share(precise, cited), f"{cited} citations"),
        Row(
            "restricted: key fact in answer",
            str(sum(s.restricted_fact_leak for s in restricted)),
            f"{len(restricted)} restricted",
        ),
        Row(
            "passages from unreadable audiences",
            str(sum(s.audience_violations for s in ok)),
            f"{len(ok)} questions (must be 0)",
        ),
        Row(
            "median time to first token",
            f"{statistics.median(ttfts):.2f} s" if ttfts else "-",
            f"{len(ttfts)} answers",
        ),
    ]
    errors = len(scores) - len(ok)
    if errors:
        rows.append(Row("questions that failed to run", str(errors), "see `error` in the JSONL"))
    return rows


def by_tag(scores: Sequence[QuestionScore], tags: Iterable[str], k: int = 5) -> list[Row]:
    """Gold@k, answer rate and key-fact coverage for the answerable questions with each tag."""
    rows = []
    for tag in tags:
        group = [s for s in scores if tag in s.tags and s.answerable and not s.error]
        if not group:
            continue
        top = sum(1 for s in group if s.gold_rank is not None and s.gold_rank <= k)
        coverage = sum(s.coverage for s in group) / len(group)
        rows.append(
            Row(
                tag,
                f"top-{k} {_share(top, len(group))} · answered "
                f"{_share(sum(s.answered for s in group), len(group))} · "
                f"facts {100 * coverage:.1f} %",
                f"{len(group)} answerable",
            )
        )
    return rows


def format_table(rows: Sequence[Row], title: str = "") -> str:
    header = Row("metric", "value", "over")
    width = [max(len(getattr(r, f)) for r in (header, *rows)) for f in ("metric", "value")]
    lines = [title] if title else []
    lines.append(f"{header.metric:<{width[0]}}  {header.value:>{width[1]}}  {header.over}")
    lines.append(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * 4}")
    lines += [f"{r.metric:<{width[0]}}  {r.value:>{width[1]}}  {r.over}" for r in rows]
    return "\n".join(lines)
