"""B16: prompt-lookup speculative decoding on real RAG answers, ours vs plain greedy decoding.

    .venv/bin/python bench/bench_speculative.py [--model ID] [--questions N] [--reps R]
        [--draft 4,8] [--max-tokens N] [--quick]

Needs the demo set up (`python -m desktop demo <handbook>`) and, on a machine without an OS keyring,
the same `ENCLAVE_KEYRING=cryptfile ENCLAVE_KEYRING_PASSPHRASE=...` it was set up with. The prompts
are the real grounded prompts: answerable golden questions of the default profile
(`eval/golden/handbook.jsonl`, evenly spaced), each run once through the same `Assistant` as the app
(retrieval, decision, `GroundedPrompt`) with its chat model's `stream_chat` replaced by a recorder,
so the prompt and the answer budget are captured without generating. A question the decider
abstains on has no prompt and is skipped.

Then, per prompt and repetition, alternately (ABAB, same process, same threads and model file):
- raw: plain llama-cpp-python, `Llama.generate(tokens, temp=0, repeat_penalty=1.1)` (the app's
  greedy sampler chain), stopped at end-of-generation, the budget or the app's loop guard;
- ours: `ModelManager.stream_prompt` with `ModelSettings(speculative_tokens=N)` for each N in
  --draft, and N = 0 (ours without drafting, for information).
The prompt is evaluated once per side and prompt (the first repetition): tokens/s is taken from the
first to the last token of each answer (prefill excluded on both sides), and each side keeps its own
KV cache, so later repetitions reuse the prompt on both sides alike. The ratio is ours / raw of the
median tokens/s per prompt, then the median over prompts; `identical` says whether every answer's
text equals raw's. The script prints; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from desktop.engine.assistant import Assistant, AssistantOptions
from desktop.engine.runtime import hardware, modelfiles, speculative
from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.chat_model import REPEAT_PENALTY, Generation, ModelSettings
from desktop.engine.runtime.model_manager import LoopGuard, ModelManager, open_llama

GOLDEN = Path(__file__).resolve().parents[1] / "eval" / "golden" / "handbook.jsonl"


@dataclass(frozen=True)
class Prompt:
    question: str
    text: str
    max_tokens: int


@dataclass(frozen=True)
class Run:
    text: str
    tokens: int
    tok_s: float


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="chat model id (default: the catalog's)")
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--draft", default="4,8", help="drafted tokens per step, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=0, help="cap the app's answer budget")
    parser.add_argument("--quick", action="store_true", help="2 questions, 1 rep, 96 tokens")
    args = parser.parse_args(argv)
    if args.quick:
        args.questions, args.reps, args.max_tokens = 2, 1, args.max_tokens or 96
    return args


def golden_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line]
    usable = [r["question"] for r in rows if r["answerable"] and not r.get("profile")]
    step = max(1, len(usable) // max(1, n))
    return usable[::step][:n]


def capture_prompts(
    model_id: str, questions: list[str], cap: int
) -> tuple[ModelEntry, list[Prompt]]:
    """The grounded prompt the app would send for each question (no generation)."""
    assistant = Assistant.open(AssistantOptions(chat_model=model_id), keep_history=False)
    try:
        assistant.load()
        manager = assistant.model
        assert isinstance(manager, ModelManager)
        captured: list[Prompt] = []
        current = [""]

        def record(messages: Any, *, max_tokens: int = 512, **_: Any) -> Generation:
            budget = min(max_tokens, cap) if cap else max_tokens
            captured.append(Prompt(current[0], manager.render(messages), budget))
            return Generation(iter(()))

        manager.stream_chat = record  # type: ignore[method-assign]
        for question in questions:
            current[0] = question
            for _event in assistant.ask(None, question):
                pass
        info = manager.info
        assert info is not None
        return info.entry, captured
    finally:
        assistant.close()


def timed(tokens: Any, to_text: Any, budget: int, is_eog: Any) -> Run:
    arrivals: list[float] = []
    pieces: list[str] = []
    guard = LoopGuard()
    for token in tokens:
        if is_eog(token):
            break
        arrivals.append(time.perf_counter())
        piece = to_text(token)
        pieces.append(piece)
        if guard.looping(piece) or len(arrivals) >= budget:
            break
    close = getattr(tokens, "close", None)
    if close is not None:
        close()
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    rate = (len(arrivals) - 1) / span if span > 0 else 0.0
    return Run("".join(pieces), len(arrivals), rate)


def run_raw(llama: Any, prompt: Prompt) -> Run:
    tokens = llama.tokenize(prompt.text.encode("utf-8"), add_bos=False, special=True)
    stream = llama.generate(tokens, top_k=1, temp=0.0, repeat_penalty=REPEAT_PENALTY)
    vocab = llama._model.vocab
    run = timed(
        stream,
        lambda t: llama.detokenize([t]).decode("utf-8", "replace"),
        prompt.max_tokens,
        lambda t: llama_cpp.llama_vocab_is_eog(vocab, t),
    )
    return run


class BatchCount:
    """Verification batches and the tokens they evaluated (load-independent: how much work a
    token costs, whatever the machine is doing)."""

    def __init__(self) -> None:
        self.batches = 0
        self.evaluated = 0
        self._decode = speculative._decode_with_all_logits

    def __enter__(self) -> BatchCount:
        def counting(llama: Any, batch: list[int], n_past: int) -> None:
            self.batches += 1
            self.evaluated += len(batch)
            self._decode(llama, batch, n_past)

        speculative._decode_with_all_logits = counting  # type: ignore[assignment]
        return self

    def __exit__(self, *_: object) -> None:
        speculative._decode_with_all_logits = self._decode  # type: ignore[assignment]


def run_ours(manager: ModelManager, prompt: Prompt) -> Run:
    generation = manager.stream_prompt(
        prompt.text, max_tokens=prompt.max_tokens, temperature=0.0, repeat_penalty=REPEAT_PENALTY
    )
    arrivals: list[float] = []
    pieces: list[str] = []
    for token in generation:
        arrivals.append(time.perf_counter())
        pieces.append(token.text)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    n = generation.stats.completion_tokens
    rate = (len(arrivals) - 1) / span if span > 0 else 0.0
    return Run("".join(pieces), n, rate)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    drafts = [int(d) for d in args.draft.split(",") if d.strip()]
    questions = golden_questions(args.questions)
    print(f"capturing {len(questions)} grounded prompts ...", flush=True)
    entry, prompts = capture_prompts(args.model, questions, args.max_tokens)
    print(f"model {entry.id}; {len(prompts)} prompts (others abstained)")
    path = modelfiles.verify(entry)
    plan = hardware.plan_threads(None, None)
    llama = open_llama(
        path, n_ctx=4096, n_threads=plan.n_threads, n_threads_batch=plan.n_threads_batch
    )
    sides: dict[str, ModelManager] = {}
    for n in [0, *drafts]:
        manager = ModelManager()
        manager.load(entry, ModelSettings(n_threads=plan.n_threads, speculative_tokens=n))
        sides[f"ours draft={n}"] = manager
    print(f"threads {plan}; load {os.getloadavg()[0]:.2f} (1-min load average at start)")

    ratios: dict[str, list[float]] = {name: [] for name in sides}
    counts = {name: BatchCount() for name in sides}
    produced = {name: 0 for name in sides}
    identical: dict[str, bool] = {name: True for name in sides}
    for p_index, prompt in enumerate(prompts):
        rates: dict[str, list[float]] = {"raw": [], **{name: [] for name in sides}}
        reference = ""
        for _rep in range(args.reps):
            raw = run_raw(llama, prompt)
            rates["raw"].append(raw.tok_s)
            reference = raw.text
            for name, manager in sides.items():
                with counts[name]:
                    ours = run_ours(manager, prompt)
                produced[name] += ours.tokens
                rates[name].append(ours.tok_s)
                if ours.text != raw.text:
                    identical[name] = False
        raw_median = statistics.median(rates["raw"])
        line = [f"prompt {p_index + 1}: {len(reference)} chars, raw {raw_median:6.1f} tok/s"]
        for name in sides:
            median = statistics.median(rates[name])
            ratio = median / raw_median if raw_median else 0.0
            ratios[name].append(ratio)
            line.append(f"{name} {median:6.1f} ({ratio:.2f}x)")
        print("; ".join(line), flush=True)
    print()
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("| side | median ours/raw tok/s over prompts | identical text | tokens per decode "
          "call | positions evaluated per token |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in sides:
        median = statistics.median(ratios[name]) if ratios[name] else 0.0
        count, made = counts[name], max(1, produced[name])
        per_call = f"{made / count.batches:.2f}" if count.batches else "1 (plain)"
        per_token = f"{count.evaluated / made:.2f}" if count.batches else "1 (plain)"
        print(f"| {name} | {median:.3f} | {identical[name]} | {per_call} | {per_token} |")
    llama.close()
    for manager in sides.values():
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
