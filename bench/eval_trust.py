"""Trust on the handbook golden set: retrieval, abstention, key facts, support, citations, leaks.

    .venv/bin/python bench/eval_trust.py [--split test|calibration|all] [--model ID] [--limit N]
        [--jsonl OUT] [--sources K] [--max-tokens N] [--golden FILE]

Runs each golden question (`eval/golden/handbook.jsonl`) through the same `Assistant` as the app
and `enclave ask`: one Assistant per demo profile (ENCLAVE_PROFILE set before it is opened,
reused for that profile's questions), `load()`, then `ask()` with every event read. It needs the
demo set up: `bash installer/setup.sh` (or `python -m desktop demo <handbook>`), and on a machine
without an OS keyring the same `ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=...` the
demo was set up with. Conversation prefixes of follow-up questions are seeded into a throwaway
encrypted history (random key, temporary folder) whose conversation id is passed to `ask`, so the
user's own history is never read or written.

What the table means (scoring in `eval/trust_metrics.py`):
- gold page in top-k / at rank 1: an expected page among the `retrieved` passages (answerable).
- abstention: an `abstained` event or `done.decision == "abstain"`, on unanswerable questions and
  on restricted ones (the answer is only on a page the profile may not read).
- answer rate: answerable questions that got a non-empty answer (the rest were abstentions).
- key-fact coverage: mean share of a question's key facts found in the answer (normalised for
  case, hyphens, number words, "%", "$"); abstentions count 0.
- sentences supported / unchecked: shown sentences with `supported` True / None (no verdicts at
  all: every sentence of the answer counts as unchecked).
- citation precision: cited [n] whose passage is an expected page or contains a key fact.
- restricted: key fact in answer: restricted questions whose answer still states a key fact.
- passages from unreadable audiences: passages in any event from an audience the profile may not
  read (demo roles). Must be 0 by construction.
- median time to first token: `done.metrics.time_to_first_token_s` of generated answers.

`--limit N` takes N questions evenly spaced through the chosen split (so a small run still mixes
kinds, categories and profiles); `--jsonl OUT` writes one result per line and, run again, skips
the ids already there (the table covers old and new lines for the selected questions).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.core.settings import load_settings
from desktop.engine.storage.conversations import ConversationStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `eval` is not an installed package

from eval.golden_check import DEFAULT_GOLDEN, DemoAccess, load_golden
from eval.trust_metrics import (
    QuestionScore,
    by_tag,
    format_table,
    score_question,
    summarise,
)

TAG_ROWS = ("number", "follow-up", "multilingual")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "calibration", "all"), default="test")
    parser.add_argument("--model", help="chat model id (default: the saved settings' model)")
    parser.add_argument("--limit", type=int, help="run N questions, evenly spaced in the split")
    parser.add_argument("--jsonl", type=Path, help="per-question results (resumable)")
    parser.add_argument("--sources", type=int, default=5, help="passages retrieved (default 5)")
    parser.add_argument("--max-tokens", type=int, help="longest answer (default: as the app)")
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN)
    return parser.parse_args(argv)


def select(
    questions: Sequence[dict[str, Any]], split: str, limit: int | None
) -> list[dict[str, Any]]:
    chosen = [q for q in questions if split == "all" or q["split"] == split]
    if limit is None or limit >= len(chosen):
        return chosen
    step = len(chosen) / max(limit, 1)
    return [chosen[int(i * step)] for i in range(limit)]


def load_results(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.exists():
        return {}
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {str(r["id"]): r for r in records}


def options_for(args: argparse.Namespace) -> AssistantOptions:
    """The profile's saved settings, as the app reads them, with this run's overrides."""
    settings, _note = load_settings()
    overrides: dict[str, object] = {"sources_per_answer": args.sources}
    if args.model:
        overrides["chat_model"] = args.model
    if args.max_tokens:
        overrides["max_answer_tokens"] = args.max_tokens
    return AssistantOptions.from_settings(settings, **overrides)


def seed(store: ConversationStore, question: Mapping[str, Any]) -> int | None:
    """A conversation holding the question's prefix turns (None when it has none)."""
    turns = question.get("conversation") or []
    if not turns:
        return None
    conversation = store.create_conversation(str(question["id"]))
    for turn in turns:
        store.add_message(conversation.id, turn["role"], turn["content"])
    return conversation.id


def ask(
    assistant: Assistant, conversation_id: int | None, text: str
) -> tuple[list[dict[str, Any]], str]:
    """Every event of one answer in its JSON form, and the error that stopped it (if any)."""
    events: list[dict[str, Any]] = []
    stream = assistant.ask(conversation_id, text)
    try:
        for event in stream:
            events.append(event.as_dict())
    except EngineError as exc:
        return events, f"{type(exc).__name__}: {exc.message}"
    finally:
        stream.close()
    return events, ""


