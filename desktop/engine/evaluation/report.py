"""The results of a run as one JSON document (what `compare` reads and the HTML report shows)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktop.engine.evaluation import summary
from desktop.engine.evaluation.errors import ReportInvalid
from desktop.engine.evaluation.golden import GoldenSet
from desktop.engine.evaluation.runner import RunSettings
from desktop.engine.evaluation.scoring import QuestionScore

FORMAT = "enclave-eval-report"
VERSION = 1
WORST = 20
# Work-file fields that only the worst questions keep in the report (passage text is long).
_DETAIL = ("passages", "sources", "verdicts", "rejected")


def build_report(
    records: Sequence[Mapping[str, Any]],
    golden: GoldenSet,
    settings: RunSettings,
    *,
    target: str,
    split: str = "all",
    limit: int | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    scores = [QuestionScore.from_dict(r) for r in records]
    worst = summary.worst(scores, WORST)
    by_id = {str(r["id"]): r for r in records}
    models = sorted({str(r.get("model", "")) for r in records if r.get("model")})
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "golden": {
            "name": golden.name,
            "sha256": golden.sha256,
            "questions_in_set": len(golden.questions),
        },
        "selection": {"split": split, "limit": limit, "questions": len(records)},
        "settings": {
            "model": settings.model or "(saved settings)",
            "k": settings.k,
            "depth": settings.depth,
            "max_tokens": settings.max_tokens,
        },
        "models": models,
        "target": target,
        "notes": list(notes),
        "headline": summary.headline(scores).as_dict(),
        "metrics": summary.metric_values(scores),
        "confusion": summary.confusion(scores),
        "by_category": summary.breakdown(scores, lambda s: s.category or "-"),
        "by_asker": summary.breakdown(scores, lambda s: s.asker or "default"),
        "worst": [{**by_id[s.id], "badness": round(summary.badness(s), 3)} for s in worst],
        "questions": [{k: v for k, v in r.items() if k not in _DETAIL} for r in records],
    }


def write_report(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInvalid(f"{path} cannot be read as an evaluation report: {exc}.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ReportInvalid(
            f"{path} is not an evaluation report of this version.",
            "Give the JSON that `enclave admin eval` wrote (--out).",
        )
    return data


def report_scores(report: Mapping[str, Any]) -> list[QuestionScore]:
    return [QuestionScore.from_dict(q) for q in report.get("questions", [])]
