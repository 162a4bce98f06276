"""The trust table (docs/trust.md): the handbook's promise-3 figures as a text table.

Kept in the form `bench/eval_trust.py` has always printed, so the figures in docs/trust.md stay
comparable; the full evaluation report (`summary.py`, `report_html.py`) is a superset of it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop.engine.evaluation.scoring import QuestionScore


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
    # The issue's own retrieval measure: an expected page among the first five distinct pages of
    # the deeper search of the same query (`ranking`; reciprocal rank 1/5 or better).
    ranks = [s.reciprocal_rank for s in with_gold if s.reciprocal_rank is not None]
    in_five_pages = sum(1 for rank in ranks if rank >= 0.2 - 1e-9)
    coverage = sum(s.coverage for s in answerable) / len(answerable) if answerable else None
    rows = [
        Row(
            f"gold page in top-{k}", _share(in_top, len(with_gold)), f"{len(with_gold)} answerable"
        ),
        Row("gold page at rank 1", _share(at_one, len(with_gold)), f"{len(with_gold)} answerable"),
        Row(
            "gold page in top-5 pages",
            _share(in_five_pages, len(ranks)),
            f"{len(ranks)} answerable (distinct pages of a 10-deep search)",
        ),
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
