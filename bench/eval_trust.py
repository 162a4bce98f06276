"""Trust on the handbook golden set: retrieval, abstention, key facts, support, citations, leaks.

    .venv/bin/python bench/eval_trust.py [--split test|calibration|all] [--model ID] [--limit N]
        [--jsonl OUT] [--sources K] [--max-tokens N] [--golden FILE]

A thin caller of the shipped evaluation harness (`desktop.engine.evaluation`, the code behind
`enclave admin eval`, which writes the full JSON and HTML report): it runs each golden question
(`eval/golden/handbook.jsonl`) through the same `Assistant` as the app and `enclave ask`, one
Assistant per demo profile (ENCLAVE_PROFILE set before it is opened,
reused for that profile's questions), `load()`, then `ask()` with every event read. It needs the
demo set up: `bash installer/setup.sh` (or `python -m desktop demo <handbook>`), and on a machine
without an OS keyring the same `ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=...` the
demo was set up with. Conversation prefixes of follow-up questions are seeded into a throwaway
encrypted history (random key, temporary folder) whose conversation id is passed to `ask`, so the
user's own history is never read or written.

What the table means (scoring in `desktop/engine/evaluation/scoring.py`):
- gold page in top-k / at rank 1: an expected page among the `retrieved` passages (answerable).
- gold page in top-5 pages: the issue's retrieval measure, an expected page among the first five
  distinct pages of a 10-deep search of the same query (the passages shown are fewer pages).
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
kinds, categories and profiles); `--jsonl OUT` is the harness's work file: one result per
line and, run again with the same settings, the ids already there are skipped (the table covers
old and new lines for the selected questions); a work file of other settings is refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from desktop.engine.evaluation.askers import demo_audience_map, installed_askers
from desktop.engine.evaluation.golden import load_golden
from desktop.engine.evaluation.runner import RunSettings, collect, read_work_file, run_golden
from desktop.engine.evaluation.scoring import QuestionScore
from desktop.engine.evaluation.trust_table import by_tag, format_table, summarise

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN = ROOT / "eval/golden/handbook.jsonl"
TAG_ROWS = ("number", "follow-up", "multilingual")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("test", "calibration", "all"), default="test")
    parser.add_argument("--model", default="", help="chat model id (default: saved settings)")
    parser.add_argument("--limit", type=int, help="run N questions, evenly spaced in the split")
    parser.add_argument("--jsonl", type=Path, help="per-question results (resumable)")
    parser.add_argument("--sources", type=int, default=5, help="passages retrieved (default 5)")
    parser.add_argument("--max-tokens", type=int, help="longest answer (default: as the app)")
    parser.add_argument(
        "--focus-chars",
        type=int,
        help="each passage's budget in the prompt, in characters (0: whole; default: as the app)",
    )
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN)
    return parser.parse_args(argv)


def progress(line: dict[str, object], index: int, total: int) -> str:
    rank = line["gold_rank"]
    gold = "-" if not line["answerable"] else (f"@{rank}" if rank else "miss")
    facts = f"{len(line['facts_found'])}/{line['facts_total']}"  # type: ignore[arg-type]
    state = "abstained" if line["abstained"] else "answered" if line["answered"] else "empty"
    if line["error"]:
        state = f"error {line['error']}"
    return (
        f"[{index}/{total}] {line['id']!s:<15} {line['profile'] or 'default'!s:<16} "
        f"gold {gold:<5} facts {facts:<4} {state} ({line['wall_s']:.1f} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    golden = load_golden(args.golden)
    questions = golden.select(args.split, args.limit)
    settings = RunSettings(
        model=args.model,
        k=args.sources,
        max_tokens=args.max_tokens,
        focus_chars=args.focus_chars,
    )
    askers = installed_askers(questions, {}, demo_audience_map())
    with tempfile.TemporaryDirectory(prefix="eval-trust-") as tmp:
        work = args.jsonl or Path(tmp) / "work.jsonl"
        run = settings.fingerprint(golden.sha256)
        before = len(collect(questions, read_work_file(work, run)))
        print(
            f"eval_trust: {len(questions)} questions ({args.split}), {before} already in "
            f"{args.jsonl}, {len(questions) - before} to run",
            file=sys.stderr,
        )
        try:
            for step in run_golden(questions, askers, settings, golden.sha256, work):
                print(progress(step.record, step.done, step.total), file=sys.stderr)
        except KeyboardInterrupt:
            print("eval_trust: interrupted; the table covers the questions answered so far",
                  file=sys.stderr)  # fmt: skip
        lines = collect(questions, read_work_file(work, run))
    models = sorted({str(r.get("model", "")) for r in lines})
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