def record(score: QuestionScore, question: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
           model_id: str, wall_s: float) -> dict[str, Any]:  # fmt: skip
    done: Mapping[str, Any] = next((e for e in reversed(events) if e.get("event") == "done"), {})
    return {
        **score.as_dict(),
        "question": question["question"],
        "answer": done.get("answer", ""),
        "decision": done.get("decision", ""),
        "reason": done.get("reason", ""),
        "query": done.get("query", question["question"]),
        "sources": [
            {k: p.get(k) for k in ("n", "path", "heading", "audience", "score")}
            for p in done.get("sources", [])
        ],
        "model": model_id,
        "wall_s": round(wall_s, 3),
    }


def run_profile(
    profile: str,
    questions: Sequence[dict[str, Any]],
    args: argparse.Namespace,
    readable: frozenset[str],
    workdir: Path,
) -> Iterator[dict[str, Any]]:
    """Answer one profile's questions with one Assistant; yields a result record per question."""
    with paths.profile_scope(profile):
        assistant = Assistant.open(options_for(args), keep_history=False)
        # Follow-ups need a conversation; a throwaway store keeps the user's history out of it.
        name = profile or "default"
        store = ConversationStore(workdir / f"{name}.db", secrets.token_bytes(32))
        assistant.history = store
        try:
            status = assistant.load()
            for problem in assistant.problems:
                print(f"eval_trust: warning ({name}): {problem}", file=sys.stderr)
            if assistant.readable_packs() == 0:
                raise SystemExit(
                    f"eval_trust: profile '{name}' has no readable pack. Set up the demo first "
                    "(bash installer/setup.sh), with the ENCLAVE_KEYRING settings it was set up with."
                )
            for question in questions:
                started = time.perf_counter()
                events, error = ask(assistant, seed(store, question), question["question"])
                score = score_question(question, events, readable, error=error)
                yield record(
                    score, question, events, status.model_id, time.perf_counter() - started
                )
        finally:
            assistant.close()


def progress(line: dict[str, Any], index: int, total: int) -> str:
    gold = (
        "-"
        if not line["answerable"]
        else (f"@{line['gold_rank']}" if line["gold_rank"] else "miss")
    )
    facts = f"{len(line['facts_found'])}/{line['facts_total']}"
    state = "abstained" if line["abstained"] else "answered" if line["answered"] else "empty"
    if line["error"]:
        state = f"error {line['error']}"
    return (
        f"[{index}/{total}] {line['id']:<15} {line['profile'] or 'default':<16} gold {gold:<5} "
        f"facts {facts:<4} {state} ({line['wall_s']:.1f} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    questions = select(load_golden(args.golden), args.split, args.limit)
    previous = load_results(args.jsonl)
    todo = [q for q in questions if q["id"] not in previous]
    access = DemoAccess.load()
    print(
        f"eval_trust: {len(questions)} questions ({args.split}), {len(questions) - len(todo)} "
        f"already in {args.jsonl}, {len(todo)} to run",
        file=sys.stderr,
    )
    by_profile: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in todo:
        by_profile[q["profile"]].append(q)

    fresh: list[dict[str, Any]] = []
    out = args.jsonl.open("a", encoding="utf-8") if args.jsonl else None
    try:
        with tempfile.TemporaryDirectory(prefix="enclave-eval-") as tmp:
            for profile, group in by_profile.items():
                for line in run_profile(profile, group, args, access.readable[profile], Path(tmp)):
                    fresh.append(line)
                    if out is not None:
                        out.write(json.dumps(line, ensure_ascii=False) + "\n")
                        out.flush()
                    print(progress(line, len(fresh), len(todo)), file=sys.stderr)
    except KeyboardInterrupt:
        print(
            "eval_trust: interrupted; the table covers the questions answered so far",
            file=sys.stderr,
        )
    finally:
        if out is not None:
            out.close()

    wanted = {q["id"] for q in questions}
    lines = [r for r in previous.values() if r["id"] in wanted] + fresh
    models = sorted({str(r.get("model", "")) for r in lines})
    if len(models) > 1:
        print(
            f"eval_trust: warning: results from several models: {', '.join(models)}",
            file=sys.stderr,
        )
    scores = [QuestionScore.from_dict(r) for r in lines]
    title = (
        f"Trust on {args.golden.name}: split {args.split}, {len(scores)} questions, "
        f"model {', '.join(models) or '-'}, {args.sources} passages"
    )
    print(format_table(summarise(scores, k=args.sources), title))
    tag_rows = by_tag(scores, TAG_ROWS, k=args.sources)
    if tag_rows:
        print()
        print(format_table(tag_rows, "By tag (answerable questions)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
