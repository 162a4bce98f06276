"""The evaluation report as one self-contained HTML page: inline CSS and SVG, nothing to fetch.

It opens from a file on an offline machine. A Content-Security-Policy that allows no source at
all (only inline styles) backs that up: even text from a document that looks like markup could
not make the page load anything. Every value from the run (questions, answers, passages) is
escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from desktop.engine.evaluation.summary import SECTIONS, format_value
from desktop.engine.packs.manifest import describe_evaluation

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;
color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:14px;margin:14px 0 4px}.meta{color:#57606a}.headline{font-size:16px;margin:10px 0;
padding:10px 12px;background:#f6f8fa;border-left:4px solid #0969da}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;text-align:left;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa}
td.n,td.b{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.bad{color:#cf222e;font-weight:600}
.ok{color:#1a7f37}.q{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0}
.sent{margin:2px 0;padding:2px 6px;border-radius:3px}.sup{background:#dafbe1}.uns{background:#ffebe9}
.unk{background:#fff8c5}.pas{font-size:12px;color:#3d444d;margin:4px 0 4px 12px;white-space:pre-wrap}
.tag{display:inline-block;background:#eaeef2;border-radius:8px;padding:0 6px;margin-right:4px;
font-size:12px}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def bar(value: float | None, *, width: int = 220, good_high: bool = True) -> str:
    """A 0..1 value as an inline SVG bar (grey when there is nothing to measure)."""
    if value is None:
        return f'<svg width="{width}" height="14" role="img"><rect width="{width}" height="14" fill="#eaeef2"/></svg>'
    share = min(max(value, 0.0), 1.0)
    quality = share if good_high else 1 - share
    colour = "#2da44e" if quality >= 0.8 else "#bf8700" if quality >= 0.5 else "#cf222e"
    return (
        f'<svg width="{width}" height="14" role="img" aria-label="{100 * share:.1f} %">'
        f'<rect width="{width}" height="14" fill="#eaeef2"/>'
        f'<rect width="{share * width:.1f}" height="14" fill="{colour}"/></svg>'
    )


def histogram(
    values: Sequence[float], *, bins: int = 20, width: int = 420, height: int = 90
) -> str:
    """A histogram of seconds as inline SVG, with its range written under it."""
    if not values:
        return "<p class=meta>no measurements</p>"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / span * bins), bins - 1)] += 1
    tallest = max(counts)
    step = width / bins
    rects = "".join(
        f'<rect x="{i * step:.1f}" y="{height - c / tallest * height:.1f}" width="{step - 1:.1f}" '
        f'height="{c / tallest * height:.1f}" fill="#0969da"><title>{c}</title></rect>'
        for i, c in enumerate(counts)
        if c
    )
    return (
        f'<svg width="{width}" height="{height + 16}" role="img">{rects}'
        f'<text x="0" y="{height + 13}" font-size="11">{low:.3f} s</text>'
        f'<text x="{width}" y="{height + 13}" font-size="11" text-anchor="end">{high:.3f} s</text></svg>'
    )


def _metrics(report: Mapping[str, Any]) -> str:
    out = ["<table>"]
    for section in SECTIONS:
        rows = [m for m in report["metrics"] if m["section"] == section]
        out.append(f"<tr><th colspan=4>{_e(section)}</th></tr>")
        for m in rows:
            value = m["value"]
            shown = format_value(value, m["unit"])
            cls = ""
            if m["must_be_zero"]:
                cls = "bad" if value else "ok"
                word = "must be 0" if value else "0, as it must be"
                graphic = f'<span class="{cls}">{word}</span>'
            elif m["unit"] == "share":
                graphic = bar(value, good_high=m["higher_is_better"])
            else:
                graphic = ""
            out.append(
                f"<tr><td>{_e(m['label'])}</td><td class='n {cls}'>{_e(shown)}</td>"
                f"<td>{graphic}</td><td class=meta>over {_e(m['over'])}</td></tr>"
            )
    out.append("</table>")
    return "".join(out)


def _confusion(report: Mapping[str, Any]) -> str:
    table = report["confusion"]
    cols = ("answered", "abstained", "refused", "empty")
    head = "".join(f"<th>{c}</th>" for c in cols)
    rows = "".join(
        f"<tr><th>{_e(want.replace('_', ' '))}</th>"
        + "".join(f"<td class=n>{table[want][c]}</td>" for c in cols)
        + "</tr>"
        for want in ("should_answer", "should_abstain")
    )
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


def _breakdown(groups: Mapping[str, Mapping[str, Any]], title: str) -> str:
    keys = (
        "recall_at_k",
        "right_page",
        "key_fact_coverage",
        "abstain_unanswerable",
        "supported_share",
    )
    labels = ("Recall@k", "right page", "key facts", "declined unanswerable", "supported")
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    rows = []
    for name, values in groups.items():
        cells = "".join(
            f"<td class=b>{bar(values.get(k), width=80)} {_e(format_value(values.get(k), 'share'))}</td>"
            for k in keys
        )
        leaks = values.get("restricted_leaks") or 0
        rows.append(
            f"<tr><td>{_e(name)}</td><td class=n>{values['questions']}</td>{cells}"
            f"<td class='n {'bad' if leaks else ''}'>{int(leaks)}</td></tr>"
        )
    return (
        f"<table><tr><th>{_e(title)}</th><th>questions</th>{head}<th>leaks</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _question(q: Mapping[str, Any]) -> str:
    tags = "".join(f"<span class=tag>{_e(t)}</span>" for t in q.get("tags", []))
    state = (
        "error"
        if q.get("error")
        else "refused"
        if q.get("refused")
        else ("abstained" if q.get("abstained") else "answered" if q.get("answered") else "empty")
    )
    expected = ", ".join(q.get("expected_sources") or []) if "expected_sources" in q else ""
    facts = q.get("facts_found", [])
    parts = [
        f"<div class=q><b>{_e(q['id'])}</b> <span class=meta>asked as {_e(q.get('asker') or 'default')}"
        f" · {_e(q.get('kind', ''))} · {_e(q.get('category', ''))} · {_e(state)} · "
        f"badness {_e(q.get('badness', ''))}</span> {tags}",
        f"<p><b>Q:</b> {_e(q.get('question', ''))}</p>",
    ]
    if q.get("error"):
        parts.append(f"<p class=bad>{_e(q['error'])}</p>")
    parts.append(
        f"<p class=meta>gold rank {_e(q.get('gold_rank') or '-')} · key facts found "
        f"{len(facts)}/{_e(q.get('facts_total', 0))} {_e(', '.join(facts))}"
        f"{' · expected ' + _e(expected) if expected else ''}"
        f"{' · leak' if q.get('restricted_fact_leak') else ''}</p>"
    )
    verdicts = q.get("verdicts") or []
    if verdicts:
        parts.append("<h3>Sentences and verdicts</h3>")
        for v in verdicts:
            cls = (
                "sup"
                if v.get("supported") is True
                else "uns"
                if v.get("supported") is False
                else "unk"
            )
            word = {"sup": "supported", "uns": "not supported", "unk": "unchecked"}[cls]
            parts.append(
                f"<div class='sent {cls}'>{_e(v.get('text', ''))} <span class=meta>({word}"
                f"{': ' + _e(v['reason']) if v.get('reason') else ''})</span></div>"
            )
        for v in q.get("rejected") or []:
            parts.append(
                f"<div class='sent uns'><s>{_e(v.get('text', ''))}</s> <span class=meta>(rejected)</span></div>"
            )
    elif q.get("answer"):
        parts.append(f"<p><b>A:</b> {_e(q['answer'])}</p>")
    passages = q.get("passages") or []
    if passages:
        parts.append("<h3>Retrieved passages</h3>")
        for p in passages:
            parts.append(
                f"<div class=pas><b>[{_e(p.get('n'))}] {_e(p.get('path'))}</b>"
                f"{' › ' + _e(p['heading']) if p.get('heading') else ''} "
                f"<span class=meta>({_e(p.get('audience'))}, score {_e(p.get('score'))})</span>\n"
                f"{_e(p.get('text', ''))}</div>"
            )
    parts.append("</div>")
    return "".join(parts)


def render_html(report: Mapping[str, Any]) -> str:
    golden = report["golden"]
    settings = report["settings"]
    retrieval = [q["retrieval_s"] for q in report["questions"] if q.get("retrieval_s") is not None]
    ttft = [q["ttft_s"] for q in report["questions"] if q.get("ttft_s") is not None]
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.get("notes", []))
    worst = "".join(_question(q) for q in report["worst"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Enclave evaluation: {_e(golden["name"])}</title><style>{_CSS}</style></head><body>
<h1>Evaluation: {_e(golden["name"])}</h1>
<div class=meta>{_e(report["selection"]["questions"])} questions (split {_e(report["selection"]["split"])},
limit {_e(report["selection"]["limit"] or "none")}) of {_e(golden["questions_in_set"])} ·
model {_e(", ".join(report["models"]) or settings["model"])} · {_e(settings["k"])} passages per answer ·
{_e(report["target"])} · {_e(report["created"])} · set sha256 {_e(golden["sha256"][:16])}</div>
<div class=headline>{_e(describe_evaluation(report["headline"]))}</div>
{f"<ul class=meta>{notes}</ul>" if notes else ""}
<h2>Metrics</h2>{_metrics(report)}
<h2>Abstention</h2>{_confusion(report)}
<h2>Speed</h2><h3>retrieval latency</h3>{histogram(retrieval)}
<h3>time to first token</h3>{histogram(ttft)}
<h2>By category</h2>{_breakdown(report["by_category"], "category")}
<h2>By role</h2>{_breakdown(report["by_asker"], "asked as")}
<h2>The {len(report["worst"])} worst questions</h2>{worst}
</body></html>
"""
