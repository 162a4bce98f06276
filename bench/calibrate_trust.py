"""Calibrate the abstention signal on the golden set's CALIBRATION split (never the test split).

    .venv/bin/python bench/calibrate_trust.py [--golden eval/golden/handbook.jsonl] [--svg docs/trust-roc.svg]

Needs the demo pack installed with its three profiles (the README's first command sets it up). For
every calibration question, as its profile, it retrieves like the app does (`FollowUpQuery`, k=4),
scores the evidence (`EvidenceScorer.coverage`: best question-passage cosine, query-term coverage,
rarity-weighted term coverage and their pairwise means; questions not in English are translated
by the catalog's translator first, as in the app), and prints, per signal, the ROC AUC for "answerable by this profile" and the
threshold that maximises Youden's J (TPR - FPR), with the answer and abstention rates it gives.
It writes the ROC curves as a self-contained SVG. Paste the chosen threshold into
desktop/engine/answer/calibration.py; bench/eval_trust.py then reports it on the test split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.engine.access import KnowledgeAccess  # noqa: E402
from desktop.engine.answer.evidence import SIGNALS, EvidenceScorer  # noqa: E402
from desktop.engine.answer.grounding import FollowUpQuery  # noqa: E402
from desktop.engine.answer.language import model_translator  # noqa: E402
from desktop.engine.answer.records import Question  # noqa: E402
from desktop.engine.assistant import TRANSLATOR_CTX  # noqa: E402
from desktop.engine.core import paths  # noqa: E402
from desktop.engine.evaluation.scoring import gold_rank  # noqa: E402
from desktop.engine.runtime.catalog import Catalog  # noqa: E402
from desktop.engine.runtime.chat_model import ModelSettings  # noqa: E402
from desktop.engine.runtime.embedder import Embedder  # noqa: E402
from desktop.engine.runtime.model_manager import ModelManager  # noqa: E402

ANSWER_RATE = 0.90  # the rule: answer 90 % of answerable questions (the target); calibration.py


def load(path: Path, split: str) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if split == "all" or r.get("split") == split]


def roc(points: list[tuple[float, bool]]) -> tuple[list[tuple[float, float, float]], float]:
    """(threshold, fpr, tpr) for 'answer when signal >= threshold', and the AUC."""
    positives = sum(1 for _, y in points if y)
    negatives = len(points) - positives
    curve = [(float("inf"), 0.0, 0.0)]
    for threshold in sorted({s for s, _ in points}, reverse=True):
        tp = sum(1 for s, y in points if y and s >= threshold)
        fp = sum(1 for s, y in points if not y and s >= threshold)
        curve.append((threshold, fp / max(negatives, 1), tp / max(positives, 1)))
    auc = sum((b[1] - a[1]) * (a[2] + b[2]) / 2 for a, b in itertools.pairwise(curve))
    return curve, auc


def svg(
    curves: dict[str, list[tuple[float, float, float]]],
    chosen: dict[str, tuple[float, float, float, float]],
) -> str:
    size, pad = 360, 40
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    colours = {name: palette[i % len(palette)] for i, name in enumerate(curves)}

    def xy(fpr: float, tpr: float) -> str:
        return f"{pad + fpr * size:.1f},{pad + (1 - tpr) * size:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 2 * pad + 170}" '
        f'height="{size + 2 * pad}" font-family="sans-serif" font-size="12">',
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#888"/>',
        f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="#ccc" '
        'stroke-dasharray="4"/>',
        f'<text x="{pad + size / 2}" y="{pad + size + 30}" text-anchor="middle">'
        "false answer rate (unanswerable answered)</text>",
        f'<text x="12" y="{pad + size / 2}" transform="rotate(-90 12 {pad + size / 2})" '
        'text-anchor="middle">answer rate (answerable answered)</text>',
    ]
    for i, (name, curve) in enumerate(curves.items()):
        colour = colours[name]
        line = " ".join(xy(f, t) for _, f, t in curve)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        _, fpr, tpr, auc = chosen[name]
        parts.append(
            f'<circle cx="{pad + fpr * size}" cy="{pad + (1 - tpr) * size}" r="4" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{pad + size + 10}" y="{pad + 20 + 18 * i}" fill="{colour}">'
            f"{name} (AUC {auc:.3f})</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def features(rows: list[dict[str, object]], gemma: Path | None = None) -> list[dict[str, object]]:
    """Every abstention signal for each question, as its profile retrieves it; with `gemma` (an
    EmbeddingGemma GGUF, docs/retrieval.md) also `gemma_cosine`: the best cosine between the
    retrieval query and the same passages in EmbeddingGemma's space (an experiment: the app
    does not run EmbeddingGemma)."""
    catalog = Catalog.load()
    embedder = Embedder(catalog.default("embedding"))
    gemma_model = None
    if gemma is not None:
        sys.path.insert(0, str(ROOT / "bench"))
        from eval_embedders import GemmaEmbedder

        gemma_model = GemmaEmbedder(gemma)
    scorer = EvidenceScorer(embedder)
    chat = ModelManager()  # loaded only if a question is not in English (it is translated)
    translator = catalog.translator() or catalog.default("chat")  # as the app translates

    def translate(text: str) -> str:
        if chat.info is None:
            chat.load(translator, ModelSettings(n_ctx=TRANSLATOR_CTX))
        return model_translator(chat)(text)

    out: list[dict[str, object]] = []
    by_profile: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_profile.setdefault(str(row.get("profile", "")), []).append(row)
    for name, questions in by_profile.items():
        with paths.profile_scope(name):
            access = KnowledgeAccess(embedder)
            retrieve = FollowUpQuery(access, 4, translate=translate, terms_found=access.terms_found)
            for row in questions:
                turns: list[dict[str, str]] = row.get("conversation") or []  # type: ignore[assignment]
                retrieval = retrieve.retrieve(Question(str(row["question"]), history=tuple(turns)))
                coverage = scorer.coverage(
                    retrieval.query, retrieval.passages, access.term_weights, access.passage_vectors
                )
                signals: dict[str, object] = {s: getattr(coverage, s) for s in SIGNALS}
                if gemma_model is not None and retrieval.passages:
                    q = gemma_model.embed([retrieval.query], query=True)[0]
                    texts = [f"{p.title}\n{p.heading}\n{p.text}" for p in retrieval.passages]
                    signals["gemma_cosine"] = float(
                        (gemma_model.embed(texts, query=False) @ q).max()
                    )
                elif gemma_model is not None:
                    signals["gemma_cosine"] = 0.0
                found = [p.path for p in retrieval.passages]
                expected = [str(e) for e in row.get("expected_sources") or ()]  # type: ignore[attr-defined]
                out.append(
                    {
                        "id": row["id"],
                        "answerable": bool(row["answerable"]),
                        "query": retrieval.query,
                        "gold_rank": gold_rank(found, expected) if expected else None,
                        **signals,
                    }
                )
            access.close()
    embedder.close()
    chat.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=ROOT / "eval/golden/handbook.jsonl")
    parser.add_argument("--split", default="calibration")
    parser.add_argument("--svg", type=Path, default=ROOT / "docs/trust-roc.svg")
    parser.add_argument(
        "--features", type=Path, help="cache of the per-question signals (reused when present)"
    )
    parser.add_argument(
        "--gemma", type=Path, help="also score EmbeddingGemma's cosine (an experiment; a GGUF)"
    )
    args = parser.parse_args()
    if args.features and args.features.exists():
        rows = json.loads(args.features.read_text(encoding="utf-8"))
    else:
        rows = features(load(args.golden, args.split), args.gemma)
        if args.features:
            args.features.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    present = [s for s in (*SIGNALS, "gemma_cosine") if s in rows[0]]
    candidates = [*present, *("+".join(pair) for pair in itertools.combinations(present, 2))]
    positives = sum(1 for r in rows if r["answerable"])
    print(
        f"{len(rows)} {args.split} questions: {positives} answerable, "
        f"{len(rows) - positives} not (for the asking profile)"
    )
    print(f"{'signal':<32} {'AUC':>6} {'threshold':>10} {'answered':>9} {'abstained':>10}")
    results = {}
    for name in candidates:
        names = name.split("+")
        points = [
            (sum(float(r[n]) for n in names) / len(names), bool(r["answerable"])) for r in rows
        ]
        curve, auc = roc(points)
        best = max(curve[1:], key=lambda c: c[2] - c[1])
        results[name] = (curve, (*best, auc))
        print(f"{name:<32} {auc:6.3f} {best[0]:10.4f} {best[2]:9.1%} {1 - best[1]:10.1%}")
    winner = max(results, key=lambda n: results[n][1][3])
    print(f"best by AUC: {winner} (Youden threshold {results[winner][1][0]:.4f})")
    names = winner.split("+")
    scores = sorted(sum(float(r[n]) for n in names) / len(names) for r in rows if r["answerable"])
    negatives = [sum(float(r[n]) for n in names) / len(names) for r in rows if not r["answerable"]]
    threshold = scores[int((1 - ANSWER_RATE) * len(scores))]
    answered = sum(s >= threshold for s in scores) / len(scores)
    abstained = sum(s < threshold for s in negatives) / max(len(negatives), 1)
    print(
        f"chosen (answer >= {ANSWER_RATE:.0%} of answerable): {winner} >= {threshold:.4f}: "
        f"answered {answered:.1%}, abstained {abstained:.1%}"
    )
    shown = {n: results[n] for n in (*SIGNALS[:2], winner)}
    args.svg.write_text(
        svg({n: c for n, (c, _) in shown.items()}, {n: b for n, (_, b) in shown.items()}),
        encoding="utf-8",
    )
    print(f"ROC curves: {args.svg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
